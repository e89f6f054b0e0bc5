"""POST /v1/messages with the real anthropic SDK against the app and a loopback upstream that speaks
only /v1/chat/completions: JSON and stream, a tool_use -> tool_result round trip, x-api-key and
Bearer keys, aliases, errors in Anthropic's shape."""

from __future__ import annotations

import anthropic
import httpx
import openai
import pytest

from bench.loopback import COMPLETION_TOKENS, PROMPT_TOKENS
from gateway_support import OK_IN, OK_OUT, policies_yaml, start_gateway, wait_for_decision

OK_COST = PROMPT_TOKENS * OK_IN / 1e6 + COMPLETION_TOKENS * OK_OUT / 1e6
WEATHER = [{"name": "get_weather", "description": "Weather for a city",
            "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}}}]
ASK = [{"role": "user", "content": "Weather in Paris?"}]


@pytest.fixture
def gateway(serve_app, tmp_path, database_url, upstream):
    text = policies_yaml(upstream.base_url) + "aliases:\n  claude-sonnet-4-5: router/balanced\n  claude-haiku-4-5: ok\n"
    return start_gateway(serve_app, tmp_path, database_url, upstream.base_url, policies_text=text,
                         client_keys="sk-one")


def client_for(served, key: str = "sk-one") -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=served.base_url, api_key=key, max_retries=0)


def test_json_message_through_an_alias(gateway, database_url, upstream):
    raw = client_for(gateway).messages.with_raw_response.create(
        model="claude-sonnet-4-5", max_tokens=64, system="be brief", messages=[{"role": "user", "content": "Say hi"}],
        stop_sequences=["END"], metadata={"user_id": "u-1"})
    message = raw.parse()
    assert (raw.headers["x-v0-model"], raw.headers["x-v0-p-success"]) == ("ok", "0.8000")
    assert (message.type, message.role, message.model, message.stop_reason) == ("message", "assistant", "ok", "end_turn")
    assert [(b.type, b.text) for b in message.content] == [("text", "echo: Say hi")]
    assert (message.usage.input_tokens, message.usage.output_tokens) == (PROMPT_TOKENS, COMPLETION_TOKENS)
    sent = upstream.requests_for("fake-ok")[-1]
    assert sent["messages"] == [{"role": "system", "content": "be brief"}, {"role": "user", "content": "Say hi"}]
    assert (sent["max_tokens"], sent["stop"], sent["user"]) == (64, ["END"], "u-1")
    row = wait_for_decision(database_url, raw.headers["x-v0-decision-id"])
    assert (row.requested_model, row.policy, row.answered_model, row.status) == \
        ("claude-sonnet-4-5", "balanced", "ok", "ok")
    assert row.cost_usd == pytest.approx(OK_COST)
    assert 'v0_requests_total{model="ok",policy="balanced",status="ok",surface="messages"} 1.0' in \
        httpx.get(gateway.base_url + "/metrics").text


def test_stream_events_and_cost(gateway, database_url):
    with client_for(gateway).messages.stream(model="claude-haiku-4-5", max_tokens=64, messages=[
            {"role": "user", "content": [{"type": "text", "text": "Say hi"}]}]) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_message()
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert "content_block_start" in kinds and "content_block_stop" in kinds and "message_delta" in kinds
    assert [(b.type, b.text) for b in final.content] == [("text", "echo: Say hi")]
    assert (final.usage.input_tokens, final.usage.output_tokens, final.stop_reason) == \
        (PROMPT_TOKENS, COMPLETION_TOKENS, "end_turn")
    row = wait_for_decision(database_url, final.id.removeprefix("msg_"))
    assert (row.requested_model, row.policy, row.stream, row.status) == ("claude-haiku-4-5", None, True, "ok")
    assert row.cost_usd == pytest.approx(OK_COST)


@pytest.mark.parametrize("stream", [False, True])
def test_tool_use_round_trip(gateway, upstream, stream):
    client = client_for(gateway)
    kwargs = dict(model="auto", max_tokens=64, tools=WEATHER, messages=ASK, tool_choice={"type": "any"})
    if stream:
        with client.messages.stream(**kwargs) as s:
            first = s.get_final_message()
    else:
        first = client.messages.create(**kwargs)
    [use] = first.content
    assert (first.stop_reason, use.type, use.name, use.input, use.id) == \
        ("tool_use", "tool_use", "get_weather", {"q": "Weather in Paris?"}, "call_1")
    assert upstream.requests_for("fake-ok")[-1]["tool_choice"] == "required"
    second = client.messages.create(model="auto", max_tokens=64, tools=WEATHER, messages=[
        *ASK, {"role": "assistant", "content": [use.model_dump()]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "sunny"}]}])
    assert [(b.type, b.text) for b in second.content] == [("text", "tool said: sunny")]
    assert upstream.requests_for("fake-ok")[-1]["messages"][1:] == [
        {"role": "assistant", "tool_calls": [{"id": "call_1", "type": "function", "function": {
            "name": "get_weather", "arguments": '{"q": "Weather in Paris?"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}]


def test_count_tokens_is_the_gateways_estimate(gateway):
    from router.upstream import count_prompt_tokens

    counted = client_for(gateway).messages.count_tokens(model="claude-sonnet-4-5", system="be brief", messages=ASK)
    assert counted.input_tokens == count_prompt_tokens([{"role": "system", "content": "be brief"}, *ASK]) > 0


def test_bearer_key_and_anthropic_version_are_accepted(gateway):
    r = httpx.post(gateway.base_url + "/v1/messages", headers={"Authorization": "Bearer sk-one",
                                                                "anthropic-version": "2023-06-01"},
                   json={"model": "ok", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]})
    assert (r.status_code, r.json()["content"]) == (200, [{"type": "text", "text": "echo: hi"}])


def test_errors_in_anthropic_shape(gateway):
    with pytest.raises(anthropic.AuthenticationError) as exc:
        client_for(gateway, "sk-wrong").messages.create(model="auto", max_tokens=8, messages=ASK)
    assert exc.value.body["type"] == "error" and exc.value.body["error"]["type"] == "authentication_error"
    with pytest.raises(anthropic.NotFoundError):
        client_for(gateway).messages.create(model="claude-nope", max_tokens=8, messages=ASK)
    with pytest.raises(anthropic.APIStatusError) as exc:
        for _ in client_for(gateway).messages.create(model="cut", max_tokens=8, messages=ASK, stream=True):
            pass
    for body, kind in [({"messages": ASK}, "invalid_request_error"),  # no max_tokens
                       ({"max_tokens": 8, "messages": ASK, "top_k": 5}, "invalid_request_error"),
                       ({"max_tokens": 8, "messages": [{"role": "user", "content": [{"type": "document"}]}]},
                        "invalid_request_error")]:
        r = httpx.post(gateway.base_url + "/v1/messages", headers={"x-api-key": "sk-one"}, json={"model": "auto", **body})
        assert (r.status_code, r.json()["type"], r.json()["error"]["type"]) == (400, "error", kind)


@pytest.mark.parametrize("aliases, reason", [
    ("  ok: strong\n", "alias 'ok' would hide a policy or candidate name"),
    ("  claude-x: router/nope\n", "alias 'claude-x': 'router/nope' is not auto, router/<policy> or a candidate"),
])
def test_bad_aliases_are_refused_with_their_line(tmp_path, aliases, reason):
    from router.policies import PolicyError, load_policies

    text = policies_yaml("http://127.0.0.1:1/v1") + "aliases:\n" + aliases
    path = tmp_path / "policies.yaml"
    path.write_text(text)
    with pytest.raises(PolicyError) as exc:
        load_policies(path)
    assert (exc.value.line, exc.value.reason) == (len(text.splitlines()), reason)


def test_aliases_are_listed_with_what_they_stand_for(gateway):
    listed = openai.OpenAI(base_url=gateway.base_url + "/v1", api_key="sk-one", max_retries=0).models.list()
    cards = {m.id: m.model_dump() for m in listed}
    assert cards["claude-sonnet-4-5"]["kind"] == "alias" and cards["claude-sonnet-4-5"]["alias_of"] == "router/balanced"
    assert cards["claude-haiku-4-5"]["alias_of"] == "ok"
    assert cards["ok"]["kind"] == "candidate" and "alias_of" not in cards["ok"]
