"""The V0 scorer over stored profiles.

For each (candidate, profile_size) that a policy needs, it keeps a fitted profile state built
from the candidate's active window (the ``profile_size`` most recent rows). ``refresh`` reads
the profile versions from the database and rebuilds only the states whose version changed;
it runs on a poll loop (every replica) and right after a local change; features of new rows
come from the feature cache, else the database (encoded by another replica), else the encoder.
Requests never wait
for a rebuild: they use the states in place and record the versions they used.

``score`` encodes the routing text once (one backbone pass) and predicts every candidate of
the policy from it. A candidate without profile rows gets P = ``missing_p`` (default 0), so it
is chosen only as the policy's fallback.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from router.policies import Policies
from router.profiles.feature_store import FeatureStore
from router.profiles.features import FeatureCache
from router.scoring import ScoreResult
from router.store import profile_crud

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Built:
    version: int
    rows: int
    state: Any  # valuemodel.ProfileState


class V0Scorer:
    def __init__(self, v0: Any, engine: Engine, *, features: FeatureCache | None = None,
                 missing_p: float = 0.0, share_features: bool = True) -> None:
        self.v0, self.engine = v0, engine
        self.features = features or FeatureCache()
        self.store = FeatureStore(engine) if share_features else None
        self.missing_p = missing_p
        self._states: dict[tuple[str, int], Built] = {}  # replaced whole, never mutated
        self._wanted: frozenset[tuple[str, int]] = frozenset()
        self._lock = threading.Lock()  # one refresh at a time

    # ---- what to keep ready -------------------------------------------------------------
    def want(self, policies: Policies) -> "V0Scorer":
        """Keep states for every (candidate, profile_size) the policies use (next refresh)."""
        self._wanted = frozenset((c, p.profile_size) for p in policies.policies.values() for c in p.candidates)
        return self

    def prepare(self, texts: Sequence[str]) -> None:
        """Encode texts into the feature cache ahead of a write (uploads)."""
        self.features.features(self.v0, list(texts), self.store)

    # ---- refresh ------------------------------------------------------------------------
    def refresh(self) -> list[str]:
        """Rebuild the states whose profile version changed; returns the models rebuilt."""
        with self._lock:
            with Session(self.engine) as session:
                db_versions = profile_crud.versions(session=session)
                current = self._states
                new: dict[tuple[str, int], Built] = {}
                rebuilt: set[str] = set()
                for model, size in sorted(self._wanted):
                    version = db_versions.get(model, 0)
                    old = current.get((model, size))
                    if old is not None and old.version == version:
                        new[(model, size)] = old
                        continue
                    if version == 0 and old is None:
                        continue  # never had a profile
                    rows = profile_crud.window(session=session, model=model, size=size)
                    rebuilt.add(model)
                    if not rows:
                        continue  # profile deleted: no state
                    feats = self.features.features(self.v0, [r.prompt for r in rows], self.store)  # (N, F)
                    new[(model, size)] = Built(version, len(rows),
                                               self.v0.fit_profile(feats, [r.score for r in rows]))
            self._states = new
        if rebuilt:
            log.info("profile states rebuilt: %s", ", ".join(sorted(rebuilt)))
        return sorted(rebuilt)

    # ---- hot path -----------------------------------------------------------------------
    def score(self, text: str, candidates: Sequence[str], *, profile_size: int = 256) -> ScoreResult:
        states = self._states
        built = [(c, states.get((c, profile_size))) for c in candidates]
        have = [(c, b) for c, b in built if b is not None]
        p = {c: self.missing_p for c in candidates}
        versions = {c: 0 for c in candidates}
        if have:
            query = self.v0.encode([text])  # (1, F): one backbone pass for every candidate
            probs = self.v0.predict([b.state for _, b in have], query)[:, 0]  # (M,)
            for (c, b), pc in zip(have, probs):
                p[c] = round(float(pc), 6)
                versions[c] = b.version
        return ScoreResult(p, versions)
