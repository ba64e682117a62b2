"""kanbio: KAN vs MLP site predictors on protein windows, from FASTA to explained models."""

from snakemake.utils import min_version

min_version("8.0")


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/prepare.smk"


rule all:
    input:
        all_outputs(),
    default_target: True
