"""Snakemake script: accuracy vs parameter count across datasets (kanbio.figures)."""

from pathlib import Path

from kanbio.figures import accuracy_vs_params
from kanbio.workflow import run

smk = snakemake  # noqa: F821
run(smk, accuracy_vs_params, list(smk.input), Path(smk.output.png).parent)
