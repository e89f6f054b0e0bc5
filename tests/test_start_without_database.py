"""Starting while the database is away: client keys fail closed with 503, and routing uses the
last known profiles from the local cache, or visibly falls back when there are none."""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi.testclient import TestClient

from gateway_support import start_gateway
from profiles_support import ADMIN_KEY, arithmetic, jsonl, policies_yaml, translation
from router.app import create_app
from router.migrate import upgrade
from router.settings import Settings


def test_unknown_key_is_503_not_401_until_the_key_table_was_read(serve_app, tmp_path, upstream):
    served = start_gateway(serve_app, tmp_path, f"sqlite:///{tmp_path}/no/such/dir/v0.db", upstream.base_url,
                           client_keys="static-key")
    body = {"model": "ok", "messages": [{"role": "user", "content": "hello"}]}

    def post(key: str) -> httpx.Response:
        return httpx.post(served.base_url + "/v1/chat/completions", json=body, timeout=10,
                          headers={"Authorization": f"Bearer {key}"})

    assert post("static-key").status_code == 200
    refused = post("v0-created-through-the-admin-api")  # may be valid: the table is unknown
    assert refused.status_code == 503
    assert refused.json()["error"]["code"] == "auth_unavailable"


def app_for(tmp_path: Path, url: str, state: str, upstream_base: str, v0, features) -> TestClient:
    path = tmp_path / "policies.yaml"
    path.write_text(policies_yaml(upstream_base))
    settings = Settings(database_url=url, policies=path, policy_reload_s=0, profile_poll_s=0,
                        admin_key=ADMIN_KEY, seed_profiles=False, state_dir=str(tmp_path / state),
                        log_close_timeout_s=0.5, client_keys="client-key")
    return TestClient(create_app(settings, v0=v0, features=features),
                      headers={"Authorization": "Bearer client-key"})


def test_last_known_profiles_are_used_else_the_fallback_is_visible(tmp_path, v0, feature_cache, upstream):
    db_dir = tmp_path / "db"
    db_dir.mkdir()
    url = f"sqlite:///{db_dir}/v0.db"
    upgrade(url)
    admin = {"Authorization": f"Bearer {ADMIN_KEY}", "Content-Type": "application/jsonl"}  # overrides
    body = {"model": "auto", "messages": [{"role": "user", "content": arithmetic(3)}]}
    with app_for(tmp_path, url, "state", upstream.base_url, v0, feature_cache) as client:
        for model, score in (("cheap", 0.0), ("strong", 1.0)):
            rows = [(arithmetic(i), score) for i in range(12)] + [(translation(i), 1.0) for i in range(12)]
            assert client.post(f"/admin/profiles/{model}", content=jsonl(rows), headers=admin).status_code == 201
        before = client.post("/v1/route", json=body).json()
    db_dir.rename(tmp_path / "db-away")  # the database is gone at the next start
    with app_for(tmp_path, url, "state", upstream.base_url, v0, feature_cache) as client:
        cached = client.post("/v1/route", json=body).json()
        chat = client.post("/v1/chat/completions", json=body)
    assert cached == before  # same scores, versions and decision as with the database
    assert chat.status_code == 200 and "x-v0-fallback-reason" not in chat.headers
    with app_for(tmp_path, url, "other-state", upstream.base_url, v0, feature_cache) as client:
        unknown = client.post("/v1/route", json=body).json()
        chat = client.post("/v1/chat/completions", json=body)
    assert (unknown["reason"], unknown["chosen"]) == ("profiles_unavailable", "strong")
    assert [c["p_success"] for c in unknown["candidates"]] == [0.0, 0.0]
    assert (chat.status_code, chat.headers["x-v0-fallback-reason"]) == (200, "profiles_unavailable")
