"""Models from specs: the spec -> model construction and the parameter counts that match an MLP
to a KAN."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import Any

from ..config import definition_default
from ..data.alphabet import A
from ..errors import InputError
from .cnn import CNN
from .kan import KAN
from .linear import LogisticBaseline
from .mlp import MLP

MODEL_TYPES = ("kan", "mlp", "cnn", "linear")
Model = KAN | MLP | CNN | LogisticBaseline
#: Spec keys of a CNN, passed to :class:`CNN` (which holds their defaults).
CNN_KEYS = ("channels", "kernel_sizes", "hidden", "out", "dropout", "pool", "embedding",
            "activation", "encoding")


def kan_n_params(width: Sequence[int], grid: int = 5, k: int = 3,
                 first_layer: str = "spline") -> int:
    """Trainable parameters of a :class:`KAN`: ``G + k`` coefficients and two scales per edge;
    a table first layer (``first_layer="table"``) has one entry per edge and a constant per node.
    """
    n = [i * o * (grid + k + 2) for i, o in pairwise(width)]
    if first_layer == "table":
        n[0] = width[0] * width[1] + width[1]
    return sum(n)


def mlp_n_params(width: Sequence[int]) -> int:
    """Trainable parameters of an :class:`MLP` (weights and biases)."""
    return sum(i * o + o for i, o in pairwise(width))


def matched_width(
    kan_width: Sequence[int], grid: int = 5, k: int = 3, window_length: int | None = None,
    first_layer: str = "spline",
) -> int:
    """Hidden width ``h`` whose MLP ``[in, h, ..., h, out]`` (same depth) has the parameter count
    closest to the KAN's (as parametrised: a table first layer makes the widths about equal, a
    spline one makes the MLP about ``G + k + 2`` times wider).

    Examples
    --------
    >>> matched_width([33 * 21, 8, 1], grid=5, k=3, window_length=33)
    80
    """
    kan_width = [int(w) for w in kan_width]
    if len(kan_width) < 3:
        raise InputError(f"matched_width needs at least one hidden layer, got {kan_width}")
    if window_length is not None and kan_width[0] != window_length * A:
        raise InputError(f"width[0] = {kan_width[0]} but window_length * {A} = {window_length * A}")
    target = kan_n_params(kan_width, grid, k, first_layer)
    n_hidden = len(kan_width) - 2

    def count(h: int) -> int:
        return mlp_n_params([kan_width[0], *[h] * n_hidden, kan_width[-1]])

    lo, hi = 1, 1
    while count(hi) < target:  # count is increasing in h: double, then bisect
        lo, hi = hi, 2 * hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if count(mid) < target else (lo, mid)
    return min((lo, hi), key=lambda h: abs(count(h) - target))


#: First-layer parametrisation of a KAN spec that names none (the schema's default).
DEFAULT_FIRST_LAYER: str = definition_default("model", "first_layer")
#: Hidden widths of a spec that names none: the same for KAN and MLP, which then have about the
#: same effective parameter count (``21 L H`` table entries plus a small head).
DEFAULT_HIDDEN = {"kan": [80], "mlp": [80]}


def _given(spec: dict[str, Any], keys: Sequence[str]) -> dict[str, Any]:
    """The spec's values for ``keys`` it sets (the model classes own the defaults)."""
    return {k: tuple(spec[k]) if isinstance(spec[k], list) else spec[k] for k in keys if k in spec}


def kan_width(spec: dict, window_length: int) -> list[int]:
    """The width list ``[21 L, *hidden, out]`` of a KAN or MLP spec."""
    hidden = spec.get("hidden", DEFAULT_HIDDEN.get(spec.get("type"), DEFAULT_HIDDEN["kan"]))
    return [window_length * A, *hidden, spec.get("out", 1)]


def build(spec: dict[str, Any], window_length: int, seed: int = 0,
          reference: dict[str, Any] | None = None) -> Model:
    """Construct an untrained model from a spec.

    ``{"type": "kan", "hidden": [80], "grid": 5, "k": 3, "grid_range": [-1, 1], "out": 1,
    "first_layer": "table"}``; ``{"type": "mlp", "hidden": [80]}`` or ``{"type": "mlp",
    "match": <kan spec>}`` for the hidden width whose parameter count matches that KAN's;
    ``{"type": "cnn", "channels": 32, "kernel_sizes": [3, 7, 11]}`` (keys :data:`CNN_KEYS`);
    ``{"type": "linear", "C": 1.0}``. Keys a spec leaves out take the model class's defaults
    (``hidden`` and a KAN's ``first_layer``: :data:`DEFAULT_HIDDEN`, the schema; ``spline`` for
    an ``encoding`` other than onehot). Every type takes ``encoding`` (default onehot).

    Examples
    --------
    >>> build({"type": "kan", "hidden": [4]}, window_length=5).width
    [105, 4, 1]
    """
    kind = spec.get("type")
    if kind == "kan":
        encoding = spec.get("encoding", "onehot")
        first = spec.get("first_layer", DEFAULT_FIRST_LAYER if encoding == "onehot" else "spline")
        return KAN(kan_width(spec, window_length), window_length=window_length, seed=seed,
                   first_layer=first, encoding=encoding,
                   **_given(spec, ("grid", "k", "grid_range", "grid_eps")))
    if kind == "mlp":
        match = spec.get("match") or reference
        width = kan_width(spec, window_length)
        if match is not None and "hidden" not in spec:
            ref = build({**match, "type": "kan"}, window_length)
            width[1:-1] = [matched_width(ref.width, ref.grid, ref.k, window_length,
                                         ref.first_layer)]
        return MLP(width, window_length=window_length, seed=seed,
                   **_given(spec, ("activation", "encoding")))
    if kind == "cnn":
        return CNN(window_length, seed=seed, **_given(spec, CNN_KEYS))
    if kind == "linear":
        return LogisticBaseline(seed=seed, **_given(spec, ("C", "class_weight", "max_iter",
                                                           "encoding")))
    raise InputError(f"unknown model type {kind!r} (expected one of {', '.join(MODEL_TYPES)})")


def model_type(model: Model) -> str:
    """The spec type of a model: "kan", "mlp", "cnn" or "linear"."""
    return {KAN: "kan", MLP: "mlp", CNN: "cnn", LogisticBaseline: "linear"}[type(model)]
