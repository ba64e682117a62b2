"""Fuzzed input for the readers: every file either parses or raises InputError, nothing else.

Random bytes, FASTA-like text (headers, letters, '#', digits, blanks, '*', '-', BOM, CRLF or CR
line ends, gzip, truncated gzip) and site tables. What parses must hold only clean data: sequences
over the alphabet, sites inside the sequence and on a target residue, windows of the set length.
Deterministic (derandomize) and small enough to run in a few seconds.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kanbio.data.alphabet import ALPHABET
from kanbio.data.fasta import (
    ReadReport,
    iter_records,
    read_fasta_with_sites,
    read_marked_fasta,
    read_site_table,
    read_window_fasta,
)
from kanbio.errors import InputError

FUZZ = settings(max_examples=120, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
RESIDUES = "KST"
H = 2
BOM = b"\xef\xbb\xbf"


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def _check_proteins(proteins) -> None:
    for p in proteins:
        assert p.seq and set(p.seq) <= set(ALPHABET)
        for pos in (*p.sites, *(p.negatives or ())):
            assert 1 <= pos <= len(p.seq) and p.seq[pos - 1] in RESIDUES


def _read_all(fasta: Path, sites: Path | None = None) -> None:
    """Every reader on ``fasta`` (and the site table): a result that holds, or an InputError."""
    for strict in (False, True):
        try:
            _check_proteins(read_marked_fasta(fasta, RESIDUES, strict)[0])
        except InputError as err:
            assert "\n" not in str(err)
        try:
            wins, _ = read_window_fasta(fasta, 1, RESIDUES, H, strict)
            for w in wins:
                assert len(w.window) == 2 * H + 1 and w.window[H] in RESIDUES
                assert set(w.window) <= set(ALPHABET)
        except InputError as err:
            assert "\n" not in str(err)
        try:
            report = ReadReport()
            recs = list(iter_records([fasta, fasta], report, strict, marks="sites"))
            assert len({r.id for r in recs}) == len(recs)  # duplicates across files dropped
            assert report.records >= len(recs)
            assert all(r.seq and set(r.seq) <= set(ALPHABET) for r in recs)
        except InputError as err:
            assert "\n" not in str(err)
        if sites is not None:
            try:
                _check_proteins(read_fasta_with_sites(fasta, sites, RESIDUES, strict)[0])
            except InputError as err:
                assert "\n" not in str(err)


def _read_table(path: Path) -> None:
    try:
        for rid, pos, label, line in read_site_table(path):
            assert isinstance(rid, str) and isinstance(pos, int) and label in (0, 1)
            assert line >= 2
    except InputError as err:
        assert "\n" not in str(err)


# ------------------------------------------------------------------------------- random bytes
@FUZZ
@given(data=st.binary(max_size=300), gz=st.booleans())
def test_random_bytes(folder: Path, data: bytes, gz: bool) -> None:
    path = folder / ("bytes.fasta.gz" if gz else "bytes.fasta")
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    _read_all(path)
    _read_table(path)


@FUZZ
@given(head=st.sampled_from([b"\x1f\x8b", b"\x1f\x8b\x08\x00" + bytes(6)]),
       data=st.binary(min_size=1, max_size=200))
def test_gzip_magic_then_garbage(folder: Path, head: bytes, data: bytes) -> None:
    path = folder / "garbage.fasta.gz"
    path.write_bytes(head + data)  # the second head is a whole gzip header: deflate garbage
    _read_all(path)
    _read_table(path)


# -------------------------------------------------------------------------- FASTA-like text
_ID = st.text(alphabet=st.sampled_from("abcP1|_-.#é \t"), max_size=8)
_SEQ_LINE = st.text(alphabet=st.sampled_from("ACDEFGHIKLMNPQRSTVWYXBZUOkst#*-0123 \t"),
                    max_size=24)
_EXTRA_LINE = st.sampled_from(["", " ", "\t", ";comment", "\u00a0", ">", "> ", ">>x", "#", "##",
                               "#5", "\ufeff>bom", "ACGT\x00", "é"])
_LINE = st.one_of(_ID.map(lambda i: ">" + i), _ID.map(lambda i: f">{i} #{len(i)}"), _SEQ_LINE,
                  _EXTRA_LINE)


@st.composite
def fasta_like(draw) -> bytes:
    lines = draw(st.lists(_LINE, max_size=14))
    if draw(st.booleans()):
        lines.insert(0, ">" + draw(_ID))
    end = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    text = end.join(lines) + draw(st.sampled_from(["", end]))
    raw = text.encode("utf-8")
    if draw(st.booleans()):
        raw = BOM + raw
    packing = draw(st.sampled_from(["plain", "plain", "gzip", "cut"]))
    if packing != "plain":
        raw = gzip.compress(raw, mtime=0)
        if packing == "cut":
            raw = raw[: draw(st.integers(0, len(raw)))]
    return raw


@FUZZ
@given(raw=fasta_like())
def test_fasta_like_text(folder: Path, raw: bytes) -> None:
    path = folder / "text.fasta"
    path.write_bytes(raw)
    _read_all(path)


# --------------------------------------------------------------------------------- site tables
_CELL = st.one_of(st.sampled_from(["a", "b", "sp|a|X", "1", "2", "3", "0", "-1", "", " 2 ",
                                   "1.5", "x", '"', '"a,b"', "\u0663", "\u00b2", "99999999999"]),
                  st.text(alphabet=st.sampled_from('ab12,\t"\' '), max_size=5))
_HEADER = st.lists(st.sampled_from(["protein_id", "Protein", "accession", "id", "position",
                                    "site", "pos", "label", "LABEL", "other", ""]),
                   min_size=1, max_size=4)


@st.composite
def site_table(draw) -> bytes:
    delim = draw(st.sampled_from([",", "\t", ";"]))
    header = draw(_HEADER)
    rows = draw(st.lists(st.lists(_CELL, min_size=0, max_size=4), max_size=8))
    end = draw(st.sampled_from(["\n", "\r\n"]))
    text = end.join(delim.join(r) for r in [header, *rows]) + end
    raw = text.encode("utf-8")
    if draw(st.booleans()):
        raw = BOM + raw
    return raw


@FUZZ
@given(table=site_table(), gz=st.booleans())
def test_site_tables(folder: Path, table: bytes, gz: bool) -> None:
    sites = folder / "sites.csv"
    sites.write_bytes(gzip.compress(table, mtime=0) if gz else table)
    _read_table(sites)
    fasta = folder / "plain.fasta"
    fasta.write_text(">a\nMKSTKAK\n>sp|b|B_HUMAN\nSTS\n")
    _read_all(fasta, sites)
