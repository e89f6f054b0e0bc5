"""valuemodel.allocate.select: P(informative) under the Beta prior with each prompt's history,
the top of the pool by it, and bad input."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from valuemodel.allocate import Posterior, informative, p_informative, select


def test_p_informative_is_the_beta_expectation() -> None:
    # Beta(1, 1) (evidence 2, mean 0.5), G = 2: E[p^2] = 1/3, so 1 - 2/3 = 1/3 (as informative()).
    mean, inf = p_informative([0.5], 2, posterior=Posterior(2.0, 0.0))
    assert mean.tolist() == [0.5] and inf[0] == pytest.approx(1 / 3)
    assert inf[0] == pytest.approx(informative([0.5], [2], evidence=2.0))
    # History 3 of 3 on top of Beta(0.5, 0.5) (evidence 1): Beta(3.5, 0.5), mean 3.5 / 4.
    mean, inf = p_informative([0.5], 8, posterior=Posterior(1.0, 0.0), successes=[3], trials=[3])
    assert mean[0] == pytest.approx(0.875)
    ep = np.prod([(3.5 + j) / (4 + j) for j in range(8)])  # E[p^8]
    eq = np.prod([(0.5 + j) / (4 + j) for j in range(8)])  # E[(1-p)^8]
    assert inf[0] == pytest.approx(1 - ep - eq)
    # A very strong prior is the point estimate; shrink moves the mean toward prior_mean.
    _, inf = p_informative([0.3], 8, posterior=Posterior(1e6, 0.0))
    assert inf[0] == pytest.approx(1 - 0.3 ** 8 - 0.7 ** 8, abs=1e-4)
    mean, _ = p_informative([0.2], 8, posterior=Posterior(4.0, 0.5), prior_mean=0.6)
    assert mean[0] == pytest.approx(0.4)


def test_large_groups_match_the_product_formula() -> None:
    p, s, t = np.array([0.3, 0.5, 0.01]), np.array([2, 0, 10**6]), np.array([5, 0, 2 * 10**6])
    _, inf = p_informative(p, 4096, posterior=Posterior(1.5, 0.0), successes=s, trials=t)
    a, b = 1.5 * p + s, 1.5 * (1 - p) + t - s
    j = np.arange(4096)[None, :]
    ep = np.exp(np.log((a[:, None] + j) / (a[:, None] + b[:, None] + j)).sum(1))
    eq = np.exp(np.log((b[:, None] + j) / (a[:, None] + b[:, None] + j)).sum(1))
    assert inf == pytest.approx(1 - ep - eq, abs=1e-9)


def test_a_prompt_seen_three_times_follows_its_record() -> None:
    # V0 says 0.5 (the best bet) for both; history says one always fails, the other is mixed.
    s = select([0.5, 0.5, 0.9], 1, posterior=Posterior(1.0, 0.0), successes=[0, 2, 0], trials=[3, 3, 0])
    assert s.chosen.tolist() == [1]
    assert s.p_mean[0] == pytest.approx(0.5 / 4) and s.p_mean[1] == pytest.approx(2.5 / 4)
    assert s.p_mean[2] == pytest.approx(0.9)


@pytest.mark.parametrize("seed", range(20))
def test_the_chosen_batch_maximises_expected_informative_groups(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, k = int(rng.integers(2, 8)), None
    k = int(rng.integers(1, n + 1))
    p, trials = rng.random(n), rng.integers(0, 5, n)
    succ = np.array([rng.integers(0, t + 1) for t in trials])
    post = Posterior(float(rng.uniform(0.3, 10)), float(rng.uniform(0, 1)))
    s = select(p, k, group_size=int(rng.integers(2, 10)), posterior=post, prior_mean=0.4, successes=succ, trials=trials)
    best = max(sum(s.p_informative[list(c)]) for c in itertools.combinations(range(n), k))
    assert len(set(s.chosen.tolist())) == k
    assert s.p_informative[s.chosen].sum() == pytest.approx(best, abs=1e-12)
    assert np.all(np.diff(s.p_informative[s.chosen]) <= 0)


def test_ties_keep_pool_order() -> None:
    assert select([0.5] * 4, 2).chosen.tolist() == [0, 1]


@pytest.mark.parametrize("call, message", [
    (lambda: select([0.5, 0.4], 3), "batch_size"),
    (lambda: select([0.5, 0.4], 0), "batch_size"),
    (lambda: select([], 1), "non-empty"),
    (lambda: select([1.2], 1), "pass rates"),
    (lambda: select([0.5], 1, group_size=1), "group_size"),
    (lambda: select([0.5], 1, successes=[2], trials=[1]), "successes <= trials"),
    (lambda: select([0.5], 1, successes=[1, 1], trials=[1, 1]), "one finite"),
    (lambda: select([0.5], 1, posterior=Posterior(0.0, 0.0)), "evidence"),
])
def test_bad_input(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()
