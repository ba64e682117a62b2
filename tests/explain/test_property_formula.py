"""The formula of a KAN on residue properties: terms named by property and offset, r2 per
edge, predictions close to the network's, and the explain stage's files."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from synthetic_windows import synthetic_windows

from kanbio.cli import main as kanbio_main
from kanbio.data.synthetic import generate
from kanbio.data.synthetic import write as write_synthetic
from kanbio.errors import InputError
from kanbio.explain.properties import TERM_COLUMNS, property_formula
from kanbio.metrics import auroc
from kanbio.models import KAN, predict_logit
from kanbio.train import TrainConfig, fit


@pytest.fixture(scope="module")
def trained() -> tuple[KAN, np.ndarray, np.ndarray]:
    x, y = synthetic_windows("acidic", 300, 1)
    model = KAN([9 * 21, 2, 1], window_length=9, encoding="physchem", seed=0)
    fit(model, x, y, cfg=TrainConfig(epochs=40, patience=0, lr=0.003, group_lasso=0.1,
                                     group_prune=0.2, progress=False))
    return model, x, y


def test_formula_names_charge_at_the_planted_offsets(trained):
    model, x, y = trained
    form = property_formula(model, x[:2000])
    assert list(form.terms.columns) == TERM_COLUMNS
    assert (np.diff(form.terms.span.to_numpy()) <= 1e-12).all()  # widest first
    widest = form.terms.groupby(["offset", "feature"]).span.max().sort_values(ascending=False)
    assert set(widest.index[:2]) == {(1, "charge"), (3, "charge")}
    assert {1, 3} <= set(form.kept()["offsets"])
    text, tex = form.to_text(), form.to_latex()
    assert "charge(+1)" in text and "charge(+3)" in text and "r2 = " in text
    assert r"\mathrm{charge}(+1)" in tex and tex.startswith("\\begin{align*}")
    assert (form.terms.r2 >= 0).all() and (form.terms.r2 <= 1).all()


def test_formula_predictions_follow_the_network(trained):
    model, x, y = trained
    form = property_formula(model, x[:2000])
    net, sym = predict_logit(model, x), form.predict_logit(x)
    assert np.corrcoef(net, sym)[0, 1] > 0.98
    assert abs(auroc(y, net) - auroc(y, sym)) < 0.01
    # where every term fits exactly the fitted table is the network's table
    exact = form.terms.r2.min() > 1 - 1e-9
    t_net = model.first_layer_table()[0].double().numpy()
    if exact:
        np.testing.assert_allclose(form.table(), t_net, atol=1e-3 * np.abs(t_net).max())
    assert np.abs(form.table() - t_net).max() < np.abs(t_net).max()


def test_property_formula_needs_a_property_encoding():
    model = KAN([5 * 21, 2, 1], window_length=5)
    with pytest.raises(InputError, match="residue-property encoding"):
        property_formula(model, np.zeros((4, 5), np.uint8))


def test_explain_writes_the_property_formula_and_sparsity(tmp_path):
    files = write_synthetic(generate("acidic", 200, seed=2), tmp_path / "data", "acidic")
    prep, ckpt, out = tmp_path / "prep", tmp_path / "m", tmp_path / "ex"
    assert kanbio_main(["prepare", "--fasta", str(files["fasta"]), "--sites",
                        str(files["sites.tsv"]), "--residues", "ST", "--half-width", "4",
                        "--out", str(prep)]) == 0
    torch.manual_seed(0)
    assert kanbio_main(["train", "--windows", str(prep / "windows.tsv.gz"), "--model", "kan",
                        "--encoding", "physchem", "--hidden", "2", "--group-lasso", "0.1",
                        "--epochs", "40", "--lr", "0.003", "--out", str(ckpt)]) == 0
    assert kanbio_main(["explain", "--model", str(ckpt), "--windows",
                        str(prep / "windows.tsv.gz"), "--out", str(out), "--truth",
                        str(files["truth.tsv"]), "--no-figures"]) == 0
    for name in ("formula_properties.txt", "formula_properties.tex", "formula_properties.tsv"):
        assert (out / name).stat().st_size > 0
    motif = json.loads((out / "motif.json").read_text())
    sp = motif["sparsity"]
    assert sp["encoding"] == "physchem" and sp["of_offsets"] == 9
    assert sp["n_offsets"] < 9 and {1, 3} <= set(sp["offsets"])
    assert "charge" in sp["features"]["+1"]
    assert motif["properties"]["formula_auroc"] > 0.9
    assert motif["properties"]["top_terms"][0]["feature"] == "charge"
