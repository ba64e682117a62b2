"""Hand-written autograd Functions of the KAN layers: dense, local (uniform grid), compiled
(numba on the CPU), the one-hot table, and a whole KAN on index windows as one node. Each is
exact; tests compare them with each other and with plain autograd."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from . import kernels
from .base import gather_sum_grad
from .bspline import Knots, base_grad


class BSplineBasis(torch.autograd.Function):
    """(N, in) -> bases (G + k, in, N); backward through the closed-form derivative."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, kn: Knots) -> Tensor:
        feats, prev = kn.rows(x.t().contiguous())
        ctx.prev, ctx.kn = prev, kn
        return feats[1:]  # (G + k, in, N)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, None]:  # (G + k, in, N)
        if not ctx.needs_input_grad[0]:
            return None, None
        return ctx.kn.grad_x(grad, ctx.prev).t(), None  # (N, in)


class KANLayerFn(torch.autograd.Function):
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
        kn: Knots,
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
            gbase = base_grad(ctx.base_fun, gfeats[0], xt)  # (in, N)
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
                    kn: Knots) -> tuple[Tensor, np.ndarray]:
    """First layer on flat one-hot columns: (N, out) and the state of its backward."""
    return kernels.onehot_kan_forward(flat, coef, ss, sb, kn.kernel_tables()[0], kn.f0, kn.df)


def _compiled_first_grad(flat: Tensor, g: Tensor, s01: np.ndarray, ss: Tensor,
                         mask: Tensor | None, kn: Knots) -> tuple[Tensor, Tensor, Tensor]:
    """Gradients (coef, scale_base, scale_sp) of :func:`_compiled_first`."""
    gc, gss, gsb = kernels.onehot_kan_backward(flat, g, s01, ss, kn.kernel_tables()[0], kn.f0,
                                               kn.df)
    return gc, *_unmask(gsb, gss, mask)


def _compiled_hidden(x: Tensor, coef: Tensor, sb: Tensor, ss: Tensor, kn: Knots,
                     base_fun: str, grad: bool) -> tuple[Tensor, tuple[np.ndarray, ...]]:
    """Layer on continuous input over a uniform grid: (N, out) and the state of its backward
    (kept only with ``grad``)."""
    sx = torch.sigmoid(x) if base_fun == "silu" else None  # (N, in)
    return kernels.local_forward(x, sx, coef, ss, sb, kn.kernel_tables()[1], base_fun, grad)


def _compiled_hidden_grad(state: tuple[np.ndarray, ...], g: Tensor, coef: Tensor, ss: Tensor,
                          mask: Tensor | None, kn: Knots,
                          need_x: bool) -> tuple[Tensor | None, Tensor, Tensor, Tensor]:
    """Gradients (x, coef, scale_base, scale_sp) of :func:`_compiled_hidden`."""
    gx, gc, gss, gsb = kernels.local_backward(state, g, coef, ss, kn.kernel_tables()[1][2],
                                              need_x)
    return gx, gc, *_unmask(gsb, gss, mask)


class CompiledLocalKANLayerFn(torch.autograd.Function):
    """:class:`LocalKANLayerFn` on the CPU through :mod:`kernels`: the monomial table, the
    evaluation and all gradients in one compiled call each way."""

    @staticmethod
    def forward(
        ctx: Any,
        x: Tensor,  # (N, in)
        coef: Tensor,  # (nb, in, out)
        scale_base: Tensor,  # (in, out)
        scale_sp: Tensor,  # (in, out)
        mask: Tensor | None,  # (in, out); None when no edge is pruned
        kn: Knots,
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


class LocalKANLayerFn(torch.autograd.Function):
    """Dense KAN layer on a uniform grid, evaluating only the ``k + 1`` nonzero bases per input.

    On interval ``j`` (``u = (x - t_0) / h``, ``j = floor(u)``, ``f = u - j``) an edge spline
    is the polynomial ``sum_p Q[p, j] f^p``, ``Q = W c`` (``W``: see :meth:`Knots._uniform`).
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
        kn: Knots,
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
                gx = gx.add_(base_grad(ctx.base_fun, torch.mm(gy, sb.t()), x))
        return gx, gc, gb, gs, None, None, None


def _table_forward(
    coef: Tensor, scale_base: Tensor, scale_sp: Tensor, mask: Tensor | None, kn: Knots
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
    saved: tuple[Tensor, Tensor], mask: Tensor | None, kn: Knots, gd: Tensor, gk: Tensor
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


class OneHotTable(torch.autograd.Function):
    """First layer on one-hot input: ``Delta = phi(1) - phi(0)`` (in, out) and ``sum_i phi_i(0)``
    (out,) from the spline parameters, with a hand-written backward."""

    @staticmethod
    def forward(
        ctx: Any,
        coef: Tensor,  # (nb, in, out)
        scale_base: Tensor,  # (in, out)
        scale_sp: Tensor,  # (in, out)
        mask: Tensor | None,  # (in, out); None when no edge is pruned
        kn: Knots,
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


class OneHotKANLayerFn(torch.autograd.Function):
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
        kn: Knots,
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
        gd = gather_sum_grad(flat, g, ss.shape[0])  # (in, out)
        return None, *_table_backward((s, ss), mask, kn, gd, g.sum(0)), None, None


class CompiledKANFn(torch.autograd.Function):
    """The whole KAN on one-hot windows on the CPU in one autograd node: the first layer and
    every hidden layer (uniform grids) through :mod:`kernels`, activations passed between them
    as arrays. Same arithmetic as :class:`OneHotKANLayerFn` followed by
    :class:`CompiledLocalKANLayerFn` per layer; one node instead of one per layer."""

    @staticmethod
    def forward(ctx: Any, flat: Tensor, plan: tuple[tuple[Knots, Tensor | None, str], ...],
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
