"""Checkpoints: config.json + model.safetensors round trip, clear errors for missing files."""

import json

import numpy as np
import pytest
import torch

from valuemodel import V0, V0Config
from valuemodel.checkpoint import CONFIG_FILE, WEIGHTS_FILE, load_checkpoint
from valuemodel.model import DEFAULT_WEIGHTS, DIFFICULTY_FILE, V0Modules


@pytest.fixture(scope="module")
def shipped():
    return V0.load()


def test_shipped_weights_are_small_and_complete():
    assert (DEFAULT_WEIGHTS / CONFIG_FILE).is_file()
    assert (DEFAULT_WEIGHTS / WEIGHTS_FILE).stat().st_size < 5_000_000
    config, tensors = load_checkpoint(DEFAULT_WEIGHTS)
    assert config["model"]["default_head"] == "difficulty"
    assert {k.split(".")[0] for k in tensors} == {"adapter", "icl", "ablation"}


def test_save_load_round_trip(shipped, tmp_path):
    torch.manual_seed(1)
    config = V0Config.from_dict(shipped.config.to_dict())
    fresh = V0(config, V0Modules(config), shipped.backbone, regressor=shipped.regressor)
    fresh.save(tmp_path / "ck", extra={"training": {"note": "test"}})
    loaded = V0.load(tmp_path / "ck", backbone=shipped.backbone)
    for (k, a), (k2, b) in zip(fresh.modules.state_dict().items(), loaded.modules.state_dict().items()):
        assert k == k2
        assert torch.equal(a, b)
    assert loaded.fingerprint == fresh.fingerprint != shipped.fingerprint
    assert loaded.config.to_dict() == fresh.config.to_dict()
    feats = loaded.encode(["one prompt", "another prompt", "a third"])
    state = loaded.fit_profile(feats, [1.0, 0.0, 1.0])
    np.testing.assert_array_equal(loaded.predict([state], feats), fresh.predict([state], feats))
    assert json.loads((tmp_path / "ck" / CONFIG_FILE).read_text())["training"] == {"note": "test"}


@pytest.mark.parametrize("missing", [CONFIG_FILE, WEIGHTS_FILE, DIFFICULTY_FILE])
def test_missing_checkpoint_file_is_named(shipped, tmp_path, missing):
    shipped.save(tmp_path / "ck")
    (tmp_path / "ck" / missing).unlink()
    with pytest.raises(FileNotFoundError, match=missing.replace(".", r"\.")):
        V0.load(tmp_path / "ck", backbone=shipped.backbone)


def test_unknown_head_is_refused(shipped):
    with pytest.raises(ValueError, match="unknown head"):
        shipped.with_head("xgboost")
