"""Score a checkpoint on a windows table: threshold from validation (max MCC), test metrics with
bootstrap CIs, and per-window predictions."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kanbio.config import BOOTSTRAP
from kanbio.data.table import read_encoded
from kanbio.errors import InputError
from kanbio.metrics import binary_metrics, bootstrap_ci, validation_threshold
from kanbio.models import checkpoint, predict_logit
from kanbio.output import json_text, table_text, write_texts


def predictions(model_dir: str | os.PathLike, windows_path: str | os.PathLike) -> tuple[
        pd.DataFrame, dict]:
    """Per-window log-odds of a checkpoint: ``protein_id, position, split, label, score``."""
    data = read_encoded(windows_path)
    table, idx = data.table, data.idx
    model, meta = checkpoint.load(model_dir, window_length=idx.shape[1])
    out = table[["protein_id", "position", "split", "label"]].copy()
    out["score"] = predict_logit(model, idx)
    return out, meta


def evaluate(model_dir: str | os.PathLike, windows_path: str | os.PathLike,
             out_path: str | os.PathLike, n_boot: int = BOOTSTRAP, seed: int = 0,
             prevalence: float | str | None = None) -> dict[str, Any]:
    """Write ``metrics.json`` (and ``predictions.tsv.gz`` beside it); return the metrics.

    ``prevalence``: the positive share the threshold is chosen for (validation reweighted to
    it), a number in (0, 1) or ``"test"`` for the test split's class ratio (a declared property
    of a predefined test set; no model choice reads its labels otherwise).
    """
    preds, meta = predictions(model_dir, windows_path)
    val, test = preds[preds.split == "val"], preds[preds.split == "test"]
    if test.empty:
        raise InputError("the windows table has no test split", path=str(windows_path))
    if prevalence == "test":
        prevalence = float(test.label.mean())
    elif isinstance(prevalence, str):
        raise InputError(f"prevalence must be a number in (0, 1) or 'test', got {prevalence!r}")
    threshold, source = validation_threshold(val.label.to_numpy(), val.score.to_numpy(),
                                             prevalence)
    y, s = test.label.to_numpy(), test.score.to_numpy()
    result = {
        "model": str(model_dir),
        "type": meta.get("type"),
        "seed": meta.get("seed"),
        "threshold": float(threshold),
        "threshold_source": source,
        "prevalence": prevalence,
        "test": binary_metrics(y, s, threshold),
        "ci95": {k: list(v) for k, v in bootstrap_ci(y, s, threshold, n_boot, seed).items()},
        "val": binary_metrics(val.label.to_numpy(), val.score.to_numpy(), threshold)
        if not val.empty else None,
        "n_params": meta.get("n_params"),
        "n_params_effective": meta.get("n_params_effective"),
        "flops": meta.get("flops"),
        "train_seconds": meta.get("train_seconds"),
        "peak_rss_mb": meta.get("peak_rss_mb"),
    }
    write_texts({  # both or neither
        Path(out_path).with_name("predictions.tsv.gz"):
            table_text(preds.assign(score=np.round(preds.score, 6)), float_format="%.6f"),
        out_path: json_text(result)})
    return result


# ----------------------------------------------------------------------------------------- CLI
def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``kanbio evaluate``."""
    p.add_argument("--model", required=True, help="checkpoint folder")
    p.add_argument("--windows", required=True, help="windows table with val and test splits")
    p.add_argument("--out", required=True, help="metrics.json path")
    p.add_argument("--bootstrap", type=int, default=BOOTSTRAP, help="bootstrap resamples for CIs")
    p.add_argument("--prevalence", type=_prevalence, help="positive share to choose the threshold "
                   "for (validation reweighted to it): a number in (0, 1), or 'test' for the "
                   "test split's class ratio")


def _prevalence(text: str) -> float | str:
    return text if text == "test" else float(text)


def run(args: argparse.Namespace) -> int:
    """Run ``kanbio evaluate``; print the headline metrics on stderr."""
    res = evaluate(args.model, args.windows, args.out, n_boot=args.bootstrap,
                   prevalence=args.prevalence)
    t = res["test"]
    print(f"test AUROC {t['auroc']:.4f}, AUPRC {t['auprc']:.4f}, MCC {t['mcc']:.4f} "
          f"(threshold {res['threshold']:.4g} from {res['threshold_source']})", file=sys.stderr)
    return 0
