"""Three gateway replicas behind HAProxy on one PostgreSQL, under load, while one replica is
killed with SIGKILL and another restarted (tests/test_replicas_haproxy.py runs it and checks it).

Everything runs on loopback: the upstream (bench/loopback.py, its own process), three gateway
processes (V0 scoring, a writer flushing every ``FLUSH_S``, each its own state directory, as
containers would have; replica A's writer writes nothing to the database before A is killed, so
that every row A answered must come back from its spool), and Debian's ``haproxy`` in front, health-checking ``GET /readyz``
(every 500 ms, each check allowed 5 s: a replica busy with the load is not taken out; down
after 2 failures, which a killed replica's refused connection gives at once) and retrying a request whose connection to a replica
failed on another one (``retry-on conn-failure``, ``option redispatch``; a request that reached
a replica is never sent twice). The load: ``requests`` chat completions for ``auto`` (routed),
half JSON and half streamed, at most ``concurrency`` at once, each with its own prompt
(``req-<n>``) so that its decision row can be found. After a third of them are answered replica
A is killed (SIGKILL of its process group); after two thirds replica B is restarted as in a
rolling restart: set to drain at HAProxy (no new requests; its requests in flight finish), stopped
with SIGTERM, started, and set ready again. After the load, A is started again on its state directory and
replays its spool. Then a profile uploaded on C must be used by A and B (their next
``/v1/route`` shows its version) within the poll interval. With Redis reachable
(``V0_TEST_REDIS_URL``, default the local one) the replicas share their key counters there
(``V0_REDIS_URL``), and a key with rpm 60 made on C gets 150 requests at once through HAProxy:
exactly 60 must be admitted across the three replicas.

Reported: served (200 and, for streams, ``[DONE]`` without an error event), failed (by cause),
HAProxy's retries and redispatches, decision rows per answered request (must be exactly one,
``ok``), rows of failed requests, rows written only when A replayed its spool, rows lost, and
how long the upload took to reach each other replica.

    python -m bench.replicas [--requests 1000] [--concurrency 32] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import signal
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.faults.gateway_process import CLIENT_KEY, GatewayProcess
from bench.haproxy import HAProxy
from bench.loopback import loopback_process
from bench.replicas_limits import ADMIN_KEY, key_rpm_across_replicas, redis_url

FLUSH_S = "1"  # the decision writer's flush interval
HOLD_S = "600"  # replica A's until it is killed: every row it answered is then in its spool only
POLL_S = 1.0  # V0_PROFILE_POLL_S of every replica

@dataclass
class Outcome:
    n: int
    stream: bool
    status: int  # HTTP status; 0 = no response (connection error)
    complete: bool  # 200 and the whole answer (streams: [DONE] and no error event)
    served_by: str | None
    finished_after: int = 0  # requests finished before this one
    detail: str = ""  # the start of a refused request's body


def prompt(n: int) -> str:
    return f"req-{n:05d}: say hello"


async def one(client: httpx.AsyncClient, n: int, stream: bool) -> Outcome:
    body = {"model": "auto", "stream": stream, "messages": [{"role": "user", "content": prompt(n)}]}
    try:
        if not stream:
            r = await client.post("/v1/chat/completions", json=body)
            done = r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == f"echo: {prompt(n)}"
            return Outcome(n, False, r.status_code, done, r.headers.get("x-served-by"), detail=r.text[:80])
        async with client.stream("POST", "/v1/chat/completions", json=body) as r:
            lines = [line async for line in r.aiter_lines() if line.startswith("data: ")]
            done = r.status_code == 200 and lines[-1:] == ["data: [DONE]"] and not any('"error"' in x for x in lines)
            return Outcome(n, True, r.status_code, done, r.headers.get("x-served-by"), detail="".join(lines)[:80])
    except (httpx.HTTPError, json.JSONDecodeError) as exc:
        return Outcome(n, stream, 0, False, None, detail=type(exc).__name__)


async def load(base_url: str, requests: int, concurrency: int,
               events: dict[int, Callable[[], None]]) -> list[Outcome]:
    """``requests`` requests, ``concurrency`` at a time; ``events[k]`` runs (in a thread, the load
    going on) once k requests have finished."""
    gate = asyncio.Semaphore(concurrency)
    finished, running, out = 0, [], []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits,
                                 headers={"Authorization": f"Bearer {CLIENT_KEY}"}) as client:
        async def run(n: int) -> None:
            nonlocal finished
            async with gate:
                outcome = await one(client, n, stream=n % 2 == 1)
            outcome.finished_after = finished
            out.append(outcome)
            finished += 1
            if finished in events:
                running.append(asyncio.create_task(asyncio.to_thread(events[finished])))

        await asyncio.gather(*(run(n) for n in range(requests)))
        await asyncio.gather(*running)
    return sorted(out, key=lambda o: o.n)


def rows_by_request(database_url: str) -> dict[int, list[str]]:
    """Decision rows of the load's requests: request number -> the rows' statuses."""
    import sqlalchemy as sa

    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT routing_text, status FROM decision WHERE routing_text LIKE 'req-%'")).all()
    engine.dispose()
    out: dict[int, list[str]] = collections.defaultdict(list)
    for text, status in rows:
        out[int(text[4:9])].append(status)
    return out


def settle(database_url: str, timeout: float = 30) -> dict[int, list[str]]:
    """The rows once their count stopped changing (writers flushed)."""
    last, deadline = -1, time.monotonic() + timeout
    while True:
        rows = rows_by_request(database_url)
        count = sum(map(len, rows.values()))
        if count == last or time.monotonic() > deadline:
            return rows
        last = count
        time.sleep(2 * float(FLUSH_S))


def route_version(gw: GatewayProcess, model: str) -> int:
    r = httpx.post(gw.base_url + "/v1/route", timeout=30, headers={"Authorization": f"Bearer {CLIENT_KEY}"},
                   json={"model": "auto", "messages": [{"role": "user", "content": "hello"}]})
    return {c["name"]: c["profile_version"] for c in r.json()["candidates"]}[model]


def upload_reaches_others(a: GatewayProcess, b: GatewayProcess, c: GatewayProcess,
                          timeout: float = 30) -> dict[str, float]:
    """Upload a profile for "ok" on C; seconds until A and B route with its version."""
    rows = "".join(json.dumps({"prompt": f"translate {i} words", "score": 1.0}) + "\n" for i in range(8))
    r = httpx.post(c.base_url + "/admin/profiles/ok", content=rows, timeout=120,
                   headers={"Authorization": f"Bearer {ADMIN_KEY}", "Content-Type": "application/jsonl"})
    assert r.status_code == 201, r.text
    version, t0, seen = r.json()["version"], time.perf_counter(), {}
    while len(seen) < 2 and time.perf_counter() - t0 < timeout:
        for name, gw in (("A", a), ("B", b)):
            if name not in seen and route_version(gw, "ok") == version:
                seen[name] = round(time.perf_counter() - t0, 2)
        time.sleep(0.05)
    return seen


def run(database_url: str, workdir: Path, requests: int = 1000, concurrency: int = 32) -> dict[str, Any]:
    """The whole scenario on a migrated, empty database; returns the figures."""
    from valuemodel.infer import V0Runtime

    V0Runtime.load()  # ONNX files built once here (if missing), not by three replicas at once
    shared = redis_url()
    with loopback_process() as upstream:
        gws = {name: GatewayProcess(workdir, database_url, upstream, V0_SCORER="v0", V0_ADMIN_KEY=ADMIN_KEY,
                                    V0_LOG_FLUSH_S=FLUSH_S, V0_PROFILE_POLL_S=str(POLL_S),
                                    V0_STATE_DIR=str(workdir / f"state-{name}"),
                                    **({"V0_REDIS_URL": shared} if shared else {}))
               for name in "ABC"}
        gws["A"].env.update(V0_LOG_FLUSH_S=HOLD_S, V0_LOG_BATCH_SIZE="1000000")  # A's rows: in its spool only
        with ThreadPoolExecutor(len(gws)) as pool:  # started side by side, as a deployment would
            list(pool.map(lambda gw: gw.start(timeout=120), gws.values()))
        proxy = HAProxy(workdir, {name: gw.port for name, gw in gws.items()})
        try:
            proxy.wait_up(set(gws))
            times: dict[str, float] = {}
            t0 = time.perf_counter()

            def kill_a() -> None:
                times["A killed at request"] = requests // 3
                gws["A"].kill_group()

            def restart_b() -> None:  # a rolling restart: drained at HAProxy, then SIGTERM, start, ready
                times["B restarted at request"] = 2 * requests // 3
                proxy.drain("B")
                os.killpg(gws["B"].proc.pid, signal.SIGTERM)
                gws["B"].wait(timeout=60)
                gws["B"].start(timeout=120)
                proxy.command("set server replicas/B state ready")

            outcomes = asyncio.run(load(proxy.base_url, requests, concurrency,
                                        {requests // 3: kill_a, 2 * requests // 3: restart_b}))
            load_s = time.perf_counter() - t0
            stats = {r["svname"]: r for r in proxy.stats() if r["pxname"] == "replicas"}
            before = settle(database_url)
            gws["A"].env.update(V0_LOG_FLUSH_S=FLUSH_S, V0_LOG_BATCH_SIZE="200")
            gws["A"].start(timeout=120)  # replays the spool it left at the kill
            proxy.wait_up({"A"})
            after = settle(database_url)
            reached = upload_reaches_others(gws["A"], gws["B"], gws["C"])
            rpm = key_rpm_across_replicas(proxy, gws) if shared else None
        finally:
            proxy.stop()
            for gw in gws.values():
                gw.stop()
    return {**report(outcomes, stats, before, after, reached, load_s, times), "key_rpm": rpm}


def report(outcomes: list[Outcome], stats: dict[str, dict[str, str]], before: dict[int, list[str]],
           after: dict[int, list[str]], reached: dict[str, float], load_s: float,
           times: dict[str, float]) -> dict[str, Any]:
    served = [o for o in outcomes if o.complete]
    failed = [o for o in outcomes if not o.complete]
    answered_rows = collections.Counter(len(after.get(o.n, [])) for o in served)
    return {
        "requests": len(outcomes), "streamed": sum(o.stream for o in outcomes), "load_s": round(load_s, 1),
        "served": len(served), "failed": len(failed),
        "failed_by_status": dict(collections.Counter(o.status for o in failed)),
        "failed_streams": sum(o.stream for o in failed),
        "failures": dict(collections.Counter(f"{o.status} {o.detail}" for o in failed).most_common(5)),
        "failed_after_a_killed": sum(times["A killed at request"] <= o.finished_after
                                     < times["B restarted at request"] for o in failed),
        "failed_after_b_restarted": sum(o.finished_after >= times["B restarted at request"] for o in failed),
        "served_by": dict(sorted(collections.Counter(o.served_by for o in served).items())),
        "haproxy_retries": int(stats["BACKEND"]["wretr"]), "haproxy_redispatches": int(stats["BACKEND"]["wredis"]),
        "answered_with_one_ok_row": sum(after.get(o.n) == ["ok"] for o in served),
        "answered_rows_histogram": {str(k): v for k, v in sorted(answered_rows.items())},
        "rows_of_failed_requests": sum(len(after.get(o.n, [])) for o in failed),
        "rows_before_a_restart": sum(map(len, before.values())),
        "rows_after_a_restart": sum(map(len, after.values())),
        "rows_from_a_spool": sum(map(len, after.values())) - sum(map(len, before.values())),
        "answered_by_a": sum(o.served_by == "A" for o in served),
        "lost": sum(o.n not in after for o in served),
        "upload_seen_after_s": reached, "poll_interval_s": POLL_S, **times,
    }


def main(argv: list[str] | None = None) -> int:
    from router.migrate import upgrade

    import sqlalchemy as sa

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
                    help="PostgreSQL server (an empty database is created there and dropped)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    name = f"v0_replicas_{os.getpid()}"
    admin = sa.create_engine(args.pg, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = args.pg.rsplit("/", 1)[0] + f"/{name}"
    try:
        upgrade(url)
        with tempfile.TemporaryDirectory(prefix="v0-replicas-") as tmp:
            result = run(url, Path(tmp), args.requests, args.concurrency)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    print("| figure | value |\n| --- | --- |")
    for k, v in result.items():
        print(f"| {k} | {v} |")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
