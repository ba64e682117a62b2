"""MLP and logistic baselines, the shared one-hot primitive and positive_logit."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from kanbio.data.alphabet import A
from kanbio.errors import InputError
from kanbio.models import (
    KAN,
    MLP,
    LogisticBaseline,
    flat_index,
    kan_n_params,
    matched_width,
    mlp_n_params,
    onehot_sum,
    positive_logit,
)

torch.set_num_threads(1)


def onehot(idx: torch.Tensor, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    n, length = idx.shape
    out = torch.zeros(n, length * A, dtype=dtype)
    return out.scatter_(1, idx.long() + A * torch.arange(length), 1.0)


def windows(n: int, length: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, A, (n, length), generator=gen, dtype=torch.uint8)


def test_onehot_sum_equals_dense_product_in_value_and_gradient():
    idx = windows(17, 5, 0)
    table = torch.randn(5 * A, 3, dtype=torch.float64, requires_grad=True)
    y = onehot_sum(flat_index(idx, 5), table)
    (g,) = torch.autograd.grad((y * torch.arange(3.0)).sum(), table)
    y2 = onehot(idx) @ table
    (g2,) = torch.autograd.grad((y2 * torch.arange(3.0)).sum(), table)
    torch.testing.assert_close(y, y2)
    torch.testing.assert_close(g, g2)


@pytest.mark.parametrize("width", [[4 * A, 6, 1], [4 * A, 5, 3, 2]])
@pytest.mark.parametrize("activation", ["silu", "relu", "tanh"])
def test_mlp_index_path_equals_dense_path(width, activation):
    model = MLP(width, window_length=4, activation=activation, seed=1).double()
    idx = windows(11, 4, 1)
    y_idx = model(idx)
    g_idx = torch.autograd.grad(y_idx.square().sum(), list(model.parameters()))
    y_dense = model(onehot(idx))
    g_dense = torch.autograd.grad(y_dense.square().sum(), list(model.parameters()))
    assert y_idx.shape == (11, width[-1])
    torch.testing.assert_close(y_idx, y_dense)
    for a, b in zip(g_idx, g_dense, strict=True):
        torch.testing.assert_close(a, b)


def test_mlp_same_depth_and_counts():
    model = MLP([33 * A, 10, 1], window_length=33)
    assert len(model.weights) == len(KAN([33 * A, 10, 1]).layers) == 2
    assert model.n_params() == mlp_n_params([33 * A, 10, 1]) == 33 * A * 10 + 10 + 10 + 1
    assert model.flops("onehot") == (33 + 1) * 10 + 4 * 10 + 2 * 10 + 1
    assert model.flops("dense") == 2 * 33 * A * 10 + 10 + 4 * 10 + 2 * 10 + 1


@pytest.mark.parametrize(
    "kan_width", [[33 * A, 8, 1], [33 * A, 32, 2], [15 * A, 4, 1], [33 * A, 8, 4, 1]]
)
@pytest.mark.parametrize("grid, k", [(5, 3), (3, 2)])
def test_matched_width_matches_kan_parameters(kan_width, grid, k):
    h = matched_width(kan_width, grid, k, kan_width[0] // A)
    kan = KAN(kan_width, grid=grid, k=k)
    assert kan.n_params() == kan_n_params(kan_width, grid, k)
    mlp = MLP([kan_width[0], *[h] * (len(kan_width) - 2), kan_width[-1]])
    assert abs(mlp.n_params() - kan.n_params()) <= 0.03 * kan.n_params()
    # no other width is closer
    for other in (h - 1, h + 1):
        n = mlp_n_params([kan_width[0], *[other] * (len(kan_width) - 2), kan_width[-1]])
        assert abs(n - kan.n_params()) >= abs(mlp.n_params() - kan.n_params())


def test_matched_width_rejects_bad_widths():
    with pytest.raises(InputError):
        matched_width([10, 1])
    with pytest.raises(InputError):
        matched_width([10, 3, 1], window_length=3)


def test_mlp_checkpoint_round_trip_and_seed():
    model = MLP([3 * A, 7, 2], window_length=3, seed=4)
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    buf.seek(0)
    clone = MLP.from_config(json.loads(json.dumps(model.config())))
    clone.load_state_dict(torch.load(buf, weights_only=True))
    idx = windows(9, 3, 4)
    assert torch.equal(clone(idx), model(idx))
    assert not torch.equal(MLP([3 * A, 7, 2], seed=5).weights[0], model.weights[0])


def test_mlp_bad_input():
    model = MLP([3 * A, 2, 1], window_length=3)
    with pytest.raises(InputError):
        model(torch.full((2, 3), 25, dtype=torch.uint8))
    with pytest.raises(InputError):
        model(torch.zeros(2, 3 * A - 1))
    with pytest.raises(InputError):
        MLP([3 * A, 2, 1], activation="swish")
    with pytest.raises(InputError):
        MLP([3 * A, 2, 1])(torch.zeros(2, 3, dtype=torch.uint8))


def test_positive_logit():
    one = torch.tensor([[0.5], [-1.0]])
    two = torch.tensor([[0.2, 1.0], [3.0, -1.0]])
    torch.testing.assert_close(positive_logit(one), torch.tensor([0.5, -1.0]))
    torch.testing.assert_close(positive_logit(two), torch.tensor([0.8, -4.0]))
    # two logits: the log-odds of the softmax's positive class
    p = torch.softmax(two, 1)[:, 1]
    torch.testing.assert_close(torch.sigmoid(positive_logit(two)), p)
    with pytest.raises(InputError):
        positive_logit(torch.zeros(2, 3))


# ------------------------------------------------------------------------------------------------
# logistic baseline
# ------------------------------------------------------------------------------------------------
def motif_data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Label 1 iff (K at position 2) + (D at position 4) + (W at position 0) >= 2: linear in
    the one-hot encoding, so logistic regression separates it."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, A, size=(n, 7), dtype=np.uint8)
    for pos, letter in ((2, "K"), (4, "D"), (0, "W")):
        plant = rng.random(n) < 0.4
        idx[plant, pos] = "ARNDCQEGHILKMFPSTWYVX".index(letter)
    hits = (idx[:, 2] == 11).astype(int) + (idx[:, 4] == 3) + (idx[:, 0] == 17)
    return idx, (hits >= 2).astype(int)


def test_logistic_separates_a_linear_motif_and_round_trips():
    x_tr, y_tr = motif_data(3000, 0)
    x_te, y_te = motif_data(1000, 1)
    model = LogisticBaseline(C=1.0, seed=0).fit(x_tr, y_tr)
    score = model.decision_function(x_te)
    assert roc_auc_score(y_te, score) > 0.95
    proba = model.predict_proba(x_te)
    assert proba.shape == (1000, 2)
    np.testing.assert_allclose(proba.sum(1), 1.0)
    np.testing.assert_allclose(np.log(proba[:, 1] / proba[:, 0]), score, rtol=1e-6, atol=1e-6)
    assert model.n_params() == 7 * A + 1
    weights = model.coef_.reshape(7, A)
    assert weights[2].argmax() == 11 and weights[4].argmax() == 3  # the planted letters
    clone = LogisticBaseline.from_dict(json.loads(json.dumps(model.to_dict())))
    np.testing.assert_array_equal(clone.decision_function(x_te), score)
    assert clone.get_params() == model.get_params()


def test_logistic_bad_input():
    x, y = motif_data(100, 2)
    with pytest.raises(InputError):
        LogisticBaseline().fit(x, np.zeros(100))  # one class only
    with pytest.raises(InputError):
        LogisticBaseline().fit(x, y[:50])
    with pytest.raises(InputError):
        LogisticBaseline().fit(x.astype(float), y)
    model = LogisticBaseline().fit(x, y)
    with pytest.raises(InputError):
        model.decision_function(np.full((3, 7), 21))
    with pytest.raises(InputError):
        model.decision_function(x[:, :5])
    with pytest.raises(RuntimeError):
        LogisticBaseline().decision_function(x)
