"""Models on protein windows: KAN (exact one-hot fast path), MLP, CNN and logistic baselines.

All networks take index windows (N, L) of alphabet indices or dense features (N, L * 21) and
return logits (N, 1) or (N, 2); :func:`positive_logit` turns either into one score per sample.
"""

from __future__ import annotations

from .base import WindowModel, flat_index, onehot_sum, positive_logit
from .cnn import CNN
from .factory import Model, build, kan_n_params, matched_width, mlp_n_params, model_type
from .inference import TableForm, predict_logit, table_form
from .kan import KAN
from .layer import KANLayer
from .linear import LogisticBaseline
from .mlp import MLP

__all__ = [
    "CNN",
    "KAN",
    "KANLayer",
    "MLP",
    "LogisticBaseline",
    "Model",
    "TableForm",
    "WindowModel",
    "build",
    "flat_index",
    "kan_n_params",
    "matched_width",
    "mlp_n_params",
    "model_type",
    "onehot_sum",
    "positive_logit",
    "predict_logit",
    "table_form",
]
