"""Snakemake script: results/summary.md across datasets (see kanbio.report.study_summary)."""

from kanbio.report import study_summary
from kanbio.workflow import run

smk = snakemake  # noqa: F821
run(smk, study_summary, list(smk.input), smk.output[0])
