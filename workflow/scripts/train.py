"""Snakemake script: train one model x seed on one dataset (see kanbio.train.train_table)."""

from pathlib import Path

import torch

from kanbio.train import train_table
from kanbio.workflow import run

smk = snakemake  # noqa: F821
torch.set_num_threads(smk.threads)
run(smk, train_table, smk.input.windows, smk.params.spec, int(smk.wildcards.seed),
    str(Path(smk.output.model).parent), reference=smk.params.reference, progress=False)
