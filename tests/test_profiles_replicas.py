"""Two gateway instances on one database agree within seconds: profile uploads, feedback and
client keys made on one are seen by the other through its poll loop."""

from __future__ import annotations

import time

import httpx
import openai
import pytest

from gateway_support import wait_until
from profiles_support import admin, arithmetic, client, policies_yaml, route, start_v0_gateway, translation, upload


def test_two_replicas_agree(v0, feature_cache, fresh_database, serve_app, tmp_path, upstream):
    text = policies_yaml(upstream.base_url)
    knn = v0.with_head("knn")
    a = start_v0_gateway(serve_app, tmp_path, fresh_database, text, v0=knn, features=feature_cache, name="a.yaml")
    b = start_v0_gateway(serve_app, tmp_path, fresh_database, text, v0=knn, features=feature_cache, name="b.yaml")
    probe = "Translate 'good night' into Spanish."
    assert route(b, probe)["chosen"] == "strong"  # no profiles yet: P = 0 everywhere

    assert upload(a, "cheap", [(translation(i), 1.0) for i in range(12)]).status_code == 201
    assert upload(a, "strong", [(translation(i), 1.0) for i in range(12)]).status_code == 201
    started = time.perf_counter()
    decision = wait_until(lambda: (d := route(b, probe))["candidates"][1]["profile_version"] == 1 and d, timeout=5)
    print(f"\nreplica B saw A's upload after {time.perf_counter() - started:.3f} s")
    assert decision["chosen"] == "cheap"
    assert [c["profile_version"] for c in decision["candidates"]] == [1, 1]

    # Feedback on B (cheap failed an arithmetic problem) reaches A's states.
    raw = client(b).chat.completions.with_raw_response.create(
        model="cheap", messages=[{"role": "user", "content": arithmetic(1)}])
    r = httpx.post(b.base_url + "/v1/feedback", json={"decision_id": raw.headers["x-v0-decision-id"], "score": 0})
    assert r.json()["profile_version"] == 2
    wait_until(lambda: route(a, probe)["candidates"][0]["profile_version"] == 2, timeout=5)

    # A key created on A authenticates on B (and B now requires one); revoked on A, it stops working on B.
    key = admin(a, "POST", "/admin/keys", json={"name": "shared"}).json()["key"]

    def status_on_b(token: str) -> int:
        return httpx.post(b.base_url + "/v1/route", json={"model": "auto", "messages": [
            {"role": "user", "content": probe}]}, headers={"Authorization": f"Bearer {token}"}).status_code

    wait_until(lambda: status_on_b("no-key") == 401, timeout=5)
    assert status_on_b(key) == 200
    with pytest.raises(openai.AuthenticationError):
        client(b, "no-key").chat.completions.create(model="cheap", messages=[{"role": "user", "content": probe}])
    admin(a, "DELETE", "/admin/keys/1")
    wait_until(lambda: status_on_b(key) == 401, timeout=5)
