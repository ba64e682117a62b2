"""Multi-layer perceptron baseline with the same one-hot first layer primitive as the KAN."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from itertools import islice, pairwise
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..data.alphabet import A
from ..errors import InputError
from .base import WindowModel, flat_index, onehot_sum

ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "silu": F.silu,
    "relu": F.relu,
    "gelu": F.gelu,
    "tanh": torch.tanh,
}


class MLP(WindowModel):
    """Fully connected network; index windows (N, L) take a gather-sum first layer.

    Parameters
    ----------
    width : nodes per layer, e.g. ``[33 * 21, 64, 1]`` (same meaning as for :class:`KAN`).
    window_length : L for one-hot windows; then ``width[0] == L * 21``.
    activation : "silu", "relu", "gelu" or "tanh", applied after every layer but the last.
    seed : seed of the local generator; weights and biases ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    encoding : residue encoding read by the first layer (:mod:`kanbio.data.residues`); the input
        stays index windows or dense one-hot rows.

    Attributes
    ----------
    weights : per layer (in, out); ``weights[0]`` is (L * d, H), row ``p * d + k`` feature k at
        position p (for onehot: row ``p * 21 + a``, residue a at position p).
    biases : per layer (out,).
    """

    def __init__(
        self,
        width: Sequence[int],
        window_length: int | None = None,
        activation: str = "silu",
        seed: int = 0,
        encoding: str = "onehot",
    ) -> None:
        super().__init__()
        width = self._check_width(width, window_length)
        self.encoding = self._check_encoding(encoding, window_length)
        if activation not in ACTIVATIONS:
            raise InputError(
                f"unknown activation {activation!r}; choose from {sorted(ACTIVATIONS)}"
            )
        self.width, self.window_length = width, window_length
        self.activation, self.seed = activation, int(seed)
        gen = torch.Generator().manual_seed(self.seed)

        def uniform(fan_in: int, *shape: int) -> nn.Parameter:
            return nn.Parameter((2 * torch.rand(*shape, generator=gen) - 1) / math.sqrt(fan_in))

        pairs = list(pairwise(self._layer_width(width)))
        self.weights = nn.ParameterList(uniform(i, i, o) for i, o in pairs)  # (in, out) each
        self.biases = nn.ParameterList(uniform(i, o) for i, o in pairs)  # (out,) each

    def config(self) -> dict[str, Any]:
        """JSON-able constructor arguments."""
        return {
            "width": list(self.width),
            "window_length": self.window_length,
            "activation": self.activation,
            "seed": self.seed,
            "encoding": self.encoding.name,
        }

    def forward(self, x: Tensor) -> Tensor:
        """Logits (N, width[-1]) from index windows (N, L) or dense features (N, width[0])."""
        if not self._onehot_mode(x):
            x = self.encoding.dense(x, self.window_length) if self.window_length else x
            h = torch.addmm(self.biases[0], x, self.weights[0])  # (N, H)
        else:
            flat = flat_index(x, self.window_length)  # (N, L)
            h = onehot_sum(flat, self._table(), self.biases[0])  # (N, H)
        act = ACTIVATIONS[self.activation]
        rest = zip(islice(self.weights, 1, None), islice(self.biases, 1, None), strict=True)
        for w, b in rest:  # (slicing a ParameterList builds a new one)
            h = torch.addmm(b, act(h), w)  # (N, out)
        return h

    def _table(self) -> Tensor:
        return self.encoding.rows(self.weights[0], self.window_length) \
            if self.window_length else self.weights[0]

    def first_layer_weights(self) -> Tensor:
        """The first weight matrix (L * d, H): on one-hot windows, the first-layer table."""
        return self.weights[0]

    has_groups = True

    def _group_tensor(self) -> Tensor:
        """(L, 21 | d, H): the first weights of each position (and feature)."""
        return self.weights[0].reshape(self.window_length, self.encoding.dim, -1)

    def _drop_groups(self, drop: Tensor) -> None:
        w = self.weights[0].data.view(self.window_length, self.encoding.dim, -1)
        w.mul_((~drop).to(w).unsqueeze(-1))  # (L, 1 | d, 1): broadcasts over features for onehot

    @torch.no_grad()
    def first_layer_table(self) -> tuple[Tensor, Tensor]:
        """The first layer on one-hot windows: table (L, 21, H) and bias (H,)."""
        if self.window_length is None:
            raise InputError("first_layer_table needs a model built with window_length")
        return self._table().detach().reshape(self.window_length, A, -1), \
            self.biases[0].detach()

    def first_layer_parameters(self) -> list[Tensor]:
        return [self.weights[0], self.biases[0]]

    def flops(self, input: str = "onehot") -> int:
        """Forward FLOPs per sample, same convention as :meth:`KAN.flops`: a dense layer costs
        ``2 in out + out`` (multiply-adds and bias), an activation 4 per unit, the one-hot first
        layer ``(L + 1) H`` (sum of L weight rows plus the bias)."""
        if input not in ("onehot", "dense"):
            raise InputError(f"input must be 'onehot' or 'dense', got {input!r}")
        if input == "onehot" and self.window_length is None:
            raise InputError("onehot FLOPs need a model built with window_length")
        w = self.width
        first = (self.window_length + 1) * w[1] if input == "onehot" else \
            2 * self.weights[0].shape[0] * w[1] + w[1]
        return first + sum(4 * i + 2 * i * o + o for i, o in pairwise(w[1:]))
