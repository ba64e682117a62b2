"""Models on protein windows: KAN (exact one-hot fast path), MLP and logistic baselines.

All networks take index windows (N, L) of alphabet indices or dense features (N, L * 21) and
return logits (N, 1) or (N, 2); :func:`positive_logit` turns either into one score per sample.
"""

from __future__ import annotations

from torch import Tensor

from ..errors import InputError
from .kan import KAN, KANLayer, flat_index, onehot_sum
from .linear import LogisticBaseline
from .mlp import MLP, kan_n_params, matched_width, mlp_n_params

__all__ = [
    "KAN",
    "KANLayer",
    "MLP",
    "LogisticBaseline",
    "flat_index",
    "kan_n_params",
    "matched_width",
    "mlp_n_params",
    "onehot_sum",
    "positive_logit",
]


def positive_logit(logits: Tensor) -> Tensor:
    """Log-odds of the positive class (N,) from logits (N, 1) or two-class logits (N, 2)."""
    if logits.dim() != 2 or logits.shape[1] not in (1, 2):
        raise InputError(f"logits must have shape (N, 1) or (N, 2), got {tuple(logits.shape)}")
    return logits[:, 0] if logits.shape[1] == 1 else logits[:, 1] - logits[:, 0]
