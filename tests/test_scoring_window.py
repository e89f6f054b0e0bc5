"""Profile window policies (router/scoring/window.py)."""

from __future__ import annotations

import numpy as np
import pytest

from router.policy_sections import WindowSpec
from router.scoring.window import WindowRow, history_rows, kmeans_labels, select_window


def rows(sources: str) -> list[WindowRow]:
    return [WindowRow(i + 1, "upload" if s == "u" else "judge") for i, s in enumerate(sources)]


def test_recent_takes_the_newest_rows():
    assert select_window(rows("uuuuffff".replace("f", "j")), 3, WindowSpec(policy="recent")) == [5, 6, 7]
    assert select_window(rows("uu"), 3, WindowSpec(policy="recent")) == [0, 1]
    assert history_rows(WindowSpec(policy="recent"), 10) == 10
    assert history_rows(WindowSpec(policy="balanced", history=4), 10) == 40


def test_keep_seed_reserves_a_share_for_uploaded_rows():
    r = rows("uuuuu" + "j" * 10)
    assert select_window(r, 8, WindowSpec(policy="keep_seed", seed_share=0.25)) == [3, 4, 9, 10, 11, 12, 13, 14]
    # fewer learned rows than slots: the rest are seed rows
    r = rows("uuuuuuuu" + "jj")
    assert select_window(r, 6, WindowSpec(policy="keep_seed", seed_share=0.25)) == [4, 5, 6, 7, 8, 9]


def test_balanced_takes_clusters_in_turn():
    # 12 rows of kind A (old), then 12 of kind B (new): a window of 8 takes 4 of each, newest first.
    feats = np.array([[1.0, 0.0]] * 12 + [[0.0, 1.0]] * 12, np.float32)
    feats += np.linspace(0, 0.01, 24, dtype=np.float32)[:, None]
    got = select_window(rows("u" * 24), 8, WindowSpec(policy="balanced", clusters=2), feats)
    assert got == [8, 9, 10, 11, 20, 21, 22, 23]
    with pytest.raises(ValueError, match="needs the rows' features"):
        select_window(rows("u" * 24), 8, WindowSpec(policy="balanced"))


def test_kmeans_is_deterministic():
    x = np.random.default_rng(3).normal(size=(200, 6)).astype(np.float32)
    a, b = kmeans_labels(x, 5), kmeans_labels(x.copy(), 5)
    assert np.array_equal(a, b) and set(a.tolist()) == {0, 1, 2, 3, 4}


def test_decay_prefers_new_rows_and_repeats_itself():
    r = rows("u" * 400)
    spec = WindowSpec(policy="decay", half_life=50)
    got = select_window(r, 100, spec)
    assert got == select_window(r, 100, spec) and len(got) == 100 and got == sorted(set(got))
    assert sum(i >= 300 for i in got) > sum(i < 300 for i in got)
