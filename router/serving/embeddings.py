"""Embeddings through the serving path: never routed, one named embedding candidate (or an alias
of one), with admission and settlement, the upstream's typed result (usage, cost), a decision row
(surface ``embeddings``, reason ``unrouted``) and metrics like every other call."""

from __future__ import annotations

import time
from typing import Any

from router.plan import Plan, new_decision_id
from router.protocol import GatewayError
from router.serving.admission import admit
from router.serving.path import Context, Served, decision_headers
from router.serving.record import CallRecord, Sent


def embedding_candidate(ctx: Context, model: str, extras: list[str]) -> str:
    """The candidate a request names (aliases resolved): 404 unknown, 400 not an embedding
    candidate or a field it does not allow."""
    policies = ctx.runtime.policies
    name = policies.resolve_alias(model)
    cand = policies.candidates.get(name)
    if cand is None:
        raise GatewayError(404, f"The embedding model '{model}' does not exist (GET /v1/models).", param="model",
                           code="model_not_found")
    if cand.kind != "embedding":
        raise GatewayError(400, f"The model '{model}' is not an embedding candidate (kind: embedding in the "
                           "policies file); embeddings are never routed.", param="model", code="wrong_model_kind")
    for field in extras:
        if field not in cand.extra_params:
            raise GatewayError(400, f"Unsupported parameter {field!r}: not an OpenAI embeddings parameter, and not "
                               f"allowed for {name!r} (extra_params in the policies file).", param=field,
                               code="unsupported_parameter")
    return name


async def serve_embeddings(ctx: Context, *, model: str, params: dict[str, Any], extras: list[str]) -> Served:
    """``params``: the OpenAI embeddings parameters to forward (input, encoding_format, ...)."""
    started = time.perf_counter()
    admission = await admit(ctx.state, ctx.identity)
    try:
        candidate = embedding_candidate(ctx, model, extras)
    except GatewayError:
        admission.settle(0, 0.0, "refused")
        raise
    plan = Plan(new_decision_id(), model, None, candidate, "", reason="unrouted")
    record = CallRecord(ctx.state, ctx.writer, plan, Sent("embeddings", [], params), admission, ctx.identity, started)
    record.upstream_started = time.perf_counter()
    try:
        reply = await ctx.runtime.upstream.embed(candidate=candidate, params=params)
    except GatewayError as err:
        record.failed(err)
        raise
    except BaseException:
        admission.settle(0, 0.0, "error")
        raise
    record.succeeded(reply.result, sinks=False)
    return Served(plan, reply.body, reply.result, decision_headers(plan, candidate))
