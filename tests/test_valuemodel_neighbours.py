"""Neighbour difficulty: kNN soft labels of the training prompts per source, never the query's own."""

import numpy as np

from valuemodel.difficulty import Regressor
from valuemodel.neighbours import Neighbours


def source(n: int, seed: int, h: int = 16):
    """Prompts on a sphere whose soft label rises with the first coordinate."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, h)).astype(np.float32)
    u = x / np.linalg.norm(x, axis=1, keepdims=True)
    return x, np.clip(0.5 + 0.5 * u[:, 0] + rng.normal(scale=0.05, size=n), 0, 1).astype(np.float32)


def test_outputs_are_standardised_and_track_the_label():
    parts = [source(600, 0), source(300, 1)]
    nb = Neighbours.build(parts, k=16, temperature=0.1)
    for s, (x, y) in enumerate(parts):
        d = nb(x)[:, s]
        assert abs(d.mean()) < 1e-3 and abs(d.std() - 1) < 1e-3
        assert np.corrcoef(d, y)[0, 1] > 0.8
    q, qy = source(200, 2)
    assert np.corrcoef(nb(q)[:, 0], qy)[0, 1] > 0.8  # new prompts too


def test_a_training_prompt_is_never_its_own_neighbour():
    x, y = source(200, 3)
    nb = Neighbours.build([(x, y)], k=8)
    for i in range(5):
        before = nb.raw(x[i : i + 1])
        nb.labels[i] = 1.0 - nb.labels[i]  # the query's own label: nothing moves
        np.testing.assert_allclose(nb.raw(x[i : i + 1]), before, atol=1e-6)
    nb.labels[1:] = 0.0  # every other prompt's label is 0, its own 1: the output is 0
    nb.labels[0] = 1.0
    assert nb.raw(x[:1])[0, 0] == 0.0


def test_regressor_appends_neighbour_outputs_and_round_trips():
    h = 16
    x, y = source(300, 4, h)
    feats = np.concatenate([np.random.default_rng(5).normal(size=(300, 8)).astype(np.float32), x], 1)  # last h: the last layer
    reg = Regressor(np.zeros(8 + h, np.float32), np.ones(8 + h, np.float32), np.ones((8 + h, 2), np.float32),
                    np.zeros(2, np.float32), neighbours=Neighbours.build([(x, y)], k=8))
    assert reg(feats).shape == (300, 2) and reg(feats, neighbours=True).shape == (300, 3)
    np.testing.assert_allclose(reg(feats, True)[:, 2], reg.neighbours(x)[:, 0])
    back = Regressor.from_arrays(reg.arrays())
    np.testing.assert_allclose(back(feats, True), reg(feats, True), atol=1e-6)
    assert Regressor.from_arrays({k: v for k, v in reg.arrays().items() if not k.startswith("nb_")}).neighbours is None


def test_keys_in_a_principal_subspace_are_smaller_and_still_exclude_the_query():
    x, y = source(400, 6)
    full, small = Neighbours.build([(x, y)], k=16, temperature=0.1), Neighbours.build([(x, y)], k=16, temperature=0.1, dim=4)
    assert small.keys.shape == (400, 4) and small.in_dim == 16
    assert np.corrcoef(small(x)[:, 0], full(x)[:, 0])[0, 1] > 0.5  # the label lies in the top directions
    small.labels[0] = 1.0 - small.labels[0]
    before = small.raw(x[:1])
    small.labels[0] = 1.0 - small.labels[0]
    np.testing.assert_allclose(small.raw(x[:1]), before, atol=1e-6)
    back = Neighbours.from_arrays(small.arrays())
    np.testing.assert_allclose(back(x), small(x), atol=1e-6)
