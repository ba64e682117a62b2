"""Snakemake script: hyperparameter search of one model on one dataset's validation split."""

import torch

from kanbio.stages.search import search_table, selected_spec
from kanbio.stages.snakemake import run

smk = snakemake  # noqa: F821
torch.set_num_threads(smk.threads)
reference = smk.params.reference
if reference is not None:
    reference = selected_spec(smk.input.get("reference_choice"), reference)
run(smk, search_table, smk.input.windows, smk.params.spec, smk.output.table, smk.output.choice,
    seed=smk.params.seed, metric=smk.params.metric, reference=reference)
