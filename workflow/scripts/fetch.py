"""Snakemake script: one file of a published dataset (see kanbio.stages.fetch.fetch).

The mirror folder comes from config["data_dir"] (read here, not passed as a param, so that
switching between a mirror and the network does not rerun anything: the files are the same).
"""

from pathlib import Path

from kanbio.stages.fetch import fetch
from kanbio.stages.snakemake import run

smk = snakemake  # noqa: F821
path = smk.wildcards.path
out = Path(smk.output[0]).parents[len(Path(path).parts)]  # data/external
run(smk, fetch, smk.wildcards.source, out, smk.config.get("data_dir"), files=[path])
