"""Training: a few steps on tiny synthetic data, checkpoints, exact resume, CLI arguments."""

import argparse

import numpy as np
import pytest
import torch

from valuemodel import V0
from valuemodel_support import write_tiny_dataset
from valuemodel.backbone import Backbone
from valuemodel.checkpoint import load_checkpoint
from valuemodel.train import TrainConfig, add_arguments, train
from valuemodel.train_steps import episode_loss



@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_tiny_dataset(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def backbone():
    return Backbone()


def config(data, out, **kw) -> TrainConfig:
    base = dict(
        data=str(data), datasets=["tiny"], out=str(out), cache=str(data / "cache"), steps=4, models_per_step=2,
        profile_size=16, query_size=8, val_every=2, save_every=2, warmup=1, token_dim=8, n_queries=2, query_dim=16,
    )
    return TrainConfig(**{**base, **kw})


def test_train_resume_is_exact(data, backbone, tmp_path):
    straight = train(config(data, tmp_path / "a"), backbone=backbone, progress=False)
    train(config(data, tmp_path / "b"), backbone=backbone, progress=False, until=2)
    raw_b, _ = load_checkpoint(tmp_path / "b" / "last")
    assert raw_b["training"]["step"] == 2
    train(config(data, tmp_path / "b"), backbone=backbone, progress=False, resume=True)
    raw_a, ta = load_checkpoint(tmp_path / "a" / "last")
    raw_b, tb = load_checkpoint(tmp_path / "b" / "last")
    assert raw_a["training"]["step"] == raw_b["training"]["step"] == 4
    assert ta.keys() == tb.keys()
    for k in ta:
        assert torch.equal(ta[k], tb[k]), k
    assert [h["step"] for h in straight["history"]] == [2, 4]
    assert {"by_prompt/icl", "by_model/icl", "by_prompt/noadapter"} <= straight["history"][0].keys()
    for name in ("config.json", "model.safetensors", "optimizer.safetensors"):
        assert (tmp_path / "a" / "last" / name).is_file()
    # the best checkpoint loads as a V0 and scores
    v0 = V0.load(tmp_path / "a" / "best", backbone=backbone)
    feats = v0.encode(["A question about poetry number 3", "A question about arithmetic number 9"])
    assert v0.predict([v0.fit_profile(feats, [1.0, 0.0])], feats).shape == (1, 2)


def test_loss_prefers_the_right_order():
    y = torch.tensor([[1.0, 0.0, 0.5]])
    mask = torch.ones(1, 3, dtype=torch.bool)
    good = episode_loss(torch.tensor([[3.0, -3.0, 0.0]]), y, mask, alpha=0.25)
    bad = episode_loss(torch.tensor([[-3.0, 3.0, 0.0]]), y, mask, alpha=0.25)
    assert good < bad
    # padded query rows do not count
    padded = episode_loss(torch.tensor([[3.0, -3.0, 0.0, 99.0]]), torch.tensor([[1.0, 0.0, 0.5, 0.0]]),
                          torch.tensor([[True, True, True, False]]), alpha=0.25)
    torch.testing.assert_close(padded, good)


def test_cli_arguments():
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--data", "d", "--steps", "7", "--resume"])
    assert args.steps == 7 and args.resume and args.alpha == 0.25 and args.profile_size == 256
    assert args.datasets == ["llmrouter_dcrouter9", "routellm_2model", "dapomath"]  # licences allow shipping
    assert args.dapo_parts == ["context"]
    assert np.isclose(args.lr, 7e-4) and args.steps == 7 and args.max_prompts == 12000


def test_residual_head_starts_as_the_ablation_and_trains(data, backbone, tmp_path):
    from valuemodel.model import V0Config, V0Modules

    cfg = V0Config.for_backbone(backbone.hidden_size, residual=True)
    cfg.icl.zero_init = True
    fresh = V0(cfg, V0Modules(cfg), backbone)
    texts = ["A question about poetry number 3", "A question about arithmetic number 9", "A question about geography number 2"]
    feats = fresh.encode(texts)
    assert feats.shape == (3, cfg.adapter.out_dim + backbone.hidden_size)
    ablation = fresh.with_head("noadapter")
    pooled = ablation.encode(texts)
    torch.testing.assert_close(feats[:, cfg.adapter.out_dim :], pooled)
    p_icl = fresh.predict([fresh.fit_profile(feats[:2], [1.0, 0.0])], feats)
    p_abl = ablation.predict([ablation.fit_profile(pooled[:2], [1.0, 0.0])], pooled)
    np.testing.assert_allclose(p_icl, p_abl, rtol=0, atol=1e-6)  # zero-started residual

    train(config(data, tmp_path / "r", residual=True), backbone=backbone, progress=False)
    v0 = V0.load(tmp_path / "r" / "best", backbone=backbone)
    assert v0.config.residual and v0.features == "adapter+pooled"
    feats = v0.encode(texts)
    p_icl = v0.predict([v0.fit_profile(feats[:2], [1.0, 0.0])], feats)
    abl = v0.with_head("noadapter")
    p_abl = abl.predict([abl.fit_profile(abl.encode(texts[:2]), [1.0, 0.0])], abl.encode(texts))
    assert not np.allclose(p_icl, p_abl, atol=1e-4)  # the residual learned something


@pytest.mark.parametrize("icl_features,residual,kind", [("pooled", True, "pooled"), ("adapter+pooled", False, "adapter+pooled")])
def test_icl_feature_choices_train_and_load(data, backbone, tmp_path, icl_features, residual, kind):
    train(config(data, tmp_path / "c", residual=residual, icl_features=icl_features), backbone=backbone, progress=False)
    v0 = V0.load(tmp_path / "c" / "best", backbone=backbone)
    assert v0.features == kind and v0.config.icl.in_dim == v0.feature_dim
    texts = ["A question about poetry number 3", "A question about arithmetic number 9"]
    feats = v0.encode(texts)
    assert v0.predict([v0.fit_profile(feats, [1.0, 0.0])], feats).shape == (1, 2)


def test_state_cache_encodes_only_missing_prompts(backbone, tmp_path):
    from valuemodel.cache import get_states

    first = {"a": "A question about poetry", "b": "A question about chemistry"}
    states = get_states(backbone, "tiny", first, tmp_path)
    again = get_states(backbone, "tiny", {"c": "A question about geography", **first}, tmp_path)
    assert set(again.prompt_ids) == {"a", "b", "c"}
    torch.testing.assert_close(again.pooled[:2], states.pooled)  # kept, not recomputed
    fresh = get_states(backbone, "other", {"c": "A question about geography"}, tmp_path)
    torch.testing.assert_close(again.pooled[2], fresh.pooled[0], atol=1e-5, rtol=0)
    assert get_states(backbone, "tiny", {"a": first["a"]}, tmp_path).prompt_ids == again.prompt_ids


def test_training_does_not_depend_on_what_else_the_cache_holds(data, backbone, tmp_path):
    """A cache file that also holds other prompts (an evaluation filled it) trains the same."""
    from valuemodel.cache import get_states

    train(config(data, tmp_path / "a", cache=str(tmp_path / "c1")), backbone=backbone, progress=False)
    get_states(backbone, "tiny", {"zz": "An unrelated prompt", "aa": "Another one, longer than that"}, tmp_path / "c2")
    train(config(data, tmp_path / "b", cache=str(tmp_path / "c2")), backbone=backbone, progress=False)
    _, ta = load_checkpoint(tmp_path / "a" / "last")
    _, tb = load_checkpoint(tmp_path / "b" / "last")
    for k in ta:
        assert torch.equal(ta[k], tb[k]), k
