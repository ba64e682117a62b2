"""Residue encodings in every model: the index-window fast path equals the dense one-hot path
(values and gradients), the table form and checkpoints keep the encoding, and the construction
rules."""

from __future__ import annotations

import copy
import io
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from kanbio.data.alphabet import A
from kanbio.data.fasta import Protein
from kanbio.data.residues import ENCODINGS, encoding_matrix
from kanbio.data.synthetic import generate
from kanbio.data.windows import extract
from kanbio.errors import InputError
from kanbio.explain.attribution import kan_exact, kan_feature
from kanbio.models import (
    CNN,
    KAN,
    MLP,
    KANLayer,
    LogisticBaseline,
    build,
    encoded_table,
    kernels,
    predict_logit,
    table_form,
)
from kanbio.models.checkpoint import load, save
from kanbio.models.encoded_table import EncodedTableFn
from kanbio.output import write_table
from kanbio.stages.explain import explain

torch.set_num_threads(1)

L, H = 5, 3
DIM = {name: encoding_matrix(name).shape[1] for name in ENCODINGS}


def windows(n: int, seed: int = 0) -> np.ndarray:
    """Random index windows (n, L) uint8, padding letters included."""
    idx = np.random.default_rng(seed).integers(0, A, size=(n, L), dtype=np.uint8)
    idx[:2, :2] = A - 1
    return idx


def dense(idx: np.ndarray, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Dense one-hot rows (n, L * 21) of index windows."""
    return torch.nn.functional.one_hot(torch.as_tensor(idx).long(), A).to(dtype).reshape(
        len(idx), -1)


def kan_spline(enc: str) -> KAN:
    return KAN([L * A, H, 1], grid=3, k=2, window_length=L, seed=1, encoding=enc)


def kan_table(enc: str) -> KAN:
    return KAN([L * A, H, 1], grid=3, k=2, window_length=L, seed=1, first_layer="table",
               encoding=enc)


def mlp(enc: str) -> MLP:
    return MLP([L * A, H, 2], window_length=L, seed=1, encoding=enc)


def cnn(enc: str) -> CNN:
    return CNN(L, channels=3, kernel_sizes=(2, 3), hidden=(4,), dropout=0.0, seed=1,
               encoding=enc)


def cnn_embedded(enc: str) -> CNN:
    return CNN(L, channels=3, kernel_sizes=(3,), hidden=(), pool="maxmean", embedding=4,
               dropout=0.0, seed=1, encoding=enc)


NETS: dict[str, Callable[[str], torch.nn.Module]] = {
    "kan_spline": kan_spline, "kan_table": kan_table, "mlp": mlp, "cnn": cnn,
    "cnn_embedding": cnn_embedded}
CASES = [(net, enc) for net in NETS for enc in ENCODINGS
         if net != "kan_table" or enc == "onehot"]
TABLE_CASES = [(net, enc) for net, enc in CASES if not net.startswith("cnn")]


def case_id(case: tuple[str, str]) -> str:
    return "-".join(case)


def perturbed(model: torch.nn.Module, seed: int = 3) -> torch.nn.Module:
    """The model in float64 with every parameter moved by noise (a generic, not an initial,
    point)."""
    model = model.double()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=gen, dtype=p.dtype))
    return model


# ---------------------------------------------------------------------------- index == dense
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_index_path_equals_dense_path_in_value_and_gradient(case: tuple[str, str]) -> None:
    net, enc = case
    model = perturbed(NETS[net](enc))
    assert model.encoding.name == enc
    idx = windows(23)
    params = list(model.parameters())
    w = torch.linspace(-1, 1, model.width[-1], dtype=torch.float64)
    y_idx = model(torch.as_tensor(idx))
    g_idx = torch.autograd.grad((y_idx.square() * w).sum(), params)
    y_dense = model(dense(idx))
    g_dense = torch.autograd.grad((y_dense.square() * w).sum(), params)
    assert y_idx.shape == (23, model.width[-1]) and y_idx.dtype == torch.float64
    torch.testing.assert_close(y_idx, y_dense, rtol=0, atol=1e-10)
    for p, a, b in zip(params, g_idx, g_dense, strict=True):
        assert a.shape == p.shape
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("route", ["kernels", "tensors", "own_grids"])
@pytest.mark.parametrize("enc", ["blosum62", "physchem"])
def test_every_encoded_table_route_equals_the_dense_path(enc: str, route: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The encoded first layer's three routes: the shared letter block's dense product with the
    compiled layout kernels, the same with tensor operations only, and the sparse products when
    one position's knots differ from the others' (no shared block)."""
    model = perturbed(kan_spline(enc))
    layer = model.layers[0]
    if route == "tensors":
        monkeypatch.setattr(kernels, "ACTIVE", False)
    if route == "own_grids":
        with torch.no_grad():
            layer.grid[DIM[enc] : 2 * DIM[enc]] += 0.05  # position 1's knots only
    idx = windows(19)
    params = list(model.parameters())
    y_idx = model(torch.as_tensor(idx))
    assert (layer._letters.v is None) == (route == "own_grids")
    g_idx = torch.autograd.grad(y_idx.square().sum(), params)
    y_dense = model(dense(idx))
    g_dense = torch.autograd.grad(y_dense.square().sum(), params)
    torch.testing.assert_close(y_idx, y_dense, rtol=0, atol=1e-10)
    for a, b in zip(g_idx, g_dense, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)
    e = model.encoding.matrix.to(torch.float64)
    want = layer.encoded_values(e, L).sum(2).reshape(L * A, -1)
    torch.testing.assert_close(layer.encoded_table(e, L), want, rtol=0, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("width", [3, 9])  # register blocks of 8 columns: remainder only, both
def test_fused_encoded_layer_equals_its_separate_calls(dtype: torch.dtype, width: int,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The encoded first layer as one compiled call each way equals the same layer through the
    table kernels and a separate gather-sum, values and gradients, in both dtypes."""
    if not kernels.enabled(torch.zeros(1, dtype=dtype)):
        pytest.skip("numba kernels unavailable in this environment")
    model = KAN([L * A, width, 1], grid=3, k=2, window_length=L, seed=4, encoding="blosum62")
    model = perturbed(model).to(dtype)
    idx = torch.as_tensor(windows(37, seed=2))
    params = list(model.parameters())

    def run() -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        y = model(idx)
        return y, torch.autograd.grad(y.square().sum(), params)

    y_fused, g_fused = run()
    monkeypatch.setattr(encoded_table, "_fused", lambda form, coef: False)
    y_sep, g_sep = run()
    tol = {"rtol": 1e-5, "atol": 1e-5} if dtype == torch.float32 else {"rtol": 1e-12,
                                                                        "atol": 1e-12}
    torch.testing.assert_close(y_fused, y_sep, **tol)
    for a, b in zip(g_fused, g_sep, strict=True):
        torch.testing.assert_close(a, b, **tol)


@pytest.mark.parametrize("enc", ENCODINGS)
def test_kan_statistics_path_equals_the_fast_path(enc: str) -> None:
    model = perturbed(kan_spline(enc))
    idx = torch.as_tensor(windows(19))
    fast = model(idx)
    cached = model(idx, cache_acts=True)
    torch.testing.assert_close(fast, cached, rtol=0, atol=1e-10)
    assert model.acts_scale[0].shape == (L * DIM[enc], H)  # first layer edges: L d
    scores = model.feature_scores(idx)
    assert scores.shape == (L * DIM[enc],) and torch.isfinite(scores).all()


# ------------------------------------------------------------------------- first-layer table
@pytest.mark.parametrize("case", [c for c in TABLE_CASES if c[0].startswith("kan")],
                         ids=case_id)
def test_kan_first_layer_table_is_the_dense_first_layer(case: tuple[str, str]) -> None:
    net, enc = case
    model = perturbed(NETS[net](enc))
    idx = windows(31)
    t, const = model.first_layer_table()
    assert t.shape == (L, A, H) and const.shape == (H,)
    features = model.encoding.dense(dense(idx), L)  # (n, L d)
    assert features.shape == (31, L * DIM[enc])
    with torch.no_grad():
        h_dense = model.layers[0].phi(features).sum(1)  # every edge, summed over features
        if net == "kan_table":
            h_dense = h_dense + model.layers[0].const
    h_table = const + t[torch.arange(L), torch.as_tensor(idx).long()].sum(1)
    torch.testing.assert_close(h_table, h_dense, rtol=0, atol=1e-12)
    with torch.no_grad():
        torch.testing.assert_close(model._first(torch.as_tensor(idx))[0], h_dense, rtol=0,
                                   atol=1e-12)


@pytest.mark.parametrize("enc", ["blosum62", "physchem"])
def test_encoded_values_are_the_edge_functions_on_the_letters(enc: str) -> None:
    layer = perturbed(kan_spline(enc)).layers[0]
    e = encoding_matrix(enc)
    v = layer.encoded_values(torch.as_tensor(e), L)  # (L, 21, d, H)
    assert v.shape == (L, A, DIM[enc], H)
    p, a, k = 3, 11, DIM[enc] - 1  # edge p d + k on the value of letter a
    x = torch.zeros(1, L * DIM[enc], dtype=torch.float64)
    x[0, p * DIM[enc] + k] = e[a, k]
    with torch.no_grad():
        torch.testing.assert_close(v[p, a, k], layer.phi(x)[0, p * DIM[enc] + k], rtol=0,
                                   atol=1e-12)


@pytest.mark.parametrize("enc", ["blosum62", "physchem"])
def test_encoded_table_gradients_and_copies(enc: str) -> None:
    """The sparse table node: gradcheck in float64 with pruned edges, and a model that has
    cached its letter matrices still deep-copies and pickles (the caches are rebuilt)."""
    model = perturbed(kan_spline(enc))
    layer = model.layers[0]
    with torch.no_grad():
        layer.mask[2:5] = 0
    layer.encoded_table(model.encoding.matrix, L)
    form = layer._letters
    params = [t.detach().clone().requires_grad_() for t in
              (layer.coef, layer.scale_base * layer.mask, layer.scale_sp * layer.mask)]
    for use_kernels in (True, False):  # compiled bands, sparse products
        assert torch.autograd.gradcheck(
            lambda c, sb, ss, u=use_kernels: EncodedTableFn.apply(form, c, sb, ss, u), params)
    idx = torch.randint(0, A, (40, L), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        want = model(idx)
        torch.testing.assert_close(copy.deepcopy(model)(idx), want, rtol=0, atol=0)
        buf = io.BytesIO()
        torch.save(model, buf)
        buf.seek(0)
        torch.testing.assert_close(torch.load(buf, weights_only=False)(idx), want, rtol=0,
                                   atol=0)


# ------------------------------------------------------------------------------ table form
@pytest.mark.parametrize("case", TABLE_CASES, ids=case_id)
def test_table_form_log_odds_equal_predict_logit(case: tuple[str, str]) -> None:
    net, enc = case
    model = perturbed(NETS[net](enc))
    idx = windows(37, seed=1)
    expected = predict_logit(model, idx)
    logit, contrib = table_form(model, L).score(idx)
    assert contrib.shape == (37, L)
    np.testing.assert_allclose(logit, expected, rtol=0, atol=1e-10)


# ------------------------------------------------------------------------------ checkpoints
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_checkpoint_keeps_the_encoding_and_the_outputs(case: tuple[str, str],
                                                       tmp_path: Path) -> None:
    net, enc = case
    model = perturbed(NETS[net](enc)).float().eval()
    save(model, tmp_path, {"window_length": L})
    assert json.loads((tmp_path / "model.json").read_text())["architecture"]["encoding"] == enc
    loaded, _ = load(tmp_path, window_length=L)
    assert type(loaded) is type(model) and loaded.encoding.name == enc
    idx = windows(29, seed=2)
    np.testing.assert_array_equal(predict_logit(loaded, idx), predict_logit(model, idx))


@pytest.mark.parametrize("net", ["kan_spline", "kan_table", "mlp", "cnn", "linear"])
def test_checkpoint_without_encoding_loads_as_onehot(net: str, tmp_path: Path) -> None:
    idx = windows(60, seed=4)
    if net == "linear":
        model = LogisticBaseline().fit(idx, (idx[:, 2] < 7).astype(int))
    else:
        model = NETS[net]("onehot").eval()
    save(model, tmp_path, {"window_length": L})
    path = tmp_path / "model.json"
    meta = json.loads(path.read_text())
    arch = meta["architecture"]["params"] if net == "linear" else meta["architecture"]
    del arch["encoding"]
    path.write_text(json.dumps(meta))
    loaded, _ = load(tmp_path)
    assert (loaded.encoding if net == "linear" else loaded.encoding.name) == "onehot"
    np.testing.assert_array_equal(predict_logit(loaded, idx), predict_logit(model, idx))


# ------------------------------------------------------------------------------ construction
def test_table_first_layer_needs_onehot() -> None:
    with pytest.raises(InputError, match="first_layer 'spline'"):
        KAN([L * A, H, 1], window_length=L, first_layer="table", encoding="physchem")


@pytest.mark.parametrize("make", [
    lambda: KAN([12, 3, 1], encoding="physchem"),
    lambda: MLP([12, 3, 1], encoding="blosum62"),
], ids=["kan", "mlp"])
def test_encoding_needs_windows(make: Callable[[], torch.nn.Module]) -> None:
    with pytest.raises(InputError, match="needs a model built for windows"):
        make()


@pytest.mark.parametrize("make", [
    lambda: KAN([L * A, H, 1], window_length=L, encoding="bogus"),
    lambda: MLP([L * A, H, 1], window_length=L, encoding="bogus"),
    lambda: CNN(L, encoding="bogus"),
    lambda: LogisticBaseline(encoding="bogus"),
], ids=["kan", "mlp", "cnn", "linear"])
def test_unknown_encoding_is_an_input_error(make: Callable[[], object]) -> None:
    with pytest.raises(InputError, match="unknown encoding 'bogus'"):
        make()


def test_build_takes_the_encoding_key() -> None:
    kan = build({"type": "kan", "encoding": "physchem"}, L)
    assert kan.first_layer == "spline" and isinstance(kan.layers[0], KANLayer)
    assert kan.encoding.name == "physchem" and kan.layers[0].in_dim == L * 6
    assert kan.width[0] == L * A  # the input stays one-hot windows
    for kind in ("mlp", "cnn", "linear"):
        model = build({"type": kind, "encoding": "blosum62"}, L)
        name = model.encoding if kind == "linear" else model.encoding.name
        assert name == "blosum62"
    assert build({"type": "mlp"}, L).encoding.name == "onehot"
    with pytest.raises(InputError):
        build({"type": "kan", "encoding": "physchem", "first_layer": "table"}, L)


# ------------------------------------------------------------------------ logistic baseline
def acidic_like(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Label 1 mostly where D or E sits at offsets 1 and 3 of the window (logistic-friendly)."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, 20, size=(n, L), dtype=np.uint8)
    acid = np.isin(idx[:, 1], (3, 6)).astype(int) + np.isin(idx[:, 3], (3, 6))
    y = (acid + (rng.random(n) < 0.15) >= 1).astype(int)
    return idx, y


@pytest.mark.parametrize("enc", ENCODINGS)
def test_logistic_baseline_with_each_encoding(enc: str) -> None:
    idx, y = acidic_like(300, 0)
    model = LogisticBaseline(encoding=enc, max_iter=300).fit(idx, y)
    assert model.coef_.shape == (L * DIM[enc],)
    assert model.table().shape == (L, A)
    s = model.decision_function(idx)
    logit, contrib = table_form(model, L).score(idx)
    np.testing.assert_allclose(logit, s, rtol=0, atol=1e-10)
    assert contrib.shape == (300, L)
    assert model.n_params() == L * DIM[enc] + 1
    assert model.n_params_effective() == L * min(DIM[enc], A)
    clone = LogisticBaseline.from_dict(json.loads(json.dumps(model.to_dict())))
    assert clone.get_params() == model.get_params() and clone.encoding == enc
    np.testing.assert_array_equal(clone.decision_function(idx), s)
    bad = model.to_dict()
    bad["coef"] = bad["coef"][:-1]
    with pytest.raises(InputError, match="coef length"):
        LogisticBaseline.from_dict(bad)


def test_logistic_physchem_reads_charge() -> None:
    idx, y = acidic_like(600, 1)
    model = LogisticBaseline(encoding="physchem", C=10.0).fit(idx, y)
    coef = model.coef_.reshape(L, 6)
    charge = 2  # physchem feature order: hydropathy volume charge polarity helix sheet
    # acidic residues (negative charge) at offsets 1 and 3 raise the log-odds
    assert coef[1, charge] < 0 and coef[3, charge] < 0
    assert np.abs(coef[[1, 3], charge]).min() > np.abs(coef[[0, 2, 4], charge]).max()


# ------------------------------------------------------------------------ parameter counts
@pytest.mark.parametrize("enc", ENCODINGS)
def test_n_params_effective_counts_the_encoded_first_layer(enc: str) -> None:
    head = H * 1 + 1
    model = MLP([L * A, H, 1], window_length=L, encoding=enc)
    assert model.n_params() == L * DIM[enc] * H + H + head
    assert model.n_params_effective() == L * DIM[enc] * H + head
    kan = KAN([L * A, H, 1], grid=3, k=2, window_length=L, encoding=enc)
    assert kan.n_params_effective() == L * A * H + H * (3 + 2 + 2)  # rank 21: 6 (G + k + 1) > 21


@pytest.mark.parametrize("enc", ENCODINGS)
def test_kan_flops_count_the_encoded_first_layer(enc: str) -> None:
    kan = KAN([L * A, H, 1], grid=3, k=2, window_length=L, encoding=enc)
    plain = KAN([L * DIM[enc], H, 1], grid=3, k=2)  # the same layers on dense features
    assert kan.flops("dense") == plain.flops("dense")
    assert kan.flops("onehot") == (L + 1) * H + plain.flops("dense") - \
        KAN([L * DIM[enc], H], grid=3, k=2).flops("dense")


def test_n_params_effective_physchem_vs_onehot_mlp() -> None:
    phys = MLP([L * A, H, 1], window_length=L, encoding="physchem")
    onehot = MLP([L * A, H, 1], window_length=L)
    head = H + 1
    assert phys.n_params_effective() == 6 * L * H + head
    assert onehot.n_params_effective() == 21 * L * H + head


# ------------------------------------------------------------------------------ explanation
@pytest.mark.parametrize("enc", ["blosum62", "physchem"])
def test_explain_an_encoded_kan(enc: str, tmp_path: Path) -> None:
    data = generate("acidic", 8, seed=1)
    table = extract([Protein(i, s, p) for i, s, p in data.proteins], data.residues,
                    L // 2).to_frame()
    table["split"] = "test"
    write_table(table, tmp_path / "windows.tsv")
    model = perturbed(kan_spline(enc)).float().eval()
    save(model, tmp_path / "kan", {"window_length": L})
    idx = windows(40)
    assert kan_exact(model, idx).residue.shape == (L, 20)
    with pytest.raises(InputError, match="one-hot KAN"):
        kan_feature(model, idx)
    res = explain(tmp_path / "kan", tmp_path / "windows.tsv", tmp_path / "out",
                  figures=["network"])
    assert res["methods"] == ["exact", "ism"]  # pykan feature scores are per one-hot letter
    assert (tmp_path / "out" / "network.png").stat().st_size > 1000
