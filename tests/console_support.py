"""Helpers for the operator-console tests: a gateway with an admin key and known traffic, and the
hand count of its decision rows."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import httpx
import openai
from sqlmodel import Session, select

from gateway_support import SCORES, STRONG_IN, STRONG_OUT, count_decisions, engine_for, start_gateway, wait_until
from router.store.models import Decision

ADMIN_KEY = "console-admin-key"
GRADES = [1.0, 1.0, 0.0, 1.0, 0.5]


def admin(served: Any, method: str, path: str, key: str | None = ADMIN_KEY, **kwargs: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    return httpx.request(method, served.base_url + path, headers=headers, timeout=60, **kwargs)


def start_console(serve_app: Any, tmp_path: Any, url: str, upstream: Any, **settings: Any) -> Any:
    return start_gateway(serve_app, tmp_path, url, upstream.base_url, admin_key=ADMIN_KEY, **settings)


def make_traffic(served: Any, url: str) -> dict[str, list[str]]:
    """14 requests to router/balanced ("ok" clears 0.7), 6 to router/strict (nothing clears 0.99:
    the fallback "strong"), 1 to the candidate "ok" unrouted, 2 to "broken" (502); grades the
    first five balanced answers with GRADES. Returns the decision ids by requested model."""
    client = openai.OpenAI(base_url=served.base_url + "/v1", api_key="unused", max_retries=0)
    ids: dict[str, list[str]] = defaultdict(list)
    for i, model in enumerate(["auto"] * 14 + ["router/strict"] * 6 + ["ok"]):
        raw = client.chat.completions.with_raw_response.create(
            model=model, messages=[{"role": "user", "content": f"question {i}"}])
        ids[model].append(raw.headers["x-v0-decision-id"])
    for _ in range(2):
        try:
            client.chat.completions.create(model="broken", messages=[{"role": "user", "content": "hi"}])
        except openai.APIStatusError as exc:
            assert exc.status_code == 502
    wait_until(lambda: count_decisions(url) == 23)
    for decision_id, grade in zip(ids["auto"], GRADES):
        grade_decision(served, decision_id, grade)
    return ids


def grade_decision(served: Any, decision_id: str, grade: float) -> None:
    r = httpx.post(served.base_url + "/v1/feedback", json={"decision_id": decision_id, "score": grade}, timeout=30)
    assert r.status_code == 200, r.text


def hand_count(url: str) -> dict[str, Any]:
    """The /admin/stats figures counted from the decision rows, one by one."""
    with Session(engine_for(url)) as session:
        rows = list(session.exec(select(Decision)))
    fallback_price = {"balanced": (STRONG_IN, STRONG_OUT), "strict": (STRONG_IN, STRONG_OUT)}
    cost = baseline = 0.0
    by_model: dict[str, dict[str, float]] = defaultdict(lambda: {"requests": 0, "cost_usd": 0.0})
    graded: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for r in rows:
        c = r.cost_usd or 0.0
        cost += c
        if r.policy in fallback_price and r.prompt_tokens is not None and r.completion_tokens is not None:
            pin, pout = fallback_price[r.policy]
            baseline += (r.prompt_tokens * pin + r.completion_tokens * pout) / 1e6
        else:
            baseline += c
        model = r.answered_model or r.chosen_model
        by_model[model]["requests"] += 1
        by_model[model]["cost_usd"] += c
        if r.feedback_score is not None and r.policy is not None and r.status == "ok":
            p = next(x["p_success"] for x in r.candidates if x["name"] == r.answered_model)
            graded[r.answered_model].append((p, r.feedback_score))
    return {"rows": rows, "requests": len(rows), "errors": sum(r.status != "ok" for r in rows),
            "cost_usd": cost, "baseline_cost_usd": baseline, "by_model": dict(by_model),
            "graded": sum(r.feedback_score is not None for r in rows), "calibration": dict(graded),
            "p": SCORES}
