"""Backbone: offline default weights verified by hash, tail truncation, ONNX runtime."""

import os

import pytest
import torch

from valuemodel.backbone import DEFAULT_SHA256, Backbone, BackboneConfig, default_model_dir

os.environ.setdefault("HF_HUB_OFFLINE", "1")

# RouterBench-style few-shot prompt: a long shared prefix, the question differs at the end.
SHOTS = "".join(
    f"Question: Which of these is a property of material number {i}? A) hardness B) colour "
    f"C) mass D) shape\nAnswer: A\n\n"
    for i in range(40)
)
ARC_A = SHOTS + "Question: George wants to warm his hands quickly. Which surface produces the most heat?\nAnswer:"
ARC_B = SHOTS + "Question: Which planet in our solar system is known for its prominent ring system?\nAnswer:"


@pytest.fixture(scope="module")
def torch_backbone():
    return Backbone(BackboneConfig(runtime="torch"))


def test_default_backbone_loads_offline_and_is_hash_checked(torch_backbone):
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert torch_backbone.weights_key == DEFAULT_SHA256
    assert (default_model_dir() / "model.safetensors").is_file()
    assert torch_backbone.hidden_size == 384


def test_wrong_hash_is_refused():
    with pytest.raises(ValueError, match="sha256"):
        Backbone(BackboneConfig(sha256="0" * 64, runtime="torch"))


def test_missing_backbone_path_names_it(tmp_path):
    missing = tmp_path / "no-such-model"
    with pytest.raises(FileNotFoundError, match="no-such-model"):
        Backbone(BackboneConfig(name_or_path=str(missing), runtime="torch"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        Backbone(BackboneConfig(name_or_path=str(empty), sha256="0" * 64, runtime="torch"))


def test_any_sentence_transformers_path_works(torch_backbone):
    other = Backbone(BackboneConfig(name_or_path=str(default_model_dir()), runtime="torch"))
    a = other.encode(["a short prompt"]).pooled
    b = torch_backbone.encode(["a short prompt"]).pooled
    torch.testing.assert_close(a, b)


def test_truncation_keeps_the_differing_tail(torch_backbone):
    ids = torch_backbone.token_ids([ARC_A, ARC_B])
    assert len(ids[0]) == len(ids[1]) == torch_backbone.config.max_tokens
    assert ids[0][0] == torch_backbone.tokenizer.cls_token_id
    assert ids[0][-1] == torch_backbone.tokenizer.sep_token_id
    tail = torch_backbone.tokenizer("ring system?\nAnswer:", add_special_tokens=False)["input_ids"]
    assert ids[1][-1 - len(tail) : -1] == tail
    # keeping the head instead (the trap): both prompts give the same window
    full = torch_backbone.tokenizer([ARC_A, ARC_B], add_special_tokens=False)["input_ids"]
    assert full[0][:126] == full[1][:126]
    assert ids[0] != ids[1]
    enc = torch_backbone.encode([ARC_A, ARC_B])
    cos = torch.nn.functional.cosine_similarity(enc.pooled[0], enc.pooled[1], dim=0)
    assert cos < 0.95


def test_onnx_int8_runtime_matches_torch(torch_backbone):
    onnx = Backbone(BackboneConfig(runtime="onnx-int8"))
    texts = ["What is the capital of France?", ARC_A, "def add(a, b):\n    return a + b"]
    a, b = onnx.encode(texts), torch_backbone.encode(texts)
    assert a.tokens.shape == b.tokens.shape
    assert torch.equal(a.mask, b.mask)
    cos = torch.nn.functional.cosine_similarity(a.pooled, b.pooled, dim=-1)
    assert cos.min() > 0.98


def test_auto_runtime_falls_back_to_torch_when_onnx_fails(monkeypatch):
    def broken(self, int8):
        raise RuntimeError("no exporter")

    monkeypatch.setattr(Backbone, "_onnx_session", broken)
    assert Backbone(BackboneConfig(runtime="auto")).runtime == "torch"
    with pytest.raises(RuntimeError, match="no exporter"):
        Backbone(BackboneConfig(runtime="onnx-int8"))
