"""Snakemake script: ROC, PR and training-curve figures of one dataset (kanbio.report)."""

from pathlib import Path

from kanbio.report import dataset_figures as figures
from kanbio.stages.snakemake import run

smk = snakemake  # noqa: F821
pairs = [(m, s) for m in smk.params.models for s in smk.params.seeds]


def by_model(files):
    return {m: [f for (mm, _), f in zip(pairs, files, strict=True) if mm == m]
            for m in smk.params.models}


out = Path(smk.output.roc).parent
run(smk, figures.roc_pr, smk.wildcards.dataset, by_model(smk.input.predictions), out)
run(smk, figures.training_curves, smk.wildcards.dataset, by_model(smk.input.curves), out)
