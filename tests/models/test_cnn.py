"""The CNN baseline: shapes, seeds, index = dense input, checkpoints, learning a planted motif,
ISM through mutated windows, search, explain and predict on a CNN checkpoint."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from fasta_files import write_fasta
from scipy.special import expit

from kanbio.cli import main as kanbio_main
from kanbio.data.alphabet import ALPHABET, A
from kanbio.data.encode import windows_to_indices
from kanbio.data.fasta import Protein
from kanbio.data.synthetic import generate
from kanbio.data.synthetic import write as write_synthetic
from kanbio.data.windows import extract
from kanbio.errors import InputError
from kanbio.explain.attribution import AA, ism
from kanbio.metrics import auroc
from kanbio.models import CNN, MLP, build, checkpoint, model_type, predict_logit, table_form
from kanbio.models.inference import gradient_score, has_table_form, window_scorer
from kanbio.output import read_table
from kanbio.search import search
from kanbio.stages import predict as pr
from kanbio.stages.explain import explain
from kanbio.train import TrainConfig, fit

torch.set_num_threads(1)
H = 4  # half width: windows of 9
L = 2 * H + 1
SPECS = [
    {},
    {"channels": 5, "kernel_sizes": [2, 4], "pool": "flatten", "embedding": 3, "out": 2},
    {"channels": 4, "kernel_sizes": [1], "hidden": [], "pool": "max", "activation": "tanh"},
]


def random_windows(n: int, length: int = L, seed: int = 0) -> np.ndarray:
    idx = np.random.default_rng(seed).integers(0, A, size=(n, length), dtype=np.uint8)
    idx[:3, :2] = A - 1  # some padding letters
    return idx


def dense(idx: np.ndarray) -> torch.Tensor:
    return torch.nn.functional.one_hot(torch.as_tensor(idx).long(), A).float().reshape(len(idx), -1)


def kinase(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    data = generate("kinase", n, seed=seed)
    w = extract([Protein(i, s, p) for i, s, p in data.proteins], data.residues, H)
    return w.windows, w.label


@pytest.mark.parametrize("kw", SPECS)
def test_shapes_counts_and_index_equals_dense(kw: dict) -> None:
    model = CNN(L, seed=1, **kw).eval()
    idx = random_windows(17)
    out = model(torch.as_tensor(idx))
    assert out.shape == (17, kw.get("out", 1)) and model.width[0] == L * A
    assert torch.equal(out, model(dense(idx)))  # same tensors after the input channels
    in_ch = kw.get("embedding") or A
    c, ks, hidden = model.channels, model.kernel_sizes, model.hidden
    dims = [model.pooled_width(), *hidden, model.out]
    expected = (A * in_ch if kw.get("embedding") else 0) + sum(c * (in_ch * k + 1) for k in ks) \
        + sum(i * o + o for i, o in zip(dims, dims[1:], strict=False))
    assert model.n_params() == expected
    assert 0 < model.flops() <= model.flops("dense")
    assert CNN.from_config(json.loads(json.dumps(model.config()))).config() == model.config()


def test_seeded_init_and_fit_do_not_depend_on_the_global_rng() -> None:
    x, y = kinase(12, seed=3)

    def trained(global_seed: int) -> dict:
        torch.manual_seed(global_seed)
        model = CNN(L, channels=4, kernel_sizes=[3], hidden=[4], dropout=0.5, seed=2)
        fit(model, x, y, None, None, TrainConfig(epochs=2, batch_size=64, progress=False,
                                                 patience=0, seed=2))
        return model.state_dict()

    a, b = trained(0), trained(99)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(CNN(L, seed=0).conv_weights[0], CNN(L, seed=1).conv_weights[0])
    assert torch.equal(CNN(L, seed=5).weights[0], CNN(L, seed=5).weights[0])


def test_dropout_only_in_training_and_predict_uses_eval() -> None:
    model = CNN(L, dropout=0.5, seed=0)
    x = torch.as_tensor(random_windows(64))
    model.train()
    assert not torch.equal(model(x), model(x))  # a new mask per forward
    model.eval()
    assert torch.equal(model(x), model(x))
    model.train()
    assert np.array_equal(predict_logit(model, x), predict_logit(model, x))
    assert not model.training


def test_factory_checkpoint_round_trip(tmp_path: Path) -> None:
    spec = {"type": "cnn", "channels": 6, "kernel_sizes": [3, 5], "hidden": [8],
            "embedding": 4, "pool": "flatten", "dropout": 0.1}
    model = build(spec, L, seed=4).eval()
    assert model_type(model) == "cnn" and model.config()["kernel_sizes"] == [3, 5]
    assert not has_table_form(model)
    with pytest.raises(InputError, match="no table form"):
        table_form(model)
    checkpoint.save(model, tmp_path, {"window_length": L})
    loaded, meta = checkpoint.load(tmp_path, window_length=L)
    assert meta["type"] == "cnn" and isinstance(loaded, CNN) and not loaded.training
    idx = random_windows(30)
    assert np.array_equal(predict_logit(model, idx), predict_logit(loaded, idx))
    with pytest.raises(InputError, match="length"):
        checkpoint.load(tmp_path, window_length=L + 2)


@pytest.mark.parametrize("kw, match", [
    ({"channels": 0}, "channels"), ({"kernel_sizes": []}, "kernel_sizes"),
    ({"dropout": 1.0}, "dropout"), ({"pool": "mean"}, "pool"), ({"embedding": 0}, "embedding"),
    ({"activation": "elu"}, "activation"), ({"out": 3}, "out"),
])
def test_bad_settings(kw: dict, match: str) -> None:
    with pytest.raises(InputError, match=match):
        CNN(L, **kw)


def test_bad_input() -> None:
    model = CNN(L).eval()
    with pytest.raises(InputError, match="shape"):
        model(torch.zeros(2, L + 1, dtype=torch.uint8))
    with pytest.raises(InputError, match="indices"):
        model(torch.full((2, L), A, dtype=torch.uint8))
    with pytest.raises(InputError, match="dense input"):
        model(torch.zeros(2, 5))


def test_learns_a_planted_motif_and_ism_finds_it() -> None:
    x, y = kinase(60, seed=1)
    xt, yt = kinase(30, seed=2)
    model = build({"type": "cnn", "channels": 16}, L, seed=0)
    fit(model, x, y, None, None, TrainConfig(epochs=8, lr=5e-3, batch_size=128, progress=False,
                                             patience=0))
    assert auroc(yt, predict_logit(model, xt)) > 0.85
    pos = ism(model, xt[yt == 1][:150]).position
    assert set(np.argsort(-pos)[:3] - H) >= {-3, 1}  # R at -3, P at +1


def test_ism_equals_brute_force_mutation() -> None:
    model = CNN(L, channels=6, kernel_sizes=[3, 4], embedding=5, seed=3).eval()
    window = random_windows(8, seed=4)[5:6]
    one = ism(model, window, chunk_rows=50)  # several chunks
    m = np.empty((L, AA))
    for p in range(L):
        mut = np.repeat(window, AA, axis=0)
        mut[:, p] = np.arange(AA)
        m[p] = predict_logit(model, mut)
    base = predict_logit(model, window)[0]
    delta = m - base
    np.testing.assert_allclose(one.residue, delta - delta.mean(1, keepdims=True), atol=1e-5)
    is_aa = window[0] < AA
    np.testing.assert_allclose(one.position, np.abs(delta).sum(1) / (AA - is_aa), atol=1e-5)
    many = random_windows(40, seed=5)
    both = ism(model, many, chunk_rows=300), ism(lambda w: predict_logit(model, w), many)
    np.testing.assert_allclose(both[0].residue, both[1].residue, atol=1e-6)


def test_gradient_contributions() -> None:
    idx = random_windows(50, seed=6)
    # an MLP: the gradient on the one-hot input gives its table-form contributions
    mlp = MLP([L * A, 6, 1], window_length=L, seed=1).eval()
    logit, contrib = gradient_score(mlp, idx, chunk=16)
    ref_logit, ref = table_form(mlp).score(idx)
    np.testing.assert_allclose(logit, ref_logit, atol=1e-6)
    np.testing.assert_allclose(contrib, ref, atol=1e-6)
    # a CNN: the change along "residue -> average amino acid" (piecewise linear: a small step)
    cnn = CNN(L, channels=5, kernel_sizes=[3, 5], seed=2).double().eval()
    logit, contrib = window_scorer(cnn, L)(idx, True)
    np.testing.assert_allclose(logit, predict_logit(cnn, idx), atol=1e-9)
    x = dense(idx).double().reshape(len(idx), L, A)
    avg = torch.zeros(A, dtype=torch.float64)
    avg[:AA] = 1.0 / AA
    eps, p = 1e-6, 3
    moved = x.clone()
    moved[:, p] += eps * (avg - x[:, p])
    with torch.no_grad():
        f0, f1 = (cnn(t.reshape(len(idx), -1))[:, 0].numpy() for t in (x, moved))
    np.testing.assert_allclose(contrib[:, p], (f0 - f1) / eps, atol=1e-4)
    assert window_scorer(cnn)(idx, False)[1].shape == (50, 0)
    with pytest.raises(InputError, match="length"):
        window_scorer(cnn, L + 2)


def test_search_grid_over_cnn_keys() -> None:
    x, y = kinase(20, seed=7)
    xv, yv = kinase(10, seed=8)
    spec = {"type": "cnn", "channels": 4, "kernel_sizes": [3], "hidden": [4],
            "train": {"epochs": 2, "batch_size": 128, "patience": 0},
            "search": {"channels": [2, 4], "train.weight_decay": [0.0, 0.001]}}
    table, choice = search(x, y, xv, yv, spec)
    assert len(table) == 4 and table.selected.sum() == 1
    assert table.n_params.nunique() == 2 and "search" not in choice["spec"]
    assert set(choice["selected"]) == {"channels", "train.weight_decay"}


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> dict:
    """prepare -> train a CNN from a spec file -> evaluate, with a FASTA of the test proteins."""
    root = tmp_path_factory.mktemp("cnn")
    data = generate("kinase", 40, seed=5)
    files = write_synthetic(data, root / "data", "kinase")
    windows = root / "prep" / "windows.tsv.gz"
    assert kanbio_main(["prepare", "--fasta", str(files["fasta"]), "--sites",
                        str(files["sites.tsv"]), "--residues", "ST", "--half-width", str(H),
                        "--out", str(windows.parent)]) == 0
    spec = root / "spec.yaml"
    spec.write_text(yaml.safe_dump({"type": "cnn", "channels": 8, "kernel_sizes": [3, 5],
                                    "hidden": [8], "train": {"epochs": 4, "lr": 0.01}}))
    model = root / "cnn"
    assert kanbio_main(["train", "--windows", str(windows), "--model", "cnn", "--spec",
                        str(spec), "--out", str(model)]) == 0
    assert kanbio_main(["evaluate", "--model", str(model), "--windows", str(windows), "--out",
                        str(model / "metrics.json"), "--bootstrap", "100"]) == 0
    table = read_table(windows)
    test_ids = set(table.protein_id[table.split == "test"])
    fasta = root / "test.fasta"
    write_fasta([(pid, seq) for pid, seq, _ in data.proteins if pid in test_ids], fasta, 60)
    return {"root": root, "model": model, "windows": windows, "table": table, "fasta": fasta,
            "truth": files["truth.tsv"]}


def test_predict_on_a_cnn_checkpoint_matches_predict_logit(study: dict) -> None:
    out = study["root"] / "pred.tsv.gz"
    summary = pr.predict(study["model"], study["fasta"], out, top=3)
    assert summary["type"] == "cnn"
    pred = read_table(out)
    merged = pred.merge(study["table"], on=["protein_id", "position"], validate="1:1")
    assert len(merged) == len(pred) > 50 and (merged.window_x == merged.window_y).all()
    model, _ = checkpoint.load(study["model"])
    logit = predict_logit(model, windows_to_indices(merged.window_x.tolist()))
    assert np.abs(expit(logit) - merged.probability).max() <= 1e-6
    thr = json.loads((study["model"] / "metrics.json").read_text())["threshold"]
    clear = np.abs(logit - thr) > 1e-6
    assert ((logit >= thr).astype(int) == merged.label_x)[clear].all()
    for text in pred.top_offsets:
        offsets = [int(o) for o in text.split(",")]
        assert len(set(offsets)) == 3 and 0 not in offsets and max(map(abs, offsets)) <= H


def test_explain_a_cnn_with_ism_only(study: dict) -> None:
    out = study["root"] / "explain"
    res = explain(study["model"], study["windows"], out, truth=study["truth"], max_windows=60,
                  figures=["heatmap_ism"])
    assert res["type"] == "cnn" and res["methods"] == ["ism"] and "symbolic" not in res
    assert 0 <= res["precision_at_k"] <= 1
    assert (out / "heatmap_ism.png").exists() and not (out / "logo_ism.png").exists()
    assert ALPHABET[0] in set(read_table(out / "attribution_residues.tsv").residue)


def test_documented_defaults_are_the_model_class_defaults() -> None:
    rows = {line.split("|")[1].strip(" `"): line
            for line in (Path(__file__).resolve().parents[2] / "config/README.md").read_text()
            .splitlines() if line.startswith("| `")}
    params = inspect.signature(CNN).parameters
    for key in ("channels", "kernel_sizes", "pool", "dropout", "hidden"):
        default = params[key].default
        text = f"default `{list(default) if isinstance(default, tuple) else default}`"
        assert text in rows[key], (key, text, rows[key])
