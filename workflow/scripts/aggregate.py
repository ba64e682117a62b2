"""Snakemake script: accuracy.tsv and summary.md of one dataset (kanbio.stages.report.aggregate)."""

from kanbio.stages import report
from kanbio.stages.snakemake import run

smk = snakemake  # noqa: F821
run(smk, report.aggregate, smk.wildcards.dataset, smk.params.files, smk.output.accuracy,
    smk.output.summary, pair=smk.params.compare, description=smk.params.description)
