"""Config validation and the helpers the rules share."""

import os
import re

from kanbio import config as kcfg
from kanbio.errors import InputError
from kanbio.report import layout
from kanbio.stages import fetch as kfetch

# the config file(s) named in messages: those given with --configfile, else the default
CONFIG_FILES = [str(f) for f in getattr(workflow, "overwrite_configfiles", None) or []]
CONFIG_NAME = ", ".join(CONFIG_FILES) or "config/config.yaml"

try:  # kanbio's schema (kanbio/config.schema.yaml); an unknown key gets a suggestion
    kcfg.validate(config, CONFIG_NAME)
except InputError as err:
    raise SystemExit(f"kanbio: error: {err}") from None
config.update(kcfg.with_defaults(config))  # the schema's defaults, filled in once

ENV = "../../environment.yml"  # relative to workflow/rules/
DATASETS = sorted(config["datasets"])
MODELS = sorted(config.get("models", {}))
SEEDS = config["seeds"]
COMPARE = config["compare"]
EXPLAIN_SEEDS = config["explain"]["seeds"]
KAN_MODELS = [m for m in MODELS if config["models"][m]["type"] == "kan"]
OTHER_MODELS = [m for m in MODELS if m not in KAN_MODELS]
KAN_PATTERN = "|".join(KAN_MODELS) or "(?!)"  # (?!) matches nothing
OTHER_PATTERN = "|".join(OTHER_MODELS) or "(?!)"


wildcard_constraints:
    dataset="|".join(DATASETS),
    model="|".join(MODELS) if MODELS else "[^/]+",
    seed=r"\d+",


# ---- published datasets: data/external/<dataset>/<file> is made by the fetch rule ----
EXTERNAL = kfetch.OUT
REGISTRY = kfetch.registry()
FETCH_SOURCES = "|".join(re.escape(name) for name in REGISTRY)
FETCH_FILES = "|".join(
    sorted({re.escape(f) for e in REGISTRY.values() for f in kfetch.files_of(e)})
)


def dataset_spec(name):
    """The dataset's settings with global defaults filled in (see kanbio.config.dataset)."""
    return kcfg.dataset(config, name)


def dataset_inputs(wildcards):
    """Every input file of a dataset, so that editing one reruns its preparation."""
    spec = dataset_spec(wildcards.dataset)
    return [path for key in kcfg.INPUT_KEYS for path in spec.get(key, [])]


def model_spec(name):
    spec = dict(config["models"][name])
    spec.pop("match", None)
    return spec


def reference_spec(name):
    """The KAN spec an MLP matches in parameter count (None if it sets its own width)."""
    ref = config["models"][name].get("match")
    return None if ref is None else config["models"][ref]


# ---- model selection: models with a `search` block are tuned on the validation split ----
SEARCHED = [m for m in MODELS if config["models"][m].get("search")]
SEARCH = config["search"]


def choice_file(dataset, model):
    """The search's choice for a model (None if the model is not searched)."""
    return f"results/{dataset}/search/{model}.json" if model in SEARCHED else None


def search_table(dataset, model):
    """The search's table of every candidate of a model (None if the model is not searched)."""
    return f"results/{dataset}/search/{model}.tsv" if model in SEARCHED else None


def spec_inputs(wildcards, own=True):
    """Search choices a model's spec depends on: its own and that of the KAN it matches."""
    files = {}
    if own and choice_file(wildcards.dataset, wildcards.model):
        files["choice"] = choice_file(wildcards.dataset, wildcards.model)
    ref = config["models"][wildcards.model].get("match")
    if ref and choice_file(wildcards.dataset, ref):
        files["reference_choice"] = choice_file(wildcards.dataset, ref)
    return files


def uses_gpu(name):
    return int(config["models"][name].get("train", {}).get("device") == "cuda")


def model_seeds():
    """Every (model, seed) trained, in the order models and seeds are reported."""
    return [(m, s) for m in MODELS for s in SEEDS]


def seed_files(dataset, filename):
    """{model: {seed: path}} of a per-checkpoint file of one dataset."""
    files = {}
    for m, s in model_seeds():
        files.setdefault(m, {})[s] = f"results/{dataset}/models/{m}/seed{s}/{filename}"
    return files


def explain_files(dataset, filename):
    """{model: {seed: path}} of an explain output of one dataset, for every explained pair."""
    files = {}
    for m, s in explained_pairs():
        files.setdefault(m, {})[s] = f"results/{dataset}/explain/{m}/seed{s}/{filename}"
    return files


def flat(files):
    """Every path in a nested map of paths (dicts, lists, None for no file), in order."""
    if files is None:
        return []
    if isinstance(files, str):
        return [files]
    values = files.values() if isinstance(files, dict) else files
    return [path for value in values for path in flat(value)]


def named(files):
    """Named inputs of a file map: each top-level key with the paths under it."""
    return {key: flat(value) for key, value in files.items()}


def aggregate_files(dataset):
    """The files kanbio.stages.report.aggregate reads for one dataset."""
    return {
        "metrics": seed_files(dataset, "metrics.json"),
        "predictions": seed_files(dataset, "predictions.tsv.gz"),
        "motif": explain_files(dataset, "motif.json"),
    }


def figure_files(dataset):
    """The files kanbio.stages.report.dataset_figures reads for one dataset."""
    return {
        "predictions": seed_files(dataset, "predictions.tsv.gz"),
        "curves": seed_files(dataset, "curve.tsv"),
    }


def explain_params(wildcards):
    """Keyword arguments of kanbio.stages.explain.explain for one dataset and model."""
    ds = dataset_spec(wildcards.dataset)
    return {
        "truth": ds.get("truth"),
        "known_motif": ds.get("known_motif"),
        "max_windows": config["explain"]["max_windows"],
        "library": config["models"][wildcards.model].get("symbolic_library"),
        "figures": explain_figures(wildcards.model),
    }


def explain_figures(model):
    """The figures drawn for a model: the rule outputs named <model>_seed<k>_<figure>.png."""
    if model in KAN_MODELS:
        return ["logo_exact", "heatmap_exact", "heatmap_ism", "network", "functions"]
    return ["heatmap_ism", "logo_ism"]


def explained_pairs(wildcards=None):
    return [(m, s) for m in MODELS for s in EXPLAIN_SEEDS]


def all_outputs():
    out = expand(
        "results/{dataset}/{file}",
        dataset=DATASETS,
        file=["windows.tsv.gz", "summary.json"],
    )
    if MODELS:
        out += expand("results/{dataset}/summary.md", dataset=DATASETS)
        out += ["results/summary.md", "results/figures/accuracy_vs_params.png"]
        out += expand("results/figures/{dataset}_roc.png", dataset=DATASETS)
    return out + predict_outputs() + page_outputs()


# ---- predict: score new FASTA files with config["predict"]["model"] ----
PREDICT = config.get("predict")


def predict_fasta():
    """{name: FASTA path} of config["predict"]["fasta"]; outputs are
    results/predictions/<name>.tsv.gz, name = file name without FASTA and .gz extensions.
    """
    if PREDICT is None:
        return {}
    fasta = PREDICT["fasta"]
    names = {}
    for path in [fasta] if isinstance(fasta, str) else fasta:
        name = re.sub(
            r"(\.(fasta|fas|fa|faa|fna|fsa|seq))?(\.gz)?$",
            "",
            os.path.basename(path),
            flags=re.IGNORECASE,
        )
        if not name or name in names:
            raise ValueError(f"predict.fasta: no distinct output name for {path!r}")
        names[name] = path
    return names


PREDICT_FASTA = predict_fasta()
PREDICT_PATTERN = "|".join(re.escape(n) for n in PREDICT_FASTA) or "(?!)"


def predict_inputs(wildcards):
    """The FASTA, the checkpoint and its metrics.json (the validation threshold) when the
    pipeline makes it or it exists."""
    model = PREDICT["model"].rstrip("/")
    files = {
        "fasta": PREDICT_FASTA[wildcards.name],
        "model": f"{model}/model.pt",
        "meta": f"{model}/model.json",
    }
    metrics = f"{model}/metrics.json"
    made_here = re.fullmatch(r"results/[^/]+/models/[^/]+/seed\d+", model)
    if made_here or os.path.exists(metrics):
        files["metrics"] = metrics
    return files


def predict_outputs():
    """results/predictions/<name>.tsv.gz per FASTA of config["predict"]; [] without it."""
    return [f"results/predictions/{name}.tsv.gz" for name in PREDICT_FASTA]


# ---- the results page: config["results_page"] turns this study into docs/results.md ----
PAGE = config.get("results_page")
LOGO = layout.logo_model(
    {m: config["models"][m]["type"] for m in MODELS}, explained_pairs()
)


def page_path():
    return PAGE.get("out", "docs/results.md")


def page_figures():
    """The figures the page draws or copies, beside it (see kanbio.report.layout)."""
    root = os.path.join(os.path.dirname(page_path()), layout.FIGURES)
    return [f"{root}/{name}" for name in layout.page_figures(PAGE, LOGO)]


def page_datasets():
    datasets = []
    for proto in PAGE["protocols"].values():
        for ds in proto["datasets"]:
            if ds not in DATASETS:
                raise ValueError(f"results_page: dataset {ds!r} is not in 'datasets'")
            if ds not in datasets:
                datasets.append(ds)
    return datasets


def page_files():
    """Every pipeline output the page reads (see kanbio.report.page.Results)."""
    files = {}
    for ds in page_datasets():
        metrics = seed_files(ds, "metrics.json")
        predictions = seed_files(ds, "predictions.tsv.gz")
        motif = explain_files(ds, "motif.json")
        models = {
            m: {
                "metrics": list(metrics[m].values()),
                "predictions": list(predictions[m].values()),
                "motif": list(motif.get(m, {}).values()),
                "search": search_table(ds, m),
            }
            for m in MODELS
        }
        logo = None
        if LOGO:
            logo = f"results/figures/{ds}/{LOGO[0]}_seed{LOGO[1]}_logo_exact.png"
        files[ds] = {
            "accuracy": f"results/{ds}/accuracy.tsv",
            "summary": f"results/{ds}/summary.json",
            "models": models,
            "logo": logo,
        }
    return files


def page_outputs():
    return [page_path(), *page_figures()] if PAGE else []
