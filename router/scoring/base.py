"""The scorer interface the router calls, and what a scorer returns."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class ScoreResult:
    p_success: dict[str, float]  # candidate -> P(success) in [0, 1]
    profile_versions: dict[str, int] = field(default_factory=dict)  # candidate -> version used
    # Set when the scores are not real (e.g. "profiles_unavailable": no profile was ever read);
    # the decision row's reason and the x-v0-fallback-reason header carry it.
    fallback_reason: str | None = None


class Scorer(Protocol):
    def score(self, text: str, candidates: Sequence[str], *, profile_size: int = 256) -> ScoreResult: ...
