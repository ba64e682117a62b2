"""Stage ``train``: one model spec x seed on the train split of a windows table -> a checkpoint
folder (``model.pt``, ``model.json``, ``curve.tsv``)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from kanbio.config import read_yaml, validate_model
from kanbio.data.table import read_encoded
from kanbio.errors import InputError
from kanbio.models import checkpoint
from kanbio.models.factory import MODEL_TYPES
from kanbio.output import write_text
from kanbio.train import config_dict, train_model


def train_table(windows_path: str | os.PathLike, spec: dict[str, Any], seed: int,
                out_dir: str | os.PathLike, reference: dict[str, Any] | None = None,
                progress: bool = True) -> dict[str, Any]:
    """Train one model spec on the train split of a windows table; write a checkpoint folder.

    Writes ``model.pt``, ``model.json`` and ``curve.tsv`` into ``out_dir``; returns the metadata.
    ``spec`` is validated first (:func:`kanbio.config.validate_model`): an unknown or mistyped key
    is an InputError, never silently copied into ``model.json``.
    """
    validate_model(spec)
    if reference is not None:
        validate_model(reference, "the reference (matched) KAN spec")
    data = read_encoded(windows_path)
    table, idx, y = data.table, data.idx, data.y
    tr, va = data.mask("train"), data.mask("val")
    if not tr.any():
        raise InputError("no training windows", path=str(windows_path))
    n_pos = int(y[tr].sum())
    if n_pos in (0, int(tr.sum())):
        raise InputError(f"the training split has {n_pos} positive and {int(tr.sum()) - n_pos} "
                         "negative windows: training needs both classes", path=str(windows_path))
    length = idx.shape[1]
    model, hist, cfg = train_model(spec, idx[tr], y[tr], idx[va], y[va], seed, reference,
                                   progress)
    meta = {
        "spec": spec,
        "seed": seed,
        "window_length": length,
        "half_width": length // 2,
        "residues": "".join(sorted(set(table.residue))),
        "train": None if cfg is None else config_dict(cfg),
        "n_params": int(model.n_params()),
        "n_params_effective": int(model.n_params_effective()),
        "flops": int(model.flops()) if hasattr(model, "flops") else 2 * int(model.n_params()),
        "train_windows": int(tr.sum()),
        "best_epoch": hist.best_epoch,
        "monitor": hist.monitor or None,
        "epochs_run": len(hist.rows),
        "train_seconds": round(hist.seconds, 3),
        "peak_rss_mb": round(hist.peak_rss_mb, 1),
        "device": hist.device,
        "windows": str(windows_path),
    }
    checkpoint.save(model, out_dir, meta)
    write_text(hist.tsv() or "epoch\n", Path(out_dir) / "curve.tsv")
    return meta


# ----------------------------------------------------------------------------------------- CLI
def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``kanbio train``; a flag left out takes the model's or the trainer's default."""
    p.add_argument("--windows", required=True, help="windows.tsv.gz from 'kanbio prepare'")
    p.add_argument("--model", required=True, choices=list(MODEL_TYPES),
                   help="model type (a CNN takes its other settings from --spec or its defaults)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="checkpoint folder")
    p.add_argument("--spec", help="YAML/JSON file with the full model spec (overrides the flags)")
    p.add_argument("--hidden", type=int, nargs="+", help="hidden widths (default: the same width "
                   "for KAN and MLP, so that they match in effective parameters)")
    p.add_argument("--first-layer", choices=["table", "spline"],
                   help="KAN first layer on one-hot windows (default: the schema's, table)")
    p.add_argument("--encoding", choices=["onehot", "blosum62", "physchem"],
                   help="residue encoding (default onehot; see kanbio.data.residues)")
    p.add_argument("--out-dim", type=int, choices=[1, 2], help="1 logit (default) or 2 logits")
    p.add_argument("--grid", type=int, help="KAN grid intervals G")
    p.add_argument("--k", type=int, help="KAN spline order")
    p.add_argument("--C", type=float, help="logistic regression inverse penalty")
    for flag, kind, help_text in TRAIN_FLAGS:
        p.add_argument(flag, type=kind, help=help_text)


#: ``kanbio train`` flags that set ``train`` options (TrainConfig holds their defaults).
TRAIN_FLAGS = (("--optimizer", str, "adam or lbfgs"),
               ("--epochs", int, "Adam epochs or LBFGS steps"),
               ("--lr", float, "learning rate"), ("--batch-size", int, "mini-batch size"),
               ("--lamb", float, "KAN sparsity regularisation"),
               ("--balance", str, "weight, subsample or none"),
               ("--patience", int, "epochs without improvement before stopping"),
               ("--monitor", str, "validation score for early stopping: auroc or loss"),
               ("--l2", float, "L2 on the first-layer table in units of logistic 1/C"),
               ("--group-lasso", float, "group lasso over first-layer positions (features)"),
               ("--device", str, "auto, cpu or cuda"))


def spec_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The model spec of ``kanbio train``: the ``--spec`` file, or the flags that were given."""
    if args.spec:
        return validate_model(read_yaml(args.spec, "model spec"), args.spec)
    spec: dict[str, Any] = {"type": args.model}
    keys = {"out_dim": "out", "hidden": "hidden", "grid": "grid", "k": "k", "C": "C",
            "first_layer": "first_layer", "encoding": "encoding"}
    spec.update({key: getattr(args, a) for a, key in keys.items() if getattr(args, a) is not None})
    if args.model != "linear":
        names = [f.lstrip("-").replace("-", "_") for f, _, _ in TRAIN_FLAGS]
        train = {n: getattr(args, n) for n in names if getattr(args, n) is not None}
        if train:
            spec["train"] = train
    return validate_model(spec, "command line")


def run(args: argparse.Namespace) -> int:
    """Run ``kanbio train``; print a one-line summary on stderr."""
    meta = train_table(args.windows, spec_from_args(args), args.seed, args.out)
    print(f"{meta['spec']['type']} seed {args.seed}: {meta['n_params']} parameters "
          f"({meta.get('n_params_effective', meta['n_params'])} effective on one-hot windows), "
          f"{meta['train_seconds']} s, best epoch {meta['best_epoch']}; written to {args.out}",
          file=sys.stderr)
    return 0
