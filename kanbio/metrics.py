"""Binary classification metrics, threshold choice and bootstrap confidence intervals.

Scores are any monotone score (log-odds or probability); a sample is predicted positive when
``score >= threshold``. Ranking metrics (AUROC, AUPRC) are computed from per-tie-group counts of
positives and negatives, which makes them exact under ties (AUROC = Mann-Whitney U with ties
counted one half; AUPRC = average precision as in scikit-learn) and lets a whole batch of
bootstrap resamples be evaluated as one array operation.

Degenerate inputs never raise: a metric that is undefined is NaN (e.g. Sn without positives,
AUROC with one class) and MCC is 0 when the predictions are constant.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import numpy as np

from kanbio.config import BOOTSTRAP
from kanbio.errors import InputError

THRESHOLD_METRICS = ("acc", "bacc", "sn", "sp", "mcc", "f1")
METRICS = (*THRESHOLD_METRICS, "auroc", "auprc")
_CHUNK_CELLS = 2_000_000  # bootstrap resamples are processed in blocks of about this many cells


def _check(y, score) -> tuple[np.ndarray, np.ndarray]:
    """Validate labels (0/1) and finite scores of equal length; return (bool, float64) arrays."""
    y, score = np.asarray(y), np.asarray(score, dtype=np.float64)
    if y.ndim != 1 or score.ndim != 1 or len(y) != len(score):
        raise InputError(f"labels {y.shape} and scores {score.shape} must be 1-D of equal length")
    if len(y) == 0:
        raise InputError("no samples to evaluate")
    if not np.isin(y, (0, 1)).all():
        raise InputError("labels must be 0/1")
    if not np.isfinite(score).all():
        raise InputError(f"{int((~np.isfinite(score)).sum())} scores are NaN or infinite")
    return y.astype(bool), score


def _confusion_metrics(tp, fp, tn, fn) -> dict[str, np.ndarray]:
    """Threshold metrics from confusion counts (arrays broadcast; float64 results)."""
    tp, fp, tn, fn = (np.asarray(a, dtype=np.float64) for a in (tp, fp, tn, fn))
    p, q = tp + fn, tn + fp
    with np.errstate(divide="ignore", invalid="ignore"):
        sn, sp = tp / p, tn / q
        den = np.sqrt((tp + fp) * p * q * (tn + fn))
        mcc = np.where(den > 0, (tp * tn - fp * fn) / den, np.where(p * q > 0, 0.0, np.nan))
        return {
            "acc": (tp + tn) / (p + q),
            "bacc": (sn + sp) / 2,
            "sn": sn,
            "sp": sp,
            "mcc": mcc,
            "f1": 2 * tp / (2 * tp + fp + fn),
        }


def _ranking_metrics(wp: np.ndarray, wn: np.ndarray) -> dict[str, np.ndarray]:
    """AUROC and average precision from positive / negative counts per tie group.

    Parameters
    ----------
    wp, wn : (..., G) counts of positives and negatives per distinct score, ascending score.
    """
    wp, wn = wp.astype(np.float64), wn.astype(np.float64)
    npos, nneg = wp.sum(-1), wn.sum(-1)
    below = np.cumsum(wn, -1) - wn  # negatives with a strictly lower score
    tp, fp = np.cumsum(wp[..., ::-1], -1), np.cumsum(wn[..., ::-1], -1)  # descending cut points
    precision = tp / np.maximum(tp + fp, 1.0)  # groups without samples carry no recall step
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "auroc": (wp * (below + 0.5 * wn)).sum(-1) / (npos * nneg),
            "auprc": (wp[..., ::-1] * precision).sum(-1) / npos,
        }


def auroc(y, score) -> float:
    """Area under the ROC curve via average ranks (Mann-Whitney U); NaN with one class only."""
    y, score = _check(y, score)
    _, inv, counts = np.unique(score, return_inverse=True, return_counts=True)
    ranks = (np.cumsum(counts) - (counts - 1) / 2.0)[inv]  # 1-based ranks, ties averaged
    npos, nneg = int(y.sum()), int((~y).sum())
    if npos == 0 or nneg == 0:
        return float("nan")
    return float((ranks[y].sum() - npos * (npos + 1) / 2.0) / (npos * nneg))


def binary_metrics(y, score, threshold: float) -> dict[str, float]:
    """ACC, balanced ACC, Sn, Sp, MCC, F1 at ``threshold`` and threshold-free AUROC, AUPRC.

    Parameters
    ----------
    y : (n,) 0/1 labels.
    score : (n,) scores, higher means more likely positive.
    threshold : predicted positive when ``score >= threshold``.

    Returns
    -------
    dict with keys ``acc, bacc, sn, sp, mcc, f1, auroc, auprc`` (floats, NaN where undefined),
    ``n`` and ``positives`` (ints).
    """
    y, score = _check(y, score)
    pred = score >= threshold
    tp, fp = int((pred & y).sum()), int((pred & ~y).sum())
    npos, n = int(y.sum()), len(y)
    out = _confusion_metrics(tp, fp, n - npos - fp, npos - tp)
    _, inv = np.unique(score, return_inverse=True)
    g = inv.max() + 1
    out |= _ranking_metrics(np.bincount(inv[y], minlength=g), np.bincount(inv[~y], minlength=g))
    return {k: float(out[k]) for k in METRICS} | {"n": n, "positives": npos}


def validation_threshold(y, score, prevalence: float | None = None) -> tuple[float, str]:
    """The decision threshold of a model and where it came from: max MCC on the validation
    labels ``y`` and log-odds ``score`` (``"val"``), or log-odds 0 when validation lacks a class.

    ``prevalence``: the positive share of the data the model will meet (a deployment or test
    class ratio); validation is then reweighted to it before the threshold is chosen, instead of
    taking the validation split's own ratio (e.g. a balanced one).

    The one place a threshold is chosen (evaluate, search and the explain stage call it;
    ``predict`` reads the one ``evaluate`` wrote).
    """
    y = np.asarray(y)
    if len(y) and len(np.unique(y)) == 2:
        if prevalence is None:
            return best_threshold(y, score), "val"
        return best_threshold(y, score, prevalence=prevalence), \
            f"val reweighted to prevalence {prevalence:.4g}"
    return 0.0, "default (log-odds 0: validation lacks a class)"


def best_threshold(y, score, metric: str = "mcc", prevalence: float | None = None) -> float:
    """Threshold maximising ``metric`` over all cut points, in O(n log n).

    Every distinct score is a candidate cut (predict positive at and above it). The returned
    threshold is the midpoint between the chosen cut score and the next lower distinct score (the
    lowest score itself when everything is predicted positive); among equally good cuts the
    highest one wins.

    Parameters
    ----------
    y : (n,) 0/1 labels, both classes present (typically the validation split).
    score : (n,) scores.
    metric : one of ``acc, bacc, mcc, f1``.
    prevalence : if given, positives and negatives are weighted so that positives make up this
        share (the counts of the confusion matrix become weighted sums).
    """
    if metric not in ("acc", "bacc", "mcc", "f1"):
        raise InputError(f"cannot pick a threshold by {metric!r}; use acc, bacc, mcc or f1")
    y, score = _check(y, score)
    npos, nneg = int(y.sum()), int((~y).sum())
    if npos == 0 or nneg == 0:
        raise InputError("choosing a threshold needs both positives and negatives")
    wp, wn = 1.0, 1.0
    if prevalence is not None:
        if not 0.0 < prevalence < 1.0:
            raise InputError(f"prevalence must lie strictly between 0 and 1, got {prevalence}")
        n = npos + nneg
        wp, wn = prevalence * n / npos, (1.0 - prevalence) * n / nneg
    u, inv = np.unique(score, return_inverse=True)  # ascending distinct scores
    tp = wp * np.cumsum(np.bincount(inv[y], minlength=len(u))[::-1])[::-1]  # positives >= u[k]
    fp = wn * np.cumsum(np.bincount(inv[~y], minlength=len(u))[::-1])[::-1]
    values = _confusion_metrics(tp, fp, wn * nneg - fp, wp * npos - tp)[metric]
    k = len(u) - 1 - int(np.nanargmax(values[::-1]))  # highest cut among ties
    if k == 0:
        return float(u[0])
    mid = u[k - 1] + (u[k] - u[k - 1]) / 2
    return float(mid if mid > u[k - 1] else u[k])  # guard against rounding onto the lower score


def _bootstrap(y: np.ndarray, n_boot: int, seed: int, stratified: bool) -> Iterator[np.ndarray]:
    """Yield blocks of resample indices, shape (b, n); the stream does not depend on block size.

    Stratified resampling draws positives and negatives separately, keeping both counts fixed.
    """
    n = len(y)
    pos, neg = np.flatnonzero(y), np.flatnonzero(~y)
    rng_p, rng_n = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    block = max(1, _CHUNK_CELLS // (2 * n))
    for start in range(0, n_boot, block):
        b = min(block, n_boot - start)
        if stratified:
            yield np.hstack([pos[rng_p.integers(0, len(pos), (b, len(pos)))],
                             neg[rng_n.integers(0, len(neg), (b, len(neg)))]])
        else:
            yield rng_p.integers(0, n, (b, n))


def _resampled_ranking(
    idx: np.ndarray, y: np.ndarray, inv: np.ndarray, g: int,
) -> dict[str, np.ndarray]:
    """Ranking metrics for each row of resample indices ``idx`` (b, n); ``inv``: tie groups."""
    b = len(idx)
    key = inv[idx] + g * y[idx] + 2 * g * np.arange(b)[:, None]
    w = np.bincount(key.ravel(), minlength=2 * g * b).reshape(b, 2, g)
    return _ranking_metrics(w[:, 1], w[:, 0])


def _check_boot(n_boot: int, alpha: float) -> None:
    if n_boot < 1:
        raise InputError(f"n_boot must be >= 1, got {n_boot}")
    if not 0 < alpha < 1:
        raise InputError(f"alpha must be in (0, 1), got {alpha}")


def bootstrap_ci(
    y, score, threshold: float, n_boot: int = BOOTSTRAP, seed: int = 0, alpha: float = 0.05,
    stratified: bool = True,
) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap confidence intervals of every metric of :func:`binary_metrics`.

    Parameters
    ----------
    y, score, threshold : as in :func:`binary_metrics`.
    n_boot : number of resamples.
    seed : random seed; same inputs and seed give identical intervals.
    alpha : 1 - confidence level (0.05 gives 95% intervals).
    stratified : resample positives and negatives separately (keeps the class ratio).

    Returns
    -------
    dict metric -> (lo, hi); NaN bounds where the metric is undefined in every resample.
    """
    _check_boot(n_boot, alpha)
    y, score = _check(y, score)
    pred = score >= threshold
    _, inv = np.unique(score, return_inverse=True)
    g = int(inv.max()) + 1
    parts = []
    for idx in _bootstrap(y, n_boot, seed, stratified):
        yy, pp = y[idx], pred[idx]
        tp, fp = (pp & yy).sum(1), (pp & ~yy).sum(1)
        npos = yy.sum(1)
        m = _confusion_metrics(tp, fp, idx.shape[1] - npos - fp, npos - tp)
        m |= _resampled_ranking(idx, y, inv, g)
        parts.append(np.stack([m[k] for k in METRICS], 1))
    values = np.concatenate(parts)  # (n_boot, len(METRICS))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns give NaN bounds
        lo, hi = np.nanquantile(values, [alpha / 2, 1 - alpha / 2], axis=0)
    return {k: (float(a), float(b)) for k, a, b in zip(METRICS, lo, hi, strict=True)}


def _paired_bootstrap(y: np.ndarray, n_boot: int, seed: int, stratified: bool
                      ) -> Iterator[np.ndarray]:
    """Blocks of resample indices (b, n) for :func:`paired_auroc_difference`.

    One generator draws resample after resample (stratified: the positives' indices, then the
    negatives'), the stream kanbio's paired comparisons have always used, so their intervals stay
    what they were; the stream does not depend on the block size.
    """
    n = len(y)
    pos, neg = np.flatnonzero(y), np.flatnonzero(~y)
    rng = np.random.default_rng(seed)

    def draw(where: np.ndarray) -> np.ndarray:
        return where[rng.integers(0, len(where), len(where))] if len(where) else where

    block = max(1, _CHUNK_CELLS // (2 * n))
    for start in range(0, n_boot, block):
        b = min(block, n_boot - start)
        if stratified:
            yield np.stack([np.concatenate([draw(pos), draw(neg)]) for _ in range(b)])
        else:
            yield np.stack([rng.integers(0, n, n) for _ in range(b)])


def paired_auroc_difference(
    y, score_a, score_b, n_boot: int = BOOTSTRAP, seed: int = 0, alpha: float = 0.05,
    stratified: bool = True,
) -> dict[str, float]:
    """Paired bootstrap of AUROC(a) - AUROC(b): both models are scored on the same resamples.

    Parameters
    ----------
    y : (n,) 0/1 labels.
    score_a, score_b : (n,) scores of one model each, or (S, n): several seeds of a model, whose
        AUROC is then the mean over its seeds (in every resample too, so unstable seeds count as
        they are; the seeds themselves are not resampled).
    n_boot, seed, alpha, stratified : as in :func:`bootstrap_ci`.

    Returns
    -------
    dict with ``diff`` (on the full data), ``lo, hi`` (percentile interval), ``p`` (two-sided:
    twice the smaller share of resampled differences on either side of 0, with a +1 correction,
    capped at 1) and the two (seed-mean) AUROCs ``auroc_a, auroc_b``.
    """
    _check_boot(n_boot, alpha)
    a2, b2 = (np.atleast_2d(np.asarray(s, dtype=np.float64)) for s in (score_a, score_b))
    checked = [_check(y, s) for s in (*a2, *b2)]
    y, rows = checked[0][0], [s for _, s in checked]
    groups = [(inv, int(inv.max()) + 1) for inv in
              (np.unique(s, return_inverse=True)[1] for s in rows)]
    n_a = len(a2)

    def seed_mean(idx: np.ndarray, part: slice) -> np.ndarray:
        return np.mean([_resampled_ranking(idx, y, inv, g)["auroc"] for inv, g in groups[part]],
                       axis=0)

    diffs = np.concatenate([seed_mean(idx, slice(n_a)) - seed_mean(idx, slice(n_a, None))
                            for idx in _paired_bootstrap(y, n_boot, seed, stratified)])
    a, b = (float(np.mean([auroc(y, s) for s in part])) for part in (rows[:n_a], rows[n_a:]))
    if np.isnan(diffs).all():
        return {"diff": a - b, "lo": np.nan, "hi": np.nan, "p": np.nan, "auroc_a": a, "auroc_b": b}
    diffs = diffs[~np.isnan(diffs)]
    lo, hi = np.quantile(diffs, [alpha / 2, 1 - alpha / 2])
    tail = min((diffs <= 0).sum(), (diffs >= 0).sum())
    p = min(1.0, 2 * (tail + 1) / (len(diffs) + 1))
    return {"diff": a - b, "lo": float(lo), "hi": float(hi), "p": float(p),
            "auroc_a": a, "auroc_b": b}


def seed_mean_ci(
    y, scores, thresholds, n_boot: int = BOOTSTRAP, seed: int = 0, alpha: float = 0.05,
    stratified: bool = True,
) -> dict[str, tuple[float, float, float]]:
    """Every metric averaged over several models (seeds) scored on the same samples, with CIs.

    ``scores`` (S, n) and ``thresholds`` (S,): one row and one validation threshold per seed. Each
    bootstrap resample scores every seed and averages, so the interval reflects the test sample
    for the seed-mean (the seeds themselves are not resampled). Returns metric -> (value, lo, hi).
    """
    _check_boot(n_boot, alpha)
    scores = np.atleast_2d(np.asarray(scores, dtype=np.float64))
    checked = [_check(y, s) for s in scores]
    y = checked[0][0]
    preds = [s >= t for (_, s), t in zip(checked, thresholds, strict=True)]
    groups = [np.unique(s, return_inverse=True)[1] for _, s in checked]
    value = {k: float(np.mean([binary_metrics(y, s, t)[k] for (_, s), t
                               in zip(checked, thresholds, strict=True)])) for k in METRICS}
    parts = []
    for idx in _bootstrap(y, n_boot, seed, stratified):
        yy = y[idx]
        npos = yy.sum(1)
        per_seed = []
        for pred, inv in zip(preds, groups, strict=True):
            pp = pred[idx]
            tp, fp = (pp & yy).sum(1), (pp & ~yy).sum(1)
            m = _confusion_metrics(tp, fp, idx.shape[1] - npos - fp, npos - tp)
            m |= _resampled_ranking(idx, y, inv, int(inv.max()) + 1)
            per_seed.append(np.stack([m[k] for k in METRICS], 1))
        parts.append(np.mean(per_seed, axis=0))
    values = np.concatenate(parts)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        lo, hi = np.nanquantile(values, [alpha / 2, 1 - alpha / 2], axis=0)
    return {k: (value[k], float(a), float(b)) for k, a, b in zip(METRICS, lo, hi, strict=True)}
