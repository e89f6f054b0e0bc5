"""The decision log's local spool: every row is on disk before the request is answered.

``append`` writes the row as one JSON line (one ``write`` system call, unbuffered) to the
current segment ``decisions-<ns>-<pid>.jsonl`` under the spool directory, so a process crash
(``kill -9``, OOM) loses nothing that ``append`` returned for; the segment is fsynced every
``fsync_s`` seconds (``sync``, called by the writer loop), which bounds what a machine crash
or power cut can lose. ``settle`` marks a row written to the database (or quarantined); a
segment whose rows are all settled is deleted (the current one at once, a closed one when its
last row settles). A segment rolls over after ``segment_rows`` rows. ``recover`` returns the
rows of segments left by an earlier run (crash, shutdown with the database away) so the
writer can replay them; writes are idempotent, so a row written just before a crash is not
duplicated. One spool directory per gateway process: a lock file enforces it (``SpoolBusy``);
worker processes sharing a state directory each take a numbered slot (:mod:`router.store.spool_slots`).

``quarantine`` appends a row the database refuses for good, with the error, to
``quarantine.jsonl`` (append-only, fsynced; an operator can fix and replay it).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from router.store.models import DecisionCreate

log = logging.getLogger(__name__)
QUARANTINE = "quarantine.jsonl"


def encode(row: DecisionCreate) -> bytes:
    # ensure_ascii: lone surrogates and NULs survive as JSON escapes.
    return (json.dumps(row.model_dump(mode="json"), ensure_ascii=True) + "\n").encode("ascii")


@dataclass
class _Segment:
    path: Path
    rows: int = 0
    settled: int = 0
    fd: int | None = None  # open while it is the current segment


class SpoolBusy(RuntimeError):
    """The spool directory's lock is held by another live process."""


class Spool:
    def __init__(self, directory: Path, *, segment_rows: int = 1000) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._lock_fd = os.open(self.dir / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            os.close(self._lock_fd)
            raise SpoolBusy(f"spool directory {self.dir} is in use by another gateway process") from exc
        self._segment_rows = segment_rows
        self._segments: dict[int, _Segment] = {}
        self._current: int | None = None
        self._next = 0
        self._dirty = False
        self.torn = 0  # unreadable lines skipped by recover

    def recover(self) -> list[tuple[DecisionCreate, int]]:
        """Rows of segments left by an earlier run, oldest first, each with its segment id."""
        out: list[tuple[DecisionCreate, int]] = []
        for path in sorted(self.dir.glob("decisions-*.jsonl")):
            seg = self._add(_Segment(path))
            for line in path.read_bytes().splitlines():
                try:
                    row = DecisionCreate.model_validate(json.loads(line))
                except ValueError:
                    self.torn += 1
                    continue
                out.append((row, seg))
                self._segments[seg].rows += 1
            self._maybe_delete(seg)
        if out or self.torn:
            log.warning("spool: replaying %d decision rows left by an earlier run (%d torn lines)",
                        len(out), self.torn)
        return out

    def append(self, row: DecisionCreate) -> int:
        if self._current is None:
            path = self.dir / f"decisions-{time.time_ns():020d}-{os.getpid()}.jsonl"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            self._current = self._add(_Segment(path, fd=fd))
        seg = self._segments[self._current]
        assert seg.fd is not None
        os.write(seg.fd, encode(row))
        seg.rows += 1
        self._dirty = True
        segment = self._current
        if seg.rows >= self._segment_rows:
            self._close_current()
        return segment

    def settle(self, segment: int, n: int = 1) -> None:
        seg = self._segments.get(segment)
        if seg is None:
            return
        seg.settled += n
        if segment == self._current and seg.settled >= seg.rows:
            self._close_current()
        self._maybe_delete(segment)

    def sync(self) -> None:
        if self._dirty and self._current is not None:
            fd = self._segments[self._current].fd
            if fd is not None:
                os.fsync(fd)
        self._dirty = False

    def close(self) -> None:
        self._close_current()
        os.close(self._lock_fd)

    @property
    def segments(self) -> int:
        return len(self._segments)

    def quarantine(self, row: DecisionCreate, error: str) -> None:
        entry = {"quarantined_at": datetime.now(timezone.utc).isoformat(), "error": error,
                 "row": row.model_dump(mode="json")}
        fd = os.open(self.dir / QUARANTINE, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, (json.dumps(entry, ensure_ascii=True) + "\n").encode("ascii"))
            os.fsync(fd)
        finally:
            os.close(fd)

    def _add(self, seg: _Segment) -> int:
        self._next += 1
        self._segments[self._next] = seg
        return self._next

    def _close_current(self) -> None:
        if self._current is None:
            return
        segment, self._current = self._current, None
        seg = self._segments[segment]
        if seg.fd is not None:
            if seg.settled < seg.rows:  # rows still to write: make them durable
                os.fsync(seg.fd)
            os.close(seg.fd)
            seg.fd = None
        self._dirty = False
        self._maybe_delete(segment)

    def _maybe_delete(self, segment: int) -> None:
        seg = self._segments.get(segment)
        if seg is not None and seg.fd is None and seg.settled >= seg.rows:
            seg.path.unlink(missing_ok=True)
            del self._segments[segment]
