"""Snakemake script: the results page (see kanbio.report.page)."""

from kanbio.report.page import Study, write_results_page
from kanbio.stages.snakemake import run

smk = snakemake  # noqa: F821
p = smk.params
study = Study(p.models, p.seeds, p.searched, p.explained, p.logo, n_boot=p.bootstrap)
run(smk, write_results_page, p.page, study, smk.output.page, pair=p.compare,
    command=p.page.get("command", ""))
