"""Snakemake script: attributions, symbolic formula and motif check of one checkpoint."""

from pathlib import Path

import torch

from kanbio.explain import explain
from kanbio.workflow import run

smk = snakemake  # noqa: F821
torch.set_num_threads(smk.threads)
run(smk, explain, str(Path(smk.input.model).parent), smk.input.windows,
    str(Path(smk.output.motif).parent), truth=smk.params.truth,
    known_motif=smk.params.known_motif, max_windows=smk.params.max_windows)
