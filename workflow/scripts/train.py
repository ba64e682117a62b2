"""Snakemake script: train one model x seed on one dataset (see kanbio.stages.train.train_table).

A searched model trains with the spec its search chose on the validation split.
"""

from pathlib import Path

import torch

from kanbio.stages.search import selected_spec
from kanbio.stages.snakemake import run
from kanbio.stages.train import train_table

smk = snakemake  # noqa: F821
torch.set_num_threads(smk.threads)
spec = selected_spec(smk.input.get("choice"), smk.params.spec)
reference = smk.params.reference
if reference is not None:
    reference = selected_spec(smk.input.get("reference_choice"), reference)
run(smk, train_table, smk.input.windows, spec, int(smk.wildcards.seed),
    str(Path(smk.output.model).parent), reference=reference, progress=False)
