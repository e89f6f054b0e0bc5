"""Feedback with limits and trust (policies.yaml ``feedback:``): a key outside ``trusted_keys``
grades its decisions (the score is kept on the row) without touching any profile; past
``max_per_key_per_hour`` a key's grades are refused with 429 and a retry-after."""

from __future__ import annotations

import httpx
import openai

from gateway_support import get_decision, policies_yaml, start_gateway, wait_for_decision
from test_key_limits import ADMIN, create_key


def grade(served, key: str, decision_id: str, score: float) -> httpx.Response:
    return httpx.post(served.base_url + "/v1/feedback", json={"decision_id": decision_id, "score": score},
                      headers={"Authorization": f"Bearer {key}"}, timeout=30)


def ask(served, key: str) -> str:
    client = openai.OpenAI(base_url=served.base_url + "/v1", api_key=key, max_retries=0)
    raw = client.chat.completions.with_raw_response.create(model="auto", messages=[{"role": "user", "content": "hi"}])
    return raw.headers["x-v0-decision-id"]


def profile_rows(served) -> list[str]:
    return httpx.get(served.base_url + "/admin/profiles/ok", headers=ADMIN).text.splitlines()


def test_untrusted_grades_stay_on_the_decision_and_keys_are_rate_limited(serve_app, tmp_path, fresh_database,
                                                                        upstream):
    text = policies_yaml(upstream.base_url) + "feedback:\n  trusted_keys: [1]\n  max_per_key_per_hour: 3\n"
    served = start_gateway(serve_app, tmp_path, fresh_database, upstream.base_url, admin_key="adm",
                           policies_text=text, seed_profiles=False)
    trusted_id, trusted = create_key(served)
    untrusted_id, untrusted = create_key(served)
    assert (trusted_id, untrusted_id) == (1, 2)

    mine = ask(served, trusted)
    wait_for_decision(fresh_database, mine)
    r = grade(served, trusted, mine, 1.0)
    assert (r.status_code, r.json()["in_profile"], r.json()["profile_version"]) == (200, True, 1)
    assert len(profile_rows(served)) == 1

    theirs = [ask(served, untrusted) for _ in range(4)]
    wait_for_decision(fresh_database, theirs[-1])
    answers = [grade(served, untrusted, d, 0.0) for d in theirs]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.json()["in_profile"] for a in answers[:3]] == [False] * 3
    assert {a.json()["profile_version"] for a in answers[:3]} == {1}  # unchanged
    assert len(profile_rows(served)) == 1  # no untrusted row joined the profile
    assert [get_decision(fresh_database, d).feedback_score for d in theirs] == [0.0, 0.0, 0.0, None]
    refused = answers[3]
    assert (refused.json()["error"]["code"], refused.json()["error"]["type"]) == ("rate_limit_exceeded", "feedback")
    assert 1 <= int(refused.headers["retry-after"]) <= 3600
    assert grade(served, trusted, mine, 0.5).status_code == 200  # another key's quota is its own
