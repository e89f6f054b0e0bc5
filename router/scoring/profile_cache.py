"""The last known profile states on local disk, for a start while the database is away.

After every refresh that rebuilt something, the scorer saves, for each (candidate,
profile_size) it keeps, the profile version, the active window's scores and the window's
features (float32), under the V0 fingerprint that produced them (features are keyed by
fingerprint and text hash everywhere; a file from other weights is ignored). One file,
``profile-cache.npz``, replaced atomically (write to a temporary file of this writer's own, then
rename), so worker processes sharing the state directory may rebuild it at the same time: a reader
sees one whole file or another, and the last rename wins.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CachedWindow:
    version: int
    features: np.ndarray  # (N, F) float32
    scores: list[float]


class ProfileCache:
    def __init__(self, directory: Path) -> None:
        self.path = Path(directory) / "profile-cache.npz"

    def save(self, fingerprint: str, windows: dict[tuple[str, int], CachedWindow]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        keys = sorted(windows)
        meta = {"fingerprint": fingerprint,
                "windows": [{"model": m, "size": s, "version": windows[(m, s)].version,
                             "scores": windows[(m, s)].scores} for m, s in keys]}
        arrays = {f"f{i}": np.asarray(windows[k].features, dtype="<f4") for i, k in enumerate(keys)}
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix="profile-cache.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8), **arrays)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def load(self, fingerprint: str) -> dict[tuple[str, int], CachedWindow]:
        if not self.path.exists():
            return {}
        try:
            with np.load(self.path) as data:
                meta = json.loads(bytes(data["meta"]).decode())
                if meta["fingerprint"] != fingerprint:
                    log.warning("profile cache %s is for other V0 weights: ignored", self.path)
                    return {}
                return {(w["model"], int(w["size"])): CachedWindow(int(w["version"]), data[f"f{i}"].copy(),
                                                                   [float(x) for x in w["scores"]])
                        for i, w in enumerate(meta["windows"])}
        except (OSError, ValueError, KeyError) as exc:
            log.error("profile cache %s unreadable, ignored: %s", self.path, exc)
            return {}
