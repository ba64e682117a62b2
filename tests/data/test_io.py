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
from kanbio.data.fasta import (
    Protein,
    ReadReport,
    iter_records,
    read_fasta,
    read_fasta_with_sites,
    read_marked_fasta,
    read_site_table,
    read_window_fasta,
)
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


# ------------------------------------------------------------------ one validator for all readers
def test_iter_records_one_validator_for_every_reader(tmp_path):
    a = write(tmp_path / "a.fasta", ">p1\nMK#AS*\n>p2\nM1K\n>p3\n\n>p4\nMK##A\n")
    b = write(tmp_path / "b.fasta", ">p1\nKK\n>p5\nkbk#\n")
    report = ReadReport()
    recs = list(iter_records([a, b], report, marks="sites"))
    assert [(r.path, r.id, r.seq, r.marks) for r in recs] == [(a, "p1", "MKAS", (2,)),
                                                             (b, "p5", "KXK", (3,))]
    assert recs[1].mapped == {"B": 1} and recs[0].line == 1 and recs[1].line == 3
    assert report.records == 6 and report.dropped == {
        "invalid_character": 1, "empty_sequence": 1, "malformed_mark": 1, "duplicate_id": 1}
    rejected = ReadReport()
    assert [r.id for r in iter_records(a, rejected)] == []  # '#' is not allowed there
    assert rejected.dropped == {"invalid_character": 3, "empty_sequence": 1}
    with pytest.raises(InputError, match=r"a.fasta:1, record 'p1': unexpected '#' site mark"):
        list(iter_records(a, ReadReport(), strict=True))
    with pytest.raises(ValueError, match="marks"):
        list(iter_records(a, ReadReport(), marks="strip"))


def test_input_error_is_a_value_error():
    assert issubclass(InputError, ValueError)


def test_header_only_record_is_dropped_as_empty(tmp_path):
    path = write(tmp_path / "only.fasta", ">only\n")
    for strict in (False, True):  # nothing there can be misread: never fatal
        proteins, rep = read_marked_fasta(path, "K", strict=strict)
        assert proteins == [] and rep.records == 1 and rep.dropped == {"empty_sequence": 1}
    assert read_fasta(write(tmp_path / "star.fasta", ">s\n*\n"))[1].dropped == {
        "empty_sequence": 1}


def test_empty_record_between_good_ones_is_dropped(tmp_path):
    path = write(tmp_path / "a.fasta", ">a\nMK#A\n>gap desc\n\n>b\nKK\n")
    proteins, rep = read_marked_fasta(path, "K")
    assert [p.id for p in proteins] == ["a", "b"] and proteins[0].sites == (2,)
    assert rep.records == 3 and rep.dropped == {"empty_sequence": 1}
    assert "a.fasta:3, record 'gap': no sequence after the header" in rep.warnings[0]
    wins = write(tmp_path / "w.fasta", ">w1\nAAKAA\n>w2\n>w3\nAAKAA\n")
    got, rep = read_window_fasta(wins, 1, "K", 2, strict=True)
    assert len(got) == 2 and rep.dropped == {"empty_sequence": 1}


def test_corrupt_gzip_is_one_line_naming_the_file(tmp_path):
    path = write(tmp_path / "bad.fasta.gz", b"\x1f\x8b\x08\x00" + b"garbage" * 20, "wb")
    with pytest.raises(InputError) as err:
        read_marked_fasta(path, "K")
    msg = str(err.value)
    assert msg.startswith(f"{path}: corrupt gzip data") and "\n" not in msg
    with pytest.raises(InputError, match="corrupt gzip data"):
        read_site_table(path)
    # damage past the first 64 KiB is found while reading, and named the same way
    body = gzip.compress(("".join(f">p{i}\n{'MKSA' * 50}\n" for i in range(2000))).encode())
    late = write(tmp_path / "late.fasta.gz", body[: len(body) // 2] + b"\xff" * 64, "wb")
    with pytest.raises(InputError, match=r"late.fasta.gz: corrupt gzip data"):
        read_marked_fasta(late, "K")


def test_byte_order_mark_is_skipped(tmp_path):
    bom = b"\xef\xbb\xbf"
    fasta = write(tmp_path / "a.fasta", bom + b">p1\r\nMK#A\r\n", "wb")
    proteins, _ = read_marked_fasta(fasta, "K")
    assert proteins == [Protein("p1", "MKA", (2,))]
    gz = tmp_path / "a.fasta.gz"
    gz.write_bytes(gzip.compress(bom + b">p1\nMK#A\n"))
    assert read_marked_fasta(gz, "K")[0] == proteins
    plain = write(tmp_path / "p.fasta", ">p1\nMKAK\n")
    for name, table in (("s.csv", b"protein_id,position\r\np1,2\r\n"),
                        ("s.tsv", b"protein_id\tposition\np1\t4\n")):
        sites = write(tmp_path / name, bom + table, "wb")
        assert read_site_table(sites)[0][0] == "p1"
        assert read_fasta_with_sites(plain, sites, "K")[0][0].sites in ((2,), (4,))
    with pytest.raises(InputError, match="empty file"):
        read_marked_fasta(write(tmp_path / "bom_only.fasta", bom + b"\n", "wb"), "K")


def test_whitespace_only_text_is_empty_not_a_crash(tmp_path):
    path = write(tmp_path / "nbsp.fasta", "\u00a0\n\u2003\n")
    with pytest.raises(InputError, match="empty file"):
        read_marked_fasta(path, "K")


def test_window_id_with_a_non_ascii_digit_keeps_the_whole_id(tmp_path):
    path = write(tmp_path / "w.fasta", ">sp|P1|-|\u00b2\nAAKAA\n")
    wins, _ = read_window_fasta(path, 1, "K", 2)
    assert (wins[0].protein_id, wins[0].position) == ("sp|P1|-|\u00b2", 0)


def test_window_with_a_final_stop_has_the_wrong_length(tmp_path):
    path = write(tmp_path / "w.fasta", ">w\nAAKA*\n")
    with pytest.raises(InputError, match="length 4, expected 5"):
        read_window_fasta(path, 1, "K", 2)


def test_malformed_site_table_is_one_line(tmp_path):
    path = write(tmp_path / "s.csv", "protein_id,position\np1,two\n")
    big = write(tmp_path / "big.csv", "protein_id,position\n" + "x" * 200_000 + ",1\n")
    for bad in (path, big):
        with pytest.raises(InputError) as err:
            read_site_table(bad)
        assert str(err.value).startswith(bad) and "\n" not in str(err.value)
    tail = write(tmp_path / "tail.csv", b"protein_id,position\np1,2\n\xff", "wb")
    with pytest.raises(InputError, match="non-UTF-8"):
        read_site_table(tail)
