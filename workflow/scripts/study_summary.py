"""Snakemake script: results/summary.md across datasets (kanbio.stages.report.study_summary)."""

from kanbio.stages import report
from kanbio.stages.snakemake import run

smk = snakemake  # noqa: F821
run(smk, report.study_summary, list(smk.input), smk.output[0])
