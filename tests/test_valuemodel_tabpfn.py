"""TabPFN head end to end on a small randomly initialised checkpoint of the real architecture."""

import numpy as np
import pytest
import torch

from valuemodel import V0
from valuemodel.heads.tabpfn import ENV_CHECKPOINT, TabPFNConfig, TabPFNHead, random_checkpoint


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return random_checkpoint(tmp_path_factory.mktemp("tabpfn") / "tabpfn-random-classifier.ckpt", emsize=32, nlayers=2, nhead=2)


def test_tabpfn_head_runs_the_real_code_path(checkpoint, monkeypatch):
    monkeypatch.setenv(ENV_CHECKPOINT, str(checkpoint))
    base = V0.load()
    v0 = base.with_head("tabpfn")
    assert v0.features == "adapter"
    texts = [f"Compute {i} + {i + 1}." for i in range(12)] + [f"Write a haiku about {w}." for w in "abcdefghijkl"]
    feats = v0.encode(texts)
    state = v0.fit_profile(feats, np.array([1.0] * 12 + [0.0] * 12))
    one_class = v0.fit_profile(feats[:4], np.ones(4))
    p = v0.predict([state, one_class], feats[:5])
    assert p.shape == (2, 5)
    assert np.isfinite(p).all() and ((p >= 0) & (p <= 1)).all()
    np.testing.assert_array_equal(p[1], np.ones(5, dtype=np.float32))  # a single class is certain
    assert v0.score("Compute 3 + 4.", [state] * 5).shape == (5,)


def test_tabpfn_needs_a_configured_checkpoint(monkeypatch, tmp_path):
    monkeypatch.delenv(ENV_CHECKPOINT, raising=False)
    with pytest.raises(FileNotFoundError, match=ENV_CHECKPOINT):
        TabPFNHead(TabPFNConfig())
    missing = tmp_path / "nope.ckpt"
    monkeypatch.setenv(ENV_CHECKPOINT, str(missing))
    with pytest.raises(FileNotFoundError, match="nope.ckpt"):
        TabPFNHead(TabPFNConfig())


def test_random_checkpoint_is_the_real_architecture(checkpoint):
    ckpt = torch.load(checkpoint, map_location="cpu", weights_only=False)
    assert ckpt["architecture_name"] == "tabpfn_v2"
    assert ckpt["config"]["max_num_classes"] == 10
    assert any("transformer_encoder" in k or "blocks" in k or "layers" in k for k in ckpt["state_dict"])
