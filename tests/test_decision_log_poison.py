"""A row the database refuses for good is quarantined and never blocks the rows behind it."""

from __future__ import annotations

import asyncio
import json
import uuid

from sqlmodel import Session, col, select

from gateway_support import engine_for
from router.store.db import make_engine
from router.store.models import Decision, DecisionCreate
from router.store.spool import QUARANTINE, Spool
from router.store.writer import DecisionWriter

SURROGATE, NUL = "lone \ud800 surrogate", "nul \x00 byte"


def rows(n: int, poison: dict[int, str]) -> list[DecisionCreate]:
    tag = uuid.uuid4().hex[:8]
    return [DecisionCreate(id=f"{tag}{i:024d}", requested_model="m", chosen_model="m", status="ok",
                           routing_text=poison.get(i, f"prompt {i}")) for i in range(n)]


def stored(url: str, ids: list[str]) -> set[str]:
    with Session(engine_for(url)) as session:
        return set(session.exec(select(Decision.id).where(col(Decision.id).in_(ids))))


def test_poison_rows_are_quarantined_and_the_rest_written(database_url, tmp_path):
    batch = rows(200, {1: SURROGATE, 2: NUL})
    postgres = database_url.startswith("postgresql")

    async def scenario() -> DecisionWriter:
        engine = make_engine(database_url)
        writer = DecisionWriter(engine, batch_size=50, flush_s=0.01, spool=Spool(tmp_path / "spool"))
        writer.start()
        for row in batch:
            writer.submit(row)
        for _ in range(500):
            if writer.pending == 0:
                break
            await asyncio.sleep(0.02)
        await writer.close(timeout=5)
        engine.dispose()
        return writer

    writer = asyncio.run(scenario())
    refused = [batch[1].id, batch[2].id] if postgres else [batch[1].id]  # SQLite stores NUL
    ids = [r.id for r in batch]
    assert stored(database_url, ids) == set(ids) - set(refused)
    assert (writer.pending, writer.written, writer.quarantined) == (0, 200 - len(refused), len(refused))
    lines = [json.loads(line) for line in (tmp_path / "spool" / QUARANTINE).read_text().splitlines()]
    assert [entry["row"]["id"] for entry in lines] == refused
    assert lines[0]["row"]["routing_text"] == SURROGATE  # kept exactly, for an operator to fix
    assert sorted(p.name for p in (tmp_path / "spool").iterdir()) == ["lock", QUARANTINE]  # spool emptied
