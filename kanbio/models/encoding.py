"""A residue encoding inside a model: the fixed matrix ``E`` (21, d) of
:mod:`kanbio.data.residues` that turns a one-hot window (L, 21) into features (L, d).

Models keep one interface for every encoding: index windows (N, L) or dense one-hot rows
(N, L * 21). Their first layer sees the ``L * d`` features ``x[p * d + k] = E[a_p, k]``; on index
windows any first layer that is a function of one position's features becomes a table over the 21
letters of that position, which is how every encoding keeps the one-hot fast path.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..data.alphabet import A
from ..data.residues import ENCODINGS, encoding_matrix, feature_names
from ..errors import InputError


class Encoding(nn.Module):
    """The encoding ``name`` as a (non-persistent) buffer ``matrix`` (21, d).

    Examples
    --------
    >>> enc = Encoding("physchem")
    >>> enc.dim, enc.dense(torch.eye(21)[[11, 3]].reshape(1, 42), 2).shape
    (6, torch.Size([1, 12]))
    """

    matrix: Tensor

    def __init__(self, name: str = "onehot") -> None:
        super().__init__()
        if name not in ENCODINGS:
            raise InputError(f"unknown encoding {name!r} (expected one of {', '.join(ENCODINGS)})")
        self.name = name
        self.register_buffer("matrix", torch.as_tensor(encoding_matrix(name), dtype=torch.float32),
                             persistent=False)

    @property
    def dim(self) -> int:
        """Features per residue, d."""
        return self.matrix.shape[1]

    @property
    def is_onehot(self) -> bool:
        return self.name == "onehot"

    def features(self) -> list[str]:
        """The names of the d features."""
        return feature_names(self.name)

    def dense(self, x: Tensor, length: int) -> Tensor:
        """Dense one-hot rows (N, L * 21) -> features (N, L * d) (the identity for onehot)."""
        if self.is_onehot:
            return x
        return (x.reshape(len(x), length, A) @ self.matrix.to(x)).reshape(len(x), -1)

    def letters(self, idx: Tensor) -> Tensor:
        """Index windows (N, L) -> per-position features (N, L, d)."""
        return torch.nn.functional.embedding(idx.long(), self.matrix)

    def rows(self, w: Tensor, length: int) -> Tensor:
        """A linear first layer on features, ``w`` (L * d, H), as its one-hot table (L * 21, H):
        ``T[p * 21 + a] = sum_k E[a, k] w[p * d + k]`` (``w`` itself for onehot)."""
        if self.is_onehot:
            return w
        t = torch.einsum("ak,lkh->lah", self.matrix.to(w), w.reshape(length, self.dim, -1))
        return t.reshape(length * A, -1)

    def extra_repr(self) -> str:
        return f"{self.name}, d={self.dim}"
