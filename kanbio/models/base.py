"""What every window model shares: the one-hot gather-sum (the first layer of KAN and MLP on
index windows), flat one-hot columns, the input check and the parameter count."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..data.alphabet import A
from ..errors import InputError
from . import kernels
from .encoding import Encoding


# one-hot primitives shared with the MLP
# ----------------------------------------------------------------------------------------------
class OneHotSum(torch.autograd.Function):
    """``out[n] = bias + sum_p table[flat[n, p]]``: a gather-sum forward, a scatter-add backward
    (compiled kernels on the CPU, embedding-bag and index-add elsewhere)."""

    @staticmethod
    def forward(ctx: Any, flat: Tensor, table: Tensor, bias: Tensor | None) -> Tensor:
        # flat (N, L) int64, table (R, H), bias (H,) or None
        ctx.save_for_backward(flat)
        ctx.rows, ctx.has_bias = table.shape[0], bias is not None
        if kernels.enabled(table):
            return kernels.onehot_sum(flat, table, bias)
        out = F.embedding_bag(flat, table, mode="sum")  # (N, H)
        return out if bias is None else out.add_(bias)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[None, Tensor, Tensor | None]:  # grad (N, H)
        (flat,) = ctx.saved_tensors
        gb = grad.sum(0) if ctx.has_bias and ctx.needs_input_grad[2] else None
        return None, gather_sum_grad(flat, grad, ctx.rows), gb


def gather_sum_grad(flat: Tensor, grad: Tensor, rows: int) -> Tensor:
    """Gradient of ``sum_p table[flat[n, p]]`` w.r.t. the table (rows, H) from grad (N, H)."""
    if kernels.enabled(grad):
        return kernels.onehot_grad(flat, grad, rows)
    n, length = flat.shape
    src = grad.unsqueeze(1).expand(n, length, grad.shape[1]).reshape(n * length, -1)
    out = grad.new_zeros(rows, grad.shape[1])  # (R, H)
    return out.index_add_(0, flat.reshape(-1), src)


def onehot_sum(flat: Tensor, table: Tensor, bias: Tensor | None = None) -> Tensor:
    """Multiply one-hot rows by ``table`` without building them.

    Parameters
    ----------
    flat : (N, L) int64 flat one-hot columns ``p * 21 + a`` (see :func:`flat_index`).
    table : (L * 21, H) float.
    bias : optional (H,) added to every row.

    Returns
    -------
    (N, H) tensor, equal to ``onehot(flat) @ table + bias`` in value and gradient.
    """
    return OneHotSum.apply(flat, table, bias)


def flat_index(idx: Tensor, window_length: int) -> Tensor:
    """Validate index windows (N, L) with values 0..20 and return flat columns ``p * 21 + a``."""
    if idx.dim() != 2 or idx.shape[1] != window_length:
        raise InputError(
            f"index windows must have shape (N, {window_length}), got {tuple(idx.shape)}"
        )
    if idx.is_floating_point() or idx.is_complex() or idx.dtype == torch.bool:
        raise InputError(f"index windows must be an integer tensor, got {idx.dtype}")
    if idx.numel() and (int(idx.max()) >= A or (idx.dtype != torch.uint8 and int(idx.min()) < 0)):
        raise InputError(f"index windows must hold alphabet indices 0..{A - 1}")
    offsets = torch.arange(0, window_length * A, A, device=idx.device)  # (L,)
    return idx.long() + offsets  # (N, L)


class WindowModel(nn.Module):
    """What KAN and MLP share: index-or-dense input check, construction from config, size."""

    width: list[int]
    window_length: int | None
    encoding: Encoding
    #: The first layer has position (x feature) groups: :meth:`group_norms` applies.
    has_groups: bool = False

    @staticmethod
    def _check_width(width: Sequence[int], window_length: int | None) -> list[int]:
        """Validate a width list (input width 21·L when ``window_length`` is set)."""
        width = [int(w) for w in width]
        if len(width) < 2 or min(width) < 1:
            raise InputError(f"width needs at least two positive entries, got {width}")
        if window_length is not None and width[0] != window_length * A:
            raise InputError(f"width[0] = {width[0]} but window_length * {A} = {window_length * A}")
        return width

    @staticmethod
    def _check_encoding(name: str, window_length: int | None) -> Encoding:
        """The residue encoding; anything but onehot needs windows (letters to encode)."""
        if name != "onehot" and window_length is None:
            raise InputError(f"encoding {name!r} needs a model built for windows (window_length)")
        return Encoding(name)

    def _layer_width(self, width: Sequence[int]) -> list[int]:
        """Widths of the layers: the first layer reads ``L * d`` encoded features."""
        if self.window_length is None:
            return list(width)
        return [self.window_length * self.encoding.dim, *width[1:]]

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> WindowModel:
        """Build an (untrained) model from :meth:`config`; then ``load_state_dict``."""
        return cls(**cfg)

    def _onehot_mode(self, x: Tensor) -> bool:
        """True for index windows (N, L), False for dense features (N, width[0]); else raise."""
        if x.is_floating_point():
            if x.dim() != 2 or x.shape[1] != self.width[0]:
                raise InputError(
                    f"dense input must have shape (N, {self.width[0]}), got {tuple(x.shape)}"
                )
            return False
        if self.window_length is None:
            raise InputError("integer (index) input needs a model built with window_length")
        return True

    def n_params(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def first_layer_weights(self) -> Tensor:  # pragma: no cover - defined by every model
        """The first layer's weight table (in, H), differentiable: what the L2 penalty acts on."""
        raise NotImplementedError

    def first_layer_parameters(self) -> list[Tensor]:  # pragma: no cover
        """The parameters of the first layer."""
        raise NotImplementedError

    # -- group sparsity over the first layer -------------------------------------------------
    def group_norms(self) -> Tensor:
        """Norms of the first layer's groups, differentiable: (L, 1) one per position for
        onehot (its 21 table rows), (L, d) one per position and feature otherwise (the feature's
        weights, or a KAN's edge values on the 21 letters); what ``train.group_lasso`` sums."""
        if not self.has_groups or self.window_length is None:
            raise InputError(f"{type(self).__name__} on these inputs has no first-layer groups")
        g = self._group_tensor()  # (L, 21 | d, ...) or (L, d, 21, ...)
        if self.encoding.is_onehot:
            return g.flatten(1).norm(dim=1, keepdim=True)
        return g.flatten(2).norm(dim=2)

    def _group_tensor(self) -> Tensor:  # pragma: no cover - defined by KAN and MLP
        raise NotImplementedError

    @torch.no_grad()
    def prune_groups(self, threshold: float) -> Tensor:
        """Remove the first-layer groups whose norm is below ``threshold`` times the largest;
        returns the kept groups (L, 1 | d) as a bool tensor."""
        norms = self.group_norms()
        keep = norms >= threshold * norms.max()
        self._drop_groups(~keep)
        return keep

    def _drop_groups(self, drop: Tensor) -> None:  # pragma: no cover - defined by KAN and MLP
        raise NotImplementedError

    def can_drop_groups(self) -> bool:
        """True where :meth:`prune_groups` removes groups exactly."""
        return self.has_groups and self.window_length is not None

    @torch.no_grad()
    def kept_groups(self) -> Tensor:
        """Groups (L, 1 | d) of the first layer that are not zero (bool)."""
        return self.group_norms() > 0

    def _table_rank(self) -> int:
        """Free table entries per position and hidden unit: ``min(21, d)`` for a first layer
        linear in the d features of a position."""
        return min(A, self.encoding.dim)

    def n_params_effective(self) -> int:
        """Parameters that matter on one-hot windows: at most ``21 L H`` for the first layer (the
        table entries; its H constants are left out, a shift of a position's rows can absorb
        them), ``d L H`` for a linear first layer on d < 21 features per residue, plus every
        later layer's trainable parameters. A KAN's spline first layer has ``G + k + 2``
        parameters per edge but on one-hot input only ``phi(1) - phi(0)`` counts; an MLP's first
        layer is already a table. Dense models (no window length): :meth:`n_params`."""
        if self.window_length is None:
            return self.n_params()
        first = sum(p.numel() for p in self.first_layer_parameters() if p.requires_grad)
        table = self.window_length * self._table_rank() * self.width[1]
        return table + self.n_params() - first



def positive_logit(logits: Tensor) -> Tensor:
    """Log-odds of the positive class (N,) from logits (N, 1) or two-class logits (N, 2)."""
    if logits.dim() != 2 or logits.shape[1] not in (1, 2):
        raise InputError(f"logits must have shape (N, 1) or (N, 2), got {tuple(logits.shape)}")
    return logits[:, 0] if logits.shape[1] == 1 else logits[:, 1] - logits[:, 0]
