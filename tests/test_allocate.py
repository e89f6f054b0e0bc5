"""valuemodel.allocate: sums and bounds, exactness against brute force, the robust variant's
guarantee, the fit of its posterior, and bad input."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from valuemodel.allocate import Posterior, allocate, allocate_robust, informative, uniform
from valuemodel.allocate_fit import fit_posterior


def brute_force(p: np.ndarray, total: int, lo: int, hi: int, evidence: float | None = None) -> float:
    return max(informative(p, b, evidence) for b in itertools.product(range(lo, hi + 1), repeat=len(p))
               if sum(b) == total)


def cases(seed: int, count: int) -> list[tuple[np.ndarray, int, int, int]]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        n = int(rng.integers(1, 5))
        lo = int(rng.integers(1, 4))
        hi = lo + int(rng.integers(0, 6))
        p = rng.choice([0.0, 1.0, 0.5, 0.05, 0.95, *rng.random(3)], n)
        out.append((p, int(rng.integers(n * lo, n * hi + 1)), lo, hi))
    return out


def test_informative_is_the_grpo_formula() -> None:
    # 1 - p^B - (1-p)^B: p = 0.5, B = 2 -> 0.5; B = 3 -> 0.75; p = 0 or 1 -> 0.
    assert informative([0.5, 0.5, 0.0, 1.0], [2, 3, 8, 8]) == pytest.approx(1.25)
    # Under Beta(1, 1) (evidence 2, mean 0.5): E[p^2] = 1/3, so 1 - 2/3 = 1/3.
    assert informative([0.5], [2], evidence=2.0) == pytest.approx(1 / 3)


def test_sums_and_bounds() -> None:
    rng = np.random.default_rng(1)
    p = rng.random(1000)
    b = allocate(p, 8000, min_budget=2, max_budget=32)
    assert b.dtype == np.int64 and b.shape == (1000,)
    assert int(b.sum()) == 8000 and b.min() >= 2 and b.max() <= 32
    assert list(allocate([0.3, 0.6], 4, min_budget=2, max_budget=2)) == [2, 2]
    assert list(allocate([0.0, 1.0, 0.5], 9, min_budget=1, max_budget=7)) == [1, 1, 7]
    assert list(uniform(3, 8)) == [3, 3, 2]


@pytest.mark.parametrize("p, total, lo, hi", cases(0, 150))
def test_greedy_is_exact_by_brute_force(p: np.ndarray, total: int, lo: int, hi: int) -> None:
    b = allocate(p, total, min_budget=lo, max_budget=hi)
    assert int(b.sum()) == total and b.min() >= lo and b.max() <= hi
    assert informative(p, b) == pytest.approx(brute_force(p, total, lo, hi), abs=1e-12)


@pytest.mark.parametrize("p, total, lo, hi", cases(1, 60))
@pytest.mark.parametrize("evidence", [0.3, 2.0, 20.0])
def test_robust_is_exact_and_never_below_uniform(p: np.ndarray, total: int, lo: int, hi: int,
                                                 evidence: float) -> None:
    a = allocate_robust(p, total, min_budget=lo, max_budget=hi, posterior=Posterior(evidence))
    assert int(a.budgets.sum()) == total and a.budgets.min() >= lo and a.budgets.max() <= hi
    assert a.expected_informative == pytest.approx(brute_force(p, total, lo, hi, evidence), abs=1e-12)
    assert a.expected_informative >= a.uniform_expected_informative
    assert a.uniform_expected_informative == pytest.approx(informative(p, uniform(len(p), total), evidence))


def test_greedy_from_zero_would_not_be_exact() -> None:
    # f(0) = f(1) = 0 < f(2): not concave at 0, so min_budget 0 is refused (module doc).
    with pytest.raises(ValueError, match="min_budget must be at least 1"):
        allocate([0.5, 0.5], 2, min_budget=0)


def test_robust_falls_back_to_uniform_without_signal() -> None:
    a = allocate_robust([0.4] * 5, 40, posterior=Posterior(evidence=3.0))
    assert a.method == "uniform" and list(a.budgets) == [8] * 5
    assert a.expected_informative == a.uniform_expected_informative
    # Full shrinkage toward the prior mean: every prompt looks the same -> uniform.
    b = allocate_robust([0.01, 0.5, 0.99], 24, posterior=Posterior(4.0, shrink=1.0), prior_mean=0.3)
    assert b.method == "uniform" and list(b.budgets) == [8, 8, 8]


def test_robust_moves_rollouts_to_hard_prompts_when_confident() -> None:
    a = allocate_robust([0.05, 0.5, 0.5, 0.5], 32, max_budget=64, posterior=Posterior(evidence=200.0))
    assert a.method == "greedy" and a.budgets[0] > 8 and a.expected_informative > a.uniform_expected_informative


def test_fit_posterior_recovers_evidence_and_shrink() -> None:
    rng = np.random.default_rng(3)
    m = rng.uniform(0.1, 0.9, 4000)
    true_p = rng.beta(10 * m, 10 * (1 - m))
    rates = rng.binomial(10, true_p) / 10
    fit = fit_posterior(m, rates, 10)
    assert fit.shrink == 0.0 and 6.0 < fit.evidence < 16.0
    noise = fit_posterior(rng.random(4000), rates, 10)  # predictions unrelated to the outcomes
    assert noise.shrink == 1.0


@pytest.mark.parametrize("p, total, kwargs, message", [
    ([], 4, {}, "non-empty"),
    ([[0.5]], 4, {}, "non-empty 1-D"),
    ([0.5, 1.5], 4, {}, r"in \[0, 1\]"),
    ([0.5, float("nan")], 4, {}, "finite"),
    ([0.5, 0.5], 3, {}, r"total must be in \[4, 256\]"),
    ([0.5, 0.5], 257, {}, r"total must be in \[4, 256\]"),
    ([0.5], 4, {"min_budget": 4, "max_budget": 3}, "below min_budget"),
    ([0.5], 4.0, {}, "total must be an integer"),
    ([0.5], True, {"min_budget": 1}, "total must be an integer"),
])
def test_bad_input(p: list, total: int, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        allocate(p, total, **kwargs)
    with pytest.raises(ValueError, match=message):
        allocate_robust(p, total, **kwargs)


def test_bad_posterior() -> None:
    for post in (Posterior(0.0), Posterior(float("inf")), Posterior(2.0, shrink=1.5)):
        with pytest.raises(ValueError, match="posterior evidence"):
            allocate_robust([0.5], 4, posterior=post)
    with pytest.raises(ValueError, match="prior_mean"):
        allocate_robust([0.5], 4, prior_mean=2.0)


@pytest.mark.parametrize("p, total, lo, hi", cases(2, 80))
@pytest.mark.parametrize("evidence", [None, 0.3, 20.0])
def test_threshold_search_is_exact_by_brute_force(monkeypatch, p: np.ndarray, total: int, lo: int, hi: int,
                                                  evidence: float | None) -> None:
    """The path for large budgets (no gain table: every case forced onto it) is as exact."""
    import valuemodel.allocate as module

    monkeypatch.setattr(module, "TABLE_CELLS", 0)
    if evidence is None:
        b = allocate(p, total, min_budget=lo, max_budget=hi)
        best = brute_force(p, total, lo, hi)
    else:
        a = allocate_robust(p, total, min_budget=lo, max_budget=hi, posterior=Posterior(evidence))
        b, best = a.budgets, brute_force(p, total, lo, hi, evidence)
    assert int(b.sum()) == total and b.min() >= lo and b.max() <= hi
    assert informative(p, b, evidence) == pytest.approx(best, abs=1e-9)


def test_memory_is_linear_in_prompts_not_in_the_budget() -> None:
    import tracemalloc

    tracemalloc.start()
    try:
        a = allocate_robust([0.3, 0.9, 0.5], 10**9, min_budget=2, max_budget=10**9)
        b = allocate([0.3, 0.9, 0.5], 10**9, min_budget=2, max_budget=10**9)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert int(a.budgets.sum()) == int(b.sum()) == 10**9
    assert peak < 1_000_000  # bytes: the gain table would need 3 x 10^9 cells
