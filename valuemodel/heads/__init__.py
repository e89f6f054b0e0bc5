"""Inference heads: fit a state from a profile once, predict many query rows."""

from .base import Head, ProfileState
from .icl import ICLConfig, ICLHead, ICLModule
from .knn import KNNConfig, KNNHead
from .tabpfn import TabPFNConfig, TabPFNHead

HEAD_NAMES = ("icl", "knn", "tabpfn", "noadapter", "difficulty")

__all__ = [
    "HEAD_NAMES",
    "Head",
    "ICLConfig",
    "ICLHead",
    "ICLModule",
    "KNNConfig",
    "KNNHead",
    "ProfileState",
    "TabPFNConfig",
    "TabPFNHead",
]
