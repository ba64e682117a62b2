"""Stage ``train``: one model spec x seed on the train split of a windows table -> a checkpoint
folder (``model.pt``, ``model.json``, ``curve.tsv``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from kanbio.data.table import read_encoded
from kanbio.errors import InputError
from kanbio.models import checkpoint
from kanbio.output import write_text
from kanbio.train import config_dict, train_model


def train_table(windows_path: str | os.PathLike, spec: dict[str, Any], seed: int,
                out_dir: str | os.PathLike, reference: dict[str, Any] | None = None,
                progress: bool = True) -> dict[str, Any]:
    """Train one model spec on the train split of a windows table; write a checkpoint folder.

    Writes ``model.pt``, ``model.json`` and ``curve.tsv`` into ``out_dir``; returns the metadata.
    """
    data = read_encoded(windows_path)
    table, idx, y = data.table, data.idx, data.y
    tr, va = data.mask("train"), data.mask("val")
    if not tr.any():
        raise InputError("no training windows", path=str(windows_path))
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
