"""Aggregation: per-dataset accuracy tables and Markdown summaries, and the cross-dataset summary.

Across seeds a model is reported as mean ± sd. The KAN − MLP comparison is paired: both models'
seed ensembles (mean log-odds over seeds) are scored on the same bootstrap resamples of the test
windows; a winner is named only when the 95% CI of the AUROC difference excludes 0.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kanbio.metrics import METRICS, paired_auroc_difference
from kanbio.output import read_table, write_table, write_text

COLUMNS = ["dataset", "model", "type", "seed", *METRICS,
           *[f"{m}_{b}" for m in METRICS for b in ("lo", "hi")],
           "threshold", "n_params", "flops", "train_seconds", "peak_mb"]


def accuracy_table(dataset: str, metric_files: dict[tuple[str, int], str | os.PathLike]
                   ) -> pd.DataFrame:
    """One row per (model, seed) from ``metrics.json`` files, sorted by model then seed."""
    rows = []
    for (model, seed), path in sorted(metric_files.items()):
        m = json.loads(Path(path).read_text())
        row: dict[str, Any] = {"dataset": dataset, "model": model, "type": m.get("type"),
                               "seed": seed}
        for k in METRICS:
            row[k] = m["test"].get(k)
            lo, hi = m.get("ci95", {}).get(k, (None, None))
            row[f"{k}_lo"], row[f"{k}_hi"] = lo, hi
        row.update(threshold=m.get("threshold"), n_params=m.get("n_params"),
                   flops=m.get("flops"), train_seconds=m.get("train_seconds"),
                   peak_mb=m.get("peak_rss_mb"))
        rows.append(row)
    return pd.DataFrame(rows, columns=COLUMNS)


def _pm(values: pd.Series, digits: int = 3) -> str:
    v = values.dropna().to_numpy(float)
    if v.size == 0:
        return "n/a"
    sd = v.std(ddof=1) if v.size > 1 else 0.0
    return f"{v.mean():.{digits}f} ± {sd:.{digits}f}"


def ensemble_scores(prediction_files: list[str | os.PathLike]) -> tuple[np.ndarray, np.ndarray]:
    """Labels and mean log-odds over seeds on the test split (rows aligned by protein, position)."""
    frames = [read_table(p) for p in prediction_files]
    key = ["protein_id", "position"]
    base = frames[0][frames[0].split == "test"].sort_values(key).reset_index(drop=True)
    scores = []
    for f in frames:
        t = f[f.split == "test"].sort_values(key).reset_index(drop=True)
        if not (t[key].astype(str).to_numpy() == base[key].astype(str).to_numpy()).all():
            raise ValueError("prediction files cover different test windows")
        scores.append(t.score.to_numpy(float))
    return base.label.to_numpy(int), np.mean(scores, axis=0)


def compare(preds_a: list, preds_b: list, n_boot: int = 2000, seed: int = 0) -> dict[str, float]:
    """Paired bootstrap of the AUROC difference between two seed ensembles (a − b)."""
    ya, sa = ensemble_scores(preds_a)
    yb, sb = ensemble_scores(preds_b)
    if not (ya == yb).all():
        raise ValueError("the two models were evaluated on different test labels")
    return paired_auroc_difference(ya, sa, sb, n_boot=n_boot, seed=seed)


def dataset_summary(dataset: str, acc: pd.DataFrame, comparison: dict | None,
                    pair: tuple[str, str] = ("kan", "mlp"), motif: dict | None = None,
                    description: str = "") -> str:
    """Markdown summary of one dataset."""
    lines = [f"# {dataset}", ""]
    if description:
        lines += [description, ""]
    lines += ["Test split; mean ± sd over seeds (threshold chosen on validation by max MCC).", "",
              "| model | seeds | AUROC | AUPRC | MCC | ACC | Sn | Sp | parameters | train s |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for model, g in acc.groupby("model", sort=True):
        lines.append(f"| {model} | {len(g)} | {_pm(g.auroc)} | {_pm(g.auprc)} | {_pm(g.mcc)} | "
                     f"{_pm(g.acc)} | {_pm(g.sn)} | {_pm(g.sp)} | {int(g.n_params.iloc[0]):,} | "
                     f"{_pm(g.train_seconds, 1)} |")
    lines += ["", "95% bootstrap CIs per seed are in `accuracy.tsv`.", ""]
    if comparison is not None:
        a, b = pair
        d, lo, hi = comparison["diff"], comparison["lo"], comparison["hi"]
        if lo > 0:
            verdict = f"**{a}** is better"
        elif hi < 0:
            verdict = f"**{b}** is better"
        else:
            verdict = "no winner: the CI includes 0"
        lines += [f"Paired AUROC difference {a} − {b} (seed ensembles, paired bootstrap): "
                  f"{d:+.4f} [95% CI {lo:+.4f}, {hi:+.4f}] — {verdict}.", ""]
    if motif:
        lines += ["## Motif check", ""]
        for model, m in sorted(motif.items()):
            bits = []
            if m.get("precision_at_k") is not None:
                bits.append(f"precision@{m.get('k')} = {m['precision_at_k']:.2f}, "
                            f"ranking AUROC = {m.get('ranking_auroc', float('nan')):.2f}")
            for chk in m.get("known_motif", []) or []:
                bits.append(f"{chk.get('residues')} {chk.get('effect')} at "
                            f"{chk.get('offset'):+d}: {'found' if chk.get('found') else 'not found'}")
            if m.get("top_offsets") is not None:
                bits.append("top offsets " + ", ".join(f"{o:+d}" for o in m["top_offsets"]))
            lines.append(f"- {model}: " + "; ".join(bits))
        lines.append("")
    return "\n".join(lines)


def write_dataset_report(dataset: str, metric_files: dict, prediction_files: dict,
                         out_dir: str | os.PathLike, motif_files: dict | None = None,
                         pair: tuple[str, str] = ("kan", "mlp"), description: str = "") -> None:
    """Write ``accuracy.tsv`` and ``summary.md`` of one dataset."""
    out = Path(out_dir)
    acc = accuracy_table(dataset, metric_files)
    comparison = None
    if all(m in prediction_files for m in pair):
        comparison = compare(prediction_files[pair[0]], prediction_files[pair[1]])
    motif = {m: json.loads(Path(p).read_text()) for m, p in (motif_files or {}).items()}
    write_table(acc, out / "accuracy.tsv")
    write_text(dataset_summary(dataset, acc, comparison, pair, motif, description),
               out / "summary.md")


def study_summary(accuracy_files: list[str | os.PathLike], out_path: str | os.PathLike) -> None:
    """``results/summary.md``: mean ± sd AUROC / AUPRC / MCC per dataset and model."""
    acc = pd.concat([read_table(p) for p in accuracy_files], ignore_index=True)
    lines = ["# kanbio study summary", "",
             "Test AUROC / AUPRC / MCC, mean ± sd over seeds. Per-dataset details, CIs and the "
             "paired KAN − MLP comparison are in `results/<dataset>/summary.md`.", "",
             "| dataset | model | AUROC | AUPRC | MCC | parameters |", "|---|---|---|---|---|---|"]
    for (ds, model), g in acc.groupby(["dataset", "model"], sort=True):
        lines.append(f"| {ds} | {model} | {_pm(g.auroc)} | {_pm(g.auprc)} | {_pm(g.mcc)} | "
                     f"{int(g.n_params.iloc[0]):,} |")
    write_text("\n".join(lines) + "\n", out_path)
