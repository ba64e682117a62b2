"""Snakemake script: attributions, symbolic formula, motif check and figures of one checkpoint.

The figures drawn are exactly the rule's ``.png`` outputs (named ``<prefix><figure>.png``).
"""

from pathlib import Path

import torch

from kanbio.stages.explain import explain
from kanbio.stages.snakemake import run

smk = snakemake  # noqa: F821
torch.set_num_threads(smk.threads)
pngs = [Path(p) for p in smk.output if str(p).endswith(".png")]
prefix = f"{smk.wildcards.model}_seed{smk.wildcards.seed}_"
run(smk, explain, str(Path(smk.input.model).parent), smk.input.windows,
    str(Path(smk.output.motif).parent), figures=[p.stem[len(prefix):] for p in pngs],
    figures_dir=str(pngs[0].parent), prefix=prefix, **smk.params.explain)
