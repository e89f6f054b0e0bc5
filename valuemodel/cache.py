"""Precomputed backbone states: the frozen backbone runs once per prompt, training reuses them.

One safetensors file per (dataset, backbone window): ``tokens`` (P, T, H) float16 padded,
``lengths`` (P,), ``pooled`` (P, H) float32, and the prompt ids in the metadata.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, safe_open, save_file
from tqdm import tqdm

from .backbone import Backbone


@dataclass
class TokenStates:
    prompt_ids: list[str]
    tokens: torch.Tensor  # (P, T, H) float16, zero past each length
    lengths: torch.Tensor  # (P,) int64
    pooled: torch.Tensor  # (P, H) float32

    def index(self) -> dict[str, int]:
        return {p: i for i, p in enumerate(self.prompt_ids)}

    def subset(self, prompt_ids: list[str]) -> "TokenStates":
        """These prompts' rows, in this order: what a training run sees does not depend on what
        else the cache file holds or in which order it was filled."""
        index = self.index()
        rows = torch.as_tensor([index[p] for p in prompt_ids], dtype=torch.long)
        return TokenStates(list(prompt_ids), self.tokens[rows], self.lengths[rows], self.pooled[rows])

    def batch(self, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """rows (B,) -> tokens (B, T', H) float32 cut to the longest row, mask (B, T'), pooled (B, H)."""
        lengths = self.lengths[rows]  # (B,)
        T = int(lengths.max())
        tokens = self.tokens[rows, :T].float()  # (B, T', H)
        mask = torch.arange(T)[None, :] < lengths[:, None]  # (B, T')
        return tokens, mask, self.pooled[rows]


def backbone_key(backbone: Backbone) -> str:
    raw = f"{backbone.key}|{backbone.config.max_tokens}|{backbone.runtime}"
    return hashlib.sha256(raw.encode()).hexdigest()[:12]


def cache_file(root: Path, name: str, backbone: Backbone) -> Path:
    return Path(root) / f"{name}-{backbone_key(backbone)}.safetensors"


def build_states(backbone: Backbone, texts: dict[str, str], batch_size: int = 32, desc: str = "") -> TokenStates:
    ids = sorted(texts, key=lambda p: len(texts[p]))  # similar lengths share a batch
    T, H = backbone.config.max_tokens, backbone.hidden_size
    tokens = torch.zeros(len(ids), T, H, dtype=torch.float16)
    lengths = torch.zeros(len(ids), dtype=torch.long)
    pooled = torch.zeros(len(ids), H)
    for start in tqdm(range(0, len(ids), batch_size), desc=f"backbone {desc}", unit="batch"):
        chunk = ids[start : start + batch_size]
        enc = backbone.encode([texts[p] for p in chunk])
        n = enc.mask.sum(-1)  # (B,)
        t = enc.tokens.shape[1]
        tokens[start : start + len(chunk), :t] = (enc.tokens * enc.mask[..., None]).half()
        lengths[start : start + len(chunk)] = n
        pooled[start : start + len(chunk)] = enc.pooled
    return TokenStates(ids, tokens, lengths, pooled)


def save_states(path: Path, states: TokenStates) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    save_file(
        {"tokens": states.tokens, "lengths": states.lengths, "pooled": states.pooled},
        str(tmp),
        metadata={"prompt_ids": json.dumps(states.prompt_ids)},
    )
    tmp.replace(path)


def load_states(path: Path) -> TokenStates:
    with safe_open(str(path), framework="pt") as f:
        prompt_ids = json.loads(f.metadata()["prompt_ids"])
    t = load_file(str(path))
    return TokenStates(prompt_ids, t["tokens"], t["lengths"], t["pooled"])


def merge_states(a: TokenStates, b: TokenStates) -> TokenStates:
    """Rows of ``a`` followed by those of ``b`` (same backbone window)."""
    return TokenStates(
        a.prompt_ids + b.prompt_ids,
        torch.cat([a.tokens, b.tokens]),
        torch.cat([a.lengths, b.lengths]),
        torch.cat([a.pooled, b.pooled]),
    )


def get_states(
    backbone: Backbone, name: str, texts: dict[str, str], root: str | Path, batch_size: int = 32
) -> TokenStates:
    """Load the cached states of ``texts`` for this backbone, computing only what is missing
    (the cache file then holds the union)."""
    path = cache_file(Path(root), name, backbone)
    cached = load_states(path) if path.is_file() else None
    have = set(cached.prompt_ids) if cached is not None else set()
    missing = {p: t for p, t in texts.items() if p not in have}
    if cached is not None and not missing:
        return cached
    states = build_states(backbone, missing, batch_size=batch_size, desc=name)
    if cached is not None:
        states = merge_states(cached, states)
    save_states(path, states)
    return states
