"""Every-layer pooled backbone features, computed once per prompt and kept on disk.

One ``.npz`` per (dataset, backbone, window): ``prompt_ids`` (P,), ``layers`` (P, L+1, H) float16
(masked mean of the embeddings and of every layer's states) and ``adapter`` (P, K d) float16 (the
loaded adapter's output, for the in-context term). Later calls encode only missing prompts.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

from .model import V0


def cache_path(root: str | Path, name: str, v0: V0) -> Path:
    b = v0.backbone
    adapter = v0.with_head("icl", features="adapter").fingerprint  # backbone + adapter weights
    key = hashlib.sha256(f"{b.key}|{b.config.max_tokens}|{b.runtime}|{adapter}".encode()).hexdigest()[:12]
    return Path(root) / f"{name}-w{b.config.max_tokens}-{key}.npz"


@torch.no_grad()
def encode_layers(v0: V0, texts: list[str], batch_size: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """texts -> (layers (P, L+1, H), adapter (P, K d)) float32."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    b = v0.backbone
    layers = np.zeros((len(texts), b.n_layers, b.hidden_size), np.float32)
    adapter = np.zeros((len(texts), v0.config.adapter.out_dim), np.float32)
    for s in range(0, len(order), batch_size):
        idx = order[s : s + batch_size]
        enc = b.encode([texts[i] for i in idx])
        layers[idx] = enc.layers.cpu().numpy()
        adapter[idx] = v0.modules.adapter(enc.tokens, enc.mask, enc.pooled).cpu().numpy()
    return layers, adapter


def get_layers(v0: V0, name: str, texts: dict[str, str], root: str | Path) -> dict[str, np.ndarray]:
    """{"prompt_ids", "layers", "adapter"} for every prompt of ``texts`` (cache file holds the union)."""
    path = cache_path(root, name, v0)
    have = dict(np.load(path, allow_pickle=False)) if path.is_file() else None
    known = set(have["prompt_ids"].tolist()) if have is not None else set()
    missing = [p for p in texts if p not in known]
    if missing:
        L, A = encode_layers(v0, [texts[p] for p in missing])
        new = {"prompt_ids": np.array(missing), "layers": L.astype(np.float16), "adapter": A.astype(np.float16)}
        if have is not None:
            new = {k: np.concatenate([have[k], new[k]]) for k in new}
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path.with_suffix(".tmp.npz"), **new)
        path.with_suffix(".tmp.npz").replace(path)
        have = new
    index = {p: i for i, p in enumerate(have["prompt_ids"].tolist())}
    rows = np.array([index[p] for p in texts], dtype=np.int64)
    return {"prompt_ids": np.array(list(texts)), "layers": have["layers"][rows], "adapter": have["adapter"][rows]}
