"""GET /metrics moves with traffic: requests by policy, model and status, decision and upstream
time, grades, the decision log, profile versions and requests routed without scores."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from gateway_support import wait_for_decision, wait_until
from profiles_support import client, policies_yaml, start_v0_gateway, translation, upload

BROKEN = "  broken:\n    model: openai/fake-500\n    api_base: {base}\n    input_price: 1\n    output_price: 1\n" \
         "    num_retries: 0\n"


def scrape(served) -> dict[tuple[str, tuple], float]:
    r = httpx.get(served.base_url + "/metrics", timeout=10)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(r.text) for s in family.samples}


def test_metrics_move_with_traffic(v0, feature_cache, fresh_database, serve_app, tmp_path, upstream):
    text = policies_yaml(upstream.base_url, extra=BROKEN.format(base=upstream.base_url))
    served = start_v0_gateway(serve_app, tmp_path, fresh_database, text, v0=v0.with_head("knn"),
                              features=feature_cache)
    before = scrape(served)
    assert before[("v0_decision_log_pending", ())] == 0
    assert ("v0_profile_version", (("model", "cheap"),)) not in before
    upload(served, "cheap", [(translation(i), 1.0) for i in range(4)])
    routed = [client(served).chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "Translate 'hello' into Dutch."}]) for _ in range(3)]
    assert {r.headers["x-v0-model"] for r in routed} == {"cheap"}
    raw = client(served).chat.completions.with_raw_response.create(
        model="strong", messages=[{"role": "user", "content": "hi"}])
    r = httpx.post(served.base_url + "/v1/chat/completions", timeout=10,
                   json={"model": "broken", "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 502
    decision = routed[0].headers["x-v0-decision-id"]
    wait_for_decision(fresh_database, decision)
    assert httpx.post(served.base_url + "/v1/feedback", json={"decision_id": decision, "score": 1.0}).status_code == 200
    wait_until(lambda: scrape(served)[("v0_decision_log_written", ())] >= 5)

    after = scrape(served)
    count = lambda name, **labels: after.get((name, tuple(sorted(labels.items()))), 0) - \
        before.get((name, tuple(sorted(labels.items()))), 0)  # noqa: E731
    assert count("v0_requests_total", policy="main", model="cheap", status="ok", surface="chat") == 3
    assert count("v0_requests_total", policy="none", model="strong", status="ok", surface="chat") == 1
    assert count("v0_requests_total", policy="none", model="broken", status="upstream_error", surface="chat") == 1
    assert count("v0_decision_seconds_count") == 5
    assert count("v0_upstream_seconds_count", model="cheap") == 3
    assert count("v0_feedback_total", model="cheap") == 1
    assert after[("v0_profile_version", (("model", "cheap"),))] == 2  # the upload, then the grade
    assert after[("v0_decision_log_pending", ())] == 0
    assert after[("v0_scorer_breaker_open", ())] == 0
    assert raw.headers["x-v0-model"] == "strong"
