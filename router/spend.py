"""The spend controller: a policy's threshold moved on realised cost so that spend holds a target.

Under bandit feedback a fixed threshold lets a stream's cost swing far from what it was set for
(profiles move, and with them which candidates clear). A policy may instead set a target:

- ``target_cost_share``: the realised cost as a share of what always using the policy's
  strongest candidate (its ``fallback``) would have cost on the same requests, or
- ``target_usd_per_1k``: USD per 1,000 answered requests.

After each answered request :meth:`SpendController.observe` takes its cost (and what the strongest
candidate would have cost); the realised figure is an exponentially weighted mean over about
``window`` requests, and the threshold moves against the relative error (integral control):

    threshold <- clip(threshold - gain * (realised / target - 1), low, high)

Spending too much lowers the threshold (cheaper candidates clear it); too little raises it. The
class is pure (no clock, no I/O); the decision row records the threshold it applied.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SpendController:
    target_share: float | None = None  # of always using the strongest candidate, in (0, 1]
    target_usd_per_1k: float | None = None
    threshold: float = 0.5  # the starting threshold (the policy's)
    low: float = 0.0
    high: float = 1.0
    gain: float = 0.02
    window: int = 100  # requests the realised cost averages over (EWMA span)
    _cost: float = field(default=0.0, repr=False)
    _strongest: float = field(default=0.0, repr=False)
    _seen: int = field(default=0, repr=False)

    def __post_init__(self) -> None:
        if (self.target_share is None) == (self.target_usd_per_1k is None):
            raise ValueError("set exactly one of target_share and target_usd_per_1k")
        if self.target_share is not None and not 0 < self.target_share <= 1:
            raise ValueError(f"target_share must be in (0, 1], got {self.target_share}")
        if self.target_usd_per_1k is not None and not self.target_usd_per_1k > 0:
            raise ValueError(f"target_usd_per_1k must be > 0, got {self.target_usd_per_1k}")
        if not 0 <= self.low <= self.high <= 1:
            raise ValueError(f"need 0 <= low <= high <= 1, got {self.low}, {self.high}")
        self.threshold = min(max(self.threshold, self.low), self.high)

    @property
    def realised(self) -> float | None:
        """The realised figure the target is about (a share, or USD per 1k); None before any request."""
        if not self._seen:
            return None
        if self.target_share is not None:
            return self._cost / self._strongest if self._strongest > 0 else None
        return 1000.0 * self._cost

    def observe(self, *, cost: float, strongest_cost: float = 0.0) -> float:
        """One answered request's cost (USD) and the strongest candidate's for it; returns the
        threshold to use next."""
        alpha = 2.0 / (self.window + 1)
        w = max(alpha, 1.0 / (self._seen + 1))  # plain mean until the window fills
        self._cost += w * (cost - self._cost)
        self._strongest += w * (strongest_cost - self._strongest)
        self._seen += 1
        realised = self.realised
        if realised is not None:
            target = self.target_share if self.target_share is not None else self.target_usd_per_1k
            assert target is not None
            error = max(min(realised / target - 1.0, 4.0), -1.0)
            self.threshold = min(max(self.threshold - self.gain * error, self.low), self.high)
        return self.threshold
