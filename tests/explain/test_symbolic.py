"""Tests for kanbio.explain.symbolic: edge fits, exact first layer, formula vs network."""

from __future__ import annotations

import numpy as np
import pytest
import sympy
import torch

from kanbio.data.alphabet import A
from kanbio.data.encode import one_hot
from kanbio.data.fasta import Protein
from kanbio.data.synthetic import generate
from kanbio.data.windows import extract
from kanbio.errors import InputError
from kanbio.explain.formula import auto_symbolic
from kanbio.explain.symbolic import SYMBOLIC_LIB, fit_edges, monotone, register
from kanbio.metrics import auroc
from kanbio.models import KAN
from kanbio.models.inference import predict_logit
from kanbio.train import TrainConfig, fit

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def kinase() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Small kinase set, half width 3: windows (N, 7), labels, test mask (every 4th protein)."""
    data = generate("kinase", 70, seed=5)
    w = extract([Protein(i, s, p) for i, s, p in data.proteins], data.residues, 3)
    test = np.array([int(p[-5:]) % 4 == 0 for p in w.protein_id])
    return w.windows, w.label.astype(np.int64), test


def _train(width: list[int], kinase, epochs: int = 8) -> KAN:
    x, y, test = kinase
    model = KAN(width, window_length=7, seed=1)
    fit(
        model,
        x[~test],
        y[~test],
        None,
        None,
        TrainConfig(epochs=epochs, lr=5e-3, batch_size=128, progress=False, seed=0, patience=0),
    )
    return model.eval()


@pytest.fixture(scope="module")
def kan(kinase) -> KAN:
    return _train([7 * A, 4, 1], kinase)


def test_fit_recovers_library_functions() -> None:
    x = np.linspace(-1.0, 1.0, 201)[:, None].repeat(5, 1) * 1.5 + 0.2  # (n, 5)
    y = np.stack(
        [
            2 * np.sin(3 * x[:, 0] + 1) + 0.5,
            -0.7 * x[:, 1] + 2.0,
            0.4 * (x[:, 2] - 0.3) ** 2 - 1.0,
            np.full(201, 3.0),
            1.5 * np.exp(0.8 * x[:, 4]),
        ],
        1,
    )
    f = fit_edges(x, y)
    assert list(f.fn) == ["sin", "x", "x^2", "0", "exp"]
    assert (f.r2 > 0.999).all()
    a, b, c, d = f.params[0]  # canonical: a > 0, c > 0, |b| <= pi
    np.testing.assert_allclose([a, b, c, d], [3.0, 1.0, 2.0, 0.5], atol=2e-3)
    np.testing.assert_allclose(f.params[1], [1.0, 0.0, -0.7, 2.0], atol=1e-9)
    np.testing.assert_allclose(f.params[3], [1.0, 0.0, 0.0, 3.0], atol=1e-12)
    np.testing.assert_allclose(f(x), y, atol=5e-3 * np.abs(y).max())


def test_simplest_function_within_tolerance_wins() -> None:
    x = np.linspace(-2.0, 2.0, 101)[:, None]
    y = x**3 + 0.01 * x  # x^3 fits exactly; x and tanh do not
    assert fit_edges(x, y).fn[0] == "x^3"
    alone = {f: fit_edges(x, y, lib=[f]).r2[0] for f in ("x", "sin", "tanh", "abs")}
    both = fit_edges(x, y, lib=list(alone), r2_tol=0.0)  # no tolerance: the best r^2 wins
    assert both.r2[0] == max(alone.values()) and both.fn[0] == max(alone, key=alone.get)
    s_curve = np.tanh(1.5 * x)
    r2_x = np.corrcoef(x[:, 0], s_curve[:, 0])[0, 1] ** 2
    assert fit_edges(x, s_curve).fn[0] == "tanh"
    assert fit_edges(x, s_curve, r2_tol=1.01 - r2_x).fn[0] == "x"  # simpler and within tolerance
    noise = np.random.default_rng(0).normal(size=(101, 1))
    assert fit_edges(x, noise, r2_tol=0.1).fn[0] == "0"


def test_monotone_curves_never_get_a_periodic_function() -> None:
    x = np.linspace(-1.0, 1.0, 201)[:, None].repeat(3, 1)
    y = np.stack([1 / (1 + np.exp(-2.5 * x[:, 0])),  # gentle S-curve: a half sine fits it too
                  0.3 * x[:, 1] + 0.05 * x[:, 1] ** 3,  # nearly linear
                  np.sin(4 * x[:, 2])], 1)  # not monotone: the sine stays available
    alone = fit_edges(x[:, :1], y[:, :1], lib=["sin"])
    assert alone.fn[0] == "sin" and alone.r2[0] > 0.999  # the trap: sin fits the S-curve
    f = fit_edges(x, y)
    assert f.fn[0] in ("sigmoid", "tanh") and f.fn[1] in ("x", "x^3") and f.fn[2] == "sin"
    assert SYMBOLIC_LIB["tanh"].complexity < SYMBOLIC_LIB["x^3"].complexity \
        < SYMBOLIC_LIB["sin"].complexity


def test_monotone_up_to_small_wiggles_but_not_a_real_turn() -> None:
    x = np.linspace(-1.0, 1.0, 201)
    s_curve = np.tanh(2 * x)
    wiggly = s_curve + 0.01 * np.sin(40 * x)  # turns by well under 2% of the range
    hump = s_curve - 0.6 * np.clip(x - 0.6, 0, None)  # rises, then falls back ~10% of range
    y = np.stack([s_curve, wiggly, -wiggly, hump], 1)
    assert monotone(x[:, None].repeat(4, 1), y).tolist() == [True, True, True, False]
    f = fit_edges(x[:, None].repeat(2, 1), y[:, 1:3])
    assert not any(SYMBOLIC_LIB[n].periodic for n in f.fn)


def test_registered_function_is_used_by_name() -> None:
    register(
        "cube_root",
        np.cbrt,
        lambda u: sympy.sign(u) * sympy.Abs(u) ** sympy.Rational(1, 3),
        2,
        parity=-1,
    )
    try:
        x = np.linspace(0.1, 3.0, 101)[:, None]
        f = fit_edges(x, 2 * np.cbrt(x) - 1, lib=["cube_root", "x"])
        assert f.fn[0] == "cube_root" and f.r2[0] > 0.9999
    finally:
        del SYMBOLIC_LIB["cube_root"]
    with pytest.raises(InputError, match="unknown symbolic"):
        fit_edges(x, x, lib=["cube_root"])
    with pytest.raises(InputError):
        fit_edges(x, x[:50])


def test_first_layer_is_exact_table(kan: KAN, kinase) -> None:
    x, _, _ = kinase
    sym = auto_symbolic(kan, x[:300])
    layer = kan.layers[0]
    with torch.no_grad():  # phi(1) - phi(0) from the dense edge functions, no table code
        ones, zeros = torch.ones(1, layer.in_dim), torch.zeros(1, layer.in_dim)
        delta = (layer.phi(ones) - layer.phi(zeros))[0].double().numpy()  # (in, H)
        dense = layer(torch.as_tensor(one_hot(x[:50]))).double().numpy()  # (50, H)
    np.testing.assert_allclose(sym.table.reshape(-1, 4), delta, atol=1e-6)
    np.testing.assert_allclose(sym.hidden(x[:50]), dense, atol=1e-5)
    assert sym.table.shape == (7, A, 4) and sym.layers[0].fit.fn.size == 4


def test_formula_matches_network(kan: KAN, kinase) -> None:
    x, y, test = kinase
    sym = auto_symbolic(kan, x[~test])
    net, formula = predict_logit(kan, x[test]), sym.predict_logit(x[test])
    assert auroc(y[test], net) > 0.8
    assert abs(auroc(y[test], formula) - auroc(y[test], net)) < 0.01
    assert np.corrcoef(net, formula)[0, 1] > 0.99
    # the printed formula (full precision) is the same function as predict_logit
    expr = sym.symbolic_formula(digits=15)
    s = sym.hidden(x[test][:40])
    f = sympy.lambdify(sympy.symbols("s_1:5"), expr, "numpy")
    np.testing.assert_allclose(f(*s.T), sym.predict_logit(x[test][:40]), rtol=1e-9, atol=1e-9)
    text, tex, tables = sym.to_text(), sym.to_latex(), sym.table_frame()
    assert text.startswith("logit = ") and "T_j[p, a_p]" in text and "b_4 = " in text
    assert "\\sum_{p=-3}^{3}" in tex and "s_{1}" in tex
    assert tables.shape == (7 * A, 2 + 4)
    assert list(tables.columns[:3]) == ["offset", "residue", "T1"]
    np.testing.assert_allclose(tables.T2.to_numpy(), sym.table[..., 1].ravel(), atol=1e-6)


def test_two_outputs_and_deeper_network_compose(kinase) -> None:
    x, y, test = kinase
    model = _train([7 * A, 3, 2, 2], kinase, epochs=6)
    sym = auto_symbolic(model, x[~test])
    assert [(lf.n_in, lf.n_out) for lf in sym.layers] == [(3, 2), (2, 2)]
    net, formula = predict_logit(model, x[test]), sym.predict_logit(x[test])
    assert np.corrcoef(net, formula)[0, 1] > 0.98
    assert abs(auroc(y[test], formula) - auroc(y[test], net)) < 0.02
    edges = sym.edge_frame()
    assert len(edges) == 3 * 2 + 2 * 2 and set(edges.function) <= set(SYMBOLIC_LIB)


def test_needs_a_window_kan() -> None:
    with pytest.raises(InputError):
        auto_symbolic(KAN([10, 2, 1]), np.zeros((5, 10), np.uint8))
