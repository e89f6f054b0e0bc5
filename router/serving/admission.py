"""Admission and settlement: one :class:`Admission` per request (seam (a) of ``router/serving``).

``admission = await admit(state, identity, ask)`` runs before planning and the upstream call: it
counts the request against its key's limits at once (one request for rpm, ``ask.tokens`` for tpm,
``ask.usd`` reserved against the budget: ``router/limits``), or raises the 429 GatewayError
(``rate_limit_exceeded`` with retry-after, or ``insufficient_quota``) with nothing counted.
``admission.settle(tokens, cost_usd, status)`` runs exactly once when the request ends, whatever
the end: an answer (JSON or a finished stream), a stream closed early (charged what the upstream
produced), an upstream failure, or a refusal after admission (unknown model, bad parameter); the
request's estimate and reservation are replaced by what it used. :func:`chat_ask` is a chat
request's ask (its prompt tokens are counted only when the key has limits).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from router.keys import Identity
from router.limits import Ask, Hold, KeyLimiter, LimitExceeded
from router.limits.estimate import ask_for
from router.policies import Policies
from router.protocol import ChatCompletionRequest, GatewayError

logger = logging.getLogger(__name__)


class Admission:
    """One admitted request's hold on its key's limits, settled exactly once."""

    def __init__(self, limiter: KeyLimiter, identity: Identity, hold: Hold | None, ask: Ask) -> None:
        self.limiter, self.identity, self.hold, self.ask = limiter, identity, hold, ask
        self.settled: str | None = None  # the status it was settled with

    def settle(self, tokens: int, cost_usd: float, status: str, row: str | None = None) -> None:
        """The request ended with ``status`` having used ``tokens`` and ``cost_usd`` (0 when it
        failed before an answer); ``row``: its decision row's id, when one was written. A second
        call is a bug: logged and ignored."""
        if self.settled is not None:
            logger.error("admission of key %s settled twice (%s, then %s)", self.identity.key_id,
                         self.settled, status)
            return
        self.settled = status
        self.limiter.settle(self.hold, tokens=tokens, usd=cost_usd, row=row)


async def chat_ask(state: Any, identity: Identity, req: ChatCompletionRequest, policies: Policies) -> Ask:
    """What ``req`` may use (``router/limits/estimate.py``); nothing to count for a key without limits."""
    if not state.limiter.limited(identity.key_id):
        return Ask()
    return await asyncio.to_thread(ask_for, req, policies)


async def admit(state: Any, identity: Identity, ask: Ask = Ask()) -> Admission:
    """Count one request holding ``ask`` against ``identity``'s key, or raise the 429 (nothing
    counted). ``state`` is the app's state (``limiter``, ``metrics``)."""
    limiter: KeyLimiter = state.limiter
    try:
        hold = await limiter.admit(identity.key_id, ask)
    except LimitExceeded as exc:
        state.metrics.rate_limited.labels(exc.code).inc()
        err = GatewayError(429, str(exc), type=exc.kind, code=exc.code)
        if exc.retry_after_s is not None:
            err.headers = {"retry-after": str(exc.retry_after_s)}
        raise err from exc
    return Admission(limiter, identity, hold, ask)
