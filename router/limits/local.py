"""This replica's counters: exact for one replica; across replicas, shared through the decision log.

Each key's usage is what the database said at the last read (the last minute's requests and tokens,
the budget period's spend: every replica writes the decision log), plus this replica's requests in
flight (counted at admission: one request, its token estimate, its reserved cost) and the ones it
settled whose rows that read did not see yet (a read first asks which of them are written, then
reads the sums: a row written in between counts twice until the next read, never zero times).
So one replica is exact; N replicas without Redis each admit against the log plus their own
traffic, and together can exceed a limit by what the other replicas admitted since their last read
(about ``V0_PROFILE_POLL_S`` plus the writer's flush interval of traffic) and everything they have
in flight: up to N times the limit in a burst.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from router.limits.base import WINDOW_S, Ask, LimitExceeded, Limits, refusal


@dataclass
class _Key:
    requests: int = 0  # from the database at the last read
    tokens: int = 0
    spend: float = 0.0
    oldest: float | None = None  # epoch seconds of the oldest request the read counted
    inflight: dict[str, tuple[float, Ask]] = field(default_factory=dict)  # rid -> (admitted at, ask)
    # (t, tokens, usd, decision id or None) settled and not seen in the database yet
    settled: list[tuple[float, int, float, str | None]] = field(default_factory=list)


class LocalCounters:
    def __init__(self) -> None:
        self._keys: dict[int, _Key] = {}
        self._lock = threading.Lock()

    def unseen(self) -> set[str]:
        """Decision ids of settled requests whose rows the last read did not see."""
        with self._lock:
            return {s[3] for use in self._keys.values() for s in use.settled if s[3] is not None}

    def load(self, read: dict[int, tuple[int, int, float, float | None]], *, seen: set[str], now: float) -> None:
        """A database read: key -> (requests, tokens, spend, oldest), which counts the rows in
        ``seen`` (dropped here). Requests in flight and settled ones without a row (refused after
        admission: they count in the minute's window) are kept."""
        since = now - WINDOW_S
        with self._lock:
            keys = {}
            for key, (requests, tokens, spend, oldest) in read.items():
                old = self._keys.get(key, _Key())
                keys[key] = _Key(requests, tokens, spend, oldest, old.inflight,
                                 [s for s in old.settled if (s[3] not in seen if s[3] else s[0] > since)])
            self._keys = keys

    def admit(self, key: int, lim: Limits, rid: str, ask: Ask, now: float) -> None:
        with self._lock:
            use = self._keys.setdefault(key, _Key())
            since = now - WINDOW_S
            live = [(t, a) for t, a in use.inflight.values() if t > since]
            recent = [s for s in use.settled if s[0] > since]
            times = [t for t, _ in live] + [s[0] for s in recent] + ([use.oldest] if use.oldest else [])
            refused = refusal(lim, requests=use.requests + len(live) + len(recent),
                              tokens=use.tokens + sum(a.tokens for _, a in live) + sum(s[1] for s in recent),
                              spend=use.spend + sum(a.usd for _, a in use.inflight.values())
                              + sum(s[2] for s in use.settled),
                              oldest=min(times, default=None), now=now)
            if refused is not None:
                raise refused
            use.inflight[rid] = (now, ask)

    def settle(self, key: int, rid: str, tokens: int, usd: float, now: float, row: str | None) -> None:
        with self._lock:
            use = self._keys.setdefault(key, _Key())
            use.inflight.pop(rid, None)
            use.settled.append((now, tokens, usd, row))

    def spend(self, key: int) -> float:
        """Settled and reserved spend of ``key`` as this replica counts it."""
        with self._lock:
            use = self._keys.get(key, _Key())
            return use.spend + sum(a.usd for _, a in use.inflight.values()) + sum(s[2] for s in use.settled)


__all__ = ["LimitExceeded", "LocalCounters"]
