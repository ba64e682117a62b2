"""kanbio: KAN vs MLP site predictors on protein windows, from FASTA to explained models."""

from snakemake.utils import min_version

min_version("8.0")


# The demo study unless --configfile names another (config files given on the command line
# would otherwise be merged into the default one, mixing their datasets).
if "datasets" not in config:

    configfile: "config/config.yaml"


include: "workflow/rules/common.smk"


localrules:
    all,


include: "workflow/rules/fetch.smk"
include: "workflow/rules/prepare.smk"
include: "workflow/rules/search.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/explain.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/predict.smk"


rule all:
    default_target: True
    input:
        all_outputs(),
