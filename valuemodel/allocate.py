"""Rollout budgets for GRPO-style RL training (the V0 paper's second use).

A GRPO group of B rollouts on a prompt with pass rate p teaches something only when its rollouts
neither all succeed nor all fail: P(informative | B) = f(B) = 1 - p^B - (1 - p)^B. Given
predicted pass rates for n prompts and ``total`` rollouts, :func:`allocate` chooses integer
budgets B_i in [min_budget, max_budget] with sum B_i = total that maximise sum_i f_i(B_i).

Why greedy on marginal gains is exact here. The marginal gain of one more rollout is
    d(B) = f(B + 1) - f(B) = p^B (1 - p) + (1 - p)^B p,
and both p^B and (1 - p)^B are non-increasing in B for p in [0, 1], so d(B + 1) <= d(B): each
f_i is concave on B >= 1, and the objective is separable. For a separable concave objective
under one sum constraint and box bounds, taking the largest marginal gains one at a time is
optimal (the classic resource-allocation result, Gross 1956): the chosen set is the top
``total - n * min_budget`` entries of the gain table, and every row of that table is
non-increasing, so the top entries of each row form a prefix (a valid budget). It is NOT exact
from B = 0: a prompt with no group has no informative group, so f(0) = 0 = f(1) and d(0) = 0 <
d(1) = 2p(1 - p) (not concave). E.g. p = (0.5, 0.5), total 2, min 0: greedy may give (1, 1),
value 0, while (2, 0) gives 0.5. Hence ``min_budget >= 1``. The same argument holds for the
expected objective under a distribution of p (:func:`allocate_robust`): an expectation of
non-increasing gains is non-increasing. ``tests/test_allocate.py`` checks both by brute force.

Predicted pass rates are uncertain. :func:`allocate_robust` treats the true p_i as
Beta(kappa * m_i, kappa * (1 - m_i)) around m_i = shrink toward the prior mean, maximises the
*expected* number of informative groups under that distribution, and returns the uniform
allocation whenever that does not beat uniform in expectation: it never does worse than uniform
in expectation under its own uncertainty. ``valuemodel.allocate_fit.fit_posterior`` picks kappa and the
shrinkage from held-out predictions (cross-validated profile rows).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

EPS = 1e-6
TABLE_CELLS = 1 << 22  # up to this many (prompt, step) gains, the gain table; beyond, closed forms


@dataclass(frozen=True)
class Allocation:
    budgets: np.ndarray  # (n,) int64, sums to total
    expected_informative: float  # sum_i E[f_i(B_i)] under the allocation's own model of p
    uniform_expected_informative: float  # the same for the uniform allocation
    method: str  # "greedy" | "uniform" (the robust variant fell back)


@dataclass(frozen=True)
class Posterior:
    """How much to trust a predicted pass rate: true p ~ Beta(evidence * m, evidence * (1 - m)),
    m = (1 - shrink) * p_hat + shrink * prior_mean."""
    evidence: float = 4.0
    shrink: float = 0.0


def _check(p: Sequence[float] | np.ndarray, total: int, min_budget: int, max_budget: int) -> np.ndarray:
    arr = np.asarray(p, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError("p must be a non-empty 1-D sequence of pass rates")
    if not np.all(np.isfinite(arr)) or arr.min() < 0 or arr.max() > 1:
        raise ValueError("every pass rate must be a finite number in [0, 1]")
    for name, value in (("total", total), ("min_budget", min_budget), ("max_budget", max_budget)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ValueError(f"{name} must be an integer, got {value!r}")
    if min_budget < 1:
        raise ValueError(f"min_budget must be at least 1 (greedy is exact only from B = 1), got {min_budget}")
    if max_budget < min_budget:
        raise ValueError(f"max_budget ({max_budget}) is below min_budget ({min_budget})")
    n = arr.size
    if not n * min_budget <= total <= n * max_budget:
        raise ValueError(f"total must be in [{n * min_budget}, {n * max_budget}] for {n} prompts "
                         f"(min_budget x prompts, max_budget x prompts), got {total}")
    return arr


def uniform(n: int, total: int) -> np.ndarray:
    """As even as possible: total // n each, one more for the first total % n prompts. (n,)"""
    budgets = np.full(n, total // n, dtype=np.int64)
    budgets[: total % n] += 1
    return budgets


def _moments(a: np.ndarray, b: np.ndarray, steps: int) -> np.ndarray:
    """E[p^k] for k = 0..steps under Beta(a, b) per row: (n, steps + 1), non-increasing in k.
    a = inf-like (point mass) is handled by the caller."""
    k = np.arange(steps)  # (steps,)
    ratio = (a[:, None] + k) / (a[:, None] + b[:, None] + k)  # (n, steps), each in [0, 1]
    return np.concatenate([np.ones((len(a), 1)), np.cumprod(ratio, axis=1)], axis=1)


def _power_table(p: np.ndarray, kappa: float | None, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """(E[p^k], E[(1-p)^k]) for k = 0..steps: (n, steps + 1) each. kappa None = point estimates."""
    if kappa is None:
        cols = np.concatenate([np.ones((len(p), 1)), np.cumprod(np.repeat(p[:, None], steps, 1), 1)], 1)
        cols_q = np.concatenate([np.ones((len(p), 1)), np.cumprod(np.repeat(1 - p[:, None], steps, 1), 1)], 1)
        return cols, cols_q
    m = np.clip(p, EPS, 1 - EPS)
    a, b = kappa * m, kappa * (1 - m)
    return _moments(a, b, steps), _moments(b, a, steps)


def informative(p: Sequence[float] | np.ndarray, budgets: Sequence[int] | np.ndarray,
                evidence: float | None = None) -> float:
    """Expected informative groups sum_i E[f_i(B_i)] (B_i >= 1); ``evidence`` None = p exact."""
    arr, bud = np.asarray(p, dtype=np.float64), np.asarray(budgets, dtype=np.int64)
    if arr.shape != bud.shape or bud.size == 0 or bud.min() < 1:
        raise ValueError("need one budget >= 1 per pass rate")
    if arr.size * int(bud.max()) > TABLE_CELLS:  # large budgets: closed form, memory O(n)
        ep, eq = _moments_at(arr, evidence, bud)
        return float(np.sum(1.0 - ep - eq))
    mp, mq = _power_table(arr, evidence, int(bud.max()))  # (n, Bmax + 1)
    rows = np.arange(len(arr))
    return float(np.sum(1.0 - mp[rows, bud] - mq[rows, bud]))



def _lgamma(x: np.ndarray) -> np.ndarray:
    """log Gamma(x) for x > 0, vectorised: recurrence up to x + 8, then Stirling's series (abs.
    error below 1e-11)."""
    z = x + 8.0
    shift = np.log(x * (x + 1) * (x + 2) * (x + 3)) + np.log((x + 4) * (x + 5) * (x + 6) * (x + 7))
    inv, inv2 = 1.0 / z, 1.0 / (z * z)
    series = inv * (1 / 12 - inv2 * (1 / 360 - inv2 * (1 / 1260 - inv2 / 1680)))
    return (z - 0.5) * np.log(z) - z + 0.5 * np.log(2 * np.pi) + series - shift


def _moments_at(p: np.ndarray, kappa: float | None, steps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(E[p^B], E[(1 - p)^B]) at B = ``steps`` (one per prompt, each >= 1), in closed form: (n,) each.
    Beta(a, b): E[p^B] = Gamma(a + B) Gamma(a + b) / (Gamma(a) Gamma(a + b + B))."""
    b_ = steps.astype(np.float64)
    if kappa is None:
        with np.errstate(divide="ignore", invalid="ignore"):
            up = np.where(p > 0, np.exp(b_ * np.log(np.where(p > 0, p, 1.0))), 0.0)
            down = np.where(p < 1, np.exp(b_ * np.log(np.where(p < 1, 1 - p, 1.0))), 0.0)
        return up, down
    m = np.clip(p, EPS, 1 - EPS)
    a, b = kappa * m, kappa * (1 - m)
    common = _lgamma(a + b) - _lgamma(a + b + b_)
    return np.exp(_lgamma(a + b_) - _lgamma(a) + common), np.exp(_lgamma(b + b_) - _lgamma(b) + common)


def _gain_at(p: np.ndarray, kappa: float | None, steps: np.ndarray) -> np.ndarray:
    """E[f(B + 1) - f(B)] at B = ``steps``: (n,). Point: p^B (1 - p) + (1 - p)^B p; Beta(a, b):
    E[p^B] b / (a + b + B) + E[q^B] a / (a + b + B) (no difference of nearly equal numbers)."""
    ep, eq = _moments_at(p, kappa, steps)
    if kappa is None:
        return ep * (1 - p) + eq * p
    m = np.clip(p, EPS, 1 - EPS)
    a, b = kappa * m, kappa * (1 - m)
    return (ep * b + eq * a) / (a + b + steps)


def _counts_above(p: np.ndarray, kappa: float | None, lo_step: int, width: int, level: float) -> np.ndarray:
    """For each prompt, how many of its steps lo_step .. lo_step + width - 1 gain more than ``level``
    (gains are non-increasing in the step, so a binary search per prompt): (n,)."""
    lo = np.zeros(p.size, dtype=np.int64)  # steps known to gain more: [0, lo)
    hi = np.full(p.size, width, dtype=np.int64)  # steps known not to: [hi, width)
    while np.any(lo < hi):
        mid = (lo + hi) // 2
        above = _gain_at(p, kappa, lo_step + np.minimum(mid, width - 1)) > level
        lo, hi = np.where(above & (lo < hi), mid + 1, lo), np.where(~above & (lo < hi), mid, hi)
    return lo


def _greedy_by_threshold(p: np.ndarray, extra: int, min_budget: int, width: int,
                         kappa: float | None) -> np.ndarray:
    """The greedy's choice without its table: the level L such that the steps gaining more than L
    number at most ``extra``, bisected on L; the rest go to the steps at the boundary, prompt by
    prompt in order (the table's stable order for ties). Memory O(n), whatever the budget."""
    lo_level, hi_level = 0.0, 1.0  # counts(hi) <= extra < counts(lo), or lo = 0
    above_hi = _counts_above(p, kappa, min_budget, width, hi_level)
    for _ in range(200):
        mid = (lo_level + hi_level) / 2
        if mid in (lo_level, hi_level):
            break
        counts = _counts_above(p, kappa, min_budget, width, mid)
        if counts.sum() == extra:  # exactly the budget above this level: no ties to break
            return min_budget + counts
        if counts.sum() < extra:
            hi_level, above_hi = mid, counts
        else:
            lo_level = mid
    below = _counts_above(p, kappa, min_budget, width, lo_level) if lo_level > 0 else np.full(p.size, width)
    tied = below - above_hi  # steps with gains in (lo, hi]: equal up to float resolution
    left = extra - int(above_hi.sum())
    take = np.minimum(tied, np.maximum(0, left - (np.cumsum(tied) - tied)))
    return min_budget + above_hi + take


def _greedy(p: np.ndarray, total: int, min_budget: int, max_budget: int, kappa: float | None) -> np.ndarray:
    n = p.size
    extra = total - n * min_budget
    width = min(max_budget - min_budget, extra)  # no prompt can take more than `extra` extra rollouts
    budgets = np.full(n, min_budget, dtype=np.int64)
    if width == 0:
        return budgets
    if n * width > TABLE_CELLS:
        return _greedy_by_threshold(p, extra, min_budget, width, kappa)
    mp, mq = _power_table(p, kappa, min_budget + width)  # (n, min + width + 1)
    f = 1.0 - mp - mq  # (n, ...) E[f(B)] for B = 0..min+width (f(0) = -1 here, unused)
    gains = np.diff(f[:, min_budget:], axis=1)  # (n, width): gain of rollout min+1 .. min+width
    gains = np.minimum.accumulate(gains, axis=1)  # exact math is non-increasing; remove float noise
    # The `extra` largest gains; a stable sort keeps each row's earlier (larger) steps first on ties.
    order = np.argsort(-gains.ravel(), kind="stable")[:extra]
    budgets += np.bincount(order // width, minlength=n)
    return budgets


def allocate(p: Sequence[float] | np.ndarray, total: int, *, min_budget: int = 2,
             max_budget: int = 128) -> np.ndarray:
    """Integer budgets (n,) summing to ``total``, each in [min_budget, max_budget], that maximise
    sum_i 1 - p_i^B_i - (1 - p_i)^B_i for the given pass rates (exact; see the module doc).
    Raises ValueError on bad input. Time and memory O(n * w), w = min(max - min, total - n * min),
    up to ``TABLE_CELLS`` gains; beyond, memory O(n) and time O(n log w) per bisection step."""
    arr = _check(p, total, min_budget, max_budget)
    return _greedy(arr, total, min_budget, max_budget, None)


def posterior_mean(p_hat: np.ndarray, posterior: Posterior, prior_mean: float | None) -> np.ndarray:
    prior = float(np.mean(p_hat)) if prior_mean is None else prior_mean
    return (1.0 - posterior.shrink) * p_hat + posterior.shrink * prior


def allocate_robust(p: Sequence[float] | np.ndarray, total: int, *, min_budget: int = 2,
                    max_budget: int = 128, posterior: Posterior = Posterior(),
                    prior_mean: float | None = None) -> Allocation:
    """The uncertainty-aware allocation: exact greedy on the expected gains under the Beta
    posterior (see :class:`Posterior`; ``prior_mean`` defaults to the mean prediction, pass the
    profile's mean score). Falls back to uniform unless it gains in expectation."""
    arr = _check(p, total, min_budget, max_budget)
    if not (posterior.evidence > 0 and np.isfinite(posterior.evidence)) or not 0 <= posterior.shrink <= 1:
        raise ValueError("posterior evidence must be a finite number > 0 and shrink in [0, 1]")
    if prior_mean is not None and not 0 <= prior_mean <= 1:
        raise ValueError("prior_mean must be in [0, 1]")
    m = posterior_mean(arr, posterior, prior_mean)
    budgets = _greedy(m, total, min_budget, max_budget, posterior.evidence)
    flat = uniform(arr.size, total)
    got = informative(m, budgets, posterior.evidence)
    base = informative(m, flat, posterior.evidence)
    if got <= base + 1e-12 * max(1.0, base):
        return Allocation(flat, base, base, "uniform")
    return Allocation(budgets, got, base, "greedy")


@dataclass(frozen=True)
class Selection:
    chosen: np.ndarray  # (batch,) int64 pool indices, highest P(informative) first (ties: pool order)
    p_mean: np.ndarray  # (n,) posterior mean pass rate (prior and history)
    p_informative: np.ndarray  # (n,) P(informative group of group_size) under the posterior


def _history(n: int, successes, trials) -> tuple[np.ndarray, np.ndarray]:
    s = np.zeros(n) if successes is None else np.asarray(successes, dtype=np.float64)
    t = np.zeros(n) if trials is None else np.asarray(trials, dtype=np.float64)
    if s.shape != (n,) or t.shape != (n,) or not (np.all(np.isfinite(s)) and np.all(np.isfinite(t))):
        raise ValueError("need one finite (successes, trials) per prompt")
    if s.min(initial=0) < 0 or np.any(s > t):
        raise ValueError("every history needs 0 <= successes <= trials")
    return s, t


def p_informative(p: Sequence[float] | np.ndarray, group_size: int, *, posterior: Posterior = Posterior(),
                  prior_mean: float | None = None, successes=None, trials=None) -> tuple[np.ndarray, np.ndarray]:
    """(posterior mean pass rate, P(informative group of ``group_size``)) per prompt, (n,) each:
    the Beta prior around each (shrunk) prediction, updated with each prompt's history."""
    arr = np.asarray(p, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0 or not np.all(np.isfinite(arr)) or arr.min() < 0 or arr.max() > 1:
        raise ValueError("p must be a non-empty 1-D sequence of pass rates in [0, 1]")
    if isinstance(group_size, bool) or not isinstance(group_size, (int, np.integer)) or group_size < 2:
        raise ValueError(f"group_size must be an integer >= 2, got {group_size!r}")
    if not (posterior.evidence > 0 and np.isfinite(posterior.evidence)) or not 0 <= posterior.shrink <= 1:
        raise ValueError("posterior evidence must be a finite number > 0 and shrink in [0, 1]")
    s, t = _history(arr.size, successes, trials)
    m = np.clip(posterior_mean(arr, posterior, prior_mean), EPS, 1 - EPS)
    a, b = posterior.evidence * m + s, posterior.evidence * (1 - m) + t - s  # (n,) each
    # E[p^G] = Gamma(a + G) Gamma(a + b) / (Gamma(a) Gamma(a + b + G)): O(n) memory for any G.
    rising = np.vectorize(lambda x: math.lgamma(x + group_size) - math.lgamma(x), otypes=[np.float64])
    both = rising(a + b)
    inf = 1.0 - np.exp(rising(a) - both) - np.exp(rising(b) - both)
    return a / (a + b), np.clip(inf, 0.0, 1.0)


def select(p: Sequence[float] | np.ndarray, batch_size: int, *, group_size: int = 8,
           posterior: Posterior = Posterior(), prior_mean: float | None = None, successes=None,
           trials=None) -> Selection:
    """The ``batch_size`` prompts of the pool with the highest P(informative group), see the
    module doc. ``p``: V0's predictions (n,); ``successes`` / ``trials``: each prompt's own past
    rollouts (n,) or None. Raises ValueError on bad input."""
    mean, inf = p_informative(p, group_size, posterior=posterior, prior_mean=prior_mean,
                              successes=successes, trials=trials)
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or not 1 <= batch_size <= len(inf):
        raise ValueError(f"batch_size must be an integer in [1, {len(inf)}] (the pool), got {batch_size!r}")
    chosen = np.argsort(-inf, kind="stable")[:batch_size].astype(np.int64)
    return Selection(chosen, mean, inf)
