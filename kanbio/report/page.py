"""The results page: published-protocol benchmarks written as one Markdown file with figures.

Everything on the page is computed from pipeline outputs under ``results/`` (accuracy tables,
test predictions, validation thresholds, search tables, motif checks), so the page is regenerated,
never edited. A protocol is a set of datasets (one independent test, or the folds of a
cross-validation) with optional published reference numbers; config ``results_page`` declares them.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_curve

from kanbio import __version__
from kanbio.metrics import seed_mean_ci
from kanbio.output import read_table, write_text
from kanbio.report.tables import _pm, compare, test_scores

SHOWN = ("acc", "mcc", "sn", "sp", "auroc", "auprc")
NAMES = {"acc": "ACC", "mcc": "MCC", "sn": "Sn", "sp": "Sp", "auroc": "AUROC",
         "auprc": "AUPRC", "bacc": "balanced ACC", "f1": "F1"}


class Study:
    """Paths and facts of one pipeline run: datasets, models, seeds, searched models."""

    def __init__(self, models: Sequence[str], seeds: Sequence[int], searched: Sequence[str] = (),
                 explained: Sequence[tuple[str, int]] = (), logo: Sequence | None = None,
                 root: str | os.PathLike = "results", n_boot: int = 1000) -> None:
        self.models, self.seeds = list(models), list(seeds)
        self.searched, self.explained = list(searched), [tuple(e) for e in explained]
        self.logo = None if logo is None else (str(logo[0]), int(logo[1]))  # KAN (model, seed)
        self.root, self.n_boot = Path(root), n_boot
        self._scores: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}

    def model_dir(self, dataset: str, model: str, seed: int) -> Path:
        return self.root / dataset / "models" / model / f"seed{seed}"

    def predictions(self, dataset: str, model: str) -> list[Path]:
        return [self.model_dir(dataset, model, s) / "predictions.tsv.gz" for s in self.seeds]

    def thresholds(self, dataset: str, model: str) -> list[float]:
        return [json.loads((self.model_dir(dataset, model, s) / "metrics.json").read_text())
                ["threshold"] for s in self.seeds]

    def accuracy(self, dataset: str) -> pd.DataFrame:
        return read_table(self.root / dataset / "accuracy.tsv")

    def summary(self, dataset: str) -> dict:
        return json.loads((self.root / dataset / "summary.json").read_text())

    def scores(self, dataset: str, model: str) -> tuple[np.ndarray, np.ndarray]:
        """Test labels (N,) and per-seed log-odds (S, N), read once per dataset and model."""
        key = (dataset, model)
        if key not in self._scores:
            self._scores[key] = test_scores(self.predictions(dataset, model))
        return self._scores[key]

    def seed_mean(self, dataset: str, model: str) -> dict[str, tuple[float, float, float]]:
        """Seed-mean test metrics with 95% bootstrap CIs (validation thresholds)."""
        y, scores = self.scores(dataset, model)
        return seed_mean_ci(y, scores, self.thresholds(dataset, model), n_boot=self.n_boot)


def _fmt(x: float | None, digits: int = 3) -> str:
    return "—" if x is None or x != x else f"{x:.{digits}f}"


def _ci(v: tuple[float, float, float]) -> str:
    return f"{v[0]:.3f} [{v[1]:.3f}, {v[2]:.3f}]"


def _data_table(study: Study, datasets: Sequence[str]) -> list[str]:
    lines = ["| dataset | train (+/−) | validation (+/−) | test (+/−) | proteins |",
             "|---|---|---|---|---|"]
    for d in datasets:
        s = study.summary(d)
        sp = s["splits"]

        def cell(part: str, sp: dict = sp) -> str:
            p = sp.get(part, {})
            return f"{p.get('positives', 0):,} / {p.get('negatives', 0):,}"

        proteins = sum(p.get("proteins", 0) for p in sp.values())
        lines.append(f"| {d} | {cell('train')} | {cell('val')} | {cell('test')} | "
                     f"{proteins:,} |")
    return [*lines, ""]


def _verdict(value: tuple[float, float, float], ref: float, name: str, metric: str) -> str:
    v, lo, hi = value
    if hi < ref:
        how = f"below {name}'s {ref:.2f}: the whole 95% CI lies under it"
    elif lo > ref:
        how = f"above {name}'s {ref:.2f}: the whole 95% CI lies over it"
    else:
        how = f"not distinguishable from {name}'s {ref:.2f}: the 95% CI contains it"
    return f"{NAMES[metric]} {v:.3f} [95% CI {lo:.3f}, {hi:.3f}] is {how}"


def _pair_line(study: Study, dataset: str, pair: Sequence[str]) -> str:
    a, b = pair
    c = compare(study.predictions(dataset, a), study.predictions(dataset, b), study.n_boot)
    who = (f"**{a}** better" if c["lo"] > 0 else f"**{b}** better" if c["hi"] < 0
           else "no winner (the CI contains 0)")
    return (f"Paired test AUROC difference {a} − {b} (seed means, paired bootstrap): "
            f"{c['diff']:+.4f} [95% CI {c['lo']:+.4f}, {c['hi']:+.4f}]: {who}.")


def _sp_at_sn(y: np.ndarray, scores: np.ndarray, sn: float) -> float:
    """Seed-mean specificity at the first ROC point reaching sensitivity ``sn``."""
    out = []
    for s in scores:
        fpr, tpr, _ = roc_curve(y, s)
        out.append(1 - fpr[np.argmax(tpr >= sn)])
    return float(np.mean(out))


def _auroc_list(values: dict[str, float]) -> str:
    return ", ".join(f"{m} {v:.3f}" for m, v in values.items())


def _single(study: Study, pid: str, proto: dict, figures: Path, pair: Sequence[str]
            ) -> tuple[list[str], list[Path], str]:
    """An independent test set: seed-mean metrics with CIs against published numbers.

    Returns the section's lines, its figures and a one-line summary."""
    (dataset,) = proto["datasets"]
    acc = study.accuracy(dataset)
    refs = proto.get("references", [])
    cis = {m: study.seed_mean(dataset, m) for m in study.models}
    lines = ["Test set at its natural class ratio; threshold chosen on validation (max MCC); "
             "each cell is the mean over seeds with a 95% bootstrap CI of that mean.", "",
             "| model | parameters | train s | " + " | ".join(NAMES[k] for k in SHOWN) + " |",
             "|---" * (len(SHOWN) + 3) + "|"]
    for m in study.models:
        rows = acc[acc.model == m]
        lines.append(f"| kanbio {m} | {int(rows.n_params.iloc[0]):,} | "
                     f"{rows.train_seconds.mean():.1f} | "
                     + " | ".join(_ci(cis[m][k]) for k in SHOWN) + " |")
    for r in refs:
        src = f"; {r['source']}" if r.get("source") else ""
        lines.append(f"| {r['method']} (published{src}) | — | — | "
                     + " | ".join(_fmt(r.get(k), 2) for k in SHOWN) + " |")
    lines += ["", "Per seed (test, with 95% CIs): `results/" + dataset + "/accuracy.tsv`.", ""]
    glance = f"test AUROC {_auroc_list({m: cis[m]['auroc'][0] for m in study.models})}"
    head = proto.get("headline")
    if head:
        ref = refs[head.get("reference", 0)]
        metric, model = head["metric"], head.get("model", "kan")
        verdict = _verdict(cis[model][metric], ref[metric], ref["method"], metric)
        lines += [f"**Headline.** kanbio {model}: {verdict}.", ""]
        glance += f"; kanbio {model} {verdict}"
        if "sn" in ref and "sp" in ref:
            y, _ = study.scores(dataset, model)
            parts = []
            for m in study.models:
                _, sc = study.scores(dataset, m)
                parts.append(f"{m} {_sp_at_sn(y, sc, ref['sn']):.3f}")
            lines += [f"At {ref['method']}'s sensitivity ({ref['sn']:.2f}) the specificity read "
                      f"off the test ROC curves (a descriptive operating point, not a validation "
                      f"threshold) is: {', '.join(parts)}; {ref['method']} reports "
                      f"{ref['sp']:.2f}.", ""]
    if all(m in study.models for m in pair):
        lines += [_pair_line(study, dataset, pair), ""]
    fig = _roc_figure(study, dataset, refs, figures / f"{pid}_roc", proto["title"])
    lines += [f"![ROC curves, {dataset}](figures/{fig.name})", ""]
    return lines, [fig], glance


def _roc_figure(study: Study, dataset: str, refs: Sequence[dict], stem: Path, title: str
                ) -> Path:
    from kanbio.report.dataset_figures import COLOURS, MARKERS
    from kanbio.report.figures import OKABE_ITO, figure, save

    with figure(4.2, 3.8) as fig:
        ax = fig.add_subplot()
        for i, m in enumerate(study.models):
            y, scores = study.scores(dataset, m)
            for j, s in enumerate(scores):
                fpr, tpr, _ = roc_curve(y, s)
                ax.plot(fpr, tpr, color=COLOURS[i % len(COLOURS)], lw=1.0, alpha=0.8,
                        label=f"kanbio {m}" if j == 0 else None)
        for k, r in enumerate(r for r in refs if "sn" in r and "sp" in r):
            ax.plot(1 - r["sp"], r["sn"], MARKERS[(k + 1) % len(MARKERS)], ms=7, mfc="none",
                    mew=1.5, color=OKABE_ITO["black"], label=f"{r['method']} (published)")
        ax.plot([0, 1], [0, 1], color=OKABE_ITO["grey"], lw=0.8, ls="--")
        ax.set(xlim=(0, 1), ylim=(0, 1.02), xlabel="1 − specificity",
               ylabel="sensitivity", title=f"{dataset}: test ROC, every seed")
        ax.legend(loc="lower right", frameon=False)
        fig.tight_layout()
        return save(fig, stem, formats=("png",))[0]


def _folds(study: Study, pid: str, proto: dict, figures: Path, pair: Sequence[str]
           ) -> tuple[list[str], list[Path], str]:
    """Several train → test folds: per-fold AUROC / AUPRC (seed means), then mean ± sd."""
    datasets = proto["datasets"]
    per = {d: study.accuracy(d).groupby("model")[["auroc", "auprc", "mcc", "n_params",
                                                  "train_seconds"]].mean() for d in datasets}
    models = study.models
    lines = ["Per fold: test AUROC / AUPRC, mean over seeds (threshold-free).", "",
             "| fold | test (+/−) | " + " | ".join(f"{m} AUROC" for m in models) + " | "
             + " | ".join(f"{m} AUPRC" for m in models)
             + (f" | {pair[0]} − {pair[1]} AUROC [95% CI] |" if pair else " |"),
             "|---" * (2 * len(models) + 2 + bool(pair)) + "|"]
    wins = {"a": 0, "b": 0, "tie": 0}
    for d in datasets:
        t = study.summary(d)["splits"]["test"]
        row = [d, f"{t['positives']:,} / {t['negatives']:,}"]
        row += [_fmt(per[d].auroc.get(m)) for m in models]
        row += [_fmt(per[d].auprc.get(m)) for m in models]
        if pair:
            c = compare(study.predictions(d, pair[0]), study.predictions(d, pair[1]),
                        study.n_boot)
            wins["a" if c["lo"] > 0 else "b" if c["hi"] < 0 else "tie"] += 1
            row.append(f"{c['diff']:+.4f} [{c['lo']:+.4f}, {c['hi']:+.4f}]")
        lines.append("| " + " | ".join(row) + " |")
    agg = ["**mean ± sd over folds**", ""]
    agg += [_pm(pd.Series([per[d].auroc.get(m, np.nan) for d in datasets])) for m in models]
    agg += [_pm(pd.Series([per[d].auprc.get(m, np.nan) for d in datasets])) for m in models]
    if pair:
        agg.append("")
    lines += ["| " + " | ".join(agg) + " |", ""]
    cost = [f"{m} {np.median([per[d].n_params.get(m, np.nan) for d in datasets]):,.0f} "
            f"parameters, {np.mean([per[d].train_seconds.get(m, np.nan) for d in datasets]):.1f} s"
            for m in models]
    lines += [f"Chosen models (median over folds) and training time per seed: {'; '.join(cost)}.",
              ""]
    means = {m: float(np.mean([per[d].auroc.get(m, np.nan) for d in datasets])) for m in models}
    glance = f"test AUROC, mean over {len(datasets)} folds: {_auroc_list(means)}"
    if pair:
        a, b = pair
        paired = (f"{a} better in {wins['a']} of {len(datasets)} folds (CI above 0), {b} better "
                  f"in {wins['b']}, no winner in {wins['tie']}")
        lines += [f"Paired per-fold comparison: {paired}.", ""]
        glance += f"; paired AUROC {a} − {b}: {paired}"
    fig = _fold_figure(per, datasets, models, figures / f"{pid}_folds")
    lines += [f"![Per-fold test AUROC]({'figures/' + fig.name})", ""]
    return lines, [fig], glance


def _fold_figure(per: dict, datasets: Sequence[str], models: Sequence[str], stem: Path) -> Path:
    from kanbio.report.dataset_figures import COLOURS, MARKERS
    from kanbio.report.figures import figure, save

    with figure(max(4.0, 0.45 * len(datasets) + 1.5), 3.2) as fig:
        ax = fig.add_subplot()
        x = np.arange(len(datasets))
        for i, m in enumerate(models):
            v = [per[d].auroc.get(m, np.nan) for d in datasets]
            ax.plot(x + (i - (len(models) - 1) / 2) * 0.12, v, MARKERS[i % len(MARKERS)],
                    color=COLOURS[i % len(COLOURS)], ms=5, label=f"kanbio {m}")
        ax.set_xticks(x, [str(i) for i in range(len(datasets))])
        ax.set(xlabel="fold", ylabel="test AUROC (mean over seeds)",
               title="test AUROC per fold")
        ax.legend(frameon=False, fontsize=7)
        fig.tight_layout()
        return save(fig, stem, formats=("png",))[0]


def _search_lines(study: Study, datasets: Sequence[str]) -> list[str]:
    """Candidates of each searched model: validation score (mean over datasets), times chosen."""
    if not study.searched:
        return []
    lines = ["**Model selection** (validation split only; the test split is removed before "
             "the search reads the windows). One seed; each candidate is trained on the "
             "training split and scored on validation; the best validation AUROC wins.", ""]
    for m in study.searched:
        tabs = [read_table(study.root / d / "search" / f"{m}.tsv") for d in datasets]
        t = pd.concat(tabs, keys=range(len(tabs)), names=["fold"]).reset_index(level=0)
        g = t.groupby("overrides", sort=False)
        summary = pd.DataFrame({
            "n_params": g.n_params.first(), "val_auroc": g.val_auroc.mean(),
            "val_auroc_sd": g.val_auroc.std(ddof=1) if len(tabs) > 1 else g.val_auroc.first() * 0,
            "val_auprc": g.val_auprc.mean(), "chosen": g.selected.sum()})
        lines += [f"`{m}` ({len(summary)} candidates):", "",
                  "| setting | parameters | validation AUROC | validation AUPRC | chosen |",
                  "|---|---|---|---|---|"]
        for over, r in summary.iterrows():
            setting = ", ".join(f"{k}={v}" for k, v in json.loads(over).items()) or "(as given)"
            auroc = (f"{r.val_auroc:.3f} ± {r.val_auroc_sd:.3f}" if len(tabs) > 1
                     else f"{r.val_auroc:.3f}")
            chosen = (f"{int(r.chosen)}/{len(tabs)}" if len(tabs) > 1
                      else ("✓" if r.chosen else ""))
            lines.append(f"| {setting} | {int(r.n_params):,} | {auroc} | {r.val_auprc:.3f} | "
                         f"{chosen} |")
        lines.append("")
    return lines


def _motif_lines(study: Study, datasets: Sequence[str]) -> list[str]:
    """Known-motif checks (signed attribution z-scores) over the explained models."""
    rows: dict[tuple, list[tuple[float, bool]]] = {}
    for d in datasets:
        for m, s in study.explained:
            path = study.root / d / "explain" / m / f"seed{s}" / "motif.json"
            if not path.exists():
                continue
            motif = json.loads(path.read_text())
            for method, checks in sorted((motif.get("known_motif_by_method") or {}).items()):
                for c in checks:
                    key = (m, method, c["offset"], c["residues"], c["effect"])
                    rows.setdefault(key, []).append((c["z"], c["found"]))
    if not rows:
        return []
    many = len(datasets) > 1
    lines = ["**Known motif** (signed residue attributions; found = |z| ≥ 3 in the expected "
             "direction" + (", counted over folds" if many else "") + "):", "",
             "| model | method | offset | residues | expected | z" + (" (median)" if many else "")
             + " | found |", "|---|---|---|---|---|---|---|"]
    for (m, method, off, res, eff), v in sorted(rows.items()):
        z = float(np.median([a for a, _ in v]))
        found = f"{sum(f for _, f in v)}/{len(v)}" if many else ("yes" if v[0][1] else "no")
        lines.append(f"| {m} | {method} | {off:+d} | {res} | {eff} | {z:+.1f} | {found} |")
    return [*lines, ""]


def _logo(study: Study, dataset: str, pid: str, figures: Path) -> tuple[list[str], list[Path]]:
    """The KAN's exact first-layer attribution as a sequence logo (copied from the explain step)."""
    if study.logo is None:
        return [], []
    m, s = study.logo
    src = study.root / "figures" / dataset / f"{m}_seed{s}_logo_exact.png"
    dst = figures / f"{pid}_logo.png"
    shutil.copyfile(src, dst)
    return [f"![{m} (seed {s}) first-layer table as a sequence logo, {dataset}]"
            f"(figures/{dst.name})", ""], [dst]


def _environment() -> str:
    import torch

    commit = "unknown"
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, check=True, timeout=10).stdout.strip() or commit
    except (OSError, subprocess.SubprocessError):
        pass
    return (f"kanbio {__version__} (commit {commit}), torch {torch.__version__}, Python "
            f"{platform.python_version()}, {platform.machine()}, "
            f"{torch.get_num_threads()} torch threads per job.")


def write_results_page(page: dict[str, Any], study: Study, out_path: str | os.PathLike,
                       pair: Sequence[str] = ("kan", "mlp"), command: str = "") -> list[Path]:
    """Write the page and its figures (``figures/`` beside it); return every file written."""
    out = Path(out_path)
    figures = out.parent / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    pair = tuple(pair) if all(m in study.models for m in pair) else ()
    head = [f"# {page.get('title', 'Results')}", "",
            f"<!-- Generated by `{command}`; do not edit by hand. -->", ""]
    if page.get("intro"):
        head += [page["intro"].strip(), ""]
    head += ["Regenerate this page (input paths as in the config):", "", "```bash",
             "python3 -m pip install torch==2.13.0 && python3 -m pip install -e '.[dev]'",
             command, "```", "", f"Environment of this run: {_environment()}", "",
             f"Models: {', '.join(study.models)}; seeds {', '.join(map(str, study.seeds))}; "
             "every number below is on a test set that no choice (threshold, early stopping, "
             "hyperparameters) has seen.", ""]
    written, sections, glance = [], [], ["## At a glance", ""]
    for pid, proto in page["protocols"].items():
        lines = [f"## {proto['title']}", ""]
        if proto.get("text"):
            lines += [proto["text"].strip(), ""]
        datasets = proto["datasets"]
        lines += _data_table(study, datasets)
        body, figs, line = (_single if len(datasets) == 1 else _folds)(study, pid, proto,
                                                                       figures, pair)
        glance.append(f"- **{proto['title']}**: {line}.")
        lines += body
        written += figs
        lines += _search_lines(study, datasets)
        lines += _motif_lines(study, datasets)
        logo, figs = _logo(study, datasets[0], pid, figures)
        lines += logo
        written += figs
        sections += lines
    lines = head + glance + [""] + sections
    write_text("\n".join(lines).rstrip() + "\n", out)
    return [out, *written]
