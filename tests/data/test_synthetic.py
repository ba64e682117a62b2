"""Tests for kanbio.data.synthetic: determinism, planted rules, balanced marginals, file formats."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pytest
from Bio import SeqIO
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from kanbio.cli import main as kanbio_main
from kanbio.data.alphabet import ALPHABET, PAD_INDEX, A
from kanbio.data.encode import windows_to_indices
from kanbio.data.synthetic import (
    BACKGROUND,
    TASKS,
    SyntheticSet,
    benchmark_proteome,
    generate,
    main,
    write,
)
from kanbio.errors import InputError


def windows(data: SyntheticSet, h: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All candidate windows as (N, 2h+1) uint8, labels (N,) and protein numbers (N,)."""
    wins, labels, group = [], [], []
    pad = np.full(h, PAD_INDEX, dtype=np.uint8)
    for g, (_, seq, pos) in enumerate(data.proteins):
        idx = np.concatenate([pad, windows_to_indices([seq])[0], pad])
        c = np.array([i for i, a in enumerate(seq) if a in data.residues], dtype=np.int64)
        wins.append(idx[c[:, None] + np.arange(2 * h + 1)])  # centre i sits at i + h
        labels.append(np.isin(c + 1, pos))
        group.append(np.full(c.size, g))
    return np.concatenate(wins), np.concatenate(labels), np.concatenate(group)


def at(w: np.ndarray, offset: int, letters: str) -> np.ndarray:
    """(N,) bool: the letter at ``offset`` from the centre is one of ``letters``."""
    h = w.shape[1] // 2
    return np.isin(w[:, h + offset], [ALPHABET.index(c) for c in letters])


@pytest.fixture(scope="module")
def sets() -> dict[str, SyntheticSet]:
    size = {"tutorial": 40, "tutorial_fixed": 120, "kinase": 150, "sequon": 300,
            "interaction": 180}  # fmt: skip
    return {t: generate(t, n, seed=3) for t, n in size.items()}


def test_same_seed_same_bytes_other_seed_differs(tmp_path: Path) -> None:
    for task in TASKS:
        a = write(generate(task, 15, seed=7), tmp_path / "a", task)
        b = write(generate(task, 15, seed=7), tmp_path / "b", task)
        c = write(generate(task, 15, seed=8), tmp_path / "c", task)
        for key in a:
            assert a[key].read_bytes() == b[key].read_bytes()
        assert a["fasta"].read_bytes() != c["fasta"].read_bytes()
    # the task name is mixed into the seed: two tasks with one seed do not share backgrounds
    assert generate("kinase", 3, 1).proteins[0][1] != generate("sequon", 3, 1).proteins[0][1]


@settings(max_examples=20, deadline=None)
@given(task=st.sampled_from(sorted(TASKS)), n=st.integers(1, 6), seed=st.integers(0, 2**31),
       lo=st.integers(10, 60), extra=st.integers(0, 40))  # fmt: skip
def test_records_are_consistent(task: str, n: int, seed: int, lo: int, extra: int) -> None:
    data = generate(task, n, seed, length=(lo, lo + extra))
    assert [p[0] for p in data.proteins] == [f"syn_{task}_{i:05d}" for i in range(1, n + 1)]
    for _, seq, pos in data.proteins:
        assert lo <= len(seq) <= lo + extra and set(seq) <= set(ALPHABET[:20])
        assert list(pos) == sorted(set(pos))
        assert all(1 <= p <= len(seq) and seq[p - 1] in data.residues for p in pos)
    s = data.summary()
    assert s["positives"] <= s["candidates"] and s["proteins"] == n


def test_tutorial_label_is_the_centre_letter(sets: dict[str, SyntheticSet]) -> None:
    w, y, _ = windows(sets["tutorial"], 2)
    assert np.array_equal(y, at(w, 0, "K")) and at(w, 0, "KS").all()
    assert 0.35 < y.mean() < 0.6  # K vs S background ratio, close to the tutorial's 50/50


def test_tutorial_fixed_label_needs_the_flanks(sets: dict[str, SyntheticSet]) -> None:
    data = sets["tutorial_fixed"]
    w, y, _ = windows(data, 2)
    flank_k = np.any([at(w, o, "K") for o in (-2, -1, 1, 2)], axis=0)
    assert not (y & flank_k).any()  # a K in a flank forces label 0
    assert abs(y[~flank_k].mean() - TASKS["tutorial_fixed"].positive_rate) < 0.05
    assert 0.3 < flank_k.mean() < 0.8  # the flank rule bites on many candidates
    assert 0.1 < y.mean() < 0.35 and at(w, 0, "K").all()


def test_kinase_motif_on_most_positives_only(sets: dict[str, SyntheticSet]) -> None:
    w, y, _ = windows(sets["kinase"], 16)
    motif = at(w, -3, "R") & at(w, 1, "P")
    assert y.sum() > 500 and 0.1 < y.mean() < 0.3
    assert abs(motif[y].mean() - 0.8) < 0.06
    assert motif[~y].mean() < 0.03


def test_sequon_required_on_positives_rare_on_negatives(sets: dict[str, SyntheticSet]) -> None:
    w, y, _ = windows(sets["sequon"], 16)
    sequon = at(w, 2, "ST") & ~at(w, 1, "P")
    assert sequon[y].all() and y.sum() > 300
    assert 0.005 < sequon[~y].mean() < 0.08  # unlabelled decoys exist, but few


def test_interaction_is_invisible_to_a_linear_model(sets: dict[str, SyntheticSet]) -> None:
    data = sets["interaction"]
    h = data.half_width
    w, y, g = windows(data, h)
    hyd = [at(w, o, "FILV") for o in (-2, 2)]
    assert (hyd[0] | at(w, -2, "DER")).all() and (hyd[1] | at(w, 2, "DER")).all()
    oracle = hyd[0] == hyd[1]
    assert roc_auc_score(y, oracle) == 1.0
    for o in (-2, 2):  # class marginals are the same in both labels
        assert abs(at(w, o, "FILV")[y].mean() - at(w, o, "FILV")[~y].mean()) < 0.08
    x = np.zeros((len(y), w.shape[1] * A), dtype=np.float32)  # one-hot, (N, L*21)
    x[np.arange(len(y))[:, None], np.arange(w.shape[1]) * A + w] = 1.0
    test = g % 3 == 0  # protein-level split
    model = LogisticRegression(max_iter=500).fit(x[~test], y[~test])
    auc = roc_auc_score(y[test], model.decision_function(x[test]))
    assert auc < 0.6 and test.sum() > 500


def test_write_formats_parse(tmp_path: Path, sets: dict[str, SyntheticSet]) -> None:
    data = sets["kinase"]
    paths = write(data, tmp_path, "demo")
    assert {p.name for p in tmp_path.iterdir()} == {"demo.fasta", "demo.sites.tsv",
                                                      "demo.truth.tsv"}  # fmt: skip
    records = list(SeqIO.parse(paths["fasta"], "fasta"))
    assert [(r.id, str(r.seq)) for r in records] == [(i, s) for i, s, _ in data.proteins]
    assert all(len(line) > 0 for line in paths["fasta"].read_text().splitlines())
    with open(paths["sites.tsv"], newline="") as fh:
        rows = list(csv.reader(fh, delimiter="\t"))
    assert rows[0] == ["protein_id", "position"]
    assert [(r[0], int(r[1])) for r in rows[1:]] == [(i, p) for i, _, ps in data.proteins
                                                     for p in ps]  # fmt: skip
    with open(paths["truth.tsv"], newline="") as fh:
        truth = list(csv.reader(fh, delimiter="\t"))
    assert truth == [
        ["offset", "residues", "role"],
        ["-3", "R", "enriched"],
        ["1", "P", "enriched"],
    ]


def test_truth_tables_are_well_formed() -> None:
    for spec in TASKS.values():
        assert spec.truth and set(spec.residues) <= set(ALPHABET[:20])
        for offset, letters, role in spec.truth:
            assert abs(offset) <= spec.half_width and set(letters) <= set(ALPHABET[:20])
            assert role in {"required", "enriched", "depleted", "interaction"}


def test_main_writes_files_and_reports(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["--task", "sequon", "--proteins", "12", "--seed", "2", "--out", str(tmp_path),
                 "--name", "s", "--positive-rate", "0.5"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    n_sites = len((tmp_path / "s.sites.tsv").read_text().splitlines()) - 1
    assert re.search(rf"12 proteins, \d+ candidates \(N\), {n_sites} positives", out)
    direct = generate("sequon", 12, 2, positive_rate=0.5)
    assert sum(len(p) for *_, p in direct.proteins) == n_sites
    with pytest.raises(SystemExit) as exc:
        main(["--task", "kinase", "--proteins", "0", "--out", str(tmp_path)])
    assert exc.value.code == 2 and "at least 1" in capsys.readouterr().err


def test_kanbio_synthetic_exits_0_with_its_files(tmp_path: Path, capsys) -> None:
    code = kanbio_main(["synthetic", "--task", "kinase", "--proteins", "5", "--seed", "1",
                        "--out", str(tmp_path)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "kinase.fasta", "kinase.sites.tsv", "kinase.truth.tsv"]
    assert "5 proteins" in captured.out
    assert kanbio_main(["synthetic", "--task", "kinase", "--proteins", "0", "--out",
                        str(tmp_path / "none")]) == 2
    assert "kanbio: error: " in capsys.readouterr().err and not (tmp_path / "none").exists()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"task": "nope", "n_proteins": 3}, "unknown task"),
        ({"task": "kinase", "n_proteins": 0}, "at least 1"),
        ({"task": "kinase", "n_proteins": 2.5}, "integer"),
        ({"task": "kinase", "n_proteins": 3, "length": (50, 20)}, "length range"),
        ({"task": "kinase", "n_proteins": 3, "positive_rate": 1.5}, "[0, 1]"),
        ({"task": "tutorial", "n_proteins": 3, "positive_rate": 0.2}, "no positive rate"),
    ],
)
def test_bad_input_raises_one_line_error(kwargs: dict, message: str) -> None:
    with pytest.raises(InputError, match=re.escape(message)) as exc:
        generate(**kwargs)
    assert "\n" not in str(exc.value)


def test_benchmark_proteome_is_background_and_deterministic() -> None:
    x = benchmark_proteome(2_000_000, seed=5)
    assert x.dtype == np.uint8 and x.shape == (2_000_000,)
    assert np.array_equal(x[:1000], benchmark_proteome(1000, seed=5))
    freq = np.bincount(x, minlength=A) / x.size
    assert freq[PAD_INDEX] == 0 and np.abs(freq - BACKGROUND).max() < 1e-3
    assert not np.array_equal(x[:1000], benchmark_proteome(1000, seed=6))
