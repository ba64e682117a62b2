"""Vectorised window extraction: every candidate residue -> a window of 2h+1 letters, X-padded.

All proteins are laid end to end in one uint8 buffer, separated by ``h`` pad letters, so every
window is a row of ``sliding_window_view(buffer, L)``; candidates are found with one vectorised
membership test. No Python loop runs per residue.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from kanbio.data.alphabet import ALPHABET, LETTERS, LUT, PAD_INDEX
from kanbio.data.encode import indices_to_windows
from kanbio.data.fasta import Protein
from kanbio.data.table import WINDOW_COLUMNS


@dataclass
class Windows:
    """Candidate windows: ids and 1-based positions, uint8 windows (N, L) and labels (N,)."""

    protein_id: np.ndarray  # (N,) object
    position: np.ndarray  # (N,) int64, 1-based
    windows: np.ndarray  # (N, L) uint8 alphabet indices
    label: np.ndarray  # (N,) int8

    @property
    def half_width(self) -> int:
        return self.windows.shape[1] // 2

    def to_frame(self) -> pd.DataFrame:
        """The windows table (``protein_id, position, residue, window, label``)."""
        h = self.half_width
        return pd.DataFrame({
            "protein_id": self.protein_id,
            "position": self.position,
            "residue": LETTERS[self.windows[:, h]].view("S1").astype(str),
            "window": indices_to_windows(self.windows),
            "label": self.label.astype(np.int64),
        }, columns=WINDOW_COLUMNS)


def residue_codes(residues: str) -> np.ndarray:
    """Alphabet indices of the candidate residues (letters of ALPHABET other than X)."""
    residues = residues.upper()
    bad = [c for c in residues if c not in ALPHABET or c == "X"]
    if not residues or bad:
        raise ValueError(f"residues must be amino-acid letters, got {residues!r}")
    return np.unique(LUT[np.frombuffer(residues.encode(), np.uint8)])


def layout(seqs: Sequence[np.ndarray] | Sequence[str], half_width: int) -> tuple[np.ndarray,
                                                                               np.ndarray]:
    """Concatenate sequences with ``half_width`` pad letters before, between and after them.

    Returns ``(buffer (T,) uint8, starts (P,) int64)``: protein ``i`` occupies
    ``buffer[starts[i] : starts[i] + len(seq_i)]``.
    """
    h = half_width
    if seqs and isinstance(seqs[0], str):
        sep = b"X" * h
        joined = sep.join([b"", *(s.encode("ascii") for s in seqs), b""])
        buf = LUT[np.frombuffer(joined, np.uint8)]
        del joined
        lengths = np.fromiter((len(s) for s in seqs), np.int64, len(seqs))
    else:
        lengths = np.fromiter((len(s) for s in seqs), np.int64, len(seqs))
        buf = np.full(int(lengths.sum()) + h * (len(seqs) + 1), PAD_INDEX, np.uint8)
        offs = h + np.concatenate([[0], np.cumsum(lengths + h)[:-1]])
        for s, o in zip(seqs, offs, strict=True):  # one copy per protein, not per residue
            buf[o : o + len(s)] = s
    starts = h + np.concatenate([[0], np.cumsum(lengths + h)[:-1]]).astype(np.int64)
    return buf, starts


def extract_indices(
    buf: np.ndarray, starts: np.ndarray, residues: str, half_width: int
) -> tuple[np.ndarray, np.ndarray]:
    """Find candidates in a laid-out buffer; return ``(centres (N,) int64, windows (N, L) uint8)``.

    ``buf`` must carry at least ``half_width`` pad letters before the first and after the last
    protein (as :func:`layout` makes it).
    """
    h = half_width
    centres = np.flatnonzero(np.isin(buf, residue_codes(residues)))
    if buf.size < 2 * h + 1:  # nothing but padding (empty sequences): no candidate
        return centres, np.zeros((0, 2 * h + 1), np.uint8)
    view = sliding_window_view(buf, 2 * h + 1)  # (T-2h, L), no copy
    return centres, view[centres - h]


def extract(proteins: Sequence[Protein], residues: str, half_width: int = 16) -> Windows:
    """Cut a window around every candidate residue of every protein; label marked sites 1."""
    if half_width < 0:
        raise ValueError("half_width must be >= 0")
    if not proteins:
        return Windows(np.array([], object), np.array([], np.int64),
                       np.zeros((0, 2 * half_width + 1), np.uint8), np.array([], np.int8))
    buf, starts = layout([p.seq for p in proteins], half_width)
    centres, wins = extract_indices(buf, starts, residues, half_width)
    owner = np.searchsorted(starts, centres, side="right") - 1  # (N,) protein index
    position = centres - starts[owner] + 1
    label = np.zeros(buf.size, np.int8)
    keep = np.ones(buf.size, bool)
    for i, p in enumerate(proteins):
        if p.sites:
            label[starts[i] + np.asarray(p.sites) - 1] = 1
        if p.negatives is not None:  # explicit negatives: only listed or positive candidates kept
            lo, hi = starts[i], starts[i] + len(p.seq)
            keep[lo:hi] = False
            keep[starts[i] + np.asarray(p.sites + p.negatives, np.int64) - 1] = True
    sel = keep[centres]
    ids = np.array([p.id for p in proteins], dtype=object)
    return Windows(ids[owner[sel]], position[sel], np.ascontiguousarray(wins[sel]),
                   label[centres[sel]])
