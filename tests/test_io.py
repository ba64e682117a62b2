"""Readers, letter normalisation, windows and encoding."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from kanbio.data.alphabet import ALPHABET, normalise
from kanbio.data.encode import (
    indices_to_windows,
    one_hot,
    windows_to_indices,
)
from kanbio.data.fasta import Protein, read_fasta_with_sites, read_marked_fasta, read_window_fasta
from kanbio.data.windows import extract
from kanbio.errors import InputError


def write(path, text, mode="w"):
    with open(path, mode) as fh:
        fh.write(text)
    return str(path)


def test_normalise_maps_and_counts():
    seq, mapped = normalise("acdBZJUOk*")
    assert seq == "ACDXXXXXK"
    assert mapped == {"B": 1, "Z": 1, "J": 1, "U": 1, "O": 1}
    with pytest.raises(ValueError, match="position 3"):
        normalise("AC1D")
    with pytest.raises(ValueError, match="non-ASCII"):
        normalise("ACé")


def test_marked_fasta_sites_and_normalisation(tmp_path):
    path = write(tmp_path / "a.fasta", ">p1 desc\nMK#AS\nTK#\n>p2\nkkU\n")
    proteins, rep = read_marked_fasta(path, "K")
    assert proteins[0] == Protein("p1", "MKASTK", (2, 6))
    assert proteins[1].seq == "KKX" and proteins[1].sites == ()
    assert rep.letters_normalised == {"U": 1}


def test_gzip_accepted(tmp_path):
    path = tmp_path / "a.fasta.gz"
    with gzip.open(path, "wt") as fh:
        fh.write(">p1\nMK#A\n")
    proteins, _ = read_marked_fasta(path, "K")
    assert proteins[0].sites == (2,)


def test_lenient_drops_and_counts(tmp_path):
    path = write(tmp_path / "a.fasta",
                 ">p1\nMK#A\n>p1\nMK\n>p2\nM1K\n>p3\n#MK\n>p4\nMA#K#\n>p5\nMK##A\n")
    proteins, rep = read_marked_fasta(path, "K")
    assert [p.id for p in proteins] == ["p1", "p4"]
    assert proteins[1].sites == (3,)
    assert rep.dropped == {"duplicate_id": 1, "invalid_character": 1, "malformed_mark": 2,
                           "site_on_non_target_residue": 1}


@pytest.mark.parametrize("text,problem,line", [
    (">p1\nMK\n>p1\nMK\n", "duplicate protein id", 3),
    (">p1\nMK\n>p2\nMK\nM K A\n", "whitespace inside the sequence", 5),
    (">p1\nMK7A\n", "invalid character '7'", 1),
    (">p1\n#MK\n", "at the sequence start", 1),
    (">p1\nMK##A\n", "doubled", 1),
    (">p1\nMA#K\n", "not on a target residue", 1),
])
def test_strict_errors_name_file_record_line(tmp_path, text, problem, line):
    path = write(tmp_path / "bad.fasta", text)
    with pytest.raises(InputError) as err:
        read_marked_fasta(path, "K", strict=True)
    msg = str(err.value)
    assert problem in msg and f"bad.fasta:{line}" in msg and "record '" in msg
    assert "\n" not in msg


@pytest.mark.parametrize("content,problem", [
    ("", "empty file"),
    ("just some text\nwithout header\n", "no FASTA header"),
    (b"\x00\x01\x02binary\xff\xfe", "binary"),
])
def test_whole_file_errors(tmp_path, content, problem):
    path = write(tmp_path / "x.fasta", content, "wb" if isinstance(content, bytes) else "w")
    with pytest.raises(InputError, match=problem):
        read_marked_fasta(path, "K")


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        read_marked_fasta(tmp_path / "nope.fasta", "K")


def test_site_table_positions_and_accessions(tmp_path):
    fasta = write(tmp_path / "p.fasta", ">sp|P1|NAME_HUMAN\nMKAK\n>q2\nKKKK\n")
    sites = write(tmp_path / "s.csv", "accession,site\nP1,2\nq2,9\nq2,0\nP1,3\n")
    proteins, rep = read_fasta_with_sites(fasta, sites, "K")
    assert proteins[0].sites == (2,)
    assert rep.dropped == {"site_out_of_range": 2, "site_on_non_target_residue": 1}
    with pytest.raises(InputError, match="site at position 3 is on 'A'"):
        read_fasta_with_sites(fasta, sites, "K", strict=True)
    far = write(tmp_path / "far.csv", "accession,site\nq2,9\n")
    with pytest.raises(InputError, match=r"p.fasta:3, record 'q2': site position 9 outside"):
        read_fasta_with_sites(fasta, far, "K", strict=True)


def test_site_table_explicit_negatives(tmp_path):
    fasta = write(tmp_path / "p.fasta", ">a\nKKKK\n")
    sites = write(tmp_path / "s.tsv", "protein_id\tposition\tlabel\na\t1\t1\na\t3\t0\n")
    proteins, _ = read_fasta_with_sites(fasta, sites, "K")
    w = extract(proteins, "K", 1)
    assert list(w.position) == [1, 3] and list(w.label) == [1, 0]


def test_window_fasta(tmp_path):
    path = write(tmp_path / "w.fasta", ">sp|P1|-|5\n-MKAA\n>sp|P2|-|7\nAAKAA\n>c\nAARAA\n")
    wins, rep = read_window_fasta(path, 1, "K", 2)
    assert [(w.protein_id, w.position, w.window) for w in wins] == [("P1", 5, "XMKAA"),
                                                                    ("P2", 7, "AAKAA")]
    assert rep.dropped == {"centre_not_target": 1}
    with pytest.raises(InputError, match="centre is 'R'"):
        read_window_fasta(path, 1, "K", 2, strict=True)
    bad = write(tmp_path / "len.fasta", ">w1\nAAKA\n")
    with pytest.raises(InputError, match="length 4, expected 5"):
        read_window_fasta(bad, 1, "K", 2)


def test_extract_windows_padding_and_labels():
    prots = [Protein("a", "KAAK", (1,)), Protein("b", "AKA", (2,)), Protein("c", "AAA")]
    w = extract(prots, "K", 2)
    df = w.to_frame()
    assert df.window.tolist() == ["XXKAA", "AAKXX", "XAKAX"]
    assert df.label.tolist() == [1, 0, 1]
    assert df.position.tolist() == [1, 4, 2]
    assert df.residue.tolist() == ["K", "K", "K"]


def test_extract_matches_naive_loop():
    rng = np.random.default_rng(0)
    prots = []
    for i in range(30):
        seq = "".join(rng.choice(list(ALPHABET[:20]), rng.integers(1, 60)))
        cands = [j + 1 for j, c in enumerate(seq) if c in "ST"]
        sites = tuple(j for j in cands if rng.random() < 0.3)
        prots.append(Protein(f"p{i}", seq, sites))
    h = 4
    expected = []
    for p in prots:
        padded = "X" * h + p.seq + "X" * h
        for j, c in enumerate(p.seq):
            if c in "ST":
                expected.append((p.id, j + 1, padded[j : j + 2 * h + 1], int(j + 1 in p.sites)))
    df = extract(prots, "st", h).to_frame()
    assert list(zip(df.protein_id, df.position, df.window, df.label, strict=True)) == expected


def test_encode_round_trip():
    wins = ["ACDXK", "YYWVX", "XXXXX"]
    idx = windows_to_indices(wins)
    assert idx.dtype == np.uint8 and idx.shape == (3, 5)
    assert indices_to_windows(idx) == wins
    oh = one_hot(idx)
    assert oh.shape == (3, 5 * 21) and oh.dtype == np.float32
    assert (oh.sum(axis=1) == 5).all() and oh[0, ALPHABET.index("A")] == 1
    assert (oh.reshape(3, 5, 21).argmax(-1) == idx).all()
