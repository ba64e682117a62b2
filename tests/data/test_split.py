"""Tests of kanbio.data.split: fractions, stratification, determinism, deduplication, MMseqs2."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kanbio.data.split import (
    SPLITS,
    assign_splits,
    cluster_proteins,
    homology_split,
    predefined_split,
    protein_split,
)
from kanbio.errors import InputError

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
needs_mmseqs = pytest.mark.skipif(shutil.which("mmseqs") is None, reason="mmseqs not on PATH")


def _table(n_prot: int = 200, seed: int = 0, pos_share: float = 0.3) -> pd.DataFrame:
    """Proteins of 1-300 windows; about ``pos_share`` of them carry one positive window."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_prot):
        n = int(rng.integers(1, 301))
        pos = rng.random() < pos_share
        rows += [(f"P{i:04d}", k + 1, "K", f"W{i}_{k}", int(pos and k == 0)) for k in range(n)]
    return pd.DataFrame(rows, columns=["protein_id", "position", "residue", "window", "label"])


def _strata(table: pd.DataFrame, mapping: dict) -> pd.DataFrame:
    prot = table.groupby("protein_id").agg(size=("label", "size"), positive=("label", "max"))
    return prot.assign(split=prot.index.map(mapping))


@pytest.mark.parametrize("fractions", [(0.7, 0.15, 0.15), (0.8, 0.0, 0.2), (0.5, 0.3, 0.2)])
@pytest.mark.parametrize("seed", [0, 1])
def test_protein_split_exact_fractions_per_stratum(fractions, seed):
    table = _table(seed=seed)
    prot = _strata(table, protein_split(table, fractions, seed))
    for _, part in prot.groupby("positive"):
        counts = part.split.value_counts()
        for s, f in zip(SPLITS, fractions, strict=True):
            assert np.floor(len(part) * f) <= counts.get(s, 0) <= np.ceil(len(part) * f)


def test_protein_split_balances_sizes_and_depends_on_seed():
    table = _table(n_prot=400)
    maps = [protein_split(table, seed=s) for s in range(3)]
    assert maps[0] == protein_split(table, seed=0)  # deterministic
    assert maps[0] != maps[1] != maps[2]
    for m in maps:
        prot = _strata(table, m)
        mean = prot["size"].mean()
        for _, part in prot.groupby("split"):
            # every split gets all sizes: mean within 3% (random assignment: about 8% typical)
            assert abs(part["size"].mean() - mean) < 0.03 * mean


def test_split_input_errors():
    table = _table(n_prot=10)
    with pytest.raises(InputError, match="fractions"):
        protein_split(table, (0.5, 0.5, 0.5))
    with pytest.raises(InputError, match="label"):
        protein_split(table.drop(columns="label"))
    with pytest.raises(InputError, match="empty"):
        protein_split(table.iloc[:0])
    with pytest.raises(InputError, match="no split"):
        assign_splits(table, {"P0000": "train"})
    with pytest.raises(InputError, match="unknown split"):
        assign_splits(table, dict.fromkeys(table.protein_id, "holdout"))


def test_predefined_split():
    table = _table(n_prot=100)
    test_ids = {f"P{i:04d}" for i in range(0, 100, 5)} | {"not_in_table"}
    m = predefined_split(table, test_ids, val_fraction=0.2, seed=3)
    assert set(m) == set(table.protein_id)
    assert {p for p, s in m.items() if s == "test"} == test_ids - {"not_in_table"}
    assert Counter(m.values())["val"] in (15, 16, 17)  # 20% of 80, per stratum rounding
    assert m == predefined_split(table, test_ids, 0.2, 3)
    with pytest.raises(InputError, match="none of the test"):
        predefined_split(table, {"nope"})


def test_predefined_split_carves_validation_by_cluster():
    table = _table(n_prot=200, seed=4)
    ids = sorted(table.protein_id.unique())
    test_ids = set(ids[::5])
    rng = np.random.default_rng(1)
    clusters = {p: f"C{int(c)}" for p, c in zip(ids, rng.integers(0, 40, len(ids)), strict=True)}
    m = predefined_split(table, test_ids, 0.2, seed=2, sequences={}, clusters=clusters)
    assert {p for p, s in m.items() if s == "test"} == test_ids
    rest = {p: s for p, s in m.items() if s != "test"}
    by_cluster = pd.DataFrame({"s": rest, "c": {p: clusters[p] for p in rest}}).groupby("c")
    assert (by_cluster.s.nunique() == 1).all()  # no cluster spans train and validation
    assert Counter(rest.values())["val"] / len(rest) == pytest.approx(0.2, abs=0.07)


def test_homology_split_keeps_clusters_whole():
    table = _table(n_prot=300, seed=2)
    ids = sorted(table.protein_id.unique())
    rng = np.random.default_rng(0)
    clusters = {p: f"C{int(c)}" for p, c in zip(ids, rng.integers(0, 90, len(ids)), strict=True)}
    m = homology_split(table, {}, (0.7, 0.15, 0.15), seed=1, clusters=clusters)
    assert m == homology_split(table, {}, (0.7, 0.15, 0.15), seed=1, clusters=clusters)
    by_cluster = pd.DataFrame({"c": clusters, "s": m}).groupby("c").s.nunique()
    assert (by_cluster == 1).all()
    shares = pd.Series(m).value_counts(normalize=True)
    assert shares["train"] == pytest.approx(0.7, abs=0.05)
    assert shares["test"] == pytest.approx(0.15, abs=0.05)
    prot = _strata(table, m)
    pos = prot[prot.positive == 1].split.value_counts(normalize=True)
    assert pos["test"] == pytest.approx(0.15, abs=0.08)  # positives stratified by cluster
    with pytest.raises(InputError, match="no cluster"):
        homology_split(table, {}, clusters={ids[0]: "C0"})


def test_assign_splits_deduplicates_across_splits_only():
    rows = [  # protein, window
        ("a", "AAA"), ("a", "BBB"), ("a", "DDD"),  # train
        ("b", "BBB"), ("b", "CCC"), ("b", "EEE"),  # val
        ("c", "AAA"), ("c", "BBB"), ("c", "CCC"), ("c", "CCC"), ("c", "DDD"),  # test
        ("d", "CCC"), ("d", "EEE"),  # test
    ]
    table = pd.DataFrame(rows, columns=["protein_id", "window"]).assign(position=1, label=0)
    table.loc[9, "label"] = 1
    out, report = assign_splits(table, {"a": "train", "b": "val", "c": "test", "d": "test"})
    # removed: val BBB; test AAA, BBB, DDD; test CCC x3 (val has CCC); test EEE (val has EEE)
    assert report["duplicate_windows_removed"] == 8
    assert report["duplicate_windows_removed_by_split"] == {"val": 1, "test": 7}
    assert report["conflicting_label_windows"] == 0
    kept = {(r.protein_id, r.window) for r in out.itertuples()}
    assert kept == {("a", "AAA"), ("a", "BBB"), ("a", "DDD"), ("b", "CCC"), ("b", "EEE")}
    windows_by_split = out.groupby("window").split.nunique()
    assert (windows_by_split == 1).all()
    # same-split duplicates are kept
    dup = pd.DataFrame({"protein_id": ["x", "y"], "window": ["QQQ", "QQQ"], "label": [0, 1]})
    out, report = assign_splits(dup, {"x": "test", "y": "test"})
    assert len(out) == 2 and report["duplicate_windows_removed"] == 0
    assert report["conflicting_label_windows"] == 1


def test_mmseqs_missing_gives_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(InputError, match=r"mmseqs.*not found.*split: {method: protein}") as err:
        cluster_proteins({"a": "MKV"})
    assert "\n" not in str(err.value)
    with pytest.raises(InputError, match="MMseqs2"):
        homology_split(_table(n_prot=5), {f"P{i:04d}": "MKV" for i in range(5)})


@needs_mmseqs
def test_cluster_proteins_finds_families_deterministically():
    rng = np.random.default_rng(0)
    aa = np.array(list("ARNDCQEGHILKMFPSTWYV"))
    seqs = {}
    for fam in range(3):
        root = rng.choice(aa, 120)
        for m in range(4):
            s = root.copy()
            mut = rng.random(120) < 0.3  # about 70% identity to the root
            s[mut] = rng.choice(aa, mut.sum())
            seqs[f"f{fam} member {m}"] = "".join(s)  # ids with spaces survive the round trip
    seqs.update({f"u{i}": "".join(rng.choice(aa, 100)) for i in range(3)})
    seqs["fragment"] = seqs["f0 member 0"][20:100]  # covered by its parent: joins family 0
    clusters = cluster_proteins(seqs, threads=2)
    assert clusters == cluster_proteins(seqs, threads=1)
    expected = {p: ("f0 member 0" if p == "fragment" else p[:2] + " member 0" if p[0] == "f"
                    else p) for p in seqs}
    assert clusters == expected


def _read_marked(path: Path) -> dict[str, tuple[str, list[int]]]:
    """Minimal '#'-marked FASTA reader: id -> (sequence, 0-based positive positions)."""
    out, name = {}, None
    for line in path.read_text().splitlines():
        if line.startswith(">"):
            name = line[1:].split()[0]
            out[name] = ("", [])
        elif line.strip():
            seq, marks = out[name]
            for ch in line.strip():
                if ch == "#":
                    marks.append(len(seq) - 1)
                else:
                    seq += ch
            out[name] = (seq, marks)
    return out


@pytest.mark.shared
def test_homology_split_on_sumo_has_no_test_train_homologs(tmp_path):
    folder = DATA / "capsnet_sumo"
    if not folder.is_dir():
        pytest.skip(f"shared data folder absent: {folder}")
    if shutil.which("mmseqs") is None:
        pytest.skip("mmseqs not on PATH")
    proteins = {}
    for path in sorted(folder.glob("test_annotated_fold*.fasta")):
        proteins.update(_read_marked(path))
    assert len(proteins) == 591
    rows = [(p, i + 1, int(i in marks)) for p, (seq, marks) in proteins.items()
            for i, ch in enumerate(seq) if ch == "K"]
    table = pd.DataFrame(rows, columns=["protein_id", "position", "label"])
    seqs = {p: seq for p, (seq, _) in proteins.items()}
    identity, coverage = 0.3, 0.8
    start = time.perf_counter()
    m = homology_split(table, seqs, (0.7, 0.15, 0.15), seed=0, identity=identity,
                       coverage=coverage, threads=2)
    split_seconds = time.perf_counter() - start
    counts = Counter(m.values())
    assert counts["test"] > 60 and counts["train"] > 350, counts
    # Independent check: a direct test-against-train search, more sensitive than the clustering
    # (-s 7.5, 5-mers, up to 1000 candidates per query; it also finds every hit of
    # --exhaustive-search, which prefilters ungapped), with the clustering's link criteria:
    # E <= 1e-3, identity (identical / aligned columns) >= 0.3, and coverage >= 0.8 of either
    # protein.
    ids = {s: [p for p in sorted(m) if m[p] == s] for s in ("test", "train")}
    for s, members in ids.items():
        (tmp_path / f"{s}.fasta").write_text("".join(f">{s[:2]}{i}\n{seqs[p]}\n"
                                                     for i, p in enumerate(members)))
    cols = ["query", "target", "fident", "qcov", "tcov", "evalue"]
    subprocess.run(["mmseqs", "easy-search", tmp_path / "test.fasta", tmp_path / "train.fasta",
                    tmp_path / "hits.m8", tmp_path / "tmp", "-s", "7.5", "-k", "5",
                    "--max-seqs", "1000", "-e", "1e-3", "--threads", "2", "-v", "1",
                    "--format-output", ",".join(cols)],
                   check=True, capture_output=True)
    hits = pd.read_csv(tmp_path / "hits.m8", sep="\t", names=cols)
    check_seconds = time.perf_counter() - start - split_seconds
    assert len(hits) > 100  # the folds are homologous: many sub-threshold hits exist
    leaks = hits[(hits.fident >= identity) & (hits[["qcov", "tcov"]].max(axis=1) >= coverage)]
    assert leaks.empty, f"{len(leaks)} test-train pairs above threshold:\n{leaks}"
    print(f"homology split of 591 proteins {split_seconds:.1f} s, check {check_seconds:.1f} s, "
          f"{dict(counts)}, {len(hits)} sub-threshold test-train hits")
