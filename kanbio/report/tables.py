"""Tables of a study: the per-dataset accuracy table and Markdown summary, the study summary.

Across seeds a model is reported as mean ± sd. The KAN − MLP comparison is paired
(:func:`kanbio.metrics.paired_auroc_difference`): every seed of both models is scored on the same
stratified bootstrap resamples of the test windows, and the statistic is the difference of the
seed-mean AUROCs; a winner is named only when its 95% CI excludes 0.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kanbio.config import BOOTSTRAP
from kanbio.metrics import (
    METRICS,
    auroc,
    binary_metrics,
    bootstrap_ci,
    paired_auroc_difference,
    validation_threshold,
)
from kanbio.output import read_table

COLUMNS = ["dataset", "model", "type", "seed", *METRICS,
           *[f"{m}_{b}" for m in METRICS for b in ("lo", "hi")],
           "val_auroc", "threshold", "n_params", "n_params_effective", "flops",
           "train_seconds", "peak_mb"]
#: A validation AUROC this far above the test AUROC (mean over seeds) is reported as a warning:
#: validation then does not resemble test, and every choice made on it is suspect.
VAL_GAP = 0.05


def accuracy_table(dataset: str,
                   metric_files: Mapping[str, Mapping[int, str | os.PathLike]]) -> pd.DataFrame:
    """One row per model and seed from ``metrics.json`` files (model -> seed -> path), sorted by
    model then seed."""
    rows = []
    pairs = ((model, seed, path) for model, seeds in metric_files.items()
             for seed, path in seeds.items())
    for model, seed, path in sorted(pairs, key=lambda r: r[:2]):
        m = json.loads(Path(path).read_text())
        row: dict[str, Any] = {"dataset": dataset, "model": model, "type": m.get("type"),
                               "seed": seed}
        for k in METRICS:
            row[k] = m["test"].get(k)
            lo, hi = m.get("ci95", {}).get(k, (None, None))
            row[f"{k}_lo"], row[f"{k}_hi"] = lo, hi
        row.update(val_auroc=(m.get("val") or {}).get("auroc"), threshold=m.get("threshold"),
                   n_params=m.get("n_params"), n_params_effective=m.get("n_params_effective"),
                   flops=m.get("flops"), train_seconds=m.get("train_seconds"),
                   peak_mb=m.get("peak_rss_mb"))
        rows.append(row)
    return pd.DataFrame(rows, columns=COLUMNS)


def validation_gaps(acc: pd.DataFrame, gap: float = VAL_GAP) -> list[str]:
    """One sentence per model whose mean validation AUROC exceeds its mean test AUROC by more
    than ``gap``."""
    out = []
    if "val_auroc" not in acc.columns:
        return out
    for model, g in acc.groupby("model", sort=True):
        val, test = g.val_auroc.astype(float).mean(), g.auroc.astype(float).mean()
        if np.isfinite(val) and np.isfinite(test) and val - test > gap:
            out.append(f"{model}: validation AUROC {val:.3f} exceeds test AUROC {test:.3f} by "
                       f"{val - test:.3f} (> {gap}): validation does not resemble the test set, "
                       "so early stopping and every search choice made on it are suspect "
                       "(a homology split, `split: {method: homology}`, carves validation like "
                       "a homology-reduced test set).")
    return out


def ensemble_row(dataset: str, model: str, metric_files: Sequence[str | os.PathLike],
                 prediction_files: Sequence[str | os.PathLike], n_boot: int = BOOTSTRAP
                 ) -> dict[str, Any]:
    """The seed ensemble of a model as an accuracy-table row (model ``"<model> ×S"``, seed
    ``"ensemble"``): the mean log-odds over the S seeds of every window, its threshold chosen on
    validation (with the prevalence the seeds were evaluated for), test metrics and CIs."""
    key = ["protein_id", "position", "split"]
    frames = [read_table(p).sort_values(key).reset_index(drop=True) for p in prediction_files]
    for f in frames[1:]:
        if not (f[key].astype(str).to_numpy() == frames[0][key].astype(str).to_numpy()).all():
            raise ValueError("prediction files cover different windows")
    base, score = frames[0], np.mean([f.score.to_numpy(float) for f in frames], axis=0)
    metas = [json.loads(Path(p).read_text()) for p in metric_files]
    val, test = (base.split == "val").to_numpy(), (base.split == "test").to_numpy()
    y = base.label.to_numpy(int)
    thr, _ = validation_threshold(y[val], score[val], metas[0].get("prevalence"))
    row: dict[str, Any] = {"dataset": dataset, "model": f"{model} ×{len(frames)}",
                           "type": metas[0].get("type"), "seed": "ensemble"}
    row.update(binary_metrics(y[test], score[test], thr))
    for k, (lo, hi) in bootstrap_ci(y[test], score[test], thr, n_boot).items():
        row[f"{k}_lo"], row[f"{k}_hi"] = lo, hi
    val_auroc = auroc(y[val], score[val]) if len(np.unique(y[val])) == 2 else None
    total = {k: sum(m.get(k) or 0 for m in metas) for k in ("n_params", "n_params_effective",
                                                             "flops", "train_seconds")}
    row.update(val_auroc=val_auroc, threshold=thr, **total,
               peak_mb=max(m.get("peak_rss_mb") or 0 for m in metas))
    return {c: row.get(c) for c in COLUMNS}


def mean_sd(values: pd.Series | Sequence[float], digits: int = 3) -> str:
    """``"mean ± sd"`` (sample sd; 0 for one value) of the non-missing values, else ``"n/a"``."""
    v = pd.Series(values, dtype=float).dropna().to_numpy(float)
    if v.size == 0:
        return "n/a"
    sd = v.std(ddof=1) if v.size > 1 else 0.0
    return f"{v.mean():.{digits}f} ± {sd:.{digits}f}"


def test_scores(prediction_files: Sequence[str | os.PathLike]) -> tuple[np.ndarray, np.ndarray]:
    """Labels (N,) and per-seed log-odds (S, N) on the test split, rows aligned by site."""
    frames = [read_table(p) for p in prediction_files]
    key = ["protein_id", "position"]
    base = frames[0][frames[0].split == "test"].sort_values(key).reset_index(drop=True)
    scores = []
    for f in frames:
        t = f[f.split == "test"].sort_values(key).reset_index(drop=True)
        if not (t[key].astype(str).to_numpy() == base[key].astype(str).to_numpy()).all():
            raise ValueError("prediction files cover different test windows")
        scores.append(t.score.to_numpy(float))
    return base.label.to_numpy(int), np.array(scores)


def compare(preds_a: Sequence[str | os.PathLike], preds_b: Sequence[str | os.PathLike],
            n_boot: int = 1000, seed: int = 0) -> dict[str, float]:
    """Paired bootstrap of the seed-averaged test AUROC difference (a − b) from prediction files.

    ``mean_s AUROC(a_s) − mean_s AUROC(b_s)`` with every seed of both models scored on each
    resample (:func:`kanbio.metrics.paired_auroc_difference`), so unstable seeds count as they are.
    """
    y, sa = test_scores(preds_a)
    yb, sb = test_scores(preds_b)
    return compare_scores(y, sa, yb, sb, n_boot, seed)


def compare_scores(y: np.ndarray, sa: np.ndarray, yb: np.ndarray, sb: np.ndarray,
                   n_boot: int = 1000, seed: int = 0) -> dict[str, float]:
    """:func:`compare` on test labels and per-seed scores already read (see :func:`test_scores`)."""
    if not (y == yb).all():
        raise ValueError("the two models were evaluated on different test labels")
    return paired_auroc_difference(y, sa, sb, n_boot=n_boot, seed=seed)


def dataset_summary(dataset: str, acc: pd.DataFrame, comparison: dict | None,
                    pair: tuple[str, str] = ("kan", "mlp"), motif: dict | None = None,
                    description: str = "") -> str:
    """Markdown summary of one dataset."""
    lines = [f"# {dataset}", ""]
    if description:
        lines += [description, ""]
    lines += ["Test split; mean ± sd over seeds (threshold chosen on validation by max MCC); "
              "`<model> ×S` rows: the seed ensemble (mean log-odds of the S seeds) with its "
              "bootstrap 95% CI.", "",
              "| model | seeds | AUROC | AUPRC | MCC | ACC | Sn | Sp | parameters | FLOPs |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for model, g in acc.groupby("model", sort=True):
        if (g.seed.astype(str) == "ensemble").all():  # one row: the value and its 95% CI
            r = g.iloc[0]
            cells = " | ".join(f"{r[k]:.3f} [{r[f'{k}_lo']:.3f}, {r[f'{k}_hi']:.3f}]"
                               for k in ("auroc", "auprc", "mcc", "acc", "sn", "sp"))
            seeds = "ensemble"
        else:
            cells = " | ".join(mean_sd(g[k]) for k in ("auroc", "auprc", "mcc", "acc", "sn", "sp"))
            seeds = str(len(g))
        lines.append(f"| {model} | {seeds} | {cells} | {int(g.n_params.iloc[0]):,} | "
                     f"{int(g.flops.iloc[0]):,} |")
    lines += ["", "95% bootstrap CIs per seed, training time and peak memory are in "
              "`accuracy.tsv`.", ""]
    lines += [f"**Warning:** {w}" for w in validation_gaps(acc)]
    if lines[-1].startswith("**Warning"):
        lines.append("")
    if comparison is not None:
        a, b = pair
        d, lo, hi = comparison["diff"], comparison["lo"], comparison["hi"]
        if lo > 0:
            verdict = f"**{a}** is better"
        elif hi < 0:
            verdict = f"**{b}** is better"
        else:
            verdict = "no winner: the CI includes 0"
        lines += [f"Paired AUROC difference {a} − {b} (mean over seeds, paired bootstrap): "
                  f"{d:+.4f} [95% CI {lo:+.4f}, {hi:+.4f}] — {verdict}.", ""]
    if motif:
        lines += _motif_lines(motif)
    return "\n".join(lines)


def _motif_lines(motif: dict[str, dict]) -> list[str]:
    """Motif recovery (planted truth), known-motif checks and formula fidelity per model."""
    lines = ["## What the models learned", "",
             "Attribution methods: `ism` (in-silico mutagenesis, every model), `exact` (KAN: "
             "first-layer table × output-function slopes), `feature` (pykan-style scores).", ""]
    rec_rows = [(model, method, r) for model, m in sorted(motif.items())
                for method, r in sorted(m.get("recovery", {}).items())]
    if rec_rows:
        planted = ", ".join(f"{o:+d}" for o in rec_rows[0][2].get("planted", []))
        lines += [f"Planted motif offsets: {planted}.", "",
                  "| model | method | precision@k | ranking AUROC | top offsets |",
                  "|---|---|---|---|---|"]
        for model, method, r in rec_rows:
            auc = r.get("ranking_auroc")
            auc = "n/a" if auc is None or auc != auc else f"{auc:.2f}"
            top = ", ".join(f"{o:+d}" for o in r.get("top", [])[:5])
            lines.append(f"| {model} | {method} | {r['precision_at_k']:.2f} (k={r['k']}) | "
                         f"{auc} | {top} |")
        lines.append("")
    checks = [(model, method, c) for model, m in sorted(motif.items())
              for method, cs in sorted((m.get("known_motif_by_method") or {}).items())
              for c in cs]
    if checks:
        lines += ["Known motif (from the config), checked against signed residue attributions "
                  "(found = |z| ≥ 3 in the expected direction):", "",
                  "| model | method | offset | residues | expected | z | result |",
                  "|---|---|---|---|---|---|---|"]
        for model, method, c in checks:
            lines.append(f"| {model} | {method} | {c['offset']:+d} | {c['residues']} | "
                         f"{c['effect']} | {c['z']:+.1f} | "
                         f"{'found' if c['found'] else 'not found'} |")
        lines.append("")
    signal = [(model, method, g) for model, m in sorted(motif.items())
              for method, g in sorted((m.get("logo_signal") or {}).items())]
    if signal:
        lines += ["Logo signal: the share of total |attribution| carried by the top-3 offsets "
                  "(centre excluded; a flat logo gives the flat share):", "",
                  "| model | method | top-3 share | flat share | top offsets |",
                  "|---|---|---|---|---|"]
        for model, method, g in signal:
            top = ", ".join(f"{o:+d}" for o in g["top_offsets"])
            lines.append(f"| {model} | {method} | {g['top_share']:.2f} | {g['flat_share']:.2f} | "
                         f"{top} |")
        lines.append("")
    kept = [(model, m["sparsity"]) for model, m in sorted(motif.items())
            if m.get("sparsity") and m["sparsity"]["n_offsets"] < m["sparsity"]["of_offsets"]]
    if kept:
        lines += ["First-layer groups kept by the sparse models (group lasso, pruned):", "",
                  "| model | encoding | offsets kept | kept |", "|---|---|---|---|"]
        for model, sp in kept:
            what = "; ".join(f"{o}: {', '.join(f)}" for o, f in sp.get("features", {}).items()) \
                or ", ".join(f"{o:+d}" for o in sp["offsets"])
            lines.append(f"| {model} | {sp['encoding']} | {sp['n_offsets']} of "
                         f"{sp['of_offsets']} | {what} |")
        lines.append("")
    sym = [(model, m["symbolic"]) for model, m in sorted(motif.items()) if m.get("symbolic")]
    for model, sy in sym:
        lines.append(f"Symbolic formula of {model}: test AUROC {sy['formula_auroc']:.4f} vs the "
                     f"network's {sy['network_auroc']:.4f}; predicted labels agree on "
                     f"{100 * sy['label_agreement']:.1f}% of windows (`formula.txt`).")
    if sym:
        lines.append("")
    return lines


def study_summary(acc: pd.DataFrame) -> str:
    """``results/summary.md``: mean ± sd AUROC / AUPRC / MCC per dataset and model."""
    lines = ["# kanbio study summary", "",
             "Test AUROC / AUPRC / MCC, mean ± sd over seeds. Per-dataset details, CIs and the "
             "paired KAN − MLP comparison are in `results/<dataset>/summary.md`.", "",
             "| dataset | model | AUROC | AUPRC | MCC | parameters |", "|---|---|---|---|---|---|"]
    for (ds, model), g in acc.groupby(["dataset", "model"], sort=True):
        lines.append(f"| {ds} | {model} | {mean_sd(g.auroc)} | {mean_sd(g.auprc)} | "
                     f"{mean_sd(g.mcc)} | {int(g.n_params.iloc[0]):,} |")
    return "\n".join(lines) + "\n"


def read_accuracy(accuracy_files: Sequence[str | os.PathLike]) -> pd.DataFrame:
    """Several ``accuracy.tsv`` tables as one."""
    return pd.concat([read_table(p) for p in accuracy_files], ignore_index=True)
