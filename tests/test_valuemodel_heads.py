"""Heads: fit once, predict many; a profile where one kind of prompt succeeds ranks it higher."""

import numpy as np
import pytest
import torch

from valuemodel import V0
from valuemodel.heads import ICLConfig, ICLHead, ICLModule, KNNHead


def clusters(n: int, dim: int = 64, seed: int = 0):
    """Two well separated clusters: kind A (label 1) and kind B (label 0)."""
    g = torch.Generator().manual_seed(seed)
    center = torch.zeros(dim)
    center[0] = 4.0
    a = center + torch.randn(n, dim, generator=g)
    b = -center + torch.randn(n, dim, generator=g)
    return a, b


@pytest.mark.parametrize("make_head", [lambda: KNNHead(), lambda: ICLHead(ICLModule(ICLConfig(in_dim=64)))])
def test_head_ranks_the_successful_cluster_higher(make_head):
    torch.manual_seed(0)
    head = make_head()
    a, b = clusters(64)
    x = torch.cat([a, b])
    y = torch.cat([torch.ones(64), torch.zeros(64)])
    state = head.fit(x, y, "fp")
    flipped = head.fit(x, 1 - y, "fp")
    qa, qb = clusters(10, seed=1)
    p = head.predict([state, flipped], torch.cat([qa, qb]))  # (2, 20)
    assert p.shape == (2, 20)
    assert ((p >= 0) & (p <= 1)).all()
    assert p[0, :10].min() > p[0, 10:].max()  # kind A succeeds in the first profile
    assert p[1, :10].max() < p[1, 10:].min()  # and fails in the flipped one


def test_states_of_another_head_are_refused():
    knn, icl = KNNHead(), ICLHead(ICLModule(ICLConfig(in_dim=8)))
    state = knn.fit(torch.randn(4, 8), torch.tensor([1.0, 0.0, 1.0, 0.0]), "fp")
    with pytest.raises(ValueError, match="knn"):
        icl.predict([state], torch.randn(2, 8))


@pytest.fixture(scope="module")
def v0():
    return V0.load()


MATH = [f"Compute {a} * {b} + {a + b}. Give only the number." for a, b in zip(range(3, 43), range(7, 47))]
POEMS = [f"Write a short poem about {w}, in the style of a sonnet." for w in (
    "autumn rain", "a lighthouse", "the sea", "old friends", "a red fox", "city lights", "winter", "a garden",
    "the moon", "a train journey", "mountains", "a candle", "the desert", "spring", "a river", "a library",
    "the stars", "a forest", "snow", "a harbour", "summer", "a violin", "the wind", "a cat", "the dawn",
    "a bridge", "the ocean floor", "a market", "fog", "a clock", "a storm", "the sunset", "a meadow",
    "an island", "a kite", "an orchard", "a glacier", "a lantern", "a seashell", "thunder")]


@pytest.mark.parametrize("head", ["difficulty", "icl", "knn", "noadapter"])
def test_v0_profile_where_math_succeeds_prefers_math(v0, head):
    model = v0.with_head(head)
    feats = model.encode(MATH[:32] + POEMS[:32])
    assert feats.shape == (64, model.feature_dim)
    scores = np.array([1.0] * 32 + [0.0] * 32)
    good_at_math = model.fit_profile(feats, scores)
    good_at_poems = model.fit_profile(feats, 1 - scores)
    query = model.encode(MATH[32:] + POEMS[32:])  # 8 + 8 unseen prompts
    p = model.predict([good_at_math, good_at_poems], query)  # (2, 16)
    assert p.shape == (2, 16)
    assert p[0, :8].mean() > p[0, 8:].mean() + 0.2
    assert p[1, 8:].mean() > p[1, :8].mean() + 0.2
    hot = model.score(MATH[35], [good_at_math, good_at_poems] * 2 + [good_at_math])
    assert hot.shape == (5,)
    np.testing.assert_allclose(hot[:2], p[:, 3], atol=1e-5)  # alone or in a batch: same features


def test_v0_rejects_bad_profiles(v0):
    feats = v0.encode(["a", "b"])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        v0.fit_profile(feats, [0.5, 2.0])
    with pytest.raises(ValueError, match="as many"):
        v0.fit_profile(feats, [1.0])
    other = v0.with_head("noadapter")
    state = other.fit_profile(other.encode(["a", "b"]), [1.0, 0.0])
    with pytest.raises(ValueError, match="fingerprint|head"):
        v0.predict([state], feats)


def test_state_packs_reuse_a_list_and_never_keep_replaced_states_alive():
    import gc
    import weakref

    from valuemodel.heads.base import ProfileState, StatePacks

    built = []
    packs = StatePacks(lambda states: built.append(len(states)) or len(built))
    a, b = ProfileState("h", "fp", 1), ProfileState("h", "fp", 2)
    first = packs.get([a, b])
    assert packs.get([a, b]) == first and built == [2]  # same list: stacked once
    assert packs.get([b, a]) != first and built == [2, 2]  # another order is another stacking
    gone = weakref.ref(a)
    del a
    gc.collect()
    assert gone() is None  # the cache does not hold a replaced state alive
    assert packs.get([ProfileState("h", "fp", 3)]) and len(packs._packs) == 1  # and drops its packs
