"""The learning loop live: the gateway, a loopback upstream and a loopback judge (bench/loopback.py
``fake-judge``), driven by the real ``openai`` SDK, on SQLite and PostgreSQL.

With ``sample_rate: 1`` and ``shadow_rate: 1``, N routed requests (JSON and streamed) give N judge
rows (the answering model's profile, the decision row) and N shadow rows (the other candidate's
profile), the judge prompt fences the answer, and shadow calls are not counted against the client
key's limits; a broken judge (HTTP 500) or a judge that answers prose leaves chat at 200 and is
counted; the daily spend cap and the shadow concurrency cap hold; a human grade overrides a judge
grade."""

from __future__ import annotations

import re

import httpx
import openai
import pytest
from sqlalchemy import text

from bench.loopback import COMPLETION_TOKENS, JUDGE_GRADE, PROMPT_TOKENS
from gateway_support import OK_IN, OK_OUT, STRONG_IN, STRONG_OUT, engine_for, start_gateway, wait_until

ADMIN = {"Authorization": "Bearer adm"}
N = 6
JUDGE_COST = (PROMPT_TOKENS * OK_IN + COMPLETION_TOKENS * OK_OUT) / 1e6
STRONG_COST = (PROMPT_TOKENS * STRONG_IN + COMPLETION_TOKENS * STRONG_OUT) / 1e6


def policies(base: str, *, judge: str = "judge", cap: float = 5.0, extra: str = "") -> str:
    def cand(model: str, inp: float, out: float) -> str:
        return (f"    model: openai/{model}\n    api_base: {base}\n    input_price: {inp}\n"
                f"    output_price: {out}\n    timeout: 5\n    num_retries: 0\n")

    return ("default_policy: balanced\ncandidates:\n"
            f"  ok:\n{cand('fake-ok', OK_IN, OK_OUT)}  strong:\n{cand('fake-ok', STRONG_IN, STRONG_OUT)}"
            f"  judge:\n{cand('fake-judge', OK_IN, OK_OUT)}  prose:\n{cand('fake-judge-prose', OK_IN, OK_OUT)}"
            f"  broken:\n{cand('fake-500', OK_IN, OK_OUT)}"
            "policies:\n  balanced:\n    candidates: [ok, strong]\n    threshold: 0.7\n    fallback: strong\n"
            f"grading:\n  judge: {judge}\n  sample_rate: 1\n  shadow_rate: 1\n  max_usd_per_day: {cap}\n{extra}")


def gateway(serve_app, tmp_path, url, upstream, **kw):
    settings = {k: kw.pop(k) for k in list(kw) if k in ("shadow_concurrency", "grading_workers", "calibration_min_n")}
    return start_gateway(serve_app, tmp_path, url, upstream.base_url, policies_text=policies(upstream.base_url, **kw),
                         scores={"ok": 0.8, "strong": 0.95}, admin_key="adm", grading_seed=7, **settings)


def ask(served, key: str = "unused", *, stream: bool = False, i: int = 0, **kw) -> str:
    client = openai.OpenAI(base_url=served.base_url + "/v1", api_key=key, max_retries=0)
    messages = [{"role": "user", "content": f"question {i}"}]
    if stream:
        with client.chat.completions.with_streaming_response.create(model="auto", messages=messages, stream=True,
                                                                     **kw) as raw:
            assert raw.http_response.status_code == 200
            text_ = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
            assert text_ == f"echo: question {i}"
            return raw.headers["x-v0-decision-id"]
    raw = client.chat.completions.with_raw_response.create(model="auto", messages=messages, **kw)
    assert raw.http_response.status_code == 200
    assert raw.parse().choices[0].message.content == f"echo: question {i}"
    return raw.headers["x-v0-decision-id"]


def rows(url: str, sql: str) -> list[tuple]:
    with engine_for(url).connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql))]


def settled(served, url: str, expected: int) -> None:
    """``expected`` grade rows are written and nothing is left to grade."""
    wait_until(lambda: rows(url, "SELECT count(*) FROM grade")[0][0] >= expected and served.app.state.grading.pending == 0,
               timeout=30)
    assert rows(url, "SELECT count(*) FROM grade")[0][0] == expected


def metric(served, name: str, **labels: str) -> float:
    body = httpx.get(served.base_url + "/metrics").text
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    match = re.search(rf"^{name}\{{{re.escape(want)}\}} (\S+)$", body, re.M)
    return float(match.group(1)) if match else 0.0


def test_every_answer_is_judged_and_shadowed(serve_app, tmp_path, fresh_database, upstream):
    served = gateway(serve_app, tmp_path, fresh_database, upstream, calibration_min_n=N)
    r = httpx.post(served.base_url + "/admin/keys", json={"name": "team", "rpm": N + 2}, headers=ADMIN)
    key = r.json()["key"]
    served.app.state.limiter.refresh()  # the new key's limits, now rather than at the next poll
    before = len(upstream.requests)
    ids = [ask(served, key, stream=i % 2 == 1, i=i) for i in range(N)]
    settled(served, fresh_database, 2 * N)

    grades = rows(fresh_database, "SELECT decision_id, kind, model, status, grade, judge_model, judge_cost_usd, "
                                  "answer_cost_usd, p_success FROM grade")
    judged = sorted(g for g in grades if g[1] == "judge")
    shadowed = sorted(g for g in grades if g[1] == "shadow")
    assert [g[0] for g in judged] == sorted(ids) and [g[0] for g in shadowed] == sorted(ids)
    for g in judged:
        assert g[2:] == ("ok", "ok", JUDGE_GRADE, "judge", pytest.approx(JUDGE_COST), 0.0, 0.8)
    for g in shadowed:
        assert g[2:] == ("strong", "ok", JUDGE_GRADE, "judge", pytest.approx(JUDGE_COST),
                         pytest.approx(STRONG_COST), 0.95)
    decisions = rows(fresh_database, "SELECT id, answered_model, judge_score, judge_model, judge_cost_usd, "
                                     "feedback_score FROM decision")
    assert sorted(d[0] for d in decisions) == sorted(ids)  # shadow calls make no decision rows
    assert [d[1:] for d in decisions] == [("ok", JUDGE_GRADE, "judge", pytest.approx(JUDGE_COST), None)] * N
    profile = rows(fresh_database, "SELECT model, source, score, decision_id FROM profile_row")
    assert sorted(p[3] for p in profile if p[:3] == ("ok", "judge", JUDGE_GRADE)) == sorted(ids)
    assert [p for p in profile if p[0] == "strong"] == [("strong", "shadow", JUDGE_GRADE, None)] * N
    assert len(profile) == 2 * N

    sent = upstream.requests[before:]
    judge_calls = [b for b in sent if b["model"] == "fake-judge"]
    assert len(judge_calls) == 2 * N and len(sent) == 4 * N  # N answers, N shadow answers, 2N grades
    plain = [b for b in sent if b["model"] == "fake-ok" and not b.get("stream")]  # N / 2 clients', N shadow
    assert len(plain) == N + N // 2
    assert sum(b.get("max_tokens") == 1024 for b in plain) == N  # bounded: the clients set no max_tokens
    prompt = judge_calls[0]["messages"][1]["content"]
    fence = re.search(r"<<<ANSWER (\w+)>>>\n(.*)\n<<<END ANSWER \1>>>", prompt, re.S)
    assert fence is not None and fence.group(2).startswith("echo: question")

    # A human grade overrides the judge's in the profile.
    fb = httpx.post(served.base_url + "/v1/feedback", json={"decision_id": ids[0], "score": 0.0},
                    headers={"Authorization": f"Bearer {key}"})
    assert fb.status_code == 200, fb.text
    assert rows(fresh_database, f"SELECT source, score FROM profile_row WHERE decision_id = '{ids[0]}'") == \
        [("feedback", 0.0)]

    # The shadow calls did not count against the key: with the feedback call, rpm N + 2 admits one
    # more request, not none.
    served.app.state.limiter.refresh()  # what the decision log says the key used
    ask(served, key, i=99)
    with pytest.raises(openai.RateLimitError):
        ask(served, key, i=100)
    settled(served, fresh_database, 2 * (N + 1))
    assert metric(served, "v0_grades_total", kind="judge", status="ok") == N + 1
    assert metric(served, "v0_grades_total", kind="shadow", status="ok") == N + 1
    assert metric(served, "v0_grading_spend_usd_total", kind="shadow") == pytest.approx((N + 1) * STRONG_COST)
    assert metric(served, "v0_calibration_error", model="ok") == pytest.approx(0.8 - JUDGE_GRADE)  # judged only

    # Judge and shadow spend apart in /admin/stats, the savings net of them; drift evidence in /admin/status.
    stats = httpx.get(served.base_url + "/admin/stats", headers=ADMIN).json()
    assert stats["judge_cost_usd"] == pytest.approx(2 * (N + 1) * JUDGE_COST)
    assert stats["shadow_cost_usd"] == pytest.approx((N + 1) * STRONG_COST)
    assert stats["savings_usd"] == pytest.approx(stats["baseline_cost_usd"] - stats["cost_usd"]
                                                 - stats["judge_cost_usd"] - stats["shadow_cost_usd"])
    assert stats["graded"] == N + 1  # one of them by a human
    assert stats["calibration"]["ok"]["observed_mean"] == pytest.approx(JUDGE_GRADE * N / (N + 1))
    status = httpx.get(served.base_url + "/admin/status", headers=ADMIN).json()["grading"]
    assert (status["judge"], status["max_usd_per_day"], status["pending"]) == ("judge", 5.0, 0)
    assert status["spent_usd"] == pytest.approx(stats["judge_cost_usd"] + stats["shadow_cost_usd"])
    assert status["calibration"]["strong"] == {"n": N + 1, "predicted": 0.95, "judged": JUDGE_GRADE,
                                               "error": pytest.approx(0.2), "alert": True, "alert_drop": 0.15}


def test_a_broken_judge_never_touches_serving(serve_app, tmp_path, fresh_database, upstream):
    served = gateway(serve_app, tmp_path, fresh_database, upstream, judge="broken")
    ids = [ask(served, stream=i % 2 == 1, i=i) for i in range(N)]
    settled(served, fresh_database, 2 * N)
    assert rows(fresh_database, "SELECT DISTINCT status, grade FROM grade") == [("judge_error", None)]
    assert rows(fresh_database, "SELECT count(*) FROM profile_row WHERE source IN ('judge', 'shadow')") == [(0,)]
    assert metric(served, "v0_grades_total", kind="judge", status="judge_error") == N
    assert metric(served, "v0_grades_total", kind="shadow", status="judge_error") == N
    assert len(ids) == N


def test_a_judge_that_answers_prose_is_refused(serve_app, tmp_path, fresh_database, upstream):
    served = gateway(serve_app, tmp_path, fresh_database, upstream, judge="prose")
    for i in range(2):
        ask(served, i=i)
    settled(served, fresh_database, 4)
    assert rows(fresh_database, "SELECT DISTINCT status, grade FROM grade") == [("bad_reply", None)]
    assert metric(served, "v0_grades_total", kind="judge", status="bad_reply") == 2


def test_the_spend_cap_and_the_shadow_concurrency_cap_hold(serve_app, tmp_path, fresh_database, upstream):
    cap = 0.002  # a few judge grades and shadow calls, at these prices and estimates
    served = gateway(serve_app, tmp_path, fresh_database, upstream, cap=cap, shadow_concurrency=1,
                     grading_workers=8)
    for i in range(20):
        ask(served, i=i, max_tokens=10)
    wait_until(lambda: served.app.state.grading.pending == 0, timeout=30)
    spent = rows(fresh_database, "SELECT coalesce(sum(judge_cost_usd + answer_cost_usd), 0) FROM grade")[0][0]
    skipped = metric(served, "v0_grading_skipped_total", kind="judge", reason="budget") + \
        metric(served, "v0_grading_skipped_total", kind="shadow", reason="budget")
    assert 0 < spent <= cap
    assert skipped > 0
    assert served.app.state.grading.shadow_in_flight_max == 1


def test_shadow_calls_skip_requests_with_tools(serve_app, tmp_path, fresh_database, upstream):
    served = gateway(serve_app, tmp_path, fresh_database, upstream)
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    ask(served, i=1, tools=tools)
    settled(served, fresh_database, 1)
    assert rows(fresh_database, "SELECT kind FROM grade") == [("judge",)]
    assert metric(served, "v0_grading_skipped_total", kind="shadow", reason="tools") == 1


def test_the_shadow_goes_to_a_candidate_the_cap_can_pay_for(serve_app, tmp_path, fresh_database, upstream):
    # A third candidate whose one call would cost more than the whole daily cap: the shadow rule
    # leaves it out, so every shadow call goes to `strong` instead of being skipped.
    text_ = policies(upstream.base_url).replace(
        "candidates: [ok, strong]", "candidates: [ok, strong, pricey]").replace(
        "policies:\n", f"  pricey:\n    model: openai/fake-ok\n    api_base: {upstream.base_url}\n"
        "    input_price: 1000000\n    output_price: 1000000\n    timeout: 5\n    num_retries: 0\npolicies:\n", 1)
    served = start_gateway(serve_app, tmp_path, fresh_database, upstream.base_url, policies_text=text_,
                           scores={"ok": 0.8, "strong": 0.95, "pricey": 0.5}, admin_key="adm", grading_seed=7)
    for i in range(N):
        ask(served, i=i, max_tokens=10)
    settled(served, fresh_database, 2 * N)
    assert rows(fresh_database, "SELECT model, count(*) FROM grade WHERE kind = 'shadow' GROUP BY model") == \
        [("strong", N)]
    assert metric(served, "v0_grading_skipped_total", kind="shadow", reason="budget") == 0
