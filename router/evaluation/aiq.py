"""Cost–quality curves and RouterBench's AIQ.

A router is judged by the (cost, quality) points it reaches as its knob (a threshold, a λ, a
mapping) moves. Costs are *normalised by the mean cost of the most expensive single model*, so
the cost axis runs from 0 to 1 whatever the currency or the dataset.

Non-decreasing convex hull. Mixing two operating points at random is itself a router, and a
router may always spend less than it is allowed to, so the best quality reachable at a cost
budget c is

    H(c) = max { sum_i w_i q_i : sum_i w_i c_i <= c, w >= 0, sum_i w_i = 1 }

for c at or above the cheapest point's cost. H is the upper hull of the points, running from
the cheapest point (the best quality among equally cheap points) to the first point of highest
quality, and flat after it.

AIQ (RouterBench, Hu et al. 2024): the area under H between the cheapest point and cost 1,
i.e. the integral of H over [0, 1] with H taken as 0 below the router's cheapest point and
extended flat to cost 1. A single model of quality q and normalised cost c scores q * (1 - c).
Points above cost 1 still shape the hull, but the area stops at 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Hull:
    """Vertices of a non-decreasing convex hull, sorted by cost; quality non-decreasing."""

    cost: np.ndarray  # (H,)
    quality: np.ndarray  # (H,)

    def quality_at(self, budget: float) -> float | None:
        """Best quality reachable at mean cost <= budget; None below the cheapest point."""
        if budget < self.cost[0]:
            return None
        return float(np.interp(budget, self.cost, self.quality))

    def cost_at(self, target: float) -> float | None:
        """Lowest mean cost at which quality >= target; None if never reached."""
        if target <= self.quality[0]:
            return float(self.cost[0])
        if target > self.quality[-1]:
            return None
        i = int(np.searchsorted(self.quality, target, side="left"))  # quality[i-1] < target <= quality[i]
        c0, c1, q0, q1 = self.cost[i - 1], self.cost[i], self.quality[i - 1], self.quality[i]
        return float(c0 + (target - q0) * (c1 - c0) / (q1 - q0))


def _cross(o: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    return float((a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]))


def nondecreasing_hull(cost: np.ndarray, quality: np.ndarray) -> Hull:
    """The non-decreasing convex hull H of (cost, quality) points (see the module docstring)."""
    cost = np.asarray(cost, dtype=float).ravel()
    quality = np.asarray(quality, dtype=float).ravel()
    if cost.shape != quality.shape or cost.size == 0:
        raise ValueError("need the same, non-zero number of costs and qualities")
    if not (np.isfinite(cost).all() and np.isfinite(quality).all()):
        raise ValueError("costs and qualities must be finite")
    # Sort by cost, and at equal cost best quality first; keep one point per cost.
    order = np.lexsort((-quality, cost))
    pts = np.stack([cost[order], quality[order]], axis=1)  # (N, 2)
    keep = np.ones(len(pts), dtype=bool)
    keep[1:] = pts[1:, 0] != pts[:-1, 0]
    pts = pts[keep]
    # Only points up to the first one of highest quality matter; H is flat after it.
    peak = int(np.argmax(pts[:, 1]))
    pts = pts[: peak + 1]
    # Upper hull (Andrew's monotone chain): drop points on or below the chord.
    hull: list[np.ndarray] = []
    for p in pts:
        while len(hull) >= 2 and _cross(hull[-2], hull[-1], p) >= 0:
            hull.pop()
        hull.append(p)
    h = np.array(hull)
    # The leftmost point may lie above what follows only when it is the peak itself,
    # which the slicing above already handled; quality is non-decreasing from here.
    return Hull(cost=h[:, 0].copy(), quality=h[:, 1].copy())


def aiq(hull: Hull, max_cost: float = 1.0) -> float:
    """Area under the hull from its cheapest point to `max_cost` (flat after its last vertex)."""
    c, q = hull.cost, hull.quality
    if c[0] >= max_cost:
        return 0.0
    inside = c < max_cost
    xs = np.append(c[inside], max_cost)
    ys = np.append(q[inside], hull.quality_at(max_cost))
    return float(np.sum((xs[1:] - xs[:-1]) * (ys[1:] + ys[:-1]) / 2.0))


@dataclass(frozen=True)
class CurveSummary:
    """The figures the routing benchmark reports for one router."""

    aiq: float
    cost_pct_at_strongest_quality: float | None  # % of the strongest model's cost; None if never
    best_quality: float
    quality_at_10pct: float | None  # None: the router cannot run that cheaply
    quality_at_25pct: float | None


def summarise(
    cost: np.ndarray, quality: np.ndarray, *, strongest_cost: float, strongest_quality: float
) -> CurveSummary:
    """Summarise a router's points; `cost` already normalised, like `strongest_cost`."""
    h = nondecreasing_hull(cost, quality)
    at = h.cost_at(strongest_quality)
    return CurveSummary(
        aiq=aiq(h),
        cost_pct_at_strongest_quality=None if at is None else 100.0 * at / strongest_cost,
        best_quality=float(h.quality[-1]),
        quality_at_10pct=h.quality_at(0.10 * strongest_cost),
        quality_at_25pct=h.quality_at(0.25 * strongest_cost),
    )
