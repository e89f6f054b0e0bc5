"""A training run's files: checkpoints with the optimizer state (``last/``, ``best/``), and the
export of a checkpoint for shipping (folder arguments made relative)."""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from .checkpoint import load_checkpoint, save_checkpoint
from .encoder_spec import identity
from .model import V0Config, V0Modules
from .train_config import TrainConfig


def save_run(path: Path, modules: V0Modules, mcfg: V0Config, cfg: TrainConfig, backbone, state: dict, opt=None) -> None:
    """A checkpoint that records the backbone (``encoder_spec.identity``) its weights belong to."""
    raw = {"model": mcfg.to_dict(), "training": {**asdict(cfg), **state}, "backbone": identity(backbone)}
    save_checkpoint(path, raw, modules.state_dict())
    if opt is not None:
        flat = {}
        names = {id(p): n for n, p in modules.named_parameters()}
        for group in opt.param_groups:
            for p in group["params"]:
                for k, v in opt.state.get(p, {}).items():
                    flat[f"{names[id(p)]}.{k}"] = torch.as_tensor(v).clone()
        save_file(flat, str(path / "optimizer.safetensors"))


def load_optimizer(path: Path, modules: V0Modules, opt: torch.optim.Optimizer) -> None:
    file = path / "optimizer.safetensors"
    if not file.is_file():
        raise FileNotFoundError(f"optimizer state not found: {file}")
    flat = load_file(str(file))
    for n, p in modules.named_parameters():
        st = {k.rsplit(".", 1)[1]: v for k, v in flat.items() if k.rsplit(".", 1)[0] == n}
        if st:
            opt.state[p] = st


def export(src: Path, dst: str | Path) -> None:
    """Copy a checkpoint; folder arguments in its training record become relative paths."""
    raw, tensors = load_checkpoint(src)
    training = dict(raw.get("training", {}))
    for key in ("data", "out", "cache"):
        if key in training and os.path.isabs(str(training[key])):
            training[key] = os.path.relpath(training[key])
    save_checkpoint(dst, {**{k: v for k, v in raw.items() if k != "format"}, "training": training}, tensors)
