"""Checkpoints: a folder with ``config.json`` and ``model.safetensors``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
FORMAT = "v0-gateway/value-model/1"


def save_checkpoint(path: str | Path, config: dict, tensors: dict[str, torch.Tensor]) -> Path:
    """Write config.json + model.safetensors atomically (each file via a temp name)."""
    from safetensors.torch import save_file

    root = Path(path)
    root.mkdir(parents=True, exist_ok=True)
    tmp_w = root / (WEIGHTS_FILE + ".tmp")
    save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp_w))
    tmp_c = root / (CONFIG_FILE + ".tmp")
    tmp_c.write_text(json.dumps({"format": FORMAT, **config}, indent=2, sort_keys=True) + "\n")
    os.replace(tmp_w, root / WEIGHTS_FILE)
    os.replace(tmp_c, root / CONFIG_FILE)
    return root


def load_checkpoint(path: str | Path) -> tuple[dict, dict[str, torch.Tensor]]:
    """(config, tensors); FileNotFoundError naming the missing file."""
    from safetensors.torch import load_file

    return load_config(path), load_file(str(Path(path) / WEIGHTS_FILE))


def load_config(path: str | Path) -> dict:
    """The checkpoint's config.json (checked format), with no torch import; FileNotFoundError
    naming a missing file (config.json or model.safetensors)."""
    root = Path(path)
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        if not (root / name).is_file():
            raise FileNotFoundError(f"value-model checkpoint file not found: {root / name}")
    config = json.loads((root / CONFIG_FILE).read_text())
    if config.get("format") != FORMAT:
        raise ValueError(f"{root / CONFIG_FILE}: unknown checkpoint format {config.get('format')!r}")
    return config

