"""Group lasso over the first layer: group norms, exact group pruning, and what a fit with
``TrainConfig(group_lasso=...)`` keeps on the acidic synthetic task (D/E at +1 and +3)."""

from __future__ import annotations

import copy
import logging

import numpy as np
import pytest
import torch

from kanbio.data.alphabet import A
from kanbio.data.fasta import Protein
from kanbio.data.residues import feature_names
from kanbio.data.synthetic import generate
from kanbio.data.windows import extract
from kanbio.errors import InputError
from kanbio.models import KAN, MLP, predict_logit, table_form
from kanbio.train import TrainConfig, fit, group_penalty

torch.set_num_threads(1)

L, H = 5, 3
HW = 4  # half width of the acidic windows: the rule needs offsets +1 and +3 only
CHARGE = feature_names("physchem").index("charge")


def windows(n: int, length: int = L, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, A, size=(n, length), dtype=np.uint8)


def kan_table() -> KAN:
    return KAN([L * A, H, 1], grid=3, k=2, window_length=L, seed=2, first_layer="table")


def kan_physchem() -> KAN:
    return KAN([L * A, H, 1], grid=3, k=2, window_length=L, seed=2, encoding="physchem")


def mlp_onehot() -> MLP:
    return MLP([L * A, H, 1], window_length=L, seed=2)


def mlp_physchem() -> MLP:
    return MLP([L * A, H, 1], window_length=L, seed=2, encoding="physchem")


MODELS = {"kan_table": kan_table, "kan_physchem": kan_physchem, "mlp_onehot": mlp_onehot,
          "mlp_physchem": mlp_physchem}
#: planted weak groups: (position, feature) pairs (feature 0 for onehot's one group per position)
WEAK_ONEHOT = [(0, 0), (3, 0)]
WEAK_FEATURES = [(0, CHARGE), (1, 0), (4, 5), *((2, k) for k in range(6))]


def weak_groups(model: KAN | MLP) -> list[tuple[int, int]]:
    return WEAK_ONEHOT if model.encoding.is_onehot else WEAK_FEATURES


@torch.no_grad()
def weaken(model: KAN | MLP, groups: list[tuple[int, int]], factor: float = 1e-3) -> None:
    """Scale the first-layer parameters of ``groups`` by ``factor`` (their norms follow)."""
    d = A if model.encoding.is_onehot else model.encoding.dim
    for p, k in groups:
        rows = slice(p * A, (p + 1) * A) if model.encoding.is_onehot else p * d + k
        if isinstance(model, MLP):
            model.weights[0][rows] *= factor
        elif model.first_layer == "table":
            model.layers[0].table[rows] *= factor
        else:
            model.layers[0].scale_base[rows] *= factor
            model.layers[0].scale_sp[rows] *= factor


@torch.no_grad()
def group_sums(model: KAN | MLP, idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Every group's share of the first-layer sums, (n, L, 1 | d, H), and the constant (H,),
    from the model's parameters (independently of its forward pass)."""
    ix = torch.as_tensor(idx).long()
    pos = torch.arange(ix.shape[1])
    e = model.encoding.matrix.to(torch.float64)
    if isinstance(model, MLP):
        w = model.weights[0].double()
        if model.encoding.is_onehot:
            return w.reshape(L, A, -1)[pos, ix].unsqueeze(2), model.biases[0].double()
        w = w.reshape(L, model.encoding.dim, -1)  # (L, d, H)
        return e[ix].unsqueeze(-1) * w, model.biases[0].double()  # (n, L, d, H)
    layer = model.layers[0]
    if model.first_layer == "table":
        t = layer.table.double().reshape(L, A, -1)
        return t[pos, ix].unsqueeze(2), layer.const.double()
    v = layer.encoded_values(model.encoding.matrix, L).double()  # (L, 21, d, H)
    return v[pos, ix], torch.zeros(v.shape[-1], dtype=torch.float64)


# ------------------------------------------------------------------------------ group norms
@pytest.mark.parametrize("name", [*MODELS, "kan_spline_onehot"])
def test_group_norms_shape_and_gradient(name: str) -> None:
    model = KAN([L * A, H, 1], grid=3, k=2, window_length=L) if name == "kan_spline_onehot" \
        else MODELS[name]()
    norms = model.group_norms()
    d = 1 if model.encoding.is_onehot else 6
    assert norms.shape == (L, d) and (norms > 0).all() and norms.requires_grad
    assert model.kept_groups().all()
    norms.sum().backward()
    grads = [p.grad for p in model.first_layer_parameters() if p.grad is not None]
    assert grads and any(float(g.abs().sum()) > 0 for g in grads)
    later = [p for p in model.parameters()
             if all(p is not q for q in model.first_layer_parameters())]
    assert all(p.grad is None or float(p.grad.abs().sum()) == 0 for p in later)
    torch.testing.assert_close(group_penalty(model, 0.5), 0.5 * model.group_norms().sum())


def test_group_norms_are_the_norms_of_the_groups() -> None:
    model = mlp_physchem()
    w = model.weights[0].detach().reshape(L, 6, H)
    torch.testing.assert_close(model.group_norms().detach(), w.norm(dim=2))
    kan = kan_table()
    t = kan.layers[0].table.detach().reshape(L, A * H)
    torch.testing.assert_close(kan.group_norms().detach(), t.norm(dim=1, keepdim=True))


def test_no_groups_without_windows_or_for_a_penalty_of_zero() -> None:
    dense = KAN([12, 3, 1])
    with pytest.raises(InputError, match="no first-layer groups"):
        dense.group_norms()
    assert not dense.can_drop_groups()
    assert group_penalty(dense, 1.0) == 0.0 and group_penalty(kan_table(), 0.0) == 0.0


# ----------------------------------------------------------------------------- pruning
@pytest.mark.parametrize("name", MODELS)
def test_prune_groups_drops_exactly_the_weak_groups(name: str) -> None:
    model = MODELS[name]().double()
    assert model.can_drop_groups()
    weak = weak_groups(model)
    weaken(model, weak)
    before = model.group_norms().detach()
    expected = torch.ones_like(before, dtype=torch.bool)
    for p, k in weak:
        expected[p, k] = False
    idx = windows(41, seed=1)
    parts, const = group_sums(model, idx)  # before pruning
    keep = model.prune_groups(0.05)
    assert torch.equal(keep, expected)
    after = model.group_norms().detach()
    assert (after[~keep] == 0).all()
    torch.testing.assert_close(after[keep], before[keep], rtol=0, atol=0)
    assert torch.equal(model.kept_groups(), keep)
    # the outputs are those of the model without the dropped groups' contributions
    sums = const + (parts * keep.to(parts).unsqueeze(-1)).sum((1, 2))  # (n, H)
    head = table_form(copy.deepcopy(model)).head
    with torch.no_grad():
        np.testing.assert_allclose(predict_logit(model, idx), head(sums).numpy(), rtol=0,
                                   atol=1e-10)
    np.testing.assert_allclose(predict_logit(model, idx), table_form(model).score(idx)[0],
                               rtol=0, atol=1e-10)


def test_prune_groups_zero_threshold_keeps_everything() -> None:
    model = kan_physchem()
    idx = windows(17)
    expected = predict_logit(model, idx)
    assert model.prune_groups(0.0).all()
    np.testing.assert_array_equal(predict_logit(model, idx), expected)


def test_spline_kan_on_onehot_cannot_drop_groups() -> None:
    model = KAN([L * A, H, 1], grid=3, k=2, window_length=L)
    assert not model.can_drop_groups()
    assert kan_table().can_drop_groups() and kan_physchem().can_drop_groups()
    with pytest.raises(InputError, match="group pruning"):
        model.prune_groups(0.1)


def test_group_lasso_fit_of_a_spline_onehot_kan_warns_and_keeps_all(
        caplog: pytest.LogCaptureFixture) -> None:
    x = windows(400, seed=3)
    y = (x[:, 2] < 6).astype(int)
    model = KAN([L * A, H, 1], grid=3, k=2, window_length=L)
    cfg = TrainConfig(epochs=2, group_lasso=0.01, progress=False, patience=0)
    with caplog.at_level(logging.WARNING, logger="kanbio.train"):
        hist = fit(model, x, y, x, y, cfg)
    assert len(hist.rows) == 2
    assert any("group_prune skipped" in r.getMessage() for r in caplog.records)
    assert model.kept_groups().all()


# -------------------------------------------------------------- fits on the acidic task
@pytest.fixture(scope="module")
def acidic() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Training and validation windows (half width 4) of 300 acidic-task proteins."""
    data = generate("acidic", 300, seed=0)
    assert max(abs(o) for o, *_ in data.truth) < HW  # the whole rule fits in the windows
    w = extract([Protein(i, s, p) for i, s, p in data.proteins], data.residues, HW)
    order = np.random.default_rng(0).permutation(len(w.label))
    cut = int(0.8 * len(order))
    tr, va = order[:cut], order[cut:]
    y = w.label.astype(np.int64)
    return w.windows[tr], y[tr], w.windows[va], y[va]


def test_group_lasso_keeps_plus1_and_plus3_onehot(acidic) -> None:
    xt, yt, xv, yv = acidic
    model = KAN([(2 * HW + 1) * A, 4, 1], window_length=2 * HW + 1, first_layer="table")
    fit(model, xt, yt, xv, yv, TrainConfig(epochs=10, group_lasso=0.01, progress=False,
                                           patience=0))
    norms = model.group_norms().detach()[:, 0]
    kept = model.kept_groups()[:, 0]
    plus1, plus3 = HW + 1, HW + 3
    assert kept[plus1] and kept[plus3]
    assert set(torch.argsort(norms, descending=True)[:2].tolist()) == {plus1, plus3}
    others = torch.cat([norms[:plus1], norms[plus1 + 1 : plus3], norms[plus3 + 1 :]])
    assert float(others.max()) < 0.2 * float(norms[[plus1, plus3]].min())
    assert int(kept.sum()) <= 3  # the rest of the window is pruned
    assert (norms[~kept] == 0).all()


def test_group_lasso_physchem_finds_charge_at_plus1_and_plus3(acidic) -> None:
    xt, yt, xv, yv = acidic
    model = KAN([(2 * HW + 1) * A, 2, 1], window_length=2 * HW + 1, encoding="physchem")
    fit(model, xt, yt, xv, yv, TrainConfig(epochs=10, group_lasso=0.01, progress=False,
                                           patience=0))
    norms = model.group_norms().detach()  # (L, 6)
    top = torch.argsort(norms.flatten(), descending=True)[:2]
    assert {divmod(int(i), 6) for i in top} == {(HW + 1, CHARGE), (HW + 3, CHARGE)}
    kept = model.kept_groups()
    assert kept[HW + 1, CHARGE] and kept[HW + 3, CHARGE]
    assert int(kept.sum()) < kept.numel() // 2  # most position x feature groups are pruned
