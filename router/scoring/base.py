"""The scorer interface the router calls, what a scorer returns, and scoring many at once."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScoreResult:
    p_success: dict[str, float]  # candidate -> P(success) in [0, 1]
    profile_versions: dict[str, int] = field(default_factory=dict)  # candidate -> version used
    # Set when the scores are not real (e.g. "profiles_unavailable": no profile was ever read);
    # the decision row's reason and the x-v0-fallback-reason header carry it.
    fallback_reason: str | None = None


class ScoreQuery(NamedTuple):
    text: str
    candidates: Sequence[str]
    profile_size: int = 256


class Scorer(Protocol):
    """What the router calls: one query, or many at once (one result per query, in order)."""

    def score(self, text: str, candidates: Sequence[str], *, profile_size: int = 256) -> ScoreResult: ...

    def score_many(self, queries: Sequence[ScoreQuery]) -> list[ScoreResult]: ...


class OneByOne:
    """``score_many`` for a scorer that scores one query at a time (stand-in, test scorers)."""

    def score(self, text: str, candidates: Sequence[str], *, profile_size: int = 256) -> ScoreResult:
        raise NotImplementedError

    def score_many(self, queries: Sequence[ScoreQuery]) -> list[ScoreResult]:
        return [self.score(q.text, q.candidates, profile_size=q.profile_size) for q in queries]


def score_batch(scorer: Scorer, queries: Sequence[ScoreQuery]) -> list[ScoreResult | Exception]:
    """Every query's result, or the exception that query raised: the scorer's ``score_many``
    (e.g. :class:`~router.scoring.v0.V0Scorer`: one encode call for all the texts); if that
    call raises, each query is scored alone, so one bad query fails only itself."""
    if len(queries) > 1:
        try:
            return list(scorer.score_many(queries))
        except Exception as exc:
            log.warning("batch of %d failed (%s); scoring its queries one at a time", len(queries), exc)
    out: list[ScoreResult | Exception] = []
    for q in queries:
        try:
            out.append(scorer.score(q.text, q.candidates, profile_size=q.profile_size))
        except Exception as exc:
            out.append(exc)
    return out
