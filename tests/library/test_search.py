"""Model selection on the validation split: the grid, the choice, and that test data never count."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kanbio.cli import main as kanbio_main
from kanbio.data.synthetic import generate
from kanbio.data.synthetic import write as write_synthetic
from kanbio.errors import InputError
from kanbio.metrics import binary_metrics, bootstrap_ci, seed_mean_ci
from kanbio.output import read_table, write_table
from kanbio.search import apply, candidates
from kanbio.stages.search import search_table, selected_spec

KAN = {"type": "kan", "hidden": [4], "grid": 3, "k": 2,
       "train": {"epochs": 3, "batch_size": 128, "patience": 0, "lr": 0.01}}


@pytest.fixture(scope="module")
def windows(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("search")
    files = write_synthetic(generate("kinase", 40, seed=3), root / "data", "kinase")
    out = root / "prep"
    assert kanbio_main(["prepare", "--fasta", str(files["fasta"]), "--sites",
                        str(files["sites.tsv"]), "--residues", "ST", "--half-width", "4",
                        "--out", str(out)]) == 0
    return out / "windows.tsv.gz"


def test_candidates_are_the_declared_product_in_order():
    spec = {"type": "kan", "search": {"grid": [3, 5], "train.lamb": [0.0, 0.01, 0.1]}}
    got = candidates(spec)
    assert len(got) == 6 and got[0] == {"grid": 3, "train.lamb": 0.0}
    assert got[1] == {"grid": 3, "train.lamb": 0.01} and got[-1] == {"grid": 5, "train.lamb": 0.1}
    assert candidates({"type": "kan"}) == [{}]
    with pytest.raises(InputError, match="search.grid"):
        candidates({"search": {"grid": 3}})


def test_apply_nests_dotted_keys_and_copies():
    spec = {"type": "kan", "train": {"lr": 0.1}, "search": {"train.lamb": [1.0]}}
    out = apply(spec, {"train.lamb": 1.0, "hidden": [16]})
    assert out == {"type": "kan", "train": {"lr": 0.1, "lamb": 1.0}, "hidden": [16]}
    assert spec["train"] == {"lr": 0.1} and "search" in spec  # the input is untouched
    assert selected_spec(None, spec) == {"type": "kan", "train": {"lr": 0.1}}


def test_search_picks_the_best_validation_candidate(windows, tmp_path):
    spec = {**KAN, "search": {"grid": [2, 3], "hidden": [[2], [4]]}}
    choice = search_table(windows, spec, tmp_path / "s.tsv", tmp_path / "s.json", seed=1)
    table = read_table(tmp_path / "s.tsv")
    assert len(table) == 4 and table.selected.sum() == 1
    best = table.loc[table.val_auroc.idxmax()]
    assert bool(best.selected) and json.loads(best.overrides) == choice["selected"]
    assert choice["spec"] == apply(spec, choice["selected"])
    assert json.loads((tmp_path / "s.json").read_text()) == choice
    assert selected_spec(tmp_path / "s.json", spec) == choice["spec"]
    # each row reproduces: the same candidate alone gives the same validation score
    alone = {**KAN, "search": {k: [v] for k, v in choice["selected"].items()}}
    again = search_table(windows, alone, tmp_path / "t.tsv", tmp_path / "t.json", seed=1)
    assert again["val"]["auroc"] == pytest.approx(choice["val"]["auroc"], abs=1e-12)


def test_loss_metric_is_minimised(windows, tmp_path):
    spec = {"type": "linear", "search": {"C": [0.001, 1.0, 100.0]}}
    choice = search_table(windows, spec, tmp_path / "s.tsv", tmp_path / "s.json", metric="loss")
    table = read_table(tmp_path / "s.tsv")
    assert choice["selected"] == json.loads(table.overrides[table.val_loss.idxmin()])


def test_test_split_never_changes_the_choice(windows, tmp_path):
    """Scramble every test window and label: the search table is identical (bar timings)."""
    spec = {"type": "linear", "search": {"C": [0.01, 0.1, 1.0, 10.0]}}
    table = read_table(windows)
    test = (table.split == "test").to_numpy()
    assert test.any()
    rng = np.random.default_rng(0)
    scrambled = table.copy()
    scrambled.loc[test, "label"] = rng.integers(0, 2, test.sum())
    scrambled.loc[test, "window"] = rng.permutation(scrambled.window[test].to_numpy())
    other = tmp_path / "scrambled.tsv.gz"
    write_table(scrambled, other)
    a = search_table(windows, spec, tmp_path / "a.tsv", tmp_path / "a.json")
    b = search_table(other, spec, tmp_path / "b.tsv", tmp_path / "b.json")
    assert a == b
    ta, tb = (read_table(tmp_path / f).drop(columns="train_seconds") for f in ("a.tsv", "b.tsv"))
    assert ta.equals(tb)


def test_search_without_validation_is_a_clear_error(windows, tmp_path):
    table = read_table(windows)
    table.loc[table.split == "val", "split"] = "train"
    bad = tmp_path / "noval.tsv.gz"
    write_table(table, bad)
    with pytest.raises(InputError, match="noval.tsv.gz: model search needs a validation split"):
        search_table(bad, {"type": "linear", "search": {"C": [1.0]}}, tmp_path / "s.tsv",
                     tmp_path / "s.json")
    assert not (tmp_path / "s.tsv").exists()


def test_seed_mean_ci():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 400)
    scores = np.stack([y + rng.normal(0, s, 400) for s in (0.8, 1.0, 1.5)])
    thr = [0.5, 0.4, 0.6]
    got = seed_mean_ci(y, scores, thr, n_boot=300, seed=2)
    for k in ("mcc", "auroc", "sn"):
        want = np.mean([binary_metrics(y, s, t)[k] for s, t in zip(scores, thr, strict=True)])
        value, lo, hi = got[k]
        assert value == pytest.approx(want) and lo <= value <= hi
    # one seed: the same interval as the single-model bootstrap
    one = seed_mean_ci(y, scores[:1], thr[:1], n_boot=300, seed=2)
    ref = bootstrap_ci(y, scores[0], thr[0], n_boot=300, seed=2)
    assert all(one[k][1:] == pytest.approx(ref[k]) for k in ("mcc", "auroc", "acc"))


def test_cli_search_matches_the_stage_and_rejects_a_spec_without_grid(windows, tmp_path, capsys):
    spec = {"type": "linear", "search": {"C": [0.01, 1.0]}}
    (tmp_path / "spec.yaml").write_text(json.dumps(spec))
    assert kanbio_main(["search", "--windows", str(windows), "--spec", str(tmp_path / "spec.yaml"),
                        "--out", str(tmp_path / "cli")]) == 0
    direct = search_table(windows, spec, tmp_path / "d.tsv", tmp_path / "d.json")
    assert json.loads((tmp_path / "cli.json").read_text()) == direct
    assert "2 candidates" in capsys.readouterr().err
    (tmp_path / "plain.yaml").write_text(json.dumps({"type": "linear"}))
    assert kanbio_main(["search", "--windows", str(windows), "--spec",
                        str(tmp_path / "plain.yaml"), "--out", str(tmp_path / "x")]) == 2
    assert "no 'search' grid" in capsys.readouterr().err


def test_version_and_help_import_no_stage():
    code = ("import sys; from kanbio.cli import main\n"
            "try:\n    main(['--version'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.startswith(('torch', 'kanbio.stages'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().endswith("[]")
