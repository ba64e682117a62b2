"""Snakemake script: results/summary.md across datasets (see kanbio.report.tables.study_summary)."""

from kanbio.report.tables import study_summary
from kanbio.stages.snakemake import run

smk = snakemake  # noqa: F821
run(smk, study_summary, list(smk.input), smk.output[0])
