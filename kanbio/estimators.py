"""scikit-learn estimators: :class:`KANClassifier` and :class:`MLPClassifier`.

Binary classifiers with the usual API (``fit / predict / predict_proba / decision_function /
get_params / set_params``; they work with ``clone``, ``Pipeline`` and ``cross_val_score``).
``X`` is either index-encoded windows (an unsigned-integer array (N, L) with values 0..20, e.g.
from :func:`kanbio.data.encode.windows_to_indices`), which uses the exact one-hot fast path, or any
real-valued feature matrix (N, D), which uses the dense path.

Examples
--------
>>> import numpy as np
>>> from kanbio.estimators import KANClassifier
>>> X = np.random.default_rng(0).integers(0, 21, (200, 5)).astype(np.uint8)
>>> y = (X[:, 1] == 14).astype(int)  # P at offset -1
>>> clf = KANClassifier(hidden=(2,), grid=3, epochs=5).fit(X, y)
>>> clf.predict_proba(X).shape
(200, 2)
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import train_test_split
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, validate_data

from kanbio.data.alphabet import A
from kanbio.models.kan import KAN
from kanbio.models.mlp import MLP
from kanbio.train import TrainConfig, fit, predict_logit


class _TorchClassifier(ClassifierMixin, BaseEstimator):
    """Shared fit/predict logic; subclasses build the network."""

    def _build(self, width: list[int], window_length: int | None) -> Any:  # pragma: no cover
        raise NotImplementedError

    def _train_config(self) -> TrainConfig:
        return TrainConfig(optimizer=self.optimizer, lr=self.lr, epochs=self.epochs,
                           batch_size=self.batch_size, balance=self.balance,
                           patience=self.patience if self.validation_fraction else 0,
                           lamb=getattr(self, "lamb", 0.0), l2=self.l2,
                           group_lasso=self.group_lasso, device=self.device,
                           seed=self.random_state, progress=self.verbose)

    def _validate(self, X, reset: bool) -> np.ndarray:
        X = validate_data(self, X, reset=reset, dtype=None, ensure_min_samples=1)
        if not (np.issubdtype(X.dtype, np.unsignedinteger) and X.size and X.max() < A):
            X = np.asarray(X, dtype=np.float32)
        return X

    def fit(self, X, y) -> _TorchClassifier:
        """Fit on windows (N, L) uint8 or features (N, D); ``y`` binary labels of any type."""
        X, y = validate_data(self, X, y, dtype=None)
        if not (np.issubdtype(X.dtype, np.unsignedinteger) and X.size and X.max() < A):
            X = np.asarray(X, dtype=np.float32)
        check_classification_targets(y)
        self.classes_, y01 = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError("Classifier can't train when only one class is present (1 class).")
        if type_of_target(y) != "binary":
            raise ValueError(f"Only binary classification is supported; got {type_of_target(y)} "
                             f"targets with {len(self.classes_)} classes.")
        windows = X.dtype == np.uint8
        length = X.shape[1] if windows else None
        width = [X.shape[1] * A if windows else X.shape[1], *self.hidden, 1]
        self.model_ = self._build(width, length)
        xv = yv = None
        n_val = int(np.ceil(self.validation_fraction * len(y01)))
        if self.validation_fraction and n_val >= 2 and np.bincount(y01).min() >= 4:
            X, xv, y01, yv = train_test_split(X, y01, test_size=self.validation_fraction,
                                              stratify=y01, random_state=self.random_state)
        self.history_ = fit(self.model_, X, y01, xv, yv, self._train_config())
        return self

    def decision_function(self, X) -> np.ndarray:
        """Positive-class log-odds (N,)."""
        check_is_fitted(self)
        return predict_logit(self.model_, self._validate(X, reset=False))

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities (N, 2), columns in ``classes_`` order."""
        p = 1.0 / (1.0 + np.exp(-self.decision_function(X)))
        return np.column_stack([1.0 - p, p])

    def predict(self, X) -> np.ndarray:
        check_is_fitted(self)
        return self.classes_[(self.decision_function(X) >= 0).astype(int)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        tags.non_deterministic = False
        return tags


class KANClassifier(_TorchClassifier):
    """Kolmogorov-Arnold Network classifier (B-spline edges + SiLU base).

    Parameters
    ----------
    hidden : hidden layer widths.
    grid, k, grid_range : B-spline grid intervals, order and initial range.
    first_layer : "table", "spline" or "auto" (table on one-hot index windows, spline on dense
        features or another encoding); see :class:`kanbio.models.kan.KAN`.
    encoding : residue encoding of index windows: "onehot", "blosum62" or "physchem"
        (:mod:`kanbio.data.residues`).
    optimizer, lr, epochs, batch_size, balance, patience, lamb, l2, group_lasso, device : see
        :class:`kanbio.train.TrainConfig`.
    validation_fraction : share of the training data held out for early stopping (0: none).
    random_state : seed of initialisation, shuffling and the validation split.
    verbose : show a progress bar.
    """

    def __init__(self, hidden=(8,), grid=5, k=3, grid_range=(-1.0, 1.0), first_layer="auto",
                 encoding="onehot", optimizer="adam", lr=None, epochs=60, batch_size=256,
                 balance="weight", patience=8, lamb=0.0, l2=0.0, group_lasso=0.0,
                 validation_fraction=0.1, device="cpu", random_state=0, verbose=False):
        self.hidden = hidden
        self.encoding = encoding
        self.group_lasso = group_lasso
        self.grid = grid
        self.k = k
        self.grid_range = grid_range
        self.first_layer = first_layer
        self.optimizer = optimizer
        self.lr = lr
        self.epochs = epochs
        self.batch_size = batch_size
        self.balance = balance
        self.patience = patience
        self.lamb = lamb
        self.l2 = l2
        self.validation_fraction = validation_fraction
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _build(self, width, window_length):
        first, encoding = self.first_layer, self.encoding if window_length else "onehot"
        if first == "auto":
            first = "table" if window_length is not None and encoding == "onehot" else "spline"
        return KAN(width, grid=self.grid, k=self.k, grid_range=tuple(self.grid_range),
                   window_length=window_length, seed=self.random_state, first_layer=first,
                   encoding=encoding)


class MLPClassifier(_TorchClassifier):
    """MLP classifier with the same input conventions and training loop as :class:`KANClassifier`.

    Parameters are those of :class:`KANClassifier` without the spline settings, plus
    ``activation`` (``silu``, ``relu`` or ``tanh``).
    """

    def __init__(self, hidden=(16,), activation="silu", encoding="onehot", optimizer="adam",
                 lr=None, epochs=60, batch_size=256, balance="weight", patience=8, l2=0.0,
                 group_lasso=0.0, validation_fraction=0.1, device="cpu", random_state=0,
                 verbose=False):
        self.hidden = hidden
        self.encoding = encoding
        self.group_lasso = group_lasso
        self.activation = activation
        self.optimizer = optimizer
        self.lr = lr
        self.epochs = epochs
        self.batch_size = batch_size
        self.balance = balance
        self.patience = patience
        self.l2 = l2
        self.validation_fraction = validation_fraction
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _build(self, width, window_length):
        return MLP(width, window_length=window_length, activation=self.activation,
                   seed=self.random_state, encoding=self.encoding if window_length else "onehot")
