"""POST /v1/embeddings with the real openai SDK: a pass-through to a named embedding candidate
(never routed) with keys, cost and a decision row; refusals."""

from __future__ import annotations

import httpx
import openai
import pytest

from bench.loopback import EMBED_TOKENS
from gateway_support import policies_yaml, start_gateway, wait_for_decision

EMBED_IN = 0.02  # USD per 1M tokens


@pytest.fixture
def gateway(serve_app, tmp_path, database_url, upstream):
    base = policies_yaml(upstream.base_url)
    head, rest = base.split("policies:\n", 1)
    text = (head + f"  embed:\n    model: openai/fake-embed\n    api_base: {upstream.base_url}\n    kind: embedding\n"
            f"    input_price: {EMBED_IN}\n    output_price: 0\n" + "policies:\n" + rest
            + "aliases:\n  text-embedding-3-small: embed\n")
    return start_gateway(serve_app, tmp_path, database_url, upstream.base_url, policies_text=text)


def test_embeddings_pass_through_with_cost_and_row(gateway, database_url, upstream):
    client = openai.OpenAI(base_url=gateway.base_url + "/v1", api_key="unused", max_retries=0)
    raw = client.embeddings.with_raw_response.create(model="text-embedding-3-small", input=["a", "bcd"],
                                                     encoding_format="float")
    result = raw.parse()
    assert raw.headers["x-v0-model"] == "embed" and "x-v0-p-success" not in raw.headers
    assert [d.embedding for d in result.data] == [[0.5, -0.25, 1.0, 1.0], [0.5, -0.25, 3.0, 1.0]]
    assert (result.model, result.usage.prompt_tokens) == ("embed", 2 * EMBED_TOKENS)
    sent = upstream.requests_for("fake-embed")[-1]
    assert (sent["input"], sent["encoding_format"]) == (["a", "bcd"], "float")
    row = wait_for_decision(database_url, raw.headers["x-v0-decision-id"])
    assert (row.requested_model, row.policy, row.chosen_model, row.answered_model, row.reason, row.status) == \
        ("text-embedding-3-small", None, "embed", "embed", "unrouted", "ok")
    assert (row.prompt_tokens, row.completion_tokens) == (2 * EMBED_TOKENS, 0)
    assert row.cost_usd == pytest.approx(2 * EMBED_TOKENS * EMBED_IN / 1e6)


@pytest.mark.parametrize("body, status, param, code", [
    ({"model": "auto"}, 404, "model", "model_not_found"),
    ({"model": "ok"}, 400, "model", "wrong_model_kind"),
    ({"model": "embed", "api_base": "http://evil"}, 400, "api_base", "unsupported_parameter"),
    ({"model": "embed", "input": []}, 400, "input", "invalid_value"),
])
def test_refusals(gateway, body, status, param, code):
    r = httpx.post(gateway.base_url + "/v1/embeddings", json={"input": "x", **body})
    assert (r.status_code, r.json()["error"]["param"], r.json()["error"]["code"]) == (status, param, code)


def test_chat_with_an_embedding_candidate_is_refused(gateway):
    r = httpx.post(gateway.base_url + "/v1/chat/completions",
                   json={"model": "embed", "messages": [{"role": "user", "content": "x"}]})
    assert (r.status_code, r.json()["error"]["code"]) == (400, "wrong_model_kind")
