"""The results page's readable-model and best-model blocks: what each sparse or property KAN
kept (offsets, properties, residues), how concentrated its logo is, its formula, and each KAN
against the protocol's best model said plainly."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from kanbio.explain.formula import NAMED_RESIDUES
from kanbio.output import read_table

Results = Any  # kanbio.report.page.Results (not imported: the page imports this module)


def best_lines(res: Results, proto: Mapping) -> list[str]:
    """Each KAN against the model with the best test AUROC (and logistic regression), said
    plainly: a paired bootstrap CI
    for one test set, a t-interval over the folds' paired differences for several folds."""
    datasets, kans = proto["datasets"], [m for m in res.models if m.startswith("kan")]
    if not kans:
        return []
    per = res.per_fold(datasets)
    means = {m: float(np.mean([per[d].auroc.get(m, np.nan) for d in datasets]))
             for m in res.models}
    best = max(means, key=lambda m: means[m])
    lines = [f"**KAN against the best model** (highest test AUROC here: {best}, "
             f"{means[best]:.3f}) and against logistic regression:", ""]
    rivals = [best, *(["logistic"] if "logistic" in res.models and best != "logistic" else [])]
    for m, rival in ((m, r) for m in kans for r in rivals):
        if m == rival:
            lines.append(f"- {m} has the best test AUROC of the protocol.")
            continue
        if len(datasets) == 1:
            c = res.compare(datasets[0], m, rival)
            diff, lo, hi = c["diff"], c["lo"], c["hi"]
            how = "paired bootstrap over test windows"
        else:
            d = np.array([per[x].auroc.get(m, np.nan) - per[x].auroc.get(rival, np.nan)
                          for x in datasets])
            diff, half = float(d.mean()), float(stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1)
                                                / np.sqrt(len(d)))
            lo, hi, how = diff - half, diff + half, f"t-interval over {len(d)} paired folds"
        said = (f"not distinguishable from {rival} (the CI contains 0)" if lo <= 0 <= hi else
                f"**below {rival}: the whole CI lies under 0**" if hi < 0 else f"above {rival}")
        lines.append(f"- {m} − {rival}: {diff:+.4f} [95% CI {lo:+.4f}, {hi:+.4f}] ({how}): "
                     f"{said}.")
    return [*lines, ""]


def _residue_words(motif_path: str | os.PathLike, offsets: Sequence[int], n: int = 3) -> str:
    """``-1: I L V up, P G D down; ...``: the exact signed residue attributions at kept offsets
    (``attribution_residues.tsv`` beside ``motif.json``)."""
    path = Path(motif_path).parent / "attribution_residues.tsv"
    if not path.exists():
        return ""
    t = read_table(path)
    t = t[t.method == ("exact" if (t.method == "exact").any() else "ism")]
    parts = []
    for o in offsets:
        r = t[t.offset == o].sort_values("score")
        if len(r):
            up, down = "".join(r.residue.iloc[::-1][:n]), "".join(r.residue[:n])
            parts.append(f"{o:+d}: {up} up, {down} down")
    return "; ".join(parts)


def _formula_text(folder: Path) -> tuple[str, str]:
    """The readable part of a model's formula: in residue properties (other encodings than
    onehot) or in named residues at the kept offsets (onehot); "" when neither was written."""
    props, plain = folder / "formula_properties.txt", folder / "formula.txt"
    if props.exists():
        return props.read_text().split("\n\nfirst-layer edges")[0].strip(), props.name
    if not plain.exists():
        return "", plain.name
    blocks = plain.read_text().split("\n\n")
    named = [b for b in blocks if b.startswith(NAMED_RESIDUES)]
    if not named:
        return "", plain.name
    return blocks[0].strip() + "\n" + named[0].split("\n", 1)[1].strip(), plain.name


def readable_lines(res: Results, datasets: Sequence[str]) -> list[str]:
    """Sparse and property KANs: kept offsets (and properties), logo signal, the formula."""
    lines: list[str] = []
    for m in res.models:
        rows = []
        for d in datasets:
            paths = res.model_files(d, m).get("motif", [])
            if not paths:
                continue
            motif = json.loads(Path(paths[0]).read_text())
            sp = motif.get("sparsity")
            if not sp or sp["n_offsets"] == sp["of_offsets"]:
                continue
            method = "exact" if "exact" in motif.get("logo_signal", {}) else "ism"
            share = motif["logo_signal"][method]["top_share"]
            feats = sorted(sp.get("features", {}).items(), key=lambda kv: int(kv[0]))
            kept = ", ".join(f"{k}: {'/'.join(v)}" for k, v in feats) \
                or ", ".join(f"{o:+d}" for o in sp["offsets"])
            rows.append((d, sp, share, kept, paths[0], motif))
        if not rows:
            continue
        shares = [r[2] for r in rows]
        lines += [f"**Readable model `{m}`** ({rows[0][1]['encoding']}; first explained seed): "
                  f"median top-3 share of |attribution| {np.median(shares):.2f} over "
                  f"{len(rows)} dataset(s).", "",
                  "| dataset | test AUROC | offsets kept | kept (offset: properties) | top-3 share "
                  "| residues at kept offsets (exact attribution) |", "|---|---|---|---|---|---|"]
        per = res.per_fold([r[0] for r in rows])
        for d, sp, share, kept, path, _ in rows:
            words = _residue_words(path, sp["offsets"][:6])
            lines.append(f"| {d} | {per[d].auroc.get(m, np.nan):.3f} | {sp['n_offsets']} of "
                         f"{sp['of_offsets']} | {kept} | {share:.2f} | {words} |")
        text, name = _formula_text(Path(rows[0][4]).parent)
        if text:
            lines += ["", f"Its formula on {rows[0][0]} (terms widest first; every edge in "
                      f"`{name}`):", "", "```", text, "```"]
        lines.append("")
    return lines


def logo_signal_lines(res: Results, datasets: Sequence[str]) -> list[str]:
    """Every explained model's logo signal: the share of |attribution| at its top-3 offsets
    (median over datasets; exact attribution for a KAN, ISM otherwise)."""
    rows = []
    for m in res.models:
        shares, tops = [], {}
        for d in datasets:
            for path in res.model_files(d, m).get("motif", [])[:1]:
                sig = json.loads(Path(path).read_text()).get("logo_signal") or {}
                g = sig.get("exact") or sig.get("ism")
                if g:
                    shares.append(g["top_share"])
                    for o in g["top_offsets"]:
                        tops[o] = tops.get(o, 0) + 1
        if shares:
            common = sorted(tops, key=lambda o: (-tops[o], abs(o)))[:3]
            rows.append(f"| {m} | {np.median(shares):.2f} | {min(shares):.2f}–{max(shares):.2f} "
                        f"| {', '.join(f'{o:+d}' for o in common)} |")
    if not rows:
        return []
    return ["**Logo signal** (share of total |attribution| at the top-3 offsets, centre "
            "excluded; a flat logo gives 3 / (L − 1)):", "",
            "| model | median | range | most frequent top offsets |", "|---|---|---|---|",
            *rows, ""]
