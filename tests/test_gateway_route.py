"""POST /v1/route (the decision without calling a model) and the per-request threshold
(header x-v0-threshold, body field v0_threshold)."""

from __future__ import annotations

import httpx
import pytest

from gateway_support import OK_IN, OK_OUT, STRONG_IN, STRONG_OUT, count_decisions, start_gateway, wait_for_decision
from profiles_support import client

MESSAGES = [{"role": "user", "content": "hello"}]


@pytest.fixture
def gateway(serve_app, tmp_path, database_url, upstream):
    return start_gateway(serve_app, tmp_path, database_url, upstream.base_url)


def post_route(served, body=None, **headers) -> httpx.Response:
    return httpx.post(served.base_url + "/v1/route", json=body or {"model": "auto", "messages": MESSAGES},
                      headers=headers, timeout=10)


def test_route_returns_the_decision_without_calling_a_model(gateway, database_url, upstream):
    requests_before, rows_before = len(upstream.requests), count_decisions(database_url)
    r = post_route(gateway)
    assert r.status_code == 200
    body = r.json()
    tokens = body.pop("prompt_tokens")
    assert tokens > 0
    cost = {"ok": tokens * OK_IN / 1e6 + 256 * OK_OUT / 1e6, "strong": tokens * STRONG_IN / 1e6 + 256 * STRONG_OUT / 1e6}
    assert body == {
        "object": "route.decision", "requested_model": "auto", "policy": "balanced", "strategy": "threshold",
        "threshold": 0.7, "chosen": "ok", "reason": "cheapest_above_threshold", "fallbacks": ["strong"],
        "candidates": [
            {"name": "ok", "p_success": 0.8, "expected_cost": pytest.approx(cost["ok"]), "clears_threshold": True,
             "profile_version": 1},
            {"name": "strong", "p_success": 0.95, "expected_cost": pytest.approx(cost["strong"]),
             "clears_threshold": True, "profile_version": 1}]}
    assert len(upstream.requests) == requests_before
    assert count_decisions(database_url) == rows_before  # no decision row for /v1/route

    unrouted = post_route(gateway, {"model": "strong", "messages": MESSAGES}).json()
    assert (unrouted["policy"], unrouted["chosen"], unrouted["reason"], unrouted["candidates"]) == \
        (None, "strong", "unrouted", [])
    assert post_route(gateway, {"model": "nope", "messages": MESSAGES}).json()["error"]["code"] == "model_not_found"


def test_threshold_per_request(gateway, database_url, upstream):
    # Header: 0.9 -> only strong (0.95) clears.
    r = post_route(gateway, **{"x-v0-threshold": "0.9"}).json()
    assert (r["threshold"], r["chosen"]) == (0.9, "strong")
    # Body field (extra_body in the SDK): 0.99 -> none clears, fallback.
    r = post_route(gateway, {"model": "auto", "messages": MESSAGES, "v0_threshold": 0.99}).json()
    assert (r["threshold"], r["chosen"], r["reason"]) == (0.99, "strong", "fallback_none_above_threshold")
    # The header wins over the body.
    r = post_route(gateway, {"model": "auto", "messages": MESSAGES, "v0_threshold": 0.99},
                   **{"x-v0-threshold": "0.5"}).json()
    assert (r["threshold"], r["chosen"]) == (0.5, "ok")

    raw = client(gateway).chat.completions.with_raw_response.create(
        model="auto", messages=MESSAGES, extra_body={"v0_threshold": 0.9})
    assert raw.headers["x-v0-model"] == "strong"
    assert "v0_threshold" not in upstream.requests[-1]  # a V0 field, never forwarded
    row = wait_for_decision(database_url, raw.headers["x-v0-decision-id"])
    assert (row.threshold, row.chosen_model) == (0.9, "strong")


@pytest.mark.parametrize("header,body,param,message", [
    ("abc", None, "x-v0-threshold", "x-v0-threshold: must be a number in [0, 1], got 'abc'."),
    ("1.5", None, "x-v0-threshold", "x-v0-threshold: must be a number in [0, 1], got '1.5'."),
    ("nan", None, "x-v0-threshold", "x-v0-threshold: must be a number in [0, 1], got 'nan'."),
    (None, 2, "v0_threshold", "v0_threshold: Input should be less than or equal to 1"),
    (None, "x", "v0_threshold", "v0_threshold: Input should be a valid number, unable to parse string as a number"),
])
def test_threshold_out_of_range_is_400(gateway, database_url, header, body, param, message):
    rows = count_decisions(database_url)
    payload = {"model": "auto", "messages": MESSAGES, **({"v0_threshold": body} if body is not None else {})}
    for path in ("/v1/route", "/v1/chat/completions"):
        r = httpx.post(gateway.base_url + path, json=payload, headers={"x-v0-threshold": header} if header else {})
        assert r.status_code == 400
        assert r.json()["error"] == {"message": message, "type": "invalid_request_error", "param": param,
                                     "code": "invalid_value"}
    assert count_decisions(database_url) == rows


def test_debug_timing_header(serve_app, tmp_path, database_url, upstream):
    served = start_gateway(serve_app, tmp_path, database_url, upstream.base_url, debug_timing=True)
    raw = client(served).chat.completions.with_raw_response.create(model="auto", messages=MESSAGES)
    assert 0 < float(raw.headers["x-v0-overhead-ms"]) < 10_000


@pytest.mark.parametrize("surface, body", [
    ("responses", {"model": "router/balanced", "input": "Say hi", "instructions": "be brief"}),
    ("messages", {"model": "router/balanced", "max_tokens": 8, "system": "be brief",
                  "messages": [{"role": "user", "content": [{"type": "text", "text": "Say hi"}]}]}),
])
def test_route_dry_runs_responses_and_messages_bodies(gateway, surface, body):
    chat = {"model": "router/balanced", "messages": [{"role": "system", "content": "be brief"},
                                                     {"role": "user", "content": "Say hi"}]}
    want = httpx.post(gateway.base_url + "/v1/route", json=chat).json()
    got = httpx.post(gateway.base_url + f"/v1/route?surface={surface}", json=body)
    assert got.status_code == 200 and got.json() == want
    bad = httpx.post(gateway.base_url + "/v1/route?surface=carrier-pigeon", json=body)
    assert (bad.status_code, bad.json()["error"]["param"]) == (400, "query.surface")
