"""Chat requests waiting for scores are scored together on one thread: the batcher takes every
waiting request at once (at most its limit), skips requests that gave up waiting, and gives each
request its own result or failure; batched V0 scores equal one-at-a-time scores, and concurrent
requests through the gateway get the scores they would have got alone."""

from __future__ import annotations

import re
import threading
from concurrent.futures import CancelledError, ThreadPoolExecutor

import httpx
import pytest

from profiles_support import arithmetic, client, policies_yaml, start_v0_gateway, translation, upload
from router.policies import parse_policies
from router.scoring.base import OneByOne, ScoreQuery, ScoreResult, score_batch
from router.scoring.batcher import ScoreBatcher
from router.scoring.v0 import V0Scorer
from router.store.db import make_engine
from router.profiles.seed import seed_default_profiles


class Gate:
    """A batch function that blocks its first batch until released, and records every batch."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.entered, self.release = threading.Event(), threading.Event()

    def __call__(self, items):
        self.batches.append(list(items))
        self.entered.set()
        self.release.wait(10)
        return [ValueError(f"bad {x}") if x < 0 else x * 10 for x in items]


def test_requests_waiting_during_a_batch_are_scored_together_in_order():
    gate, sizes = Gate(), []
    batcher = ScoreBatcher(gate, max_batch=4, on_batch=sizes.append)
    first = batcher.submit(1)
    assert gate.entered.wait(5)
    waiting = [batcher.submit(x) for x in (2, -3, 4, 5, 6)]
    gate.release.set()
    assert first.result(5) == 10
    assert waiting[0].result(5) == 20 and waiting[2].result(5) == 40
    with pytest.raises(ValueError, match="bad -3"):
        waiting[1].result(5)
    assert [f.result(5) for f in waiting[3:]] == [50, 60]
    assert gate.batches == [[1], [2, -3, 4, 5], [6]]  # at most max_batch, arrival order
    assert sizes == [1, 4, 1]
    batcher.close()


def test_a_request_that_gave_up_before_its_batch_is_not_scored():
    gate = Gate()
    batcher = ScoreBatcher(gate)
    batcher.submit(1)
    assert gate.entered.wait(5)
    kept, dropped = batcher.submit(2), batcher.submit(3)
    assert dropped.cancel()
    gate.release.set()
    assert kept.result(5) == 20
    assert gate.batches == [[1], [2]]
    batcher.close()


def test_a_batch_function_that_raises_fails_every_request_of_that_batch_only():
    calls = []

    def run(items):
        calls.append(list(items))
        if len(calls) == 1:
            raise RuntimeError("boom")
        return [x + 1 for x in items]

    batcher = ScoreBatcher(run)
    with pytest.raises(RuntimeError, match="boom"):
        batcher.submit(1).result(5)
    assert batcher.submit(2).result(5) == 3  # the thread lives on
    batcher.close()


def busy_batcher():
    """A batcher whose first batch (item 1) is stuck at its gate, with item 2 queued behind it."""
    gate = Gate()
    batcher = ScoreBatcher(gate)
    running = batcher.submit(1)
    assert gate.entered.wait(5)
    return gate, batcher, running, batcher.submit(2)


def test_close_scores_what_was_queued_then_refuses_new_requests():
    gate, batcher, running, queued = busy_batcher()
    closer = threading.Thread(target=batcher.close)
    closer.start()
    gate.release.set()
    closer.join(10)
    assert (running.result(5), queued.result(5)) == (10, 20)
    with pytest.raises(RuntimeError, match="closed"):
        batcher.submit(3)


def test_close_cancels_what_is_still_queued_after_its_time_limit():
    gate, batcher, running, queued = busy_batcher()
    batcher.close(timeout_s=0.1)  # the first batch is stuck
    with pytest.raises(CancelledError):
        queued.result(5)
    gate.release.set()
    assert running.result(5) == 10
    batcher._thread.join(5)
    assert not batcher._thread.is_alive()


class OneAtATime(OneByOne):
    """A scorer that scores one query at a time; raises on one text."""

    def score(self, text, candidates, *, profile_size=256):
        if text == "poison":
            raise ValueError("poison")
        return ScoreResult({c: len(text) / 100 for c in candidates})


class BatchFails(OneAtATime):
    def score_many(self, queries):
        raise RuntimeError("batch failed")


@pytest.mark.parametrize("scorer", [OneAtATime(), BatchFails()])
def test_one_bad_query_fails_only_itself(scorer):
    out = score_batch(scorer, [ScoreQuery("ab", ["x"]), ScoreQuery("poison", ["x"]), ScoreQuery("abcd", ["x", "y"])])
    assert out[0] == ScoreResult({"x": 0.02})
    assert isinstance(out[1], ValueError)
    assert out[2] == ScoreResult({"x": 0.04, "y": 0.04})


def test_v0_batch_scores_equal_one_at_a_time(v0, feature_cache, fresh_database):
    policies = parse_policies(open("policies.yaml").read())
    engine = make_engine(fresh_database)
    seed_default_profiles(engine, policies)
    scorer = V0Scorer(v0, engine, features=feature_cache)
    scorer.want(policies)
    scorer.refresh()
    sets = [p.candidates for p in policies.policies.values()]
    assert len({tuple(s) for s in sets}) > 1  # several candidate sets in one batch
    texts = ["hi", "What is 2+2?", "Prove that there are infinitely many primes.",
             "Write a haiku about autumn rain. " * 20, "Translate 'good morning' into French."]
    queries = [ScoreQuery(t, sets[i % len(sets)]) for i, t in enumerate(texts)]
    queries.append(ScoreQuery("no profile here", ["not-a-candidate", sets[0][0]]))
    queries.append(ScoreQuery("other window", [sets[0][0]], profile_size=7))  # no state kept for it
    batched = scorer.score_many(queries)
    alone = [scorer.score(q.text, q.candidates, profile_size=q.profile_size) for q in queries]
    for b, a in zip(batched, alone):
        assert b.p_success.keys() == a.p_success.keys()
        assert b.p_success == pytest.approx(a.p_success, abs=2e-6)
        assert b.profile_versions == a.profile_versions and b.fallback_reason is None
    assert batched[-2].p_success["not-a-candidate"] == 0.0 and batched[-2].p_success[sets[0][0]] > 0
    assert batched[-1].p_success == {sets[0][0]: 0.0} and batched[-1].profile_versions == {sets[0][0]: 0}
    assert len({round(r.p_success[sets[0][0]], 4) for r in batched[:5] if sets[0][0] in r.p_success}) > 1
    engine.dispose()


def test_concurrent_chat_requests_get_their_own_scores(v0, feature_cache, fresh_database, serve_app, tmp_path,
                                                      upstream):
    served = start_v0_gateway(serve_app, tmp_path, fresh_database, policies_yaml(upstream.base_url),
                              v0=v0, features=feature_cache)
    assert upload(served, "cheap", [(arithmetic(i), 0.0) for i in range(12)]
                  + [(translation(i), 1.0) for i in range(12)]).status_code == 201
    assert upload(served, "strong", [(arithmetic(i), 1.0) for i in range(24)]).status_code == 201
    texts = [arithmetic(i) if i % 2 else translation(i) for i in range(100, 124)]
    oai = client(served)

    def ask(text: str):
        raw = oai.chat.completions.with_raw_response.create(model="auto", messages=[{"role": "user", "content": text}])
        assert raw.parse().choices[0].message.content == f"echo: {text}"
        assert "x-v0-fallback-reason" not in raw.headers
        return raw.headers["x-v0-model"]

    with ThreadPoolExecutor(12) as pool:
        chosen = list(pool.map(ask, texts))
    scorer = served.app.state.scorer
    alone = [scorer.score(t, ["cheap", "strong"], profile_size=24) for t in texts]
    threshold = 0.5
    expected = ["cheap" if a.p_success["cheap"] >= threshold else "strong" for a in alone]
    assert chosen == expected
    assert {"cheap", "strong"} <= set(chosen)
    text = httpx.get(served.base_url + "/metrics").text
    count = float(re.search(r"^v0_scoring_batch_size_count (\S+)$", text, re.M).group(1))
    total = float(re.search(r"^v0_scoring_batch_size_sum (\S+)$", text, re.M).group(1))
    assert total == len(texts) and 1 <= count <= len(texts)  # every request went through a batch
