"""AIQ and the non-decreasing convex hull, on hand-computed examples."""

import numpy as np
import pytest

from router.evaluation.aiq import aiq, nondecreasing_hull, summarise


def test_single_point_scores_quality_times_remaining_cost():
    h = nondecreasing_hull([0.5], [0.8])
    assert aiq(h) == pytest.approx(0.4)
    assert h.quality_at(0.49) is None
    assert h.quality_at(0.7) == pytest.approx(0.8)


def test_hull_drops_points_under_the_chord_and_after_the_peak():
    # (0.4, 0.6) lies under the chord (0.2, 0.5)-(0.6, 0.9), whose height there is 0.7;
    # (0.8, 0.7) and (1.0, 0.9) come after the first point of highest quality.
    h = nondecreasing_hull([0.2, 0.6, 1.0, 0.4, 0.8], [0.5, 0.9, 0.9, 0.6, 0.7])
    assert h.cost.tolist() == [0.2, 0.6]
    assert h.quality.tolist() == [0.5, 0.9]
    # 0.4 * (0.5 + 0.9) / 2 + 0.4 * 0.9
    assert aiq(h) == pytest.approx(0.28 + 0.36)
    assert h.quality_at(0.3) == pytest.approx(0.6)
    assert h.cost_at(0.7) == pytest.approx(0.4)
    assert h.cost_at(0.5) == pytest.approx(0.2)
    assert h.cost_at(0.95) is None


def test_equal_cost_keeps_the_better_point_and_cheap_strong_point_is_flat():
    h = nondecreasing_hull([0.3, 0.3, 0.9], [0.2, 0.7, 0.6])
    assert h.cost.tolist() == [0.3] and h.quality.tolist() == [0.7]
    assert aiq(h) == pytest.approx(0.7 * 0.7)


def test_points_beyond_cost_one_shape_the_hull_but_area_stops_at_one():
    h = nondecreasing_hull([0.5, 1.5], [0.5, 1.0])
    # H(1) = 0.75; area from 0.5 to 1 = 0.5 * (0.5 + 0.75) / 2
    assert aiq(h) == pytest.approx(0.3125)


def test_points_inside_the_hull_do_not_change_aiq():
    base = nondecreasing_hull([0.1, 0.5, 0.9], [0.3, 0.8, 0.9])
    more = nondecreasing_hull([0.1, 0.5, 0.9, 0.3, 0.7, 0.95], [0.3, 0.8, 0.9, 0.5, 0.84, 0.2])
    assert aiq(more) == pytest.approx(aiq(base))
    # 0.4 * 1.1 / 2 + 0.4 * 1.7 / 2 + 0.1 * 0.9
    assert aiq(base) == pytest.approx(0.22 + 0.34 + 0.09)


def test_hull_is_monotone_concave_and_covers_every_point():
    rng = np.random.default_rng(0)
    for _ in range(50):
        c, q = rng.random(30), rng.random(30)
        h = nondecreasing_hull(c, q)
        assert np.all(np.diff(h.cost) > 0)
        assert np.all(np.diff(h.quality) > 0)
        slopes = np.diff(h.quality) / np.diff(h.cost)
        assert np.all(np.diff(slopes) <= 1e-12)  # concave
        for ci, qi in zip(c, q):
            if ci >= h.cost[0]:
                assert h.quality_at(ci) >= qi - 1e-12
        # vertices are input points
        assert all(any(np.isclose(ci, c) & np.isclose(qi, q)) for ci, qi in zip(h.cost, h.quality))
        assert 0.0 <= aiq(h) <= 1.0


def test_summary_figures():
    s = summarise(np.array([0.02, 0.2, 0.6]), np.array([0.4, 0.7, 0.9]), strongest_cost=0.8, strongest_quality=0.85)
    # hull (0.02,0.4)-(0.2,0.7)-(0.6,0.9); quality 0.85 reached at 0.2 + 0.15/0.2*0.4 = 0.5
    assert s.cost_pct_at_strongest_quality == pytest.approx(100 * 0.5 / 0.8)
    assert s.quality_at_10pct == pytest.approx(0.5)  # 0.4 + (0.08 - 0.02) / 0.18 * 0.3
    assert s.quality_at_25pct == pytest.approx(0.7)  # budget 0.2 is a vertex
    assert s.best_quality == pytest.approx(0.9)
    never = summarise(np.array([0.5]), np.array([0.6]), strongest_cost=0.8, strongest_quality=0.85)
    assert never.cost_pct_at_strongest_quality is None and never.quality_at_10pct is None


def test_bad_input_is_refused():
    with pytest.raises(ValueError):
        nondecreasing_hull([], [])
    with pytest.raises(ValueError):
        nondecreasing_hull([0.1, np.nan], [0.2, 0.3])
