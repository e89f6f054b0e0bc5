"""The paper's head: TabPFN's classifier fitted on the profile with ``fit_with_cache``.

Profile labels are binarised at 0.5. The checkpoint is never downloaded: point
``V0_TABPFN_CHECKPOINT`` (or ``tabpfn.checkpoint`` in the model's config.json) at a TabPFN
classifier checkpoint file (see valuemodel/README.md for where the real weights come from).
"""

from __future__ import annotations

import os
import warnings
from ..configs import TabPFNConfig  # noqa: F401  (re-exported)
from pathlib import Path

import numpy as np
import torch

from .base import ProfileState, check_states

ENV_CHECKPOINT = "V0_TABPFN_CHECKPOINT"


def resolve_checkpoint(config: TabPFNConfig) -> Path:
    path = os.environ.get(ENV_CHECKPOINT) or config.checkpoint
    if not path:
        raise FileNotFoundError(
            f"the tabpfn head needs a TabPFN classifier checkpoint: set {ENV_CHECKPOINT} "
            "or tabpfn.checkpoint in the model config"
        )
    p = Path(path).expanduser()
    if not p.is_file():
        raise FileNotFoundError(f"TabPFN checkpoint file not found: {p}")
    return p


class TabPFNHead:
    name = "tabpfn"

    def __init__(self, config: TabPFNConfig | None = None, device: str = "cpu"):
        self.config = config or TabPFNConfig()
        self.checkpoint = resolve_checkpoint(self.config)
        self.device = device

    def _classifier(self):
        from tabpfn import TabPFNClassifier

        return TabPFNClassifier(
            model_path=str(self.checkpoint),
            fit_mode="fit_with_cache",
            device=self.device,
            n_estimators=self.config.n_estimators,
            ignore_pretraining_limits=True,
            random_state=0,
        )

    def fit(self, features: torch.Tensor, scores: torch.Tensor, fingerprint: str) -> ProfileState:
        X = features.float().cpu().numpy()  # (N, F)
        y = (scores.cpu().numpy() >= 0.5).astype(np.int64)  # (N,)
        data: dict = {"constant": None}
        if y.min() == y.max():  # one class: TabPFN cannot fit it; the answer is that class
            data["constant"] = float(y[0])
        else:
            clf = self._classifier()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                clf.fit(X, y)
            data["clf"] = clf
            data["pos"] = int(list(clf.classes_).index(1))
        return ProfileState(self.name, fingerprint, len(y), data)

    def predict(self, states: list[ProfileState], query: torch.Tensor) -> np.ndarray:
        check_states(states, self.name)
        X = query.float().cpu().numpy()  # (Q, F)
        out = np.empty((len(states), len(X)), dtype=np.float32)
        for m, s in enumerate(states):
            if s.data["constant"] is not None:
                out[m] = s.data["constant"]
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out[m] = s.data["clf"].predict_proba(X)[:, s.data["pos"]]
        return out


def random_checkpoint(path: str | Path, *, emsize: int = 192, nlayers: int = 12, nhead: int = 6, seed: int = 0) -> Path:
    """Write a randomly initialised TabPFN v2 classifier checkpoint (the real architecture;
    the defaults are the real v2 classifier size). For tests and speed benchmarks only: its
    predictions mean nothing."""
    from dataclasses import asdict

    from tabpfn.architectures import tabpfn_v2

    config, _ = tabpfn_v2.parse_config(
        {"max_num_classes": 10, "emsize": emsize, "nlayers": nlayers, "nhead": nhead, "features_per_group": 2}
    )
    torch.manual_seed(seed)
    model = tabpfn_v2.get_architecture(config)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": model.state_dict(), "config": asdict(config), "architecture_name": "tabpfn_v2"}, path)
    return path
