"""Snakemake script: prepare one dataset (see kanbio.stages.prepare).

It also compiles the training kernels once (or loads them from the disk cache), so that the
train and search jobs that follow do not each pay the first-use compile.
"""

from pathlib import Path

from kanbio.models import kernels
from kanbio.stages.prepare import prepare
from kanbio.stages.snakemake import run

smk = snakemake  # noqa: F821
out_dir = Path(smk.output.windows).parent
run(smk, prepare, smk.params.spec, out_dir, smk.wildcards.dataset, threads=smk.threads)
kernels.warm_up()
