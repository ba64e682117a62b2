"""Tests for kanbio.explain.attribution: ISM (fast and generic paths), exact KAN scores, motifs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from kanbio.data.alphabet import ALPHABET, A
from kanbio.data.fasta import Protein
from kanbio.data.synthetic import generate
from kanbio.data.windows import extract
from kanbio.errors import InputError
from kanbio.explain.attribution import AA, ism, kan_exact, kan_feature
from kanbio.explain.motifs import check_known_motif, logo_signal, motif_recovery, read_truth
from kanbio.models import KAN, MLP, LogisticBaseline, predict_logit, table_form
from kanbio.train import TrainConfig, fit

torch.set_num_threads(1)
REPO = Path(__file__).resolve().parents[2]


def random_windows(n: int, length: int, seed: int = 0) -> np.ndarray:
    idx = np.random.default_rng(seed).integers(0, A, size=(n, length), dtype=np.uint8)
    idx[:3, :2] = A - 1  # some padding letters
    return idx


def random_kan(width: list[int], length: int, seed: int = 0, **kw) -> KAN:
    model = KAN(width, window_length=length, seed=seed, **kw).eval()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in model.layers:
            layer.coef.copy_(torch.randn(layer.coef.shape, generator=gen))
    return model

def test_ism_of_linear_model_is_coefficient_differences() -> None:
    length = 5
    idx = random_windows(300, length)
    y = (idx[:, 1] == ALPHABET.index("P")) | (np.arange(300) % 3 == 0)
    model = LogisticBaseline().fit(idx, y.astype(int))
    w = model.coef_.reshape(length, A)[:, :AA]  # (L, 20)
    expected_res = w - w.mean(1, keepdims=True)
    cur = model.coef_.reshape(length, A)[np.arange(length), idx]  # (N, L) weight of the residue
    diff = np.abs(w[None] - cur[..., None])  # (N, L, 20); 0 at the residue itself
    expected_pos = (diff.sum(-1) / (AA - (idx < AA))).mean(0)
    for source in (model, model.decision_function):  # table path and mutated windows
        a = ism(source, idx, chunk_rows=997)
        np.testing.assert_allclose(a.residue, expected_res, atol=1e-12)
        np.testing.assert_allclose(a.position, expected_pos, atol=1e-12)
    frame = a.residue_frame()
    assert frame.shape == (length * AA, 4) and frame.offset.min() == -2
    assert list(a.position_frame().columns) == ["method", "offset", "score"]


@pytest.mark.parametrize("kind", ["kan", "mlp"])
def test_ism_fast_path_equals_mutated_windows(kind: str) -> None:
    length = 7
    model = (
        random_kan([length * A, 3, 2], length, grid=4)
        if kind == "kan"
        else MLP([length * A, 6, 1], window_length=length, seed=3).eval()
    )
    idx = random_windows(40, length, seed=1)
    logit = table_form(model).score(idx, contributions=False)[0]
    np.testing.assert_allclose(logit, predict_logit(model, idx), atol=2e-5)
    fast = ism(model, idx, chunk_rows=1000)
    slow = ism(lambda w: predict_logit(model, w), idx, chunk_rows=1000)
    np.testing.assert_allclose(fast.residue, slow.residue, atol=5e-5)
    np.testing.assert_allclose(fast.position, slow.position, atol=5e-5)
    # brute force for one window, position and letter
    w = idx[5:6].copy()
    w[0, 2] = ALPHABET.index("W")
    one = ism(model, idx[5:6])
    effects = [
        predict_logit(model, np.where(np.arange(length) == 2, a, idx[5]).reshape(1, -1))[0]
        for a in range(AA)
    ]
    np.testing.assert_allclose(one.residue[2], np.array(effects) - np.mean(effects), atol=5e-5)


def test_exact_equals_ism_for_linear_output_functions() -> None:
    length = 6
    model = random_kan([length * A, 3, 1], length, base_fun="identity")
    with torch.no_grad():  # output edges w_b * s_j: the network is linear in s
        model.layers[1].coef.zero_()
    idx = random_windows(60, length, seed=2)
    exact, mut = kan_exact(model, idx), ism(model, idx)
    np.testing.assert_allclose(exact.residue, mut.residue, atol=1e-5)
    assert exact.position.shape == (length,) and (exact.position >= 0).all()
    feat = kan_feature(model, idx)
    assert feat.residue.shape == (length, AA) and (feat.residue >= 0).all()


@pytest.fixture(scope="module")
def kinase_kan() -> tuple[KAN, np.ndarray]:
    data = generate("kinase", 60, seed=11)
    w = extract([Protein(i, s, p) for i, s, p in data.proteins], data.residues, 4)
    model = KAN([9 * A, 4, 1], window_length=9, seed=0)
    fit(
        model,
        w.windows,
        w.label,
        None,
        None,
        TrainConfig(epochs=8, lr=5e-3, batch_size=128, progress=False, seed=0, patience=0),
    )
    return model.eval(), w.windows


def test_trained_kan_recovers_planted_offsets(kinase_kan) -> None:
    model, idx = kinase_kan
    for method in (kan_exact, ism, kan_feature):
        rec = motif_recovery(method(model, idx).position, [-3, 1])
        assert rec["precision_at_k"] == 1.0 and rec["ranking_auroc"] == 1.0, method
        assert sorted(rec["top"][:2]) == [-3, 1]
    checks = check_known_motif(
        kan_exact(model, idx).residue,
        [
            {"offset": -3, "residues": "R", "effect": "enriched"},
            {"offset": 1, "residues": "P", "effect": "enriched"},
            {"offset": 1, "residues": "P", "effect": "depleted"},
            {"offset": 2, "residues": "W", "effect": "enriched"},
        ],
    )
    assert [c["found"] for c in checks] == [True, True, False, False]


def test_logo_signal_share_of_the_top_offsets() -> None:
    flat = logo_signal(np.ones(9))
    assert flat["k"] == 3 and flat["top_share"] == pytest.approx(3 / 8) == flat["flat_share"]
    sharp = np.full(9, 0.01)
    sharp[[1, 5, 6]] = [-2.0, 1.0, 0.5]  # offsets -3, +1, +2; signs do not matter
    sharp[4] = 50.0  # the centre never counts
    got = logo_signal(sharp)
    assert got["top_offsets"] == [-3, 1, 2] and got["top_share"] == pytest.approx(3.5 / 3.55)
    assert logo_signal(np.zeros(5))["top_share"] == 0.0
    sparse = np.zeros(9)
    sparse[[3, 6]] = [1.0, -2.0]  # a pruned model: two offsets carry everything
    got = logo_signal(sparse)
    assert got["top_share"] == 1.0 and got["top_offsets"] == [2, -1]


def test_motif_recovery_ranking() -> None:
    scores = np.array([0.1, 0.9, 0.2, 5.0, 0.8, 0.3, 0.05])  # offsets -3..3; 0 is the centre
    rec = motif_recovery(scores, [-2, 1])
    assert rec["k"] == 2 and rec["precision_at_k"] == 1.0 and rec["ranking_auroc"] == 1.0
    assert rec["top"][:2] == [-2, 1] and 0 not in rec["top"]
    rec = motif_recovery(scores, [0, -3, 2])  # offset 0 dropped when others are planted
    assert rec["planted"] == [-3, 2] and rec["precision_at_k"] == 0.0
    assert rec["ranking_auroc"] == pytest.approx(3 / 8)  # 3 of 8 planted-vs-other pairs
    only_centre = motif_recovery(scores, [0])
    assert only_centre["precision_at_k"] == 1.0 and only_centre["top"][0] == 0
    with pytest.raises(InputError):
        motif_recovery(scores, [4])


def test_known_motif_found_and_not_found() -> None:
    rng = np.random.default_rng(0)
    res = rng.normal(0, 0.05, size=(9, AA))  # offsets -4..4
    res[4 + 2, [ALPHABET.index("S"), ALPHABET.index("T")]] = 1.0  # S/T enriched at +2
    res[4 + 1, ALPHABET.index("P")] = -1.2  # P depleted at +1
    motifs = [
        {"offset": 2, "residues": "st", "effect": "enriched"},
        {"offset": 1, "residues": "P", "effect": "depleted"},
        {"offset": 1, "residues": "P", "effect": "enriched"},  # wrong direction
        {"offset": -3, "residues": "R", "effect": "enriched"},  # nothing there
        {"offset": "+2", "residues": "S", "effect": "enriched"},
    ]
    out = check_known_motif(res, motifs)
    assert [c["found"] for c in out] == [True, True, False, False, True]
    assert out[0]["residues"] == "ST" and out[1]["z"] < -3 and abs(out[3]["z"]) < 3
    for bad in (
        {"offset": 9, "residues": "P", "effect": "enriched"},
        {"offset": 1, "residues": "PX", "effect": "enriched"},
        {"offset": 1, "residues": "P", "effect": "up"},
        {"offset": "one", "residues": "P", "effect": "enriched"},
        {"offset": 1, "residues": "P"},
    ):
        with pytest.raises(InputError, match="known_motif"):
            check_known_motif(res, [bad])


def test_read_truth(tmp_path: Path) -> None:
    assert read_truth(REPO / "data/demo/kinase.truth.tsv") == [
        (-3, "R", "enriched"),
        (1, "P", "enriched"),
    ]
    bad = tmp_path / "t.tsv"
    bad.write_text("offset\tresidues\trole\n+x\tR\tenriched\n")
    with pytest.raises(InputError, match=":2"):
        read_truth(bad)
    bad.write_text("offset\tletters\n1\tR\n")
    with pytest.raises(InputError, match="lacks columns"):
        read_truth(bad)
    with pytest.raises(InputError, match="not found"):
        read_truth(tmp_path / "missing.tsv")


def test_bad_windows_rejected() -> None:
    model = MLP([5 * A, 2, 1], window_length=5)
    with pytest.raises(InputError):
        ism(model, np.full((3, 5), 21, np.uint8))
    with pytest.raises(InputError):
        ism(model, np.zeros((3, 6), np.uint8))
    with pytest.raises(InputError):
        kan_exact(model, np.zeros((3, 5), np.uint8))
