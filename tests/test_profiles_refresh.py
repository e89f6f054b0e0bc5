"""The coalesced profile refresh (router/profiles/refresh.py): a burst of grades costs one
rebuild, asks during a rebuild join exactly one more, ``wait`` returns after a rebuild that
started after it, a failing rebuild ends the wait and is counted; and through the gateway, a
burst of 40 concurrent feedback grades rebuilds the states a handful of times, not 40."""

from __future__ import annotations

import asyncio

import httpx

from profiles_support import admin, policies_yaml, start_v0_gateway, upload
from router.profiles.refresh import ProfileRefresh


class Rebuilds:
    """A stand-in for the scorer's refresh that can be held open."""

    def __init__(self) -> None:
        self.started = 0
        self.gate: asyncio.Event | None = None
        self.fail = False

    async def __call__(self) -> None:
        self.started += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.fail:
            raise RuntimeError("database away")


def test_a_burst_of_asks_is_one_rebuild() -> None:
    async def main() -> None:
        rebuilds = Rebuilds()
        refresh = ProfileRefresh(rebuilds, interval_s=0)
        await asyncio.gather(*(refresh.wait() for _ in range(50)))
        assert (rebuilds.started, refresh.runs, refresh.asks) == (1, 1, 50)
        for _ in range(50):
            refresh.soon()
        await refresh.wait()
        assert (rebuilds.started, refresh.runs, refresh.asks) == (2, 2, 101)
        await refresh.close()

    asyncio.run(main())


def test_asks_during_a_rebuild_join_exactly_one_more() -> None:
    async def main() -> None:
        rebuilds = Rebuilds()
        rebuilds.gate = asyncio.Event()
        refresh = ProfileRefresh(rebuilds, interval_s=0)
        first = asyncio.ensure_future(refresh.wait())
        while rebuilds.started == 0:
            await asyncio.sleep(0)
        later = [asyncio.ensure_future(refresh.wait()) for _ in range(30)]
        await asyncio.sleep(0)
        assert not first.done() and not any(w.done() for w in later)
        rebuilds.gate.set()
        await first
        await asyncio.gather(*later)
        assert rebuilds.started == 2  # the one running when they asked, then one for all 30
        await refresh.close()

    asyncio.run(main())


def test_a_failed_rebuild_ends_the_wait_and_is_counted() -> None:
    async def main() -> None:
        rebuilds = Rebuilds()
        rebuilds.fail = True
        refresh = ProfileRefresh(rebuilds, interval_s=0)
        await refresh.wait()
        assert (refresh.runs, refresh.failures) == (1, 1)
        rebuilds.fail = False
        await refresh.wait()
        assert (refresh.runs, refresh.failures) == (2, 1)
        await refresh.close()

    asyncio.run(main())


def test_close_releases_a_waiting_ask() -> None:
    async def main() -> None:
        rebuilds = Rebuilds()
        refresh = ProfileRefresh(rebuilds, interval_s=3600)
        await refresh.now()  # the interval starts: the next ask waits an hour
        waiting = asyncio.ensure_future(refresh.wait())
        await asyncio.sleep(0)
        await refresh.close()
        await waiting
        assert rebuilds.started == 1

    asyncio.run(main())


def test_a_burst_of_feedback_rebuilds_a_few_times(v0, feature_cache, fresh_database, serve_app, tmp_path,
                                                  upstream) -> None:
    served = start_v0_gateway(serve_app, tmp_path, fresh_database, policies_yaml(upstream.base_url),
                              v0=v0.with_head("knn"), features=feature_cache, profile_refresh_s=0.5)
    rows = [(f"question {i}", float(i % 2)) for i in range(24)]
    for model in ("cheap", "strong"):
        assert upload(served, model, rows).status_code == 201
    ids = []
    with httpx.Client(base_url=served.base_url, timeout=30) as http:
        for i in range(40):
            r = http.post("/v1/chat/completions", json={"model": "cheap", "messages": [
                {"role": "user", "content": f"grade me {i}"}]})
            assert r.status_code == 200
            ids.append(r.headers["x-v0-decision-id"])
    refresher = served.app.state.profiles.refresher
    runs_before = refresher.runs

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=served.base_url, timeout=60) as http:
            return await asyncio.gather(*(http.post("/v1/feedback", json={"decision_id": d, "score": 1.0})
                                          for d in ids))

    answers = asyncio.run(burst())
    assert [r.status_code for r in answers] == [200] * 40
    assert sorted(r.json()["profile_version"] for r in answers) == list(range(2, 42))
    runs = refresher.runs - runs_before
    assert 1 <= runs < 40, runs
    version = admin(served, "GET", "/admin/profiles").json()
    assert [p["version"] for p in version if p["model"] == "cheap"] == [41]
