"""The table of an encoded first KAN layer as one autograd node.

A position's letter takes one of 21 values, so with per-residue features ``E`` (21, d) the first
layer is a table ``T[p, a, j] = sum_k phi_{pd+k, j}(E[a, k])``, with ``phi = sb b(x) + ss sum_i
c_i B_i(x)``. The letters' basis values are constants of the grid, and only ``k + 1`` of the
B-splines are non-zero at any point, so the table is one sparse product

    T = F @ [c * ss ; sb],      F[(p, a), (i, p, k)] = B_i(E[a, k]),  F[(p, a), (p, k)] = b(E[a, k])

with the columns of ``F`` in the memory order of the coefficients ``c`` (G + k, L d, out): no
copy of the parameters, and the backward pass is the product with the cached ``F^T``.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import Tensor


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


class EncodedTableFn(torch.autograd.Function):
    """``(F, F^T, coef (nb, L d, out), sb, ss (L d, out))`` -> ``T`` (L * 21, out); ``F`` is a
    constant (:func:`letter_matrices`), ``sb`` and ``ss`` the masked scales."""

    @staticmethod
    def forward(ctx: Any, f: Tensor, ft: Tensor, coef: Tensor, sb: Tensor, ss: Tensor
                ) -> Tensor:
        out = coef.shape[2]
        w = torch.cat([(coef * ss).view(-1, out), sb])  # rows in F's column order
        ctx.save_for_backward(ft, coef, ss)
        return f @ w

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor | None, ...]:  # g (L * 21, out)
        ft, coef, ss = ctx.saved_tensors
        gw = ft @ g.contiguous()  # ((nb + 1) L d, out)
        n = coef.shape[0] * coef.shape[1]
        gcs, g_sb = gw[:n].view(coef.shape), gw[n:]
        g_coef = gcs * ss if ctx.needs_input_grad[2] else None
        g_ss = (gcs * coef).sum(0) if ctx.needs_input_grad[4] else None
        return None, None, g_coef, g_sb if ctx.needs_input_grad[3] else None, g_ss
