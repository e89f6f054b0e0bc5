"""The stand-in scorer (``V0_SCORER=stand-in``): a fixed, deterministic placeholder for tests and
demos (pricier candidate -> higher P; longer prompt -> slightly lower P), with no predictive value."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from router.policies import Policies
from router.scoring.base import OneByOne, ScoreResult


class StandInScorer(OneByOne):
    """Placeholder scorer: P rises with a candidate's price rank from ``low`` to ``high``
    and drops by up to ``length_penalty`` for prompts up to ``long_chars`` characters."""

    def __init__(self, price_rank: Mapping[str, float], *, low: float = 0.6, high: float = 0.9,
                 length_penalty: float = 0.1, long_chars: int = 4000) -> None:
        self._rank = dict(price_rank)  # candidate -> rank in [0, 1] (0 = cheapest)
        self._low, self._high = low, high
        self._penalty, self._long = length_penalty, long_chars

    def score(self, text: str, candidates: Sequence[str], *, profile_size: int = 256) -> ScoreResult:
        drop = self._penalty * min(1.0, len(text) / self._long)
        return ScoreResult({c: round(self._low + (self._high - self._low) * self._rank.get(c, 0.0) - drop, 6)
                            for c in candidates})


def stand_in_scorer(policies: Policies) -> StandInScorer:
    """Rank candidates by price (equal prices, equal rank) for the placeholder scorer."""
    per_token = {n: p.input_per_token + p.output_per_token for n, p in policies.prices.items()}
    levels = sorted(set(per_token.values()))
    span = max(len(levels) - 1, 1)
    return StandInScorer({n: levels.index(v) / span for n, v in per_token.items()})
