"""Scoring: which text is scored, and the Scorer interface the router calls.

Routing text: the system/developer messages plus the last user message, joined by blank
lines (text parts only). V0's backbone reads at most its window (128 tokens for the shipped
weights) and keeps the *tail*, i.e. the end of the last user message.

The gateway's scorer is :class:`router.profiles.scorer.V0Scorer` (V0 over stored profiles).
:class:`StandInScorer` (``V0_SCORER=stand-in``) is a fixed, deterministic placeholder (pricier
candidate -> higher P; longer prompt -> slightly lower P) with no predictive value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from router.protocol import ChatMessage


@dataclass(frozen=True)
class ScoreResult:
    p_success: dict[str, float]  # candidate -> P(success) in [0, 1]
    profile_versions: dict[str, int] = field(default_factory=dict)  # candidate -> version used
    # Set when the scores are not real (e.g. "profiles_unavailable": no profile was ever read);
    # the decision row's reason and the x-v0-fallback-reason header carry it.
    fallback_reason: str | None = None


class Scorer(Protocol):
    def score(self, text: str, candidates: Sequence[str], *, profile_size: int = 256) -> ScoreResult: ...


def message_text(message: ChatMessage) -> str:
    if isinstance(message.content, str):
        return message.content
    if isinstance(message.content, list):
        return "\n".join(str(p.get("text", "")) for p in message.content if p.get("type") == "text")
    return ""


def routing_text(messages: Sequence[ChatMessage]) -> str:
    """System/developer prompts plus the last user message, in that order."""
    system = [message_text(m) for m in messages if m.role in ("system", "developer")]
    last_user = next((message_text(m) for m in reversed(messages) if m.role == "user"), "")
    return "\n\n".join(t for t in [*system, last_user] if t.strip())


class StandInScorer:
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
