"""POST /v1/feedback: the score goes to the decision row and, with the routing text, into the
answering model's profile (one row per decision: grading again updates it and bumps the
version); bad feedback is refused with a 4xx envelope and changes nothing; feedback for a row
the background writer has not flushed yet is not lost."""

from __future__ import annotations

import json

import httpx
import openai
import pytest

from gateway_support import count_decisions, get_decision, wait_for_decision, wait_until
from profiles_support import admin, client, policies_yaml, snapshot, start_v0_gateway, translation, upload

BROKEN = "  broken:\n    model: openai/fake-500\n    api_base: {base}\n    input_price: 1\n    output_price: 1\n" \
         "    num_retries: 0\n"


def ask(served, text: str, model: str = "auto") -> str:
    raw = client(served).chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": text}])
    return raw.headers["x-v0-decision-id"]


def feedback(served, body) -> httpx.Response:
    kw = {"json": body} if not isinstance(body, bytes) else {"content": body}
    return httpx.post(served.base_url + "/v1/feedback", timeout=30, **kw)


def test_grading_twice_updates_one_profile_row(v0, feature_cache, fresh_database, serve_app, tmp_path, upstream):
    served = start_v0_gateway(serve_app, tmp_path, fresh_database, policies_yaml(upstream.base_url),
                              v0=v0.with_head("knn"), features=feature_cache)
    upload(served, "cheap", [(translation(i), 1.0) for i in range(4)])
    decision_id = ask(served, "Translate 'thank you' into Dutch.")
    row = wait_for_decision(fresh_database, decision_id)
    assert row.answered_model == "cheap"
    assert row.routing_text == "Be brief.\n\nTranslate 'thank you' into Dutch."  # system + last user message

    r = feedback(served, {"decision_id": decision_id, "score": 0.25})
    assert r.json() == {"decision_id": decision_id, "score": 0.25, "model": "cheap", "profile_version": 2, "in_profile": True}
    r = feedback(served, {"decision_id": decision_id, "score": 0.75})
    assert r.json() == {"decision_id": decision_id, "score": 0.75, "model": "cheap", "profile_version": 3, "in_profile": True}

    rows = [json.loads(x) for x in admin(served, "GET", "/admin/profiles/cheap").text.splitlines()]
    graded = [x for x in rows if x["source"] == "feedback"]
    assert [(x["prompt"], x["score"], x["decision_id"]) for x in graded] == \
        [("Be brief.\n\nTranslate 'thank you' into Dutch.", 0.75, decision_id)]
    assert len(rows) == 5
    row = get_decision(fresh_database, decision_id)
    assert row.feedback_score == 0.75 and row.feedback_at is not None


BAD = [
    ({"decision_id": "x", "score": 1.5}, 400, "invalid_value", "score: Input should be less than or equal to 1"),
    ({"decision_id": "x", "score": -0.1}, 400, "invalid_value", "score: Input should be greater than or equal to 0"),
    ({"decision_id": "x", "score": "good"}, 400, "invalid_value", "score: Input should be a valid number, unable to parse string as a number"),
    ({"score": 1}, 400, "missing_required_parameter", "decision_id: Field required"),
    ({"decision_id": "x", "score": 1, "extra": 1}, 400, "unsupported_parameter", "extra: Extra inputs are not permitted"),
    (b'{"decision_id": ', 400, "invalid_json", "Malformed JSON: Expecting value (line 1, column 17)."),
    ({"decision_id": "ab\u0000c", "score": 1}, 400, "invalid_text", "decision_id: text contains a NUL character."),
    (b'{"decision_id": "ab\\ud800c", "score": 1}', 400, "invalid_text",
     "decision_id: text contains a lone UTF-16 surrogate."),
    ({"decision_id": "a b", "score": 1}, 400, "invalid_value", "decision_id: String should match pattern '^[!-~]+$'"),
    (b"[" * 100_000 + b"]" * 100_000, 400, "too_deeply_nested", "JSON nested deeper than 32 levels."),
    ({"decision_id": "0" * 32, "score": 1}, 404, "decision_not_found", f"Unknown decision {'0' * 32!r}."),
]


def test_bad_feedback_is_refused_and_changes_nothing(v0, feature_cache, fresh_database, serve_app, tmp_path,
                                                      upstream):
    text = policies_yaml(upstream.base_url, extra=BROKEN.format(base=upstream.base_url))
    served = start_v0_gateway(serve_app, tmp_path, fresh_database, text, v0=v0.with_head("knn"),
                              features=feature_cache)
    upload(served, "cheap", [(translation(i), 1.0) for i in range(4)])
    good = ask(served, "Translate 'hello' into Spanish.")
    with pytest.raises(openai.APIStatusError) as failed:
        client(served).chat.completions.create(model="broken", messages=[{"role": "user", "content": "hi"}])
    assert failed.value.status_code == 502
    failed_id = failed.value.response.headers.get("x-v0-decision-id")
    wait_until(lambda: count_decisions(fresh_database) == 2)  # the good one and the failed one
    before = snapshot(fresh_database)
    for body, status, code, message in BAD:
        r = feedback(served, body)
        assert r.status_code == status, r.text
        assert (r.json()["error"]["code"], r.json()["error"]["message"]) == (code, message)
    # A failed request has nothing to grade (its error names its decision row: the request id).
    rows = [r for r in before["decision"] if r[0] != good]
    assert len(rows) == 1 and failed_id == rows[0][0] and failed_id in failed.value.message
    r = feedback(served, {"decision_id": rows[0][0], "score": 1})
    assert (r.status_code, r.json()["error"]["code"]) == (409, "decision_not_gradable")
    assert snapshot(fresh_database) == before


def test_feedback_before_the_decision_row_is_flushed(v0, feature_cache, fresh_database, serve_app, tmp_path,
                                                     upstream):
    # The writer would flush only after a minute: the decision is still in its buffer.
    served = start_v0_gateway(serve_app, tmp_path, fresh_database, policies_yaml(upstream.base_url),
                              v0=v0.with_head("knn"), features=feature_cache, log_flush_s=60, log_batch_size=1000)
    decision_id = ask(served, "Translate 'welcome' into Italian.", model="cheap")
    assert served.app.state.writer.holds(decision_id)
    assert get_decision(fresh_database, decision_id) is None
    r = feedback(served, {"decision_id": decision_id, "score": 1.0})
    assert r.json() == {"decision_id": decision_id, "score": 1.0, "model": "cheap", "profile_version": 1, "in_profile": True}
    assert get_decision(fresh_database, decision_id).feedback_score == 1.0
    assert not served.app.state.writer.holds(decision_id)


def test_feedback_on_a_streamed_answer(v0, feature_cache, fresh_database, serve_app, tmp_path, upstream):
    served = start_v0_gateway(serve_app, tmp_path, fresh_database, policies_yaml(upstream.base_url),
                              v0=v0.with_head("knn"), features=feature_cache)
    with client(served).chat.completions.with_streaming_response.create(
            model="cheap", stream=True, messages=[{"role": "user", "content": "Say hi in German."}]) as response:
        decision_id = response.headers["x-v0-decision-id"]
        text = "".join(c.choices[0].delta.content or "" for c in response.parse() if c.choices)
    assert text == "echo: Say hi in German."
    wait_for_decision(fresh_database, decision_id)
    r = feedback(served, {"decision_id": decision_id, "score": 0.5})
    assert r.json() == {"decision_id": decision_id, "score": 0.5, "model": "cheap", "profile_version": 1, "in_profile": True}
