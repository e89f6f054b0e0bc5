"""Profile storage and the scorer's caches, without HTTP: the active window, versions, seeding
once, and rebuilds that encode only new rows and happen only when a version changes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from sqlmodel import Session

from router.policies import parse_policies
from router.scoring.features import FeatureCache
from router.scoring.v0 import V0Scorer
from router.profiles.seed import SEED_KEY, seed_default_profiles
from router.store import profile_crud
from router.store.db import make_engine
from router.store.profile_models import ProfileRowCreate

POLICIES = parse_policies("default_policy: p\ncandidates:\n  a:\n    model: openai/x\n    input_price: 1\n"
                          "    output_price: 1\n  b:\n    model: openai/y\n    input_price: 2\n    output_price: 2\n"
                          "policies:\n  p:\n    candidates: [a, b]\n    threshold: 0.5\n    fallback: b\n"
                          "    profile_size: 3\n")


class CountingV0:
    """A stand-in value model: features = [len(text)], P = mean score of the state's rows."""

    fingerprint, feature_dim = "count", 1

    def __init__(self) -> None:
        self.encoded: list[str] = []

    def encode(self, texts):
        self.encoded += list(texts)
        return torch.tensor([[float(len(t))] for t in texts])

    def fit_profile(self, features, scores):
        return float(np.mean(scores))

    def predict(self, states, query):
        return np.array([[s] * len(query) for s in states])


def add(session, model, *rows, source="upload"):
    profile_crud.add_rows(session=session, rows=[ProfileRowCreate(model=model, prompt=p, score=s, source=source)
                                                 for p, s in rows])
    profile_crud.bump_version(session=session, model=model)
    session.commit()


def test_window_is_the_most_recent_rows_uploads_and_feedback(fresh_database):
    engine = make_engine(fresh_database)
    with Session(engine) as s:
        add(s, "a", ("p1", 0.0), ("p2", 0.0), ("p3", 1.0))
        add(s, "a", ("f1", 1.0), source="feedback")
        add(s, "b", ("q1", 0.5))
        assert [r.prompt for r in profile_crud.window(session=s, model="a", size=3)] == ["p2", "p3", "f1"]
        assert profile_crud.versions(session=s) == {"a": 2, "b": 1}
        [sa, sb] = profile_crud.summaries(session=s, window_sizes={"a": 3})
        assert (sa.rows, sa.active_rows, sa.uploads, sa.feedback, sa.mean_score) == (4, 3, 3, 1, pytest.approx(2 / 3))
        assert (sb.model, sb.active_rows) == ("b", 1)
    engine.dispose()


def test_rebuild_only_on_version_change_and_encode_only_new_rows(fresh_database):
    engine = make_engine(fresh_database)
    fake = CountingV0()
    scorer = V0Scorer(fake, engine, features=FeatureCache())
    scorer.want(POLICIES)
    with Session(engine) as s:
        add(s, "a", ("x", 0.0), ("yy", 1.0))
    assert scorer.refresh() == ["a"]
    assert sorted(fake.encoded) == ["x", "yy"]
    assert scorer.refresh() == []  # no version change: nothing rebuilt
    result = scorer.score("query", ["a", "b"], profile_size=3)
    assert result.p_success == {"a": 0.5, "b": 0.0} and result.profile_versions == {"a": 1, "b": 0}
    assert fake.encoded[-1] == "query"  # one encode for the request, whatever the number of candidates

    fake.encoded.clear()
    with Session(engine) as s:
        add(s, "a", ("zzz", 1.0), ("wwww", 1.0))  # window 3: yy, zzz, wwww
    assert scorer.refresh() == ["a"]
    assert sorted(fake.encoded) == ["wwww", "zzz"]  # only the new rows
    assert scorer.score("q", ["a"], profile_size=3).p_success == {"a": 1.0}
    engine.dispose()


def test_seeding_happens_once_per_database(fresh_database, tmp_path):
    (tmp_path / "a.jsonl").write_text(json.dumps({"prompt": "hello", "score": 1}) + "\n"
                                      + json.dumps({"prompt": "sum 2+2", "score": 0.5}) + "\n")
    engine = make_engine(fresh_database)
    assert seed_default_profiles(engine, POLICIES, tmp_path) == ["a"]  # b has no file
    assert seed_default_profiles(engine, POLICIES, tmp_path) == []
    with Session(engine) as s:
        assert profile_crud.get_meta(session=s, key=SEED_KEY) is not None
        assert [r.prompt for r in profile_crud.list_rows(session=s, model="a")] == ["hello", "sum 2+2"]
        profile_crud.delete_profile(session=s, model="a")
        s.commit()
    assert seed_default_profiles(engine, POLICIES, tmp_path) == []  # deleted stays deleted
    engine.dispose()


def test_a_second_replica_loads_features_instead_of_encoding(fresh_database):
    engine = make_engine(fresh_database)
    first, second = CountingV0(), CountingV0()
    a, b = V0Scorer(first, engine, features=FeatureCache()), V0Scorer(second, engine, features=FeatureCache())
    a.want(POLICIES)
    b.want(POLICIES)
    with Session(engine) as s:
        add(s, "a", ("one", 0.0), ("three", 1.0))
    assert a.refresh() == ["a"] and sorted(first.encoded) == ["one", "three"]
    assert b.refresh() == ["a"] and second.encoded == []  # from the database
    assert b.features.loaded == 2
    assert b.score("q", ["a"], profile_size=3).p_success == a.score("q", ["a"], profile_size=3).p_success
    engine.dispose()
