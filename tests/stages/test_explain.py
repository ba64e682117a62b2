"""Tests for kanbio.stages.explain and kanbio.report.figures: per-model outputs and figures."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from kanbio.data.fasta import Protein
from kanbio.data.synthetic import generate
from kanbio.data.windows import extract
from kanbio.errors import InputError
from kanbio.explain.attribution import Attribution
from kanbio.explain.motifs import parse_known_motif
from kanbio.output import read_table, write_table
from kanbio.report.figures import position_bars, residue_heatmap, sequence_logo
from kanbio.stages.explain import add_arguments, explain, run
from kanbio.stages.train import train_table

torch.set_num_threads(1)
REPO = Path(__file__).resolve().parents[2]
TRUTH = REPO / "data/demo/kinase.truth.tsv"
TRAIN = {"epochs": 10, "lr": 5e-3, "batch_size": 128, "patience": 0}


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A kinase windows table (half width 4) with a KAN, an MLP and a logistic checkpoint."""
    root = tmp_path_factory.mktemp("explain")
    data = generate("kinase", 70, seed=2)
    table = extract([Protein(i, s, p) for i, s, p in data.proteins], data.residues, 4).to_frame()
    num = table.protein_id.str[-5:].astype(int)
    table["split"] = np.select([num % 5 == 0, num % 5 == 1], ["test", "val"], "train")
    write_table(table, root / "windows.tsv")
    for kind, spec in (
        ("kan", {"type": "kan", "hidden": [4], "train": TRAIN}),
        ("mlp", {"type": "mlp", "hidden": [8], "train": TRAIN}),
        ("linear", {"type": "linear"}),
    ):
        train_table(str(root / "windows.tsv"), spec, 0, str(root / kind), progress=False)
    return root


KNOWN = [
    {"offset": 1, "residues": "P", "effect": "enriched"},
    {"offset": -3, "residues": "R", "effect": "depleted"},
]


def test_kan_explanation_and_deterministic_figures(trained: Path) -> None:
    out_a, out_b = trained / "kan_a", trained / "kan_b"
    res = explain(trained / "kan", trained / "windows.tsv", out_a, truth=TRUTH, known_motif=KNOWN)
    assert res["type"] == "kan" and res["methods"] == ["exact", "ism", "feature"]
    for method in res["methods"]:
        assert res["recovery"][method]["precision_at_k"] == 1.0
    assert res["precision_at_k"] == 1.0 and sorted(res["top_offsets"][:2]) == [-3, 1]
    assert [c["found"] for c in res["known_motif"]] == [True, False]
    assert all(c["found"] for c in res["truth_checks"]["exact"])
    sym = res["symbolic"]
    assert abs(sym["formula_auroc"] - sym["network_auroc"]) < 0.01 and sym["network_auroc"] > 0.8
    assert sym["label_agreement"] > 0.97 and sym["threshold_source"] == "val"
    assert json.loads((out_a / "motif.json").read_text())["n_windows"] == res["n_windows"]
    pos = read_table(out_a / "attribution_positions.tsv")
    resid = read_table(out_a / "attribution_residues.tsv")
    assert list(pos.columns) == ["method", "offset", "score"] and len(pos) == 3 * 9
    assert list(resid.columns) == ["method", "offset", "residue", "score"] and len(resid) == 540
    assert (out_a / "formula.txt").read_text().startswith("logit = ")
    assert "\\mathrm{logit}" in (out_a / "formula.tex").read_text()
    assert len(read_table(out_a / "formula_tables.tsv")) == 9 * 21
    figures = [f"{s}_{m}" for s in ("positions", "heatmap") for m in res["methods"]]
    figures += ["logo_exact", "logo_ism", "network", "functions"]
    for stem in figures:
        for ext in ("png", "pdf"):
            assert (out_a / f"{stem}.{ext}").stat().st_size > 1000, stem
    explain(trained / "kan", trained / "windows.tsv", out_b, truth=TRUTH, known_motif=KNOWN)
    files = sorted(p.name for p in out_a.iterdir())
    assert files == sorted(p.name for p in out_b.iterdir())
    for name in files:
        assert (out_a / name).read_bytes() == (out_b / name).read_bytes(), name


@pytest.mark.parametrize("kind", ["mlp", "linear"])
def test_other_models_get_ism(trained: Path, kind: str) -> None:
    out = trained / f"{kind}_explain"
    res = explain(
        trained / kind,
        trained / "windows.tsv",
        out,
        truth=TRUTH,
        figures=False,
        max_windows=300,
        split="test",
    )
    assert res["methods"] == ["ism"] and res["n_windows"] == 300 and "symbolic" not in res
    assert res["recovery"]["ism"]["precision_at_k"] == 1.0
    assert not (out / "formula.txt").exists()
    assert set(read_table(out / "attribution_residues.tsv").method) == {"ism"}


def test_cli_run(trained: Path, capsys) -> None:
    out = trained / "cli"
    args = add_arguments(argparse.ArgumentParser()).parse_args(
        [
            "--model",
            str(trained / "linear"),
            "--windows",
            str(trained / "windows.tsv"),
            "--out",
            str(out),
            "--truth",
            str(TRUTH),
            "--known-motif=+1:P:enriched",
            "--known-motif=-3:R:enriched",
            "--no-figures",
            "--split",
            "all",
            "--max-windows",
            "500",
        ]
    )
    assert run(args) == 0
    assert "precision@2 1.00" in capsys.readouterr().err
    res = json.loads((out / "motif.json").read_text())
    assert [c["found"] for c in res["known_motif"]] == [True, True]


def test_parse_known_motif(tmp_path: Path) -> None:
    f = tmp_path / "motif.yaml"
    f.write_text("known_motif:\n  - {offset: 2, residues: ST, effect: enriched}\n")
    assert parse_known_motif(["-1:k:depleted", str(f)]) == [
        {"offset": -1, "residues": "k", "effect": "depleted"},
        {"offset": 2, "residues": "ST", "effect": "enriched"},
    ]
    for bad in ("1:P", "x:P:enriched"):
        with pytest.raises(InputError):
            parse_known_motif([bad])


def test_bad_input(trained: Path) -> None:
    with pytest.raises(InputError, match="split"):
        explain(trained / "linear", trained / "windows.tsv", trained / "bad", split="nope")
    with pytest.raises(InputError, match="known_motif"):
        explain(
            trained / "linear",
            trained / "windows.tsv",
            trained / "bad",
            known_motif=[{"offset": 1, "residues": "P", "effect": "up"}],
        )
    with pytest.raises(InputError, match="not found"):
        explain(trained / "missing", trained / "windows.tsv", trained / "bad")


def test_plots_are_byte_identical(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    att = Attribution("ism", rng.normal(size=(7, 20)), rng.random(7))
    for name, draw in (
        ("bars", lambda p: position_bars(att, p, planted=[-2, 1])),
        ("heat", lambda p: residue_heatmap(att, p)),
        ("logo", lambda p: sequence_logo(att, p)),
    ):
        first = draw(tmp_path / f"{name}_1")
        second = draw(tmp_path / f"{name}_2")
        assert [p.suffix for p in first] == [".png", ".pdf"]
        for a, b in zip(first, second, strict=True):
            assert a.read_bytes() == b.read_bytes(), a
        assert first[0].read_bytes()[:4] == b"\x89PNG" and first[1].read_bytes()[:4] == b"%PDF"
    assert not pd.isna(att.position).any()
