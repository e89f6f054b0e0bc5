"""Conversation affinity: a conversation keeps the model its first routed turn chose.

The conversation key, in order: the ``x-v0-session`` header or ``metadata.session_id`` (any
surface); otherwise a hash of the conversation's opening (the system prompt and the first user
message, normalised as chat messages, so the three surfaces agree); both with the client key and
the policy. A request
with an explicit session is looked up from its first turn; an opening hash only once the
conversation has history (an assistant or tool message), so single prompts route afresh.

While the last message is a tool result the model never changes. A new user turn stays too,
unless the policy says ``affinity: {escalate: up}``: then the turn is scored, and it moves to the
decision's candidate only when the current one no longer clears the threshold and V0 rates the
new one higher (never to a weaker one). The map is the decision log itself (each row records its
conversation key; the latest answered row within ``ttl_s`` wins), so it works across replicas and
survives restarts; a small in-process map covers the writer's flush interval on this replica.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, replace
from types import SimpleNamespace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import Session

from router.plan import Plan, Target, new_decision_id, plan_request, resolve
from router.protocol import ChatCompletionRequest
from router.scoring import message_text
from router.store import affinity_crud
from router.store.executor import run_db

log = logging.getLogger(__name__)
SESSION_HEADER = "x-v0-session"
LOCAL_MAX = 100_000  # conversations remembered in process


@dataclass(frozen=True)
class Conversation:
    key: str
    explicit: bool  # a session id the client sent (looked up from the first turn)
    history: bool  # an assistant or tool message is present
    tool_turn: bool  # the last message is a tool result


def conversation_of(req: ChatCompletionRequest, key_id: int | None, session: str | None,
                    policy: str) -> Conversation:
    """The request's conversation: per client key and policy (another policy is another contract)."""
    session = session or (req.metadata or {}).get("session_id")
    roles = [m.role for m in req.messages]
    history = any(r in ("assistant", "tool", "function") for r in roles)
    tool_turn = roles[-1] in ("tool", "function")
    digest = hashlib.sha256(f"{key_id}\x1f{policy}\x1f".encode())
    if session:
        digest.update(b"s\x1f" + session.encode())
        return Conversation("s" + digest.hexdigest()[:40], True, history, tool_turn)
    for m in req.messages:  # the opening: everything up to and including the first user message
        digest.update(f"{'system' if m.role == 'developer' else m.role}\x1f{message_text(m).strip()}\x1e".encode())
        if m.role == "user":
            break
    return Conversation("h" + digest.hexdigest()[:40], False, history, tool_turn)


class AffinityMap:
    """This replica's recent answers (conversation -> candidate, time), and the decision log."""

    def __init__(self) -> None:
        self._local: OrderedDict[str, tuple[str, float]] = OrderedDict()

    def remember(self, key: str, model: str) -> None:
        self._local[key] = (model, time.time())
        self._local.move_to_end(key)
        while len(self._local) > LOCAL_MAX:
            self._local.popitem(last=False)

    async def lookup(self, state: Any, key: str, ttl_s: float) -> str | None:
        found = self._local.get(key)
        if found is not None and time.time() - found[1] <= ttl_s:
            return found[0]
        since = datetime.now(UTC) - timedelta(seconds=ttl_s)

        def read() -> str | None:
            with Session(state.engine) as session:
                return affinity_crud.last_answer(session=session, key=key, since=since)

        try:
            return await run_db(SimpleNamespace(state=state), read)  # run_db wants an app
        except Exception as exc:  # the database is away: route afresh (serving never waits on it)
            log.warning("affinity lookup failed, routing afresh: %s", exc)
            return None


def _pinned_plan(req: ChatCompletionRequest, target: Target, model: str) -> Plan:
    policy = target.policy
    fallbacks = (policy.fallback,) if policy.fallback != model else ()
    return Plan(new_decision_id(), req.model, target.policy_name, model, target.text, fallbacks,
                threshold=target.threshold, reason="affinity", strategy=policy.strategy, extra_params=target.extras)


async def plan_affine(ctx: Any, req: ChatCompletionRequest, *, threshold: float | None, draw: float | None,
                      session: str | None) -> tuple[Plan, str | None, str | None]:
    """The plan, the conversation key (None: no affinity) and ``hit`` / ``miss``."""
    target = resolve(req, ctx.runtime, threshold=threshold)
    if isinstance(target, Plan) or not target.policy.affinity.enabled:
        return await plan_request(req, ctx.runtime, ctx.guard, threshold=threshold, draw=draw), None, None
    spec = target.policy.affinity
    conv = conversation_of(req, ctx.identity.key_id, session, target.policy_name)
    pinned = None
    if conv.explicit or conv.history:
        pinned = await ctx.state.affinity.lookup(ctx.state, conv.key, spec.ttl_s)
        if pinned not in target.policy.candidates:
            pinned = None
    if pinned is not None and (conv.tool_turn or spec.escalate == "never"):
        return _pinned_plan(req, target, pinned), conv.key, "hit"
    plan = await plan_request(req, ctx.runtime, ctx.guard, threshold=threshold, draw=draw)
    if pinned is None or plan.chosen == pinned:
        return plan, conv.key, "hit" if pinned else "miss"
    p = {e.name: e.p_success for e in plan.estimates}
    current, chosen = p.get(pinned, 0.0), p.get(plan.chosen, 0.0)
    if plan.fallback_reason or current >= (plan.threshold or 0.0) or chosen <= current:  # stay: never down
        fallbacks = tuple(f for f in (pinned, *plan.fallbacks) if f != pinned)
        return replace(plan, chosen=pinned, p_success=current, reason="affinity", fallbacks=fallbacks,
                       propensity=None), conv.key, "hit"
    return replace(plan, reason="affinity_escalated"), conv.key, "miss"
