"""scikit-learn API of KANClassifier / MLPClassifier."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import cross_val_score
from sklearn.utils.estimator_checks import check_estimator

from kanbio.data.fasta import Protein
from kanbio.data.synthetic import generate
from kanbio.data.windows import extract
from kanbio.estimators import KANClassifier, MLPClassifier

torch.set_num_threads(1)

# Checks that do not apply, with the reason (see also README "scikit-learn API"):
NOT_APPLICABLE = {
    # float32 GEMMs block differently for different batch sizes, so scores of a subset can differ
    # from the full batch's in the 7th significant digit (observed for the MLP: 2e-7 absolute).
    "check_methods_subset_invariance",
}


@pytest.mark.parametrize("est", [KANClassifier(epochs=40), MLPClassifier(epochs=40)],
                         ids=["kan", "mlp"])
def test_check_estimator(est):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(est, on_fail=None)
    failed = {r["check_name"]: str(r["exception"])[:300] for r in results
              if r["status"] == "failed" and r["check_name"] not in NOT_APPLICABLE}
    assert not failed, failed
    assert len(results) > 40


def test_windows_cross_val_and_clone():
    data = generate("kinase", 50, seed=2)
    w = extract([Protein(i, s, p) for i, s, p in data.proteins], "ST", 4)
    X, y = w.windows, w.label
    assert X.dtype == np.uint8
    clf = KANClassifier(hidden=(4,), grid=3, k=2, epochs=15, random_state=1)
    scores = cross_val_score(clf, X, y, cv=3, scoring="roc_auc")
    assert scores.mean() > 0.75
    fitted = clf.fit(X, y)
    assert fitted is clf and fitted.model_.window_length == 9  # one-hot fast path chosen
    c = clone(clf)
    assert c.get_params() == clf.get_params() and not hasattr(c, "model_")
    proba = clf.predict_proba(X)
    assert proba.shape == (len(y), 2) and np.allclose(proba.sum(1), 1)
    assert set(clf.predict(X)) <= {0, 1}
    c.set_params(grid=4)
    assert c.grid == 4


def test_estimators_take_an_encoding_and_a_group_lasso():
    from synthetic_windows import synthetic_windows

    from kanbio.estimators import KANClassifier, MLPClassifier

    X, y = synthetic_windows("acidic", 120, 0)
    for cls in (KANClassifier, MLPClassifier):
        clf = cls(hidden=(2,), encoding="physchem", group_lasso=0.05, epochs=20, lr=0.01)
        clf.fit(X, y)
        assert clf.get_params()["encoding"] == "physchem"
        assert clf.model_.encoding.name == "physchem"
        kept = clf.model_.kept_groups().numpy()  # pruned after the group-lasso fit
        assert 0 < kept.sum() < kept.size
        assert clf.score(X, y) > 0.8
