"""Convolutional baseline on windows, the field's standard for PTM sites (MusiteDeep,
DeepSuccinylSite): one-hot letters (or a learned embedding) -> parallel 1-D convolutions of a few
widths -> pooling over positions -> dense layers -> logit(s).

The one-hot input of an index window equals the dense one-hot row ``p * 21 + a`` of the same
window, and both go through the same tensors from there on, so the two inputs give identical
outputs. Unlike KAN, MLP and logistic models, a CNN has no first-layer table: attributions use
mutated windows and ``kanbio predict`` uses gradients on the one-hot input.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import pairwise
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..data.alphabet import A
from ..errors import InputError
from .base import WindowModel, flat_index
from .mlp import ACTIVATIONS

POOLS = ("flatten", "max", "maxmean")


class CNN(WindowModel):
    """1-D convolutional network on windows of ``window_length`` letters.

    Parameters
    ----------
    window_length : L; index windows (N, L) or dense one-hot features (N, L * 21).
    channels : filters per kernel width.
    kernel_sizes : one convolution branch per width (zero padding to keep L positions, the
        extra zero of an even width on the right; stride 1), run in parallel on the input and
        concatenated after pooling.
    hidden : widths of the dense layers after pooling (may be empty).
    out : 1 logit (sigmoid) or 2 logits (softmax).
    dropout : drop probability after pooling and after every hidden dense layer (training only).
    pool : ``flatten`` (every position kept, as DeepSuccinylSite: the dense layers see where a
        pattern sits relative to the centre), ``max`` (global max over positions) or
        ``maxmean`` (global max and mean, concatenated). The global pools are
        translation-invariant: they suit motifs anywhere in a sequence more than motifs at fixed
        offsets from a site.
    embedding : None for the encoded letters as the input channels, else the dimension of a
        learned letter embedding (d, E) applied to them first.
    activation : after every convolution and hidden dense layer (see :data:`ACTIVATIONS`).
    encoding : residue encoding (:mod:`kanbio.data.residues`): ``d`` input channels per position
        (21 for onehot).
    seed : seeds the initialisation (uniform ``+-1/sqrt(fan_in)``; embedding standard normal)
        and the model's own dropout stream, so a fit does not depend on torch's global RNG.

    Attributes
    ----------
    width : ``[L * 21, *hidden, out]``: input width (dense one-hot), dense widths, outputs.
    """

    def __init__(
        self,
        window_length: int,
        channels: int = 32,
        kernel_sizes: Sequence[int] = (3, 7, 11),
        hidden: Sequence[int] = (32,),
        out: int = 1,
        dropout: float = 0.5,
        pool: str = "flatten",
        embedding: int | None = None,
        activation: str = "relu",
        seed: int = 0,
        encoding: str = "onehot",
    ) -> None:
        super().__init__()
        self.window_length = int(window_length)
        self.encoding = self._check_encoding(encoding, self.window_length)
        self.channels, self.out = int(channels), int(out)
        self.kernel_sizes = [int(k) for k in kernel_sizes]
        self.hidden = [int(h) for h in hidden]
        self.dropout, self.pool, self.activation = float(dropout), pool, activation
        self.embedding = None if embedding is None else int(embedding)
        self.seed = int(seed)
        self._check()
        self.width = [self.window_length * A, *self.hidden, self.out]
        gen = torch.Generator().manual_seed(self.seed)

        def uniform(fan_in: int, *shape: int) -> nn.Parameter:
            return nn.Parameter((2 * torch.rand(*shape, generator=gen) - 1) / math.sqrt(fan_in))

        in_ch = self.encoding.dim if self.embedding is None else self.embedding
        self.embed = None if self.embedding is None else \
            nn.Parameter(torch.randn(self.encoding.dim, self.embedding, generator=gen))  # (d, E)
        self.conv_weights = nn.ParameterList(
            uniform(in_ch * k, self.channels, in_ch, k) for k in self.kernel_sizes)  # (C, in, k)
        self.conv_biases = nn.ParameterList(
            uniform(in_ch * k, self.channels) for k in self.kernel_sizes)  # (C,)
        dims = [self.pooled_width(), *self.hidden, self.out]
        self.weights = nn.ParameterList(uniform(i, i, o) for i, o in pairwise(dims))
        self.biases = nn.ParameterList(uniform(i, o) for i, o in pairwise(dims))
        self._dropout_seed = self.seed + 1  # a stream of its own, apart from the initialisation
        self._dropout_gens: dict[str, torch.Generator] = {}

    def _check(self) -> None:
        if self.window_length < 1 or self.channels < 1 or self.out not in (1, 2):
            raise InputError(f"CNN needs window_length >= 1, channels >= 1 and out 1 or 2, got "
                             f"{self.window_length}, {self.channels}, {self.out}")
        if not self.kernel_sizes or min(self.kernel_sizes) < 1 or \
                (self.hidden and min(self.hidden) < 1):
            raise InputError(f"kernel_sizes must be a non-empty list of positive widths and hidden "
                             f"positive, got {self.kernel_sizes}, {self.hidden}")
        if not 0.0 <= self.dropout < 1.0:
            raise InputError(f"dropout must lie in [0, 1), got {self.dropout}")
        if self.pool not in POOLS:
            raise InputError(f"unknown pool {self.pool!r}; choose from {', '.join(POOLS)}")
        if self.embedding is not None and self.embedding < 1:
            raise InputError(f"embedding must be a positive dimension or None, got "
                             f"{self.embedding}")
        if self.activation not in ACTIVATIONS:
            raise InputError(f"unknown activation {self.activation!r}; choose from "
                             f"{sorted(ACTIVATIONS)}")

    def pooled_width(self) -> int:
        """Features after pooling: branches x channels x (1, 2 or L)."""
        per = {"max": 1, "maxmean": 2, "flatten": self.window_length}[self.pool]
        return len(self.kernel_sizes) * self.channels * per

    def config(self) -> dict[str, Any]:
        """JSON-able constructor arguments."""
        return {"window_length": self.window_length, "channels": self.channels,
                "kernel_sizes": list(self.kernel_sizes), "hidden": list(self.hidden),
                "out": self.out, "dropout": self.dropout, "pool": self.pool,
                "embedding": self.embedding, "activation": self.activation, "seed": self.seed,
                "encoding": self.encoding.name}

    # ------------------------------------------------------------------------------ forward
    def letters(self, x: Tensor) -> Tensor:
        """Input channels (N, d or E, L) of index windows (N, L) or dense one-hot (N, L * 21)."""
        dtype = self.conv_weights[0].dtype
        enc = self.encoding
        if self._onehot_mode(x):
            flat_index(x, self.window_length)  # validates shape and letters
            idx = x.long()
            if self.embed is not None and enc.is_onehot:
                h = F.embedding(idx, self.embed)  # (N, L, E)
            else:
                h = F.one_hot(idx, A).to(dtype) if enc.is_onehot else \
                    enc.letters(idx).to(dtype)  # (N, L, d)
                h = h if self.embed is None else h @ self.embed
        else:
            h = x.to(dtype).reshape(len(x), self.window_length, A)  # row p * 21 + a -> [p, a]
            h = h if enc.is_onehot else h @ enc.matrix.to(dtype)  # (N, L, d)
            if self.embed is not None:
                h = h @ self.embed  # (N, L, E): one non-zero term per row for onehot, exact
        return h.transpose(1, 2).contiguous()

    def forward(self, x: Tensor) -> Tensor:
        """Logits (N, out) from index windows (N, L) or dense one-hot features (N, L * 21)."""
        h = self.letters(x)  # (N, ch, L)
        act = ACTIVATIONS[self.activation]
        parts = []
        for w, b, k in zip(self.conv_weights, self.conv_biases, self.kernel_sizes, strict=True):
            if k % 2:
                c = F.conv1d(h, w, b, padding=k // 2)
            else:  # "same" length: one more zero on the right
                c = F.conv1d(F.pad(h, ((k - 1) // 2, k // 2)), w, b)
            c = act(c)  # (N, C, L)
            if self.pool == "flatten":
                parts.append(c.flatten(1))
            else:
                parts.append(c.amax(2))
                if self.pool == "maxmean":
                    parts.append(c.mean(2))
        z = torch.cat(parts, 1)  # (N, pooled_width)
        n_dense = len(self.weights)
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            z = torch.addmm(b, self._drop(z), w)
            if i < n_dense - 1:
                z = act(z)
        return z

    def _drop(self, z: Tensor) -> Tensor:
        """Inverted dropout from the model's own generator (one per device), in training only."""
        if not self.training or self.dropout == 0.0:
            return z
        key = str(z.device)
        if key not in self._dropout_gens:
            self._dropout_gens[key] = torch.Generator(device=z.device).manual_seed(
                self._dropout_seed)
        keep = torch.rand(z.shape, generator=self._dropout_gens[key], device=z.device) \
            >= self.dropout
        return z * keep.to(z.dtype) / (1.0 - self.dropout)

    def first_layer_parameters(self) -> list[Tensor]:
        """The letter embedding (if any) and the convolution filters with their biases."""
        return [*([] if self.embed is None else [self.embed]), *self.conv_weights,
                *self.conv_biases]

    def first_layer_weights(self) -> Tensor:
        """The convolution filters, flattened: what the L2 penalty (``train.l2``) acts on."""
        return torch.cat([w.reshape(-1) for w in self.conv_weights])

    def n_params_effective(self) -> int:
        """Every trainable parameter: convolutions have no redundant directions on one-hot
        input (a CNN's first layer is not a position table)."""
        return self.n_params()

    def flops(self, input: str = "onehot") -> int:
        """Forward FLOPs per sample, the convention of :meth:`MLP.flops`: a convolution on
        one-hot letters costs ``k + 1`` per output (k weight rows summed, plus the bias), on
        dense or embedded channels ``2 ch k + 1``; an embedding on dense input ``2 * 21 E`` per
        position; an activation 4 per unit; pooling 1 per input per statistic; a dense layer
        ``2 in out + out``."""
        if input not in ("onehot", "dense"):
            raise InputError(f"input must be 'onehot' or 'dense', got {input!r}")
        length, c = self.window_length, self.channels
        in_ch = self.encoding.dim if self.embed is None else self.embedding
        total = 0
        if self.embed is not None and input == "dense":
            total += 2 * A * self.embedding * length
        for k in self.kernel_sizes:
            sparse = input == "onehot" and self.embed is None and self.encoding.is_onehot
            per = k + 1 if sparse else 2 * in_ch * k + 1
            total += length * c * (per + 4)
        total += {"max": 1, "maxmean": 2, "flatten": 0}[self.pool] * len(self.kernel_sizes) \
            * c * length
        dims = [self.pooled_width(), *self.hidden, self.out]
        total += sum(2 * i * o + o for i, o in pairwise(dims))
        return total + 4 * sum(self.hidden)
