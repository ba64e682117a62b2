"""Tests of kanbio.metrics against scikit-learn and brute-force references."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from kanbio.errors import InputError
from kanbio.metrics import (
    METRICS,
    _bootstrap,
    _paired_bootstrap,
    auroc,
    best_threshold,
    binary_metrics,
    bootstrap_ci,
    paired_auroc_difference,
    validation_threshold,
)


def _data(n: int = 400, seed: int = 0, rate: float = 0.2, decimals: int = 1):
    """Labels and rounded (hence tied) scores that carry some signal."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < rate).astype(int)
    return y, np.round(rng.normal(size=n) + y, decimals)


def _sklearn(y, s, t) -> dict[str, float]:
    p = (s >= t).astype(int)
    return {
        "acc": skm.accuracy_score(y, p), "bacc": skm.balanced_accuracy_score(y, p),
        "sn": skm.recall_score(y, p), "sp": skm.recall_score(1 - y, 1 - p),
        "mcc": skm.matthews_corrcoef(y, p), "f1": skm.f1_score(y, p),
        "auroc": skm.roc_auc_score(y, s), "auprc": skm.average_precision_score(y, s),
    }


@pytest.mark.parametrize("seed", range(4))
def test_matches_sklearn_with_ties(seed):
    y, s = _data(seed=seed)
    t = float(np.median(s))
    got, ref = binary_metrics(y, s, t), _sklearn(y, s, t)
    for k in METRICS:
        assert got[k] == pytest.approx(ref[k], abs=1e-12), k
    assert (got["n"], got["positives"]) == (len(y), int(y.sum()))
    assert auroc(y, s) == pytest.approx(ref["auroc"], abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(-3, 3)), min_size=2, max_size=40),
       st.integers(-3, 3))
def test_matches_sklearn_property(pairs, t):
    y = np.array([p[0] for p in pairs], dtype=int)
    s = np.array([p[1] for p in pairs], dtype=float)
    if y.min() == y.max():
        return
    got, ref = binary_metrics(y, s, t), _sklearn(y, s, t)
    for k in METRICS:
        assert got[k] == pytest.approx(ref[k], abs=1e-12), k


def test_degenerate_cases_are_quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        one = binary_metrics([0, 0, 0], [0.1, 0.5, 0.9], 0.5)
        none = binary_metrics([0, 1, 1, 0], [0.1, 0.2, 0.3, 0.4], 1.0)
        allpos = binary_metrics([1, 1], [0.1, 0.2], 0.0)
    assert np.isnan([one["sn"], one["auroc"], one["auprc"], one["mcc"], one["bacc"]]).all()
    assert one["sp"] == pytest.approx(1 / 3) and one["f1"] == 0.0
    assert none["mcc"] == 0.0 and none["f1"] == 0.0 and none["sn"] == 0.0
    assert none["sp"] == 1.0 and none["auroc"] == 0.5
    assert allpos["acc"] == 1.0 and allpos["auprc"] == 1.0 and np.isnan(allpos["sp"])


@pytest.mark.parametrize("bad", [
    ([0, 1], [0.1]), ([0, 2], [0.1, 0.2]), ([0, 1], [0.1, np.nan]), ([], []),
])
def test_bad_input_raises(bad):
    with pytest.raises(InputError):
        binary_metrics(*bad, threshold=0.0)


@pytest.mark.parametrize("metric", ["mcc", "f1", "bacc", "acc"])
@pytest.mark.parametrize("seed", range(3))
def test_best_threshold_is_brute_force_optimum(metric, seed):
    y, s = _data(n=300, seed=seed)
    t = best_threshold(y, s, metric)
    u = np.unique(s)
    best = max(binary_metrics(y, s, c)[metric] for c in u)
    assert binary_metrics(y, s, t)[metric] == pytest.approx(best, abs=1e-12)
    k = np.searchsorted(u, t)  # t is the midpoint below a distinct score (or the lowest score)
    assert t == u[0] or t == pytest.approx((u[k - 1] + u[k]) / 2)
    assert best_threshold(y, s, metric) == t


def test_best_threshold_invariant_to_monotone_transform():
    y, logit = _data(n=500, seed=7, decimals=2)
    prob = 1 / (1 + np.exp(-logit))
    p1, p2 = logit >= best_threshold(y, logit), prob >= best_threshold(y, prob)
    assert (p1 == p2).all()


def test_best_threshold_rejects_one_class_and_unknown_metric():
    with pytest.raises(InputError, match="both"):
        best_threshold([1, 1, 1], [0.1, 0.2, 0.3])
    with pytest.raises(InputError, match="auroc"):
        best_threshold([0, 1], [0.1, 0.2], metric="auroc")


def test_bootstrap_matches_loop_and_is_deterministic():
    y, s = _data(n=150, seed=3)
    t, n_boot = 0.5, 60
    ci = bootstrap_ci(y, s, t, n_boot=n_boot, seed=11)
    assert ci == bootstrap_ci(y, s, t, n_boot=n_boot, seed=11)
    assert ci != bootstrap_ci(y, s, t, n_boot=n_boot, seed=12)
    idx = np.concatenate(list(_bootstrap(y.astype(bool), n_boot, 11, True)))
    assert (y[idx].sum(1) == y.sum()).all()  # stratified: class counts fixed
    loop = np.array([[binary_metrics(y[i], s[i], t)[k] for k in METRICS] for i in idx])
    lo, hi = np.quantile(loop, [0.025, 0.975], axis=0)
    for j, k in enumerate(METRICS):
        assert ci[k] == pytest.approx((lo[j], hi[j]), abs=1e-12), k


def test_bootstrap_unstratified_and_intervals_cover_estimate():
    y, s = _data(n=2000, seed=4)
    point = binary_metrics(y, s, 0.5)
    ci = bootstrap_ci(y, s, 0.5, n_boot=300, seed=0, stratified=False)
    for k in METRICS:
        assert ci[k][0] < point[k] < ci[k][1], k
    one = bootstrap_ci(np.zeros(20, int), np.arange(20.0), 5.0, n_boot=20)
    assert np.isnan(one["auroc"]).all() and one["sp"][0] <= 0.25 <= one["sp"][1]


def test_paired_auroc_difference():
    y, s = _data(n=600, seed=6, decimals=3)
    rng = np.random.default_rng(0)
    worse = s + rng.normal(scale=1.5, size=len(s))
    res = paired_auroc_difference(y, s, worse, n_boot=400, seed=1)
    assert res["diff"] == pytest.approx(auroc(y, s) - auroc(y, worse))
    assert 0 < res["lo"] < res["diff"] < res["hi"] and res["p"] < 0.01
    assert res == paired_auroc_difference(y, s, worse, n_boot=400, seed=1)
    flipped = paired_auroc_difference(y, worse, s, n_boot=400, seed=1)
    assert flipped["lo"] == pytest.approx(-res["hi"]) and flipped["p"] == res["p"]
    same = paired_auroc_difference(y, s, s, n_boot=50)
    assert (same["diff"], same["lo"], same["hi"], same["p"]) == (0.0, 0.0, 0.0, 1.0)
    # paired: the same resamples for both models (compare with the per-resample loop)
    idx = np.concatenate(list(_paired_bootstrap(y.astype(bool), 50, 2, True)))
    d = [auroc(y[i], s[i]) - auroc(y[i], worse[i]) for i in idx]
    res50 = paired_auroc_difference(y, s, worse, n_boot=50, seed=2)
    assert (res50["lo"], res50["hi"]) == tuple(np.quantile(d, [0.025, 0.975]))


def test_paired_auroc_difference_of_seed_means():
    y, s = _data(n=300, seed=7, decimals=2)
    rng = np.random.default_rng(1)
    a = s + rng.normal(scale=0.5, size=(3, len(s)))
    b = s + rng.normal(scale=1.5, size=(2, len(s)))
    res = paired_auroc_difference(y, a, b, n_boot=60, seed=4)
    assert res["auroc_a"] == np.mean([auroc(y, r) for r in a])
    assert res["diff"] == res["auroc_a"] - res["auroc_b"]
    idx = np.concatenate(list(_paired_bootstrap(y.astype(bool), 60, 4, True)))
    d = [np.mean([auroc(y[i], r[i]) for r in a]) - np.mean([auroc(y[i], r[i]) for r in b])
         for i in idx]
    assert (res["lo"], res["hi"]) == tuple(np.quantile(d, [0.025, 0.975]))
    # one row is one model: the same as the 1-D call
    assert paired_auroc_difference(y, a[:1], b[0], n_boot=60) == paired_auroc_difference(
        y, a[0], b[0], n_boot=60)


def test_paired_resamples_one_generator_positives_then_negatives():
    y = np.array([1, 0, 0, 1, 0, 0, 0, 1, 0, 0], bool)
    blocks = list(_paired_bootstrap(y, 5, 9, True))
    rng = np.random.default_rng(9)
    pos, neg = np.flatnonzero(y), np.flatnonzero(~y)
    expected = [np.concatenate([rng.choice(pos, 3), rng.choice(neg, 7)]) for _ in range(5)]
    assert (np.concatenate(blocks) == np.array(expected)).all()
    flat = np.concatenate(list(_paired_bootstrap(y, 4, 9, False)))
    rng = np.random.default_rng(9)
    assert (flat == np.array([rng.integers(0, 10, 10) for _ in range(4)])).all()


def test_threshold_for_a_declared_prevalence_is_that_of_a_reweighted_validation():
    rng = np.random.default_rng(3)
    y = np.r_[np.ones(300, int), np.zeros(300, int)]  # a balanced validation split
    s = rng.normal(size=600) + 1.2 * y
    rare = 1 / 13  # deployment: 1 positive to 12 negatives
    thr, source = validation_threshold(y, s, prevalence=rare)
    assert source.startswith("val reweighted") and thr > validation_threshold(y, s)[0]
    # exactly the threshold of a validation whose every negative is there 12 times
    rep = np.r_[np.arange(300), np.repeat(np.arange(300, 600), 12)]
    assert thr == best_threshold(y[rep], s[rep])
    assert validation_threshold(y, s, prevalence=0.5)[0] == best_threshold(y, s)
    with pytest.raises(InputError, match="strictly between 0 and 1"):
        best_threshold(y, s, prevalence=1.0)
