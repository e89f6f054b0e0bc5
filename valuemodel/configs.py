"""Configuration dataclasses of the value model's parts, with no torch import (the numpy
runtime reads them; adapter.py and heads/ re-export them)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from .backbone_files import BackboneConfig
from .heads.difficulty import DifficultyConfig

DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "weights" / "default"
DIFFICULTY_FILE = "difficulty.safetensors"
FEATURES = ("adapter", "pooled", "adapter+pooled", "layers+adapter")
HEAD_FEATURES = {"icl": "adapter", "tabpfn": "adapter", "knn": "pooled", "noadapter": "pooled", "difficulty": "layers+adapter"}

@dataclass
class AdapterConfig:
    hidden_size: int = 384  # backbone width H
    token_dim: int = 96  # P: token states are first projected on a fixed PCA basis (0 = off)
    n_queries: int = 4  # K
    dim: int = 64  # d, width of each query / output vector
    n_heads: int = 4
    bottleneck: int = 64
    pooled_skip: bool = True  # add a learned per-query linear map of the pooled embedding
    dropout: float = 0.0  # on the output features, training only

    @property
    def out_dim(self) -> int:
        return self.n_queries * self.dim


@dataclass
class ICLConfig:
    in_dim: int = 256  # feature width F
    n_heads: int = 4
    dim: int = 32  # per-head projection width
    hidden: int = 64  # MLP width
    binarize: bool = True  # profile labels -> score >= 0.5 (as in the paper)
    zero_init: bool = False  # output starts at 0 (a residual head added to another head's logit)


@dataclass
class KNNConfig:
    k: int = 32  # neighbours
    temperature: float = 0.05  # weights exp(cos / temperature)
    prior: float = 1.0  # pseudo-count pulling towards the profile's mean score


@dataclass
class TabPFNConfig:
    checkpoint: str | None = None  # path of a TabPFN classifier checkpoint; env var wins
    n_estimators: int = 1  # ensemble members (the paper's speed setting)


def feature_width(kind: str, adapter_dim: int, hidden_size: int, n_layers: int = 7) -> int:
    widths = {"adapter": adapter_dim, "pooled": hidden_size, "adapter+pooled": adapter_dim + hidden_size}
    return widths.get(kind, n_layers * hidden_size + adapter_dim)


@dataclass
class V0Config:
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    adapter: AdapterConfig = field(default_factory=AdapterConfig)
    icl: ICLConfig = field(default_factory=ICLConfig)  # head over adapter features
    ablation: ICLConfig = field(default_factory=lambda: ICLConfig(in_dim=384))  # over pooled
    knn: KNNConfig = field(default_factory=KNNConfig)
    tabpfn: TabPFNConfig = field(default_factory=TabPFNConfig)
    default_head: str = "icl"
    icl_features: str = "adapter"  # what the icl head reads: adapter | adapter+pooled | pooled
    residual: bool = False  # icl logit = ablation head's logit + the icl head's (zero-started)
    difficulty: DifficultyConfig | None = None  # shared-difficulty head (its regressor: difficulty.safetensors)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "V0Config":
        return cls(
            backbone=BackboneConfig(**d.get("backbone", {})),
            adapter=AdapterConfig(**d.get("adapter", {})),
            icl=ICLConfig(**d.get("icl", {})),
            ablation=ICLConfig(**d.get("ablation", {})),
            knn=KNNConfig(**d.get("knn", {})),
            tabpfn=TabPFNConfig(**d.get("tabpfn", {})),
            default_head=d.get("default_head", "icl"),
            icl_features=d.get("icl_features", "adapter"),
            residual=bool(d.get("residual", False)),
            difficulty=DifficultyConfig(**d["difficulty"]) if d.get("difficulty") else None,
        )

    @classmethod
    def for_backbone(cls, hidden_size: int, **kw) -> "V0Config":
        """Config whose adapter/head widths match a backbone of width ``hidden_size``."""
        cfg = cls(**kw)
        cfg.adapter.hidden_size = hidden_size
        cfg.icl.in_dim = cfg.adapter.out_dim
        cfg.ablation.in_dim = hidden_size
        return cfg
