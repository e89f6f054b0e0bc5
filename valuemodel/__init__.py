"""V0 value model: predicts a model's P(success) on a prompt from its performance profile.

``V0`` (torch: training, benches, CUDA) and ``V0Runtime`` (onnxruntime + numpy: serving) are
imported on first use, so importing the package does not import torch."""

from __future__ import annotations

import importlib

from .heads.base import ProfileState

_LAZY = {"V0": ".model", "V0Config": ".model", "V0Runtime": ".infer"}

__all__ = ["V0", "V0Config", "V0Runtime", "ProfileState"]


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_LAZY[name], __name__), name)
