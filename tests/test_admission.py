"""Admission counts what is in flight. With every upstream call held open (a gated loopback
upstream, no sleeps): rpm and tpm are counted at admission, a budget reserves each request's
worst-case cost and settles to the real one, and a stream the client closes after its first chunk
is charged (its row says client_closed with its cost)."""

from __future__ import annotations

import asyncio
import math

import httpx
import pytest

from bench.loopback import COMPLETION_TOKENS, PROMPT_TOKENS, LoopbackUpstream
from gateway_support import engine_for, start_gateway, wait_until
from router.limits.estimate import ask_for
from router.policies import parse_policies
from router.protocol import ChatCompletionRequest
from sqlalchemy import text

ADMIN = {"Authorization": "Bearer adm"}
IN_PRICE, OUT_PRICE = 1.0, 2.0  # USD per 1M tokens


def gated_policies(base: str) -> str:
    return ("default_policy: p\ncandidates:\n"
            f"  gated:\n    model: openai/fake-gate\n    api_base: {base}\n    input_price: {IN_PRICE}\n"
            f"    output_price: {OUT_PRICE}\n    timeout: 60\n    num_retries: 0\n    max_output_tokens: 1000\n"
            "policies:\n  p:\n    candidates: [gated]\n    threshold: 0.5\n    fallback: gated\n")


@pytest.fixture
def gated():
    with LoopbackUpstream() as up:
        yield up
        up.app.gate.set()


@pytest.fixture
def gateway(serve_app, tmp_path, fresh_database, gated):
    return start_gateway(serve_app, tmp_path, fresh_database, gated.base_url, admin_key="adm",
                         policies_text=gated_policies(gated.base_url), scores={"gated": 0.9})


def create_key(served, **limits) -> tuple[int, str]:
    r = httpx.post(served.base_url + "/admin/keys", json={"name": "team", **limits}, headers=ADMIN)
    assert r.status_code == 201, r.text
    return r.json()["id"], r.json()["key"]


def body(**extra) -> dict:
    return {"model": "router/p", "messages": [{"role": "user", "content": "hello"}], **extra}


async def burst(urls: list[str], key: str, n: int, up: LoopbackUpstream, **extra) -> list[int]:
    """``n`` concurrent chat requests (round robin over ``urls``); once every one is either refused
    or waiting at the upstream's gate, the gate opens. Returns the status codes."""
    refused = 0

    async def one(client: httpx.AsyncClient, i: int) -> int:
        nonlocal refused
        r = await client.post(urls[i % len(urls)] + "/v1/chat/completions", json=body(**extra),
                              headers={"Authorization": f"Bearer {key}"})
        if r.status_code == 429:
            refused += 1
        return r.status_code

    async with httpx.AsyncClient(timeout=120, limits=httpx.Limits(max_connections=n + 10)) as client:
        tasks = [asyncio.create_task(one(client, i)) for i in range(n)]
        while refused + len(up.requests_for("fake-gate")) < n:
            await asyncio.sleep(0.05)
            if all(t.done() for t in tasks):
                break
        up.app.gate.set()
        return await asyncio.gather(*tasks)


def rows(url: str, key_id: int) -> list[tuple]:
    with engine_for(url).connect() as conn:
        return list(conn.execute(text("SELECT status, cost_usd, prompt_tokens, completion_tokens FROM decision "
                                      "WHERE client_key_id = :k"), {"k": key_id}))


def test_rpm_counts_requests_in_flight(gateway, gated, fresh_database):
    key_id, key = create_key(gateway, rpm=10)
    codes = asyncio.run(burst([gateway.base_url], key, 200, gated))
    assert (codes.count(200), codes.count(429)) == (10, 190)
    assert len(gated.requests_for("fake-gate")) == 10
    wait_until(lambda: len(rows(fresh_database, key_id)) == 10)


def test_tpm_counts_each_request_estimate_at_admission(gateway, gated):
    policies = parse_policies(gated_policies(gated.base_url))
    ask = ask_for(ChatCompletionRequest.model_validate(body(max_tokens=100)), policies)
    assert ask.tokens > 100
    _, key = create_key(gateway, tpm=1000)
    codes = asyncio.run(burst([gateway.base_url], key, 200, gated, max_tokens=100))
    assert codes.count(200) == math.ceil(1000 / ask.tokens)


def test_budget_reserves_the_worst_case_and_settles_the_real_cost(gateway, gated, fresh_database):
    policies = parse_policies(gated_policies(gated.base_url))
    ask = ask_for(ChatCompletionRequest.model_validate(body(max_tokens=100)), policies)
    prompt = ask.tokens - 100
    assert ask.usd == pytest.approx((prompt * IN_PRICE + 100 * OUT_PRICE) / 1e6)
    budget = 4.5 * ask.usd  # worth 5 reservations
    key_id, key = create_key(gateway, max_budget_usd=budget)
    codes = asyncio.run(burst([gateway.base_url], key, 200, gated, max_tokens=100))
    assert (codes.count(200), codes.count(429)) == (5, 195)
    logged = wait_until(lambda: (r := rows(fresh_database, key_id)) and len(r) == 5 and r)
    real = (PROMPT_TOKENS * IN_PRICE + COMPLETION_TOKENS * OUT_PRICE) / 1e6
    assert [(s, round(c, 12)) for s, c, *_ in logged] == [("ok", round(real, 12))] * 5
    assert sum(c for _, c, *_ in logged) <= budget + ask.usd
    assert gateway.app.state.limiter.local.spend(key_id) == pytest.approx(5 * real)  # reservations settled


def test_without_max_tokens_the_candidate_cap_is_reserved(gateway, gated):
    policies = parse_policies(gated_policies(gated.base_url))
    ask = ask_for(ChatCompletionRequest.model_validate(body()), policies)
    assert ask.usd == pytest.approx(((ask.tokens - 256) * IN_PRICE + 1000 * OUT_PRICE) / 1e6)
    _, key = create_key(gateway, max_budget_usd=2.5 * ask.usd)
    codes = asyncio.run(burst([gateway.base_url], key, 50, gated))
    assert codes.count(200) == 3


async def close_after_first_chunk(url: str, key: str, n: int) -> list[str]:
    async def one(client: httpx.AsyncClient) -> str:
        async with client.stream("POST", url + "/v1/chat/completions", json=body(stream=True),
                                 headers={"Authorization": f"Bearer {key}"}) as r:
            async for line in r.aiter_lines():
                if '"content": "ech' in line:
                    return r.headers["x-v0-decision-id"]
        raise AssertionError("no content chunk")

    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=n + 10)) as client:
        return await asyncio.gather(*(one(client) for _ in range(n)))


def test_streams_closed_after_the_first_chunk_are_charged(gateway, gated, fresh_database):
    key_id, key = create_key(gateway, max_budget_usd=100.0)
    ids = asyncio.run(close_after_first_chunk(gateway.base_url, key, 50))
    assert len(set(ids)) == 50
    logged = wait_until(lambda: (r := rows(fresh_database, key_id)) and len(r) == 50 and r)
    assert {s for s, *_ in logged} == {"client_closed"}
    assert all(c is not None and c > 0 and p > 0 and k > 0 for _, c, p, k in logged)
    spent = gateway.app.state.limiter.local.spend(key_id)
    assert spent == pytest.approx(sum(c for _, c, *_ in logged))
    listed = httpx.get(gateway.base_url + "/admin/keys", headers=ADMIN).json()
    assert [k["spend_usd"] for k in listed] == [pytest.approx(spent)]


def test_a_json_client_that_left_early_is_charged_and_logged_client_closed(gateway, gated, fresh_database):
    import json
    import socket

    key_id, key = create_key(gateway, max_budget_usd=100.0)
    payload = json.dumps(body()).encode()
    host, port = gateway.base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                     b"authorization: Bearer " + key.encode() + b"\r\ncontent-length: " +
                     str(len(payload)).encode() + b"\r\n\r\n" + payload)
        wait_until(lambda: len(gated.requests_for("fake-gate")) == 1)  # the upstream is answering
    gated.app.gate.set()  # the answer arrives after the client has gone
    [(status, cost, prompt, completion)] = wait_until(lambda: rows(fresh_database, key_id))
    assert (status, prompt, completion) == ("client_closed", PROMPT_TOKENS, COMPLETION_TOKENS)
    assert cost == pytest.approx((PROMPT_TOKENS * IN_PRICE + COMPLETION_TOKENS * OUT_PRICE) / 1e6)
    assert gateway.app.state.limiter.local.spend(key_id) == pytest.approx(cost)
