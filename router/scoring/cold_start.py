"""A candidate without a profile: its cold-start P (pure functions).

A candidate with no profile rows has no V0 state. Instead of P = 0 (only ever the fallback,
never tried) it gets a prior from its *price tier*: the P that V0 gives, for this
prompt, to the profiled candidate whose price is nearest its own (log price), which assumes a
model priced like another answers like it. Its first judged grades (shadow or judge) pull the
prior towards their mean, as if the price prior were ``PRIOR_WEIGHT`` grades:

    prior = (PRIOR_WEIGHT * p_tier + sum(grades)) / (PRIOR_WEIGHT + len(grades))

Once the candidate has profile rows, V0's prediction from them takes over linearly
(:func:`blend_cold_start`): with n < MIN_ROWS rows, P = prior + (n / MIN_ROWS) (P_v0 - prior);
from MIN_ROWS rows on, V0's P alone. :func:`cold_start_scores` applies this to one prompt's
scores (candidates with at least MIN_ROWS rows are the "profiled" ones the price tier reads).

The gateway (router/plan.py ``cold_start``) applies the prior to candidates without a profile
state; ``v0-gateway bench online`` applies the whole rule, with the grades and the handoff.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

PRIOR_WEIGHT = 4.0  # the price prior counts as this many grades
MIN_ROWS = 32  # from this many profile rows on, V0's prediction alone


def price_tier_p(candidate: str, prices: Mapping[str, float], profiled_p: Mapping[str, float]) -> float | None:
    """The P of the profiled candidate nearest ``candidate`` in log price (ties: the cheaper);
    None when no candidate is profiled. ``prices``: candidate -> expected cost (USD, > 0 or 0)."""
    if not profiled_p:
        return None
    own = _log_price(prices.get(candidate, 0.0))
    nearest = min(profiled_p, key=lambda c: (abs(_log_price(prices.get(c, 0.0)) - own), prices.get(c, 0.0), c))
    return float(profiled_p[nearest])


def cold_start_prior(candidate: str, prices: Mapping[str, float], profiled_p: Mapping[str, float],
                     grades: Sequence[float] = (), *, prior_weight: float = PRIOR_WEIGHT,
                     default: float = 0.0) -> float:
    """P(success) for a candidate without a profile (see the module docstring). ``profiled_p``:
    this prompt's P of the candidates that have profiles; ``grades``: the candidate's judged
    grades so far (oldest first). Without any profiled candidate and any grade: ``default``."""
    tier = price_tier_p(candidate, prices, profiled_p)
    if tier is None and not grades:
        return default
    if tier is None:
        return float(sum(grades) / len(grades))
    return float((prior_weight * tier + sum(grades)) / (prior_weight + len(grades)))


def blend_cold_start(p_v0: float, rows: int, prior: float, *, min_rows: int = MIN_ROWS) -> float:
    """V0's P from a profile of ``rows`` rows, moved towards the cold-start ``prior`` while the
    profile is small (rows = 0: the prior; rows >= min_rows: V0's P)."""
    w = min(max(rows, 0) / min_rows, 1.0)
    return float(prior + w * (p_v0 - prior))


def cold_start_scores(p_success: Mapping[str, float], rows: Mapping[str, int], prices: Mapping[str, float],
                      grades: Mapping[str, Sequence[float]], *, min_rows: int = MIN_ROWS) -> dict[str, float]:
    """One prompt's P per candidate with the cold start applied to every candidate that has
    fewer than ``min_rows`` profile rows (``rows``: candidate -> rows in its window; ``prices``:
    candidate -> expected cost; ``grades``: candidate -> its judged grades so far)."""
    profiled = {c: p for c, p in p_success.items() if rows.get(c, 0) >= min_rows}
    out = dict(p_success)
    for c, p in p_success.items():
        n = rows.get(c, 0)
        if n < min_rows:
            out[c] = blend_cold_start(p, n, cold_start_prior(c, prices, profiled, grades.get(c, ())),
                                      min_rows=min_rows)
    return out


def _log_price(usd: float) -> float:
    return math.log(max(usd, 1e-12))
