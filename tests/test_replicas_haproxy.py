"""Three gateway replicas on one PostgreSQL behind Debian's HAProxy (bench/replicas.py): 1,000
routed requests, JSON and streamed, while replica A is killed with SIGKILL and replica B is
restarted (drained at HAProxy first, as in a rolling restart). Every answered request has
exactly one decision row, none is lost once A replays its spool, only requests in flight on A
at its kill fail, a profile uploaded on C is used by A and B, and (with Redis reachable) a
key's rpm holds exactly across the replicas."""

from __future__ import annotations

import shutil

import pytest

from bench.replicas import run
from router.migrate import upgrade

pytestmark = pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy is not installed (apt-get install haproxy)")

REQUESTS, CONCURRENCY = 1000, 32


@pytest.mark.parametrize("empty_database", ["postgresql"], indirect=True)
def test_replicas_behind_haproxy_lose_no_row(empty_database, tmp_path):
    upgrade(empty_database)
    r = run(empty_database, tmp_path, REQUESTS, CONCURRENCY)
    print("\n" + "\n".join(f"{k}: {v}" for k, v in r.items()))
    assert r["served"] + r["failed"] == REQUESTS
    assert set(r["served_by"]) == {"A", "B", "C"}
    # Only requests in flight on A when it was killed can fail: B is drained before its restart, and
    # HAProxy sends a request whose connection to A was refused to another replica.
    assert r["failed_after_b_restarted"] == 0
    assert r["failed"] <= 2 * CONCURRENCY  # in flight on A at its kill, and sent to it before HAProxy saw it down
    # The decision log: one ok row per answered request, none lost, rows of A's last second from its spool.
    assert r["answered_with_one_ok_row"] == r["served"]
    assert r["answered_rows_histogram"] == {"1": r["served"]}
    assert r["lost"] == 0
    # A wrote nothing to the database before its kill: its answers came back from its spool at its restart.
    assert r["rows_from_a_spool"] >= r["answered_by_a"] > 0
    assert r["rows_after_a_restart"] == r["served"] + r["rows_of_failed_requests"]
    # A profile uploaded on C reaches A and B through their poll loops.
    assert set(r["upload_seen_after_s"]) == {"A", "B"}
    # With Redis, a key's rpm holds exactly across the three replicas behind HAProxy; a Redis call
    # that timed out (a replica starved of CPU) lets one admission through on local counters.
    if r["key_rpm"] is not None:
        rpm = r["key_rpm"]
        assert rpm["admitted"] + rpm["refused"] == 150 and rpm["other"] == 0
        assert 60 <= rpm["admitted"] <= 60 + rpm["redis_call_failures"]
        if rpm["redis_call_failures"] == 0:
            assert rpm["limits_backend"] == {"A": "redis", "B": "redis", "C": "redis"}
