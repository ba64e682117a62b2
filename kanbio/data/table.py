"""The windows table: the contract between stages.

One row per candidate residue with ``protein_id, position`` (1-based), ``residue``, ``window``
(X-padded letters), ``label`` (1/0) and ``split`` (train/val/test); TSV, gzip allowed.
"""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from kanbio.data.alphabet import ALPHABET
from kanbio.data.encode import windows_to_indices
from kanbio.errors import InputError, one_line
from kanbio.output import read_table

WINDOW_COLUMNS = ["protein_id", "position", "residue", "window", "label"]
COLUMNS = [*WINDOW_COLUMNS, "split"]
SPLITS = ("train", "val", "test")


def read_windows(path: str | os.PathLike) -> pd.DataFrame:
    """Read a windows table, checking its columns."""
    if not Path(path).exists():
        raise InputError("windows table not found", path=str(path))
    try:
        table = read_table(path)
    except pd.errors.EmptyDataError:
        raise InputError("empty windows table", path=str(path)) from None
    except (OSError, EOFError, zlib.error, UnicodeDecodeError, pd.errors.ParserError) as err:
        raise InputError(f"unreadable windows table ({one_line(err)})", path=str(path)) from None
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise InputError(f"windows table lacks columns {missing}", path=str(path))
    table["protein_id"] = table["protein_id"].astype(str)
    _check_values(table, path)
    table["label"] = table["label"].astype(np.int64)
    return table


def _whole(values: pd.Series) -> pd.Series:
    """True where a value is a whole number (as text or as a number)."""
    num = pd.to_numeric(values, errors="coerce")
    return num.notna() & (num % 1 == 0)


def _check_values(table: pd.DataFrame, path: str | os.PathLike) -> None:
    """Labels are 0 or 1, splits one of train/val/test, positions whole numbers: the first row
    that is not is an InputError naming its line."""
    checks = (
        ("label", lambda v: v.astype(str).isin(["0", "1", "0.0", "1.0"]), "label must be 0 or 1"),
        ("split", lambda v: v.isin(SPLITS), f"split must be one of {', '.join(SPLITS)}"),
        ("position", _whole, "position must be a whole number"),
    )
    for column, ok, problem in checks:
        bad = ~ok(table[column]).to_numpy(bool)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise InputError(f"{problem}, got {str(table[column].iloc[row])!r}", path=str(path),
                             line=int(table.index[row]) + 2)


@dataclass
class Encoded:
    """A windows table with its index windows (N, L) uint8 and labels (N,) int64."""

    table: pd.DataFrame
    idx: np.ndarray
    y: np.ndarray

    def mask(self, split: str) -> np.ndarray:
        """Boolean (N,) rows of one split."""
        return (self.table.split == split).to_numpy()


def encode_windows(table: pd.DataFrame, path: str | os.PathLike) -> np.ndarray:
    """The ``window`` column as uint8 indices (N, L); an empty window, one of another length or one
    with a character other than a letter is an InputError naming the file and line."""
    windows = table.window.tolist()
    try:
        if all(isinstance(w, str) for w in windows):
            return windows_to_indices(windows)
    except ValueError:
        pass
    length = len(windows[0]) if isinstance(windows[0], str) else 0
    for row, w in zip(table.index, windows, strict=True):  # locate the first bad window
        if not isinstance(w, str) or not w:
            problem = "empty window"
        elif len(w) != length:
            problem = f"window {w!r} has length {len(w)}, the first window {length}"
        elif not all(c.isascii() and c.isalpha() for c in w):  # as windows_to_indices reads it
            problem = f"window {w!r} has characters other than letters of {ALPHABET}"
        else:
            continue
        raise InputError(problem, path=str(path), line=int(row) + 2)
    raise InputError("malformed windows", path=str(path))  # not reached


def read_encoded(path: str | os.PathLike, splits: tuple[str, ...] = SPLITS) -> Encoded:
    """:func:`read_windows` restricted to ``splits``, encoded (:func:`encode_windows`)."""
    table = read_windows(path)
    if tuple(splits) != SPLITS:
        table = table[table.split.isin(splits)]
    return Encoded(table, encode_windows(table, path), table.label.to_numpy(np.int64))
