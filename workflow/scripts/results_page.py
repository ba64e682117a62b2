"""Snakemake script: the results page and its figures (kanbio.stages.report.results_page)."""

from kanbio.stages import report
from kanbio.stages.snakemake import run

smk = snakemake  # noqa: F821
p = smk.params
run(smk, report.results_page, p.page, p.files, smk.output.page, p.seeds, logo=p.logo,
    pair=p.compare, n_boot=p.bootstrap, command=p.page.get("command", ""))
