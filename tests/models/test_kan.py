"""KAN layer and network: B-splines, the exact one-hot fast path, grids, regulariser, pruning."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from layer_cases import edge_inputs, rel_err, uniform_layer
from scipy.interpolate import BSpline

from kanbio.data.alphabet import A
from kanbio.errors import InputError
from kanbio.models import KAN, KANLayer
from kanbio.models.autograd import KANLayerFn, LocalKANLayerFn, OneHotTable

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)  # every test sees the same random draws


def onehot(idx: torch.Tensor) -> torch.Tensor:
    """(N, L) indices -> (N, L * 21) float64 one-hot, column p * 21 + a."""
    n, length = idx.shape
    out = torch.zeros(n, length * A, dtype=torch.float64)
    return out.scatter_(1, idx.long() + A * torch.arange(length), 1.0)


def randomise(model: KAN, seed: int) -> KAN:
    """Give every edge a non-trivial function (the initial coefficients are tiny)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * 0.5)
    return model


def smooth(layer: KANLayer, freq: float = 2.0) -> KANLayer:
    """Set every edge's spline to a smooth curve (a scaled sin) over the whole grid."""
    lo, hi = layer.grid[:, 0], layer.grid[:, -1]  # (in,)
    x = lo + (hi - lo) * torch.linspace(0, 1, 200, dtype=lo.dtype)[:, None]  # (200, in)
    scale = torch.linspace(0.5, 1.5, layer.out_dim, dtype=lo.dtype)
    with torch.no_grad():
        layer.coef.copy_(layer.curve2coef(x, torch.sin(freq * x)[..., None] * scale))
    return layer


def windows(n: int, length: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, A, (n, length), generator=gen, dtype=torch.uint8)


# ------------------------------------------------------------------------------------------------
# layer
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("k", [0, 1, 2, 3])
def test_b_splines_match_scipy_on_an_adapted_grid(k):
    layer = KANLayer(3, 2, grid=4, k=k).double()
    gen = torch.Generator().manual_seed(k)
    layer.update_grid(torch.randn(200, 3, generator=gen, dtype=torch.float64) ** 3)
    x = torch.randn(50, 3, generator=gen, dtype=torch.float64) * 2
    ours = layer.b_splines(x)  # (N, in, G + k)
    for i in range(3):
        t = layer.grid[i].numpy()
        for b in range(4 + k):
            ref = BSpline.basis_element(t[b : b + k + 2], extrapolate=False)(x[:, i].numpy())
            np.testing.assert_allclose(ours[:, i, b].numpy(), np.nan_to_num(ref), atol=1e-12)
    assert torch.allclose(
        layer.b_splines(x).sum(-1)[(x > -0.5) & (x < 0.5)], torch.tensor(1.0).double()
    )


@pytest.mark.parametrize("base_fun", ["silu", "identity", "zero"])
@pytest.mark.parametrize("k", [0, 1, 3])
@pytest.mark.parametrize("pruned", [False, True])
@pytest.mark.parametrize("adapted", [False, True])
def test_hand_written_backwards_pass_gradcheck(base_fun, k, pruned, adapted):
    layer = KANLayer(4, 3, grid=3, k=k, base_fun=base_fun).double()
    if pruned:
        layer.mask[0, 1] = 0
    if adapted:  # non-uniform knots
        layer.update_grid(torch.randn(50, 4, dtype=torch.float64))
    x = (torch.rand(6, 4, dtype=torch.float64) * 2.8 - 1.4).requires_grad_()
    params = [p.detach().clone().requires_grad_() for p in layer.parameters()]
    kn, mask = layer._knots(), layer._live_mask()
    assert (mask is None) != pruned
    assert torch.autograd.gradcheck(
        lambda x, c, b, s: KANLayerFn.apply(x, c, b, s, mask, kn, base_fun), (x, *params)
    )
    assert torch.autograd.gradcheck(lambda c, b, s: OneHotTable.apply(c, b, s, mask, kn), params)
    torch.testing.assert_close(layer(x), layer.phi(x).sum(1))
    delta, const = layer.onehot_table()
    phi0, delta2 = layer.onehot_values()
    torch.testing.assert_close(delta, delta2)
    torch.testing.assert_close(const, phi0.sum(0))


@pytest.mark.parametrize("base_fun", ["silu", "identity", "zero"])
@pytest.mark.parametrize("k", [1, 2, 3])
@pytest.mark.parametrize("out", [1, 3])
@pytest.mark.parametrize("pruned", [False, True])
def test_local_uniform_grid_path_equals_cox_de_boor(base_fun, k, out, pruned):
    layer = uniform_layer(base_fun, k, out, pruned)
    kn, mask = layer._knots(), layer._live_mask()
    # first knot (inside; k = 1 has a kink there, so just inside), last knot (outside), far out
    x = edge_inputs(layer, k, 1e-9 if k == 1 else 0.0).requires_grad_()
    params = [p.detach().clone().requires_grad_() for p in layer.parameters()]
    outs = []
    for fn in (KANLayerFn, LocalKANLayerFn):
        y = fn.apply(x, *params, mask, kn, base_fun)
        outs.append((y, *torch.autograd.grad(y.square().sum(), (x, *params))))
    for a, b in zip(*outs, strict=True):
        assert rel_err(a, b) <= 1e-12
    x3 = x.detach()[3:9].clone().requires_grad_()
    assert torch.autograd.gradcheck(
        lambda x, c, b, s: LocalKANLayerFn.apply(x, c, b, s, mask, kn, base_fun), (x3, *params)
    )


def test_layers_pick_the_local_path_on_uniform_grids_only():
    layer = KANLayer(3, 2, grid=5, k=3)  # float32 knots lo + h i: uniform up to rounding
    assert layer._knots().uniform is not None
    layer.refine(7)
    assert layer._knots().uniform is not None
    x = torch.randn(64, 3)
    torch.testing.assert_close(layer(x), layer.phi(x).sum(1), rtol=1e-5, atol=1e-6)
    layer.update_grid(x ** 3)  # quantile grid: Cox-de Boor
    assert layer._knots().uniform is None
    torch.testing.assert_close(layer(x), layer.phi(x).sum(1), rtol=1e-5, atol=1e-6)
    assert KANLayer(3, 2, grid=5, k=0)._knots().uniform is None  # piecewise constant


# ------------------------------------------------------------------------------------------------
# exact one-hot fast path
# ------------------------------------------------------------------------------------------------
@settings(max_examples=30, deadline=None, derandomize=True)
@given(
    length=st.integers(1, 6),
    hidden=st.lists(st.integers(1, 5), min_size=1, max_size=2),
    out=st.sampled_from([1, 2]),
    grid=st.integers(3, 8),
    k=st.integers(1, 3),
    grid_range=st.sampled_from([(-1.0, 1.0), (0.2, 0.9), (-0.5, 0.8), (1.5, 3.0), (-3.0, -2.0)]),
    n=st.integers(1, 9),
    prune=st.booleans(),
    seed=st.integers(0, 10_000),
)
def test_fast_path_equals_dense_path(length, hidden, out, grid, k, grid_range, n, prune, seed):
    width = [length * A, *hidden, out]
    model = randomise(
        KAN(width, grid=grid, k=k, grid_range=grid_range, window_length=length, seed=seed).double(),
        seed,
    )
    if prune:  # exercises the masked code paths
        gen = torch.Generator().manual_seed(seed)
        for layer in model.layers:
            layer.mask.mul_((torch.rand(layer.mask.shape, generator=gen) > 0.3).double())
    if seed % 2:  # first layer with different knots per input (the general table path)
        model.layers[0].update_grid(torch.randn(40, width[0], dtype=torch.float64))
    idx = windows(n, length, seed)
    if seed % 3 == 0:  # non-uniform hidden grids (the Cox-de Boor evaluator)
        model.update_grid(windows(30, length, seed + 1))
        with torch.no_grad():  # quantile knots sit on sample values, where a k = 1 spline has a
            for layer in model.layers[1:]:  # kink; the two paths' sums may differ in the last
                layer.grid.mul_(1 + 1e-6).add_(1e-6)  # bit, so move the knots off the samples
    params = list(model.parameters())
    y_fast = model(idx)
    g_fast = torch.autograd.grad(y_fast.square().sum(), params)
    y_dense = model(onehot(idx))
    g_dense = torch.autograd.grad(y_dense.square().sum(), params)
    assert y_fast.shape == (n, out)
    assert rel_err(y_fast, y_dense) <= 1e-5
    for gf, gd in zip(g_fast, g_dense, strict=True):
        assert rel_err(gf, gd) <= 1e-5


def test_fast_path_accepts_int64_and_float32_defaults():
    model = KAN([4 * A, 3, 1], window_length=4)
    idx = windows(10, 4, 1)
    torch.testing.assert_close(model(idx), model(idx.long()))
    torch.testing.assert_close(model(idx), model(onehot(idx).float()), atol=1e-6, rtol=1e-5)


def test_first_layer_table_reproduces_the_hidden_layer():
    model = randomise(KAN([3 * A, 4, 2], window_length=3).double(), 3)
    idx = windows(12, 3, 3)
    t, const = model.first_layer_table()  # (L, 21, H), (H,)
    assert t.shape == (3, A, 4) and const.shape == (4,)
    h = const + t[torch.arange(3), idx.long()].sum(1)  # (N, H)
    torch.testing.assert_close(h, model.layers[0](onehot(idx)))


# ------------------------------------------------------------------------------------------------
# grids
# ------------------------------------------------------------------------------------------------
def test_update_grid_keeps_the_function_and_adapts_hidden_grids():
    model = randomise(KAN([4 * A, 5, 1], grid=8, k=3, window_length=4).double(), 0)
    with torch.no_grad():  # hidden activations inside the initial hidden grid
        model.layers[0].coef.mul_(0.1)
        model.layers[0].scale_base.mul_(0.1)
    smooth(model.layers[1])
    idx = windows(400, 4, 0)
    before = model(idx)
    first_grid = model.layers[0].grid.clone()
    with torch.no_grad():
        h = model.layers[0](onehot(idx))  # (N, 5) activations entering the hidden layer
    model.update_grid(idx)
    after = model(idx)
    assert torch.equal(model.layers[0].grid, first_grid)  # one-hot layer untouched
    g = model.layers[1].grid  # (5, G + 2k + 1): interior spans the activations
    tol = 0.02 * float(h.std())
    torch.testing.assert_close(g[:, 3], h.min(0).values, atol=tol, rtol=0)
    torch.testing.assert_close(g[:, -4], h.max(0).values, atol=tol, rtol=0)
    assert (before - after).abs().max() < 0.01 * before.std()


def test_layer_update_grid_is_exact_when_the_old_spline_fits_the_new_grid():
    # an identity-like spline (linear in x) is representable on any cubic grid
    layer = KANLayer(2, 1, grid=4, k=3, grid_range=(-2, 2)).double()
    with torch.no_grad():
        layer.coef.copy_(layer.curve2coef(*_linear_samples(layer)))
    x = torch.rand(300, 2, dtype=torch.float64) * 2 - 1
    before = layer(x)
    layer.update_grid(x)
    assert (layer(x) - before).abs().max() < 1e-10
    assert layer.grid[:, 3].sub(x.min(0).values).abs().max() < 0.05


def _linear_samples(layer: KANLayer) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.linspace(-2, 2, 50, dtype=torch.float64)[:, None].expand(50, layer.in_dim)
    return x, (0.7 * x - 0.2)[..., None].expand(50, layer.in_dim, layer.out_dim)


@pytest.mark.parametrize("new_grid, tol", [(10, 1e-10), (15, 1e-10), (7, 1e-2)])
def test_layer_refine_keeps_the_function(new_grid, tol):
    layer = KANLayer(3, 2, grid=5, k=3).double()
    layer.update_grid(torch.randn(500, 3, dtype=torch.float64))  # non-uniform knots
    smooth(layer, 0.5)  # exact for multiples of G whatever the curve; slow for the 7-interval fit
    lo, hi = layer.grid[:, 3], layer.grid[:, -4]
    x = lo + (hi - lo) * torch.rand(400, 3, dtype=torch.float64)  # interior of the grid
    before = layer(x)
    layer.refine(new_grid)
    assert layer.coef.shape == (new_grid + 3, 3, 2) and layer.grid.shape == (3, new_grid + 7)
    assert (layer(x) - before).abs().max() <= tol * before.abs().max()


def test_network_refine_keeps_one_hot_outputs():
    model = randomise(KAN([3 * A, 4, 1], grid=3, k=2, window_length=3).double(), 5)
    with torch.no_grad():  # keep hidden activations inside the hidden grid
        model.layers[0].coef.mul_(0.05)
        model.layers[0].scale_base.mul_(0.05)
    idx = windows(64, 3, 5)
    before = model(idx)
    model.refine(6)
    assert model.config()["grid"] == 6
    assert (model(idx) - before).abs().max() < 1e-9
    # phi(0) and phi(1) are pinned, so the one-hot table itself is unchanged up to rounding
    model2 = randomise(KAN([3 * A, 4, 1], grid=3, k=2, window_length=3).double(), 5)
    t0, c0 = model2.first_layer_table()
    model2.refine(5)  # not a multiple: only the pinned values are exact
    t1, c1 = model2.first_layer_table()
    torch.testing.assert_close(t1, t0)
    torch.testing.assert_close(c1, c0)


# ------------------------------------------------------------------------------------------------
# regularisation, scores, pruning
# ------------------------------------------------------------------------------------------------
def test_regularization_fast_first_layer_equals_dense():
    model = randomise(KAN([5 * A, 4, 3, 1], window_length=5).double(), 7)
    idx = windows(30, 5, 7)
    with pytest.raises(RuntimeError, match="cache_acts"):
        model.regularization()
    y_fast = model(idx, cache_acts=True)
    acts_fast = [a.detach() for a in model.acts_scale]
    reg_fast = model.regularization(lamb_l1=1.0, lamb_entropy=2.0, lamb_coef=0.1, lamb_coefdiff=0.1)
    g_fast = torch.autograd.grad(reg_fast, list(model.parameters()))
    model.cache_acts = True  # the attribute form
    y_dense = model(onehot(idx))
    reg_dense = model.regularization(
        lamb_l1=1.0, lamb_entropy=2.0, lamb_coef=0.1, lamb_coefdiff=0.1
    )
    g_dense = torch.autograd.grad(reg_dense, list(model.parameters()))
    assert torch.isfinite(reg_fast) and reg_fast > 0
    torch.testing.assert_close(y_fast, y_dense)
    for a, b in zip(acts_fast, model.acts_scale, strict=True):
        torch.testing.assert_close(a, b.detach())
    torch.testing.assert_close(reg_fast, reg_dense)
    for a, b in zip(g_fast, g_dense, strict=True):
        torch.testing.assert_close(a, b)
    model.cache_acts = False
    model(idx)
    assert model.acts_scale is None


def test_feature_scores_agree_between_paths_and_vanish_on_dead_inputs():
    model = randomise(KAN([4 * A, 3, 1], window_length=4).double(), 11)
    with torch.no_grad():  # position 2 carries no weight at all
        rows = slice(2 * A, 3 * A)
        model.layers[0].coef[:, rows] = 0
        model.layers[0].scale_base[rows] = 0
    idx = windows(200, 4, 11)
    fs = model.feature_scores(idx)
    assert fs.shape == (4 * A,)
    torch.testing.assert_close(fs, model.feature_scores(onehot(idx)))
    assert fs[rows].abs().max() == 0 and fs.sum() > 0
    scores = model.edge_scores(idx)
    assert [s.shape for s in scores] == [(4 * A, 3), (3, 1)]


def test_prune_removes_dead_edges_and_keeps_outputs():
    model = randomise(KAN([4 * A, 3, 1], window_length=4).double(), 2)
    with torch.no_grad():
        rows = slice(A, 2 * A)  # position 1 carries zero weight
        model.layers[0].coef[:, rows] = 0
        model.layers[0].scale_base[rows] = 0
    idx = windows(300, 4, 2)
    before = model(idx)
    model.prune(idx, node_threshold=1e-8, edge_threshold=1e-8)
    mask = model.layers[0].mask
    assert mask[rows].sum() == 0  # every edge of the dead position is gone
    assert mask.sum() >= mask.numel() - 2 * A * 3  # live edges kept (unused letters may go)
    torch.testing.assert_close(model(idx), before)


def test_prune_drops_weak_edges_and_dead_hidden_nodes():
    model = randomise(KAN([2 * A, 3, 1], window_length=2).double(), 4)
    with torch.no_grad():  # hidden node 1 receives nothing and sends nothing
        model.layers[0].coef[..., 1] = 0
        model.layers[0].scale_base[:, 1] = 0
        model.layers[1].coef[:, 1] = 0
        model.layers[1].scale_base[1] = 0
    idx = windows(100, 2, 4)
    before = model(idx)
    model(idx, cache_acts=True)
    model.prune(node_threshold=1e-6, edge_threshold=1e-6)  # from the cached magnitudes
    assert model.layers[0].mask[:, 1].sum() == 0 and model.layers[1].mask[1].sum() == 0
    assert model.layers[1].mask[[0, 2]].sum() == 2
    torch.testing.assert_close(model(idx), before)
    # a large threshold removes edges and changes the function
    model.prune(idx, edge_threshold=1e9)
    assert all(layer.mask.sum() == 0 for layer in model.layers)


# ------------------------------------------------------------------------------------------------
# persistence, construction, accounting, errors
# ------------------------------------------------------------------------------------------------
def test_checkpoint_round_trip_after_grid_changes_and_pruning():
    model = randomise(KAN([3 * A, 4, 2], grid=4, k=2, window_length=3, seed=3), 3)
    idx = windows(50, 3, 3)
    model.update_grid(idx)
    model.refine(8)
    model.prune(idx, edge_threshold=0.05)
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    buf.seek(0)
    state = torch.load(buf, weights_only=True)
    cfg = json.loads(json.dumps(model.config()))
    clone = KAN.from_config(cfg)
    clone.load_state_dict(state)
    assert torch.equal(clone(idx), model(idx))
    assert all(isinstance(v, torch.Tensor) for v in state.values())


def test_seeded_initialisation_is_deterministic_and_local():
    torch.manual_seed(0)
    a = torch.rand(1)
    torch.manual_seed(0)
    m1, m2, m3 = KAN([10, 3, 1], seed=1), KAN([10, 3, 1], seed=1), KAN([10, 3, 1], seed=2)
    assert torch.equal(torch.rand(1), a)  # the global generator was not touched
    for p1, p2 in zip(m1.parameters(), m2.parameters(), strict=True):
        assert torch.equal(p1, p2)
    assert not torch.equal(m1.layers[0].coef, m3.layers[0].coef)


def test_params_and_flops():
    model = KAN([33 * A, 8, 1], grid=5, k=3, window_length=33)
    assert model.n_params() == (33 * A * 8 + 8) * (5 + 3 + 2)
    assert model.flops("onehot") < model.flops("dense") / 50
    assert model.flops("onehot") == (33 + 1) * 8 + model.flops("dense") - KAN(
        [33 * A, 8], grid=5, k=3
    ).flops("dense")
    with pytest.raises(InputError):
        KAN([10, 3, 1]).flops("onehot")


def test_dense_only_model_updates_its_first_grid():
    model = randomise(KAN([6, 4, 1], grid=8).double(), 9)
    with torch.no_grad():
        model.layers[0].scale_base.mul_(0.1)
    for layer in model.layers:
        smooth(layer)
    with torch.no_grad():  # hidden activations inside the hidden grid
        model.layers[0].coef.mul_(0.1)
    x = torch.rand(300, 6, dtype=torch.float64) * 1.6 - 0.8
    before = model(x)
    model.update_grid(x)
    assert not torch.allclose(model.layers[0].grid[:, 3], torch.tensor(-1.0).double())
    assert (model(x) - before).abs().max() < 0.01 * before.std()
    with pytest.raises(InputError, match="window_length"):
        model(torch.zeros(2, 6, dtype=torch.long))


@pytest.mark.parametrize(
    "bad",
    [
        torch.full((2, 3), 21, dtype=torch.uint8),  # index past the alphabet
        torch.full((2, 3), -1, dtype=torch.long),
        torch.zeros(2, 4, dtype=torch.uint8),  # wrong window length
        torch.zeros(2, 3 * A + 1),  # wrong dense width
    ],
)
def test_bad_input_raises_input_error(bad):
    model = KAN([3 * A, 2, 1], window_length=3)
    with pytest.raises(InputError):
        model(bad)


def test_bad_construction_raises_input_error():
    with pytest.raises(InputError):
        KAN([3 * A + 1, 2, 1], window_length=3)
    with pytest.raises(InputError):
        KAN([5])
    with pytest.raises(InputError):
        KAN([5, 2], grid_range=(1, -1))
    with pytest.raises(InputError):
        KANLayer(2, 2, base_fun="relu")
