"""Which candidate learns from a shadow call, and what P a candidate without a profile gets.

Pure functions (no I/O, the random number generator is an argument), shared by the gateway and
``v0-gateway bench online``.

Shadow candidate. A shadow call answers the same prompt with one other candidate, off the
request path, so that candidate's profile gets a graded row the router would not have asked
for (under bandit feedback only the chosen model is ever graded; the others' profiles freeze).
The shipped rule, ``novel``, picks the other candidate whose profile is *farthest from this
prompt* (the highest :func:`~router.scoring.coverage.novelty`: its window holds the fewest
prompts like it), ties at random: a candidate with no profile has novelty 1 and gets rows first;
a kind of prompt missing from every seed profile sends its shadow calls to the candidates that
were never graded on it. The rules measured against it in ``bench online`` (docs/BENCHMARKS.md):
``least-profiled`` (the fewest rows overall, whatever the prompt) and ``uniform``. Shadow spend
is capped: with a budget (what the shadow call may spend, e.g. what is left of a share of the
answers' spend) only candidates whose expected cost fits are eligible.

Cold-start prior: router/scoring/cold_start.py (re-exported here).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence

from router.scoring.cold_start import (MIN_ROWS, PRIOR_WEIGHT, blend_cold_start, cold_start_prior,
                                       cold_start_scores, price_tier_p)

__all__ = ["MIN_ROWS", "PRIOR_WEIGHT", "SHADOW_RULES", "blend_cold_start", "cold_start_prior", "cold_start_scores",
           "novel_shadow_candidate", "price_tier_p", "shadow_candidate", "uniform_shadow_candidate"]


def shadow_candidate(chosen: str, candidates: Sequence[str], profile_rows: Mapping[str, int],
                     rng: random.Random, *, costs: Mapping[str, float] | None = None,
                     budget: float | None = None) -> str | None:
    """The candidate to shadow-call besides ``chosen``: the one with the fewest profile rows
    (missing from ``profile_rows`` = 0), ties at random; None when there is no other candidate.
    With ``costs`` (candidate -> expected USD of this call) and ``budget`` (USD the shadow call
    may spend), only candidates within the budget count (None when none is)."""
    others = _affordable([c for c in candidates if c != chosen], costs, budget)
    if not others:
        return None
    return _best(others, lambda c: -profile_rows.get(c, 0), rng)


def uniform_shadow_candidate(chosen: str, candidates: Sequence[str], profile_rows: Mapping[str, int],
                             rng: random.Random, *, costs: Mapping[str, float] | None = None,
                             budget: float | None = None) -> str | None:
    """The baseline rule (for measurement): any other candidate within the budget, uniformly."""
    others = _affordable([c for c in candidates if c != chosen], costs, budget)
    return rng.choice(others) if others else None


def _best(names: list[str], value: Callable[[str], float], rng: random.Random) -> str:
    """The name with the highest ``value``, ties at random (no draw when there is no tie)."""
    top = max(value(c) for c in names)
    tied = [c for c in names if value(c) >= top - 1e-9]
    return tied[0] if len(tied) == 1 else rng.choice(tied)


def _affordable(names: list[str], costs: Mapping[str, float] | None, budget: float | None) -> list[str]:
    if costs is None or budget is None:
        return names
    return [c for c in names if costs.get(c, 0.0) <= budget]


def novel_shadow_candidate(chosen: str, candidates: Sequence[str], profile_rows: Mapping[str, int],
                           rng: random.Random, *, costs: Mapping[str, float] | None = None,
                           budget: float | None = None, novelties: Mapping[str, float] | None = None) -> str | None:
    """The other candidate (within the budget) whose profile is farthest from this prompt
    (``novelties``: candidate -> :func:`~router.scoring.coverage.novelty`, missing = 1.0), ties
    at random; without novelties (no scorer), the least-profiled rule."""
    if novelties is None:
        return shadow_candidate(chosen, candidates, profile_rows, rng, costs=costs, budget=budget)
    others = _affordable([c for c in candidates if c != chosen], costs, budget)
    if not others:
        return None
    return _best(others, lambda c: novelties.get(c, 1.0), rng)


SHADOW_RULES = {"least-profiled": shadow_candidate, "uniform": uniform_shadow_candidate,
                "novel": novel_shadow_candidate}
