"""Residue encodings: every letter of the alphabet as a vector ``e(a)`` that models read instead
of (or as) its one-hot column.

* ``onehot`` — the 21 unit vectors (X, i.e. unknown letters and padding, has its own column).
* ``blosum62`` — letter ``a`` as its row of the BLOSUM62 substitution matrix over the 20 amino
  acids (Henikoff & Henikoff 1992, PNAS 89:10915; NCBI's matrix as Biopython ships it).
* ``physchem`` — six AAindex scales (Kawashima et al. 2008, NAR 36:D202), one feature each:

  ========== ============= ========================================================
  feature    accession     source
  ========== ============= ========================================================
  hydropathy KYTJ820101    Kyte & Doolittle 1982, J Mol Biol 157:105
  volume     GRAR740103    Grantham 1974, Science 185:862 (side-chain volume)
  charge     KLEP840101    Klein et al. 1984, Biochim Biophys Acta 787:221 (net charge)
  polarity   GRAR740102    Grantham 1974, Science 185:862
  helix      CHOP780201    Chou & Fasman 1978, Adv Enzymol 47:45 (alpha-helix frequency)
  sheet      CHOP780202    Chou & Fasman 1978, Adv Enzymol 47:45 (beta-sheet frequency)
  ========== ============= ========================================================

Scaling (blosum62, physchem): every feature is centred on its mean over the 20 amino acids and
divided by its largest absolute deviation, so that it spans at most [-1, 1] (the default KAN grid)
and reads in its natural direction (charge: K, R +1; D, E -1). X, which stands for an unknown
residue or padding, is the average residue: 0 in every feature.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from .alphabet import ALPHABET, A

AMINO_ACIDS = ALPHABET[:20]
ENCODINGS = ("onehot", "blosum62", "physchem")


@dataclass(frozen=True)
class Scale:
    """One AAindex scale: its feature name, accession, title and the published values."""

    name: str
    accession: str
    title: str
    values: dict[str, float]


def _scale(name: str, accession: str, title: str, numbers: str) -> Scale:
    vals = [float(v) for v in numbers.split()]
    return Scale(name, accession, title, dict(zip(AMINO_ACIDS, vals, strict=True)))


#: The physchem scales, values in AAindex order A R N D C Q E G H I L K M F P S T W Y V.
SCALES: tuple[Scale, ...] = (
    _scale("hydropathy", "KYTJ820101", "Hydropathy index (Kyte-Doolittle, 1982)",
           "1.8 -4.5 -3.5 -3.5 2.5 -3.5 -3.5 -0.4 -3.2 4.5 3.8 -3.9 1.9 2.8 -1.6 -0.8 -0.7 "
           "-0.9 -1.3 4.2"),
    _scale("volume", "GRAR740103", "Volume (Grantham, 1974)",
           "31 124 56 54 55 85 83 3 96 111 111 119 105 132 32.5 32 61 170 136 84"),
    _scale("charge", "KLEP840101", "Net charge (Klein et al., 1984)",
           "0 1 0 -1 0 0 -1 0 0 0 0 1 0 0 0 0 0 0 0 0"),
    _scale("polarity", "GRAR740102", "Polarity (Grantham, 1974)",
           "8.1 10.5 11.6 13.0 5.5 10.5 12.3 9.0 10.4 5.2 4.9 11.3 5.7 5.2 8.0 9.2 8.6 5.4 "
           "6.2 5.9"),
    _scale("helix", "CHOP780201", "Normalized frequency of alpha-helix (Chou-Fasman, 1978b)",
           "1.42 0.98 0.67 1.01 0.70 1.11 1.51 0.57 1.00 1.08 1.21 1.16 1.45 1.13 0.57 0.77 "
           "0.83 1.08 0.69 1.06"),
    _scale("sheet", "CHOP780202", "Normalized frequency of beta-sheet (Chou-Fasman, 1978b)",
           "0.83 0.93 0.89 0.54 1.19 1.10 0.37 0.75 0.87 1.60 1.30 0.74 1.05 1.38 0.55 0.75 "
           "1.19 1.37 1.47 1.70"),
)


def blosum62_scores() -> np.ndarray:
    """The raw BLOSUM62 scores (20, 20) over the 20 amino acids (Biopython's NCBI matrix)."""
    from Bio.Align import substitution_matrices  # imported on use: keeps `import kanbio` light

    m = substitution_matrices.load("BLOSUM62")
    return np.array([[m[a][b] for b in AMINO_ACIDS] for a in AMINO_ACIDS], dtype=np.float64)


def _scaled(raw: np.ndarray) -> np.ndarray:
    """(20, d) raw features -> (21, d): centred on the amino-acid mean, max |value| 1, X = 0."""
    centred = raw - raw.mean(0, keepdims=True)
    scale = np.abs(centred).max(0, keepdims=True)
    out = np.zeros((A, raw.shape[1]))
    out[:20] = centred / np.where(scale > 0, scale, 1.0)
    return out


@cache
def _matrix(name: str) -> np.ndarray:
    if name == "onehot":
        return np.eye(A)
    if name == "blosum62":
        return _scaled(blosum62_scores())
    if name == "physchem":
        raw = np.array([[s.values[a] for s in SCALES] for a in AMINO_ACIDS])
        return _scaled(raw)
    raise ValueError(f"unknown encoding {name!r} (expected one of {', '.join(ENCODINGS)})")


def encoding_matrix(name: str) -> np.ndarray:
    """The encoding ``E`` (21, d) float64: row ``a`` is ``e(a)`` for alphabet letter ``a``.

    Examples
    --------
    >>> encoding_matrix("physchem").shape
    (21, 6)
    >>> float(encoding_matrix("physchem")[ALPHABET.index("K"), 2])  # charge of lysine
    1.0
    """
    return _matrix(name).copy()


def feature_names(name: str) -> list[str]:
    """Names of the ``d`` features of an encoding (letters for onehot and blosum62 columns)."""
    if name == "onehot":
        return list(ALPHABET)
    if name == "blosum62":
        return [f"B62[{a}]" for a in AMINO_ACIDS]
    if name == "physchem":
        return [s.name for s in SCALES]
    raise ValueError(f"unknown encoding {name!r} (expected one of {', '.join(ENCODINGS)})")
