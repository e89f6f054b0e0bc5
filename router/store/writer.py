"""Batched, off-request-path writer for decision rows: the audit and billing record.

``submit`` never blocks on the database and never raises: the row is appended to the local
spool (:mod:`router.store.spool`, so a crash loses nothing answered) and to an in-memory
buffer that a background task writes in batches of ``batch_size`` every ``flush_s`` seconds.

When a batch fails, the writer asks whether the database answers (a query of the decision
table that reads nothing). If it does not,
the database is away: the batch goes back to the front of the buffer and is retried with
exponential backoff (``flush_s`` doubling up to ``retry_max_s``). If it does (or the error is
about the data: a constraint, a value the driver or database refuses), the rows are written one
by one and each row that still fails is *quarantined*: appended with its error to the spool's
``quarantine.jsonl``, logged and counted (``quarantined``). A bad row never blocks the rows
behind it.

The buffer is bounded by ``max_buffer`` rows: past that the oldest leave memory (``dropped``);
they stay in the spool and are written after the next start. ``close`` keeps retrying until
``close_timeout_s``; rows still unwritten then stay in the spool and are replayed at start.
Writes are idempotent (an id already stored is skipped), so replay never duplicates a row.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, StatementError
from sqlmodel import Session

from router.store import crud
from router.store.db import DbStatus
from router.store.models import DecisionCreate
from router.store.spool import Spool

log = logging.getLogger(__name__)
Item = tuple[DecisionCreate, int | None]  # (row, spool segment)


class DecisionWriter:
    def __init__(self, engine: Engine | None, *, batch_size: int = 200, flush_s: float = 0.2,
                 max_buffer: int = 10_000, retry_max_s: float = 5.0, close_timeout_s: float = 10.0,
                 spool: Spool | None = None, fsync_s: float = 1.0, executor: Executor | None = None,
                 status: DbStatus | None = None,
                 write: Callable[[Engine | None, Sequence[DecisionCreate]], None] | None = None,
                 ping: Callable[[], None] | None = None) -> None:
        self._engine = engine
        self._batch_size, self._flush_s = batch_size, flush_s
        self._max_buffer, self._retry_max_s = max_buffer, retry_max_s
        self.close_timeout_s, self._fsync_s = close_timeout_s, fsync_s
        self._spool, self._executor = spool, executor
        self.status = status or DbStatus()
        self._write = write or _write_batch
        self._ping = ping or (lambda: _ping(engine))
        self._buffer: deque[Item] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0  # rows that left memory to the bound (still in the spool)
        self.written = 0
        self.failures = 0  # failed flush attempts (database away)
        self.quarantined = 0  # rows the database refuses for good
        self.replayed = 0  # rows recovered from the spool at start
        self.spool_errors = 0  # rows the spool could not take (disk full, ...)
        self._inflight_ids: set[str] = set()  # rows being written (flushes may overlap)
        self._closing = False

    @property
    def spool_dir(self) -> Any:
        return self._spool.dir if self._spool is not None else None

    @property
    def pending(self) -> int:
        """Rows not yet written: buffered plus the batch being written."""
        return len(self._buffer) + len(self._inflight_ids)

    def submit(self, row: DecisionCreate) -> None:
        segment = None
        if self._spool is not None:
            try:
                segment = self._spool.append(row)
            except (OSError, ValueError) as exc:
                self.spool_errors += 1
                log.error("decision row %s not spooled (kept in memory only): %s", row.id, exc)
        self._buffer.append((row, segment))
        self._trim()
        if len(self._buffer) >= self._batch_size:
            self._wake.set()

    def start(self) -> None:
        if self._spool is not None:
            replay = self._spool.recover()
            self.replayed = len(replay)
            self._buffer.extendleft(reversed(replay))
            self._trim()
        self._task = asyncio.create_task(self._run(), name="decision-writer")

    async def close(self, timeout: float | None = None) -> None:
        """Stop the loop, then keep writing (retrying while the database is away) until
        ``timeout`` (default ``close_timeout_s``); what is left stays in the spool."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.close_timeout_s if timeout is None else timeout)
        self._closing = True
        self._wake.set()
        delay = self._flush_s
        try:
            async with asyncio.timeout_at(deadline):
                if self._task is not None:
                    await self._task
                while self._buffer:
                    if not await self.flush():
                        await asyncio.sleep(delay)
                        delay = min(delay * 2, self._retry_max_s)
        except TimeoutError:
            pass
        if self.pending:
            log.error("decision writer closing with %d unwritten rows (kept in the spool: %s)",
                      self.pending, self._spool is not None)
        if self._spool is not None:
            self._spool.close()

    async def flush(self) -> bool:
        """Write one batch. True when it was written or quarantined (or there was nothing)."""
        if not self._buffer:
            return True
        batch = [self._buffer.popleft() for _ in range(min(self._batch_size, len(self._buffer)))]
        ids = {row.id for row, _ in batch}
        self._inflight_ids |= ids
        try:
            try:
                await self._call(self._write, self._engine, [row for row, _ in batch])
            except Exception as exc:
                if _permanent(exc) or await self._answers():
                    return await self._write_rows_singly(batch)
                self._away(batch, exc)
                return False
            self.status.ok()
            self._settled(batch)
            self.written += len(batch)
            return True
        finally:
            self._inflight_ids -= ids

    def holds(self, decision_id: str) -> bool:
        """True while the row is buffered or being written (not yet in the database)."""
        return decision_id in self._inflight_ids or any(r.id == decision_id for r, _ in self._buffer)

    async def settle(self, decision_id: str, timeout: float = 5.0) -> bool:
        """Wait until the row ``decision_id`` is written (flushing the buffer if needed).
        False when it is still unwritten after ``timeout`` (the database is away)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.holds(decision_id):
            if loop.time() > deadline:
                return False
            if decision_id in self._inflight_ids or not await self.flush():
                await asyncio.sleep(0.01)
        return True

    async def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def _answers(self) -> bool:
        """Does the database answer a ping? (It decides: bad rows, or the database away.)"""
        try:
            await self._call(self._ping)
        except Exception as exc:
            self.status.failed(exc)
            return False
        self.status.ok()
        return True

    async def _write_rows_singly(self, batch: list[Item]) -> bool:
        for i, (row, segment) in enumerate(batch):
            try:
                await self._call(self._write, self._engine, [row])
            except Exception as exc:
                if not (_permanent(exc) or await self._answers()):
                    self._away(batch[i:], exc)  # the database went away meanwhile
                    return False
                self._quarantine(row, exc)
            else:
                self.written += 1
            self._settled([(row, segment)])
        return True

    def _quarantine(self, row: DecisionCreate, exc: Exception) -> None:
        self.quarantined += 1
        error = f"{type(exc).__name__}: {exc}"[:2000]
        log.error("decision row %s refused by the database, quarantined: %s", row.id, error)
        if self._spool is not None:
            try:
                self._spool.quarantine(row, error)
            except OSError as err:
                log.error("quarantine file not written for row %s: %s", row.id, err)

    def _away(self, items: list[Item], exc: Exception) -> None:
        self.failures += 1
        self.status.failed(exc)
        self._buffer.extendleft(reversed(items))
        self._trim()
        log.warning("decision log write failed (%d rows pending): %s", len(self._buffer), exc)

    def _settled(self, items: list[Item]) -> None:
        if self._spool is not None:
            for _, segment in items:
                if segment is not None:
                    self._spool.settle(segment)

    async def _run(self) -> None:
        delay = self._flush_s
        loop = asyncio.get_running_loop()
        synced = loop.time()
        while not self._closing:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=delay)
            except TimeoutError:
                pass
            self._wake.clear()
            if self._spool is not None and loop.time() - synced >= self._fsync_s:
                synced = loop.time()
                await asyncio.to_thread(self._sync_spool)  # not DB work: off the db pool
            if self._closing:
                return
            ok = True
            while ok and self._buffer and not self._closing:
                ok = await self.flush()
            delay = self._flush_s if ok else min(delay * 2, self._retry_max_s)

    def _sync_spool(self) -> None:
        try:
            assert self._spool is not None
            self._spool.sync()
        except OSError as exc:
            log.error("spool fsync failed: %s", exc)

    def _trim(self) -> None:
        while len(self._buffer) > self._max_buffer:
            self._buffer.popleft()
            self.dropped += 1


def _permanent(exc: Exception) -> bool:
    """True for failures that retrying cannot fix: bad data, constraint violations."""
    if isinstance(exc, (IntegrityError, DataError, UnicodeError, ValueError)):
        return True
    # A StatementError that does not wrap a driver error failed in Python (value conversion).
    return isinstance(exc, StatementError) and not isinstance(exc, DBAPIError)


def _ping(engine: Engine | None) -> None:
    """The database answers and its decision table is there (else: away, e.g. mid-migration)."""
    if engine is None:
        raise RuntimeError("no database engine")
    with engine.connect() as conn:
        conn.execute(text("SELECT id FROM decision WHERE 1 = 0"))


def _write_batch(engine: Engine | None, rows: Sequence[DecisionCreate]) -> None:
    assert engine is not None
    with Session(engine) as session:
        crud.create_decisions(session=session, decisions=rows)
