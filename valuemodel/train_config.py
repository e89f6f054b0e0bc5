"""What a training run is configured with (``v0-gateway train``'s options), and which datasets may
be used for shipped weights (their licences allow it)."""

from __future__ import annotations

from dataclasses import dataclass, field

from .backbone import DEFAULT_BACKBONE
from .licences import SHIPPABLE

LICENSED_DATASETS = list(SHIPPABLE)  # valuemodel/licences.py: licences that allow shipping


@dataclass
class TrainConfig:
    data: str = ""  # folder holding the dataset folders
    datasets: list[str] = field(default_factory=lambda: list(LICENSED_DATASETS))
    dapo_parts: list[str] = field(default_factory=lambda: ["context"])
    max_prompts: int = 12000  # per dataset, seeded subsample
    out: str = "runs/v0"
    cache: str = "cache/states"
    backbone: str = DEFAULT_BACKBONE  # sentence-transformers id or folder
    device: str = "cpu"  # where the backbone encodes (cuda on a GPU); the adapter trains on CPU
    pooling: str | None = None  # None: the backbone folder's own (see encoder_spec)
    prompt: str | None = None  # instruction before every text; None: the folder's default/query prompt
    steps: int = 800
    models_per_step: int = 8
    profile_size: int = 256
    query_size: int = 64
    alpha: float = 0.25
    lr: float = 7e-4
    weight_decay: float = 0.05
    warmup: int = 50
    val_prompt_frac: float = 0.1
    val_every: int = 100
    save_every: int = 100
    seed: int = 0
    max_tokens: int = 128
    n_queries: int = 4
    query_dim: int = 64
    token_dim: int = 96
    pooled_skip: bool = True
    dropout: float = 0.3
    icl_features: str = "adapter"  # adapter | adapter+pooled | pooled (control): see V0Config
    residual: bool = False  # icl logit = ablation logit (fixed) + icl head's
    flip: float = 0.0  # share of episodes whose scores are mirrored (1 - s): a model that is
    # good where the real one is bad, so the heads must read the profile, not recall prompts
