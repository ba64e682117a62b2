"""Stage ``report``: evaluated models in; accuracy tables, summaries, figures and the results page
out. One function per rule of ``workflow/rules/report.smk`` (the ``kanbio report`` and ``kanbio
figures`` commands call them too); every path, read or written, is given by the caller.

Per-seed files are passed as maps ``{model: {seed: path}}``, in the order the models and seeds are
reported.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from kanbio import __version__
from kanbio.config import BOOTSTRAP, DEFAULTS
from kanbio.errors import InputError
from kanbio.output import write_table, write_text
from kanbio.report import figures, layout, page, tables

PathLike = str | os.PathLike
SeedFiles = Mapping[str, Mapping[int, PathLike]]  # model -> seed -> path


def _per_model(files: SeedFiles) -> dict[str, list[PathLike]]:
    return {model: list(seeds.values()) for model, seeds in files.items()}


def _stem(png: PathLike) -> Path:
    """The figure stem of a ``.png`` output (the PDF, if any, is written beside it)."""
    path = Path(png)
    if path.suffix != ".png":
        raise ValueError(f"a figure output must end in .png: {png}")
    return path.with_suffix("")


log = logging.getLogger("kanbio.report")


def aggregate(dataset: str, files: Mapping[str, SeedFiles], accuracy: PathLike,
              summary: PathLike, pair: Sequence[str] = ("kan", "mlp"), description: str = "",
              n_boot: int = 1000) -> None:
    """Write a dataset's ``accuracy.tsv`` (path ``accuracy``) and ``summary.md`` (``summary``).

    ``files``: ``metrics`` and ``predictions`` of every model and seed, and optionally ``motif``
    (the ``motif.json`` of the explained ones); ``pair``: the two models of the paired AUROC
    comparison (skipped unless both are there), with ``n_boot`` resamples.
    """
    acc = tables.accuracy_table(dataset, files["metrics"])
    predictions = _per_model(files["predictions"])
    ensembles = [tables.ensemble_row(dataset, model, _per_model(files["metrics"])[model], preds,
                                     n_boot)
                 for model, preds in sorted(predictions.items()) if len(preds) > 1]
    if ensembles:
        acc = pd.concat([acc, pd.DataFrame(ensembles, columns=acc.columns)], ignore_index=True)
    comparison = None
    if all(m in predictions for m in pair):
        comparison = tables.compare(predictions[pair[0]], predictions[pair[1]], n_boot)
    motif = {f"{model} (seed {seed})": json.loads(Path(path).read_text())
             for model, seeds in files.get("motif", {}).items() for seed, path in seeds.items()}
    for warning in tables.validation_gaps(acc):
        log.warning("%s: %s", dataset, warning)
    write_table(acc, accuracy)
    write_text(tables.dataset_summary(dataset, acc, comparison, tuple(pair), motif, description),
               summary)


def study_summary(accuracy_files: Sequence[PathLike], out: PathLike) -> None:
    """Write the study summary (every dataset and model) from ``accuracy.tsv`` tables."""
    write_text(tables.study_summary(tables.read_accuracy(accuracy_files)), out)


def dataset_figures(dataset: str, files: Mapping[str, SeedFiles], roc: PathLike, pr: PathLike,
                    curves: PathLike) -> list[Path]:
    """ROC, PR and training-curve figures of one dataset, at the ``.png`` paths given (a PDF
    beside each) from ``files``: ``predictions`` and ``curves`` (``curve.tsv``) per model and
    seed."""
    return [*figures.roc_pr(dataset, _per_model(files["predictions"]), _stem(roc), _stem(pr)),
            *figures.training_curves(dataset, _per_model(files["curves"]), _stem(curves))]


def params_figure(accuracy_files: Sequence[PathLike], png: PathLike) -> list[Path]:
    """Test AUROC against parameter count across datasets, at ``png`` (a PDF beside it)."""
    return figures.accuracy_vs_params(accuracy_files, _stem(png))


def environment() -> str:
    """One line naming the software and machine of this run (kanbio commit, torch, Python)."""
    commit = "unknown"
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, check=True, timeout=10).stdout.strip() or commit
    except (OSError, subprocess.SubprocessError):
        pass
    return (f"kanbio {__version__} (commit {commit}), torch {torch.__version__}, Python "
            f"{platform.python_version()}, {platform.machine()}, "
            f"{torch.get_num_threads()} torch threads per job.")


def results_page(page_config: Mapping[str, Any], files: Mapping[str, Mapping[str, Any]],
                 out: PathLike, seeds: Sequence[int], logo: Sequence | None = None,
                 pair: Sequence[str] = ("kan", "mlp"), n_boot: int = 1000, command: str = ""
                 ) -> list[Path]:
    """Write the results page at ``out`` and its figures in ``figures/`` beside it; return every
    file written.

    ``page_config``: config ``results_page``; ``files``: the file map of
    :class:`kanbio.report.page.Results`; ``logo``: the (model, seed) of
    :func:`kanbio.report.layout.logo_model` (its logo of each protocol's first dataset is copied
    beside the page); the rest as in :func:`kanbio.report.page.results_page`.
    """
    out = Path(out)
    res = page.Results(files, n_boot=n_boot)
    fig_dir = out.parent / layout.FIGURES
    fig_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for pid, proto in page_config["protocols"].items():
        names = layout.protocol_figures(pid, proto, logo)
        stem = _stem(fig_dir / names["results"])
        datasets = proto["datasets"]
        if layout.protocol_kind(proto) == "roc":
            scores = {m: res.scores(datasets[0], m) for m in res.models}
            written.append(figures.roc_with_references(datasets[0], scores,
                                                       proto.get("references", []), stem))
        else:
            per = {d: t.auroc.to_dict() for d, t in res.per_fold(datasets).items()}
            written.append(figures.fold_auroc(per, res.models, stem))
        if logo:
            shutil.copyfile(files[datasets[0]]["logo"], fig_dir / names["logo"])
            written.append(fig_dir / names["logo"])
    text = page.results_page(page_config, res, seeds, logo, pair, command, environment())
    write_text(text, out)
    return [out, *written]


def seed_folders(models: Mapping[str, Sequence[PathLike]], names: Sequence[str]
                 ) -> dict[str, dict[str, dict[int, Path]]]:
    """File maps of evaluated checkpoint folders (as ``kanbio train`` / ``evaluate`` write them).

    ``models``: model name -> its folders, one per seed, each with a ``metrics.json`` (whose
    ``seed`` keys the folder; its position when absent). Returns ``{name: {model: {seed:
    folder/name}}}`` for each file name in ``names``.
    """
    out: dict[str, dict[str, dict[int, Path]]] = {name: {} for name in names}
    for model, folders in models.items():
        seeds: dict[int, Path] = {}
        for i, folder in enumerate(folders):
            metrics = Path(folder) / "metrics.json"
            if not metrics.is_file():
                raise InputError("no metrics.json (run 'kanbio evaluate' first)", path=str(folder))
            seed = json.loads(metrics.read_text()).get("seed")
            seed = i if seed is None else int(seed)
            if seed in seeds:
                raise InputError(f"model {model!r}: seed {seed} given twice", path=str(folder))
            seeds[seed] = Path(folder)
        for name in names:
            out[name][model] = {seed: folder / name for seed, folder in seeds.items()}
    return out


# ----------------------------------------------------------------------------------------- CLI
def _model_folders(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", nargs="+", action="append", required=True,
                   metavar=("NAME", "FOLDER"), help="a model's name, then its evaluated "
                   "checkpoint folder of each seed (repeatable, one model each)")


def _folders(args: argparse.Namespace) -> dict[str, list[str]]:
    """``--model NAME FOLDER...`` as {name: [folders]}."""
    models: dict[str, list[str]] = {}
    for name, *folders in args.model:
        if not folders:
            raise InputError(f"--model {name}: no checkpoint folder given")
        if name in models:
            raise InputError(f"--model {name} given twice")
        models[name] = folders
    return models


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``kanbio report``."""
    p.add_argument("--dataset", required=True, help="dataset name (title of the summary)")
    _model_folders(p)
    p.add_argument("--compare", nargs=2, default=DEFAULTS["compare"], metavar=("A", "B"),
                   help="the two models of the paired AUROC comparison (default kan mlp)")
    p.add_argument("--bootstrap", type=int, default=BOOTSTRAP, help="resamples of the comparison")
    p.add_argument("--description", default="", help="a line under the summary's title")
    p.add_argument("--out", required=True, help="output folder (accuracy.tsv, summary.md)")
    p.add_argument("--study-summary", metavar="PATH", help="also write the study summary of "
                   "this dataset and the --accuracy tables of others")
    p.add_argument("--accuracy", nargs="+", default=[], metavar="TSV",
                   help="accuracy.tsv of other datasets, for --study-summary")


def run(args: argparse.Namespace) -> int:
    """Run ``kanbio report``."""
    files = seed_folders(_folders(args), ["metrics.json", "predictions.tsv.gz"])
    out = Path(args.out)
    aggregate(args.dataset, {"metrics": files["metrics.json"],
                                    "predictions": files["predictions.tsv.gz"]},
                     out / "accuracy.tsv", out / "summary.md", pair=args.compare,
                     description=args.description, n_boot=args.bootstrap)
    written = [out / "accuracy.tsv", out / "summary.md"]
    if args.study_summary:
        study_summary([out / "accuracy.tsv", *args.accuracy], args.study_summary)
        written.append(Path(args.study_summary))
    print(f"{args.dataset}: written {', '.join(map(str, written))}", file=sys.stderr)
    return 0


def add_arguments_figures(p: argparse.ArgumentParser) -> None:
    """Options of ``kanbio figures``."""
    p.add_argument("--dataset", required=True, help="dataset name (figure titles, file names)")
    _model_folders(p)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--accuracy", nargs="+", default=[], metavar="TSV",
                   help="accuracy.tsv tables: also draw accuracy_vs_params")


def run_figures(args: argparse.Namespace) -> int:
    """Run ``kanbio figures``."""
    files = seed_folders(_folders(args), ["predictions.tsv.gz", "curve.tsv"])
    out = Path(args.out)
    written = dataset_figures(
        args.dataset, {"predictions": files["predictions.tsv.gz"], "curves": files["curve.tsv"]},
        out / f"{args.dataset}_roc.png", out / f"{args.dataset}_pr.png",
        out / f"{args.dataset}_curves.png")
    if args.accuracy:
        written += params_figure(args.accuracy, out / "accuracy_vs_params.png")
    print(f"{args.dataset}: {len(written)} figures written to {out}", file=sys.stderr)
    return 0
