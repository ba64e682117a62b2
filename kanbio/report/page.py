"""The results page: published-protocol benchmarks as one Markdown file (figures beside it).

Everything on the page is computed from pipeline outputs (accuracy tables, test predictions,
validation thresholds, search tables, motif checks), so the page is regenerated, never edited. A
protocol is a set of datasets (one independent test, or the folds of a cross-validation) with
optional published reference numbers; config ``results_page`` declares them, and
:mod:`kanbio.report.layout` decides what each protocol shows. The files are given explicitly
(:class:`Results`); the figures are drawn by :mod:`kanbio.report.figures`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_curve

from kanbio.metrics import seed_mean_ci
from kanbio.output import read_table
from kanbio.report.layout import FIGURES, protocol_figures, protocol_kind
from kanbio.report.readable import best_lines, logo_signal_lines, readable_lines
from kanbio.report.tables import compare_scores, mean_sd, test_scores

SHOWN = ("acc", "mcc", "sn", "sp", "auroc", "auprc")
NAMES = {"acc": "ACC", "mcc": "MCC", "sn": "Sn", "sp": "Sp", "auroc": "AUROC",
         "auprc": "AUPRC", "bacc": "balanced ACC", "f1": "F1"}
PathLike = str | os.PathLike


class Results:
    """The pipeline outputs the page reads, from an explicit file map.

    ``files`` maps each dataset of the page to::

        {"accuracy": <accuracy.tsv>, "summary": <summary.json>, "logo": <png> | None,
         "models": {model: {"metrics": [<metrics.json> per seed],
                            "predictions": [<predictions.tsv.gz> per seed],
                            "motif": [<motif.json> per explained seed],
                            "search": <search table> | None}}}

    with the same models, in the same order, for every dataset. ``n_boot``: bootstrap resamples of
    the confidence intervals and paired comparisons.
    """

    def __init__(self, files: Mapping[str, Mapping[str, Any]], n_boot: int = 1000) -> None:
        self.files, self.n_boot = files, n_boot
        self.models = list(next(iter(files.values()))["models"]) if files else []
        self._scores: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
        self._accuracy: dict[str, pd.DataFrame] = {}

    def model_files(self, dataset: str, model: str) -> Mapping[str, Any]:
        return self.files[dataset]["models"][model]

    def accuracy(self, dataset: str) -> pd.DataFrame:
        """``accuracy.tsv`` of a dataset, read once (callers must not modify it)."""
        if dataset not in self._accuracy:
            self._accuracy[dataset] = read_table(self.files[dataset]["accuracy"])
        return self._accuracy[dataset]

    def summary(self, dataset: str) -> dict:
        return json.loads(Path(self.files[dataset]["summary"]).read_text())

    def thresholds(self, dataset: str, model: str) -> list[float]:
        return [json.loads(Path(p).read_text())["threshold"]
                for p in self.model_files(dataset, model)["metrics"]]

    def scores(self, dataset: str, model: str) -> tuple[np.ndarray, np.ndarray]:
        """Test labels (N,) and per-seed log-odds (S, N), read once per dataset and model."""
        key = (dataset, model)
        if key not in self._scores:
            self._scores[key] = test_scores(self.model_files(dataset, model)["predictions"])
        return self._scores[key]

    def seed_mean(self, dataset: str, model: str) -> dict[str, tuple[float, float, float]]:
        """Seed-mean test metrics with 95% bootstrap CIs (validation thresholds)."""
        y, scores = self.scores(dataset, model)
        return seed_mean_ci(y, scores, self.thresholds(dataset, model), n_boot=self.n_boot)

    def compare(self, dataset: str, a: str, b: str) -> dict[str, float]:
        """Paired bootstrap of the seed-mean test AUROC difference a − b."""
        return compare_scores(*self.scores(dataset, a), *self.scores(dataset, b), self.n_boot)

    def search(self, dataset: str, model: str) -> pd.DataFrame | None:
        path = self.model_files(dataset, model).get("search")
        return None if path is None else read_table(path)

    def motifs(self, dataset: str) -> dict[str, list[dict]]:
        """Per model, the ``motif.json`` of each explained seed."""
        return {m: [json.loads(Path(p).read_text()) for p in f.get("motif", [])]
                for m, f in self.files[dataset]["models"].items()}

    def per_fold(self, datasets: Sequence[str]) -> dict[str, pd.DataFrame]:
        """Per dataset: seed means of AUROC, AUPRC, MCC, parameters and training time by model."""
        return {d: self.accuracy(d).groupby("model")[["auroc", "auprc", "mcc", "n_params",
                                                      "train_seconds"]].mean() for d in datasets}


def compared_pair(models: Sequence[str], pair: Sequence[str]) -> tuple[str, ...]:
    """``pair`` when the study has both models, else () (no paired comparison)."""
    return tuple(pair) if all(m in models for m in pair) else ()


def _fmt(x: float | None, digits: int = 3) -> str:
    return "—" if x is None or x != x else f"{x:.{digits}f}"


def _ci(v: tuple[float, float, float]) -> str:
    return f"{v[0]:.3f} [{v[1]:.3f}, {v[2]:.3f}]"


def _data_table(res: Results, datasets: Sequence[str]) -> list[str]:
    lines = ["| dataset | train (+/−) | validation (+/−) | test (+/−) | proteins |",
             "|---|---|---|---|---|"]
    for d in datasets:
        sp = res.summary(d)["splits"]

        def cell(part: str, sp: dict = sp) -> str:
            p = sp.get(part, {})
            return f"{p.get('positives', 0):,} / {p.get('negatives', 0):,}"

        proteins = sum(p.get("proteins", 0) for p in sp.values())
        lines.append(f"| {d} | {cell('train')} | {cell('val')} | {cell('test')} | "
                     f"{proteins:,} |")
    return [*lines, ""]


def verdict(value: tuple[float, float, float], ref: float, name: str, metric: str) -> str:
    """Where a value with its 95% CI lies against a published number ``ref`` of ``name``."""
    v, lo, hi = value
    if hi < ref:
        how = f"below {name}'s {ref:.2f}: the whole 95% CI lies under it"
    elif lo > ref:
        how = f"above {name}'s {ref:.2f}: the whole 95% CI lies over it"
    else:
        how = f"not distinguishable from {name}'s {ref:.2f}: the 95% CI contains it"
    return f"{NAMES[metric]} {v:.3f} [95% CI {lo:.3f}, {hi:.3f}] is {how}"


def _pair_line(res: Results, dataset: str, pair: Sequence[str]) -> str:
    a, b = pair
    c = res.compare(dataset, a, b)
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


def _single(res: Results, proto: Mapping, figure: str, pair: Sequence[str]
            ) -> tuple[list[str], str]:
    """An independent test set: seed-mean metrics with CIs against published numbers.

    Returns the section's lines and a one-line summary."""
    (dataset,) = proto["datasets"]
    acc = res.accuracy(dataset)
    refs = proto.get("references", [])
    cis = {m: res.seed_mean(dataset, m) for m in res.models}
    lines = ["Test set at its natural class ratio; threshold chosen on validation (max MCC); "
             "each cell is the mean over seeds with a 95% bootstrap CI of that mean.", "",
             "| model | parameters | train s | " + " | ".join(NAMES[k] for k in SHOWN) + " |",
             "|---" * (len(SHOWN) + 3) + "|"]
    for m in res.models:
        rows = acc[acc.model == m]
        lines.append(f"| kanbio {m} | {int(rows.n_params.iloc[0]):,} | "
                     f"{rows.train_seconds.mean():.1f} | "
                     + " | ".join(_ci(cis[m][k]) for k in SHOWN) + " |")
    for r in refs:
        src = f"; {r['source']}" if r.get("source") else ""
        lines.append(f"| {r['method']} (published{src}) | — | — | "
                     + " | ".join(_fmt(r.get(k), 2) for k in SHOWN) + " |")
    lines += ["", "Per seed (test, with 95% CIs): `results/" + dataset + "/accuracy.tsv`.", ""]
    glance = f"test AUROC {_auroc_list({m: cis[m]['auroc'][0] for m in res.models})}"
    head = proto.get("headline")
    if head:
        ref = refs[head.get("reference", 0)]
        metric, model = head["metric"], head.get("model", "kan")
        said = verdict(cis[model][metric], ref[metric], ref["method"], metric)
        lines += [f"**Headline.** kanbio {model}: {said}.", ""]
        glance += f"; kanbio {model} {said}"
        if "sn" in ref and "sp" in ref:
            y, _ = res.scores(dataset, model)
            parts = [f"{m} {_sp_at_sn(y, res.scores(dataset, m)[1], ref['sn']):.3f}"
                     for m in res.models]
            lines += [f"At {ref['method']}'s sensitivity ({ref['sn']:.2f}) the specificity read "
                      f"off the test ROC curves (a descriptive operating point, not a validation "
                      f"threshold) is: {', '.join(parts)}; {ref['method']} reports "
                      f"{ref['sp']:.2f}.", ""]
    if pair:
        lines += [_pair_line(res, dataset, pair), ""]
    lines += [f"![ROC curves, {dataset}]({FIGURES}/{figure})", ""]
    return lines, glance


def _folds(res: Results, proto: Mapping, figure: str, pair: Sequence[str]
           ) -> tuple[list[str], str]:
    """Several train → test folds: per-fold AUROC / AUPRC (seed means), then mean ± sd."""
    datasets = proto["datasets"]
    per = res.per_fold(datasets)
    models = res.models
    lines = ["Per fold: test AUROC / AUPRC, mean over seeds (threshold-free).", "",
             "| fold | test (+/−) | " + " | ".join(f"{m} AUROC" for m in models) + " | "
             + " | ".join(f"{m} AUPRC" for m in models)
             + (f" | {pair[0]} − {pair[1]} AUROC [95% CI] |" if pair else " |"),
             "|---" * (2 * len(models) + 2 + bool(pair)) + "|"]
    wins = {"a": 0, "b": 0, "tie": 0}
    for d in datasets:
        t = res.summary(d)["splits"]["test"]
        row = [d, f"{t['positives']:,} / {t['negatives']:,}"]
        row += [_fmt(per[d].auroc.get(m)) for m in models]
        row += [_fmt(per[d].auprc.get(m)) for m in models]
        if pair:
            c = res.compare(d, *pair)
            wins["a" if c["lo"] > 0 else "b" if c["hi"] < 0 else "tie"] += 1
            row.append(f"{c['diff']:+.4f} [{c['lo']:+.4f}, {c['hi']:+.4f}]")
        lines.append("| " + " | ".join(row) + " |")
    agg = ["**mean ± sd over folds**", ""]
    agg += [mean_sd([per[d].auroc.get(m, np.nan) for d in datasets]) for m in models]
    agg += [mean_sd([per[d].auprc.get(m, np.nan) for d in datasets]) for m in models]
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
    lines += [f"![Per-fold test AUROC]({FIGURES}/{figure})", ""]
    return lines, glance


def _search_lines(res: Results, datasets: Sequence[str]) -> list[str]:
    """Candidates of each searched model: validation score (mean over datasets), times chosen."""
    searched = [m for m in res.models if res.model_files(datasets[0], m).get("search")]
    if not searched:
        return []
    lines = ["**Model selection** (validation split only; the test split is removed before "
             "the search reads the windows). One seed; each candidate is trained on the "
             "training split and scored on validation; the best validation AUROC wins (a "
             "model with `prefer_sparse`: the candidate keeping the fewest offsets within one "
             "standard error of it).", ""]
    for m in searched:
        tabs = [res.search(d, m) for d in datasets]
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


def _motif_lines(res: Results, datasets: Sequence[str]) -> list[str]:
    """Known-motif checks (signed attribution z-scores) over the explained models."""
    rows: dict[tuple, list[tuple[float, bool]]] = {}
    for d in datasets:
        for m, motifs in res.motifs(d).items():
            for motif in motifs:
                for method, checks in sorted((motif.get("known_motif_by_method") or {}).items()):
                    for c in checks:
                        key = (m, method, c["offset"], c["residues"], c["effect"])
                        rows.setdefault(key, []).append((c["z"], c["found"]))
    if not rows:
        return []
    many = len(datasets) > 1
    lines = ["**Known motif** (signed residue attributions; found = |z| ≥ 3 in the expected "
             "direction" + (", counted over folds" if many else "") + "; a pruned model's "
             "background is exactly 0, hence its very large z):", "",
             "| model | method | offset | residues | expected | z" + (" (median)" if many else "")
             + " | found |", "|---|---|---|---|---|---|---|"]
    for (m, method, off, res_, eff), v in sorted(rows.items()):
        z = float(np.median([a for a, _ in v]))
        found = f"{sum(f for _, f in v)}/{len(v)}" if many else ("yes" if v[0][1] else "no")
        shown = f"{z:+.1f}" if abs(z) < 1000 else f"{'>' if z > 0 else '<'} {z:+.0e}"
        lines.append(f"| {m} | {method} | {off:+d} | {res_} | {eff} | {shown} | {found} |")
    return [*lines, ""]


def _logo_lines(logo: Sequence, dataset: str, figure: str) -> list[str]:
    """The KAN's exact first-layer attribution as a sequence logo (copied from the explain step)."""
    m, s = logo
    return [f"![{m} (seed {s}) first-layer table as a sequence logo, {dataset}]"
            f"({FIGURES}/{figure})", ""]


def results_page(page: Mapping[str, Any], res: Results, seeds: Sequence[int],
                 logo: Sequence | None = None, pair: Sequence[str] = ("kan", "mlp"),
                 command: str = "", environment: str = "") -> str:
    """The page's Markdown.

    ``page``: config ``results_page``; ``seeds``: the study's seeds; ``logo``: the (model, seed)
    whose logo each protocol shows (:func:`kanbio.report.layout.logo_model`), None for none;
    ``pair``: the two models compared (skipped unless both are in the study); ``environment``: the
    line describing the software and machine of the run. Figures are referenced by the names of
    :func:`kanbio.report.layout.protocol_figures`, in ``figures/`` beside the page.
    """
    pair = compared_pair(res.models, pair)
    head = [f"# {page.get('title', 'Results')}", "",
            f"<!-- Generated by `{command}`; do not edit by hand. -->", ""]
    if page.get("intro"):
        head += [page["intro"].strip(), ""]
    head += ["Regenerate this page (input paths as in the config):", "", "```bash",
             "python3 -m pip install torch==2.13.0 && python3 -m pip install -e '.[dev]'",
             command, "```", "", f"Environment of this run: {environment}", "",
             f"Models: {', '.join(res.models)}; seeds {', '.join(map(str, seeds))}; "
             "every number below is on a test set that no choice (threshold, early stopping, "
             "hyperparameters) has seen.", ""]
    sections, glance = [], ["## At a glance", ""]
    for pid, proto in page["protocols"].items():
        lines = [f"## {proto['title']}", ""]
        if proto.get("text"):
            lines += [proto["text"].strip(), ""]
        datasets = proto["datasets"]
        figures = protocol_figures(pid, proto, logo)
        lines += _data_table(res, datasets)
        section = _single if protocol_kind(proto) == "roc" else _folds
        body, line = section(res, proto, figures["results"], pair)
        glance.append(f"- **{proto['title']}**: {line}.")
        lines += body
        lines += best_lines(res, proto)
        lines += _search_lines(res, datasets)
        lines += _motif_lines(res, datasets)
        lines += logo_signal_lines(res, datasets)
        lines += readable_lines(res, datasets)
        if logo:
            lines += _logo_lines(logo, datasets[0], figures["logo"])
        sections += lines
    return "\n".join(head + glance + [""] + sections).rstrip() + "\n"
