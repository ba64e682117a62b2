"""Explain a trained checkpoint on a windows table: attributions, symbolic formula, motif checks.

Everything that applies to the model type is run on (up to ``max_windows``) windows of one split:
KAN: exact attribution, ISM, pykan feature scores (one-hot KANs) and the symbolic formula; MLP,
CNN and logistic baseline: ISM. Written into ``out_dir``:

- ``attribution_positions.tsv`` (``method, offset, score``) and ``attribution_residues.tsv``
  (``method, offset, residue, score``), definitions in :mod:`kanbio.explain.attribution`;
- KAN only: ``formula.txt``, ``formula.tex``, ``formula_tables.tsv`` (``offset, residue, T1..TH``),
  ``symbolic_edges.tsv`` (one row per fitted edge); a KAN on residue properties (blosum62,
  physchem) also ``formula_properties.txt``, ``.tex`` and ``.tsv``, the formula in those
  properties (:mod:`kanbio.explain.properties`);
- ``motif.json``: motif recovery per method (``recovery``: precision@k, ranking AUROC, top
  offsets) when a truth table is given, known-motif checks per method, and for a KAN the
  formula's AUROC beside the network's and the agreement of their predicted labels
  (``symbolic``; ``properties`` for the property formula); for a KAN or MLP the first-layer
  groups it keeps (``sparsity``: offsets, and features per offset). Top-level ``k,
  precision_at_k, ranking_auroc, top_offsets, known_motif`` repeat the ISM results, the method
  every model type has, so models compare on the same footing;
- figures (PNG + PDF): ``positions_<method>``, ``heatmap_<method>``, ``logo_<method>`` and, for a
  KAN, ``network`` and ``functions``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kanbio.data.table import read_encoded
from kanbio.errors import InputError
from kanbio.explain import attribution as att
from kanbio.explain import motifs as mt
from kanbio.explain.formula import auto_symbolic
from kanbio.explain.properties import property_formula
from kanbio.explain.symbolic import DEFAULT_LIB
from kanbio.metrics import auroc, validation_threshold
from kanbio.models import checkpoint, model_type, predict_logit
from kanbio.output import write_json, write_table, write_text
from kanbio.report import figures as plots

SIGNED = ("exact", "ism")  # methods whose residue scores carry a sign
PRIMARY = "ism"  # the method every model has: top-level summary keys of motif.json use it
ROLE_EFFECT = {"enriched": "enriched", "required": "enriched", "depleted": "depleted"}


def _sample(rows: np.ndarray, n: int, seed: int) -> np.ndarray:
    """At most ``n`` of ``rows``, drawn without replacement, in their original order."""
    if len(rows) <= n:
        return rows
    return np.sort(np.random.default_rng(seed).choice(rows, n, replace=False))


def _rows(table: pd.DataFrame, split: str) -> np.ndarray:
    return np.arange(len(table)) if split == "all" else np.flatnonzero(table.split == split)


def explain(
    model_dir: str | os.PathLike,
    windows_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    truth: str | os.PathLike | Sequence[tuple[int, str, str]] | None = None,
    known_motif: Sequence[dict] | None = None,
    split: str = "test",
    max_windows: int = 10000,
    seed: int = 0,
    figures: bool | Sequence[str] = True,
    library: Sequence[str] | None = None,
    figures_dir: str | os.PathLike | None = None,
    prefix: str = "",
) -> dict[str, Any]:
    """Explain one checkpoint; write tables, formula, ``motif.json`` and figures into ``out_dir``.

    Parameters
    ----------
    model_dir : checkpoint folder (``model.pt`` + ``model.json``).
    windows_path : windows table (``protein_id, position, residue, window, label, split``).
    out_dir : output folder (created).
    truth : planted positions, a truth table path or ``(offset, residues, role)`` tuples.
    known_motif : expected effects ``{offset, residues, effect: enriched|depleted}``.
    split : split to explain ("train", "val", "test" or "all"); the symbolic fit uses the train
        split (falling back to these windows) and is scored on these windows.
    max_windows : windows drawn at random (``seed``) when the split is larger.
    figures : draw the figures: True for all, or the names to draw (e.g. ``["heatmap_ism",
        "logo_exact", "network", "functions"]``), False for none.
    library : functions tried by the symbolic fit of a KAN (default: the whole library).
    figures_dir, prefix : figures go to ``figures_dir/<prefix><name>.{png,pdf}`` (default
        ``out_dir``, no prefix).

    Returns
    -------
    The content of ``motif.json``.
    """
    if max_windows < 1:
        raise InputError(f"max_windows must be at least 1, got {max_windows}")
    out = Path(out_dir)
    data = read_encoded(windows_path)
    if data.table.empty:
        raise InputError("the windows table is empty", path=str(windows_path))
    table, idx_all = data.table, data.idx
    model, meta = checkpoint.load(model_dir, window_length=idx_all.shape[1])
    kind = model_type(model)
    rows = _sample(_rows(table, split), max_windows, seed)
    if len(rows) == 0:
        raise InputError(f"no windows in split {split!r}", path=str(windows_path))
    idx, y = idx_all[rows], table.label.to_numpy(np.int64)[rows]
    h = idx.shape[1] // 2
    planted = _planted(truth)
    if planted is not None and any(abs(o) > h for o, _, _ in planted):
        raise InputError(f"planted offsets {[o for o, _, _ in planted]} exceed the window "
                         f"(-{h}..+{h})", path=None if truth is None else str(truth))
    motifs = list(known_motif or [])
    for i, m in enumerate(motifs):  # fail early on a bad entry
        mt.validate_motif(m, h, i)

    methods = [att.kan_exact(model, idx), att.ism(model, idx)] if kind == "kan" else \
        [att.ism(model, idx)]
    if kind == "kan" and model.encoding.is_onehot:  # pykan feature scores are per letter
        methods.append(att.kan_feature(model, idx))
    write_table(pd.concat([a.position_frame() for a in methods]),
                out / "attribution_positions.tsv")
    write_table(pd.concat([a.residue_frame() for a in methods]), out / "attribution_residues.tsv")
    result: dict[str, Any] = {
        "model": str(model_dir), "type": kind, "windows": str(windows_path), "split": split,
        "n_windows": len(idx), "window_length": idx.shape[1], "seed": seed,
        "methods": [a.method for a in methods],
        "logo_signal": {a.method: mt.logo_signal(a.position) for a in methods},
    }
    if planted is not None:
        result["truth"] = [{"offset": o, "residues": r, "role": role} for o, r, role in planted]
        result["recovery"] = {a.method: mt.motif_recovery(a.position, [o for o, _, _ in planted])
                              for a in methods}
        checks = [{"offset": o, "residues": r, "effect": ROLE_EFFECT[role]}
                  for o, r, role in planted if role in ROLE_EFFECT]
        result["truth_checks"] = {a.method: mt.check_known_motif(a.residue, checks)
                                  for a in methods if a.method in SIGNED} if checks else {}
        rec = result["recovery"][PRIMARY]
        result.update(k=rec["k"], precision_at_k=rec["precision_at_k"],
                      ranking_auroc=rec["ranking_auroc"], top_offsets=rec["top"])
    if motifs:
        result["known_motif_by_method"] = {a.method: mt.check_known_motif(a.residue, motifs)
                                           for a in methods if a.method in SIGNED}
        result["known_motif"] = result["known_motif_by_method"][PRIMARY]
    if kind in ("kan", "mlp"):
        result["sparsity"] = sparsity(model)
    sym = None
    if kind == "kan":
        sym, result["symbolic"] = _symbolic(model, idx, y, idx_all, table, out, seed, max_windows,
                                            library)
        if not model.encoding.is_onehot:
            result["properties"] = _properties(model, idx, y, sym, out, library)
    write_json(result, out / "motif.json")
    if figures:
        _figures(model, kind, idx, methods, sym, planted, Path(figures_dir or out), prefix,
                 None if figures is True else set(figures))
    return result


def _planted(truth) -> list[tuple[int, str, str]] | None:
    if truth is None:
        return None
    if isinstance(truth, (str, os.PathLike)):
        return mt.read_truth(truth)
    return [(int(o), str(r), str(role)) for o, r, role in truth]


def _symbolic(model, idx, y, idx_all, table, out, seed, max_windows, library=None
              ) -> tuple[Any, dict]:
    """Fit the formula on training windows, write it, and compare it with the network."""
    train = _sample(np.flatnonzero(table.split == "train"), max_windows, seed)
    sym = auto_symbolic(model, idx_all[train] if len(train) else idx, lib=library or DEFAULT_LIB)
    write_text(sym.to_text(), out / "formula.txt")
    write_text(sym.to_latex(), out / "formula.tex")
    write_table(sym.table_frame(), out / "formula_tables.tsv")
    write_table(sym.edge_frame(), out / "symbolic_edges.tsv")
    net, formula = predict_logit(model, idx), sym.predict_logit(idx)
    val = _sample(np.flatnonzero(table.split == "val"), max_windows, seed)
    y_val = table.label.to_numpy(np.int64)[val]
    thr, source = validation_threshold(y_val, predict_logit(model, idx_all[val]))
    two = len(np.unique(y)) == 2
    edges = sym.edge_frame()
    return sym, {
        "network_auroc": auroc(y, net) if two else np.nan,
        "formula_auroc": auroc(y, formula) if two else np.nan,
        "label_agreement": float(np.mean((net >= thr) == (formula >= thr))),
        "threshold": float(thr),
        "threshold_source": source,
        "logit_correlation": float(np.corrcoef(net, formula)[0, 1]) if len(y) > 1 else np.nan,
        "max_abs_logit_difference": float(np.abs(net - formula).max()),
        "fit_windows": int(len(train) or len(idx)),
        "min_edge_r2": float(edges.r2.min()) if len(edges) else 1.0,
        "functions": edges.function.value_counts().sort_index().to_dict(),
    }


def sparsity(model) -> dict[str, Any]:
    """The first-layer groups a KAN or MLP keeps: offsets, and (other encodings than onehot)
    the features kept at each offset, with counts out of all."""
    kept = model.kept_groups().cpu().numpy()  # (L, 1 | d)
    length = kept.shape[0]
    offsets = np.arange(length) - length // 2
    out: dict[str, Any] = {"encoding": model.encoding.name,
                           "offsets": [int(o) for o in offsets[kept.any(1)]],
                           "n_offsets": int(kept.any(1).sum()), "of_offsets": int(length)}
    if not model.encoding.is_onehot:
        names = model.encoding.features()
        out["features"] = {f"{int(offsets[p]):+d}": [names[k] for k in np.flatnonzero(kept[p])]
                           for p in np.flatnonzero(kept.any(1))}
        out.update(n_groups=int(kept.sum()), of_groups=int(kept.size))
    return out


def _properties(model, idx, y, sym, out, library=None) -> dict[str, Any]:
    """Fit and write the formula in residue properties on the head already fitted (``sym``);
    its AUROC beside the network's."""
    form = property_formula(model, idx, lib=library or DEFAULT_LIB, head=sym)
    write_text(form.to_text(), out / "formula_properties.txt")
    write_text(form.to_latex(), out / "formula_properties.tex")
    write_table(form.terms, out / "formula_properties.tsv")
    two = len(np.unique(y)) == 2
    terms = form.terms
    top = terms.sort_values("span", ascending=False).head(8)
    return {
        "formula_auroc": auroc(y, form.predict_logit(idx)) if two else np.nan,
        "kept": {k: v for k, v in form.kept().items() if k != "pairs"},
        "top_terms": [{"offset": int(r.offset), "feature": r.feature, "node": int(r.node),
                       "function": r.function, "r2": float(r.r2), "span": float(r.span)}
                      for r in top.itertuples()],
        "min_edge_r2": float(terms.r2.min()) if len(terms) else 1.0,
    }


def _figures(model, kind, idx, methods, sym, planted, out: Path, prefix: str = "",
             only: set[str] | None = None) -> None:
    def want(name: str) -> bool:
        return only is None or name in only

    offsets = [o for o, _, _ in planted] if planted else []
    name = {"kan": "KAN", "mlp": "MLP", "cnn": "CNN", "linear": "logistic"}[kind]
    for a in methods:
        what = f"({a.method})"
        if want(f"positions_{a.method}"):
            plots.position_bars(a, out / f"{prefix}positions_{a.method}",
                                f"{name}: per-position attribution {what}", planted=offsets)
        if want(f"heatmap_{a.method}"):
            plots.residue_heatmap(a, out / f"{prefix}heatmap_{a.method}",
                                  f"{name}: residue attribution {what}")
        if a.method in SIGNED and want(f"logo_{a.method}"):
            plots.sequence_logo(a, out / f"{prefix}logo_{a.method}",
                                f"{name}: signed contributions {what}")
    if kind == "kan" and want("network"):
        plots.network_diagram(model, idx, out / f"{prefix}network", sym)
    if kind == "kan" and want("functions"):
        plots.function_panels(model, idx, sym, out / f"{prefix}functions")


# ----------------------------------------------------------------------------------------- CLI
def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Options of ``kanbio explain``."""
    parser.add_argument("--model", required=True, help="checkpoint folder")
    parser.add_argument("--windows", required=True, help="windows table from 'kanbio prepare'")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--truth", help="truth table (offset, residues, role) of planted motifs")
    parser.add_argument("--known-motif", action="append", default=[], metavar="SPEC",
                        help="expected effect OFFSET:RESIDUES:EFFECT, e.g. --known-motif=+1:P:"
                        "depleted (repeatable), or a YAML/JSON file with a list of them")
    parser.add_argument("--split", default="test", choices=["train", "val", "test", "all"])
    parser.add_argument("--max-windows", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-figures", action="store_true", help="tables and formula only")
    return parser


def run(args: argparse.Namespace) -> int:
    """Run ``kanbio explain``; print a one-line summary on stderr."""
    res = explain(args.model, args.windows, args.out, truth=args.truth,
                  known_motif=mt.parse_known_motif(args.known_motif), split=args.split,
                  max_windows=args.max_windows, seed=args.seed, figures=not args.no_figures)
    parts = [f"{res['type']} on {res['n_windows']} {args.split} windows"]
    for method, r in res.get("recovery", {}).items():
        parts.append(f"{method} precision@{r['k']} {r['precision_at_k']:.2f}")
    if "symbolic" in res:
        s = res["symbolic"]
        parts.append(f"formula AUROC {s['formula_auroc']:.4f} vs network "
                     f"{s['network_auroc']:.4f}")
    print("; ".join(parts) + f"; written to {args.out}", file=sys.stderr)
    return 0
