"""The sparse choice of a search: the candidate with the fewest kept offsets within a margin
(a number or one standard error) of the best validation AUROC."""

from __future__ import annotations

import numpy as np
import pytest
from synthetic_windows import synthetic_windows

from kanbio.search import auroc_se, search

HALF = 4


@pytest.fixture(scope="module")
def acidic() -> tuple[np.ndarray, ...]:
    x, y = synthetic_windows("acidic", 240, 0, HALF)
    rng = np.random.default_rng(0)
    val = rng.random(len(y)) < 0.3
    return x[~val], y[~val], x[val], y[val]


def test_auroc_se_matches_hanley_mcneil():
    # by hand: Q1 = 0.8 / 1.2, Q2 = 1.28 / 1.8,
    # var = (0.16 + 49 (Q1 - 0.64) + 49 (Q2 - 0.64)) / 2500
    assert auroc_se(0.8, 50, 50) == pytest.approx(0.04450, abs=1e-5)
    assert auroc_se(0.9, 200, 200) < auroc_se(0.9, 20, 20)
    assert auroc_se(1.0, 30, 30) == 0.0


def test_prefer_sparse_picks_fewest_offsets_within_the_margin(acidic):
    spec = {"type": "kan", "hidden": [2], "train": {"epochs": 15, "patience": 0, "lr": 0.01},
            "search": {"train.group_lasso": [0.0, 0.01], "train.group_prune": [0.2]}}
    plain, choice = search(*acidic, spec)
    assert choice["rule"] == "best validation auroc"
    assert (plain.n_offsets <= 2 * HALF + 1).all() and "n_groups" in plain
    dense = plain.n_offsets.to_numpy()
    sparse_table, sparse = search(*acidic, {**spec, "prefer_sparse": 1.0})
    # with a margin of 1 every candidate qualifies: the one with the fewest offsets wins
    want = int(np.argmin(dense))
    assert sparse_table.selected.to_numpy().nonzero()[0].tolist() == [want]
    assert sparse["rule"].startswith("fewest kept offsets within 1")
    # the group-lasso fit keeps the planted +1 and +3 and little else
    assert dense[1] < dense[0] and dense[1] <= 4
    _, zero = search(*acidic, {**spec, "prefer_sparse": 0.0})
    assert zero["selected"] == choice["selected"]


def test_prefer_sparse_1se_is_one_standard_error(acidic):
    spec = {"type": "kan", "hidden": [2], "prefer_sparse": "1se",
            "train": {"epochs": 10, "patience": 0, "lr": 0.01},
            "search": {"train.group_lasso": [0.0, 0.01]}}
    table, choice = search(*acidic, spec)
    best = table.val_auroc.max()
    tol = auroc_se(best, int(acidic[3].sum()), int((acidic[3] == 0).sum()))
    assert choice["rule"] == f"fewest kept offsets within {tol:.4g} of the best validation auroc"
    chosen = table[table.selected].iloc[0]
    assert best - chosen.val_auroc <= tol + 1e-12
    near = table[best - table.val_auroc <= tol + 1e-12]
    assert chosen.n_offsets == near.n_offsets.min()
