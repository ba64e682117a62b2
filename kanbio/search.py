"""Model selection: a declared grid of hyperparameters, scored on the validation split only.

A model spec may carry ``search: {key: [values, ...], ...}``; keys are spec keys (``grid``,
``hidden``, ``C``) or ``train.<option>`` for training options (``train.lamb``). Every combination
(Cartesian product, in the declared order) is trained on the ``train`` split with one seed and
scored on the ``val`` split; the candidate with the highest validation metric wins (ties go to the
earlier candidate). Test windows are dropped before anything is trained or scored, so the choice
cannot depend on them.
"""

from __future__ import annotations

import copy
import itertools
import json
import time
from typing import Any

import numpy as np
import pandas as pd

from kanbio.errors import InputError
from kanbio.metrics import binary_metrics, validation_threshold
from kanbio.models import predict_logit
from kanbio.train import train_model

METRICS = ("auroc", "auprc", "mcc", "loss")  # selectable; loss is minimised


def candidates(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """The override dicts of ``spec["search"]`` (``[{}]`` without a search), in declared order."""
    space = spec.get("search") or {}
    for key, values in space.items():
        if not isinstance(values, list) or not values:
            raise InputError(f"search.{key}: expected a non-empty list of values")
    keys = list(space)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*space.values())]


def apply(spec: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``spec`` without its search block, with ``overrides`` set (dotted keys nest)."""
    out = copy.deepcopy({k: v for k, v in spec.items() if k != "search"})
    for key, value in overrides.items():
        node = out
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = copy.deepcopy(value)
    return out


def _log_loss(y: np.ndarray, logit: np.ndarray) -> float:
    """Mean binary cross-entropy of log-odds (numerically stable)."""
    return float(np.mean(np.logaddexp(0.0, logit) - y * logit))


def _fit_score(spec: dict, x_tr: np.ndarray, y_tr: np.ndarray, x_va: np.ndarray,
               y_va: np.ndarray, seed: int, reference: dict | None) -> tuple[np.ndarray, dict]:
    """Train one candidate; return its validation log-odds and facts about the fit."""
    t0 = time.perf_counter()
    model, hist, cfg = train_model(spec, x_tr, y_tr, x_va, y_va, seed, reference, progress=False)
    facts: dict[str, Any] = {} if cfg is None else {"epochs_run": len(hist.rows),
                                                   "best_epoch": hist.best_epoch}
    facts["train_seconds"] = round(time.perf_counter() - t0, 3)
    facts["n_params"] = int(model.n_params())
    facts["n_params_effective"] = int(model.n_params_effective())
    if getattr(model, "has_groups", False) and getattr(model, "window_length", None):
        kept = model.kept_groups()
        facts["n_offsets"], facts["n_groups"] = int(kept.any(1).sum()), int(kept.sum())
    return predict_logit(model, x_va), facts


def auroc_se(a: float, n_pos: int, n_neg: int) -> float:
    """Standard error of an AUROC ``a`` on ``n_pos`` positives and ``n_neg`` negatives (Hanley &
    McNeil 1982, exponential approximation)."""
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    var = (a * (1 - a) + (n_pos - 1) * (q1 - a * a) + (n_neg - 1) * (q2 - a * a)) / (n_pos * n_neg)
    return float(np.sqrt(max(var, 0.0)))


def search(x_tr: np.ndarray, y_tr: np.ndarray, x_va: np.ndarray, y_va: np.ndarray,
           spec: dict[str, Any], seed: int = 0, metric: str = "auroc",
           reference: dict[str, Any] | None = None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Score every candidate of ``spec["search"]`` on validation; return (table, choice).

    The table has one row per candidate: its overrides (JSON text), parameter count, epochs,
    training time and validation AUROC / AUPRC / MCC (threshold by max MCC) / loss, and a
    ``selected`` flag. ``choice`` holds the metric, the winning overrides and the full spec.
    With ``spec["prefer_sparse"] = t`` the choice is the sparsest candidate, fewest kept
    offsets (``n_offsets``) then fewest first-layer groups (``n_groups``: offsets, or offset x
    feature pairs), among those whose validation metric is within ``t`` of the best (ties by the
    metric, then the first); ``t = "1se"`` is one standard error of the best validation AUROC
    (Hanley & McNeil 1982), the one-standard-error rule.
    """
    if metric not in METRICS:
        raise InputError(f"search metric must be one of {', '.join(METRICS)}, got {metric!r}")
    if len(y_va) == 0 or len(np.unique(y_va)) < 2:
        raise InputError("model search needs a validation split with both classes")
    rows = []
    for i, over in enumerate(candidates(spec)):
        cand = apply(spec, over)
        logit, facts = _fit_score(cand, x_tr, y_tr, x_va, y_va, seed, reference)
        m = binary_metrics(y_va, logit, validation_threshold(y_va, logit)[0])
        rows.append({"candidate": i, "overrides": json.dumps(over, sort_keys=True), **facts,
                     "val_auroc": m["auroc"], "val_auprc": m["auprc"], "val_mcc": m["mcc"],
                     "val_loss": _log_loss(y_va, logit)})
    table = pd.DataFrame(rows)
    col = table[f"val_{metric}"].to_numpy(float)
    col = np.where(np.isnan(col), np.inf if metric == "loss" else -np.inf, col)
    best = int(np.argmin(col) if metric == "loss" else np.argmax(col))  # first of ties
    tol, rule = spec.get("prefer_sparse"), f"best validation {metric}"
    if tol is not None and "n_groups" in table:
        if tol == "1se":
            tol = auroc_se(float(table.val_auroc[best]), int(y_va.sum()), int((y_va == 0).sum()))
        gap = (col - col[best]) if metric == "loss" else (col[best] - col)
        offsets, groups = table.n_offsets.to_numpy(float), table.n_groups.to_numpy(float)
        best = int(min(np.flatnonzero(gap <= float(tol)),
                       key=lambda i: (offsets[i], groups[i], gap[i], i)))
        rule = f"fewest kept offsets within {float(tol):.4g} of the best validation {metric}"
    table["selected"] = table.candidate == best
    over = json.loads(table.overrides[best])
    choice = {"metric": metric, "rule": rule, "seed": seed, "candidates": len(table),
              "selected": over,
              "val": {k: float(table[f"val_{k}"][best]) for k in METRICS},
              "spec": apply(spec, over)}
    return table, choice
