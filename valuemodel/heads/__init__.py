"""Inference heads: fit a state from a profile once, predict many query rows.

Names are imported on first use, so the torch-free parts (``base``, ``difficulty``) load without
torch (the numpy runtime, valuemodel/infer/, uses them)."""

from __future__ import annotations

import importlib

from .base import Head, ProfileState

HEAD_NAMES = ("icl", "knn", "tabpfn", "noadapter", "difficulty")

_LAZY = {
    "ICLConfig": "..configs", "KNNConfig": "..configs", "TabPFNConfig": "..configs",
    "ICLHead": ".icl", "ICLModule": ".icl", "KNNHead": ".knn", "TabPFNHead": ".tabpfn",
}

__all__ = ["HEAD_NAMES", "Head", "ProfileState", *_LAZY]


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_LAZY[name], __name__), name)
