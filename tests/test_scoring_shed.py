"""A burst beyond the scoring queue keeps its scores' intent: requests shed without scores go to
the policy's ``overload_fallback``, else to the candidate the policy chose most often for recent
scored requests, and only without either to its ``fallback``; counted in /metrics."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx

from gateway_support import SCORES, FixedScorer, policies_yaml, start_gateway, wait_until

SHEDDING = "  shedding:\n    candidates: [ok, strong]\n    threshold: 0.99\n    fallback: strong\n" \
           "    overload_fallback: ok\n"


class GatedScorer(FixedScorer):
    """Scores like FixedScorer once ``gate`` is open."""

    def __init__(self) -> None:
        super().__init__(SCORES)
        self.gate = threading.Event()
        self.gate.set()

    def score(self, text, candidates, *, profile_size=256):
        assert self.gate.wait(60)
        return super().score(text, candidates, profile_size=profile_size)


def chat(served, model: str) -> httpx.Response:
    return httpx.post(served.base_url + "/v1/chat/completions", timeout=60,
                      json={"model": model, "messages": [{"role": "user", "content": "hello"}]})


def test_a_full_queue_sheds_to_the_cheap_rule_not_the_dearest(serve_app, tmp_path, fresh_database, upstream):
    scorer = GatedScorer()
    served = start_gateway(serve_app, tmp_path, fresh_database, upstream.base_url, scorer=scorer,
                           policies_text=policies_yaml(upstream.base_url) + SHEDDING, scoring_queue_max=1,
                           scoring_timeout_s=60)
    scored = [chat(served, "router/balanced") for _ in range(3)]
    assert [(r.headers["x-v0-model"], r.headers.get("x-v0-fallback-reason")) for r in scored] == [("ok", None)] * 3

    scorer.gate.clear()
    with ThreadPoolExecutor(1) as pool:
        held = pool.submit(chat, served, "router/balanced")  # holds the one place in the queue
        wait_until(lambda: served.app.state.scoring_guard.waiting == 1)
        shed = {model: [chat(served, model) for _ in range(3)]
                for model in ("router/balanced", "router/shedding", "router/strict")}
        scorer.gate.set()
        assert held.result().headers["x-v0-model"] == "ok"
    got = {model: [(r.status_code, r.headers["x-v0-model"], r.headers["x-v0-fallback-reason"]) for r in rs]
           for model, rs in shed.items()}
    assert got == {"router/balanced": [(200, "ok", "scorer_overloaded")] * 3,  # the policy's usual choice
                   "router/shedding": [(200, "ok", "scorer_overloaded")] * 3,  # its overload_fallback
                   "router/strict": [(200, "strong", "scorer_overloaded")] * 3}  # no history: its fallback
    text = httpx.get(served.base_url + "/metrics").text
    for line in ('v0_scorer_shed{model="ok",policy="balanced"} 3.0', 'v0_scorer_shed{model="ok",policy="shedding"} 3.0',
                 'v0_scorer_shed{model="strong",policy="strict"} 3.0',
                 'v0_scorer_fallbacks_total{reason="scorer_overloaded"} 9.0'):
        assert line in text, line
