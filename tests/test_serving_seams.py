"""The serving layer's two seams, through the real openai client against the app and the loopback
upstream: every request's admission is settled exactly once (JSON, stream, stream cut midway,
upstream failure, refusal after admission), and each answered request reaches the answer sinks
as one AnsweredCall with the text, usage and cost of the answer (streams: assembled)."""

from __future__ import annotations

import httpx
import openai
import pytest

from bench.loopback import COMPLETION_TOKENS, PROMPT_TOKENS
from gateway_support import OK_IN, OK_OUT, start_gateway, wait_for_decision
from router.serving import AnsweredCall

OK_COST = PROMPT_TOKENS * OK_IN / 1e6 + COMPLETION_TOKENS * OK_OUT / 1e6
HI = [{"role": "user", "content": "Say hi"}]


class Spy:
    """The app's limiter, recording each settlement (tokens, cost) before passing it on."""

    def __init__(self, limiter) -> None:
        self.limiter, self.records = limiter, []

    def __getattr__(self, name):
        return getattr(self.limiter, name)

    def settle(self, hold, *, tokens, usd, row=None):
        self.records.append((tokens, usd))
        return self.limiter.settle(hold, tokens=tokens, usd=usd, row=row)


class Sink:
    def __init__(self) -> None:
        self.calls: list[AnsweredCall] = []

    def answered(self, call: AnsweredCall) -> None:
        self.calls.append(call)


class Broken:
    def answered(self, call: AnsweredCall) -> None:
        raise RuntimeError("a sink's bug")


@pytest.fixture
def gateway(serve_app, tmp_path, database_url, upstream):
    served = start_gateway(serve_app, tmp_path, database_url, upstream.base_url)
    served.app.state.limiter = Spy(served.app.state.limiter)
    served.sink = Sink()
    served.app.state.answer_sinks[:] = [Broken(), served.sink]  # a failing sink never reaches the client
    return served


def client_for(served) -> openai.OpenAI:
    return openai.OpenAI(base_url=served.base_url + "/v1", api_key="unused", max_retries=0)


def test_json_answer_reaches_sinks_and_settles_once(gateway, database_url):
    raw = client_for(gateway).chat.completions.with_raw_response.create(
        model="router/balanced", messages=HI, temperature=0.5)
    assert raw.parse().choices[0].message.content == "echo: Say hi"
    decision_id = raw.headers["x-v0-decision-id"]
    row = wait_for_decision(database_url, decision_id)
    assert gateway.app.state.limiter.records == [(PROMPT_TOKENS + COMPLETION_TOKENS, pytest.approx(OK_COST))]
    [call] = gateway.sink.calls
    assert (call.decision_id, call.surface, call.policy, call.requested_model, call.chosen, call.answered) == \
        (decision_id, "chat", "balanced", "router/balanced", "ok", "ok")
    assert (call.answer_text, call.answer_tool_calls, call.has_tools, call.stream) == ("echo: Say hi", (), False, False)
    assert call.messages == HI and call.params == {"temperature": 0.5}
    assert (call.prompt_tokens, call.completion_tokens) == (PROMPT_TOKENS, COMPLETION_TOKENS)
    assert call.cost_usd == pytest.approx(OK_COST) == row.cost_usd
    assert [e.name for e in call.estimates] == ["ok", "strong"] and call.routing_text == row.routing_text
    assert (call.threshold, call.p_success, call.client_key_id) == (0.7, 0.8, None)


def test_stream_answer_is_assembled_and_costs_like_json(gateway, database_url):
    raw = client_for(gateway).chat.completions.with_raw_response.create(
        model="auto", messages=HI, stream=True, tools=[{"type": "function", "function": {"name": "f"}}])
    assert "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices) == "echo: Say hi"
    row = wait_for_decision(database_url, raw.headers["x-v0-decision-id"])
    assert row.cost_usd == pytest.approx(OK_COST)
    assert gateway.app.state.limiter.records == [(PROMPT_TOKENS + COMPLETION_TOKENS, pytest.approx(OK_COST))]
    [call] = gateway.sink.calls
    assert (call.answer_text, call.has_tools, call.stream, call.cost_usd) == \
        ("echo: Say hi", True, True, pytest.approx(OK_COST))


def test_failures_settle_once_with_nothing_spent_and_reach_no_sink(gateway, database_url):
    with httpx.stream("POST", gateway.base_url + "/v1/chat/completions",
                      json={"model": "cut", "messages": HI, "stream": True}) as response:
        body = response.read().decode()
    assert body.endswith("data: [DONE]\n\n") and '"error"' in body
    row = wait_for_decision(database_url, response.headers["x-v0-decision-id"])
    assert row.status == "stream_error"
    with pytest.raises(openai.InternalServerError):
        client_for(gateway).chat.completions.create(model="router/down", messages=HI)
    with pytest.raises(openai.NotFoundError):
        client_for(gateway).chat.completions.create(model="router/nope", messages=HI)
    assert gateway.app.state.limiter.records == [(0, 0.0)] * 3
    assert gateway.sink.calls == []
