"""Snakemake script: attributions, symbolic formula, motif check and figures of one checkpoint.

The figures (``params.explain["figures"]``, see common.smk) go beside the rule's figure outputs.
"""

from pathlib import Path

import torch

from kanbio.stages.explain import explain
from kanbio.stages.snakemake import run

smk = snakemake  # noqa: F821
torch.set_num_threads(smk.threads)
fig_dir = Path(next(p for p in smk.output if str(p).endswith(".png"))).parent
run(smk, explain, str(Path(smk.input.model).parent), smk.input.windows,
    str(Path(smk.output.motif).parent), figures_dir=str(fig_dir),
    prefix=f"{smk.wildcards.model}_seed{smk.wildcards.seed}_", **smk.params.explain)
