"""Numbered spool slots, so that several worker processes can share one state directory.

Each process takes the first slot ``spool/<k>/`` (k = 0, 1, ...) whose lock it can acquire; the
lock is held for the life of the process, so no two live processes ever share a slot. Before its
writer replays, the process adopts the leftovers of every slot no live process holds (a worker
that died and was not restarted, a smaller ``--workers`` after a crash) and of the pre-slot
layout (segments directly under ``spool/``): it takes that slot's lock for a moment and renames
its unsettled segments into its own slot (same filesystem: atomic; segment names carry a time and
a pid, so they never collide). A slot some other process holds is left alone. Quarantine files
stay where they were written. A single process always takes slot 0.
"""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path

from router.store.spool import Spool, SpoolBusy

log = logging.getLogger(__name__)
MAX_SLOTS = 1024
SEGMENTS = "decisions-*.jsonl"


def open_slot(root: Path, *, segment_rows: int = 1000) -> Spool:
    """The first free slot under ``root`` (the state directory's ``spool/``), with every
    orphaned slot's segments moved into it, ready for ``recover``."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for k in range(MAX_SLOTS):
        try:
            spool = Spool(root / str(k), segment_rows=segment_rows)
        except SpoolBusy:
            continue
        moved = _adopt_orphans(root, spool.dir)
        if moved:
            log.warning("spool: slot %d adopted %d segments left by processes that are gone", k, moved)
        return spool
    raise SpoolBusy(f"all {MAX_SLOTS} spool slots under {root} are in use")


def _adopt_orphans(root: Path, mine: Path) -> int:
    others = [root] + sorted((p for p in root.iterdir() if p.is_dir() and p.name.isdigit() and p != mine),
                             key=lambda p: int(p.name))
    moved = 0
    for other in others:
        if not any(other.glob(SEGMENTS)):
            continue
        fd = os.open(other / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a live process owns it and replays its own segments
            for segment in sorted(other.glob(SEGMENTS)):
                os.replace(segment, mine / segment.name)
                moved += 1
        finally:
            os.close(fd)  # releases the lock
    return moved
