"""Batched, off-request-path writer for decision rows.

``submit`` never blocks and never raises: rows go to an in-memory buffer that a background
task flushes in batches of ``batch_size`` every ``flush_s`` seconds. When the database fails,
the batch goes back to the front of the buffer and is retried with exponential backoff
(``flush_s`` doubling up to ``retry_max_s``). The buffer is bounded by ``max_buffer`` rows
(default 10,000): past that the *oldest* rows are dropped and counted in ``dropped``.
A batch that fails for a reason retrying cannot fix (a constraint, a value the database
refuses) is written row by row; the rows that still fail are logged and counted in ``rejected``.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Sequence

from sqlalchemy import Engine
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, StatementError
from sqlmodel import Session

from router.store import crud
from router.store.models import DecisionCreate

log = logging.getLogger(__name__)


class DecisionWriter:
    def __init__(self, engine: Engine, *, batch_size: int = 200, flush_s: float = 0.2,
                 max_buffer: int = 10_000, retry_max_s: float = 5.0,
                 write: Callable[[Engine, Sequence[DecisionCreate]], None] | None = None) -> None:
        self._engine = engine
        self._batch_size, self._flush_s = batch_size, flush_s
        self._max_buffer, self._retry_max_s = max_buffer, retry_max_s
        self._write = write or _write_batch
        self._buffer: deque[DecisionCreate] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0  # rows lost to the bound
        self.written = 0
        self.failures = 0  # failed flush attempts
        self.rejected = 0  # rows the database refused for good
        self._inflight_ids: set[str] = set()  # rows being written (flushes may overlap)
        self._closing = False

    @property
    def pending(self) -> int:
        """Rows not yet written: buffered plus the batch being written."""
        return len(self._buffer) + len(self._inflight_ids)

    def submit(self, row: DecisionCreate) -> None:
        self._buffer.append(row)
        self._trim()
        if len(self._buffer) >= self._batch_size:
            self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="decision-writer")

    async def close(self, timeout: float = 5.0) -> None:
        """Stop the loop (letting a batch in flight finish), then write what is left,
        all within ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        self._closing = True
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, timeout)
            except (TimeoutError, asyncio.CancelledError):
                pass
        try:
            async with asyncio.timeout_at(deadline):
                while self._buffer and await self.flush():
                    pass
        except TimeoutError:
            pass
        if self.pending:
            log.error("decision writer closing with %d unwritten rows", self.pending)

    async def flush(self) -> bool:
        """Write one batch. True when it was written (or there was nothing to write)."""
        if not self._buffer:
            return True
        batch = [self._buffer.popleft() for _ in range(min(self._batch_size, len(self._buffer)))]
        ids = {r.id for r in batch}
        self._inflight_ids |= ids
        try:
            await asyncio.to_thread(self._write, self._engine, batch)
        except Exception as exc:
            if _permanent(exc):
                try:
                    await self._write_rows_singly(batch)
                finally:
                    self._inflight_ids -= ids
                return True
            self._inflight_ids -= ids
            # The database is away: keep the rows, retry later.
            self.failures += 1
            self._buffer.extendleft(reversed(batch))
            self._trim()
            log.warning("decision log write failed (%d rows pending): %s", len(self._buffer), exc)
            return False
        self._inflight_ids -= ids
        self.written += len(batch)
        return True

    def holds(self, decision_id: str) -> bool:
        """True while the row is buffered or being written (not yet in the database)."""
        return decision_id in self._inflight_ids or any(r.id == decision_id for r in self._buffer)

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

    async def _write_rows_singly(self, batch: list[DecisionCreate]) -> None:
        retry: list[DecisionCreate] = []
        for row in batch:
            try:
                await asyncio.to_thread(self._write, self._engine, [row])
                self.written += 1
            except Exception as exc:
                if not _permanent(exc):  # the database went away meanwhile
                    retry.append(row)
                    continue
                self.rejected += 1
                log.error("decision row %s refused by the database, dropped: %s", row.id, exc)
        self._buffer.extendleft(reversed(retry))
        self._trim()

    async def _run(self) -> None:
        delay = self._flush_s
        while not self._closing:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=delay)
            except TimeoutError:
                pass
            self._wake.clear()
            if self._closing:
                return
            ok = True
            while ok and self._buffer:
                ok = await self.flush()
            delay = self._flush_s if ok else min(delay * 2, self._retry_max_s)

    def _trim(self) -> None:
        while len(self._buffer) > self._max_buffer:
            self._buffer.popleft()
            self.dropped += 1


def _permanent(exc: Exception) -> bool:
    """True for failures that retrying cannot fix: bad data, constraint violations."""
    if isinstance(exc, (IntegrityError, DataError)):
        return True
    # A StatementError that does not wrap a driver error failed in Python (value conversion).
    return isinstance(exc, StatementError) and not isinstance(exc, DBAPIError)


def _write_batch(engine: Engine, rows: Sequence[DecisionCreate]) -> None:
    with Session(engine) as session:
        crud.create_decisions(session=session, decisions=rows)
