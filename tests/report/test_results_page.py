"""Wording of the results page's plain statements (the page itself is tested end to end)."""

from __future__ import annotations

from kanbio.report.page import _verdict


def test_verdict_names_the_side_of_the_reference():
    below = _verdict((0.16, 0.13, 0.19), 0.27, "CNN", "mcc")
    assert below.startswith("MCC 0.160 [95% CI 0.130, 0.190] is below CNN's 0.27")
    assert "above" in _verdict((0.40, 0.30, 0.50), 0.27, "CNN", "mcc")
    around = _verdict((0.26, 0.20, 0.30), 0.27, "CNN", "mcc")
    assert "not distinguishable from CNN's 0.27" in around
    # a bound touching the reference is not a difference
    assert "not distinguishable" in _verdict((0.2, 0.1, 0.27), 0.27, "CNN", "auroc")
