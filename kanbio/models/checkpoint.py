"""Checkpoints: save and load a trained model.

A checkpoint is a folder with ``model.pt`` (tensors only, loaded with
``torch.load(weights_only=True)`` so that a file carrying pickled objects is refused, never
executed) and ``model.json`` (architecture, alphabet, window length, training config, kanbio
version, metrics).
"""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path
from typing import Any

import torch

from .. import __version__
from ..data.alphabet import ALPHABET
from ..errors import InputError
from ..output import atomic_path, json_text
from .cnn import CNN
from .factory import Model, model_type
from .kan import KAN
from .linear import LogisticBaseline
from .mlp import MLP

NETWORKS = {"kan": KAN, "mlp": MLP, "cnn": CNN}  # torch models: config() + state_dict


def save(model: Model, out_dir: str | os.PathLike, meta: dict[str, Any]) -> None:
    """Write ``model.pt`` + ``model.json`` atomically into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    kind = model_type(model)
    if kind == "linear":
        d = model.to_dict()
        state = {"coef": torch.tensor(d.pop("coef"), dtype=torch.float64),
                 "intercept": torch.tensor(d.pop("intercept"), dtype=torch.float64)}
        arch = d
    else:
        state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        arch = model.config()
    info = {"kanbio_version": __version__, "type": kind, "architecture": arch,
            "alphabet": ALPHABET, **meta}
    with atomic_path(out / "model.pt") as tmp:
        torch.save(state, tmp)
    with atomic_path(out / "model.json") as tmp:
        Path(tmp).write_text(json_text(info))


def load(model_dir: str | os.PathLike, window_length: int | None = None) -> tuple[Model, dict]:
    """Load a checkpoint folder; refuse pickled objects and a mismatched alphabet/window length."""
    d = Path(model_dir)
    meta_path, pt_path = d / "model.json", d / "model.pt"
    for p in (meta_path, pt_path):
        if not p.exists():
            raise InputError("checkpoint file not found", path=str(p))
    try:
        meta = json.loads(meta_path.read_text())
    except json.JSONDecodeError as err:
        raise InputError(f"invalid JSON ({err.msg})", path=str(meta_path),
                         line=err.lineno) from None
    if meta.get("alphabet") != ALPHABET:
        raise InputError(f"checkpoint alphabet {meta.get('alphabet')!r} differs from kanbio's "
                         f"{ALPHABET!r}", path=str(meta_path))
    if window_length is not None and meta.get("window_length") != window_length:
        raise InputError(f"model expects windows of length {meta.get('window_length')}, the data "
                         f"has length {window_length}", path=str(meta_path))
    try:
        state = torch.load(pt_path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, AttributeError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise InputError(f"refused to load: not a plain tensor checkpoint ({first})",
                         path=str(pt_path)) from None
    kind, arch = meta.get("type"), meta.get("architecture", {})
    if kind == "linear":
        model = LogisticBaseline.from_dict({**arch, "coef": state["coef"].tolist(),
                                            "intercept": state["intercept"].tolist()})
    elif kind in NETWORKS:
        model = NETWORKS[kind].from_config(arch)
        try:
            model.load_state_dict(state)
        except RuntimeError as err:
            raise InputError(f"weights do not fit the architecture ({str(err).splitlines()[0]})",
                             path=str(pt_path)) from None
        model.eval()
    else:
        raise InputError(f"unknown model type {kind!r}", path=str(meta_path))
    return model, meta
