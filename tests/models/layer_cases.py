"""Shared cases of the KAN layer tests: random parameters, an exactly uniform float64 grid, and
inputs at the grid's edges."""

from __future__ import annotations

import torch

from kanbio.models import KANLayer


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.detach(), b.detach()
    return float((a - b).abs().max() / (b.abs().max() + 1e-12))


def randomise_layer(module: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Every parameter ~ N(0, 1) from ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype))
    return module


def uniform_layer(base_fun: str, k: int, out: int, pruned: bool) -> KANLayer:
    """A random float64 KANLayer(4, out, grid=5, k) whose knots are exactly equidistant in
    float64, with a different spacing per input; edge (1, 0) pruned if asked."""
    layer = randomise_layer(KANLayer(4, out, grid=5, k=k, base_fun=base_fun).double(), k)
    with torch.no_grad():
        h = torch.tensor([0.4, 0.25, 1.0, 0.1], dtype=torch.float64)[:, None]
        layer.grid.copy_(-1.3 + h * torch.arange(-k, 5 + k + 1, dtype=torch.float64))
    if pruned:
        layer.mask[1, 0] = 0
    assert layer._knots().uniform is not None
    return layer


def edge_inputs(layer: KANLayer, k: int, first: float) -> torch.Tensor:
    """40 inputs (4 columns) inside and outside the grid: row 0 at the first knot + ``first``,
    row 1 at the last knot (outside), row 2 far out, the rest uniform in [-4, 4)."""
    gen = torch.Generator().manual_seed(k)
    x = torch.rand(40, 4, generator=gen, dtype=torch.float64) * 8 - 4
    x[0] = layer.grid[:, 0] + first
    x[1] = layer.grid[:, -1]
    x[2] = torch.tensor([-1e6, 1e6, -30.0, 30.0])
    return x
