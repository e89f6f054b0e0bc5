"""Per-key limits with the OpenAI client: requests per minute and budgets, enforced across two
replicas that share one database; 429 with OpenAI's codes (the SDK raises RateLimitError), a
retry-after for rate limits; keys can be updated; GET /admin/keys shows the logged spend."""

from __future__ import annotations

import httpx
import openai
import pytest
from sqlalchemy import text

from gateway_support import engine_for, start_gateway, wait_for_decision

ADMIN = {"Authorization": "Bearer adm"}
HELLO = [{"role": "user", "content": "hello"}]


@pytest.fixture
def replicas(serve_app, tmp_path, fresh_database, upstream):
    return [start_gateway(serve_app, tmp_path, fresh_database, upstream.base_url, admin_key="adm",
                          profile_poll_s=0.1) for _ in range(2)]


def create_key(served, **limits) -> tuple[int, str]:
    r = httpx.post(served.base_url + "/admin/keys", json={"name": "team", **limits}, headers=ADMIN)
    assert r.status_code == 201, r.text
    return r.json()["id"], r.json()["key"]


def ask(served, key: str):
    client = openai.OpenAI(base_url=served.base_url + "/v1", api_key=key, max_retries=0)
    return client.chat.completions.with_raw_response.create(model="auto", messages=HELLO)


def settle(database_url: str, raw, replicas) -> None:
    """The row is in the database and every replica has read the usage since."""
    wait_for_decision(database_url, raw.headers["x-v0-decision-id"])
    for served in replicas:
        served.app.state.limiter.refresh()


def test_rpm_holds_across_replicas(replicas, fresh_database):
    _, key = create_key(replicas[0], rpm=3)
    for i in range(3):
        settle(fresh_database, ask(replicas[i % 2], key), replicas)
    for served in replicas:
        with pytest.raises(openai.RateLimitError) as exc:
            ask(served, key)
        assert (exc.value.body["code"], exc.value.body["type"]) == ("rate_limit_exceeded", "requests")
        assert 1 <= int(exc.value.response.headers["retry-after"]) <= 60
    with engine_for(fresh_database).connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM decision")).scalar() == 3  # refusals are not logged
    for served in replicas:
        assert 'v0_rate_limited_total{code="rate_limit_exceeded"} 1.0' in httpx.get(served.base_url + "/metrics").text


def test_budget_holds_across_replicas_and_keys_can_be_updated(replicas, fresh_database):
    key_id, key = create_key(replicas[0], max_budget_usd=1e-9, budget_period="daily")
    settle(fresh_database, ask(replicas[0], key), replicas)  # spend 0 < budget: admitted, then over it
    for served in replicas:
        with pytest.raises(openai.RateLimitError) as exc:
            ask(served, key)
        assert (exc.value.body["code"], exc.value.body["type"]) == ("insufficient_quota", "insufficient_quota")
    with engine_for(fresh_database).connect() as conn:
        logged = conn.execute(text("SELECT sum(cost_usd) FROM decision WHERE client_key_id = :k"), {"k": key_id}).scalar()
    listed = httpx.get(replicas[1].base_url + "/admin/keys", headers=ADMIN).json()
    assert [(k["id"], k["max_budget_usd"], k["budget_period"], k["spend_usd"]) for k in listed] == \
        [(key_id, 1e-9, "daily", pytest.approx(logged, rel=1e-12))]
    assert logged > 1e-9

    r = httpx.patch(replicas[0].base_url + f"/admin/keys/{key_id}", json={"max_budget_usd": None, "rpm": 100},
                    headers=ADMIN)
    assert (r.status_code, r.json()["max_budget_usd"], r.json()["rpm"]) == (200, None, 100)
    assert ask(replicas[0], key).http_response.status_code == 200
    replicas[1].app.state.limiter.refresh()
    assert ask(replicas[1], key).http_response.status_code == 200


def test_bad_limits_are_refused(replicas):
    for body, param in [({"name": "x", "rpm": 0}, "rpm"), ({"name": "x", "budget_period": "hourly"}, "budget_period"),
                        ({"name": "x", "max_budget_usd": -1}, "max_budget_usd"), ({"name": "x", "burst": 1}, "burst")]:
        r = httpx.post(replicas[0].base_url + "/admin/keys", json=body, headers=ADMIN)
        assert (r.status_code, r.json()["error"]["param"]) == (400, param)
    r = httpx.patch(replicas[0].base_url + "/admin/keys/99", json={"rpm": 5}, headers=ADMIN)
    assert (r.status_code, r.json()["error"]["code"]) == (404, "key_not_found")
