"""POST /v1/feedback {"decision_id", "score"}: grade an answered request.

The score (in [0, 1]) is stored on the decision row and, with the decision's routing text,
upserted into the profile of the model that answered: one profile row per decision, so grading
again updates it. A client key may grade only the decisions it made (403); V0_CLIENT_KEYS keys
and unauthenticated callers may grade only decisions made without an admin-created key.
A decision still in the writer's buffer is flushed first, so early feedback is not lost.

The policies file's ``feedback`` section bounds it: ``max_per_key_per_hour`` grades per key (429
``rate_limit_exceeded``, type ``feedback``, with retry-after), and ``trusted_keys``: a grade from
any other key is kept on its decision but joins no profile (``in_profile: false``), so it cannot
steer the routing of other tenants. Profile states are rebuilt coalesced (router/profiles/refresh.py).
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Request

from router.api.deps import AdmittedClientDep, DbDep, ProfilesDep, WriterDep, json_body
from router.api.openapi import request_body
from router.limits import LimitExceeded
from router.protocol import FeedbackRequest, FeedbackResponse, GatewayError
from router.store import crud

router = APIRouter(prefix="/v1")


@router.post("/feedback", openapi_extra=request_body(FeedbackRequest))
async def feedback(request: Request, identity: AdmittedClientDep, fb: Annotated[FeedbackRequest, json_body(FeedbackRequest)],
                   db: DbDep, writer: WriterDep, profiles: ProfilesDep) -> FeedbackResponse:
    spec = request.app.state.watcher.runtime.policies.spec.feedback
    try:  # before any database work
        await request.app.state.feedback_quota.take(f"{identity.kind}-{identity.key_id}", spec.max_per_key_per_hour)
    except LimitExceeded as exc:
        request.app.state.metrics.rate_limited.labels("feedback_" + exc.code).inc()
        err = GatewayError(429, str(exc), type=exc.kind, code=exc.code)
        err.headers = {"retry-after": str(exc.retry_after_s)}
        raise err from exc
    if not await writer.settle(fb.decision_id):
        raise GatewayError(503, "The decision is not written yet (database unreachable); retry later.",
                           type="service_unavailable", code="decision_pending")
    async with profiles.grade_slot:  # grades' database work one at a time (router/profiles/service.py)
        decision = await db(crud.get_decision, decision_id=fb.decision_id)
    if decision is None:
        raise GatewayError(404, f"Unknown decision {fb.decision_id!r}.", param="decision_id",
                           code="decision_not_found")
    if decision.client_key_id != identity.key_id:
        raise GatewayError(403, "This key may grade only the decisions it made.", param="decision_id",
                           type="permission_error", code="not_your_decision")
    if decision.answered_model is None or not decision.routing_text:
        raise GatewayError(409, f"Decision {fb.decision_id!r} has no answer to grade (status "
                           f"{decision.status!r}).", param="decision_id", code="decision_not_gradable")
    trusted = spec.trusts(identity.key_id, identity.kind)
    if trusted:
        change = await profiles.feedback(decision=decision, score=fb.score)
    else:
        change = await profiles.grade_only(decision=decision, score=fb.score)
    request.app.state.metrics.feedback.labels(change.model).inc()
    return FeedbackResponse(decision_id=decision.id, score=fb.score, model=change.model,
                            profile_version=change.version, in_profile=trusted)


class FeedbackGate:
    """ASGI middleware: at most ``limit`` POST /v1/feedback requests are handled at once; the rest
    wait on their connection before any parsing, validation or database work. A burst of grades
    then interleaves with chat requests on the event loop instead of queueing hundreds of request
    handlers ahead of them (bench/feedback_load.py)."""

    def __init__(self, app: Any, limit: int = 16) -> None:
        self.app, self.limit = app, limit
        self._slots: asyncio.Semaphore | None = None  # created on the serving loop

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("path") != "/v1/feedback":
            await self.app(scope, receive, send)
            return
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.limit)
        async with self._slots:
            await self.app(scope, receive, send)
