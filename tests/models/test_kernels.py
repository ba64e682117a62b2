"""Compiled CPU kernels against the tensor paths they replace: values and every gradient."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from layer_cases import edge_inputs, randomise_layer, rel_err, uniform_layer

from kanbio.data.alphabet import A
from kanbio.models import KAN, MLP, KANLayer, flat_index, kernels, onehot_sum
from kanbio.models.autograd import (
    CompiledLocalKANLayerFn,
    KANLayerFn,
    LocalKANLayerFn,
    OneHotKANLayerFn,
)
from kanbio.models.base import gather_sum_grad

pytestmark = pytest.mark.skipif(kernels.numba is None, reason="numba is not importable")


@pytest.fixture
def tensor_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kernels, "ACTIVE", False)


def values_and_grads(fn, inputs: list[torch.Tensor]) -> list[torch.Tensor]:
    """fn(*inputs), then the gradients of a non-symmetric loss w.r.t. every input."""
    inputs = [t.detach().clone().requires_grad_() for t in inputs]
    y = fn(*inputs)
    w = torch.linspace(-1, 2, y.numel(), dtype=y.dtype).view_as(y)
    return [y, *torch.autograd.grad((y * w).sum() + y.square().sum(), inputs)]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("h", [1, 3, 8, 11, 17])  # blocks of 8 columns and the remainder
def test_onehot_gather_and_scatter_match_embedding_bag_and_index_add(dtype, h):
    gen = torch.Generator().manual_seed(h)
    idx = torch.randint(0, A, (37, 6), generator=gen, dtype=torch.uint8)
    flat = flat_index(idx, 6)
    table = torch.randn(6 * A, h, generator=gen, dtype=dtype)
    bias = torch.randn(h, generator=gen, dtype=dtype)
    g = torch.randn(37, h, generator=gen, dtype=dtype)
    ref = F.embedding_bag(flat, table, mode="sum") + bias
    tol = 1e-6 if dtype == torch.float32 else 1e-14
    assert rel_err(kernels.onehot_sum(flat, table, bias), ref) <= tol
    ref_grad = torch.zeros_like(table).index_add_(0, flat.reshape(-1),
                                                   g.repeat_interleave(6, 0))
    assert rel_err(kernels.onehot_grad(flat, g, 6 * A), ref_grad) <= tol
    assert rel_err(gather_sum_grad(flat, g, 6 * A), ref_grad) <= tol


def test_onehot_sum_gradients_match_the_tensor_path(tensor_paths):
    flat = flat_index(torch.randint(0, A, (20, 4), dtype=torch.uint8), 4)
    table, bias = torch.randn(4 * A, 5, dtype=torch.float64), torch.randn(5, dtype=torch.float64)
    ref = values_and_grads(lambda t, b: onehot_sum(flat, t, b), [table, bias])
    kernels.ACTIVE = True
    ours = values_and_grads(lambda t, b: onehot_sum(flat, t, b), [table, bias])
    for a, b in zip(ours, ref, strict=True):
        assert rel_err(a, b) <= 1e-13


@pytest.mark.parametrize("base_fun", ["silu", "identity", "zero"])
@pytest.mark.parametrize("pruned", [False, True])
@pytest.mark.parametrize("per_input_knots", [False, True])
def test_onehot_kan_layer_matches_the_tensor_path(base_fun, pruned, per_input_knots):
    layer = randomise_layer(KANLayer(3 * A, 4, grid=5, k=3, base_fun=base_fun).double(), 1)
    if per_input_knots:
        layer.update_grid(torch.randn(60, 3 * A, dtype=torch.float64))
    if pruned:
        layer.mask[[0, 5, 9], [1, 2, 0]] = 0
    kn, mask = layer._knots(), layer._live_mask()
    assert (kn.v01.dim() == 3) == per_input_knots
    flat = flat_index(torch.randint(0, A, (25, 3), dtype=torch.uint8), 3)
    params = list(layer.parameters())

    def run() -> list[torch.Tensor]:
        return values_and_grads(lambda c, b, s: OneHotKANLayerFn.apply(flat, c, b, s, mask, kn),
                                params)

    ours = run()
    kernels.ACTIVE = False
    try:
        ref = run()
    finally:
        kernels.ACTIVE = True
    for a, b in zip(ours, ref, strict=True):
        assert rel_err(a, b) <= 1e-12


@pytest.mark.parametrize("base_fun", ["silu", "identity", "zero"])
@pytest.mark.parametrize("k", [1, 2, 3, 4])  # k = 4: the generic (not unrolled) polynomials
@pytest.mark.parametrize("out", [1, 3])
@pytest.mark.parametrize("pruned", [False, True])
def test_compiled_hidden_layer_matches_both_tensor_paths(base_fun, k, out, pruned):
    layer = uniform_layer(base_fun, k, out, pruned)
    kn, mask = layer._knots(), layer._live_mask()
    x = edge_inputs(layer, k, 1e-9)  # (just inside the first knot)
    inputs = [x, *layer.parameters()]
    results = [
        values_and_grads(lambda x, c, b, s, fn=fn: fn.apply(x, c, b, s, mask, kn, base_fun),
                         inputs)
        for fn in (CompiledLocalKANLayerFn, LocalKANLayerFn, KANLayerFn)
    ]
    for ours, local, cox in zip(*results, strict=True):
        assert rel_err(ours, local) <= 1e-12
        assert rel_err(ours, cox) <= 1e-12
    x3 = x[3:9].clone().requires_grad_()
    params = [p.detach().clone().requires_grad_() for p in layer.parameters()]
    assert torch.autograd.gradcheck(
        lambda x, c, b, s: CompiledLocalKANLayerFn.apply(x, c, b, s, mask, kn, base_fun),
        (x3, *params),
    )


def test_layers_use_the_kernels_on_cpu_float_only(monkeypatch):
    calls: list[str] = []
    for name in ("local_forward", "onehot_kan_forward", "onehot_sum"):
        real = getattr(kernels, name)
        monkeypatch.setattr(kernels, name,
                            lambda *a, _n=name, _f=real: calls.append(_n) or _f(*a))
    kan, mlp = KAN([3 * A, 4, 1], window_length=3), MLP([3 * A, 4, 1], window_length=3)
    idx = torch.randint(0, A, (10, 3), dtype=torch.uint8)
    kan(idx)
    mlp(idx)
    assert calls == ["onehot_kan_forward", "local_forward", "onehot_sum"]
    calls.clear()
    monkeypatch.setattr(kernels, "ACTIVE", False)
    torch.testing.assert_close(kan(idx), kan(idx))
    mlp(idx)
    assert calls == []


def test_training_steps_match_the_tensor_paths_in_float32(monkeypatch):
    """A few Adam steps of the default KAN from the same start: kernels vs tensor paths."""
    gen = torch.Generator().manual_seed(3)
    idx = torch.randint(0, A, (256, 9), dtype=torch.uint8, generator=gen)
    y = (idx[:, 4] == 5).float()[:, None]
    outs = []
    for active in (True, False):
        monkeypatch.setattr(kernels, "ACTIVE", active)
        model = KAN([9 * A, 8, 1], window_length=9, seed=2)
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        for _ in range(5):
            opt.zero_grad()
            F.binary_cross_entropy_with_logits(model(idx), y).backward()
            opt.step()
        outs.append(torch.cat([p.detach().reshape(-1) for p in model.parameters()]))
    assert rel_err(outs[0], outs[1]) <= 1e-4


@pytest.mark.parametrize("pruned", [False, True])
def test_whole_network_node_matches_the_tensor_paths(pruned, monkeypatch):
    """Deep KAN on index windows: one compiled node (CPU) against the per-layer tensor paths."""
    model = KAN([4 * A, 5, 3, 2], grid=4, k=3, window_length=4, seed=1).double()
    randomise_layer(model, 4)
    with torch.no_grad():  # knots -1 + 0.5 i are exact: uniform in float64 as well
        for layer in model.layers:
            assert layer._knots().uniform is not None
            if pruned:
                layer.mask[0, 1] = 0
    idx = torch.randint(0, A, (30, 4), dtype=torch.uint8)
    params = list(model.parameters())
    y = model(idx)
    assert type(y.grad_fn).__name__ == "CompiledKANFnBackward"
    ours = [y, *torch.autograd.grad(y.square().sum() + y[:, 0].sum(), params)]
    monkeypatch.setattr(kernels, "ACTIVE", False)
    y = model(idx)
    assert type(y.grad_fn).__name__ != "CompiledKANFnBackward"
    ref = [y, *torch.autograd.grad(y.square().sum() + y[:, 0].sum(), params)]
    for a, b in zip(ours, ref, strict=True):
        assert rel_err(a, b) <= 1e-12
    monkeypatch.setattr(kernels, "ACTIVE", True)
    with torch.no_grad():  # inference keeps no state for a backward
        torch.testing.assert_close(model(idx), ref[0].detach(), rtol=1e-12, atol=1e-12)


WORKOUT = r"""
import math
import torch
from kanbio.data.alphabet import A
from kanbio.models import KAN, MLP, KANLayer
from kanbio.models.autograd import CompiledLocalKANLayerFn

torch.manual_seed(0)
idx = torch.randint(0, A, (37, 5), dtype=torch.uint8)
for dtype in (torch.float32, torch.float64):
    for width in ([5 * A, 3, 1], [5 * A, 9, 4, 2], [5 * A, 17, 1]):
        for k in (1, 2, 3, 4):
            model = KAN(width, grid=4, k=k, window_length=5).to(dtype)
            model.layers[-1].mask[0, 0] = 0
            model(idx).square().sum().backward()  # training: one compiled node
            with torch.no_grad():
                model(idx)
            model.requires_grad_(False)  # inference without any gradient
            model(idx)
            h = torch.tensor([[math.nan, math.inf, -math.inf] + [0.3] * (width[1] - 3)],
                             dtype=dtype).expand(4, -1).contiguous() if width[1] >= 3 else None
            if h is not None:
                x = h.clone().requires_grad_()
                layer = model.layers[1]
                y = CompiledLocalKANLayerFn.apply(x, layer.coef, layer.scale_base,
                                                   layer.scale_sp, None, layer._knots(), "silu")
                y.sum().backward()  # (non-finite inputs: no crash, whatever the values)
        dense = torch.nn.functional.one_hot(idx.long(), A).reshape(len(idx), -1).to(dtype)
        KAN(width, window_length=5).to(dtype)(dense).sum().backward()
        mlp = MLP(width, window_length=5).to(dtype)
        mlp(idx).sum().backward()
        mlp.requires_grad_(False)
        mlp(idx)
    per_input = KAN([5 * A, 6, 1], window_length=5).to(dtype)
    per_input.layers[0].update_grid(torch.randn(50, 5 * A, dtype=dtype))
    per_input(idx).sum().backward()
print("ok")
"""


def test_kernels_stay_in_bounds(tmp_path):
    """Every kernel entry point, compiled with bounds checks (a fresh process and cache): an
    out-of-range index raises instead of corrupting memory."""
    import os  # noqa: PLC0415
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    env = {**os.environ, "NUMBA_BOUNDSCHECK": "1", "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    run = subprocess.run([sys.executable, "-c", WORKOUT], env=env, capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.strip() == "ok"
