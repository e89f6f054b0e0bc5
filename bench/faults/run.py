"""Fault benchmark: the gateway under load while PostgreSQL is refused, black-holed, while the
gateway gets SIGTERM or kill -9, and with poison prompts mixed in. Loopback only, bounded.

    python -m bench.faults.run [--fault-s 30] [--rate 40] [--scenarios refused,blackhole,sigterm,kill9,poison]

Each scenario: a fresh PostgreSQL database (V0_TEST_PG_URL, default postgres@127.0.0.1:5432/test)
behind bench/faults/proxy.py, the loopback upstream of bench/loopback.py, the gateway as a
real process (stand-in scorer). Load: ``--rate`` chat requests per second (httpx), ``--fault-s``
before, during and after the fault. Prints requests answered, chat p99 before and during the
fault, and rows expected (answered requests) vs written.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import sqlalchemy as sa

from bench.faults.gateway_process import CLIENT_KEY, GatewayProcess
from bench.faults.proxy import FaultProxy
from bench.loopback import LoopbackUpstream

PG = os.environ.get("V0_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
POISON = ["lone \ud800 surrogate", "nul \x00 byte"]


def p99(xs: list[float]) -> float:
    return sorted(xs)[min(len(xs) - 1, int(0.99 * len(xs)))] * 1000 if xs else float("nan")


async def load(base: str, rate: float, stop: asyncio.Event, phase: dict[str, str],
               out: list[tuple[str, float, int, str]], poison: bool) -> None:
    async with httpx.AsyncClient(timeout=60, headers={"Authorization": f"Bearer {CLIENT_KEY}"}) as client:
        async def one(i: int) -> None:
            text = POISON[i % 2] if poison and i % 10 == 0 else f"question {i}"
            started, label = time.perf_counter(), phase["now"]
            try:
                body = {"model": "router/balanced", "messages": [{"role": "user", "content": text}]}
                r = await client.post(base + "/v1/chat/completions", content=json.dumps(body).encode(),
                                      headers={"content-type": "application/json"})  # \ud800 as a JSON escape
                out.append((label, time.perf_counter() - started, r.status_code, r.headers.get("x-v0-decision-id", "")))
            except httpx.HTTPError:
                out.append((label, time.perf_counter() - started, 0, ""))

        tasks, i = [], 0
        while not stop.is_set():
            tasks.append(asyncio.create_task(one(i)))
            i += 1
            await asyncio.sleep(1 / rate)
        await asyncio.gather(*tasks)


def rows_written(url: str, ids: list[str]) -> int:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        found = {r[0] for r in conn.execute(sa.text("SELECT id FROM decision"))}
    engine.dispose()
    return len(set(ids) & found)


async def scenario(name: str, fault_s: float, rate: float, upstream: LoopbackUpstream, work: Path) -> dict:
    from router.migrate import upgrade

    admin = sa.create_engine(PG, isolation_level="AUTOCOMMIT")
    db = f"v0_faults_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{db}"'))
    url = PG.rsplit("/", 1)[0] + "/" + db
    upgrade(url)
    u = sa.engine.make_url(url)
    tmp = work / name
    tmp.mkdir(parents=True)
    try:
        with FaultProxy(u.host, u.port or 5432) as proxy:
            via = u.set(port=proxy.port).render_as_string(hide_password=False)
            gw = GatewayProcess(tmp, via, upstream.base_url, V0_LOG_CLOSE_TIMEOUT_S="10",
                                V0_LOG_RETRY_MAX_S="1", V0_PROFILE_POLL_S="1").start()
            out: list[tuple[str, float, int, str]] = []
            phase, stop = {"now": "warmup"}, asyncio.Event()  # first 3 s: not counted in p99
            loader = asyncio.create_task(load(gw.base_url, rate, stop, phase, out, name == "poison"))
            await asyncio.sleep(3)
            phase["now"] = "normal"
            await asyncio.sleep(fault_s)
            phase["now"] = "fault"
            if name in ("refused", "blackhole"):
                proxy.set_mode("refuse" if name == "refused" else "blackhole")
                probes = []
                for _ in range(int(fault_s)):  # an orchestrator's probe, once a second
                    t = time.perf_counter()
                    async with httpx.AsyncClient(timeout=30) as c:
                        await c.get(gw.base_url + "/readyz")
                    probes.append(time.perf_counter() - t)
                    await asyncio.sleep(1)
                proxy.set_mode("pass")
            elif name in ("sigterm", "kill9"):
                assert gw.proc is not None
                gw.proc.send_signal(signal.SIGTERM if name == "sigterm" else signal.SIGKILL)
                await asyncio.to_thread(gw.wait, 30)
                await asyncio.sleep(2)
                gw.start()  # restart: the spool is replayed (kill -9) or empty (SIGTERM)
            else:
                await asyncio.sleep(fault_s)
            phase["now"] = "after"
            await asyncio.sleep(fault_s)
            stop.set()
            await loader
            ids = [d for _, _, status, d in out if status == 200 and d]
            deadline = time.monotonic() + 60
            while rows_written(url, ids) < len(ids) and time.monotonic() < deadline:
                await asyncio.sleep(0.5)
            written = rows_written(url, ids)
            gw.proc.send_signal(signal.SIGTERM) if gw.proc else None
            gw.wait(30)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
        admin.dispose()
    lat = {p: [s for label, s, st, _ in out if label == p and st == 200] for p in ("normal", "fault", "after")}
    codes: dict[int, int] = {}
    for _, _, st, _ in out:
        codes[st] = codes.get(st, 0) + 1
    return {"scenario": name, "sent": len(out), "status": codes, "answered": len(ids),
            "p99_normal_ms": round(p99(lat["normal"]), 1), "p99_fault_ms": round(p99(lat["fault"]), 1),
            "rows_expected": len(ids), "rows_written": written}


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fault-s", type=float, default=30)
    ap.add_argument("--rate", type=float, default=40)
    ap.add_argument("--scenarios", default="refused,blackhole,sigterm,kill9,poison")
    ap.add_argument("--work", default=None, help="working folder (default: a new temporary folder)")
    args = ap.parse_args()
    with LoopbackUpstream() as upstream:
        for name in args.scenarios.split(","):
            print(await scenario(name, args.fault_s, args.rate, upstream, Path(args.work or tempfile.mkdtemp(prefix="v0-faults-"))), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
