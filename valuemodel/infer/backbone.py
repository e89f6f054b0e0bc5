"""The backbone without torch: ``tokenizers`` for the ids, onnxruntime for the transformer,
numpy for the pooling. Reads the same folder as ``backbone.Backbone`` (sentence-transformers
files: ``tokenizer.json``, ``config.json``, ``modules.json``, ``1_Pooling/config.json``,
``config_sentence_transformers.json``) and runs the ONNX file that ``Backbone`` exports; when
that file is missing it is built by ``python -m valuemodel.infer.prepare`` in a short-lived
subprocess (torch is imported there, never here).
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np

from ..backbone_files import BackboneConfig, env_threads, onnx_paths, resolve_backbone
from ..encoder_spec import Windows, check_pooling, features_key, pad_ids, tail_ids
from .embeddings import split_embeddings, split_paths
from .ops import normalize

log = logging.getLogger(__name__)

ST_POOLINGS = {"pooling_mode_cls_token": "cls", "pooling_mode_mean_tokens": "mean",
               "pooling_mode_max_tokens": "max", "pooling_mode_lasttoken": "lasttoken"}


class Unsupported(RuntimeError):
    """This backbone needs the torch runtime (pooling modules, torch runtime, no tokenizer.json)."""


class Tokenizer:
    """``tokenizers.Tokenizer`` called like a transformers fast tokenizer with truncation on the
    left (the tail is kept): ``tok(texts, add_special_tokens=, truncation=, max_length=)``."""

    def __init__(self, folder: Path):
        from tokenizers import Tokenizer as Fast

        if not (folder / "tokenizer.json").is_file():
            raise Unsupported(f"no tokenizer.json in {folder}")
        self.tok = Fast.from_file(str(folder / "tokenizer.json"))
        self.tok.no_padding()
        self.tok.no_truncation()
        conf = _json(folder / "tokenizer_config.json")
        pad = conf.get("pad_token")
        pad = pad.get("content") if isinstance(pad, dict) else pad
        self.pad_token_id = self.tok.token_to_id(pad) if pad else None

    def __call__(self, texts, add_special_tokens: bool = True, truncation: bool = False,
                 max_length: int | None = None, verbose: bool = False) -> dict:
        single = isinstance(texts, str)
        if truncation and max_length:
            self.tok.enable_truncation(max_length, direction="left")
        else:
            self.tok.no_truncation()
        enc = self.tok.encode_batch([texts] if single else list(texts), add_special_tokens=add_special_tokens)
        ids = [e.ids for e in enc]
        return {"input_ids": ids[0] if single else ids}


def _json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def folder_pooling(folder: Path) -> str:
    """The sentence-transformers modules of ``folder`` -> pooling name (encoder_spec.model_pooling)."""
    modules = _json(folder / "modules.json") if (folder / "modules.json").is_file() else None
    if not modules:
        return "mean"  # sentence-transformers' default for a bare transformers folder
    kinds = [m["type"].rsplit(".", 1)[-1] for m in modules[1:]]
    if not kinds or kinds[0] != "Pooling" or kinds[1:] not in ([], ["Normalize"]):
        return "modules"
    conf = _json(folder / modules[1].get("path", "1_Pooling") / "config.json")
    on = [name for key, name in ST_POOLINGS.items() if conf.get(key)]
    others = [k for k, v in conf.items() if k.startswith("pooling_mode_") and v and k not in ST_POOLINGS]
    if len(on) != 1 or others or conf.get("include_prompt", True) is False:
        return "modules"
    return on[0] + ("+normalize" if kinds[1:] else "")


def folder_prompt(folder: Path) -> str:
    conf = _json(folder / "config_sentence_transformers.json")
    prompts, name = conf.get("prompts") or {}, conf.get("default_prompt_name")
    return prompts.get(name, "") if name else prompts.get("query", "")


def pool(tokens: np.ndarray, mask: np.ndarray, name: str) -> np.ndarray:
    """tokens (B, T, H), mask (B, T) bool -> pooled (B, H) (encoder_spec.pool in numpy)."""
    mode = name.split("+")[0]
    m = mask[..., None].astype(tokens.dtype)  # (B, T, 1)
    if mode == "mean":
        out = (tokens * m).sum(1) / np.maximum(m.sum(1), 1e-9)
    elif mode == "max":
        out = np.where(mask[..., None], tokens, -np.inf).max(1)
    else:
        pos = np.arange(mask.shape[1])
        real = np.where(mask, pos, -1 if mode == "lasttoken" else mask.shape[1])  # (B, T)
        idx = real.max(1) if mode == "lasttoken" else real.min(1)
        out = tokens[np.arange(len(tokens)), np.clip(idx, 0, mask.shape[1] - 1)]
    return normalize(out) if name.endswith("+normalize") else out


def ensure_onnx(config: BackboneConfig, weights_key: str, int8: bool) -> Path:
    """The ONNX file for this backbone; exported (torch) in a subprocess when missing."""
    fp32, int8_file = onnx_paths(weights_key)
    target = int8_file if int8 else fp32
    if all(p.is_file() for p in split_paths(target)):
        return target  # its serving copy is all serving reads (a container image ships only that)
    if not target.is_file():
        log.warning("ONNX backbone %s missing: exporting it in a subprocess (v0-gateway prepare)", target)
        cmd = [sys.executable, "-m", "valuemodel.infer.prepare", "--backbone", config.name_or_path,
               "--runtime", "onnx-int8" if int8 else "onnx"]
        if config.sha256:
            cmd += ["--sha256", config.sha256]
        subprocess.run(cmd, check=True)
    if not target.is_file():
        raise FileNotFoundError(f"ONNX backbone not built: {target}")
    return target


class NumpyBackbone:
    """``backbone.Backbone``'s CPU ONNX path, torch-free. ``encode`` -> (tokens (B, T, H),
    mask (B, T) bool, pooled (B, H), layers (B, L+1, H)) float32 arrays."""

    def __init__(self, config: BackboneConfig | None = None, threads: int | None = None):
        self.config = config or BackboneConfig()
        runtime = "onnx-int8" if self.config.runtime == "auto" else self.config.runtime
        if runtime not in ("onnx", "onnx-int8"):
            raise Unsupported(f"backbone runtime {runtime!r} needs torch")
        self.runtime = runtime
        source, self.weights_key = resolve_backbone(self.config)
        folder = Path(source)
        if not folder.is_dir():
            raise Unsupported(f"backbone {source!r} is not a local folder")
        self.tokenizer = Tokenizer(folder)
        model = _json(folder / "config.json")
        self.hidden_size = int(model["hidden_size"])
        self.n_layers = int(model["num_hidden_layers"]) + 1
        self.native_pooling = folder_pooling(folder)
        self.config.pooling = self.config.pooling or self.native_pooling
        if self.config.prompt is None:
            self.config.prompt = folder_prompt(folder)
        check_pooling(self.config.pooling)
        if self.config.pooling == "modules":
            raise Unsupported("pooling 'modules' runs the folder's sentence-transformers modules (torch)")
        self._windows = None
        self.pad_id = self.tokenizer.pad_token_id or 0
        import onnxruntime as ort

        threads = env_threads() if threads is None else threads
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            opts.intra_op_num_threads = threads
        path = ensure_onnx(self.config, self.weights_key, int8=runtime == "onnx-int8")
        split = split_embeddings(path)
        self._session = ort.InferenceSession(str(split[0] if split else path), opts, providers=["CPUExecutionProvider"])
        # inputs every call takes: the memory-mapped token table (embeddings.py), when split out
        self._feeds = {i.name: np.load(split[1], mmap_mode="r") for i in self._session.get_inputs()
                       if split and i.name not in ("input_ids", "attention_mask")}

    @property
    def key(self) -> str:
        return features_key(self.weights_key, self.config.pooling, self.config.prompt, self.native_pooling)

    def token_ids(self, texts: list[str]) -> list[list[int]]:
        """As ``Backbone.token_ids``: special tokens around the last tokens of each text."""
        if self.config.prompt:
            if self._windows is None or self._windows.n != self.config.max_tokens:
                self._windows = Windows(self.tokenizer, self.config.prompt, self.config.max_tokens)
            return self._windows(texts)
        return tail_ids(self.tokenizer, texts, self.config.max_tokens)

    def encode(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        ids, mask = pad_ids(self.token_ids(texts), self.pad_id)  # (B, T) each
        B, T = ids.shape
        if self.runtime == "onnx-int8":  # one text at a time, as Backbone.encode (no batch-mates)
            tokens = np.zeros((B, T, self.hidden_size), np.float32)  # (B, T, H)
            layers = np.zeros((B, self.n_layers, self.hidden_size), np.float32)  # (B, L+1, H)
            for i, n in enumerate(mask.sum(1)):
                t, lp = self._session.run(None, {"input_ids": ids[i : i + 1, :n], "attention_mask": mask[i : i + 1, :n],
                                                 **self._feeds})
                tokens[i, :n], layers[i] = t[0], lp[0]
        else:
            tokens, layers = self._session.run(None, {"input_ids": ids, "attention_mask": mask, **self._feeds})
        maskb = mask.astype(bool)
        pooled = pool(tokens, maskb, self.config.pooling).astype(np.float32)
        return tokens.astype(np.float32), maskb, pooled, layers.astype(np.float32)
