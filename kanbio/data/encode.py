"""Window encodings: uint8 index arrays (N, L), one-hot float32 (N, L*21), and an ``.npz`` cache.

Index encoding is the storage format (L bytes per window); one-hot exists only transiently, e.g.
inside a model's dense path or for scikit-learn.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from kanbio.data.alphabet import INVALID, LETTERS, LUT, A


def windows_to_indices(windows: Sequence[str]) -> np.ndarray:
    """Encode equal-length window strings over ALPHABET as a uint8 array (N, L)."""
    n = len(windows)
    if n == 0:
        return np.zeros((0, 0), dtype=np.uint8)
    length = len(windows[0])
    raw = np.frombuffer("".join(windows).encode("ascii"), dtype=np.uint8)
    if raw.size != n * length:
        raise ValueError("windows differ in length")
    idx = LUT[raw].reshape(n, length)
    if (idx == INVALID).any():
        raise ValueError("windows contain characters outside the alphabet")
    return idx


def indices_to_windows(idx: np.ndarray) -> list[str]:
    """Decode a uint8 array (N, L) into window strings (exact inverse of windows_to_indices)."""
    idx = np.asarray(idx, dtype=np.uint8)
    n, length = idx.shape
    flat = LETTERS[idx].tobytes().decode("ascii")
    return [flat[i * length : (i + 1) * length] for i in range(n)]


def one_hot(idx: np.ndarray, dtype: type = np.float32) -> np.ndarray:
    """One-hot encode (N, L) indices as (N, L*21); column ``p*21 + a`` is letter ``a`` at ``p``."""
    idx = np.asarray(idx)
    n, length = idx.shape
    out = np.zeros((n, length * A), dtype=dtype)
    cols = np.arange(length) * A + idx  # (N, L)
    np.put_along_axis(out, cols.astype(np.intp), 1, axis=1)
    return out
