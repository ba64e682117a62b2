"""Readers for the three site formats, on :mod:`kanbio.data.textio`.

1. ``#``-marked FASTA: a ``#`` right after each positive residue.
2. FASTA + a site table (TSV/CSV, columns ``protein_id, position`` 1-based, optional ``label``).
3. Pre-cut window FASTA: one window per record, centre = candidate residue; positives and
   negatives in separate files.

Files may be gzip-compressed; a UTF-8 byte order mark at the start is skipped. Whole-file problems
(missing path, empty, binary, corrupt gzip, no FASTA header, wrong window length) are always fatal.
Record problems are dropped and counted by reason (one validator, :func:`iter_records`), or fatal
with ``strict=True``; a record with no sequence is dropped as ``empty_sequence`` either way.
Every error is a :class:`kanbio.errors.InputError` naming file, record, line and problem.
"""

from __future__ import annotations

import csv
import io
import itertools
import os
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

from kanbio.data.alphabet import normalise
from kanbio.data.textio import iter_fasta, open_text
from kanbio.errors import InputError


@dataclass(frozen=True)
class Protein:
    """A protein with its positive sites (1-based) and, optionally, an explicit negative list."""

    id: str
    seq: str
    sites: tuple[int, ...] = ()
    negatives: tuple[int, ...] | None = None  # None: every unmarked candidate is a negative


@dataclass(frozen=True)
class Window:
    """A pre-cut window (format 3)."""

    protein_id: str
    position: int  # 1-based position of the centre in its protein, 0 if unknown
    window: str
    label: int


@dataclass
class ReadReport:
    """What a reader kept, normalised and dropped."""

    records: int = 0
    letters_normalised: Counter = field(default_factory=Counter)
    dropped: Counter = field(default_factory=Counter)
    warnings: list[str] = field(default_factory=list)

    def drop(self, err: InputError, reason: str, strict: bool, count: int = 1) -> None:
        """Record a record-level problem: raise when strict, else count it."""
        if strict:
            raise err
        self.dropped[reason] += count
        if len(self.warnings) < 20:
            self.warnings.append(str(err))

    def nothing_kept(self, paths: Iterable[str | os.PathLike]) -> InputError:
        """The error for input files of which no record was kept."""
        dropped = ", ".join(f"{k} {v}" for k, v in sorted(self.dropped.items())) or "none"
        return InputError(f"no usable record ({self.records} read, dropped: {dropped})",
                          path=", ".join(map(str, paths)))

    def merge(self, other: ReadReport) -> None:
        self.records += other.records
        self.letters_normalised.update(other.letters_normalised)
        self.dropped.update(other.dropped)
        self.warnings.extend(other.warnings[: max(0, 20 - len(self.warnings))])


# ---------------------------------------------------------------------------------------- FASTA



class Record(NamedTuple):
    """A validated FASTA record (see :func:`iter_records`)."""

    path: str
    id: str
    seq: str  # clean: upper-case letters of the alphabet
    line: int  # line of the header
    title: str  # the whole header line after '>'
    marks: tuple[int, ...]  # 1-based positions of the residues a '#' follows (marks="sites")
    mapped: Counter  # letters set to X, by letter


def _clean(seq: str, path: str, rid: str, line: int, blank_line: int | None = None
           ) -> tuple[str, Counter]:
    if blank_line is not None:
        raise InputError("whitespace inside the sequence", path, rid, blank_line)
    try:
        return normalise(seq)
    except ValueError as err:
        raise InputError(f"sequence has {err}", path=path, record=rid, line=line) from None


def iter_records(
    paths: str | os.PathLike | Iterable[str | os.PathLike],
    report: ReadReport,
    strict: bool = False,
    *,
    marks: str = "reject",
    unique: bool = True,
    padding: bool = False,
    length: int | None = None,
) -> Iterator[Record]:
    """Yield the valid records of FASTA files, dropping (and counting in ``report``) the others.

    Parameters
    ----------
    paths : FASTA file(s), plain or gzip, read in order.
    report : counts every record read (``records``) and every record dropped, by reason. The
        letters set to X are left to the caller (``report.letters_normalised.update(r.mapped)``
        for the records it keeps).
    strict : a dropped record raises its :class:`InputError` instead.
    marks : ``"sites"``: a ``#`` follows a positive residue; the positions are returned in
        ``marks`` and the ``#`` removed. ``"reject"``: a ``#`` drops the record.
    unique : drop a record whose id an earlier kept record (of any of ``paths``) has.
    padding : ``-`` is padding, read as ``X`` (pre-cut windows).
    length : the window length of pre-cut windows: a record of any other length is fatal.

    Checks, in this order (the first failure decides): NUL in the header (fatal); no sequence
    after the header (``empty_sequence``; never fatal, as nothing there can be misread);
    duplicate id (``duplicate_id``); length (fatal); ``#`` at the start or doubled, or any ``#``
    with ``marks="reject"`` (``malformed_mark`` / ``invalid_character``); whitespace, digits or
    other characters inside the sequence (``invalid_character``).
    """
    if marks not in ("sites", "reject"):
        raise ValueError(f"marks must be 'sites' or 'reject', got {marks!r}")
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    seen: set[str] = set()

    def empty(path: str, rid: str, line: int) -> None:
        report.drop(InputError("no sequence after the header", path, rid, line),
                    "empty_sequence", strict=False)

    def check_length(n: int, path: str, rid: str, line: int) -> None:
        if n != length:
            raise InputError(f"window has length {n}, expected {length} "
                             f"(half_width {length // 2})", path, rid, line)

    for path in map(str, paths):
        for rid, raw, line, blank, title in iter_fasta(path):
            report.records += 1
            if "\0" in title:
                raise InputError("NUL character in the header", path, rid, line)
            if not raw:
                empty(path, rid, line)
                continue
            if unique and rid in seen:
                report.drop(InputError("duplicate protein id", path, rid, line), "duplicate_id",
                            strict)
                continue
            if length is not None:
                check_length(len(raw), path, rid, line)
            found: tuple[int, ...] = ()
            if "#" in raw:
                if marks == "reject":
                    report.drop(InputError("unexpected '#' site mark (marks are read only from "
                                           "a '#'-marked FASTA)", path, rid, line),
                                "invalid_character", strict)
                    continue
                if raw.startswith("#") or "##" in raw:
                    where = "at the sequence start" if raw.startswith("#") else "doubled ('##')"
                    report.drop(InputError(f"site mark '#' {where}", path, rid, line),
                                "malformed_mark", strict)
                    continue
                parts = raw.split("#")
                found = tuple(itertools.accumulate(len(p) for p in parts[:-1]))
                raw = "".join(parts)
            if padding:
                raw = raw.replace("-", "X")
            try:
                seq, mapped = _clean(raw, path, rid, line, blank)
            except InputError as err:
                report.drop(err, "invalid_character", strict)
                continue
            if not seq:  # a lone '*'
                empty(path, rid, line)
                continue
            if length is not None:
                check_length(len(seq), path, rid, line)  # a final '*' was stripped
            if unique:
                seen.add(rid)
            yield Record(path, rid, seq, line, title, found, mapped)


_HEADER_SITE = re.compile(r"(?:^|\s)#(\d+)(?=\s|$)")


def read_marked_fasta(
    path: str | os.PathLike, residues: str, strict: bool = False
) -> tuple[list[Protein], ReadReport]:
    """Read a ``#``-marked FASTA (format 1): a ``#`` follows each positive residue.

    Positions written as ``#N`` tokens (1-based) in the header, as in ``>sp|P12345|<TAB>#27``, are
    sites too.
    """
    path = str(path)
    report = ReadReport()
    proteins: list[Protein] = []
    for rec in iter_records(path, report, strict, marks="sites"):
        # a '#' after the final residue and an end '*' both are fine
        ends = [*rec.marks, *(int(m) for m in _HEADER_SITE.findall(rec.title))]
        sites = _check_sites(ends, rec.seq, residues, path, rec.id, rec.line, report, strict)
        report.letters_normalised.update(rec.mapped)
        proteins.append(Protein(rec.id, rec.seq, tuple(sites)))
    return proteins, report


def _check_sites(
    positions: list[int], seq: str, residues: str, path: str, rid: str, line: int,
    report: ReadReport, strict: bool,
) -> list[int]:
    """Validate 1-based site positions; drop (or raise on) bad ones; return the good ones."""
    kept = []
    for pos in sorted(set(positions)):
        if pos < 1 or pos > len(seq):
            err = InputError(f"site position {pos} outside the sequence (length {len(seq)})",
                             path, rid, line)
            report.drop(err, "site_out_of_range", strict)
            continue
        if seq[pos - 1] not in residues:
            err = InputError(f"site at position {pos} is on '{seq[pos - 1]}', not on a target "
                             f"residue ({residues})", path, rid, line)
            report.drop(err, "site_on_non_target_residue", strict)
            continue
        kept.append(pos)
    return kept


def read_fasta(
    path: str | os.PathLike, strict: bool = False
) -> tuple[dict[str, tuple[str, int]], ReadReport]:
    """Read a plain FASTA into ``{id: (clean_sequence, header_line)}``."""
    report = ReadReport()
    out: dict[str, tuple[str, int]] = {}
    for rec in iter_records(path, report, strict):
        report.letters_normalised.update(rec.mapped)
        out[rec.id] = (rec.seq, rec.line)
    return out, report


_ACCESSION = re.compile(r"^(?:sp|tr|gi|ref|gb|emb|dbj|pdb)\|([^|]+)\|")


def _accession(rid: str) -> str:
    m = _ACCESSION.match(rid)
    return m.group(1) if m else rid


def read_site_table(path: str | os.PathLike) -> list[tuple[str, int, int, int]]:
    """Read ``protein_id, position[, label]`` rows as ``(id, position, label, line)``.

    Delimiter: tab if the header row has one, else comma. A header row is required; a UTF-8
    byte order mark before it is skipped.
    """
    path = str(path)
    with open_text(path) as handle:
        try:
            text = handle.read()
        except UnicodeDecodeError:
            raise InputError("binary or non-UTF-8 data, not a text file", path=path) from None
    delim = "\t" if "\t" in text.splitlines()[0] else ","
    rows = csv.reader(io.StringIO(text, newline=""), delimiter=delim)
    try:
        header = [h.strip().lower() for h in next(rows, [])]
        aliases = {"protein_id": ("protein_id", "protein", "accession", "id"),
                   "position": ("position", "site", "pos")}
        cols = {}
        for key, names in aliases.items():
            found = [i for i, h in enumerate(header) if h in names]
            if not found:
                raise InputError(f"site table header lacks a '{key}' column (found: {header})",
                                 path=path, line=1)
            cols[key] = found[0]
        label_col = header.index("label") if "label" in header else None
        out = []
        for row in rows:
            n = rows.line_num
            if not row or not "".join(row).strip():
                continue
            try:
                rid = row[cols["protein_id"]].strip()
                pos = int(row[cols["position"]])
                label = 1 if label_col is None else int(row[label_col])
            except (IndexError, ValueError):
                raise InputError(f"malformed site row {row!r}", path=path, line=n) from None
            if label not in (0, 1):
                raise InputError(f"label must be 0 or 1, got {label}", path=path, record=rid,
                                 line=n)
            out.append((rid, pos, label, n))
    except csv.Error as err:
        raise InputError(f"malformed site table ({err})", path=path, line=rows.line_num) from None
    return out


def read_fasta_with_sites(
    fasta: str | os.PathLike, sites: str | os.PathLike, residues: str, strict: bool = False
) -> tuple[list[Protein], ReadReport]:
    """Read format 2: FASTA + site table. Ids match exactly or by UniProt accession (``sp|ACC|..``).

    With a ``label`` column holding zeros, the negatives are exactly the rows labelled 0.
    """
    seqs, report = read_fasta(fasta, strict)
    by_acc = {}
    for rid in seqs:
        by_acc.setdefault(_accession(rid), rid)
    pos: dict[str, list[int]] = {}
    neg: dict[str, list[int]] = {}
    explicit_neg = False
    for rid, p, label, line in read_site_table(sites):
        key = rid if rid in seqs else by_acc.get(_accession(rid))
        if key is None:
            err = InputError("protein id not found in the FASTA", str(sites), rid, line)
            report.drop(err, "site_protein_not_found", strict)
            continue
        (pos if label else neg).setdefault(key, []).append(p)
        explicit_neg |= label == 0
    proteins = []
    for rid, (seq, line) in seqs.items():
        kept = _check_sites(pos.get(rid, []), seq, residues, str(fasta), rid, line, report, strict)
        negs = None
        if explicit_neg:
            negs = _check_sites(neg.get(rid, []), seq, residues, str(fasta), rid, line, report,
                                strict)
            negs = tuple(sorted(set(negs) - set(kept)))
        proteins.append(Protein(rid, seq, tuple(kept), negs))
    return proteins, report


_WINDOW_ID = re.compile(r"[0-9]+")


def read_window_fasta(
    path: str | os.PathLike, label: int, residues: str, half_width: int, strict: bool = False
) -> tuple[list[Window], ReadReport]:
    """Read pre-cut windows (format 3). ``-`` is padding (mapped to ``X``).

    Headers like ``sp|ACC|-|POS`` give protein id ``ACC`` and position ``POS``; otherwise the whole
    id is kept and the position is 0. A window of the wrong length is always fatal (it means the
    configured half_width does not fit the file); an off-centre residue is a record problem.
    """
    path = str(path)
    report = ReadReport()
    out = []
    for rec in iter_records(path, report, strict, unique=False, padding=True,
                            length=2 * half_width + 1):
        win = rec.seq
        if win[half_width] not in residues:
            err = InputError(f"window centre is '{win[half_width]}', not a target residue "
                             f"({residues})", path, rec.id, rec.line)
            report.drop(err, "centre_not_target", strict)
            continue
        fields = rec.id.split("|")
        pid, pos = rec.id, 0
        if len(fields) >= 3 and _WINDOW_ID.fullmatch(fields[-1]):
            pid, pos = (fields[1] or rec.id), int(fields[-1])
        report.letters_normalised.update(rec.mapped)
        out.append(Window(pid, pos, win, label))
    return out, report
