"""Worker processes share one state directory: each takes a numbered spool slot, replays the
leftovers of slots no live process holds, and the profile cache survives concurrent rebuilds."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from router.scoring.profile_cache import CachedWindow, ProfileCache
from router.store.models import DecisionCreate
from router.store.spool import Spool, SpoolBusy
from router.store.spool_slots import open_slot


def row(i: int) -> DecisionCreate:
    return DecisionCreate(id=f"{i:032d}", requested_model="m", chosen_model="m", status="ok")


def test_each_process_takes_the_first_free_slot(tmp_path):
    root = tmp_path / "spool"
    first, second = open_slot(root), open_slot(root)  # two lock holders, as two workers would be
    try:
        assert (first.dir, second.dir) == (root / "0", root / "1")
        with pytest.raises(SpoolBusy):
            Spool(root / "0")
    finally:
        first.close()
    third = open_slot(root)  # slot 0 is free again: a restarted worker takes it
    try:
        assert third.dir == root / "0"
    finally:
        third.close()
        second.close()


def test_orphaned_slots_and_the_old_layout_are_replayed_by_the_next_process(tmp_path):
    root = tmp_path / "spool"
    dead = Spool(root / "3")  # a worker of an earlier, larger --workers that crashed
    dead.append(row(1))
    dead.append(row(2))
    old = Spool(root)  # the layout before slots: segments directly under spool/
    old.append(row(3))
    live = Spool(root / "1")  # a worker still running: its segments are its own
    live.append(row(4))
    for spool in (dead, old):
        spool._close_current()  # noqa: SLF001  (simulate the crash: the segment stays, the lock goes)
        spool.close()
    try:
        taken = open_slot(root)
        try:
            assert taken.dir == root / "0"
            assert sorted(r.id for r, _ in taken.recover()) == [f"{i:032d}" for i in (1, 2, 3)]
            assert list((root / "3").glob("decisions-*.jsonl")) == []
            assert list(root.glob("decisions-*.jsonl")) == []
            assert len(list((root / "1").glob("decisions-*.jsonl"))) == 1
        finally:
            taken.close()
    finally:
        live.close()


def test_concurrent_profile_cache_rebuilds_leave_one_whole_file(tmp_path):
    cache = ProfileCache(tmp_path)
    errors: list[BaseException] = []

    def rebuild(version: int) -> None:
        window = CachedWindow(version, np.full((64, 8), version, dtype=np.float32), [float(version)] * 64)
        try:
            for _ in range(30):
                cache.save("fp", {("m", 64): window})
        except BaseException as exc:  # noqa: BLE001  (collected and asserted below)
            errors.append(exc)

    threads = [threading.Thread(target=rebuild, args=(v,)) for v in (1, 2, 3, 4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    loaded = cache.load("fp")[("m", 64)]
    assert loaded.version in (1, 2, 3, 4)
    assert loaded.features.tolist() == np.full((64, 8), loaded.version, dtype=np.float32).tolist()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["profile-cache.npz"]
