"""Model specs, construction and checkpoints.

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

import numpy as np
import torch

from kanbio import __version__
from kanbio.alphabet import ALPHABET, A
from kanbio.errors import InputError
from kanbio.models.kan import KAN
from kanbio.models.linear import LogisticBaseline
from kanbio.models.mlp import MLP, matched_width
from kanbio.output import atomic_path, json_text

MODEL_TYPES = ("kan", "mlp", "linear")
Model = KAN | MLP | LogisticBaseline


def kan_width(spec: dict, window_length: int) -> list[int]:
    return [window_length * A, *spec.get("hidden", [8]), spec.get("out", 1)]


def build(spec: dict[str, Any], window_length: int, seed: int = 0,
          reference: dict[str, Any] | None = None) -> Model:
    """Construct an untrained model from a spec.

    ``{"type": "kan", "hidden": [8], "grid": 5, "k": 3, "grid_range": [-1, 1], "out": 1}``;
    ``{"type": "mlp", "hidden": [16]}`` or ``{"type": "mlp", "match": <kan spec>}`` for the hidden
    width whose parameter count matches that KAN's; ``{"type": "linear", "C": 1.0}``.
    """
    kind = spec.get("type")
    if kind == "kan":
        return KAN(kan_width(spec, window_length), grid=spec.get("grid", 5), k=spec.get("k", 3),
                   grid_range=tuple(spec.get("grid_range", (-1.0, 1.0))),
                   grid_eps=spec.get("grid_eps", 0.02), window_length=window_length, seed=seed)
    if kind == "mlp":
        match = spec.get("match") or reference
        if match is not None and "hidden" not in spec:
            hidden = [matched_width(kan_width(match, window_length), match.get("grid", 5),
                                    match.get("k", 3), window_length)]
        else:
            hidden = spec.get("hidden", [16])
        width = [window_length * A, *hidden, spec.get("out", 1)]
        return MLP(width, window_length=window_length,
                   activation=spec.get("activation", "silu"), seed=seed)
    if kind == "linear":
        return LogisticBaseline(C=spec.get("C", 1.0), class_weight=spec.get("class_weight",
                                "balanced"), max_iter=spec.get("max_iter", 1000), seed=seed)
    raise InputError(f"unknown model type {kind!r} (expected one of {', '.join(MODEL_TYPES)})")


def model_type(model: Model) -> str:
    return {KAN: "kan", MLP: "mlp", LogisticBaseline: "linear"}[type(model)]


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
    elif kind in ("kan", "mlp"):
        model = (KAN if kind == "kan" else MLP).from_config(arch)
        try:
            model.load_state_dict(state)
        except RuntimeError as err:
            raise InputError(f"weights do not fit the architecture ({str(err).splitlines()[0]})",
                             path=str(pt_path)) from None
        model.eval()
    else:
        raise InputError(f"unknown model type {kind!r}", path=str(meta_path))
    return model, meta


def score(model: Model, idx: np.ndarray, batch_size: int = 8192) -> np.ndarray:
    """Positive-class log-odds (N,) for index-encoded windows (N, L)."""
    if isinstance(model, LogisticBaseline):
        return np.asarray(model.decision_function(idx), dtype=np.float64)
    from kanbio.train import predict_logit

    return predict_logit(model, idx, batch_size)
