"""Routing rules applied to a whole prediction matrix, and their sweeps.

Shapes: M candidate models, Q prompts.
- `p`        (M, Q): predicted P(success) of each model on each prompt.
- `expected` (M, Q): the cost the router *expects* before the call (what it decides with).
- `cost`     (M, Q): the cost actually charged (what the benchmark adds up).
- `score`    (M, Q): the graded outcome in [0, 1] (what the benchmark averages).

Rules (the gateway applies the same ones, one request at a time, in router/routing.py):
- threshold t: the cheapest (by expected cost) model with p >= t; ties go to the higher p, then
  the lower index. If none clears t, the fallback: a policy names one; the benchmark, which has
  no policy, uses the model with the highest p on that prompt.
- utility λ: argmax_m p[m] - λ * expected[m] / max_m expected[m] (cost normalised per prompt by
  its most expensive candidate, so λ is "probability of success per most-expensive call");
  ties: the cheaper model, then the lower index.
tests/test_evaluation_curves.py checks these against router.routing.decide.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

N_SWEEP = 401  # at most this many threshold / λ values per sweep


@dataclass(frozen=True)
class Curve:
    """Operating points of one router: one per knob value."""

    knob: str  # "threshold" | "lambda" | ...
    values: np.ndarray  # (K,) knob values
    cost: np.ndarray  # (K,) mean charged cost per prompt
    quality: np.ndarray  # (K,) mean score per prompt


def _check(p: np.ndarray, expected: np.ndarray) -> None:
    if p.ndim != 2 or p.shape != expected.shape:
        raise ValueError(f"p {p.shape} and expected cost {expected.shape} must both be (M, Q)")


def route_threshold(
    p: np.ndarray, expected: np.ndarray, threshold: float, fallback: int | None = None
) -> np.ndarray:
    """Chosen model index per prompt, (Q,), under the threshold rule."""
    _check(p, expected)
    index = np.broadcast_to(np.arange(p.shape[0])[:, None], p.shape)
    order = np.lexsort((index, -p, expected), axis=0)  # (M, Q) cheapest first
    clears = np.take_along_axis(p, order, axis=0) >= threshold  # (M, Q)
    first = np.argmax(clears, axis=0)  # (Q,) first cheapest that clears
    chosen = order[first, np.arange(p.shape[1])]
    fb = np.argmax(p, axis=0) if fallback is None else np.full(p.shape[1], fallback)
    return np.where(clears.any(axis=0), chosen, fb)


def route_utility(p: np.ndarray, expected: np.ndarray, lam: float) -> np.ndarray:
    """Chosen model index per prompt, (Q,), under the utility rule."""
    _check(p, expected)
    top = expected.max(axis=0, keepdims=True)  # (1, Q)
    top = np.where(top > 0, top, 1.0)
    if np.isinf(lam):
        u = -expected / top
    else:
        u = p - lam * expected / top  # (M, Q), same arithmetic order as router.routing
    best = u.max(axis=0, keepdims=True)
    # Among tied utilities the cheapest model, then the lowest index (argmin takes the first).
    masked = np.where(u == best, expected, np.inf)
    return np.argmin(masked, axis=0)


def outcome(chosen: np.ndarray, cost: np.ndarray, score: np.ndarray) -> tuple[float, float]:
    """Mean charged cost and mean score of a routing (one model index per prompt)."""
    cols = np.arange(cost.shape[1])
    return float(cost[chosen, cols].mean()), float(score[chosen, cols].mean())


def threshold_grid(p: np.ndarray, n: int = N_SWEEP) -> np.ndarray:
    """Every distinct threshold that changes a decision (the distinct p values), plus one above
    all of them; thinned to `n` quantiles when there are more."""
    distinct = np.unique(p)
    if len(distinct) + 1 > n:
        distinct = np.unique(np.quantile(p, np.linspace(0.0, 1.0, n - 1)))
    return np.append(distinct, np.nextafter(distinct[-1], np.inf))


def lambda_grid(n: int = N_SWEEP) -> np.ndarray:
    """0, a log grid from 1e-3 to 1e3, and infinity (always the cheapest)."""
    return np.concatenate([[0.0], np.logspace(-3, 3, n - 2), [np.inf]])


def sweep_threshold(
    p: np.ndarray,
    expected: np.ndarray,
    cost: np.ndarray,
    score: np.ndarray,
    thresholds: np.ndarray | None = None,
    fallback: int | None = None,
) -> Curve:
    ts = threshold_grid(p) if thresholds is None else np.asarray(thresholds, dtype=float)
    pts = [outcome(route_threshold(p, expected, t, fallback), cost, score) for t in ts]
    c, q = np.array(pts).T
    return Curve("threshold", ts, c, q)


def sweep_utility(
    p: np.ndarray,
    expected: np.ndarray,
    cost: np.ndarray,
    score: np.ndarray,
    lambdas: np.ndarray | None = None,
) -> Curve:
    ls = lambda_grid() if lambdas is None else np.asarray(lambdas, dtype=float)
    pts = [outcome(route_utility(p, expected, lam), cost, score) for lam in ls]
    c, q = np.array(pts).T
    return Curve("lambda", ls, c, q)
