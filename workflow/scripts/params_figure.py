"""Snakemake script: accuracy vs parameter count across datasets (kanbio.report.dataset_figures)."""

from pathlib import Path

from kanbio.report.dataset_figures import accuracy_vs_params
from kanbio.stages.snakemake import run

smk = snakemake  # noqa: F821
run(smk, accuracy_vs_params, list(smk.input), Path(smk.output.png).parent)
