"""The table parametrisation of a KAN's first layer: same function class as the spline one,
exact fast path, conversions, checkpoints, explanations and effective parameter counts."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from layer_cases import rel_err

from kanbio.data.alphabet import A
from kanbio.errors import InputError
from kanbio.explain.attribution import kan_exact
from kanbio.explain.formula import auto_symbolic
from kanbio.models import (
    KAN,
    MLP,
    build,
    checkpoint,
    kan_n_params,
    matched_width,
    predict_logit,
    table_form,
)
from kanbio.models.layer import KANLayer, TableLayer
from kanbio.train import TrainConfig, _param_groups

torch.set_num_threads(1)


def onehot(idx: torch.Tensor) -> torch.Tensor:
    """(N, L) indices -> (N, L * 21) float64 one-hot, column p * 21 + a."""
    n, length = idx.shape
    out = torch.zeros(n, length * A, dtype=torch.float64)
    return out.scatter_(1, idx.long() + A * torch.arange(length), 1.0)


def windows(n: int, length: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, A, (n, length), generator=gen, dtype=torch.uint8)


def randomise(model: KAN, seed: int, scale: float = 0.5) -> KAN:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * scale)
    return model


def spline_kan(length: int = 4, hidden=(3,), out: int = 1, seed: int = 0, prune: bool = False,
               **kw) -> KAN:
    model = randomise(KAN([length * A, *hidden, out], window_length=length, seed=seed,
                          **kw).double(), seed)
    if prune:
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for layer in model.layers:
                layer.mask.mul_((torch.rand(layer.mask.shape, generator=gen) > 0.3).double())
    return model


@pytest.mark.parametrize("hidden,out,prune", [((3,), 1, False), ((4, 3), 2, True),
                                              ((5,), 1, True)])
def test_a_spline_kans_table_in_a_table_kan_gives_the_same_logits(hidden, out, prune):
    sp = spline_kan(hidden=hidden, out=out, seed=len(hidden) + out, prune=prune)
    tb = sp.convert("table")
    assert tb.first_layer == "table" and isinstance(tb.layers[0], TableLayer)
    idx = windows(40, 4, 1)
    torch.testing.assert_close(tb(idx), sp(idx), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(tb(onehot(idx)), sp(onehot(idx)), rtol=1e-12, atol=1e-12)
    for a, b in zip(tb.first_layer_table(), sp.first_layer_table(), strict=True):
        torch.testing.assert_close(a, b)
    back = tb.convert("spline")  # export: linear splines with base weight 0
    assert isinstance(back.layers[0], KANLayer)
    torch.testing.assert_close(back(idx), sp(idx), rtol=1e-10, atol=1e-10)
    # and loading the table by hand into a fresh table KAN is the same thing
    fresh = KAN([4 * A, *hidden, out], window_length=4, first_layer="table").double()
    t, c = sp.first_layer_table()
    with torch.no_grad():
        fresh.layers[0].table.copy_(t.reshape(-1, t.shape[2]))
        fresh.layers[0].const.copy_(c)
        for mine, theirs in zip(sp.layers[1:], fresh.layers[1:], strict=True):
            theirs.load_state_dict(mine.state_dict())
    torch.testing.assert_close(fresh(idx), sp(idx), rtol=1e-12, atol=1e-12)


def test_same_seed_starts_from_the_same_function():
    for seed in (0, 5):
        a = KAN([6 * A, 4, 1], window_length=6, seed=seed)
        b = KAN([6 * A, 4, 1], window_length=6, seed=seed, first_layer="table")
        idx = windows(30, 6, seed)
        torch.testing.assert_close(a(idx), b(idx), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("prune", [False, True])
def test_table_fast_path_equals_dense_path_in_value_and_gradient(prune):
    model = spline_kan(length=5, hidden=(4, 2), seed=3, prune=prune).convert("table")
    idx = windows(25, 5, 3)
    params = list(model.parameters())
    y_fast = model(idx)
    g_fast = torch.autograd.grad(y_fast.square().sum(), params)
    y_dense = model(onehot(idx))
    g_dense = torch.autograd.grad(y_dense.square().sum(), params)
    assert rel_err(y_fast, y_dense) <= 1e-10
    for gf, gd in zip(g_fast, g_dense, strict=True):
        assert rel_err(gf, gd) <= 1e-10


@pytest.mark.parametrize("grid_range", [(-1.0, 1.0), (0.2, 0.9)])
def test_export_is_a_linear_spline_where_the_grid_covers_zero_and_one(grid_range):
    table = TableLayer(7, 3).double()
    with torch.no_grad():
        table.table.normal_()
        table.const.normal_()
    with pytest.raises(InputError, match="grid_range"):  # no basis reaches 0 and 1
        table.to_spline(grid=4, k=3, grid_range=(1.5, 3.0))
    layer = table.to_spline(grid=4, k=3, grid_range=grid_range)
    assert torch.all(layer.scale_base == 0)
    phi0, delta = layer.onehot_values()  # values at 0 and 1 are exact in every case
    torch.testing.assert_close(delta, table.table)
    torch.testing.assert_close(phi0.sum(0), table.const)
    if grid_range[0] <= 0 and grid_range[1] >= 1:  # linear over the whole interior range
        x = torch.linspace(-0.9, 0.9, 11, dtype=torch.float64)[:, None].expand(-1, 7)
        line = table.const / 7 + x[:, :, None] * table.table
        torch.testing.assert_close(layer.phi(x), line)


def test_checkpoint_round_trip_and_old_checkpoints_load_as_spline(tmp_path):
    model = spline_kan(length=3, hidden=(4,), seed=2).convert("table").float()
    idx = windows(20, 3, 2)
    checkpoint.save(model, tmp_path, {"window_length": 3})
    loaded, meta = checkpoint.load(tmp_path, window_length=3)
    assert meta["architecture"]["first_layer"] == "table" and loaded.first_layer == "table"
    assert np.array_equal(predict_logit(loaded, idx), predict_logit(model, idx))
    old = spline_kan(length=3, hidden=(4,), seed=2).float()
    checkpoint.save(old, tmp_path / "old", {"window_length": 3})
    info = json.loads((tmp_path / "old" / "model.json").read_text())
    del info["architecture"]["first_layer"]  # as written before the option existed
    (tmp_path / "old" / "model.json").write_text(json.dumps(info))
    again, _ = checkpoint.load(tmp_path / "old")
    assert again.first_layer == "spline"
    assert np.array_equal(predict_logit(again, idx), predict_logit(old, idx))


def test_explanations_read_the_same_table_in_both_parametrisations():
    sp = spline_kan(length=5, hidden=(3,), seed=4)
    with torch.no_grad():  # keep the hidden sums inside the hidden grid
        sp.layers[0].coef.mul_(0.1)
        sp.layers[0].scale_base.mul_(0.1)
    tb = sp.convert("table")
    idx = windows(200, 5, 4).numpy()
    logit, contrib = table_form(tb, 5).score(idx)
    logit_sp, contrib_sp = table_form(sp, 5).score(idx)
    np.testing.assert_allclose(logit, predict_logit(tb, idx), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(logit, logit_sp, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(contrib, contrib_sp, rtol=1e-10, atol=1e-10)
    a, b = kan_exact(tb, idx), kan_exact(sp, idx)
    np.testing.assert_allclose(a.residue, b.residue, rtol=1e-10, atol=1e-12)
    sym = auto_symbolic(tb, idx, lib=["x", "x^2"], n_samples=51)
    np.testing.assert_allclose(sym.table, tb.first_layer_table()[0].numpy())
    for s_tb, s_sp in zip(tb.edge_scores(torch.as_tensor(idx)),
                          sp.edge_scores(torch.as_tensor(idx)), strict=True):
        torch.testing.assert_close(s_tb, s_sp)


def test_table_kan_regulariser_prune_refine_and_grid_update():
    model = spline_kan(length=5, hidden=(4, 3), seed=7).convert("table")
    with torch.no_grad():  # hidden sums inside the hidden grid, where refinement is exact
        model.layers[0].table.mul_(0.1)
        model.layers[0].const.zero_()
    idx = windows(30, 5, 7)
    y_fast = model(idx, cache_acts=True)
    reg_fast = model.regularization(lamb_coef=0.1)
    g_fast = torch.autograd.grad(reg_fast, list(model.parameters()), allow_unused=True)
    y_dense = model(onehot(idx), cache_acts=True)
    reg_dense = model.regularization(lamb_coef=0.1)
    g_dense = torch.autograd.grad(reg_dense, list(model.parameters()), allow_unused=True)
    torch.testing.assert_close(y_fast, y_dense)
    torch.testing.assert_close(reg_fast, reg_dense)
    for a, b in zip(g_fast, g_dense, strict=True):
        assert (a is None) == (b is None)
        if a is not None:
            torch.testing.assert_close(a, b)
    model.cache_acts = False
    before = model(idx).detach()
    assert model._first(idx)[0].abs().max() < 1
    model.refine(10)  # hidden layers only (the table has no grid); 5 -> 10 keeps every knot
    assert model.layers[1].G == 10 and isinstance(model.layers[0], TableLayer)
    assert rel_err(model(idx), before) < 1e-4
    model.update_grid(idx)
    model.prune(idx, edge_threshold=0.5)
    assert model.layers[0].mask.sum() < model.layers[0].mask.numel()
    t, c = model.first_layer_table()
    h = c + t[torch.arange(5), idx.long()].sum(1)
    torch.testing.assert_close(h, model._first(idx)[0].detach())


def test_parameter_counts_raw_and_effective():
    L = 33
    spline = KAN([L * A, 8, 1], grid=5, k=3, window_length=L)
    table = KAN([L * A, 8, 1], grid=5, k=3, window_length=L, first_layer="table")
    head = 8 * (5 + 3 + 2)
    assert spline.n_params() == kan_n_params(spline.width) == (L * A * 8 + 8) * 10
    assert table.n_params() == kan_n_params(table.width, first_layer="table") == \
        L * A * 8 + 8 + head
    assert spline.n_params_effective() == table.n_params_effective() == L * A * 8 + head
    mlp = MLP([L * A, 80, 1], window_length=L)
    assert mlp.n_params() == L * A * 80 + 80 + 81
    assert mlp.n_params_effective() == L * A * 80 + 81
    assert MLP([10, 4, 1]).n_params_effective() == MLP([10, 4, 1]).n_params()
    # matching an MLP to a table KAN gives about the same width; to a spline KAN ~10x wider
    assert matched_width([L * A, 80, 1], window_length=L, first_layer="table") == 81
    assert matched_width([L * A, 8, 1], window_length=L) == 80
    ref = {"type": "kan", "hidden": [16], "first_layer": "table"}
    assert build({"type": "mlp", "match": ref}, L).width[1] == 16
    assert table.flops("dense") == 2 * L * A * 8 + 8 + spline.flops("dense") - KAN(
        [L * A, 8], grid=5, k=3).flops("dense")


def test_specs_and_training_options():
    assert build({"type": "kan", "hidden": [4]}, 5).first_layer == "table"  # the schema default
    assert build({"type": "kan", "hidden": [4], "first_layer": "spline"}, 5).first_layer == \
        "spline"
    table = KAN([5 * A, 4, 1], window_length=5, first_layer="table")
    spline = KAN([5 * A, 4, 1], window_length=5)
    assert len(_param_groups(table, 1e-3, TrainConfig())) == 1  # no damping
    groups = _param_groups(spline, 1e-3, TrainConfig())
    assert groups[0]["lr"] == pytest.approx(1e-3 / 21)  # kept for the spline layer


def test_bad_first_layer_settings():
    with pytest.raises(InputError, match="window_length"):
        KAN([10, 3, 1], first_layer="table")
    with pytest.raises(InputError, match="first_layer"):
        KAN([3 * A, 3, 1], window_length=3, first_layer="embedding")
