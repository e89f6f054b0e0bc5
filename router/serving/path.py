"""The serving path: admit -> plan -> upstream call -> typed result -> decision row, metrics,
settlement, answer sinks. Every surface calls :func:`serve` with a chat request it translated
from its wire format, and translates back what it gets: :class:`Served` (a JSON answer) or
:class:`ServedStream` (chunks)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from router.keys import Identity
from router.plan import Plan
from router.protocol import ChatCompletionRequest, GatewayError
from router.runtime import Runtime
from router.scoring.guard import ScoringGuard
from router.serving.admission import admit, chat_ask
from router.serving.affinity import plan_affine
from router.serving.record import CallRecord, Sent
from router.settings import Settings
from router.upstream import UpstreamResult, UpstreamStream


@dataclass(frozen=True)
class Context:
    """What serving one request needs, read from the app once per request."""

    state: Any  # the app's state: limiter, metrics, explore_rng, answer_sinks
    runtime: Runtime
    guard: ScoringGuard
    writer: Any  # DecisionWriter (``submit``)
    settings: Settings
    identity: Identity
    received: float | None = None  # perf_counter at receipt (V0_DEBUG_TIMING)
    disconnected: Callable[[], Awaitable[bool]] | None = None  # whether the client has gone away
    session: str | None = None  # the x-v0-session header (conversation affinity)


@dataclass(frozen=True)
class Served:
    plan: Plan
    body: dict[str, Any]  # the chat.completion object, ``model`` = the answering candidate
    result: UpstreamResult
    headers: dict[str, str]


class ServedStream:
    """A streamed answer. Iterate ``chunks()`` (chat.completion.chunk dicts, usage included);
    it raises GatewayError when the upstream fails midway (recorded as ``stream_error``). Call
    ``close()`` when the response ends, however: a stream not read to its end is recorded as
    ``client_closed``."""

    def __init__(self, plan: Plan, record: CallRecord, upstream: UpstreamStream, headers: dict[str, str]) -> None:
        self.plan, self.headers = plan, headers
        self._record, self._upstream = record, upstream

    async def chunks(self) -> AsyncIterator[dict[str, Any]]:
        try:
            async for data in self._upstream.chunks():
                yield data
        except GatewayError as err:
            self._record.failed(err, status="stream_error", answered=self._upstream.answered, http_status=200)
            raise
        self._record.succeeded(self._upstream.result())

    def result(self) -> UpstreamResult:
        return self._upstream.result()

    def close(self) -> None:
        if not self._record.done:  # the client went away: charged what the upstream produced
            self._record.closed(self._upstream.result(), self._upstream.cost_of)


async def serve(ctx: Context, req: ChatCompletionRequest, *, surface: str,
                threshold: float | None = None) -> Served | ServedStream:
    """Serve one request; raises GatewayError (OpenAI's envelope; surfaces re-shape it)."""
    started = time.perf_counter()
    admission = await admit(ctx.state, ctx.identity, await chat_ask(ctx.state, ctx.identity, req, ctx.runtime.policies))
    metrics = ctx.state.metrics
    try:
        draw = ctx.state.explore_rng.random()  # exploration's random input (policy ``explore``)
        plan, conversation, affinity = await plan_affine(ctx, req, threshold=threshold, draw=draw,
                                                         session=ctx.session)
    except BaseException as exc:  # refused after admission (404, 400) or cancelled
        admission.settle(0, 0.0, "refused" if isinstance(exc, GatewayError) else "client_closed")
        raise
    metrics.decision_seconds.observe(time.perf_counter() - started)
    if plan.fallback_reason:
        metrics.scorer_fallbacks.labels(plan.fallback_reason).inc()
    sent = Sent.chat(surface, req, plan)
    record = CallRecord(ctx.state, ctx.writer, plan, sent, admission, ctx.identity, started, conversation,
                        runtime=ctx.runtime)
    extra: dict[str, str] = {"x-v0-affinity": affinity} if affinity else {}
    if ctx.settings.debug_timing:  # request receipt (timing middleware) -> the upstream call
        received = ctx.received if ctx.received is not None else started
        extra["x-v0-overhead-ms"] = f"{(time.perf_counter() - received) * 1000:.3f}"
    upstream = ctx.runtime.upstream
    record.upstream_started = time.perf_counter()
    call = dict(candidate=plan.chosen, messages=sent.messages, params=sent.params, fallbacks=plan.fallbacks)
    try:
        if req.stream:
            stream = await upstream.chat_stream(**call)
            return ServedStream(plan, record, stream, {**decision_headers(plan, stream.answered), **extra})
        reply = await upstream.chat(**call)
    except GatewayError as err:
        record.failed(err)
        raise with_request_id(err, plan.decision_id)
    except BaseException as exc:  # the client went away before the answer, or a bug: no row
        admission.settle(0, 0.0, "client_closed" if isinstance(exc, asyncio.CancelledError) else "error")
        raise
    if ctx.disconnected is not None and await ctx.disconnected():  # the answer has no one to go to
        result = reply.result
        record.closed(result, lambda p, c: upstream.cost(result.answered, p, c))
    else:
        record.succeeded(reply.result)
    return Served(plan, reply.body, reply.result, {**decision_headers(plan, reply.result.answered), **extra})


def with_request_id(err: GatewayError, decision_id: str) -> GatewayError:
    """A failed upstream call's error names its decision row (message and ``x-v0-decision-id``),
    so the client's report finds the row."""
    err.body.message = f"{err.body.message} (request id {decision_id})"
    err.headers = {**(err.headers or {}), "x-v0-decision-id": decision_id}
    return err


def decision_headers(plan: Plan, answered: str) -> dict[str, str]:
    """x-v0-p-success is the answering candidate's P (absent when it was not scored);
    x-v0-fallback-reason says why the scores were not real (e.g. ``profiles_unavailable``)."""
    headers = {"x-v0-model": answered, "x-v0-decision-id": plan.decision_id}
    if plan.fallback_reason:
        headers["x-v0-fallback-reason"] = plan.fallback_reason
    p = next((e.p_success for e in plan.estimates if e.name == answered), None)
    if p is not None:
        headers["x-v0-p-success"] = f"{p:.4f}"
    return headers
