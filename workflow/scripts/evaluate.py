"""Snakemake script: test metrics of every seed of one model (see kanbio.stages.evaluate.evaluate).

One job per model (not per seed) so that the interpreter and torch start once.
"""

from pathlib import Path

from kanbio.stages.evaluate import evaluate
from kanbio.stages.snakemake import run

smk = snakemake  # noqa: F821


def evaluate_seeds() -> None:
    for model, metrics in zip(smk.input.models, smk.output.metrics, strict=True):
        evaluate(str(Path(model).parent), smk.input.windows, metrics, n_boot=smk.params.bootstrap,
                 prevalence=smk.params.prevalence)


run(smk, evaluate_seeds)
