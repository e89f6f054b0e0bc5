"""Exploration and off-policy replay, live: a policy with ``explore`` on, a scorer whose P varies
by prompt, an upstream graded per model; the IPS and DR estimates of a replayed policy's quality
land within their reported 95% intervals of that policy's true value (every model's grade is
known to the test for every prompt, so the truth is exact). Bounded: 150 requests, seeded draws.
A 95% interval misses 1 time in 20: DR (the headline estimate) must cover the truth at each of
three replayed thresholds, IPS (higher variance) at two of them at least."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import httpx
import openai
import pytest
from sqlmodel import Session, select

from console_support import ADMIN_KEY, admin
from gateway_support import count_decisions, engine_for, wait_until
from router.app import create_app
from router.routing import Decision as Choice, Estimate, explore
from router.scoring import ScoreResult
from router.scoring.base import OneByOne
from router.settings import Settings
from router.store.models import Decision

N, EXPLORE, LOGGED_THRESHOLD = 150, 0.5, 0.7
NAMES = ["small", "mid", "large"]  # cheapest first; "large" is the fallback


def unit(*parts: object) -> float:
    """A deterministic uniform number in [0, 1) from ``parts``."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def p_of(prompt: str) -> dict[str, float]:
    return {"small": 0.3 + 0.6 * unit("p", prompt, "small"), "mid": 0.5 + 0.45 * unit("p", prompt, "mid"),
            "large": 0.9}


def grade(prompt: str, model: str) -> float:
    """The grade ``model`` earns on ``prompt``: 1 with probability P (V0 calibrated), else 0."""
    return float(unit("grade", prompt, model) < p_of(prompt)[model])


def chosen(prompt: str, threshold: float) -> str:
    p = p_of(prompt)
    return next((m for m in NAMES if p[m] >= threshold), "large")


class PromptScorer(OneByOne):
    def score(self, text: str, candidates: Sequence[str], *, profile_size: int = 256) -> ScoreResult:
        return ScoreResult({c: p_of(text)[c] for c in candidates}, {c: 1 for c in candidates})


def policies(base: str) -> str:
    cand = "".join(f"  {m}:\n    model: openai/fake-ok\n    api_base: {base}\n    input_price: {price}\n"
                   f"    output_price: {price}\n    num_retries: 0\n" for m, price in zip(NAMES, (1, 5, 20)))
    return (f"default_policy: explored\ncandidates:\n{cand}policies:\n  explored:\n"
            f"    candidates: [{', '.join(NAMES)}]\n    threshold: {LOGGED_THRESHOLD}\n    fallback: large\n"
            f"    explore: {EXPLORE}\n")


def test_exploration_propensities_and_unbiased_replay(fresh_database, serve_app, tmp_path, upstream):
    path = tmp_path / "policies.yaml"
    path.write_text(policies(upstream.base_url))
    settings = Settings(database_url=fresh_database, policies=path, admin_key=ADMIN_KEY, log_flush_s=0.05,
                        policy_reload_s=0, profile_poll_s=0, explore_seed=12, state_dir=str(tmp_path / "state"),
                        profile_refresh_s=0.01)  # 150 grades sent one after another: no coalescing wait
    served = serve_app(create_app(settings, scorer_factory=lambda _p: PromptScorer()))
    client = openai.OpenAI(base_url=served.base_url + "/v1", api_key="unused", max_retries=0)
    prompts = [f"prompt {i}" for i in range(N)]
    answered = {}
    for prompt in prompts:
        raw = client.chat.completions.with_raw_response.create(model="auto", messages=[{"role": "user", "content": prompt}])
        answered[raw.headers["x-v0-decision-id"]] = (prompt, raw.headers["x-v0-model"])
    wait_until(lambda: count_decisions(fresh_database) == N)
    for decision_id, (prompt, model) in answered.items():  # only the answering model's grade is observed
        r = httpx.post(served.base_url + "/v1/feedback", json={"decision_id": decision_id, "score": grade(prompt, model)})
        assert r.status_code == 200, r.text

    # Every row's propensity is the exploring policy's probability of its choice.
    with Session(engine_for(fresh_database)) as session:
        rows = list(session.exec(select(Decision)))
    explored = 0
    for row in rows:
        prompt = answered[row.id][0]
        greedy = chosen(prompt, LOGGED_THRESHOLD)
        expect = EXPLORE / 3 + (1 - EXPLORE) * (row.chosen_model == greedy)
        assert (row.explore_rate, row.propensity) == (EXPLORE, pytest.approx(expect, rel=1e-12))
        assert row.reason in ("explore", "cheapest_above_threshold", "fallback_none_above_threshold")
        explored += row.reason == "explore"
    assert 50 < explored < 100  # about half of 150

    covered = {"ips": 0, "dr": 0}
    for threshold in (0.5, 0.8, 0.95):
        truth = sum(grade(p, chosen(p, threshold)) for p in prompts) / N
        r = admin(served, "POST", "/admin/replay", json={"policy": "explored", "threshold": threshold}).json()
        assert r["n_decisions"] == N
        assert r["changed"] == sum(chosen(answered[row.id][0], threshold) != row.chosen_model for row in rows)
        for method in ("ips", "dr"):
            est = r[method]
            lo, hi = est["ci95"]
            print(f"threshold {threshold}: truth {truth:.3f}, {method} {est['estimate']:.3f} [{lo:.3f}, {hi:.3f}] "
                  f"n={est['n']}; matched {r['observed']['mean']:.3f} (n={r['observed']['n']})")
            assert est["n"] == N
            covered[method] += lo <= truth <= hi
        assert r["weight_mean"] == pytest.approx(sum(
            (chosen(answered[row.id][0], threshold) == row.chosen_model) / row.propensity for row in rows) / N)
    assert covered["dr"] == 3 and covered["ips"] >= 2


def test_explore_is_pure_and_uniform():
    decision = Choice("small", "cheapest_above_threshold", ("mid", "large"),
                      tuple(Estimate(n, 0.5, 1.0) for n in NAMES))
    picks = [explore(decision, rate=0.3, draw=d / 1000) for d in range(1000)]
    assert [sum(p.chosen == m and p.reason == "explore" for p in picks) for m in NAMES] == [100, 100, 100]
    kept = [p for p in picks if p.reason != "explore"]
    assert len(kept) == 700 and {(p.chosen, p.fallbacks, round(p.propensity, 12)) for p in kept} == \
        {("small", ("mid", "large"), 0.8)}
    mid = explore(decision, rate=0.3, draw=0.15)
    assert (mid.chosen, mid.fallbacks, mid.propensity) == ("mid", ("small", "large"), pytest.approx(0.1))
    assert explore(decision, rate=0.0, draw=0.5) is decision
    with pytest.raises(ValueError):
        explore(decision, rate=0.3, draw=1.0)
