"""Snakemake script: ROC, PR and training-curve figures of one dataset
(kanbio.stages.report.dataset_figures)."""

from kanbio.stages import report
from kanbio.stages.snakemake import run

smk = snakemake  # noqa: F821
run(smk, report.dataset_figures, smk.wildcards.dataset, smk.params.files, smk.output.roc,
    smk.output.pr, smk.output.curves)
