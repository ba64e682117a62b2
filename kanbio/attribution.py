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

Networks (KAN, MLP) and the logistic baseline all start with a table lookup on one-hot windows, so
ISM mutates the first-layer sums (``h + W[p, b] - W[p, a_p]``) instead of re-reading windows, and
a KAN's later layers are evaluated from their splines written as piecewise polynomials; any other
model goes through a score function on explicitly mutated index windows.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from .alphabet import ALPHABET, A
from .errors import InputError
from .metrics import auroc
from .models import KAN, MLP, KANLayer, LogisticBaseline, positive_logit
from .models.kan import BASE_FUNS
from .models.mlp import ACTIVATIONS

AA = 20  # scored letters: the 20 amino acids (ALPHABET[:20]); X is padding / unknown
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
# models as "table + head"
# ----------------------------------------------------------------------------------------------
class PiecewiseLayer:
    """A :class:`KANLayer` evaluated from its splines rewritten as piecewise polynomials.

    On each knot interval ``[t_i, t_{i+1})`` the spline part of an edge is a polynomial of degree
    ``k`` in ``u = x - t_i``; its coefficients are solved (float64) from ``k + 1`` values inside
    the interval, and the spline is 0 outside the knots, as in the layer. Evaluation is a knot
    search plus Horner's rule, the same function as ``layer(x)`` at a fraction of the cost.
    """

    @torch.no_grad()
    def __init__(self, layer: KANLayer, dtype: torch.dtype = torch.float32) -> None:
        lay = copy.deepcopy(layer).double()
        t, k, n_in = lay.grid, lay.k, lay.in_dim  # t (in, K)
        width = t[:, 1:] - t[:, :-1]  # (in, K - 1)
        live = width > 0
        frac = torch.arange(1, k + 2, dtype=t.dtype) / (k + 2)  # (k + 1,) interior points
        u = torch.where(live, width, 1.0)[..., None] * frac  # (in, K - 1, k + 1)
        x = (t[:, :-1, None] + u).reshape(n_in, -1).T  # (M, in)
        y = torch.einsum("nib,bio->nio", lay.b_splines(x), lay.coef)  # (M, in, out)
        y = y.permute(1, 0, 2).reshape(n_in, *u.shape[1:], -1)  # (in, K - 1, k + 1, out)
        vander = u[..., None] ** torch.arange(k + 1, dtype=t.dtype)  # (in, K - 1, k + 1, k + 1)
        q = torch.linalg.solve(vander, y) * live[..., None, None]  # (in, K - 1, k + 1, out)
        zero = q.new_zeros(n_in, 1, *q.shape[2:])
        self.q = torch.cat([zero, q, zero], 1).to(dtype)  # (in, K + 1, k + 1, out)
        self.origin = torch.cat([t[:, :1], t], 1).to(dtype).contiguous()  # (in, K + 1)
        self.knots = t.to(dtype).contiguous()  # (in, K)
        sb, ss = (lay.scale_base * lay.mask), (lay.scale_sp * lay.mask)  # (in, out)
        self.sb, self.ss = sb.to(dtype), ss.to(dtype)
        self.base = BASE_FUNS[lay.base_fun]
        self.k, self.n_in = k, n_in

    def __call__(self, x: Tensor) -> Tensor:
        """(N, in) -> (N, out), equal to ``layer(x)``."""
        xt = x.T.contiguous()  # (in, N)
        j = torch.searchsorted(self.knots, xt, right=True)  # (in, N): knots <= x
        u = (xt - self.origin.gather(1, j)).unsqueeze(-1)  # (in, N, 1)
        q = self.q[torch.arange(self.n_in)[:, None], j]  # (in, N, k + 1, out)
        v = q[:, :, self.k]
        for m in range(self.k - 1, -1, -1):
            v = v * u + q[:, :, m]  # (in, N, out)
        return self.base(x) @ self.sb + (v * self.ss[:, None]).sum(0)


@dataclass
class TableForm:
    """A model as ``logit = head(bias + sum_p weights[p, a_p])``: weights (L, 21, H), bias (H,)."""

    weights: Tensor
    bias: Tensor
    head: Callable[[Tensor], Tensor]  # (M, H) -> (M,)


@torch.no_grad()
def table_form(model: KAN | MLP | LogisticBaseline) -> TableForm:
    """The first layer of a one-hot model as a table and the rest as a function."""
    if isinstance(model, LogisticBaseline):
        w = torch.as_tensor(model.coef_, dtype=torch.float64).reshape(-1, A, 1)
        return TableForm(w, torch.tensor([model.intercept_], dtype=torch.float64),
                         lambda h: h[:, 0])
    if getattr(model, "window_length", None) is None:
        raise InputError("attribution needs a model built for one-hot windows (window_length)")
    length = model.window_length
    if isinstance(model, KAN):
        t, const = model.first_layer_table()
        layers = [PiecewiseLayer(layer) for layer in model.layers[1:]]

        def kan_head(h: Tensor) -> Tensor:
            for layer in layers:
                h = layer(h)
            return positive_logit(h)

        return TableForm(t.float(), const.float(), kan_head)
    if isinstance(model, MLP):
        act = ACTIVATIONS[model.activation]
        rest = [(w.detach(), b.detach()) for w, b in zip(model.weights[1:], model.biases[1:],
                                                         strict=True)]

        def mlp_head(h: Tensor) -> Tensor:
            for w, b in rest:
                h = torch.addmm(b, act(h), w)
            return positive_logit(h)

        return TableForm(model.weights[0].detach().reshape(length, A, -1),
                         model.biases[0].detach(), mlp_head)
    raise InputError(f"no table form for {type(model).__name__}")


def score_function(model: KAN | MLP | LogisticBaseline) -> ScoreFn:
    """Log-odds of index windows through the model's table form: (M, L) -> (M,) float64."""
    tf = table_form(model)
    pos = torch.arange(tf.weights.shape[0])

    @torch.no_grad()
    def score(idx: np.ndarray) -> np.ndarray:
        x = torch.as_tensor(_check_idx(idx, len(pos))).long()
        return tf.head(tf.bias + tf.weights[pos, x].sum(1)).double().numpy()

    return score


# ----------------------------------------------------------------------------------------------
# in-silico mutagenesis
# ----------------------------------------------------------------------------------------------
@torch.no_grad()
def ism(
    model: KAN | MLP | LogisticBaseline | ScoreFn,
    idx: np.ndarray,
    chunk_rows: int = 1 << 18,
) -> Attribution:
    """In-silico mutagenesis over all 20 amino acids at every position of every window.

    Parameters
    ----------
    model : a KAN, MLP or logistic baseline (table fast path) or any score function
        ``(M, L) uint8 -> (M,)`` log-odds (mutated windows are built explicitly).
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
    if callable(model) and not isinstance(model, torch.nn.Module):
        score_fn = model

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
    t, const = model.first_layer_table()  # (L, 21, H), (H,)
    pos = torch.arange(t.shape[0])
    x = torch.as_tensor(idx).long()
    with torch.no_grad():
        s = const + t[pos, x].sum(1)  # (N, H)
    with torch.enable_grad():
        s.requires_grad_(True)
        h = s
        for layer in model.layers[1:]:
            h = layer(h)
        (g,) = torch.autograd.grad(positive_logit(h).sum(), s)  # (N, H)
    tc = (t - t[:, :AA].mean(1, keepdim=True)).double()  # (L, 21, H)
    g = g.double()
    residue = tc[:, :AA] @ g.mean(0)  # (L, 20)
    per_window = torch.einsum("nlh,nh->nl", tc[pos, x], g)  # (N, L)
    return Attribution("exact", residue.numpy(), per_window.abs().mean(0).numpy())


def kan_feature(model: KAN, idx: np.ndarray) -> Attribution:
    """pykan feature scores per one-hot input, summed per position (unsigned)."""
    if not isinstance(model, KAN) or model.window_length is None:
        raise InputError("feature scores need a KAN built for one-hot windows")
    idx = _check_idx(idx, model.window_length)
    f = model.feature_scores(torch.as_tensor(idx)).double().reshape(-1, A).numpy()  # (L, 21)
    return Attribution("feature", f[:, :AA], f.sum(1))


# ----------------------------------------------------------------------------------------------
# motif recovery
# ----------------------------------------------------------------------------------------------
def read_truth(path: str | os.PathLike) -> list[tuple[int, str, str]]:
    """Planted positions from a truth table (``offset, residues, role``, tab-separated)."""
    try:
        table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise InputError("truth table not found", path=str(path)) from None
    missing = {"offset", "residues", "role"} - set(table.columns)
    if missing:
        raise InputError(f"truth table lacks columns {sorted(missing)}", path=str(path))
    out = []
    for i, row in enumerate(table.itertuples(index=False), start=2):
        try:
            out.append((int(row.offset), row.residues.strip().upper(), row.role.strip()))
        except ValueError:
            raise InputError(f"offset {row.offset!r} is not an integer", path=str(path),
                             line=i) from None
    if not out:
        raise InputError("truth table lists no planted position", path=str(path))
    return out


def motif_recovery(position: np.ndarray, planted: Sequence[int]) -> dict:
    """How well a position ranking recovers planted offsets.

    Offset 0 (the candidate residue itself) is left out of the ranking and of the planted set
    unless it is the only planted offset.

    Parameters
    ----------
    position : (L,) position scores, offsets -h..+h.
    planted : planted offsets.

    Returns
    -------
    dict: ``k`` (planted offsets ranked), ``precision_at_k`` (share of them among the top k),
    ``ranking_auroc`` (planted vs other offsets; NaN if nothing else is ranked), ``top``
    (the best ``max(k, 5)`` offsets, best first), ``planted``.
    """
    position = np.asarray(position, np.float64)
    h = len(position) // 2
    offsets = np.arange(-h, h + 1)
    planted = sorted({int(o) for o in planted})
    if not planted or any(abs(o) > h for o in planted):
        raise InputError(f"planted offsets {planted} must be non-empty and within -{h}..+{h}")
    keep = offsets != 0 if planted != [0] else np.ones(len(offsets), bool)
    targets = [o for o in planted if o != 0] or [0]
    order = np.argsort(-position[keep], kind="stable")
    ranked = offsets[keep][order]
    k = len(targets)
    hit = np.isin(offsets[keep], targets)
    return {
        "k": k,
        "planted": targets,
        "precision_at_k": float(np.isin(ranked[:k], targets).mean()),
        "ranking_auroc": auroc(hit.astype(int), position[keep]) if not hit.all() else np.nan,
        "top": ranked[: max(k, 5)].tolist(),
    }


def check_known_motif(residue: np.ndarray, motifs: Sequence[dict], z: float = 3.0) -> list[dict]:
    """Check expected residue effects against a signed residue attribution.

    A motif ``{offset, residues, effect}`` is *found* when the mean score of its residues at that
    offset lies at least ``z`` robust standard deviations (1.4826 x median absolute deviation of
    all scores off the centre) above zero for ``enriched``, below zero for ``depleted``.

    Parameters
    ----------
    residue : (L, 20) signed scores per offset and amino acid.
    motifs : e.g. ``[{"offset": 1, "residues": "P", "effect": "depleted"}]``.

    Returns
    -------
    one dict per motif: the motif plus ``score``, ``z`` and ``found``.
    """
    residue = np.asarray(residue, np.float64)
    length = residue.shape[0]
    h = length // 2
    off_centre = np.delete(residue, h, axis=0) if length > 1 else residue
    mad = np.median(np.abs(off_centre - np.median(off_centre)))
    sigma = max(1.4826 * mad, 1e-9 * float(np.abs(residue).max()), 1e-300)
    out = []
    for i, m in enumerate(motifs):
        offset, letters, effect = validate_motif(m, h, i)
        score = float(residue[h + offset, [AMINO_ACIDS.index(c) for c in letters]].mean())
        zval = score / sigma
        found = zval >= z if effect == "enriched" else zval <= -z
        out.append({"offset": offset, "residues": letters, "effect": effect, "score": score,
                    "z": zval, "found": bool(found)})
    return out


def validate_motif(m: dict, h: int, i: int = 0) -> tuple[int, str, str]:
    """Check one known-motif entry (``i``: its place in the list) against half width ``h``;
    return ``(offset, residues, effect)``."""
    record = f"known_motif[{i}]"
    if not isinstance(m, dict) or not {"offset", "residues", "effect"} <= set(m):
        raise InputError("needs offset, residues and effect", record=record)
    try:
        offset = int(m["offset"])
    except (TypeError, ValueError):
        raise InputError(f"offset {m['offset']!r} is not an integer", record=record) from None
    letters = str(m["residues"]).upper()
    if abs(offset) > h:
        raise InputError(f"offset {offset} lies outside the window (-{h}..+{h})", record=record)
    if not letters or any(c not in AMINO_ACIDS for c in letters):
        raise InputError(f"residues {m['residues']!r} must be amino-acid letters", record=record)
    if m["effect"] not in ("enriched", "depleted"):
        raise InputError(f"effect {m['effect']!r} must be 'enriched' or 'depleted'",
                         record=record)
    return offset, letters, m["effect"]
