"""A slow, failing or swamped scorer never holds a request up: it goes to its policy's fallback
and says why (decision row reason, x-v0-fallback-reason header); a failing scorer trips the
circuit breaker, which stops calling it until its cooldown has passed."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import httpx

from gateway_support import policies_yaml, wait_for_decision
from router.app import create_app
from router.scoring import ScoreResult
from router.scoring.base import OneByOne
from router.scoring.breaker import CircuitBreaker
from router.settings import Settings

HELLO = {"model": "auto", "messages": [{"role": "user", "content": "hello"}]}


class ScriptedScorer(OneByOne):
    """Scores ok=0.8 / strong=0.95 after ``delay_s``; raises while ``failing``; counts its calls."""

    def __init__(self, delay_s: float = 0.0, failing: bool = False) -> None:
        self.delay_s, self.failing, self.calls = delay_s, failing, 0
        self._lock = threading.Lock()

    def score(self, text: str, candidates: Sequence[str], *, profile_size: int = 256) -> ScoreResult:
        with self._lock:
            self.calls += 1
        time.sleep(self.delay_s)
        if self.failing:
            raise RuntimeError("scorer exploded")
        return ScoreResult({c: {"ok": 0.8, "strong": 0.95}[c] for c in candidates}, {c: 1 for c in candidates})


def serve(serve_app, tmp_path, database_url, upstream, scorer, **settings):
    path = tmp_path / "policies.yaml"
    path.write_text(policies_yaml(upstream.base_url))
    app = create_app(Settings(database_url=database_url, policies=path, log_flush_s=0.05, policy_reload_s=0,
                              state_dir=str(tmp_path / f"state-{len(list(tmp_path.iterdir()))}"),
                              **settings), scorer_factory=lambda _p: scorer)
    return serve_app(app)


def chat(served) -> httpx.Response:
    return httpx.post(served.base_url + "/v1/chat/completions", json=HELLO, timeout=30)


def test_breaker_opens_after_failures_and_lets_one_trial_through_after_cooldown():
    now = [0.0]
    breaker = CircuitBreaker(failures=2, cooldown_s=10, clock=lambda: now[0])
    assert breaker.allow()
    breaker.failure()
    assert breaker.allow() and not breaker.open
    breaker.failure()
    assert breaker.open and not breaker.allow()
    now[0] = 9.9
    assert not breaker.allow()
    now[0] = 10.0
    assert breaker.allow()  # the half-open trial
    assert not breaker.allow()  # only one at a time
    breaker.failure()  # the trial failed: open again for a full cooldown
    now[0] = 19.9
    assert not breaker.allow()
    now[0] = 20.0
    assert breaker.allow()
    breaker.success()
    assert not breaker.open and breaker.allow() and breaker.allow()


def test_slow_scorer_times_out_to_the_fallback(serve_app, tmp_path, database_url, upstream):
    served = serve(serve_app, tmp_path, database_url, upstream, ScriptedScorer(delay_s=2.0), scoring_timeout_s=0.3)
    started = time.monotonic()
    r = chat(served)
    assert time.monotonic() - started < 1.5
    assert (r.status_code, r.headers["x-v0-model"], r.headers["x-v0-fallback-reason"]) == (200, "strong", "scorer_timeout")
    row = wait_for_decision(database_url, r.headers["x-v0-decision-id"])
    assert (row.reason, row.chosen_model, row.status) == ("scorer_timeout", "strong", "ok")
    assert [c["p_success"] for c in row.candidates] == [0.0, 0.0]
    metrics = httpx.get(served.base_url + "/metrics").text
    assert 'v0_scorer_fallbacks_total{reason="scorer_timeout"} 1.0' in metrics


def test_failing_scorer_falls_back_then_the_breaker_stops_calling_it(serve_app, tmp_path, database_url, upstream):
    scorer = ScriptedScorer(failing=True)
    served = serve(serve_app, tmp_path, database_url, upstream, scorer, scoring_breaker_failures=2,
                   scoring_breaker_cooldown_s=0.5)
    reasons = [chat(served).headers["x-v0-fallback-reason"] for _ in range(4)]
    assert reasons == ["scorer_error", "scorer_error", "scorer_circuit_open", "scorer_circuit_open"]
    assert scorer.calls == 2
    scorer.failing = False
    time.sleep(0.6)  # the cooldown: the next request is the trial, and it succeeds
    r = chat(served)
    assert (r.headers["x-v0-model"], "x-v0-fallback-reason" in r.headers) == ("ok", False)
    assert scorer.calls == 3


def test_a_full_scoring_queue_routes_without_scores(serve_app, tmp_path, database_url, upstream):
    served = serve(serve_app, tmp_path, database_url, upstream, ScriptedScorer(delay_s=1.0), scoring_queue_max=1)
    with ThreadPoolExecutor(3) as pool:
        first = pool.submit(chat, served)
        time.sleep(0.3)  # the first request is being scored
        others = [pool.submit(chat, served) for _ in range(2)]
        reasons = [f.result().headers.get("x-v0-fallback-reason") for f in others]
        assert first.result().headers.get("x-v0-fallback-reason") is None
    assert reasons == ["scorer_overloaded", "scorer_overloaded"]
