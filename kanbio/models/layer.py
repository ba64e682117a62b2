"""One KAN layer (:class:`KANLayer`): ``in * out`` learnable edge functions ``phi(x) = w_b b(x) +
w_s sum_i c_i B_i(x)``, its grid (update, refinement), least-squares refit and one-hot table."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..errors import InputError
from . import kernels
from .autograd import (
    BSplineBasis,
    CompiledLocalKANLayerFn,
    KANLayerFn,
    LocalKANLayerFn,
    OneHotTable,
    _masked,
)
from .base import onehot_sum
from .bspline import BASE_FUNS, Knots
from .encoded_table import EncodedSumFn, EncodedTableFn, LetterForm, letter_form


class MaskedEdges(nn.Module):
    """A layer with a ``mask`` buffer of live edges (1) and pruned ones (0)."""

    mask: Tensor
    _mask_key: tuple | None = None

    def _live_mask(self) -> Tensor | None:
        """The mask, or None while every edge is live (saves two products per pass)."""
        m = self.mask
        key = (id(m), m._version, m.data_ptr())
        if key != self._mask_key:
            self._mask_full, self._mask_key = bool(m.all()), key
        return None if self._mask_full else m


class KANLayer(MaskedEdges):
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
    def __getstate__(self) -> dict:
        """Without the letter-feature caches (sparse tensors cannot be copied or pickled)."""
        state = dict(super().__getstate__())
        for name in ("_feat", "_feat_key", "_letters"):
            state.pop(name, None)
        return state

    def _knots(self) -> Knots:
        g = self.grid  # a new tensor (a new id) on any change of shape, dtype or device
        key = (id(g), g._version, g.data_ptr())
        if key != self._knots_key:
            self._knots_cache, self._knots_key = Knots(g, self.k, self.base_fun), key
        return self._knots_cache

    def b_splines(self, x: Tensor) -> Tensor:
        """B-spline bases (Cox-de Boor, all orders at once): (N, in) -> (N, in, G + k)."""
        return self._bases(x).permute(2, 1, 0)

    def _bases(self, x: Tensor) -> Tensor:
        """Bases in basis-major layout: (N, in) -> (G + k, in, N)."""
        assert x.dim() == 2 and x.shape[1] == self.in_dim, x.shape
        return BSplineBasis.apply(x, self._knots())

    def _masked_scales(self) -> tuple[Tensor, Tensor]:
        return self.scale_base * self.mask, self.scale_sp * self.mask  # (in, out) each

    def forward(self, x: Tensor) -> Tensor:
        """Dense evaluation: (N, in) -> (N, out) (local bases on a uniform grid, else all)."""
        assert x.dim() == 2 and x.shape[1] == self.in_dim, x.shape
        kn = self._knots()
        if kn.uniform is None:
            fn = KANLayerFn
        elif kernels.enabled(x):
            fn = CompiledLocalKANLayerFn
        else:
            fn = LocalKANLayerFn
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
        return OneHotTable.apply(
            self.coef, self.scale_base, self.scale_sp, self._live_mask(), self._knots()
        )

    def _encoded_features(self, matrix: Tensor, length: int) -> Tensor:
        """The 21 encoded letters' features per edge of a first layer whose input ``p * d + k``
        is feature k of position p: ``[b(E[a, k]), B_1(E[a, k]) .. B_nb(E[a, k])]``, (L, 21, d,
        nb + 1), constant and cached per grid (with the sparse form of :class:`EncodedTableFn`)."""
        d = matrix.shape[1]
        key = (id(self.grid), self.grid._version, id(matrix), str(self.coef.dtype))
        if getattr(self, "_feat_key", None) != key:
            with torch.no_grad():
                x = matrix.to(self.coef).repeat(1, length)  # (21, L d): column p d + k = E[:, k]
                basis = self._bases(x).permute(2, 1, 0)  # (21, L d, nb)
                feat = torch.cat([BASE_FUNS[self.base_fun](x).unsqueeze(-1), basis], -1)
                feat = feat.reshape(len(x), length, d, -1).transpose(0, 1).contiguous()
            self._feat, self._feat_key = feat, key
            self._letters = letter_form(feat)  # constants of EncodedTableFn
        return self._feat

    def _letter_form(self, matrix: Tensor, length: int) -> LetterForm:
        """The :class:`LetterForm` of :class:`EncodedTableFn`, cached with the features."""
        self._encoded_features(matrix, length)
        return self._letters

    def _encoded_parts(self, matrix: Tensor, length: int) -> tuple[Tensor, Tensor]:
        """The letters' features (:meth:`_encoded_features`) and the edges' weights ``[w_b, w_s
        c_1 .. w_s c_nb]``, (L, d, nb + 1, out), differentiable; ``phi = features . weights``."""
        feat = self._encoded_features(matrix, length)
        sb, ss = self._masked_scales()  # (L d, out)
        w = torch.cat([sb.unsqueeze(1), (self.coef * ss).transpose(0, 1)], 1)  # (L d, nb+1, out)
        return feat, w.reshape(length, matrix.shape[1], -1, self.out_dim)

    def encoded_values(self, matrix: Tensor, length: int) -> Tensor:
        """Edge values on the encoded letters (see :meth:`_encoded_parts`): ``V[p, a, k, j] =
        phi_{p d + k, j}(E[a, k])``, (L, 21, d, out), differentiable in the parameters."""
        feat, w = self._encoded_parts(matrix, length)
        return torch.einsum("pakb,pkbj->pakj", feat, w)

    def encoded_table(self, matrix: Tensor, length: int) -> Tensor:
        """``encoded_values(matrix, length).sum(2)`` as (L * 21, out), fast: from the letters'
        cached basis values (:class:`EncodedTableFn`; devices other than CPUs and CUDA GPUs,
        which lack sparse CSR products, take the plain sum)."""
        if self.coef.device.type not in ("cpu", "cuda"):
            return self.encoded_values(matrix, length).sum(2).reshape(-1, self.out_dim)
        sb, ss = _masked(self.scale_base, self.scale_sp, self._live_mask())
        return EncodedTableFn.apply(self._letter_form(matrix, length), self.coef, sb, ss)

    def encoded_sum(self, flat: Tensor, matrix: Tensor, length: int) -> Tensor:
        """``sum_p T[flat[n, p]]`` (N, out) of :meth:`encoded_table` for flat columns ``p * 21 +
        a`` (:func:`~kanbio.models.base.flat_index`), table and gather in one autograd node
        (:class:`EncodedSumFn`)."""
        if self.coef.device.type not in ("cpu", "cuda"):
            return onehot_sum(flat, self.encoded_table(matrix, length))
        sb, ss = _masked(self.scale_base, self.scale_sp, self._live_mask())
        return EncodedSumFn.apply(flat, self._letter_form(matrix, length), self.coef, sb, ss)

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


class TableLayer(MaskedEdges):
    """The first KAN layer on one-hot input, parametrised by its table.

    On one-hot input every first-layer edge only sees 0 and 1, so the layer is the table
    ``Delta = phi(1) - phi(0)`` plus a constant per node (see :mod:`kanbio.models.kan`). This
    module trains exactly those numbers: edge ``(i, j)`` is ``phi(x) = table[i, j] * x`` and node
    ``j`` adds ``const[j]``. On binary input this is the same function class as a
    :class:`KANLayer`, without the ``G + k + 2`` redundant parameters per edge (a KANLayer sets
    ``phi(0)`` and ``phi(1)`` through all its coefficients and both scales); :meth:`to_spline`
    gives an equivalent KANLayer (base weight 0, a linear spline) for export.

    Attributes
    ----------
    table : (in, out) ``Delta``, row ``p * 21 + a`` for residue a at position p.
    const : (out,) the constant of each node (the sum of the edges' ``phi(0)``).
    mask : (in, out) 1 for live edges, 0 for pruned ones (buffer).
    """

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.in_dim, self.out_dim = in_dim, out_dim
        self.table = nn.Parameter(torch.zeros(in_dim, out_dim))
        self.const = nn.Parameter(torch.zeros(out_dim))
        self.register_buffer("mask", torch.ones(in_dim, out_dim))  # (in, out)
        self._mask_key: tuple | None = None

    @classmethod
    @torch.no_grad()
    def from_spline(cls, layer: KANLayer) -> TableLayer:
        """The table layer with the same values as ``layer`` on binary input (and its mask)."""
        out = cls(layer.in_dim, layer.out_dim).to(layer.coef)
        delta, const = layer.onehot_table()
        out.table.copy_(delta)
        out.const.copy_(const)
        out.mask.copy_(layer.mask)
        return out

    @torch.no_grad()
    def to_spline(self, grid: int = 5, k: int = 3, grid_range: Sequence[float] = (-1.0, 1.0),
                  base_fun: str = "silu") -> KANLayer:
        """An equivalent :class:`KANLayer` on binary input, for export.

        Every edge becomes ``phi(x) = const[j] / n_j + table[i, j] * x`` (``n_j`` live edges
        into node j): base weight 0, spline
        weight 1, and spline coefficients on the Greville abscissae of the grid (a B-spline
        reproduces a linear function exactly on its interior range). When 0 or 1 lies outside
        that range, the minimum-norm coefficients with the right values at 0 and 1 are used
        (an InputError if the extended grid does not reach 0 and 1).
        """
        t, c = self.onehot_table()
        layer = KANLayer(self.in_dim, self.out_dim, grid, k, grid_range, base_fun=base_fun,
                         scale_noise=0.0, generator=torch.Generator()).to(t)
        layer.scale_base.zero_()
        layer.scale_sp.fill_(1.0)
        live = self.mask.sum(0).clamp(min=1)  # (out,): the constant is shared by live edges
        a = (c / live).expand_as(t)  # (in, out): phi(0) of every edge
        knots = layer.grid[0]  # (G + 2k + 1,), the same for every input
        inside = float(knots[k]) <= 0.0 and 1.0 <= float(knots[-k - 1])
        if inside and k >= 1:
            greville = knots.unfold(0, k, 1)[1 : layer.G + k + 1].mean(1)  # (G + k,)
            layer.coef.copy_(a + t * greville[:, None, None])
        else:  # values at 0 and 1 pinned: v01 (2, nb) @ coef = [phi(0), Delta]
            v01 = layer._knots().v01  # (2, nb)
            rhs = torch.stack([a, t]).reshape(2, -1)  # (2, in out)
            coef = torch.linalg.pinv(v01) @ rhs  # (nb, in out)
            if not torch.allclose(v01 @ coef, rhs, rtol=1e-4, atol=1e-6):
                raise InputError(f"grid_range {tuple(grid_range)} leaves no spline with the "
                                 "table's values at 0 and 1")
            layer.coef.copy_(coef.view_as(layer.coef))
        layer.mask.copy_(self.mask)
        return layer

    def onehot_table(self) -> tuple[Tensor, Tensor]:
        """``Delta`` (in, out) and the constant (out,), pruned edges and dead nodes zeroed."""
        m = self._live_mask()
        if m is None:
            return self.table, self.const
        return self.table * m, self.const * m.amax(0)

    def onehot_values(self) -> tuple[Tensor, Tensor]:
        """Edge values on binary input: ``phi(0)`` (zero: the constant sits on the node) and
        ``phi(1) - phi(0)``, (in, out) each."""
        t = self.onehot_table()[0]
        return torch.zeros_like(t), t

    def phi(self, x: Tensor) -> Tensor:
        """Per-edge activations: (N, in) -> (N, in, out); ``forward(x)`` adds the constant."""
        return x.unsqueeze(-1) * self.onehot_table()[0]

    def forward(self, x: Tensor) -> Tensor:
        """Dense evaluation (N, in) -> (N, out): ``const + x @ table``, the KAN's values on
        one-hot rows."""
        t, c = self.onehot_table()
        return torch.addmm(c, x, t)

    def extra_repr(self) -> str:
        return f"in={self.in_dim}, out={self.out_dim}, table"
