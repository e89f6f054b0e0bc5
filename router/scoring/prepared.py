"""Features of the default profiles' prompts, encoded ahead of the first start.

``v0-gateway prepare`` (and so the container image's build) encodes every prompt of
``router/data/profiles/*.jsonl`` once and writes the features to
``$V0_CACHE_DIR/features/defaults-<fingerprint>.npz``. A gateway starting on an empty database
puts them in its feature cache before it seeds and fits the default profiles, so its first
start fits five 256-row profiles without encoding them (about 10 s of a small CPU otherwise).
A file written by other V0 weights has another name and is never read; a missing or unreadable
file only means the prompts are encoded as before.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from router.scoring.features import FeatureCache, text_hash
from valuemodel.protocol import ValueModel

log = logging.getLogger(__name__)


def prepared_path(fingerprint: str) -> Path:
    from valuemodel.backbone_files import cache_dir

    return cache_dir() / "features" / f"defaults-{fingerprint}.npz"


def write_prepared(v0: ValueModel, texts: Sequence[str], batch: int = 32) -> Path:
    """Encode ``texts`` (deduplicated) with ``v0`` and write them to ``prepared_path``; returns it."""
    unique = list(dict.fromkeys(texts))
    feats = np.concatenate([np.asarray(v0.encode(unique[i:i + batch]), dtype="<f4")
                            for i in range(0, len(unique), batch)]) if unique else np.zeros((0, v0.feature_dim), "<f4")
    path = prepared_path(v0.fingerprint)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = json.dumps({"fingerprint": v0.fingerprint, "hashes": [text_hash(t) for t in unique]})
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.stem + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, meta=np.frombuffer(meta.encode(), dtype=np.uint8), features=feats)  # (N, F)
        os.chmod(tmp, 0o644)  # read by the serving user (the image builds it as another one)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_prepared(cache: FeatureCache, v0: ValueModel) -> int:
    """Put the prepared features of ``v0``'s fingerprint in ``cache``; returns how many."""
    path = prepared_path(v0.fingerprint)
    if not path.is_file():
        return 0
    try:
        with np.load(path) as data:
            meta = json.loads(bytes(data["meta"]).decode())
            feats = np.asarray(data["features"], dtype=np.float32)  # (N, F)
        if meta["fingerprint"] != v0.fingerprint or feats.shape != (len(meta["hashes"]), v0.feature_dim):
            raise ValueError("fingerprint or shape does not match")
    except (OSError, ValueError, KeyError) as exc:
        log.warning("prepared features %s ignored: %s", path, exc)
        return 0
    return cache.preload(v0.fingerprint, dict(zip(meta["hashes"], feats)))
