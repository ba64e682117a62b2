"""The table of an encoded first KAN layer as one autograd node.

A position's letter takes one of 21 values, so with per-residue features ``E`` (21, d) the first
layer is a table ``T[p, a, j] = sum_k phi_{pd+k, j}(E[a, k])``, with ``phi = sb b(x) + ss sum_i
c_i B_i(x)``. The letters' basis values are constants of the grid, and only ``k + 1`` of the
B-splines are non-zero at any point, so the table is one sparse product

    T = F @ [c * ss ; sb],      F[(p, a), (i, p, k)] = B_i(E[a, k]),  F[(p, a), (p, k)] = b(E[a, k])

with the columns of ``F`` in the memory order of the coefficients ``c`` (G + k, L d, out), and the
backward pass is the product with the cached ``F^T``.

When every position has the same letter features (always, unless a grid was adapted per input),
``F`` is block-diagonal with one block ``V`` (21, (nb + 1) d) repeated L times, and the table is
one dense product instead,

    T[a, (p, j)] = sum_(i, k) V[a, (i, k)] W[(i, k), (p, j)],   W[(i, k), (p, j)] = w[i, p d + k, j]

with ``w = [sb ; c * ss]``: a (21, (nb + 1) d) x ((nb + 1) d, L out) matrix product and its
transpose in the backward pass (forward and backward together about 2.5x faster than the sparse
products for blosum62 on windows of 33, one CPU thread). The layout changes between ``w`` and
``W`` (and back for the gradients) are one compiled pass each on the CPU
(:mod:`kanbio.models.kernels`), tensor operations elsewhere, and :class:`EncodedSumFn` does the
gather-sum over the windows in the same autograd node (on the CPU kernels, the whole layer in
one compiled call each way).
"""

from __future__ import annotations

import warnings
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from ..data.alphabet import A
from . import kernels
from .base import gather_sum_grad


class LetterForm(NamedTuple):
    """The constant operands of :class:`EncodedTableFn`: the sparse ``F`` and ``F^T``
    (:func:`letter_matrices`) and, where every position has the same letter features, their
    shared block ``V`` (21, (nb + 1) d) with columns ``(i, k)`` and its transpose (else None)."""

    f: Tensor
    ft: Tensor
    v: Tensor | None
    vt: Tensor | None


def letter_form(feat: Tensor) -> LetterForm:
    """:class:`LetterForm` of the letters' features ``feat`` (L, 21, d, nb + 1)."""
    f, ft = letter_matrices(feat)
    if not torch.equal(feat, feat[:1].expand_as(feat)):
        return LetterForm(f, ft, None, None)
    v = feat[0].transpose(1, 2).reshape(feat.shape[1], -1).contiguous()  # (21, (nb + 1) d)
    return LetterForm(f, ft, v, v.t().contiguous())


def letter_matrices(feat: Tensor) -> tuple[Tensor, Tensor]:
    """``F`` and ``F^T`` (sparse CSR) from the letters' features ``feat`` (L, 21, d, nb + 1):
    ``[b(E[a, k]), B_1(E[a, k]) .. B_nb(E[a, k])]`` per position p."""
    length, letters, d, nb1 = feat.shape
    nb = nb1 - 1
    p, a, k, i = torch.meshgrid(*(torch.arange(n, device=feat.device) for n in feat.shape),
                                indexing="ij")
    rows = p * letters + a
    cols = torch.where(i > 0, (i - 1) * (length * d) + p * d + k, nb * length * d + p * d + k)
    keep = feat != 0
    shape = (length * letters, nb1 * length * d)
    with warnings.catch_warnings():  # torch marks sparse CSR as beta
        warnings.simplefilter("ignore", UserWarning)
        f = torch.sparse_coo_tensor(torch.stack([rows[keep], cols[keep]]), feat[keep], shape)
        return _csr32(f), _csr32(f.t())


def _csr32(m: Tensor) -> Tensor:
    """CSR with 32-bit indices (what the sparse BLAS takes without a copy on every product)."""
    c = m.coalesce().to_sparse_csr()
    return torch.sparse_csr_tensor(c.crow_indices().int(), c.col_indices().int(), c.values(),
                                   c.shape)


def _swap(t: Tensor, rows: int, out: int) -> Tensor:
    """(rows, cols / out, out) -> (cols / out, rows, out) as a contiguous 2-d table."""
    return t.reshape(rows, -1, out).transpose(0, 1).reshape(-1, out)


def table_forward(form: LetterForm, coef: Tensor, sb: Tensor, ss: Tensor,
                  dense: bool = True) -> Tensor:
    """``T`` (L * 21, out), rows ``p * 21 + a``, from coef (nb, L d, out) and the masked scales
    sb, ss (L d, out). The dense product runs where the positions share one block (``form.v``)
    unless ``dense=False``, else the sparse products."""
    nb, n_in, out = coef.shape
    length = form.f.shape[0] // A
    if not (dense and form.v is not None):
        return form.f @ torch.cat([(coef * ss).view(-1, out), sb])  # rows in F's column order
    d = n_in // length
    if kernels.enabled(coef):
        w = kernels.encoded_weights(coef, ss, sb, d)
    else:
        w = coef.new_empty(nb + 1, d, length, out)  # W[(i, k), (p, j)]
        w[0] = sb.view(length, d, out).transpose(0, 1)
        torch.mul(coef.view(nb, length, d, out).transpose(1, 2),
                  ss.view(length, d, out).transpose(0, 1), out=w[1:])
    t = form.v @ w.view((nb + 1) * d, length * out)  # (21, L out)
    return _swap(t, A, out)


def table_backward(form: LetterForm, coef: Tensor, ss: Tensor, g: Tensor,
                   dense: bool = True) -> tuple[Tensor, Tensor, Tensor]:
    """Gradients (coef, sb, ss) of :func:`table_forward` from ``g``, the gradient of ``T``."""
    nb, n_in, out = coef.shape
    length = form.f.shape[0] // A
    if not (dense and form.v is not None):
        gw = form.ft @ g.contiguous()  # ((nb + 1) L d, out)
        gcs, g_sb = gw[: nb * n_in].view(coef.shape), gw[nb * n_in:]
        return gcs * ss, g_sb, (gcs * coef).sum(0)
    d = n_in // length
    g2 = _swap(g, length, out).view(A, -1)  # rows a, columns (p, j)
    gw = form.vt @ g2  # gradient of W ((nb + 1) d, L out)
    if kernels.enabled(gw):
        g_coef, g_ss, g_sb = kernels.encoded_grads(gw, coef, ss)
        return g_coef, g_sb, g_ss
    gw = gw.view(nb + 1, d, length, out).transpose(1, 2)  # (nb + 1, L, d, out)
    gcs, g_sb = gw[1:].contiguous().view(coef.shape), gw[0].reshape(n_in, out)
    return gcs * ss, g_sb, (gcs * coef).sum(0)


class EncodedTableFn(torch.autograd.Function):
    """``(form, coef, sb, ss, dense)`` -> :func:`table_forward`; ``form`` is the constant
    :class:`LetterForm`."""

    @staticmethod
    def forward(ctx: Any, form: LetterForm, coef: Tensor, sb: Tensor, ss: Tensor,
                dense: bool = True) -> Tensor:
        ctx.form, ctx.dense = form, dense
        ctx.save_for_backward(coef, ss)
        return table_forward(form, coef, sb, ss, dense)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor | None, ...]:
        coef, ss = ctx.saved_tensors
        grads = table_backward(ctx.form, coef, ss, g, ctx.dense)
        return None, *(t if need else None for t, need in
                       zip(grads, ctx.needs_input_grad[1:4], strict=True)), None


def _fused(form: LetterForm, coef: Tensor) -> bool:
    """Whether :class:`EncodedSumFn` runs as one compiled call each way
    (:func:`kernels.encoded_sum`): a shared letter block of the coefficients' dtype."""
    return form.v is not None and form.v.dtype == coef.dtype and kernels.enabled(coef)


class EncodedSumFn(torch.autograd.Function):
    """``(flat, form, coef, sb, ss)`` -> ``sum_p T[flat[n, p]]`` (N, out) for flat columns
    ``p * 21 + a``: the table and its gather-sum in one node, and on the CPU kernels one
    compiled call each way (weights, product, gather-sum; scatter, product, gradients), which
    in a training step costs about two thirds of the same work in separate calls."""

    @staticmethod
    def forward(ctx: Any, flat: Tensor, form: LetterForm, coef: Tensor, sb: Tensor,
                ss: Tensor) -> Tensor:
        ctx.form = form
        ctx.save_for_backward(flat, coef, ss)
        if _fused(form, coef):
            return kernels.encoded_sum(flat, coef, ss, sb, form.v)
        table = table_forward(form, coef, sb, ss)
        if kernels.enabled(table):
            return kernels.onehot_sum(flat, table, None)
        return F.embedding_bag(flat, table, mode="sum")

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor | None, ...]:
        flat, coef, ss = ctx.saved_tensors
        if _fused(ctx.form, coef):
            g_coef, g_ss, g_sb = kernels.encoded_sum_grad(flat, g, coef, ss, ctx.form.vt)
            grads = g_coef, g_sb, g_ss
        else:
            g_table = gather_sum_grad(flat, g, ctx.form.f.shape[0])
            grads = table_backward(ctx.form, coef, ss, g_table)
        return None, None, *(t if need else None for t, need in
                             zip(grads, ctx.needs_input_grad[2:5], strict=True))
