"""A client key's rpm across the replicas of bench/replicas.py: with Redis shared by the replicas
(``V0_REDIS_URL``), a key with rpm 60 made on one replica gets 150 requests at once through HAProxy,
and exactly 60 must be admitted across the three (one more per Redis call that timed out and fell
back to a replica's own counters, read from ``/metrics``)."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import httpx

from bench.faults.gateway_process import GatewayProcess
from bench.haproxy import HAProxy

ADMIN_KEY = "replicas-admin"


def redis_url() -> str | None:
    """The Redis the replicas share counters in (``V0_TEST_REDIS_URL``, default the local one), if it answers."""
    import redis

    url = os.environ.get("V0_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    try:
        redis.Redis.from_url(url, socket_timeout=1).ping()
        return url
    except redis.RedisError:
        return None


def key_rpm_across_replicas(proxy: HAProxy, gws: dict[str, GatewayProcess], rpm: int = 60,
                            sent: int = 150) -> dict[str, Any]:
    """A key with ``rpm`` made on C; ``sent`` chat requests with it at once through HAProxy (so
    spread over the three replicas): how many were admitted (200) and refused (429)."""
    r = httpx.post(gws["C"].base_url + "/admin/keys", json={"name": "rpm", "rpm": rpm}, timeout=30,
                   headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    assert r.status_code == 201, r.text
    key, deadline = r.json()["key"], time.monotonic() + 30
    while not all(httpx.get(gw.base_url + "/v1/models", headers={"Authorization": f"Bearer {key}"},
                            timeout=10).status_code == 200 for gw in gws.values()):
        assert time.monotonic() < deadline, "the new key did not reach every replica"
        time.sleep(0.1)

    async def burst() -> list[int]:
        async with httpx.AsyncClient(base_url=proxy.base_url, timeout=60,
                                     headers={"Authorization": f"Bearer {key}"}) as client:
            async def one(n: int) -> int:
                body = {"model": "auto", "messages": [{"role": "user", "content": f"rpm-{n}"}]}
                return (await client.post("/v1/chat/completions", json=body)).status_code
            return await asyncio.gather(*(one(n) for n in range(sent)))

    failures = shared_failures(gws)
    codes = asyncio.run(burst())
    limits = {name: httpx.get(gw.base_url + "/readyz", timeout=10).json().get("limits") for name, gw in gws.items()}
    return {"rpm": rpm, "sent": sent, "admitted": codes.count(200), "refused": codes.count(429),
            "other": len(codes) - codes.count(200) - codes.count(429), "limits_backend": limits,
            "redis_call_failures": shared_failures(gws) - failures}


def shared_failures(gws: dict[str, GatewayProcess]) -> int:
    """Redis calls for limits that failed (timed out), summed over the replicas (/metrics): each
    let an admission fall back to that replica's own counters."""
    total = 0
    for gw in gws.values():
        for line in httpx.get(gw.base_url + "/metrics", timeout=10).text.splitlines():
            if line.startswith("v0_limits_shared_failures "):
                total += int(float(line.split()[1]))
    return total
