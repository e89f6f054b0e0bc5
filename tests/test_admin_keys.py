"""Client keys through the admin API: created (plaintext once, stored as sha256), listed,
revoked; they authenticate clients next to V0_CLIENT_KEYS, and a key grades only its own
decisions."""

from __future__ import annotations

import hashlib

import httpx
import openai
import pytest

from gateway_support import start_gateway, wait_for_decision
from profiles_support import admin, client, policies_yaml, snapshot, start_v0_gateway

HELLO = [{"role": "user", "content": "Translate 'hello' into French."}]


def test_create_list_revoke_and_authenticate(v0, feature_cache, fresh_database, serve_app, tmp_path, upstream):
    served = start_v0_gateway(serve_app, tmp_path, fresh_database, policies_yaml(upstream.base_url),
                              v0=v0.with_head("knn"), features=feature_cache, client_keys="static-key")
    r = admin(served, "POST", "/admin/keys", json={"name": "team-a"})
    assert r.status_code == 201
    created = r.json()
    key = created.pop("key")
    assert key.startswith("v0-") and len(key) > 40
    assert {k: created[k] for k in ("id", "name", "prefix", "revoked", "revoked_at")} == \
        {"id": 1, "name": "team-a", "prefix": key[:10], "revoked": False, "revoked_at": None}
    assert admin(served, "GET", "/admin/keys").json() == [created]
    stored = snapshot(fresh_database)["client_key"]
    assert key not in repr(stored) and hashlib.sha256(key.encode()).hexdigest() in repr(stored)
    assert admin(served, "POST", "/admin/keys", json={"name": ""}).status_code == 400

    assert client(served, key).chat.completions.create(model="auto", messages=HELLO).model == "strong"
    assert client(served, "static-key").chat.completions.create(model="cheap", messages=HELLO).model == "cheap"
    for bad in ("wrong", key + "x"):
        with pytest.raises(openai.AuthenticationError):
            client(served, bad).chat.completions.create(model="auto", messages=HELLO)

    r = admin(served, "DELETE", "/admin/keys/1")
    assert r.json()["revoked"] is True and r.json()["revoked_at"] is not None
    with pytest.raises(openai.AuthenticationError) as exc:
        client(served, key).chat.completions.create(model="auto", messages=HELLO)
    assert exc.value.body["code"] == "invalid_api_key"
    assert admin(served, "DELETE", "/admin/keys/99").json()["error"]["code"] == "key_not_found"
    assert client(served, "static-key").chat.completions.create(model="cheap", messages=HELLO).model == "cheap"


def test_keys_required_once_created_and_only_own_decisions_graded(v0, feature_cache, fresh_database, serve_app,
                                                                  tmp_path, upstream):
    served = start_v0_gateway(serve_app, tmp_path, fresh_database, policies_yaml(upstream.base_url),
                              v0=v0.with_head("knn"), features=feature_cache)
    assert client(served, "anything").chat.completions.create(model="cheap", messages=HELLO).model == "cheap"
    key_a = admin(served, "POST", "/admin/keys", json={"name": "a"}).json()["key"]
    key_b = admin(served, "POST", "/admin/keys", json={"name": "b"}).json()["key"]
    with pytest.raises(openai.AuthenticationError):  # keys exist now: a key is required
        client(served, "anything").chat.completions.create(model="cheap", messages=HELLO)
    r = httpx.post(served.base_url + "/v1/route", json={"model": "auto", "messages": HELLO})
    assert (r.status_code, r.json()["error"]["code"]) == (401, "invalid_api_key")

    raw = client(served, key_a).chat.completions.with_raw_response.create(model="cheap", messages=HELLO)
    decision_id = raw.headers["x-v0-decision-id"]
    assert wait_for_decision(fresh_database, decision_id).client_key_id == 1
    before = snapshot(fresh_database)

    def grade(key: str) -> httpx.Response:
        return httpx.post(served.base_url + "/v1/feedback", json={"decision_id": decision_id, "score": 1},
                          headers={"Authorization": f"Bearer {key}"})

    r = grade(key_b)
    assert (r.status_code, r.json()["error"]) == (403, {
        "message": "This key may grade only the decisions it made.", "type": "permission_error",
        "param": "decision_id", "code": "not_your_decision"})
    assert grade("wrong").status_code == 401
    assert snapshot(fresh_database) == before
    assert grade(key_a).json()["model"] == "cheap"


def test_no_database_at_start_fails_closed_without_static_keys(serve_app, tmp_path, upstream):
    url = f"sqlite:///{tmp_path}/no/such/dir/v0.db"
    served = start_gateway(serve_app, tmp_path, url, upstream.base_url)
    r = httpx.post(served.base_url + "/v1/chat/completions",
                   json={"model": "ok", "messages": [{"role": "user", "content": "hi"}]})
    assert (r.status_code, r.json()["error"]["code"]) == (503, "auth_unavailable")
