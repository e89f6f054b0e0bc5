"""Limits shared through Redis (V0_REDIS_URL): three gateway processes admit exactly a key's rpm
between them in a burst; with Redis unreachable a replica serves on its own counters and says so
in /readyz and /metrics."""

from __future__ import annotations

import asyncio
import os
import time

import httpx
import pytest

from bench.faults.gateway_process import GatewayProcess
from bench.loopback import LoopbackUpstream, free_port
from gateway_support import start_gateway
from test_admission import ADMIN, burst, create_key, gated_policies

REDIS_URL = os.environ.get("V0_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def redis_available() -> bool:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=1).ping()
        return True
    except redis.RedisError:
        return False


needs_redis = pytest.mark.skipif(not redis_available(), reason=f"Redis not reachable at {REDIS_URL}")


@pytest.fixture
def gated():
    with LoopbackUpstream() as up:
        yield up
        up.app.gate.set()


@needs_redis
@pytest.mark.parametrize("fresh_database", ["postgresql"], indirect=True)
def test_three_replicas_share_rpm_through_redis(tmp_path, fresh_database, gated):
    (tmp_path / "policies.yaml").write_text(gated_policies(gated.base_url))
    replicas = [GatewayProcess(tmp_path, fresh_database, gated.base_url, V0_REDIS_URL=REDIS_URL, V0_ADMIN_KEY="adm",
                               V0_PROFILE_POLL_S="0.2") for _ in range(3)]
    try:
        for replica in replicas:
            replica.start()
        _, key = create_key(replicas[0], rpm=60)
        time.sleep(1.0)  # every replica's poll loop (0.2 s) has read the new key
        codes = asyncio.run(burst([r.base_url for r in replicas], key, 300, gated))
        assert (codes.count(200), codes.count(429)) == (60, 240)
        for replica in replicas:
            assert httpx.get(replica.base_url + "/readyz").json()["limits"] == "redis"
    finally:
        for replica in replicas:
            replica.stop()


def test_redis_down_serves_on_local_counters(serve_app, tmp_path, fresh_database, upstream):
    gateway = start_gateway(serve_app, tmp_path, fresh_database, upstream.base_url, admin_key="adm",
                            redis_url=f"redis://127.0.0.1:{free_port()}/0")
    _, key = create_key(gateway, rpm=3)
    codes = [httpx.post(gateway.base_url + "/v1/chat/completions", headers={"Authorization": f"Bearer {key}"},
                        json={"model": "ok", "messages": [{"role": "user", "content": "hi"}]}).status_code
             for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]
    assert httpx.get(gateway.base_url + "/readyz").json()["limits"] == "local-fallback"
    text = httpx.get(gateway.base_url + "/metrics").text
    assert "v0_limits_shared 0.0" in text
    failures = gateway.app.state.limiter.shared_failures  # one per retry interval, not one per request
    assert 1 <= failures < 5 and f"v0_limits_shared_failures {float(failures)}" in text
