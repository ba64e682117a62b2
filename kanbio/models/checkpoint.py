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
import re
from pathlib import Path
from typing import Any

import torch

from .. import __version__
from ..data.alphabet import ALPHABET
from ..errors import InputError, one_line
from ..output import atomic_paths, json_text, write_text_to
from .cnn import CNN
from .factory import MODEL_TYPES, Model, model_type
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
    with atomic_paths(out / "model.pt", out / "model.json") as (tmp_pt, tmp_json):
        torch.save(state, tmp_pt)
        write_text_to(tmp_json, json_text(info), gz=False)


def _major(version: Any) -> int | None:
    """The major number of a version string such as ``"1.2.0"`` (None if it is not one)."""
    head = str(version).split(".", 1)[0] if isinstance(version, str) else ""
    return int(head) if head.isdecimal() and head.isascii() else None


def _read_meta(meta_path: Path, window_length: int | None) -> dict[str, Any]:
    """``model.json``, checked: a JSON object from this major kanbio version, with this alphabet,
    a known model type and an architecture."""
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise InputError(f"invalid JSON ({err.msg})", path=str(meta_path),
                         line=err.lineno) from None
    except UnicodeDecodeError:
        raise InputError("binary or non-UTF-8 data, not a JSON file", path=str(meta_path)) from None
    except OSError as err:
        raise InputError(f"cannot read the file ({err.strerror or one_line(err)})",
                         path=str(meta_path)) from None
    if not isinstance(meta, dict):
        raise InputError("not a checkpoint description (expected a JSON object)",
                         path=str(meta_path))
    version = meta.get("kanbio_version")
    if version is None:
        raise InputError("no 'kanbio_version': not written by kanbio", path=str(meta_path))
    major = _major(version)
    if major is None:
        raise InputError(f"unreadable 'kanbio_version' {version!r}", path=str(meta_path))
    if major != _major(__version__):
        raise InputError(f"written by kanbio {version}, which this kanbio {__version__} cannot "
                         f"read (different major version): retrain the model",
                         path=str(meta_path))
    if meta.get("alphabet") != ALPHABET:
        raise InputError(f"checkpoint alphabet {meta.get('alphabet')!r} differs from kanbio's "
                         f"{ALPHABET!r}", path=str(meta_path))
    if meta.get("type") not in MODEL_TYPES:
        raise InputError(f"unknown model type {meta.get('type')!r} (expected one of "
                         f"{', '.join(MODEL_TYPES)})", path=str(meta_path))
    if not isinstance(meta.get("architecture"), dict):
        what = "no 'architecture'" if "architecture" not in meta else \
            "'architecture' is not a JSON object"
        raise InputError(f"{what}: not a complete checkpoint description", path=str(meta_path))
    if window_length is not None and meta.get("window_length") != window_length:
        raise InputError(f"model expects windows of length {meta.get('window_length')}, the data "
                         f"has length {window_length}", path=str(meta_path))
    return meta


def _read_state(pt_path: Path) -> dict[str, torch.Tensor]:
    """``model.pt``: a dict of tensors, loaded without unpickling any other object."""
    try:
        state = torch.load(pt_path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        # torch's text is mostly advice to load unsafely; keep only what the unpickler found
        text = str(err).strip()
        found = re.search(r"WeightsUnpickler error:\s*(.+?)(?:\n\n|$)", text, re.S)
        detail = found.group(1) if found else (text.splitlines() or [type(err).__name__])[0]
        detail = detail.split(". ", 1)[0].rstrip(".")  # the finding, not the advice after it
        raise InputError(f"refused to load: not a plain tensor checkpoint ({detail})",
                         path=str(pt_path)) from None
    except MemoryError:
        raise
    except Exception as err:  # torch reports a truncated or foreign file in many ways
        raise InputError(f"unreadable checkpoint: truncated or not written by kanbio "
                         f"({type(err).__name__}: {one_line(err)})", path=str(pt_path)) from None
    if not isinstance(state, dict) or not all(
            isinstance(k, str) and torch.is_tensor(v) for k, v in state.items()):
        raise InputError("refused to load: not a plain tensor checkpoint (expected a dict of "
                         "named tensors)", path=str(pt_path))
    return state


def load(model_dir: str | os.PathLike, window_length: int | None = None) -> tuple[Model, dict]:
    """Load a checkpoint folder; refuse pickled objects, a checkpoint of another major kanbio
    version, an incomplete ``model.json`` and a mismatched alphabet or window length."""
    d = Path(model_dir)
    meta_path, pt_path = d / "model.json", d / "model.pt"
    for p in (meta_path, pt_path):
        if not p.exists():
            raise InputError("checkpoint file not found", path=str(p))
    meta = _read_meta(meta_path, window_length)
    state = _read_state(pt_path)
    kind, arch = meta["type"], meta["architecture"]
    try:
        if kind == "linear":
            missing = [k for k in ("coef", "intercept") if k not in state]
            if missing:
                raise InputError(f"lacks the tensor(s) {', '.join(missing)}", path=str(pt_path))
            model = LogisticBaseline.from_dict({**arch, "coef": state["coef"].tolist(),
                                                "intercept": state["intercept"].tolist()})
        else:
            model = NETWORKS[kind].from_config(arch)
    except InputError as err:
        raise InputError(err.problem, path=err.path or str(meta_path), record=err.record,
                         line=err.line) from None
    except (TypeError, ValueError, KeyError, IndexError, AttributeError, RuntimeError,
            ArithmeticError) as err:
        raise InputError(f"'architecture' does not describe a {kind} model "
                         f"({type(err).__name__}: {one_line(err)})", path=str(meta_path)) from None
    if kind != "linear":
        try:
            model.load_state_dict(state)
        except RuntimeError as err:
            raise InputError(f"weights do not fit the architecture ({str(err).splitlines()[0]})",
                             path=str(pt_path)) from None
        model.eval()
    return model, meta
