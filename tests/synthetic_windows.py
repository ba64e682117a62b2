"""Index windows cut straight from a synthetic proteome (no files): for library-level tests."""

from __future__ import annotations

import numpy as np

from kanbio.data.alphabet import ALPHABET
from kanbio.data.synthetic import generate


def synthetic_windows(task: str, n_proteins: int, seed: int, half: int = 4
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Windows (N, 2 half + 1) uint8 around every candidate residue and their labels (N,)."""
    data = generate(task, n_proteins, seed=seed)
    lut = {c: i for i, c in enumerate(ALPHABET)}
    xs, ys = [], []
    for _, seq, pos in data.proteins:
        padded = "X" * half + seq + "X" * half
        positives = set(pos)
        for i, c in enumerate(seq):
            if c in data.residues:
                xs.append([lut[a] for a in padded[i : i + 2 * half + 1]])
                ys.append(int(i + 1 in positives))
    return np.array(xs, np.uint8), np.array(ys)
