"""Opening text inputs and iterating FASTA records: plain or gzip (corrupt streams are one-line
errors), a UTF-8 byte order mark skipped, line numbers kept for every record."""

from __future__ import annotations

import gzip
import io
import os
import re
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from Bio.SeqIO.FastaIO import SimpleFastaParser

from kanbio.errors import InputError, one_line

_SAMPLE = 65536  # bytes read up front to reject empty, binary and non-UTF-8 files
_BOM = b"\xef\xbb\xbf"  # UTF-8 byte order mark (Excel writes one): skipped, not an error


class _GzipChecked(io.RawIOBase):
    """A gzip stream whose decompression errors become :class:`InputError` naming the file."""

    def __init__(self, raw: gzip.GzipFile, path: str) -> None:
        super().__init__()
        self._raw, self._path = raw, path

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, pos: int, whence: int = io.SEEK_SET) -> int:
        return self._raw.seek(pos, whence)

    def readinto(self, buffer) -> int:
        try:
            data = self._raw.read(len(buffer))
        except (OSError, EOFError, zlib.error) as err:
            raise InputError(f"corrupt gzip data ({one_line(err)})", path=self._path) from None
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._raw.close()
        super().close()


_STREAMS: dict[str, bytes] = {}  # standard input and pipes, read once per process


def _is_stream(path: str) -> bool:
    """``-`` (standard input), or a path that exists but is neither file nor folder (a pipe)."""
    p = Path(path)
    return path == "-" or (p.exists() and not p.is_file() and not p.is_dir())


def _stream(path: str) -> bytes:
    """The whole content of standard input or a pipe.

    A pipe can be read only once, and its first bytes are needed before the parser sees them
    (gzip and binary checks), so it is read into memory on first use and replayed after that.
    """
    if path not in _STREAMS:
        try:
            if path == "-":
                _STREAMS[path] = sys.stdin.buffer.read()
            else:
                with open(path, "rb") as fh:
                    _STREAMS[path] = fh.read()
        except OSError as err:
            raise InputError(f"cannot read the stream ({err.strerror or one_line(err)})",
                             path=path) from None
    return _STREAMS[path]


def open_text(path: str | os.PathLike) -> io.TextIOBase:
    """Open a text file, gzip-compressed or not, rejecting missing, empty and binary files.

    ``-`` is standard input; it and pipes (``<(zcat x.gz)``) are read into memory once. A UTF-8
    byte order mark at the start is skipped. Reading a corrupt gzip stream raises
    :class:`InputError`; a decoding error past the first 64 KiB raises UnicodeDecodeError.
    """
    p = Path(path)
    data = _stream(str(path)) if _is_stream(str(path)) else None
    if data is None:
        if not p.exists():
            raise InputError("file not found", path=str(p))
        if p.is_dir():
            raise InputError("is a directory, expected a file", path=str(p))
        try:
            with open(p, "rb") as fh:
                head = fh.read(2)
        except OSError as err:
            raise InputError(f"cannot read the file ({err.strerror or one_line(err)})",
                             path=str(p)) from None
    else:
        head = data[:2]
    raw: io.RawIOBase | io.BufferedIOBase
    if head == b"\x1f\x8b":
        gz = gzip.open(p, "rb") if data is None else gzip.GzipFile(fileobj=io.BytesIO(data))
        raw = io.BufferedReader(_GzipChecked(gz, str(path)), 1 << 20)
    else:
        raw = open(p, "rb") if data is None else io.BytesIO(data)
    try:
        sample = raw.read(_SAMPLE)
        raw.seek(0)
    except InputError:
        raw.close()
        raise
    whole = len(sample) < _SAMPLE  # the sample is the whole file
    sample = sample.removeprefix(_BOM)
    if not sample.strip():
        raw.close()
        raise InputError("empty file", path=str(p))
    if b"\x00" in sample:
        raw.close()
        raise InputError("binary data, not a text file", path=str(p))
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as err:
        # in a partial sample, the last bytes may be a multi-byte character cut by its end
        if whole or err.start < len(sample) - 4:
            raw.close()
            raise InputError("binary or non-UTF-8 data, not a text file", path=str(p)) from None
    return io.TextIOWrapper(raw, encoding="utf-8-sig", errors="strict", newline=None)


_BLANK = re.compile(r"[ \t\v\f]")


class _LineCounter:
    """Wrap a text handle: remember each header's line and the first inner blank per record.

    Bio.SeqIO silently deletes spaces inside sequence lines; a space there is a data error, so
    it is noted here before the parser sees the line.
    """

    def __init__(self, handle: io.TextIOBase) -> None:
        self.handle = handle
        self.line = 0
        self.headers: list[int] = []
        self.blank_in: dict[int, int] = {}  # record index -> line of its first inner blank

    def __iter__(self) -> Iterator[str]:
        for line in self.handle:
            self.line += 1
            if line.startswith(">"):
                self.headers.append(self.line)
            elif self.headers and len(self.headers) - 1 not in self.blank_in:
                if _BLANK.search(line.strip()):
                    self.blank_in[len(self.headers) - 1] = self.line
            yield line


class FastaRecord(NamedTuple):
    id: str
    seq: str  # raw: letters as in the file, line breaks removed
    line: int  # line of the header
    blank_line: int | None  # line of the first whitespace inside a sequence line, if any
    title: str  # the whole header line after '>'


def iter_fasta(path: str | os.PathLike) -> Iterator[FastaRecord]:
    """Yield the raw records of a FASTA file (gzip or plain) with their line numbers.

    Whole-file problems raise :class:`InputError`; the records are not validated (see
    :func:`iter_records`).
    """
    with open_text(path) as handle:
        try:
            first = next((line for line in handle if line.strip()), None)
        except UnicodeDecodeError:
            raise InputError("binary or non-UTF-8 data, not a text file", path=str(path)) from None
        if first is None:
            raise InputError("empty file", path=str(path))
        if not first.startswith(">"):
            raise InputError("no FASTA header: first non-blank line does not start with '>'",
                             path=str(path), line=1)
        handle.seek(0)
        counter = _LineCounter(handle)
        try:
            for i, (title, seq) in enumerate(SimpleFastaParser(counter)):
                rid = title.split(None, 1)[0] if title.strip() else ""
                if not rid:
                    raise InputError("empty FASTA header", path=str(path), line=counter.headers[i])
                yield FastaRecord(rid, seq, counter.headers[i], counter.blank_in.get(i), title)
        except UnicodeDecodeError:
            raise InputError("binary or non-UTF-8 data", path=str(path),
                             line=counter.line) from None
