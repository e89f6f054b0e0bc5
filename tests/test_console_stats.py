"""GET /admin/stats and POST /admin/replay against a live gateway with loopback traffic: the
figures match a hand count of the decision rows; replay re-decides the logged requests; the
admin key guards every new endpoint and bad parameters are a 400 envelope."""

from __future__ import annotations

import math

import pytest

from console_support import ADMIN_KEY, GRADES, admin, grade_decision, hand_count, make_traffic, start_console
from gateway_support import OK_IN, OK_OUT, STRONG_IN, STRONG_OUT, start_gateway
from bench.loopback import COMPLETION_TOKENS, PROMPT_TOKENS

OK_COST = (PROMPT_TOKENS * OK_IN + COMPLETION_TOKENS * OK_OUT) / 1e6
STRONG_COST = (PROMPT_TOKENS * STRONG_IN + COMPLETION_TOKENS * STRONG_OUT) / 1e6


def test_stats_match_the_hand_count_and_replay_redecides(fresh_database, serve_app, tmp_path, upstream):
    served = start_console(serve_app, tmp_path, fresh_database, upstream)
    ids = make_traffic(served, fresh_database)
    hand = hand_count(fresh_database)
    # The hand count itself, from the prices and the upstream's fixed usage.
    assert (hand["requests"], hand["errors"], hand["graded"]) == (23, 2, 5)
    assert hand["cost_usd"] == pytest.approx(15 * OK_COST + 6 * STRONG_COST, rel=1e-12)
    assert hand["baseline_cost_usd"] == pytest.approx(20 * STRONG_COST + OK_COST, rel=1e-12)

    stats = admin(served, "GET", "/admin/stats").json()
    assert (stats["requests"], stats["errors"], stats["graded"]) == (23, 2, 5)
    assert stats["cost_usd"] == pytest.approx(hand["cost_usd"], rel=1e-12)
    assert stats["baseline_cost_usd"] == pytest.approx(hand["baseline_cost_usd"], rel=1e-12)
    assert stats["savings_usd"] == pytest.approx(hand["baseline_cost_usd"] - hand["cost_usd"], rel=1e-12)
    assert stats["savings_usd"] == pytest.approx(14 * (STRONG_COST - OK_COST), rel=1e-9)
    assert {m: (v["requests"], v["share"]) for m, v in stats["by_model"].items()} == \
        {"ok": (15, 15 / 23), "strong": (6, 6 / 23), "broken": (2, 2 / 23)}
    for model, counted in hand["by_model"].items():
        assert stats["by_model"][model]["cost_usd"] == pytest.approx(counted["cost_usd"], rel=1e-12)
    assert list(stats["calibration"]) == ["ok"]
    ok = stats["calibration"]["ok"]
    assert ok["n"] == 5 and ok["predicted_mean"] == pytest.approx(0.8)
    assert ok["observed_mean"] == pytest.approx(sum(GRADES) / 5)
    assert ok["ece"] == pytest.approx(abs(sum(GRADES) / 5 - 0.8))  # one bin: every P is 0.8
    assert ok["bound"] == pytest.approx(math.sqrt(math.log(40) / 10)) and ok["drift"] is False
    assert [(s["requests"], s["errors"]) for s in stats["series"]] == [(23, 2)]  # one hour
    assert stats["series"][0]["cost_usd"] == pytest.approx(hand["cost_usd"], rel=1e-12)

    # Filters: one policy; a window that ends before the traffic.
    strict = admin(served, "GET", "/admin/stats", params={"policy": "strict"}).json()
    assert (strict["requests"], strict["cost_usd"], strict["savings_usd"]) == (6, pytest.approx(6 * STRONG_COST), pytest.approx(0, abs=1e-15))
    early = admin(served, "GET", "/admin/stats", params={"until": "2000-01-01T00:00:00Z"}).json()
    assert (early["requests"], early["by_model"], early["series"], early["calibration"]) == (0, {}, [], {})

    # Drift: "strong" predicted 0.95, graded 0 six times (bound sqrt(ln 40 / 12) = 0.555).
    for decision_id in ids["router/strict"]:
        grade_decision(served, decision_id, 0.0)
    strong = admin(served, "GET", "/admin/stats").json()["calibration"]["strong"]
    assert (strong["n"], strong["observed_mean"], strong["drift"]) == (6, 0.0, True)
    assert strong["predicted_mean"] == pytest.approx(0.95)

    # Replay of the 14 balanced requests (all answered by "ok" at the policy's 0.7).
    low = admin(served, "POST", "/admin/replay", json={"policy": "balanced", "threshold": 0}).json()
    high = admin(served, "POST", "/admin/replay", json={"policy": "balanced", "threshold": 1}).json()
    assert (low["n_decisions"], low["changed"], low["share_by_model"]) == (14, 0, {"ok": 1.0})
    assert (high["n_decisions"], high["changed"], high["share_by_model"]) == (14, 14, {"strong": 1.0})
    assert low["cost_usd"] == pytest.approx(14 * OK_COST) and high["cost_usd"] == pytest.approx(14 * STRONG_COST)
    assert low["cost_usd"] < high["cost_usd"]
    assert (low["predicted_quality"], high["predicted_quality"]) == (pytest.approx(0.8), pytest.approx(0.95))
    assert low["observed"]["n"] == 5 and low["observed"]["mean"] == pytest.approx(sum(GRADES) / 5)
    assert high["observed"]["n"] == 0  # "strong" never answered a balanced request
    assert low["ips"] == {"n": 0, "estimate": None, "stderr": None, "ci95": None}  # no exploration logged
    utility = admin(served, "POST", "/admin/replay", json={"policy": "balanced", "strategy": "utility",
                                                            "lambda": 0}).json()
    assert utility["share_by_model"] == {"strong": 1.0}  # lambda 0: the highest P

    decisions = admin(served, "GET", "/admin/decisions", params={"limit": 3}).json()
    assert len(decisions) == 3 and "routing_text" not in decisions[0]


BAD = [
    ("GET", "/admin/stats?since=yesterday", None, "invalid_value", "query.since"),
    ("GET", "/admin/stats?bucket=week", None, "invalid_value", "query.bucket"),
    ("GET", "/admin/stats?key_id=0", None, "invalid_value", "query.key_id"),
    ("GET", "/admin/stats?since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z", None, "invalid_value", "since"),
    ("GET", "/admin/decisions?limit=0", None, "invalid_value", "query.limit"),
    ("POST", "/admin/replay", {"policy": "balanced", "threshold": 2}, "invalid_value", "threshold"),
    ("POST", "/admin/replay", {"policy": "balanced", "strategy": "random"}, "invalid_value", "strategy"),
    ("POST", "/admin/replay", {"policy": "balanced", "lambda": -1}, "invalid_value", "lambda"),
    ("POST", "/admin/replay", {"policy": "balanced", "since": "soon"}, "invalid_value", "since"),
    ("POST", "/admin/replay", {"policy": "balanced", "budget": 1}, "unsupported_parameter", "budget"),
    ("POST", "/admin/replay", {"threshold": 0.5}, "missing_required_parameter", "policy"),
]


def test_console_endpoints_need_the_admin_key_and_refuse_bad_parameters(fresh_database, serve_app, tmp_path,
                                                                        upstream):
    served = start_console(serve_app, tmp_path, fresh_database, upstream)
    for method, path in [("GET", "/admin/stats"), ("POST", "/admin/replay"), ("GET", "/admin/decisions")]:
        for key in (None, "wrong"):
            r = admin(served, method, path, key=key, json={"policy": "balanced"})
            assert (r.status_code, r.json()["error"]["code"]) == (401, "invalid_admin_key")
    for method, path, body, code, param in BAD:
        r = admin(served, method, path, json=body)
        assert (r.status_code, r.json()["error"]["code"], r.json()["error"]["param"]) == (400, code, param), path
    r = admin(served, "POST", "/admin/replay", json={"policy": "nope"})
    assert (r.status_code, r.json()["error"]["code"]) == (404, "policy_not_found")
    page = admin(served, "GET", "/dashboard", key=None)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    text = page.text.replace('"http://www.w3.org/2000/svg"', "")  # the SVG namespace name, not a fetch
    assert ADMIN_KEY not in text and "http://" not in text and "https://" not in text and "src=" not in text
    assert "connect-src 'self'" in page.headers["content-security-policy"]

    off = start_gateway(serve_app, tmp_path, fresh_database, upstream.base_url)  # no V0_ADMIN_KEY
    for method, path in [("GET", "/admin/stats"), ("POST", "/admin/replay"), ("GET", "/admin/decisions"),
                         ("GET", "/dashboard")]:
        r = admin(off, method, path, json={"policy": "balanced"})
        assert (r.status_code, r.json()["error"]["code"]) == (404, "admin_disabled")
