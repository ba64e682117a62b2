"""Per-position attributions of window classifiers, and how well they recover a known motif.

Three methods, each giving a signed (or, for ``feature``, unsigned) score per (offset, residue)
over the 20 amino acids and a non-negative score per offset (``X``, the padding / unknown letter,
is never scored as a residue):

``ism`` (in-silico mutagenesis, any model)
    ``M_n(p, a)`` = log-odds of window ``n`` with residue ``a`` put at position ``p``. Residue score
    ``R(p, a) = mean_n [M_n(p, a) - mean_b M_n(p, b)]``: the mean effect of having ``a`` at ``p``
    rather than an average amino acid. Position score ``P(p) = mean_n mean_{b != a_np}
    |M_n(p, b) - M_n|``: the mean absolute change of the log-odds on mutating ``p``. For a linear
    model ``R(p, a) = w[p, a] - mean_b w[p, b]`` exactly.
``exact`` (KAN)
    From the one-hot table ``T`` (L, 21, H) and the slopes of the output functions: with
    ``g_n = d logit / d s`` (H,) at window ``n`` (exact spline derivatives) and
    ``Tc[p, a] = T[p, a] - mean_b T[p, b]`` (b over the 20 amino acids),
    ``R(p, a) = mean_n g_n . Tc[p, a]`` and ``P(p) = mean_n |g_n . Tc[p, a_np]|``. Exact when
    the output functions are linear; otherwise their first-order expansion at each window.
``feature`` (KAN)
    pykan's feature scores (``KAN.feature_scores``): ``R(p, a)`` is the score of the one-hot input
    (p, a) (unsigned), ``P(p)`` the sum over the 21 letters of position ``p``.

KAN, MLP and the logistic baseline start with a table lookup on one-hot windows
(:func:`kanbio.models.table_form`), so ISM mutates the first-layer sums (``h + W[p, b] - W[p,
a_p]``) instead of re-reading windows; a CNN, which has no such table, and any score function go
through explicitly mutated index windows, scored ``chunk_rows`` at a time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from kanbio.data.alphabet import ALPHABET, A
from kanbio.errors import InputError
from kanbio.models import CNN, KAN, MLP, LogisticBaseline, flat_index, predict_logit, table_form
from kanbio.models.inference import AA, has_table_form, window_contributions

AMINO_ACIDS = ALPHABET[:AA]
ScoreFn = Callable[[np.ndarray], np.ndarray]  # (M, L) uint8 -> (M,) log-odds


@dataclass
class Attribution:
    """Scores of one method: ``residue`` (L, 20) per (position, amino acid), ``position`` (L,)."""

    method: str
    residue: np.ndarray
    position: np.ndarray

    def position_frame(self) -> pd.DataFrame:
        """``method, offset, score`` with offsets -h..+h."""
        h = len(self.position) // 2
        return pd.DataFrame({"method": self.method, "offset": np.arange(-h, h + 1),
                             "score": self.position})

    def residue_frame(self) -> pd.DataFrame:
        """``method, offset, residue, score`` (20 rows per offset)."""
        length = len(self.position)
        return pd.DataFrame({"method": self.method,
                             "offset": np.repeat(np.arange(length) - length // 2, AA),
                             "residue": list(AMINO_ACIDS) * length,
                             "score": self.residue.ravel()})


def _check_idx(idx: np.ndarray, length: int | None = None) -> np.ndarray:
    idx = np.asarray(idx)
    if idx.ndim != 2 or not np.issubdtype(idx.dtype, np.integer) or (
            length is not None and idx.shape[1] != length):
        raise InputError(f"index windows must be an integer array (N, {length or 'L'}), got "
                         f"{idx.dtype} {idx.shape}")
    if idx.size and (idx.min() < 0 or idx.max() >= A) or len(idx) == 0:
        raise InputError(f"index windows must be non-empty and hold indices 0..{A - 1}")
    return idx.astype(np.uint8, copy=False)


# ----------------------------------------------------------------------------------------------
# in-silico mutagenesis
# ----------------------------------------------------------------------------------------------
@torch.no_grad()
def ism(
    model: KAN | MLP | CNN | LogisticBaseline | ScoreFn,
    idx: np.ndarray,
    chunk_rows: int = 1 << 18,
) -> Attribution:
    """In-silico mutagenesis over all 20 amino acids at every position of every window.

    Parameters
    ----------
    model : a KAN, MLP or logistic baseline (table fast path), a CNN (scored with
        :func:`kanbio.models.predict_logit`) or any score function ``(M, L) uint8 -> (M,)``
        log-odds (for these two, mutated windows are built explicitly).
    idx : (N, L) index windows.
    chunk_rows : mutated windows scored per call (``N * L * 20`` in all).

    Returns
    -------
    Attribution ``ism`` (definitions in the module docstring).
    """
    idx = _check_idx(idx)
    n, length = idx.shape
    per = max(1, chunk_rows // (length * AA))  # windows per chunk
    pos, letters = np.arange(length), np.arange(AA)
    if not has_table_form(model):
        if not callable(model):
            raise InputError(f"cannot score mutated windows with a {type(model).__name__}")

        def score_fn(w: np.ndarray) -> np.ndarray:  # a network (CNN) or a score function
            return predict_logit(model, w) if isinstance(model, torch.nn.Module) else model(w)

        def mutated(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            rep = np.repeat(x[:, None, None, :], length * AA, axis=1).reshape(-1, length, AA,
                                                                             length)
            rep[:, pos[:, None], letters, pos[:, None]] = letters  # (c, L, 20, L)
            m = np.asarray(score_fn(rep.reshape(-1, length)), np.float64)
            return m.reshape(len(x), length, AA), np.asarray(score_fn(x), np.float64)
    else:
        tf = table_form(model)
        if tf.weights.shape[0] != length:
            raise InputError(f"model expects windows of length {tf.weights.shape[0]}, got "
                             f"{length}")
        w_aa = tf.weights[:, :AA]  # (L, 20, H)
        per = max(1, min(chunk_rows, (1 << 23) // w_aa.shape[2]) // (length * AA))  # <= 2^23 cells

        def mutated(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            rows = tf.weights[torch.arange(length), torch.as_tensor(x).long()]  # (c, L, H)
            h = tf.bias + rows.sum(1)  # (c, H)
            hm = (h[:, None, None] - rows[:, :, None]) + w_aa  # (c, L, 20, H)
            m = tf.head(hm.reshape(-1, h.shape[1])).reshape(len(x), length, AA)
            return m.double().numpy(), tf.head(h).double().numpy()

    res_sum, pos_sum = np.zeros((length, AA)), np.zeros(length)
    for s in range(0, n, per):
        x = idx[s : s + per]
        m, base = mutated(x)  # (c, L, 20), (c,)
        delta = m - base[:, None, None]
        is_aa = x < AA  # (c, L): the original letter is scored, its own "mutation" is 0
        rows, cols = np.nonzero(is_aa)
        delta[rows, cols, x[rows, cols]] = 0.0
        res_sum += (delta - delta.mean(-1, keepdims=True)).sum(0)
        pos_sum += (np.abs(delta).sum(-1) / (AA - is_aa)).sum(0)
    return Attribution("ism", res_sum / n, pos_sum / n)


# ----------------------------------------------------------------------------------------------
# KAN: exact (table x output slopes) and pykan feature scores
# ----------------------------------------------------------------------------------------------
def kan_exact(model: KAN, idx: np.ndarray) -> Attribution:
    """Signed attribution from the one-hot table and the output functions' slopes (see module)."""
    if not isinstance(model, KAN) or model.window_length is None:
        raise InputError("exact attribution needs a KAN built for one-hot windows")
    idx = _check_idx(idx, model.window_length)
    form = table_form(model)
    flat = flat_index(torch.as_tensor(idx), model.window_length)  # (N, L)
    with torch.no_grad():
        s = form.sums(flat)  # (N, H)
    g = form.slopes(s)[1].double()  # (N, H)
    tc = form.centred().double()  # (L, 21, H)
    residue = tc[:, :AA] @ g.mean(0)  # (L, 20)
    per_window = window_contributions(flat, tc.reshape(-1, tc.shape[2]), g)  # (N, L)
    return Attribution("exact", residue.numpy(), per_window.abs().mean(0).numpy())


def kan_feature(model: KAN, idx: np.ndarray) -> Attribution:
    """pykan feature scores per one-hot input, summed per position (unsigned); one-hot KANs
    only (an encoded KAN's inputs are residue features, not letters)."""
    if not isinstance(model, KAN) or model.window_length is None:
        raise InputError("feature scores need a KAN built for one-hot windows")
    if not model.encoding.is_onehot:
        raise InputError(f"feature scores need a one-hot KAN, not encoding "
                         f"{model.encoding.name!r}")
    idx = _check_idx(idx, model.window_length)
    f = model.feature_scores(torch.as_tensor(idx)).double().reshape(-1, A).numpy()  # (L, 21)
    return Attribution("feature", f[:, :AA], f.sum(1))
