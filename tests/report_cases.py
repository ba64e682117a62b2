"""A small synthetic study on disk, laid out as the pipeline writes it, for the report tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from kanbio.metrics import binary_metrics, bootstrap_ci
from kanbio.output import write_json, write_table

MODELS = {"kan": ("kan", 120, 2.0), "mlp": ("mlp", 118, 1.0)}  # name: type, params, signal
SEEDS = (0, 1)


def write_model(folder: Path, y: np.ndarray, split: np.ndarray, score: np.ndarray, kind: str,
                n_params: int, seed: int, proteins: str = "P") -> None:
    """``predictions.tsv.gz``, ``metrics.json`` and ``curve.tsv`` of one evaluated checkpoint."""
    n = len(y)
    # rows in a different order per seed: the report aligns them by site
    order = np.random.default_rng(seed).permutation(n)
    preds = pd.DataFrame({"protein_id": [f"{proteins}{i // 4}" for i in range(n)],
                          "position": [1 + i % 4 for i in range(n)], "split": split,
                          "label": y, "score": np.round(score, 6)}).iloc[order]
    write_table(preds, folder / "predictions.tsv.gz", float_format="%.6f")
    test = split == "test"
    threshold = 0.0
    write_json({
        "model": str(folder), "type": kind, "seed": seed, "threshold": threshold,
        "threshold_source": "val",
        "test": binary_metrics(y[test], score[test], threshold),
        "ci95": {k: list(v) for k, v in
                 bootstrap_ci(y[test], score[test], threshold, n_boot=50).items()},
        "n_params": n_params, "flops": 2 * n_params, "train_seconds": 1.5 + seed,
        "peak_rss_mb": 300.0,
    }, folder / "metrics.json")
    epochs = np.arange(1, 6)
    write_table(pd.DataFrame({"epoch": epochs, "train_loss": 1 / epochs + 0.01 * seed,
                              "val_loss": 1.2 / epochs}), folder / "curve.tsv")


def write_study(root: Path, datasets=("toy", "toy2"), n: int = 240) -> dict:
    """Predictions, metrics, curves, motif checks, a search table and a logo per dataset.

    Returns the results page's file map (see :class:`kanbio.report.page.Results`) with, per
    dataset, the per-seed maps ``seed_files[kind][model][seed]`` beside it.
    """
    files = {}
    for k, ds in enumerate(datasets):
        rng = np.random.default_rng(10 + k)
        y = (rng.random(n) < 0.3).astype(int)
        y[:2] = [0, 1]
        split = np.array(["train", "val", "test"])[np.arange(n) % 3]
        base = root / ds
        entry = {"accuracy": str(base / "accuracy.tsv"), "summary": str(base / "summary.json"),
                 "models": {}, "logo": str(base / "logo.png"), "seed_files": {}}
        for m, (kind, n_params, signal) in MODELS.items():
            per = {"metrics": [], "predictions": [], "motif": [], "search": None}
            for s in SEEDS:
                folder = base / "models" / m / f"seed{s}"
                score = signal * y + rng.normal(size=n)
                write_model(folder, y, split, score, kind, n_params, s, proteins=f"{ds}_P")
                for name in ("metrics", "predictions", "curve"):
                    file = folder / {"metrics": "metrics.json", "curve": "curve.tsv"}.get(
                        name, "predictions.tsv.gz")
                    entry["seed_files"].setdefault(name, {}).setdefault(m, {})[s] = str(file)
                    if name != "curve":
                        per[name].append(str(file))
            motif = base / "explain" / m / "seed0" / "motif.json"
            extra = {}
            if m == "kan":  # a sparse property KAN: kept groups, its formula, residue scores
                extra["sparsity"] = {"encoding": "physchem", "offsets": [-3, 1],
                                     "n_offsets": 2, "of_offsets": 9,
                                     "features": {"-3": ["charge"], "+1": ["volume", "helix"]}}
                (motif.parent).mkdir(parents=True, exist_ok=True)
                (motif.parent / "formula_properties.txt").write_text(
                    "logit = 2*s_1\n\ns_1 = 0.1 + 0.8*charge(-3)\n\nfirst-layer edges (...):\n"
                    "  -3, charge -> s_1: x, r2 = 1.0000, span = 1.6\n")
                write_table(pd.DataFrame({
                    "method": "exact", "offset": [-3] * 3 + [1] * 3,
                    "residue": list("RKD") + list("PGA"), "score": [2.0, 1.0, -1.5] * 2}),
                    motif.parent / "attribution_residues.tsv")
            write_json({"known_motif_by_method": {"ism": [
                {"offset": -3, "residues": "R", "effect": "enriched", "z": 4.0 + k,
                 "found": True}]},
                "logo_signal": {"ism": {"k": 3, "top_share": 0.5 + k / 10, "flat_share": 0.375,
                                        "top_offsets": [-3, 1, 2]}}, **extra}, motif)
            per["motif"].append(str(motif))
            entry["seed_files"].setdefault("motif", {})[m] = {0: str(motif)}
            entry["models"][m] = per
        search = base / "search" / "kan.tsv"
        write_table(pd.DataFrame({"overrides": ['{"grid": 3}', '{"grid": 5}'],
                                  "n_params": [90, 120], "val_auroc": [0.7 + k / 100, 0.8],
                                  "val_auprc": [0.5, 0.6], "selected": [False, True]}), search)
        entry["models"]["kan"]["search"] = str(search)
        write_json({"splits": {p: {"positives": int(y[split == p].sum()),
                                   "negatives": int((1 - y[split == p]).sum()), "proteins": 20}
                               for p in ("train", "val", "test")}}, base / "summary.json")
        (base / "logo.png").write_bytes(b"\x89PNG logo of " + ds.encode())
        files[ds] = entry
    return files


def seed_files(files: dict, dataset: str, kind: str) -> dict:
    return files[dataset]["seed_files"][kind]


def page_map(files: dict) -> dict:
    """The page's file map: ``files`` without the per-seed maps."""
    return {ds: {k: v for k, v in entry.items() if k != "seed_files"}
            for ds, entry in files.items()}


def read_json(path) -> dict:
    return json.loads(Path(path).read_text())
