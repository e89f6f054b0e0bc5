"""A policy with a spend target: its controller sets the threshold from realised cost, and the
decision row says so (router/spend.py, router/plan.py). Real gateway, loopback upstream."""

from __future__ import annotations

import openai
import pytest

from gateway_support import engine_for, start_gateway, wait_until
from router.policies import PolicyError, parse_policies
from router.store.models import Decision
from sqlmodel import Session, col, select


def policies(base: str, target: str) -> str:
    def cand(inp: float, out: float) -> str:
        return (f"    model: openai/fake-ok\n    api_base: {base}\n    input_price: {inp}\n"
                f"    output_price: {out}\n    timeout: 5\n    num_retries: 0\n")

    return ("default_policy: held\ncandidates:\n"
            f"  ok:\n{cand(1.0, 2.0)}  strong:\n{cand(10.0, 30.0)}"
            "policies:\n  held:\n    candidates: [ok, strong]\n    threshold: 0.9\n    fallback: strong\n"
            f"    threshold_bounds: [0.5, 0.95]\n{target}")


def test_the_controller_moves_the_threshold_and_the_row_says_so(fresh_database, serve_app, tmp_path, upstream):
    served = start_gateway(serve_app, tmp_path, fresh_database, upstream.base_url, scores={"ok": 0.8, "strong": 0.95},
                           policies_text=policies(upstream.base_url, "    target_cost_share: 0.3\n"))
    client = openai.OpenAI(base_url=served.base_url + "/v1", api_key="unused", max_retries=0)
    answered = [client.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": f"question {i}"}]).headers["x-v0-model"] for i in range(8)]
    # 0.9 > P(ok): strong answers until the realised cost (all strong: share 1 > 0.3) has lowered
    # the threshold below P(ok) = 0.8; from then on the cheap candidate answers.
    assert answered[0] == "strong" and answered[-1] == "ok"
    client.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "override"}], extra_headers={"x-v0-threshold": "0.99"})
    wait_until(lambda: _rows(fresh_database, 9))
    rows = _rows(fresh_database, 9)
    assert [r.threshold_source for r in rows] == ["spend_target"] * 8 + ["request"]
    assert rows[0].threshold == 0.9 and rows[-1].threshold == 0.99
    thresholds = [r.threshold for r in rows[:8]]
    assert thresholds == sorted(thresholds, reverse=True) and thresholds[-1] < 0.8
    assert [r.answered_model for r in rows[:8]] == answered


def _rows(url: str, n: int) -> list[Decision]:
    with Session(engine_for(url)) as session:
        rows = list(session.exec(select(Decision).order_by(col(Decision.created_at))))
    return rows if len(rows) >= n else []


def test_a_policy_without_a_target_keeps_its_threshold(fresh_database, serve_app, tmp_path, upstream):
    served = start_gateway(serve_app, tmp_path, fresh_database, upstream.base_url, scores={"ok": 0.8, "strong": 0.95},
                           policies_text=policies(upstream.base_url, ""))
    client = openai.OpenAI(base_url=served.base_url + "/v1", api_key="unused", max_retries=0)
    for i in range(3):
        assert client.chat.completions.with_raw_response.create(
            model="auto", messages=[{"role": "user", "content": f"q{i}"}]).headers["x-v0-model"] == "strong"
    wait_until(lambda: _rows(fresh_database, 3))
    assert [(r.threshold, r.threshold_source) for r in _rows(fresh_database, 3)] == [(0.9, "policy")] * 3


@pytest.mark.parametrize("target, message", [
    ("    target_cost_share: 0.3\n    target_usd_per_1k: 2\n", "not both"),
    ("    target_cost_share: 1.5\n", "less than or equal to 1"),
])
def test_bad_targets_are_refused_with_the_line(target, message):
    with pytest.raises(PolicyError, match=message) as err:
        parse_policies(policies("http://127.0.0.1:9/v1", target))
    assert err.value.line is not None


def test_bad_bounds_are_refused():
    text = policies("http://127.0.0.1:9/v1", "").replace("[0.5, 0.95]", "[0.9, 0.2]")
    with pytest.raises(PolicyError, match="threshold_bounds"):
        parse_policies(text)
