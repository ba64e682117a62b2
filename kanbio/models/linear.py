"""Logistic regression on encoded windows (one-hot by default): the floor every model must beat."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..data.alphabet import A
from ..data.residues import ENCODINGS, encoding_matrix
from ..errors import InputError


def _check_windows(idx: np.ndarray, window_length: int | None = None) -> np.ndarray:
    """Index windows (N, L) of alphabet indices, else an InputError."""
    idx = np.asarray(idx)
    if idx.ndim != 2 or (window_length is not None and idx.shape[1] != window_length):
        raise InputError(
            f"index windows must have shape (N, {window_length or 'L'}), got {idx.shape}"
        )
    if not np.issubdtype(idx.dtype, np.integer):
        raise InputError(f"index windows must be integers, got {idx.dtype}")
    if idx.size and (idx.min() < 0 or idx.max() >= A):
        raise InputError(f"index windows must hold alphabet indices 0..{A - 1}")
    return idx


def onehot_csr(idx: np.ndarray, window_length: int | None = None) -> Any:
    """Sparse one-hot matrix (N, L * 21) from index windows (N, L); column ``p * 21 + a``."""
    idx = _check_windows(idx, window_length)
    n, length = idx.shape
    cols = (idx.astype(np.int64) + A * np.arange(length)).ravel()  # (N * L,)
    data = np.ones(n * length, dtype=np.float64)
    import scipy.sparse as sp  # imported on use: keeps `import kanbio` light

    return sp.csr_matrix((data, cols, np.arange(0, n * length + 1, length)), shape=(n, length * A))


def encoded_features(idx: np.ndarray, encoding: str, window_length: int | None = None) -> Any:
    """Features of index windows (N, L): the sparse one-hot matrix for onehot, else the dense
    (N, L * d) matrix with column ``p * d + k`` feature k of the residue at position p."""
    if encoding == "onehot":
        return onehot_csr(idx, window_length)
    idx = _check_windows(idx, window_length)
    return encoding_matrix(encoding)[idx.astype(np.intp)].reshape(len(idx), -1)


class LogisticBaseline:
    """L2-regularised logistic regression on encoded windows (scikit-learn underneath).

    Parameters
    ----------
    C : inverse regularisation strength.
    class_weight : "balanced" or None.
    max_iter : iteration cap of the solver.
    seed : random state of the solver.
    encoding : residue encoding (:mod:`kanbio.data.residues`) of the features.

    Attributes
    ----------
    coef_ : (L * d,) weights, column ``p * d + k`` (onehot: ``p * 21 + a``).
    intercept_ : float.
    window_length_ : L seen in :meth:`fit`.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> idx = rng.integers(0, 21, size=(200, 5), dtype=np.uint8)
    >>> y = (idx[:, 2] == 0).astype(int) | (rng.random(200) < 0.1)
    >>> LogisticBaseline().fit(idx, y).decision_function(idx).shape
    (200,)
    """

    def __init__(
        self,
        C: float = 1.0,
        class_weight: str | None = "balanced",
        max_iter: int = 1000,
        seed: int = 0,
        encoding: str = "onehot",
    ) -> None:
        if encoding not in ENCODINGS:
            raise InputError(f"unknown encoding {encoding!r} (expected one of "
                             f"{', '.join(ENCODINGS)})")
        self.encoding = encoding
        self.C = C
        self.class_weight = class_weight
        self.max_iter = max_iter
        self.seed = seed

    def get_params(self) -> dict[str, Any]:
        """Constructor arguments."""
        return {
            "C": self.C,
            "class_weight": self.class_weight,
            "max_iter": self.max_iter,
            "seed": self.seed,
            "encoding": self.encoding,
        }

    def fit(self, idx: np.ndarray, y: np.ndarray) -> LogisticBaseline:
        """Fit on index windows (N, L) and binary labels (N,); returns ``self``."""
        x = encoded_features(idx, self.encoding)
        y = np.asarray(y).ravel()
        if y.shape[0] != x.shape[0]:
            raise InputError(f"{x.shape[0]} windows but {y.shape[0]} labels")
        if not np.isin(y, (0, 1)).all() or np.unique(y).size != 2:
            raise InputError("labels must be 0/1 with both classes present")
        from sklearn.linear_model import LogisticRegression

        clf = LogisticRegression(
            C=self.C,
            class_weight=self.class_weight,
            max_iter=self.max_iter,
            random_state=self.seed,
        ).fit(x, y.astype(np.int64))
        self.coef_ = clf.coef_.ravel().astype(np.float64)  # (L * 21,)
        self.intercept_ = float(clf.intercept_[0])
        self.window_length_ = idx.shape[1]
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "coef_"):
            raise RuntimeError("LogisticBaseline is not fitted yet")

    def decision_function(self, idx: np.ndarray) -> np.ndarray:
        """Log-odds of the positive class (N,)."""
        self._check_fitted()
        return encoded_features(idx, self.encoding, self.window_length_) @ self.coef_ \
            + self.intercept_

    def table(self) -> np.ndarray:
        """The weights as a one-hot table (L, 21): ``W[p, a] = sum_k E[a, k] coef[p * d + k]``."""
        self._check_fitted()
        e = encoding_matrix(self.encoding)  # (21, d)
        return self.coef_.reshape(self.window_length_, e.shape[1]) @ e.T

    def predict_proba(self, idx: np.ndarray) -> np.ndarray:
        """Class probabilities (N, 2), columns (negative, positive)."""
        p = 1.0 / (1.0 + np.exp(-self.decision_function(idx)))  # (N,)
        return np.stack([1.0 - p, p], axis=1)

    def n_params(self) -> int:
        """Weights plus intercept."""
        self._check_fitted()
        return self.coef_.size + 1

    def n_params_effective(self) -> int:
        """The weights, at most ``21 L`` (the intercept left out, as for the networks)."""
        self._check_fitted()
        return min(self.coef_.size, self.window_length_ * A)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able state: parameters, weights and intercept (no pickle)."""
        self._check_fitted()
        return {
            "params": self.get_params(),
            "window_length": self.window_length_,
            "coef": self.coef_.tolist(),
            "intercept": self.intercept_,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LogisticBaseline:
        """Inverse of :meth:`to_dict`."""
        model = cls(**d["params"])
        model.window_length_ = int(d["window_length"])
        model.coef_ = np.asarray(d["coef"], dtype=np.float64)
        model.intercept_ = float(d["intercept"])
        dim = encoding_matrix(model.encoding).shape[1]
        if model.coef_.shape != (model.window_length_ * dim,):
            raise InputError(f"coef length does not match window_length * {dim}", record="coef")
        return model
