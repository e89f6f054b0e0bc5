"""Migrations on empty SQLite/PostgreSQL databases, the batched writer's bound and retries,
and a database outage under a running gateway."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import SQLModel

from gateway_support import TcpProxy, engine_for, get_decision, start_gateway, wait_until
from router.migrate import downgrade, upgrade
from router.store.models import DecisionCreate
from router.store.writer import DecisionWriter

COLUMNS = ["id", "created_at", "requested_model", "policy", "chosen_model", "answered_model", "reason",
           "candidates", "threshold", "p_success", "stream", "status", "http_status", "latency_ms",
           "prompt_tokens", "completion_tokens", "cost_usd", "error", "profile_versions", "feedback_score",
           "client_key_id", "routing_text", "feedback_at", "explore_rate", "propensity", "judge_score",
           "judge_model", "judge_cost_usd", "surface", "conversation_key", "threshold_source"]
TABLES = {"alembic_version", "decision", "profile_row", "profile_version", "client_key", "gateway_meta",
          "profile_feature", "grade"}


@pytest.mark.parametrize("empty_database", ["sqlite", "postgresql"], indirect=True)
def test_upgrade_head_and_downgrade_base_on_empty_database(empty_database):
    engine = sa.create_engine(empty_database)
    try:
        upgrade(empty_database)
        inspector = sa.inspect(engine)
        assert set(inspector.get_table_names()) == TABLES
        assert [c["name"] for c in inspector.get_columns("decision")] == COLUMNS
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == "0008"
            # The hand-written migration matches the SQLModel tables exactly.
            assert compare_metadata(MigrationContext.configure(conn), SQLModel.metadata) == []
        downgrade(empty_database)
        assert sa.inspect(engine).get_table_names() == ["alembic_version"]
        upgrade(empty_database)
        downgrade(empty_database, "0001")  # 0008 to 0002 down: back to issue 2's schema
        assert set(sa.inspect(engine).get_table_names()) == {"alembic_version", "decision"}
        assert [c["name"] for c in sa.inspect(engine).get_columns("decision")] == COLUMNS[:20]
        upgrade(empty_database)  # and back up again
        assert set(sa.inspect(engine).get_table_names()) == TABLES
    finally:
        engine.dispose()


def row(i: int) -> DecisionCreate:
    return DecisionCreate(id=f"{i:032d}", requested_model="m", chosen_model="m", status="ok")


def test_writer_buffer_is_bounded_and_drops_oldest():
    async def scenario():
        written: list[str] = []
        fail = True

        def write(_engine, rows):
            if fail:
                raise OperationalError("INSERT", {}, Exception("database is away"))
            written.extend(r.id for r in rows)

        writer = DecisionWriter(None, batch_size=2, flush_s=0.01, max_buffer=3, write=write)
        for i in range(5):
            writer.submit(row(i))
        assert (writer.pending, writer.dropped) == (3, 2)
        assert await writer.flush() is False
        assert (writer.pending, writer.failures) == (3, 1)
        fail = False
        writer.start()
        await asyncio.sleep(0.2)
        await writer.close()
        return written, writer

    written, writer = asyncio.run(scenario())
    assert written == [f"{i:032d}" for i in (2, 3, 4)]  # oldest two dropped, order kept
    assert (writer.pending, writer.written, writer.dropped) == (0, 3, 2)


def test_writer_drops_only_rows_the_database_refuses():
    async def scenario():
        written: list[str] = []

        def write(_engine, rows):
            if any(r.id == f"{1:032d}" for r in rows):
                raise IntegrityError("INSERT", {}, Exception("duplicate key"))
            written.extend(r.id for r in rows)

        writer = DecisionWriter(None, batch_size=10, write=write)
        for i in range(3):
            writer.submit(row(i))
        assert await writer.flush() is True
        return written, writer

    written, writer = asyncio.run(scenario())
    assert written == [f"{0:032d}", f"{2:032d}"]
    assert (writer.pending, writer.written, writer.quarantined) == (0, 2, 1)


def test_database_outage_buffers_then_flushes(serve_app, tmp_path, database_url, upstream):
    served = start_gateway(serve_app, tmp_path, database_url, upstream.base_url, log_retry_max_s=0.2)
    writer = served.app.state.writer
    db = engine_for(database_url)
    body = {"model": "ok", "messages": [{"role": "user", "content": "hello"}]}
    with db.begin() as conn:  # the outage: the table the writer needs disappears
        conn.execute(sa.text("ALTER TABLE decision RENAME TO decision_away"))
    try:
        ids = []
        for _ in range(3):
            response = httpx.post(served.base_url + "/v1/chat/completions", json=body, timeout=10)
            assert response.status_code == 200  # requests do not fail
            ids.append(response.headers["x-v0-decision-id"])
        wait_until(lambda: writer.failures >= 1)
        assert writer.pending == 3
    finally:
        with db.begin() as conn:
            conn.execute(sa.text("ALTER TABLE decision_away RENAME TO decision"))
    wait_until(lambda: writer.pending == 0)
    assert [get_decision(database_url, i) is not None for i in ids] == [True] * 3
    assert writer.dropped == 0


def test_unreachable_database_serves_requests_and_stays_ready(serve_app, tmp_path, upstream):
    url = f"sqlite:///{tmp_path}/no/such/dir/v0.db"
    served = start_gateway(serve_app, tmp_path, url, upstream.base_url, client_keys="static-key")
    body = {"model": "ok", "messages": [{"role": "user", "content": "hello"}]}
    response = httpx.post(served.base_url + "/v1/chat/completions", timeout=10, json=body,
                          headers={"Authorization": "Bearer static-key"})
    assert response.status_code == 200
    wait_until(lambda: served.app.state.writer.failures >= 1)
    ready = httpx.get(served.base_url + "/readyz")
    assert ready.status_code == 200  # it can serve: readiness does not depend on the database
    assert ready.json() == {"status": "ready", "policies_error": None, "limits": "local", "unprofiled_candidates": [], "decision_log": {
        "database": "unreachable", "pending": 1, "dropped": 0, "quarantined": 0}}
    assert "no/such/dir" not in ready.text


@pytest.mark.parametrize("empty_database", ["postgresql"], indirect=True)
def test_postgresql_unreachable_then_back(empty_database, serve_app, tmp_path, upstream):
    """The gateway reaches PostgreSQL through a loopback proxy; cutting it is a real outage."""
    database_url = empty_database
    upgrade(database_url)
    url = sa.engine.make_url(database_url)
    proxy = TcpProxy(url.host, url.port or 5432)
    proxy.start()
    via_proxy = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    served = start_gateway(serve_app, tmp_path, via_proxy, upstream.base_url, log_retry_max_s=0.2)
    writer = served.app.state.writer
    body = {"model": "ok", "messages": [{"role": "user", "content": "hello"}]}
    first = httpx.post(served.base_url + "/v1/chat/completions", json=body, timeout=10)
    wait_until(lambda: get_decision(database_url, first.headers["x-v0-decision-id"]))
    proxy.stop()
    try:
        ids = []
        for _ in range(3):
            response = httpx.post(served.base_url + "/v1/chat/completions", json=body, timeout=10)
            assert response.status_code == 200
            ids.append(response.headers["x-v0-decision-id"])
        wait_until(lambda: writer.failures >= 1)
        assert writer.pending == 3
        ready = httpx.get(served.base_url + "/readyz")
        assert (ready.status_code, ready.json()["decision_log"]["database"]) == (200, "unreachable")
        assert str(proxy.port) not in ready.text
    finally:
        proxy.start()
    wait_until(lambda: writer.pending == 0)
    assert [get_decision(database_url, i) is not None for i in ids] == [True] * 3
    ready = httpx.get(served.base_url + "/readyz")
    assert (ready.status_code, ready.json()["decision_log"]["database"]) == (200, "reachable")
    proxy.stop()
    engine_for(database_url).dispose()  # before the database is dropped
