"""Admission and settlement: one :class:`Admission` per request (seam (a) of ``router/serving``).

``admission = await admit(ctx)`` runs before planning and the upstream call; it raises a 429
GatewayError when the key is past its limits (``rate_limit_exceeded`` with retry-after, or
``insufficient_quota``). ``admission.settle(tokens, cost_usd, status)`` runs exactly once when the
request ends, whatever the end: an answer (JSON or a finished stream), a stream closed early, an
upstream failure, or a refusal after admission (unknown model, bad parameter). Today it counts
the request with :meth:`KeyLimiter.admit` and the answer's tokens and cost with
:meth:`KeyLimiter.record`; a reservation (hold an estimate at admission, settle the actual) fits
behind the same two calls.
"""

from __future__ import annotations

import logging
from typing import Any

from router.keys import Identity
from router.limits import KeyLimiter, LimitExceeded
from router.protocol import GatewayError

logger = logging.getLogger(__name__)


class Admission:
    """One admitted request's hold on its key's limits, settled exactly once."""

    def __init__(self, limiter: KeyLimiter, identity: Identity) -> None:
        self.limiter, self.identity = limiter, identity
        self.settled: str | None = None  # the status it was settled with

    def settle(self, tokens: int, cost_usd: float, status: str) -> None:
        """The request ended with ``status`` having used ``tokens`` and ``cost_usd`` (0 when it
        failed before an answer). A second call is a bug: logged and ignored."""
        if self.settled is not None:
            logger.error("admission of key %s settled twice (%s, then %s)", self.identity.key_id,
                         self.settled, status)
            return
        self.settled = status
        self.limiter.record(self.identity.key_id, tokens, cost_usd)


async def admit(state: Any, identity: Identity) -> Admission:
    """Count one request against ``identity``'s key, or raise the 429 (nothing counted).
    ``state`` is the app's state (``limiter``, ``metrics``)."""
    limiter: KeyLimiter = state.limiter
    try:
        limiter.admit(identity.key_id)
    except LimitExceeded as exc:
        state.metrics.rate_limited.labels(exc.code).inc()
        err = GatewayError(429, str(exc), type=exc.kind, code=exc.code)
        if exc.retry_after_s is not None:
            err.headers = {"retry-after": str(exc.retry_after_s)}
        raise err from exc
    return Admission(limiter, identity)
