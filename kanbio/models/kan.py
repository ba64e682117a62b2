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
cost of an embedding lookup. With ``first_layer="table"`` the first layer is instead a
:class:`TableLayer` that trains ``T`` and the constant directly: the same function class on
one-hot input without the redundant directions of the spline parametrisation (every sample moves
all ``L * 21`` constants ``phi(0)`` of a spline layer at once, which is why that layer needed a
damped learning rate). Hidden layers see continuous inputs; on a uniform grid (the initial
one, and after ``refine``) they evaluate only the ``k + 1`` nonzero B-splines per input, as one
polynomial per grid interval (:class:`LocalKANLayerFn`); adapted (non-uniform) grids use the
Cox-de Boor recursion over all ``G + k`` bases (:class:`KANLayerFn`). Both are exact.

On the CPU the same arithmetic runs through compiled kernels (:mod:`kanbio.models.kernels`):
:class:`CompiledLocalKANLayerFn` for a layer on a uniform grid, and :class:`CompiledKANFn`
for a whole KAN on index windows as one autograd node. The tensor classes above are the
reference (tests compare them) and the path on GPUs.

Shapes: ``N`` samples, ``L`` window length, ``A = 21`` letters, ``nb = G + k`` bases per edge.
"""
from __future__ import annotations

from collections.abc import Sequence
from itertools import islice, pairwise
from typing import Any

import torch
from torch import Tensor, nn

from ..data.alphabet import A
from ..errors import InputError
from . import kernels
from .autograd import CompiledKANFn, OneHotKANLayerFn
from .base import WindowModel, flat_index, onehot_sum
from .bspline import Knots
from .layer import KANLayer, TableLayer

FIRST_LAYERS = ("spline", "table")


# ----------------------------------------------------------------------------------------------
# network
# ----------------------------------------------------------------------------------------------
class KAN(WindowModel):
    """A stack of :class:`KANLayer`, with an exact one-hot fast path for the first layer.

    Parameters
    ----------
    width : nodes per layer, e.g. ``[33 * 21, 8, 1]``; ``width[-1]`` is 1 (one logit) or 2.
    grid, k, grid_range, grid_eps, base_fun, scale_noise : see :class:`KANLayer`.
    window_length : L for one-hot windows; then ``width[0] == L * 21`` and integer input (N, L)
        takes the fast path.
    seed : seed of the (local) random generator used for the initialisation.
    first_layer : "spline" (a :class:`KANLayer`) or "table" (a :class:`TableLayer`, one-hot
        windows only). Both start from the same function for the same seed: the table layer is
        initialised with the values of the spline layer the seed draws.
    encoding : residue encoding (:mod:`kanbio.data.residues`). With anything but onehot the
        first layer is a spline :class:`KANLayer` on the ``L * d`` features, edge ``(p * d + k,
        j)`` a function of feature k at position p; on index windows it is still a table,
        ``T[p, a, j] = sum_k phi_{p d + k, j}(E[a, k])``, rebuilt on every pass as one matrix
        product of the letters' cached basis values with the coefficients, table and gather-sum
        in one node (:class:`~kanbio.models.encoded_table.EncodedSumFn`), so training keeps the
        gather-sum cost.

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
        first_layer: str = "spline",
        encoding: str = "onehot",
    ) -> None:
        super().__init__()
        width = self._check_width(width, window_length)
        if first_layer not in FIRST_LAYERS:
            raise InputError(f"first_layer must be one of {', '.join(FIRST_LAYERS)}, got "
                             f"{first_layer!r}")
        if first_layer == "table" and window_length is None:
            raise InputError("first_layer 'table' needs one-hot windows (window_length)")
        if first_layer == "table" and encoding != "onehot":
            raise InputError(f"first_layer 'table' is the one-hot parametrisation; encoding "
                             f"{encoding!r} needs first_layer 'spline'")
        self.width, self.grid, self.k = width, int(grid), int(k)
        self.grid_range = [float(grid_range[0]), float(grid_range[1])]
        self.grid_eps, self.window_length, self.seed = float(grid_eps), window_length, int(seed)
        self.base_fun, self.scale_noise = base_fun, float(scale_noise)
        self.first_layer = first_layer
        self.encoding = self._check_encoding(encoding, window_length)
        gen = torch.Generator().manual_seed(self.seed)
        layers: list[nn.Module] = [
            KANLayer(i, o, grid, k, grid_range, grid_eps, base_fun, scale_noise, generator=gen)
            for i, o in pairwise(self._layer_width(width))
        ]
        if first_layer == "table":
            layers[0] = TableLayer.from_spline(layers[0])
        self.layers = nn.ModuleList(layers)
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
            "first_layer": self.first_layer,
            "encoding": self.encoding.name,
        }

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> KAN:
        """Build an (untrained) model from :meth:`config` (a config without ``first_layer``, as
        written before the table parametrisation existed, is a spline model)."""
        return cls(**{"first_layer": "spline", **cfg})

    @torch.no_grad()
    def convert(self, first_layer: str) -> KAN:
        """A copy with the first layer in the other parametrisation, same logits on one-hot
        windows: spline -> table stores ``T`` and the constant; table -> spline writes each edge
        as a linear spline (:meth:`TableLayer.to_spline`). One-hot encoding only."""
        if not self.encoding.is_onehot:
            raise InputError(f"convert applies to one-hot KANs, not encoding "
                             f"{self.encoding.name!r}")
        out = KAN.from_config({**self.config(), "first_layer": first_layer}).to(
            next(self.parameters()))
        for mine, theirs in zip(self.layers[1:], out.layers[1:], strict=True):
            theirs.load_state_dict(mine.state_dict())  # grids and masks included
        first = self.layers[0]
        if first_layer == self.first_layer:
            out.layers[0].load_state_dict(first.state_dict())
        elif first_layer == "table":
            out.layers[0] = TableLayer.from_spline(first)
        else:
            out.layers[0] = first.to_spline(self.grid, self.k, self.grid_range, self.base_fun)
        return out

    # -- forward -------------------------------------------------------------------------------
    def _compiled_plan(self, x: Tensor) -> tuple[tuple[Knots, Tensor | None, str], ...] | None:
        """(knots, mask, base_fun) per layer if the whole forward pass can run as
        :class:`CompiledKANFn` (index windows, compiled kernels available for the parameters,
        uniform grids on the hidden layers), else None."""
        if x.is_floating_point() or self.window_length is None or self.first_layer == "table" \
                or not self.encoding.is_onehot:
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
        if not self.encoding.is_onehot:
            return self._first_encoded(x, stats)
        if not self._onehot_mode(x):
            if not stats:
                return layer(x), None, None
            phi = layer.phi(x)  # (N, in, out)
            return layer(x), phi.abs().mean(0), phi.std(0, correction=0)
        flat = flat_index(x, self.window_length)  # (N, L)
        if not stats and self.first_layer == "table":
            return onehot_sum(flat, *layer.onehot_table()), None, None
        if not stats:  # const + sum_p Delta[flat[n, p]]: (N, H)
            out = OneHotKANLayerFn.apply(
                flat, layer.coef, layer.scale_base, layer.scale_sp, layer._live_mask(),
                layer._knots()
            )
            return out, None, None
        phi0, delta = layer.onehot_values()  # (in, out) each
        out = onehot_sum(flat, *layer.onehot_table())  # (N, H)
        # letter frequencies per (p, a): edge (p, a) sees 1 with probability f, else 0
        f = torch.bincount(flat.reshape(-1), minlength=layer.in_dim).to(phi0.dtype) / x.shape[0]
        f = f.unsqueeze(1)  # (in, 1)
        mean_abs = f * (phi0 + delta).abs() + (1 - f) * phi0.abs()  # (in, out)
        return out, mean_abs, delta.abs() * (f * (1 - f)).sqrt()

    def _first_encoded(self, x: Tensor, stats: bool) -> tuple[Tensor, Tensor | None,
                                                               Tensor | None]:
        """:meth:`_first` for an encoded first layer: edge statistics from the 21 letters' edge
        values weighted by the letter frequencies at each position (exact)."""
        layer, length = self.layers[0], self.window_length
        if not self._onehot_mode(x):
            x = self.encoding.dense(x, length)
            if not stats:
                return layer(x), None, None
            phi = layer.phi(x)  # (N, in, out)
            return layer(x), phi.abs().mean(0), phi.std(0, correction=0)
        flat = flat_index(x, length)  # (N, L)
        if not stats:
            return layer.encoded_sum(flat, self.encoding.matrix, length), None, None
        v = layer.encoded_values(self.encoding.matrix, length)  # (L, 21, d, H)
        out = onehot_sum(flat, v.sum(2).reshape(length * A, -1))  # (N, H)
        f = torch.bincount(flat.reshape(-1), minlength=length * A).to(v.dtype) / x.shape[0]
        f, h = f.reshape(length, A, 1, 1), v.shape[3]  # letter frequency per position
        var = ((f * v.square()).sum(1) - (f * v).sum(1).square()).clamp_min(0)  # (L, d, H)
        return out, (f * v.abs()).sum(1).reshape(-1, h), var.sqrt().reshape(-1, h)

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
            return CompiledKANFn.apply(flat_index(x, self.window_length), plan, *params)
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
            if lamb_coef and isinstance(layer, KANLayer):
                reg = reg + lamb_coef * layer.coef.abs().mean(0).sum()
            if lamb_coefdiff and isinstance(layer, KANLayer):
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
            if isinstance(layer, TableLayer):  # no grid: the table is the one-hot function
                continue
            pin = (0.0, 1.0) if i == 0 and self.window_length is not None and \
                self.encoding.is_onehot else ()
            layer.refine(new_grid, pin=pin)
        self.grid = int(new_grid)

    # -- explanation / accounting --------------------------------------------------------------
    @torch.no_grad()
    def first_layer_table(self) -> tuple[Tensor, Tensor]:
        """The first layer on one-hot windows: ``T`` (L, 21, H) and ``const`` (H,), so that
        ``h_j = const_j + sum_p T[p, a_p, j]``."""
        if self.window_length is None:
            raise InputError("first_layer_table needs a model built with window_length")
        delta = self.first_layer_weights()
        const = self.layers[0].onehot_table()[1] if self.encoding.is_onehot else \
            delta.new_zeros(delta.shape[1])
        return delta.detach().reshape(self.window_length, A, -1), const.detach()

    def first_layer_weights(self) -> Tensor:
        """The effective first-layer table ``T`` as (L * 21, H) on windows, differentiable in
        the parameters (the spline layer rebuilds it from its coefficients): what the L2 penalty
        acts on. Dense models: the layer's ``phi(1) - phi(0)``."""
        if self.encoding.is_onehot:
            return self.layers[0].onehot_table()[0]
        return self.layers[0].encoded_table(self.encoding.matrix, self.window_length)

    has_groups = True

    def can_drop_groups(self) -> bool:
        """A spline first layer on one-hot windows cannot drop a position without moving the
        constant of every node (its edges' ``phi(0)``); every other KAN on windows can."""
        return self.window_length is not None and not (
            self.encoding.is_onehot and self.first_layer == "spline")

    def _group_tensor(self) -> Tensor:
        """(L, 21, H) table rows per position (onehot), or (L, d, 21, H) edge values of each
        position and feature on the 21 letters."""
        length = self.window_length
        if self.encoding.is_onehot:
            return self.first_layer_weights().reshape(length, A, -1)
        return self.layers[0].encoded_values(self.encoding.matrix, length).transpose(1, 2)

    def _drop_groups(self, drop: Tensor) -> None:
        """Mask the edges of dropped groups (see :meth:`can_drop_groups`)."""
        if not self.can_drop_groups():
            raise InputError("group pruning needs a table first layer on one-hot windows")
        mask = self.layers[0].mask.view(self.window_length, -1 if self.encoding.is_onehot else
                                        self.encoding.dim, self.width[1])
        mask.mul_((~drop.reshape(self.window_length, -1, 1)).to(mask))  # (L, 1 | d, 1)

    def _table_rank(self) -> int:
        """Free table entries per position and unit: 21, or ``d (G + k + 1)`` if fewer."""
        if self.encoding.is_onehot:
            return A
        return min(A, self.encoding.dim * (self.grid + self.k + 1))

    def first_layer_parameters(self) -> list[Tensor]:
        return list(self.layers[0].parameters())

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
        for i, (n_in, n_out) in enumerate(pairwise(self._layer_width(self.width))):
            if i == 0 and input == "onehot":
                total += (self.window_length + 1) * n_out
            elif i == 0 and self.first_layer == "table":
                total += 2 * n_in * n_out + n_out  # dense input: const + x @ table
            else:
                total += n_in * per_input + n_in * n_out * per_edge
        return total
