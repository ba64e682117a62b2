"""Snakemake script: accuracy vs parameter count across datasets
(kanbio.stages.report.params_figure)."""

from kanbio.stages import report
from kanbio.stages.snakemake import run

smk = snakemake  # noqa: F821
run(smk, report.params_figure, list(smk.input), smk.output.png)
