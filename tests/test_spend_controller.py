"""The spend controller (router/spend.py): a threshold moved on realised cost, within bounds."""

from __future__ import annotations

import pytest

from router.spend import SpendController


def routed_cost(threshold: float) -> float:
    """A toy router: the higher the threshold, the more requests go to the strong model (cost 1)."""
    return 0.05 + 0.95 * threshold


def test_it_holds_a_cost_share():
    c = SpendController(target_share=0.3, threshold=0.9, gain=0.02, window=50)
    shares = []
    for _ in range(2000):
        cost = routed_cost(c.threshold)
        c.observe(cost=cost, strongest_cost=1.0)
        shares.append(cost)
    assert abs(sum(shares[-250:]) / 250 - 0.3) < 0.01
    assert c.realised == pytest.approx(0.3, abs=0.01)


def test_it_holds_usd_per_1k_requests():
    c = SpendController(target_usd_per_1k=0.5, threshold=0.5, gain=0.02)
    for _ in range(2000):
        c.observe(cost=routed_cost(c.threshold) / 1000)
    assert c.realised == pytest.approx(0.5, abs=0.01)


def test_the_threshold_stays_within_its_bounds():
    c = SpendController(target_share=0.01, threshold=0.6, low=0.4, high=0.8)
    for _ in range(500):
        c.observe(cost=1.0, strongest_cost=1.0)  # always over target: pushes the threshold down
    assert c.threshold == 0.4
    c = SpendController(target_share=1.0, threshold=0.95, low=0.4, high=0.8)
    assert c.threshold == 0.8  # the start is clipped too
    assert c.realised is None


@pytest.mark.parametrize("kw", [{}, {"target_share": 0.3, "target_usd_per_1k": 1.0}, {"target_share": 0.0},
                                {"target_share": 1.5}, {"target_usd_per_1k": -1.0},
                                {"target_share": 0.3, "low": 0.9, "high": 0.1}])
def test_bad_settings_are_refused(kw):
    with pytest.raises(ValueError):
        SpendController(**kw)
