"""A prompt's novelty for each candidate (router/scoring/coverage.py) and the shadow rule that
sends a shadow call to the candidate whose profile is farthest from the prompt."""

from __future__ import annotations

import random

import numpy as np
import pytest
from sqlmodel import Session

from router.grading.exploration import novel_shadow_candidate
from router.policies import parse_policies
from router.scoring.coverage import novelties, novelty
from router.scoring.features import FeatureCache
from router.scoring.v0 import V0Scorer
from router.store import profile_crud
from router.store.db import make_engine
from router.store.profile_models import ProfileRowCreate
from valuemodel.infer.ops import normalize

MATHS = [f"What is {a} times {a + 7}? Show the arithmetic." for a in range(3, 15)]
POEMS = [f"Write a short poem about {t} in the rain." for t in
         ("a lighthouse", "an old dog", "autumn leaves", "a train station", "a violin", "the harbour",
          "a garden", "a city bridge", "a library", "a fox", "a lantern", "a river")]
POLICIES = parse_policies("default_policy: p\ncandidates:\n" + "".join(
    f"  {c}:\n    model: openai/{c}\n    input_price: 1\n    output_price: 1\n" for c in ("maths", "poems", "new"))
    + "policies:\n  p:\n    candidates: [maths, poems, new]\n    threshold: 0.5\n    fallback: maths\n")


def test_novelty_is_one_minus_the_nearest_rows_similarity():
    window = normalize(np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], np.float32))
    assert novelty(normalize(np.array([1.0, 0.0], np.float32)), window, k=1) == pytest.approx(0.0, abs=1e-6)
    # k = 2: the query's two nearest rows are (1, 0) at cos 1 and (1, 1) at cos 0.707
    assert novelty(normalize(np.array([1.0, 0.0], np.float32)), window, k=2) == pytest.approx(1 - (1 + 0.5 ** 0.5) / 2)
    assert novelty(normalize(np.array([1.0, 0.0], np.float32)), None) == 1.0
    assert novelty(normalize(np.array([1.0, 0.0], np.float32)), np.zeros((0, 2), np.float32)) == 1.0


def test_the_shadow_goes_where_the_profile_knows_least_of_the_prompt():
    nov = {"a": 0.1, "b": 0.6, "c": 0.3}
    assert novel_shadow_candidate("b", ["a", "b", "c"], {}, random.Random(0), novelties=nov) == "c"
    assert novel_shadow_candidate("a", ["a", "b", "c"], {}, random.Random(0), novelties=nov) == "b"
    # a candidate missing from the novelties has no profile: novelty 1
    assert novel_shadow_candidate("a", ["a", "b", "new"], {}, random.Random(0), novelties=nov) == "new"
    # the budget still rules out what the call cannot afford
    costs = {"a": 0.001, "b": 0.05, "c": 0.002}
    assert novel_shadow_candidate("a", ["a", "b", "c"], {}, random.Random(0), novelties=nov,
                                  costs=costs, budget=0.01) == "c"
    # no novelties (no scorer): the least-profiled rule
    assert novel_shadow_candidate("a", ["a", "b", "c"], {"b": 40, "c": 5}, random.Random(0)) == "c"


def test_novelty_against_real_profiles(fresh_database, v0):
    engine = make_engine(fresh_database)
    with Session(engine) as session:
        for model, prompts in (("maths", MATHS), ("poems", POEMS)):
            profile_crud.add_rows(session=session, rows=[ProfileRowCreate(model=model, prompt=p, score=1.0)
                                                         for p in prompts])
            profile_crud.bump_version(session=session, model=model)
        session.commit()
    scorer = V0Scorer(v0, engine, features=FeatureCache())
    scorer.want(POLICIES)
    scorer.refresh()
    sums, verse = novelties(scorer, ["What is 17 times 23? Show the arithmetic.",
                                     "Write a short poem about a kettle in the rain."], ["maths", "poems", "new"])
    assert sums["maths"] < sums["poems"] and verse["poems"] < verse["maths"]
    assert sums["new"] == verse["new"] == 1.0
    # the shadow of a maths prompt answered by the maths model: the empty profile first, then poems
    assert novel_shadow_candidate("maths", ["maths", "poems", "new"], {}, random.Random(0), novelties=sums) == "new"
    assert novel_shadow_candidate("maths", ["maths", "poems"], {}, random.Random(0), novelties=sums) == "poems"
    engine.dispose()
