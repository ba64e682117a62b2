"""Snakemake script: test metrics of one checkpoint (see kanbio.evaluate.evaluate)."""

from pathlib import Path

from kanbio.evaluate import evaluate
from kanbio.workflow import run

smk = snakemake  # noqa: F821
run(smk, evaluate, str(Path(smk.input.model).parent), smk.input.windows, smk.output.metrics,
    n_boot=smk.params.bootstrap)
