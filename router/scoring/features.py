"""Features of profile prompts, cached by (V0 fingerprint, sha256 of the text).

A profile rebuild encodes only rows whose text was never encoded by these weights; when the
weights change (another fingerprint) every text is encoded again. Bounded (LRU). With a
:class:`~router.scoring.feature_store.FeatureStore`, texts missing here are first looked up
in the database (encoded by another replica) and newly encoded ones are saved there.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence

import numpy as np

from router.scoring.feature_store import FeatureStore
from valuemodel.protocol import ValueModel


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class FeatureCache:
    def __init__(self, max_rows: int = 100_000) -> None:
        self._max = max_rows
        self._rows: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()  # -> (F,) float32
        self._lock = threading.Lock()
        self.loaded = 0  # features loaded from the database (encoded by another replica)

    def __len__(self) -> int:
        return len(self._rows)

    def preload(self, fingerprint: str, features: Mapping[str, np.ndarray]) -> int:
        """Add features encoded elsewhere (text hash -> (F,)), e.g. at image build; returns how many."""
        with self._lock:
            for h, f in list(features.items())[: self._max]:
                self._rows[(fingerprint, h)] = np.asarray(f, np.float32)
            while len(self._rows) > self._max:
                self._rows.popitem(last=False)
        return min(len(features), self._max)

    def features(self, v0: ValueModel, texts: Sequence[str], store: FeatureStore | None = None) -> np.ndarray:
        """texts -> features (N, F) float32; encodes only the texts not cached (here or in ``store``)."""
        keys = [(v0.fingerprint, text_hash(t)) for t in texts]
        with self._lock:
            missing = {k: t for k, t in zip(keys, texts) if k not in self._rows}
        if missing and store is not None:
            found = store.load(v0.fingerprint, [h for _, h in missing])
            with self._lock:
                for (fp, h) in list(missing):
                    if h in found and found[h].size == v0.feature_dim:
                        self._rows[(fp, h)] = found[h]
                        del missing[(fp, h)]
                self.loaded += len(found)
        if missing:
            feats = np.asarray(v0.encode(list(missing.values())), dtype=np.float32)  # (U, F)
            with self._lock:
                for k, f in zip(missing, feats):
                    self._rows[k] = f.copy()
            if store is not None:
                store.save(v0.fingerprint, {h: f for (_, h), f in zip(missing, feats)})
        with self._lock:
            out = []
            for k in keys:
                f = self._rows.get(k)
                if f is None:  # evicted meanwhile by a concurrent call: encode again
                    f = np.asarray(v0.encode([texts[len(out)]]), dtype=np.float32)[0]
                else:
                    self._rows.move_to_end(k)
                out.append(f)
            while len(self._rows) > self._max:
                self._rows.popitem(last=False)
        if not out:
            return np.zeros((0, v0.feature_dim), np.float32)
        return np.stack(out)  # (N, F)
