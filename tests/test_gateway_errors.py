"""Bad inputs and upstream faults: OpenAI's error envelope, the right status, and the right
decision rows (none for bad inputs; a failure row for upstream faults)."""

from __future__ import annotations

import json

import httpx
import openai
import pytest

from bench.loopback import SLOW_SECONDS
from gateway_support import count_decisions, newest_decisions, start_gateway, wait_for_decision, wait_until

GOOD = {"model": "ok", "messages": [{"role": "user", "content": "hello"}]}
MAX_BODY = 1_048_576  # the documented default of V0_MAX_BODY_BYTES
NON_UTF8 = b'{"model": "ok", "messages": [{"role": "user", "content": "\xff\xfe"}]}'
BAD_BYTE = NON_UTF8.index(b"\xff")


@pytest.fixture
def gateway(serve_app, tmp_path, database_url, upstream):
    return start_gateway(serve_app, tmp_path, database_url, upstream.base_url)


def post(served, content: bytes, **kw) -> httpx.Response:
    return httpx.post(served.base_url + "/v1/chat/completions", content=content,
                      headers={"content-type": "application/json"}, timeout=30, **kw)


def envelope(message, *, type="invalid_request_error", param=None, code=None):
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


BAD_INPUTS = {
    "malformed_json": (b'{"model": "ok", "messages": [', 400, envelope(
        "Malformed JSON: Expecting value (line 1, column 30).", code="invalid_json")),
    "not_an_object": (b'[1, 2]', 400, envelope("Request body must be a JSON object.", code="invalid_request")),
    "missing_messages": (json.dumps({"model": "ok"}).encode(), 400, envelope(
        "messages: Field required", param="messages", code="missing_required_parameter")),
    "missing_model": (json.dumps({"messages": GOOD["messages"]}).encode(), 400, envelope(
        "model: Field required", param="model", code="missing_required_parameter")),
    "messages_wrong_type": (json.dumps({"model": "ok", "messages": "hello"}).encode(), 400, envelope(
        "messages: Input should be a valid list", param="messages", code="invalid_value")),
    "model_wrong_type": (json.dumps({**GOOD, "model": 5}).encode(), 400, envelope(
        "model: Input should be a valid string", param="model", code="invalid_value")),
    "temperature_wrong_type": (json.dumps({**GOOD, "temperature": "hot"}).encode(), 400, envelope(
        "temperature: Input should be a valid number, unable to parse string as a number",
        param="temperature", code="invalid_value")),
    "bad_role": (json.dumps({"model": "ok", "messages": [{"role": "robot", "content": "x"}]}).encode(), 400,
                 envelope("messages.0.role: Input should be 'system', 'developer', 'user', 'assistant', "
                          "'tool' or 'function'", param="messages.0.role", code="invalid_value")),
    "no_messages": (json.dumps({"model": "ok", "messages": []}).encode(), 400, envelope(
        "messages: List should have at least 1 item after validation, not 0", param="messages",
        code="invalid_value")),
    "empty_prompt": (json.dumps({"model": "ok", "messages": [{"role": "user", "content": "  "}]}).encode(), 400,
                     envelope("The prompt is empty: no message has any text.", param="messages",
                              code="empty_prompt")),
    "unknown_model": (json.dumps({**GOOD, "model": "nope"}).encode(), 404, envelope(
        "The model 'nope' does not exist; use 'auto', 'router/<policy>' or a candidate name "
        "(GET /v1/models).", param="model", code="model_not_found")),
    "unknown_policy": (json.dumps({**GOOD, "model": "router/nope"}).encode(), 404, envelope(
        "The policy 'nope' does not exist (GET /v1/models).", param="model", code="policy_not_found")),
    "prompt_2mb": (json.dumps({"model": "ok", "messages": [{"role": "user", "content": "a" * 2_000_000}]})
                   .encode(), 413, envelope(f"Request body exceeds {MAX_BODY} bytes.", code="request_too_large")),
    "non_utf8": (NON_UTF8, 400, envelope(
        f"Request body is not valid UTF-8 (byte {BAD_BYTE}).", code="invalid_encoding")),
    "lone_surrogate_unrouted": (b'{"model": "ok", "messages": [{"role": "user", "content": "a\\ud800"}]}', 400,
                                envelope("messages.0.content: text contains a lone UTF-16 surrogate.",
                                         param="messages.0.content", code="invalid_text")),
    "lone_surrogate_routed": (b'{"model": "auto", "messages": [{"role": "user", "content": "\\udfff b"}]}', 400,
                              envelope("messages.0.content: text contains a lone UTF-16 surrogate.",
                                       param="messages.0.content", code="invalid_text")),
    "nul_in_prompt": (json.dumps({"model": "auto", "messages": [{"role": "user", "content": "a\x00b"}]}).encode(),
                      400, envelope("messages.0.content: text contains a NUL character.",
                                    param="messages.0.content", code="invalid_text")),
    "nul_in_part": (json.dumps({"model": "ok", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "\x00"}]}]}).encode(), 400, envelope(
        "messages.0.content.0.text: text contains a NUL character.", param="messages.0.content.0.text",
        code="invalid_text")),
    "nested_100k": (b'{"model": "ok", "messages": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", 400, envelope(
        "JSON nested deeper than 32 levels.", code="too_deeply_nested")),
    "nested_40": (json.dumps({**GOOD, "tools": [{"a": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}]})
                  .encode(), 400, envelope("JSON nested deeper than 32 levels.", param="tools.0.a" + ".0" * 29,
                                           code="too_deeply_nested")),
}


def test_bad_inputs_get_envelope_and_write_nothing(gateway, database_url):
    before = count_decisions(database_url)
    for name, (body, status, expected) in BAD_INPUTS.items():
        response = post(gateway, body)
        assert (name, response.status_code, response.json()) == (name, status, expected)
        assert response.headers["content-type"] == "application/json"
        assert "x-v0-decision-id" not in response.headers
    # A good request afterwards: its row is the only new one (the writer is FIFO).
    good = post(gateway, json.dumps(GOOD).encode())
    wait_for_decision(database_url, good.headers["x-v0-decision-id"])
    assert count_decisions(database_url) == before + 1


def test_bad_input_through_openai_client(gateway):
    client = openai.OpenAI(base_url=gateway.base_url + "/v1", api_key="x", max_retries=0)
    with pytest.raises(openai.NotFoundError) as exc:
        client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "hi"}])
    assert exc.value.body["code"] == "model_not_found"
    with pytest.raises(openai.APIStatusError) as exc:
        client.chat.completions.create(model="ok", messages=[{"role": "user", "content": "a" * 2_000_000}])
    assert exc.value.status_code == 413
    assert exc.value.body["code"] == "request_too_large"


def test_unknown_route_and_method_use_envelope(gateway):
    response = httpx.get(gateway.base_url + "/v1/nothing")
    assert (response.status_code, response.json()) == (404, envelope("Not Found", type="not_found_error"))
    response = httpx.get(gateway.base_url + "/v1/chat/completions")
    assert (response.status_code, response.json()) == (405, envelope("Method Not Allowed"))


@pytest.mark.parametrize("model, status, code, row_status, text", [
    ("dead", 502, "upstream_error", "upstream_error", "Connection error."),
    ("broken", 502, "upstream_error", "upstream_error", "fake upstream exploded"),
    ("slow", 504, "upstream_timeout", "upstream_timeout", "Request timed out."),
    ("router/down", 502, "upstream_error", "upstream_error", "Connection error."),
])
@pytest.mark.parametrize("stream", [False, True])
def test_upstream_faults(gateway, database_url, model, status, code, row_status, text, stream):
    response = post(gateway, json.dumps({**GOOD, "model": model, "stream": stream}).encode())
    assert response.status_code == status
    error = response.json()["error"]
    assert (error["type"], error["code"], error["param"]) == ("upstream_error", code, None)
    assert text in error["message"]
    assert response.elapsed.total_seconds() < SLOW_SECONDS  # the 0.5 s timeout, not the upstream
    # The failure is logged: the newest decision for this model.
    def newest():
        rows = [r for r in newest_decisions(database_url, 5) if r.requested_model == model]
        return rows[0] if rows and rows[0].stream is stream and rows[0].status == row_status else None

    row = wait_until(newest)
    assert row.http_status == status and text in row.error
    assert row.answered_model is None and row.cost_usd is None


def test_stream_cut_midway_sends_error_then_done(gateway, database_url):
    with httpx.stream("POST", gateway.base_url + "/v1/chat/completions", timeout=30,
                      json={**GOOD, "model": "cut", "stream": True}) as response:
        assert response.status_code == 200
        decision_id = response.headers["x-v0-decision-id"]
        events = [line[len("data: "):] for line in response.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    error = json.loads(events[-2])["error"]
    assert (error["type"], error["code"]) == ("upstream_error", "upstream_error")
    assert "Connection error." in error["message"]
    content = [json.loads(e)["choices"][0]["delta"].get("content", "") for e in events[:-2]]
    assert "".join(content) == "echo: "  # two of the three pieces of "echo: hello"
    row = wait_for_decision(database_url, decision_id)
    assert (row.status, row.http_status, row.answered_model) == ("stream_error", 200, "cut")
    assert "Connection error." in row.error


def test_stream_cut_midway_raises_in_openai_client(gateway):
    client = openai.OpenAI(base_url=gateway.base_url + "/v1", api_key="x", max_retries=0)
    stream = client.chat.completions.create(model="cut", messages=[{"role": "user", "content": "hello"}],
                                            stream=True)
    with pytest.raises(openai.APIError, match="Connection error"):
        for _ in stream:
            pass
