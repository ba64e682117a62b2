"""B-spline bases of KAN edges: Cox-de Boor in basis-major layout, the closed-form derivative,
the polynomial pieces of uniform splines and the per-grid constants (:class:`Knots`)."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from . import kernels

BASE_FUNS: dict[str, Callable[[Tensor], Tensor]] = {
    "silu": F.silu,
    "identity": lambda x: x,
    "zero": torch.zeros_like,
}


# ----------------------------------------------------------------------------------------------

def cox_de_boor(
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


def uniform_pieces(k: int) -> list[list[Fraction]]:
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


def base_grad(name: str, grad: Tensor, x: Tensor) -> Tensor | None:
    """grad * b'(x) for the residual function ``b`` (None when b' = 0)."""
    if name == "silu":
        return torch.ops.aten.silu_backward(grad, x)
    return grad if name == "identity" else None


class Knots:
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
        mono = uniform_pieces(k)  # mono[p][m]: on interval j, basis j - k + m has f^p coef
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
        _, prev = cox_de_boor(xt, self.knots, self.recip, out=feats[1:])
        return feats, prev

    def grad_x(self, gbases: Tensor, prev: Tensor) -> Tensor:
        """Gradient w.r.t. the (in, N) inputs from the gradient w.r.t. the bases (nb, in, N)."""
        if self.slope is None:  # piecewise constant
            return gbases.new_zeros(gbases.shape[1:])
        v = prev * self.slope  # (nb + 1, in, N)
        return (v[:-1] - v[1:]).mul_(gbases).sum(0)
