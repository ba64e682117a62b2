"""Config validation and the helpers the rules share."""

from snakemake.utils import validate

from kanbio import config as kcfg

validate(config, "../schemas/config.schema.yaml")
kcfg.validate(config, "config")  # same schema; names an unknown key with a suggestion

ENV = "../../environment.yml"  # relative to workflow/rules/
DATASETS = sorted(config["datasets"])
INPUT_KEYS = [
    "fasta",
    "sites",
    "positives",
    "negatives",
    "test_fasta",
    "test_sites",
    "test_positives",
    "test_negatives",
]


wildcard_constraints:
    dataset="|".join(DATASETS),


def dataset_spec(name):
    """The dataset's settings with global defaults filled in (see kanbio.config.dataset)."""
    return kcfg.dataset(config, name)


def dataset_inputs(wildcards):
    """Every input file of a dataset, so that editing one reruns its preparation."""
    spec = dataset_spec(wildcards.dataset)
    return [path for key in INPUT_KEYS for path in spec.get(key, [])]


def all_outputs():
    return expand(
        "results/{dataset}/{file}",
        dataset=DATASETS,
        file=["windows.tsv.gz", "summary.json"],
    )
