"""The 21-letter alphabet (20 amino acids + ``X``) and letter normalisation.

Letters are upper-cased; ``B Z J U O`` (and any other ASCII letter outside the alphabet) map to
``X`` and are counted; a single ``*`` at the very end is stripped; anything else (digits, spaces,
punctuation, non-ASCII) is an error.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

ALPHABET = "ARNDCQEGHILKMFPSTWYVX"
A = len(ALPHABET)  # 21
PAD = "X"
PAD_INDEX = ALPHABET.index(PAD)
INVALID = 255

# byte -> alphabet index (INVALID for bytes that are not letters); lower case accepted.
LUT = np.full(256, INVALID, dtype=np.uint8)
for _b in range(256):
    _c = chr(_b)
    if _c.isascii() and _c.isalpha():
        LUT[_b] = ALPHABET.index(_c.upper()) if _c.upper() in ALPHABET else PAD_INDEX
LETTERS = np.frombuffer(ALPHABET.encode(), dtype=np.uint8)  # index -> byte

# bytes that are letters but not in the alphabet (they become X and are counted)
_MAPPED = np.zeros(256, dtype=bool)
for _b in range(256):
    _c = chr(_b)
    _MAPPED[_b] = _c.isascii() and _c.isalpha() and _c.upper() not in ALPHABET


def normalise(seq: str) -> tuple[str, Counter]:
    """Return ``(clean, mapped)``: upper-case letters over ALPHABET, and counts of letters set to X.

    Raises ValueError naming the first offending character and its 1-based position.
    """
    if seq.endswith("*"):
        seq = seq[:-1]
    try:
        raw = np.frombuffer(seq.encode("ascii"), dtype=np.uint8)
    except UnicodeEncodeError:
        bad = next(i for i, c in enumerate(seq) if not c.isascii())
        raise ValueError(f"non-ASCII character {seq[bad]!r} at position {bad + 1}") from None
    idx = LUT[raw]
    bad = np.flatnonzero(idx == INVALID)
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"invalid character {seq[i]!r} at position {i + 1}")
    mapped_mask = _MAPPED[raw]
    mapped = Counter()
    if mapped_mask.any():
        mapped = Counter(seq[i].upper() for i in np.flatnonzero(mapped_mask))
    return LETTERS[idx].tobytes().decode("ascii"), mapped


def to_letters(idx: np.ndarray) -> str:
    """Decode uint8 indices back to a string."""
    return LETTERS[np.asarray(idx, dtype=np.uint8)].tobytes().decode("ascii")
