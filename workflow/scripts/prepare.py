"""Snakemake script: prepare one dataset (see kanbio.stages.prepare)."""

from pathlib import Path

from kanbio.stages.prepare import prepare
from kanbio.stages.snakemake import run

out_dir = Path(snakemake.output.windows).parent  # noqa: F821
run(snakemake, prepare, snakemake.params.spec, out_dir, snakemake.wildcards.dataset,  # noqa: F821
    threads=snakemake.threads)  # noqa: F821
