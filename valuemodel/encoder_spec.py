"""What makes a backbone's output: its pooling, its instruction prompt, the scored window, and
the identity that trained weights record (``Backbone`` uses these; ``V0.load`` checks identity).

Pooling is read from the sentence-transformers modules of the model folder (``modules.json``,
``1_Pooling/config.json``) unless the config names one: ``mean``, ``cls``, ``lasttoken`` or
``max``, with ``+normalize`` when an L2 ``Normalize`` module follows; ``modules`` runs the
folder's own modules (anything else, e.g. a Dense layer). ``lasttoken`` takes the last *real*
token of each row (padding masked; left or right padding). The prompt is the folder's default
prompt (``config_sentence_transformers.json``), else its ``query`` prompt, else none.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

POOLINGS = ("mean", "cls", "lasttoken", "max")


def model_pooling(modules: list[torch.nn.Module]) -> str:
    """The sentence-transformers modules after the transformer -> pooling name (or "modules")."""
    names = [type(m).__name__ for m in modules]
    if not names or names[0] != "Pooling" or names[1:] not in ([], ["Normalize"]):
        return "modules"
    mode = getattr(modules[0], "pooling_mode", None)
    if mode not in POOLINGS or getattr(modules[0], "include_prompt", True) is False:
        return "modules"
    return mode + ("+normalize" if names[1:] else "")


def model_prompt(st) -> str:
    """The instruction the model folder asks queries to start with ("" when none)."""
    prompts = getattr(st, "prompts", None) or {}
    name = getattr(st, "default_prompt_name", None)
    if name:
        return prompts.get(name, "")
    return prompts.get("query", "")


def check_pooling(name: str) -> None:
    mode = name.split("+")[0]
    if name != "modules" and (mode not in POOLINGS or name not in (mode, mode + "+normalize")):
        raise ValueError(f"unknown pooling {name!r}; one of {POOLINGS} (optionally +normalize) or 'modules'")


def pool(tokens: torch.Tensor, mask: torch.Tensor, name: str) -> torch.Tensor:
    """tokens (B, T, H), mask (B, T) bool -> pooled (B, H) with the named pooling."""
    import torch

    mode = name.split("+")[0]
    m = mask[..., None].to(tokens.dtype)  # (B, T, 1)
    if mode == "mean":
        out = (tokens * m).sum(1) / m.sum(1).clamp(min=1e-9)
    elif mode == "max":
        out = tokens.masked_fill(~mask[..., None], float("-inf")).max(1).values
    else:
        pos = torch.arange(mask.shape[1], device=mask.device)  # (T,)
        real = torch.where(mask, pos, -1 if mode == "lasttoken" else mask.shape[1])  # (B, T)
        idx = real.max(1).values if mode == "lasttoken" else real.min(1).values  # (B,)
        out = tokens[torch.arange(len(tokens), device=tokens.device), idx.clamp(0, mask.shape[1] - 1)]
    if name.endswith("+normalize"):
        out = torch.nn.functional.normalize(out, dim=-1)
    return out


class Windows:
    """Token windows with the tail kept and the prompt (if any) kept whole at the front:
    ``[leading specials] + prompt + last tokens of the text + [trailing specials]``. When prompt
    and text fit, the window is the tokenizer's own encoding of ``prompt + text``."""

    def __init__(self, tokenizer, prompt: str, max_tokens: int):
        self.tok, self.prompt, self.n = tokenizer, prompt, max_tokens
        probe = "hello"
        full = tokenizer(probe)["input_ids"]
        bare = tokenizer(probe, add_special_tokens=False)["input_ids"]
        start = next((i for i in range(len(full) - len(bare) + 1) if full[i : i + len(bare)] == bare), 0)
        self.lead, self.trail = full[:start], full[start + len(bare) :]
        self.prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        self.room = max_tokens - len(self.lead) - len(self.trail) - len(self.prompt_ids)  # text tokens
        if self.room < 1:
            raise ValueError(f"prompt of {len(self.prompt_ids)} tokens leaves no room in a {max_tokens}-token window")

    def __call__(self, texts: list[str]) -> list[list[int]]:
        cut = [t[-self.n * 16 :] for t in texts]  # a token spans >= 1 character
        joined = self.tok([self.prompt + c for c in cut], verbose=False)["input_ids"]
        out = []
        for text, c, ids in zip(texts, cut, joined):
            if len(ids) <= self.n and len(c) == len(text):
                out.append(ids)
                continue
            body = self.tok(c, add_special_tokens=False, verbose=False)["input_ids"]
            if len(body) < self.room and len(c) < len(text):  # very sparse text: cut too short
                body = self.tok(text, add_special_tokens=False, verbose=False)["input_ids"]
            out.append(self.lead + self.prompt_ids + body[-self.room :] + self.trail)
        return out


def tail_ids(tokenizer, texts: list[str], max_tokens: int) -> list[list[int]]:
    """Ids of each scored window without a prompt: special tokens around the last tokens."""
    tokenize = lambda xs: tokenizer(xs, truncation=True, max_length=max_tokens, verbose=False)["input_ids"]  # noqa: E731
    cut = [t[-max_tokens * 16 :] for t in texts]  # a token spans >= 1 character: enough for the tail
    seqs = tokenize(cut)
    redo = [i for i, (c, t) in enumerate(zip(cut, texts)) if len(c) < len(t) and len(seqs[i]) < max_tokens]
    if redo:  # rare: very sparse text, the character cut was too short
        for i, ids in zip(redo, tokenize([texts[i] for i in redo])):
            seqs[i] = ids
    return seqs


def pad_ids(seqs: list[list[int]], pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    """(ids, mask), both (B, T) int64, padded on the right to the longest window."""
    T = max(len(s) for s in seqs)
    ids = np.full((len(seqs), T), pad_id, dtype=np.int64)  # (B, T)
    mask = np.zeros((len(seqs), T), dtype=np.int64)  # (B, T)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = s
        mask[i, : len(s)] = 1
    return ids, mask


def features_key(weights_key: str, pooling: str, prompt: str, native_pooling: str) -> str:
    """Weights + pooling + prompt: what the pooled embedding and token states depend on."""
    same = pooling == native_pooling and not prompt
    return weights_key if same else f"{weights_key}|{pooling}|{prompt}"


def identity(backbone) -> dict:
    """What trained weights record about the backbone they belong to."""
    c = backbone.config
    return {
        "name_or_path": c.name_or_path, "weights_sha256": backbone.weights_key, "hidden_size": backbone.hidden_size,
        "n_layers": backbone.n_layers, "pooling": c.pooling, "prompt": c.prompt, "max_tokens": c.max_tokens,
    }


def _is_sha(key) -> bool:
    return isinstance(key, str) and re.fullmatch(r"[0-9a-f]{64}", key) is not None


def check_identity(recorded: dict, backbone, where: str) -> None:
    """Refuse a backbone that differs from the one the weights at ``where`` were trained for."""
    have = identity(backbone)
    diffs = [k for k in ("hidden_size", "n_layers", "pooling", "prompt") if recorded.get(k) is not None and recorded[k] != have[k]]
    want_sha, have_sha = recorded.get("weights_sha256"), have["weights_sha256"]
    if _is_sha(want_sha) and _is_sha(have_sha) and want_sha != have_sha:
        diffs.append("weights_sha256")
    if diffs:
        detail = ", ".join(f"{k}: trained {recorded[k]!r}, loaded {have[k]!r}" for k in diffs)
        raise ValueError(
            f"the value-model weights at {where} belong to backbone {recorded.get('name_or_path')!r}, not the "
            f"loaded {have['name_or_path']!r} ({detail}); train weights for this backbone "
            "(v0-gateway train --backbone ..., then train-difficulty) or load the backbone they were trained with"
        )


def recorded_identity(raw: dict) -> dict:
    """The backbone a checkpoint's config.json says its weights belong to (older checkpoints:
    what their adapter width, difficulty layers and recorded weights digest imply)."""
    model = raw.get("model", {})
    legacy = {"hidden_size": model.get("adapter", {}).get("hidden_size"), "name_or_path": model.get("backbone", {}).get("name_or_path")}
    if model.get("difficulty"):
        legacy["n_layers"] = model["difficulty"].get("n_layers")
    trained = raw.get("difficulty_training", {})
    legacy["weights_sha256"] = trained.get("backbone_weights_sha256")
    return {**legacy, **{k: v for k, v in raw.get("backbone", {}).items() if v is not None}}
