"""Kolmogorov-Arnold Network (KAN) with an exact one-hot fast path for the first layer.

Every edge of a :class:`KANLayer` carries ``phi(x) = w_b * b(x) + w_s * sum_i c_i B_i(x)`` with
``b = silu`` and B-splines ``B_i`` of order ``k`` on a grid of ``G`` intervals extended by ``k``
knots on each side (``G + k`` bases); a node sums its incoming edges (Liu et al. 2024, the
vocabulary of pykan: ``width``, ``grid``, ``k``, ``grid_eps``, ``update_grid``, ``refine``,
``prune``).

One-hot collapse: on one-hot windows every first-layer edge only sees ``x in {0, 1}``, so with
``Delta = phi(1) - phi(0)`` a first-layer node is ``h_j = sum_{p,a} phi_{j,p,a}(0) +
sum_p Delta_{j,p,a_p}``. :class:`KAN` rebuilds the table ``T[p, a, j] = Delta_{j,p,a}`` (linear in
the spline coefficients) from the parameters on every forward pass and applies it to the index
batch with a gather-sum, which is the dense KAN forward pass exactly, gradients included, at the
cost of an embedding lookup. Hidden layers see continuous inputs; on a uniform grid (the initial
one, and after ``refine``) they evaluate only the ``k + 1`` nonzero B-splines per input, as one
polynomial per grid interval (:class:`_LocalKANLayerFn`); adapted (non-uniform) grids use the
Cox-de Boor recursion over all ``G + k`` bases (:class:`_KANLayerFn`). Both are exact.

On the CPU the same arithmetic runs through compiled kernels (:mod:`kanbio.models.kernels`):
:class:`_CompiledLocalKANLayerFn` for a layer on a uniform grid, and :class:`_CompiledKANFn`
for a whole KAN on index windows as one autograd node. The tensor classes above are the
reference (tests compare them) and the path on GPUs.

Shapes: ``N`` samples, ``L`` window length, ``A = 21`` letters, ``nb = G + k`` bases per edge.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from fractions import Fraction
from itertools import islice, pairwise
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..alphabet import A
from ..errors import InputError
from . import kernels

BASE_FUNS: dict[str, Callable[[Tensor], Tensor]] = {
    "silu": F.silu,
    "identity": lambda x: x,
    "zero": torch.zeros_like,
}


# ----------------------------------------------------------------------------------------------
# one-hot primitives shared with the MLP
# ----------------------------------------------------------------------------------------------
class _OneHotSum(torch.autograd.Function):
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
        return None, _gather_sum_grad(flat, grad, ctx.rows), gb


def _gather_sum_grad(flat: Tensor, grad: Tensor, rows: int) -> Tensor:
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
    return _OneHotSum.apply(flat, table, bias)


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


def _cox_de_boor(
    xt: Tensor, knots: Tensor, recip: list[Tensor], out: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """B-spline bases in basis-major layout (samples innermost: every step is a contiguous op).

    Parameters
    ----------
    xt : (in, N) inputs, transposed.
    knots : (G + 2k + 1, in, 1).
    recip : k tensors, recip[j-1] (G + 2k + 1 - j, in, 1) = 1 / (t_{i+j} - t_i) (0 if empty).
    out : optional (G + k, in, N) buffer for the result.

    Returns
    -------
    bases of order k (G + k, in, N) and of order k - 1 (G + k + 1, in, N), for the derivative.
    """
    dx = xt - knots  # (G + 2k + 1, in, N): x - t_i
    b = torch.ge(dx, 0, out=torch.empty_like(dx))  # [x >= t_i] as floats (faster than bool)
    prev = b = b[:-1] - b[1:]  # (G + 2k, in, N): order 0, 1 on [t_i, t_{i+1})
    for j, r in enumerate(recip, 1):
        # w_i = (x - t_i) r_i;  B_{i,j} = w_i B_{i,j-1} + (1 - w_{i+1}) B_{i+1,j-1}
        u = (dx[: r.shape[0]] * r).mul_(b)  # (n_{j-1}, in, N): w_i B_{i,j-1}
        if j < len(recip):  # in place: B_{j-1} is not needed any more
            b = u[:-1].add_(b[1:].sub_(u[1:]))  # (n_{j-1} - 1, in, N)
        else:  # keep B_{k-1} for the derivative
            prev, b = b, torch.sub(b[1:], u[1:], out=out).add_(u[:-1])
    if out is not None and not recip:
        b = out.copy_(b)
    return b, prev


def _uniform_pieces(k: int) -> list[list[Fraction]]:
    """Monomial form of the ``k + 1`` B-splines of order ``k`` that are nonzero on one interval of
    a uniform grid: ``B_{j-k+m}(x) = sum_p M[p][m] f^p`` with ``f = (x - t_j) / h in [0, 1)``.

    Exact (rational) Cox-de Boor recursion on the local knots ``0 .. 2k + 1`` at ``x = k + f``.
    """

    def lin(a: int, b: int, poly: list[Fraction], d: int) -> list[Fraction]:  # (a + b f) poly / d
        out = [Fraction(0)] * (len(poly) + 1)
        for p, c in enumerate(poly):
            out[p] += a * c / d
            out[p + 1] += b * c / d
        return out

    bases = [[Fraction(int(m == k))] for m in range(2 * k + 1)]  # order 0 on [m, m + 1)
    for d in range(1, k + 1):
        # B_{m,d} = (x - m) / d * B_{m,d-1} + (m + d + 1 - x) / d * B_{m+1,d-1},  x = k + f
        left = [lin(k - m, 1, bases[m], d) for m in range(2 * k + 1 - d)]
        right = [lin(m + d + 1 - k, -1, bases[m + 1], d) for m in range(2 * k + 1 - d)]
        bases = [[u + v for u, v in zip(a, b, strict=True)] for a, b in zip(left, right,
                                                                              strict=True)]
    return [[bases[m][p] for m in range(k + 1)] for p in range(k + 1)]


def _base_grad(name: str, grad: Tensor, x: Tensor) -> Tensor | None:
    """grad * b'(x) for the residual function ``b`` (None when b' = 0)."""
    if name == "silu":
        return torch.ops.aten.silu_backward(grad, x)
    return grad if name == "identity" else None


class _Knots:
    """Grid-only constants of a layer (rebuilt when the grid buffer changes) and the basis
    evaluation on that grid: Cox-de Boor into a buffer with a spare leading row for the caller,
    and the closed-form derivative ``dB_i/dx = k (B_{i,k-1} r_i - B_{i+1,k-1} r_{i+1})``.
    """

    def __init__(self, grid: Tensor, k: int, base_fun: str) -> None:
        n_in, n_knots = grid.shape  # (in, G + 2k + 1)
        self.k, self.nb = k, n_knots - k - 1
        knots = grid.t().unsqueeze(-1).contiguous()  # (G + 2k + 1, in, 1)
        self.knots, self.recip = knots, []
        for j in range(1, k + 1):  # recip[j-1]: 1 / (t_{i+j} - t_i), 0 for empty spans
            d = knots[j:] - knots[:-j]  # (G + 2k + 1 - j, in, 1)
            self.recip.append(torch.where(d > 0, 1.0 / torch.where(d > 0, d, 1.0), 0.0))
        self.slope = k * self.recip[-1] if k else None  # (G + k + 1, in, 1): k r_i
        x01 = torch.tensor([[0.0, 1.0]], dtype=grid.dtype, device=grid.device)
        b01 = self.rows(x01.expand(n_in, 2))[0][1:]  # (nb, in, 2): B(0), B(1)
        v01 = torch.stack([b01[..., 0], b01[..., 1] - b01[..., 0]])  # (2, nb, in): B(0), dB
        shared = bool((grid == grid[:1]).all())  # same knots for every input: (2, nb) suffices
        self.v01 = v01[..., 0].contiguous() if shared else v01
        f01 = BASE_FUNS[base_fun](x01[0])  # (2,)
        self.f0, self.df = float(f01[0]), float(f01[1] - f01[0])
        self.uniform = self._uniform(grid, k)
        self._kernel_tables: tuple[np.ndarray, tuple[np.ndarray, ...] | None] | None = None
        if self.uniform is not None:
            self.nrow = self.nb + k + 2  # intervals -1 .. G + 2k of the local path
            self._edges: dict[int, Tensor] = {}

    def kernel_tables(self) -> tuple[np.ndarray, tuple[np.ndarray, ...] | None]:
        """Constants for :mod:`kernels`: v01 as (2, nb, in | 1) NumPy, and on uniform grids the
        tables of :func:`kernels.uniform_tables` (else None)."""
        if self._kernel_tables is None:
            v01 = self.v01 if self.v01.dim() == 3 else self.v01.unsqueeze(-1)  # (2, nb, in | 1)
            uniform = None if self.uniform is None else kernels.uniform_tables(*self.uniform,
                                                                               self.k)
            self._kernel_tables = v01.cpu().numpy().copy(), uniform
        return self._kernel_tables

    def edge_index(self, n_in: int, n_out: int) -> Tensor:
        """(in, out) column of each edge in the local path's table, offset by one interval row
        (interval -1 is row 0)."""
        if n_out not in self._edges:
            e = torch.arange(n_in * n_out, device=self.knots.device) + n_in * n_out
            self._edges[n_out] = e.view(n_in, n_out)
        return self._edges[n_out]

    @staticmethod
    def _uniform(grid: Tensor, k: int) -> tuple[Tensor, Tensor, Tensor] | None:
        """For knots equally spaced per input (up to rounding) and k >= 1: ``inv_h`` (in,) and
        ``off`` (in,) with ``u = x inv_h + off = (x - t_0) / h``, and the linear map ``W``
        ((k + 1) nrow, G + k) from the coefficients of an edge to the monomial coefficients of
        its spline on each interval ``j = -1 .. G + 2k`` (row ``p nrow + j + 1``; the two end
        intervals are outside the grid and map to 0); else None (the Cox-de Boor path)."""
        g = grid.double()  # (in, G + 2k + 1)
        h = (g[:, -1] - g[:, 0]) / (g.shape[1] - 1)  # (in,)
        ideal = g[:, :1] + h[:, None] * torch.arange(g.shape[1], dtype=g.dtype, device=g.device)
        # uniform up to rounding in the grid's own precision (float32 knots lo + h i are not
        # exactly equidistant); anything else takes the Cox-de Boor path
        tol = 32 * torch.finfo(grid.dtype).eps * g.abs().amax(1, keepdim=True)  # (in, 1)
        if k < 1 or not bool((h > 0).all()) or bool(((g - ideal).abs() > tol).any()):
            return None
        nb = g.shape[1] - k - 1
        mono = _uniform_pieces(k)  # mono[p][m]: on interval j, basis j - k + m has f^p coef
        w = torch.zeros(k + 1, nb + k + 2, nb, dtype=torch.float64)  # (k + 1, nrow, nb)
        for jj in range(nb + k + 2):  # jj = j + 1
            for m in range(k + 1):
                if 0 <= jj - 1 - k + m < nb:
                    w[:, jj, jj - 1 - k + m] = torch.tensor(
                        [float(r[m]) for r in mono], dtype=w.dtype
                    )
        w = w.view(-1, nb).to(grid.dtype).to(grid.device)  # ((k + 1) nrow, nb)
        return (1 / h).to(grid.dtype), (-g[:, 0] / h).to(grid.dtype), w

    def rows(self, xt: Tensor) -> tuple[Tensor, Tensor]:
        """(in, N) inputs -> feats (1 + nb, in, N) with the bases in feats[1:] (feats[0] is free),
        and the order k - 1 bases (nb + 1, in, N) for :meth:`grad_x`."""
        feats = xt.new_empty(1 + self.nb, *xt.shape)
        _, prev = _cox_de_boor(xt, self.knots, self.recip, out=feats[1:])
        return feats, prev

    def grad_x(self, gbases: Tensor, prev: Tensor) -> Tensor:
        """Gradient w.r.t. the (in, N) inputs from the gradient w.r.t. the bases (nb, in, N)."""
        if self.slope is None:  # piecewise constant
            return gbases.new_zeros(gbases.shape[1:])
        v = prev * self.slope  # (nb + 1, in, N)
        return (v[:-1] - v[1:]).mul_(gbases).sum(0)


class _BSplineBasis(torch.autograd.Function):
    """(N, in) -> bases (G + k, in, N); backward through the closed-form derivative."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, kn: _Knots) -> Tensor:
        feats, prev = kn.rows(x.t().contiguous())
        ctx.prev, ctx.kn = prev, kn
        return feats[1:]  # (G + k, in, N)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, None]:  # (G + k, in, N)
        if not ctx.needs_input_grad[0]:
            return None, None
        return ctx.kn.grad_x(grad, ctx.prev).t(), None  # (N, in)


class _KANLayerFn(torch.autograd.Function):
    """Dense KAN layer with a hand-written backward (one autograd node instead of a dozen: the
    layer is op-count bound). The residual ``b(x)`` rides along as an extra basis row, so
    ``y = [b(x); B(x)]^T [w_b m; c w_s m]`` is a single matrix product."""

    @staticmethod
    def forward(
        ctx: Any,
        x: Tensor,  # (N, in)
        coef: Tensor,  # (nb, in, out)
        scale_base: Tensor,  # (in, out)
        scale_sp: Tensor,  # (in, out)
        mask: Tensor | None,  # (in, out); None when no edge is pruned
        kn: _Knots,
        base_fun: str,
    ) -> Tensor:
        n, (nb, n_in, n_out) = x.shape[0], coef.shape
        xt = x.t().contiguous()  # (in, N)
        feats, prev = kn.rows(xt)  # (1 + nb, in, N): [free; B_0(x) .. B_{nb-1}(x)]
        if base_fun == "zero":
            feats[0].zero_()
        else:
            feats[0].copy_(xt)
            if base_fun == "silu":
                F.silu(feats[0], inplace=True)
        ss = scale_sp if mask is None else scale_sp * mask  # (in, out)
        w = coef.new_empty(nb + 1, n_in, n_out)  # (1 + nb, in, out)
        torch.mul(coef, ss, out=w[1:])
        torch.mul(scale_base, 1.0 if mask is None else mask, out=w[0])
        y = feats.reshape(-1, n).t() @ w.view(-1, n_out)  # (N, out)
        ctx.save_for_backward(xt, coef, mask, feats, prev, ss, w)
        ctx.kn, ctx.base_fun = kn, base_fun
        return y

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor | None, ...]:  # g (N, out)
        xt, coef, mask, feats, prev, ss, w = ctx.saved_tensors
        need = ctx.needs_input_grad
        gx = gc = gb = gs = None
        if any(need[1:4]):
            gw = (feats.reshape(-1, xt.shape[1]) @ g).view(w.shape)  # (1 + nb, in, out)
            gc = gw[1:] * ss if need[1] else None
            gb = gw[0] if mask is None else gw[0] * mask
            gs = (gw[1:] * coef).sum(0)
            gs = gs if mask is None else gs.mul_(mask)
        if need[0]:
            gfeats = (w.view(-1, w.shape[-1]) @ g.t()).view(feats.shape)  # (1 + nb, in, N)
            gbase = _base_grad(ctx.base_fun, gfeats[0], xt)  # (in, N)
            gxt = ctx.kn.grad_x(gfeats[1:], prev)  # (in, N)
            gx = (gxt if gbase is None else gxt.add_(gbase)).t()  # (N, in)
        return gx, gc, gb if need[2] else None, gs if need[3] else None, None, None, None


def _masked(scale_base: Tensor, scale_sp: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor]:
    """(sb, ss): the scales with pruned edges zeroed (the parameters themselves if none is)."""
    if mask is None:
        return scale_base, scale_sp
    return scale_base * mask, scale_sp * mask


def _unmask(gsb: Tensor, gss: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor]:
    """Gradients of the scale parameters from those of the masked scales (in place)."""
    return (gsb, gss) if mask is None else (gsb.mul_(mask), gss.mul_(mask))


# The compiled steps (CPU, :mod:`kernels`) shared by the per-layer autograd functions and the
# whole-network one; ``sb``, ``ss`` are the masked scales.
def _compiled_first(flat: Tensor, coef: Tensor, sb: Tensor, ss: Tensor,
                    kn: _Knots) -> tuple[Tensor, np.ndarray]:
    """First layer on flat one-hot columns: (N, out) and the state of its backward."""
    return kernels.onehot_kan_forward(flat, coef, ss, sb, kn.kernel_tables()[0], kn.f0, kn.df)


def _compiled_first_grad(flat: Tensor, g: Tensor, s01: np.ndarray, ss: Tensor,
                         mask: Tensor | None, kn: _Knots) -> tuple[Tensor, Tensor, Tensor]:
    """Gradients (coef, scale_base, scale_sp) of :func:`_compiled_first`."""
    gc, gss, gsb = kernels.onehot_kan_backward(flat, g, s01, ss, kn.kernel_tables()[0], kn.f0,
                                               kn.df)
    return gc, *_unmask(gsb, gss, mask)


def _compiled_hidden(x: Tensor, coef: Tensor, sb: Tensor, ss: Tensor, kn: _Knots,
                     base_fun: str, grad: bool) -> tuple[Tensor, tuple[np.ndarray, ...]]:
    """Layer on continuous input over a uniform grid: (N, out) and the state of its backward
    (kept only with ``grad``)."""
    sx = torch.sigmoid(x) if base_fun == "silu" else None  # (N, in)
    return kernels.local_forward(x, sx, coef, ss, sb, kn.kernel_tables()[1], base_fun, grad)


def _compiled_hidden_grad(state: tuple[np.ndarray, ...], g: Tensor, coef: Tensor, ss: Tensor,
                          mask: Tensor | None, kn: _Knots,
                          need_x: bool) -> tuple[Tensor | None, Tensor, Tensor, Tensor]:
    """Gradients (x, coef, scale_base, scale_sp) of :func:`_compiled_hidden`."""
    gx, gc, gss, gsb = kernels.local_backward(state, g, coef, ss, kn.kernel_tables()[1][2],
                                              need_x)
    return gx, gc, *_unmask(gsb, gss, mask)


class _CompiledLocalKANLayerFn(torch.autograd.Function):
    """:class:`_LocalKANLayerFn` on the CPU through :mod:`kernels`: the monomial table, the
    evaluation and all gradients in one compiled call each way."""

    @staticmethod
    def forward(
        ctx: Any,
        x: Tensor,  # (N, in)
        coef: Tensor,  # (nb, in, out)
        scale_base: Tensor,  # (in, out)
        scale_sp: Tensor,  # (in, out)
        mask: Tensor | None,  # (in, out); None when no edge is pruned
        kn: _Knots,
        base_fun: str,
    ) -> Tensor:
        sb, ss = _masked(scale_base, scale_sp, mask)
        y, ctx.state = _compiled_hidden(x, coef, sb, ss, kn, base_fun,
                                        any(ctx.needs_input_grad[:4]))
        ctx.save_for_backward(coef, ss, mask)
        ctx.kn = kn
        return y

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, gy: Tensor) -> tuple[Tensor | None, ...]:  # gy (N, out)
        coef, ss, mask = ctx.saved_tensors
        need = ctx.needs_input_grad
        grads = _compiled_hidden_grad(ctx.state, gy, coef, ss, mask, ctx.kn, need[0])
        return *(gr if n else None for gr, n in zip(grads, need, strict=False)), None, None, None


class _LocalKANLayerFn(torch.autograd.Function):
    """Dense KAN layer on a uniform grid, evaluating only the ``k + 1`` nonzero bases per input.

    On interval ``j`` (``u = (x - t_0) / h``, ``j = floor(u)``, ``f = u - j``) an edge spline
    is the polynomial ``sum_p Q[p, j] f^p``, ``Q = W c`` (``W``: see :meth:`_Knots._uniform`).
    The forward gathers ``Q[:, j]`` per (sample, edge) and runs Horner; the backward scatters
    ``f^p`` back onto ``Q`` (then ``W^T``: the coefficients) and differentiates the polynomial
    for ``x``. Outside ``[t_0, t_end)`` the rows of ``Q`` are zero, as are the Cox-de Boor bases
    there. Power-major layout: every elementwise op runs on a contiguous (N, in, out) slab.
    """

    @staticmethod
    def forward(
        ctx: Any,
        x: Tensor,  # (N, in)
        coef: Tensor,  # (nb, in, out)
        scale_base: Tensor,  # (in, out)
        scale_sp: Tensor,  # (in, out)
        mask: Tensor | None,  # (in, out); None when no edge is pruned
        kn: _Knots,
        base_fun: str,
    ) -> Tensor:
        inv_h, off, wmono = kn.uniform  # (in,), (in,), ((k + 1) nrow, nb)
        n, (nb, n_in, n_out), k = x.shape[0], coef.shape, kn.k
        ss = scale_sp if mask is None else scale_sp * mask  # (in, out)
        table = torch.mm(wmono, torch.mul(coef, ss).view(nb, -1))  # ((k+1) nrow, in out)
        u = torch.addcmul(off, x, inv_h)  # (N, in)
        j = u.floor()
        f = u.sub_(j).unsqueeze(-1)  # (N, in, 1): position inside the interval
        rows = j.long().clamp_(-1, kn.nrow - 2).unsqueeze(-1)  # (N, in, 1); -1, G + 2k: outside
        rows = torch.add(kn.edge_index(n_in, n_out), rows, alpha=n_in * n_out)  # (N, in, out)
        g = table.view(k + 1, -1).index_select(1, rows.view(-1)).view(k + 1, n, n_in, n_out)
        gp = g.unbind(0)
        y = gp[k]
        for p in range(k - 1, -1, -1):  # Horner
            y = torch.addcmul(gp[p], y, f)
        y = y.sum(1)  # (N, out)
        sb = bx = None
        if base_fun != "zero":
            sb = scale_base if mask is None else scale_base * mask  # (in, out)
            bx = F.silu(x) if base_fun == "silu" else x  # (N, in)
            y = torch.addmm(y, bx, sb)
        ctx.save_for_backward(x, bx, f, rows, g, coef, ss, sb, mask)
        ctx.kn, ctx.base_fun = kn, base_fun
        return y

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, gy: Tensor) -> tuple[Tensor | None, ...]:  # gy (N, out)
        x, bx, f, rows, g, coef, ss, sb, mask = ctx.saved_tensors
        kn, need = ctx.kn, ctx.needs_input_grad
        n, (nb, n_in, n_out), k = x.shape[0], coef.shape, kn.k
        gx = gc = gb = gs = None
        if need[2]:
            gb = torch.mm(bx.t(), gy) if bx is not None else torch.zeros_like(coef[0])
            gb = gb if mask is None else gb.mul_(mask)  # (in, out)
        if need[1] or need[3]:
            gg = gy.new_empty(k + 1, n, n_in, n_out)  # d y / d Q[p, rows] = f^p gy
            ggp = gg.unbind(0)
            ggp[0].copy_(gy.unsqueeze(1))
            for p in range(1, k + 1):
                torch.mul(ggp[p - 1], f, out=ggp[p])
            gtab = gy.new_zeros(k + 1, kn.nrow * n_in * n_out)
            gtab.index_add_(1, rows.view(-1), gg.view(k + 1, -1))
            gcs = torch.mm(kn.uniform[2].t(), gtab.view(-1, n_in * n_out))  # (nb, in out)
            gcs = gcs.view(nb, n_in, n_out)
            gc = gcs * ss if need[1] else None
            if need[3]:
                gs = torch.mul(gcs, coef).sum(0)
                gs = gs if mask is None else gs.mul_(mask)  # (in, out)
        if need[0]:  # d/du sum_p Q_p f^p = sum_p p Q_p f^(p-1); Horner on s_p = t_p / p
            gp = g.unbind(0)
            d = gp[k]
            for p in range(k - 1, 0, -1):
                d = torch.addcmul(gp[p], d, f, value=(p + 1) / p)
            d = torch.mul(d, gy.unsqueeze(1))  # (N, in, out)
            d = d.squeeze(-1) if n_out == 1 else d.sum(-1)
            gx = d.mul_(kn.uniform[0])  # (N, in)
            if sb is not None:
                gx = gx.add_(_base_grad(ctx.base_fun, torch.mm(gy, sb.t()), x))
        return gx, gc, gb, gs, None, None, None


def _table_forward(
    coef: Tensor, scale_base: Tensor, scale_sp: Tensor, mask: Tensor | None, kn: _Knots
) -> tuple[Tensor, Tensor, tuple[Tensor, Tensor]]:
    """``Delta = phi(1) - phi(0)`` (in, out), ``sum_i phi_i(0)`` (out,) and what the backward
    needs, from coef (nb, in, out) and the (in, out) scales."""
    nb, n_in, n_out = coef.shape
    v01 = kn.v01  # (2, nb) or (2, nb, in): B(0) and B(1) - B(0)
    if v01.dim() == 2:  # one GEMM when every input has the same knots
        s = torch.mm(v01, coef.view(nb, -1)).view(2, n_in, n_out)  # spline at 0, change 0 -> 1
    else:
        s = torch.einsum("cbi,bio->cio", v01, coef)
    ss = scale_sp if mask is None else scale_sp * mask  # (in, out)
    v0, delta = torch.mul(s, ss).unbind(0)  # spline part of phi(0) and of Delta
    if mask is None:
        delta.add_(scale_base, alpha=kn.df)
    else:
        delta.addcmul_(scale_base, mask, value=kn.df)
    const = v0.sum(0)  # (out,)
    if kn.f0:
        sb = scale_base if mask is None else scale_base * mask
        const.add_(sb.sum(0), alpha=kn.f0)
    return delta, const, (s, ss)


def _table_backward(
    saved: tuple[Tensor, Tensor], mask: Tensor | None, kn: _Knots, gd: Tensor, gk: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """Gradients (coef, scale_base, scale_sp) from those of Delta (in, out) and the constant."""
    s, ss = saved
    n_in, n_out = ss.shape
    g2 = torch.stack((gk.expand_as(gd), gd))  # (2, in, out): gradient of the spline sums / ss
    gs = torch.mul(g2, ss)  # (2, in, out)
    if kn.v01.dim() == 2:
        gcoef = torch.mm(kn.v01.t(), gs.view(2, -1)).view(-1, n_in, n_out)  # (nb, in, out)
    else:
        gcoef = torch.einsum("cbi,cio->bio", kn.v01, gs)
    gsp = torch.mul(g2, s).sum(0)  # (in, out)
    gsb = gd * kn.df if not kn.f0 else torch.add(gd * kn.df, gk, alpha=kn.f0).expand_as(gd)
    if mask is not None:
        gsp, gsb = gsp.mul_(mask), gsb * mask
    return gcoef, gsb, gsp


class _OneHotTable(torch.autograd.Function):
    """First layer on one-hot input: ``Delta = phi(1) - phi(0)`` (in, out) and ``sum_i phi_i(0)``
    (out,) from the spline parameters, with a hand-written backward."""

    @staticmethod
    def forward(
        ctx: Any,
        coef: Tensor,  # (nb, in, out)
        scale_base: Tensor,  # (in, out)
        scale_sp: Tensor,  # (in, out)
        mask: Tensor | None,  # (in, out); None when no edge is pruned
        kn: _Knots,
    ) -> tuple[Tensor, Tensor]:
        delta, const, saved = _table_forward(coef, scale_base, scale_sp, mask, kn)
        ctx.save_for_backward(*saved, mask)
        ctx.kn = kn
        return delta, const

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, gd: Tensor, gk: Tensor) -> tuple[Tensor | None, ...]:
        # gd (in, out) for Delta, gk (out,) for the constant
        s, ss, mask = ctx.saved_tensors
        return *_table_backward((s, ss), mask, ctx.kn, gd, gk), None, None


class _OneHotKANLayerFn(torch.autograd.Function):
    """The first layer on one-hot windows in one autograd node: the table ``Delta`` and the
    constant from the parameters, then ``const + sum_p Delta[flat[n, p]]``."""

    @staticmethod
    def forward(
        ctx: Any,
        flat: Tensor,  # (N, L) int64 flat one-hot columns
        coef: Tensor,  # (nb, in, out)
        scale_base: Tensor,  # (in, out)
        scale_sp: Tensor,  # (in, out)
        mask: Tensor | None,  # (in, out); None when no edge is pruned
        kn: _Knots,
    ) -> Tensor:
        ctx.kn, ctx.compiled = kn, kernels.enabled(coef)
        if ctx.compiled:
            sb, ss = _masked(scale_base, scale_sp, mask)
            out, ctx.s01 = _compiled_first(flat, coef, sb, ss, kn)
            ctx.save_for_backward(flat, ss, mask)
            return out  # (N, out)
        delta, const, saved = _table_forward(coef, scale_base, scale_sp, mask, kn)
        ctx.save_for_backward(flat, *saved, mask)
        return F.embedding_bag(flat, delta, mode="sum").add_(const)  # (N, out)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor | None, ...]:  # g (N, out)
        kn = ctx.kn
        if ctx.compiled:
            flat, ss, mask = ctx.saved_tensors
            return None, *_compiled_first_grad(flat, g, ctx.s01, ss, mask, kn), None, None
        flat, s, ss, mask = ctx.saved_tensors
        gd = _gather_sum_grad(flat, g, ss.shape[0])  # (in, out)
        return None, *_table_backward((s, ss), mask, kn, gd, g.sum(0)), None, None


class _CompiledKANFn(torch.autograd.Function):
    """The whole KAN on one-hot windows on the CPU in one autograd node: the first layer and
    every hidden layer (uniform grids) through :mod:`kernels`, activations passed between them
    as arrays. Same arithmetic as :class:`_OneHotKANLayerFn` followed by
    :class:`_CompiledLocalKANLayerFn` per layer; one node instead of one per layer."""

    @staticmethod
    def forward(ctx: Any, flat: Tensor, plan: tuple[tuple[_Knots, Tensor | None, str], ...],
                *params: Tensor) -> Tensor:
        # plan: (knots, mask, base_fun) per layer; params: coef, scale_base, scale_sp per layer
        grad = any(ctx.needs_input_grad[2:])
        saved: list[Tensor] = []
        ctx.states = []
        h = flat
        for i, (kn, mask, base_fun) in enumerate(plan):
            coef, scale_base, scale_sp = params[3 * i : 3 * i + 3]
            sb, ss = _masked(scale_base, scale_sp, mask)
            if i == 0:
                h, ctx.s01 = _compiled_first(flat, coef, sb, ss, kn)
            else:
                h, state = _compiled_hidden(h, coef, sb, ss, kn, base_fun, grad)
                ctx.states.append(state)
            saved += [coef, ss]
        ctx.save_for_backward(flat, *saved)
        ctx.plan = plan
        return h

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor | None, ...]:  # g (N, out)
        flat, *saved = ctx.saved_tensors
        grads: list[Tensor] = []
        for i in range(len(ctx.plan) - 1, -1, -1):
            coef, ss = saved[2 * i], saved[2 * i + 1]
            kn, mask, _ = ctx.plan[i]
            if i > 0:
                g, *layer_grads = _compiled_hidden_grad(ctx.states[i - 1], g, coef, ss, mask, kn,
                                                        True)
            else:
                layer_grads = _compiled_first_grad(flat, g, ctx.s01, ss, mask, kn)
            grads = [*layer_grads, *grads]
        need = ctx.needs_input_grad[2:]
        return None, None, *(gr if n else None for gr, n in zip(grads, need, strict=True))


# ----------------------------------------------------------------------------------------------
# layer
# ----------------------------------------------------------------------------------------------
class KANLayer(nn.Module):
    """One KAN layer: ``in_dim * out_dim`` learnable edge functions, nodes sum their edges.

    Parameters
    ----------
    in_dim, out_dim : number of input and output nodes.
    grid : number of grid intervals ``G``.
    k : spline order (3 = cubic).
    grid_range : initial (uniform) grid range.
    grid_eps : weight of the uniform grid in :meth:`update_grid` (1 - weight of the quantile grid).
    base_fun : name of the residual function ``b`` ("silu", "identity" or "zero").
    scale_noise : coefficients start uniform in ``[-1/2, 1/2] * scale_noise / G``.
    scale_base_mu, scale_base_sigma : ``w_b = mu / sqrt(in) + sigma * U(-1, 1) / sqrt(in)``.
    scale_sp : initial ``w_s``.
    generator : random source for the initialisation.

    Attributes
    ----------
    coef : (G + k, in, out) spline coefficients ``c`` (basis-major, unlike pykan's layout).
    scale_base, scale_sp : (in, out) ``w_b`` and ``w_s``.
    grid : (in, G + 2k + 1) knots per input (buffer).
    mask : (in, out) 1 for live edges, 0 for pruned ones (buffer).
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        grid: int = 5,
        k: int = 3,
        grid_range: Sequence[float] = (-1.0, 1.0),
        grid_eps: float = 0.02,
        base_fun: str = "silu",
        scale_noise: float = 0.3,
        scale_base_mu: float = 0.0,
        scale_base_sigma: float = 1.0,
        scale_sp: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        lo, hi = float(grid_range[0]), float(grid_range[1])
        if grid < 1 or k < 0 or not lo < hi or not 0.0 <= grid_eps <= 1.0:
            raise InputError(
                f"invalid KAN layer settings: grid={grid}, k={k}, grid_range={tuple(grid_range)}, "
                f"grid_eps={grid_eps}"
            )
        if base_fun not in BASE_FUNS:
            raise InputError(f"unknown base_fun {base_fun!r}; choose from {sorted(BASE_FUNS)}")
        self.in_dim, self.out_dim, self.G, self.k = in_dim, out_dim, grid, k
        self.grid_eps, self.base_fun = grid_eps, base_fun
        h = (hi - lo) / grid
        knots = lo + h * torch.arange(-k, grid + k + 1, dtype=torch.float32)  # (G + 2k + 1,)
        self.register_buffer("grid", knots.expand(in_dim, -1).contiguous())  # (in, G + 2k + 1)
        self.register_buffer("mask", torch.ones(in_dim, out_dim))  # (in, out)

        def rand(*shape: int) -> Tensor:
            return torch.rand(*shape, generator=generator)

        self.coef = nn.Parameter((rand(grid + k, in_dim, out_dim) - 0.5) * scale_noise / grid)
        self.scale_base = nn.Parameter(
            (scale_base_mu + scale_base_sigma * (2 * rand(in_dim, out_dim) - 1)) / math.sqrt(in_dim)
        )
        self.scale_sp = nn.Parameter(torch.full((in_dim, out_dim), float(scale_sp)))
        self._knots_key: tuple | None = None
        self._mask_key: tuple | None = None

    # -- constants that depend on the grid / mask buffers only -------------------------------
    def _knots(self) -> _Knots:
        g = self.grid  # a new tensor (a new id) on any change of shape, dtype or device
        key = (id(g), g._version, g.data_ptr())
        if key != self._knots_key:
            self._knots_cache, self._knots_key = _Knots(g, self.k, self.base_fun), key
        return self._knots_cache

    def _live_mask(self) -> Tensor | None:
        """The mask, or None while every edge is live (saves two products per pass)."""
        m = self.mask
        key = (id(m), m._version, m.data_ptr())
        if key != self._mask_key:
            self._mask_full, self._mask_key = bool(m.all()), key
        return None if self._mask_full else m

    def b_splines(self, x: Tensor) -> Tensor:
        """B-spline bases (Cox-de Boor, all orders at once): (N, in) -> (N, in, G + k)."""
        return self._bases(x).permute(2, 1, 0)

    def _bases(self, x: Tensor) -> Tensor:
        """Bases in basis-major layout: (N, in) -> (G + k, in, N)."""
        assert x.dim() == 2 and x.shape[1] == self.in_dim, x.shape
        return _BSplineBasis.apply(x, self._knots())

    def _masked_scales(self) -> tuple[Tensor, Tensor]:
        return self.scale_base * self.mask, self.scale_sp * self.mask  # (in, out) each

    def forward(self, x: Tensor) -> Tensor:
        """Dense evaluation: (N, in) -> (N, out) (local bases on a uniform grid, else all)."""
        assert x.dim() == 2 and x.shape[1] == self.in_dim, x.shape
        kn = self._knots()
        if kn.uniform is None:
            fn = _KANLayerFn
        elif kernels.enabled(x):
            fn = _CompiledLocalKANLayerFn
        else:
            fn = _LocalKANLayerFn
        return fn.apply(
            x,
            self.coef,
            self.scale_base,
            self.scale_sp,
            self._live_mask(),
            kn,
            self.base_fun,
        )

    def phi(self, x: Tensor) -> Tensor:
        """Per-edge activations: (N, in) -> (N, in, out); ``forward(x) == phi(x).sum(1)``."""
        sb, ss = self._masked_scales()
        spline = torch.einsum("bin,bio->nio", self._bases(x), self.coef)  # (N, in, out)
        return BASE_FUNS[self.base_fun](x).unsqueeze(-1) * sb + spline * ss

    def onehot_table(self) -> tuple[Tensor, Tensor]:
        """Fast form of :meth:`onehot_values`: ``Delta`` (in, out) and ``sum_i phi_i(0)`` (out,)."""
        return _OneHotTable.apply(
            self.coef, self.scale_base, self.scale_sp, self._live_mask(), self._knots()
        )

    def onehot_values(self) -> tuple[Tensor, Tensor]:
        """Edge values on binary input: ``phi(0)`` and ``phi(1) - phi(0)``, (in, out) each."""
        kn = self._knots()
        sb, ss = self._masked_scales()
        # s: (2, in, out) spline sum at 0 and its change from 0 to 1
        v01 = kn.v01 if kn.v01.dim() == 3 else kn.v01.unsqueeze(-1).expand(-1, -1, self.in_dim)
        s = torch.einsum("cbi,bio->cio", v01, self.coef)  # (2, in, out): spline at 0, change
        phi0 = ss * s[0] + kn.f0 * sb  # (in, out)
        delta = ss * s[1] + kn.df * sb  # (in, out)
        return phi0, delta

    def curve2coef(self, x: Tensor, y: Tensor) -> Tensor:
        """Least-squares coefficients of spline curves through samples.

        Parameters
        ----------
        x : (N, in) sample positions.
        y : (N, in, out) target values of ``sum_i c_i B_i`` per edge.

        Returns
        -------
        (G + k, in, out) coefficients (minimum-norm where the samples leave them free).
        """
        a = self._bases(x).permute(1, 2, 0)  # (in, N, nb)
        sol = torch.linalg.lstsq(a.cpu(), y.transpose(0, 1).cpu(), driver="gelsd").solution
        return sol.to(x.device).transpose(0, 1).contiguous()  # (nb, in, out)

    def _spline_values(self, x: Tensor) -> Tensor:
        return torch.einsum("bin,bio->nio", self._bases(x), self.coef)  # (N, in, out)

    @staticmethod
    def _extend(interior: Tensor, k: int) -> Tensor:
        """Add ``k`` knots on both sides at the mean interior spacing: (in, G+1) -> (in, G+2k+1)."""
        h = (interior[:, -1:] - interior[:, :1]) / (interior.shape[1] - 1)  # (in, 1)
        steps = torch.arange(1, k + 1, dtype=interior.dtype, device=interior.device)  # (k,)
        left, right = interior[:, :1] - h * steps.flip(0), interior[:, -1:] + h * steps  # (in, k)
        return torch.cat([left, interior, right], 1)

    @torch.no_grad()
    def update_grid(self, x: Tensor) -> None:
        """Fit the grid to samples ``x`` (N, in) and refit ``coef`` so the function is kept.

        Per input: ``grid_eps * uniform(min..max) + (1 - grid_eps) * quantiles``, extended by ``k``
        knots; the old spline is evaluated on ``x`` and least-squares fitted onto the new bases.
        """
        n, G = x.shape[0], self.G
        y = self._spline_values(x)  # (N, in, out)
        xs = x.sort(0).values  # (N, in)
        pos = torch.linspace(0, n - 1, G + 1, device=x.device).round().long()  # (G + 1,)
        adaptive = xs[pos].T  # (in, G + 1)
        lo, hi = xs[0], xs[-1]  # (in,)
        pad = (1e-3 - (hi - lo)).clamp_min(0) / 2  # keep constant inputs off a zero-width grid
        lo, hi = lo - pad, hi + pad
        t = torch.linspace(0, 1, G + 1, dtype=x.dtype, device=x.device)  # (G + 1,)
        uniform = lo[:, None] + (hi - lo)[:, None] * t  # (in, G + 1)
        interior = self.grid_eps * uniform + (1 - self.grid_eps) * adaptive
        self.grid.copy_(self._extend(interior, self.k))
        self.coef.copy_(self.curve2coef(x, y))

    @torch.no_grad()
    def refine(
        self, new_grid: int, n_samples: int | None = None, pin: tuple[float, ...] = ()
    ) -> None:
        """Change the number of grid intervals to ``new_grid`` keeping the function.

        New interior knots interpolate the old ones (a multiple of ``G`` keeps every old knot, and
        the refit is then exact on the interior range); the old spline is sampled on the interior
        range and least-squares fitted. Values at the points in ``pin`` are kept exactly
        (minimum-norm correction of the coefficients).
        """
        G, k = self.G, self.k
        m = n_samples or 8 * (new_grid + k) + 1
        old = self.grid[:, k : G + k + 1]  # (in, G + 1) interior knots
        t = torch.linspace(0, 1, m, dtype=old.dtype, device=old.device)  # (m,)
        x = (old[:, :1] + (old[:, -1:] - old[:, :1]) * t).T  # (m, in)
        y = self._spline_values(x)  # (m, in, out)
        if pin:
            xp = torch.tensor(pin, dtype=old.dtype, device=old.device).unsqueeze(1)
            xp = xp.expand(-1, self.in_dim)  # (P, in)
            yp = self._spline_values(xp)  # (P, in, out)
        s = torch.linspace(0, G, new_grid + 1, dtype=old.dtype, device=old.device)  # (G' + 1,)
        j = s.floor().long().clamp(max=G - 1)
        interior = old[:, j] * (j + 1 - s) + old[:, j + 1] * (s - j)  # (in, G' + 1)
        self.G = new_grid
        self.grid = self._extend(interior, k)  # new shape: re-register the buffer
        coef = self.curve2coef(x, y)  # (G' + k, in, out)
        if pin:  # minimum-norm change of coef that restores the values at the pinned points
            bp = self._bases(xp)  # (nb, in, P)
            resid = yp - torch.einsum("bip,bio->pio", bp, coef)  # (P, in, out)
            fix = torch.linalg.pinv(bp.permute(1, 2, 0)) @ resid.transpose(0, 1)  # (in, nb, out)
            coef = coef + fix.transpose(0, 1)  # (nb, in, out)
        self.coef = nn.Parameter(coef.contiguous())

    def extra_repr(self) -> str:
        return f"in={self.in_dim}, out={self.out_dim}, grid={self.G}, k={self.k}"


# ----------------------------------------------------------------------------------------------
# network
# ----------------------------------------------------------------------------------------------
class WindowModel(nn.Module):
    """What KAN and MLP share: index-or-dense input check, construction from config, size."""

    width: list[int]
    window_length: int | None

    @staticmethod
    def _check_width(width: Sequence[int], window_length: int | None) -> list[int]:
        """Validate a width list (input width 21·L when ``window_length`` is set)."""
        width = [int(w) for w in width]
        if len(width) < 2 or min(width) < 1:
            raise InputError(f"width needs at least two positive entries, got {width}")
        if window_length is not None and width[0] != window_length * A:
            raise InputError(f"width[0] = {width[0]} but window_length * {A} = {window_length * A}")
        return width

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


class KAN(WindowModel):
    """A stack of :class:`KANLayer`, with an exact one-hot fast path for the first layer.

    Parameters
    ----------
    width : nodes per layer, e.g. ``[33 * 21, 8, 1]``; ``width[-1]`` is 1 (one logit) or 2.
    grid, k, grid_range, grid_eps, base_fun, scale_noise : see :class:`KANLayer`.
    window_length : L for one-hot windows; then ``width[0] == L * 21`` and integer input (N, L)
        takes the fast path.
    seed : seed of the (local) random generator used for the initialisation.

    Examples
    --------
    >>> model = KAN([5 * 21, 4, 1], window_length=5)
    >>> model(torch.zeros(3, 5, dtype=torch.uint8)).shape
    torch.Size([3, 1])
    """

    def __init__(
        self,
        width: Sequence[int],
        grid: int = 5,
        k: int = 3,
        grid_range: Sequence[float] = (-1.0, 1.0),
        grid_eps: float = 0.02,
        window_length: int | None = None,
        seed: int = 0,
        base_fun: str = "silu",
        scale_noise: float = 0.3,
    ) -> None:
        super().__init__()
        width = self._check_width(width, window_length)
        self.width, self.grid, self.k = width, int(grid), int(k)
        self.grid_range = [float(grid_range[0]), float(grid_range[1])]
        self.grid_eps, self.window_length, self.seed = float(grid_eps), window_length, int(seed)
        self.base_fun, self.scale_noise = base_fun, float(scale_noise)
        gen = torch.Generator().manual_seed(self.seed)
        self.layers = nn.ModuleList(
            KANLayer(i, o, grid, k, grid_range, grid_eps, base_fun, scale_noise, generator=gen)
            for i, o in pairwise(width)
        )
        self.cache_acts = False  # set True to cache edge magnitudes on every forward
        self.acts_scale: list[Tensor] | None = None  # per layer (in, out) mean |phi|, if cached

    # -- construction / persistence ------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        """JSON-able constructor arguments (current grid size included)."""
        return {
            "width": list(self.width),
            "grid": self.grid,
            "k": self.k,
            "grid_range": list(self.grid_range),
            "grid_eps": self.grid_eps,
            "window_length": self.window_length,
            "seed": self.seed,
            "base_fun": self.base_fun,
            "scale_noise": self.scale_noise,
        }

    # -- forward -------------------------------------------------------------------------------

    def _compiled_plan(self, x: Tensor) -> tuple[tuple[_Knots, Tensor | None, str], ...] | None:
        """(knots, mask, base_fun) per layer if the whole forward pass can run as
        :class:`_CompiledKANFn` (index windows, compiled kernels available for the parameters,
        uniform grids on the hidden layers), else None."""
        if x.is_floating_point() or self.window_length is None:
            return None
        if not kernels.enabled(self.layers[0].coef):
            return None
        plan = []
        for i, layer in enumerate(self.layers):
            kn = layer._knots()
            if i and kn.uniform is None:
                return None
            plan.append((kn, layer._live_mask(), layer.base_fun))
        return tuple(plan)

    def _first(self, x: Tensor, stats: bool = False) -> tuple[Tensor, Tensor | None, Tensor | None]:
        """First layer on index (fast) or dense input -> (out (N, H), mean|phi|, std phi)."""
        layer = self.layers[0]
        if not self._onehot_mode(x):
            if not stats:
                return layer(x), None, None
            phi = layer.phi(x)  # (N, in, out)
            return phi.sum(1), phi.abs().mean(0), phi.std(0, correction=0)
        flat = flat_index(x, self.window_length)  # (N, L)
        if not stats:  # const + sum_p Delta[flat[n, p]]: (N, H)
            out = _OneHotKANLayerFn.apply(
                flat, layer.coef, layer.scale_base, layer.scale_sp, layer._live_mask(),
                layer._knots()
            )
            return out, None, None
        phi0, delta = layer.onehot_values()  # (in, out) each
        out = onehot_sum(flat, delta) + phi0.sum(0)  # (N, H)
        # letter frequencies per (p, a): edge (p, a) sees 1 with probability f, else 0
        f = torch.bincount(flat.reshape(-1), minlength=layer.in_dim).to(phi0.dtype) / x.shape[0]
        f = f.unsqueeze(1)  # (in, 1)
        mean_abs = f * (phi0 + delta).abs() + (1 - f) * phi0.abs()  # (in, out)
        return out, mean_abs, delta.abs() * (f * (1 - f)).sqrt()

    def forward(self, x: Tensor, cache_acts: bool | None = None) -> Tensor:
        """Logits (N, width[-1]) from index windows (N, L) or dense features (N, width[0]).

        With ``cache_acts`` (default: the attribute ``self.cache_acts``, False) the per-edge mean
        |phi| of every layer is kept in ``acts_scale`` (with gradients) for :meth:`regularization`.
        Index windows on the CPU take the compiled whole-network path when every hidden grid is
        uniform (see :meth:`_compiled_plan`).
        """
        cache_acts = self.cache_acts if cache_acts is None else cache_acts
        plan = None if cache_acts else self._compiled_plan(x)
        if plan is not None:
            params = [p for layer in self.layers for p in (layer.coef, layer.scale_base,
                                                           layer.scale_sp)]
            if self.acts_scale is not None:
                self.acts_scale = None
            return _CompiledKANFn.apply(flat_index(x, self.window_length), plan, *params)
        h, m, _ = self._first(x, stats=cache_acts)
        acts = [m]
        for layer in islice(self.layers, 1, None):  # (slicing a ModuleList builds a new one)
            if cache_acts:
                phi = layer.phi(h)  # (N, in, out)
                h = phi.sum(1)
                acts.append(phi.abs().mean(0))
            else:
                h = layer(h)
        self.acts_scale = acts if cache_acts else None
        return h

    def _stats(self, x: Tensor) -> list[tuple[Tensor, Tensor, Tensor]]:
        """Per layer: (mean |phi| (in, out), std phi (in, out), std of node sums (out,))."""
        h, m, s = self._first(x, stats=True)
        out = [(m, s, h.std(0, correction=0))]
        for layer in islice(self.layers, 1, None):
            phi = layer.phi(h)  # (N, in, out)
            h = phi.sum(1)
            out.append((phi.abs().mean(0), phi.std(0, correction=0), h.std(0, correction=0)))
        return out

    # -- regularisation, scores, pruning -------------------------------------------------------
    def regularization(
        self,
        lamb_l1: float = 1.0,
        lamb_entropy: float = 2.0,
        lamb_coef: float = 0.0,
        lamb_coefdiff: float = 0.0,
    ) -> Tensor:
        """Sparsity penalty on the activations cached by ``forward(x, cache_acts=True)``.

        Per layer: L1 = sum over edges of mean |phi|, entropy = -sum p log2(p) of the edge
        magnitudes normalised to sum 1; optional L1 of the coefficients and of their differences.
        """
        if self.acts_scale is None:
            raise RuntimeError(
                "regularization() needs the activations of the last forward: call "
                "model(x, cache_acts=True) or set model.cache_acts = True"
            )
        reg = torch.zeros((), dtype=self.acts_scale[0].dtype, device=self.acts_scale[0].device)
        for act, layer in zip(self.acts_scale, self.layers, strict=True):
            p = act / (act.sum() + 1e-12)
            reg = reg + lamb_l1 * act.sum() - lamb_entropy * (p * torch.log2(p + 1e-4)).sum()
            if lamb_coef:
                reg = reg + lamb_coef * layer.coef.abs().mean(0).sum()
            if lamb_coefdiff:
                reg = reg + lamb_coefdiff * layer.coef.diff(dim=0).abs().mean(0).sum()
        return reg

    @torch.no_grad()
    def edge_scores(self, x: Tensor) -> list[Tensor]:
        """pykan-style attribution per edge, one (in, out) tensor per layer.

        Output nodes score 1; an edge scores ``std(phi) * score(out node) / std(out node)`` and a
        node the sum of its outgoing edge scores (standard deviations over the batch ``x``).
        """
        score = torch.ones(self.width[-1])
        out: list[Tensor] = []
        for _, e_std, n_std in reversed(self._stats(x)):
            es = e_std * (score.to(e_std) / (n_std + 1e-4))  # (in, out)
            out.append(es)
            score = es.sum(1)  # (in,)
        return out[::-1]

    @torch.no_grad()
    def feature_scores(self, x: Tensor) -> Tensor:
        """pykan-style importance of every input feature: (width[0],), ``(L * 21,)`` for windows."""
        return self.edge_scores(x)[0].sum(1)

    @torch.no_grad()
    def prune(
        self, x: Tensor | None = None, node_threshold: float = 1e-2, edge_threshold: float = 3e-2
    ) -> KAN:
        """Mask weak edges and hidden nodes by their mean |phi| on data.

        Uses ``x`` if given, else the magnitudes cached by ``forward(..., cache_acts=True)``.
        A hidden node survives if its strongest incoming and outgoing edges both exceed
        ``node_threshold``; an edge survives if its mean |phi| exceeds ``edge_threshold``.
        Pruning sets ``mask`` entries to 0 (shapes are kept, so checkpoints stay loadable).
        """
        acts = [s[0] for s in self._stats(x)] if x is not None else self.acts_scale
        if acts is None:
            raise RuntimeError("prune needs data x or a previous forward(x, cache_acts=True)")
        acts = [a.detach() for a in acts]
        for layer, act in zip(self.layers, acts, strict=True):
            layer.mask.mul_((act > edge_threshold).to(layer.mask))
        for i in range(1, len(self.layers)):  # hidden nodes between layer i-1 and layer i
            keep = (acts[i - 1].amax(0) > node_threshold) & (acts[i].amax(1) > node_threshold)
            self.layers[i - 1].mask.mul_(keep.to(acts[i]).unsqueeze(0))  # (H,) incoming
            self.layers[i].mask.mul_(keep.to(acts[i]).unsqueeze(1))  # (H,) outgoing
        return self

    # -- grid ----------------------------------------------------------------------------------
    @torch.no_grad()
    def update_grid(self, x: Tensor) -> None:
        """Adapt every layer's grid to the activations it receives on ``x``.

        The first layer is skipped for one-hot windows (it only ever sees 0 and 1).
        """
        h = x
        for i, layer in enumerate(self.layers):
            if i == 0:
                if self.window_length is None:
                    layer.update_grid(h)
                h = self._first(h)[0]
            else:
                layer.update_grid(h)
                h = layer(h)

    @torch.no_grad()
    def refine(self, new_grid: int) -> None:
        """Re-express every layer on ``new_grid`` intervals; for one-hot windows the first layer
        keeps phi(0) and phi(1), hence the one-hot function, exactly."""
        for i, layer in enumerate(self.layers):
            pin = (0.0, 1.0) if i == 0 and self.window_length is not None else ()
            layer.refine(new_grid, pin=pin)
        self.grid = int(new_grid)

    # -- explanation / accounting --------------------------------------------------------------
    @torch.no_grad()
    def first_layer_table(self) -> tuple[Tensor, Tensor]:
        """The first layer on one-hot windows: ``T`` (L, 21, H) and ``const`` (H,), so that
        ``h_j = const_j + sum_p T[p, a_p, j]``."""
        if self.window_length is None:
            raise InputError("first_layer_table needs a model built with window_length")
        phi0, delta = self.layers[0].onehot_values()
        return delta.reshape(self.window_length, A, -1).clone(), phi0.sum(0)

    def flops(self, input: str = "onehot") -> int:
        """Forward FLOPs per sample.

        Convention: every add, multiply, compare or elementary function counts 1 (a multiply-add
        is 2). A dense layer costs per input ``4`` (silu) + Cox-de Boor (``2 (G+2k)`` for order 0,
        ``5 (G+2k+1-j)`` for order j) and per edge ``2 (G+k) + 4`` (spline dot product, the two
        scales, base + spline, node sum). The one-hot first layer costs ``(L + 1) H`` (sum of L
        table rows plus the constant); building the table is a per-batch cost and is not counted.
        """
        if input not in ("onehot", "dense"):
            raise InputError(f"input must be 'onehot' or 'dense', got {input!r}")
        if input == "onehot" and self.window_length is None:
            raise InputError("onehot FLOPs need a model built with window_length")
        G, k = self.grid, self.k
        per_input = 4 + 2 * (G + 2 * k) + sum(5 * (G + 2 * k + 1 - j) for j in range(1, k + 1))
        per_edge = 2 * (G + k) + 4
        total = 0
        for i, (n_in, n_out) in enumerate(pairwise(self.width)):
            if i == 0 and input == "onehot":
                total += (self.window_length + 1) * n_out
            else:
                total += n_in * per_input + n_in * n_out * per_edge
        return total
