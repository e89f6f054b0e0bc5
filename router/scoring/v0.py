"""The V0 scorer over stored profiles.

For each (candidate, profile_size) that a policy needs, it keeps a fitted profile state built
from the candidate's active window: ``profile_size`` rows chosen by the policy's window policy
(``window:``, router/scoring/window.py) from the candidate's most recent rows. ``refresh`` reads
the profile versions from the database and rebuilds only the states whose version changed;
it runs on a poll loop (every replica) and right after a local change; features of new rows
come from the feature cache, else the database (encoded by another replica), else the encoder.
Requests never wait
for a rebuild: they use the states in place and record the versions they used.

``score`` encodes the routing text once (one backbone pass) and predicts every candidate of
the policy from it; ``score_many`` does the same for a batch of requests (one encode call, one
head pass per set of candidates). A candidate without profile rows gets P = ``missing_p`` (default 0), so it
is chosen only as the policy's fallback.

With a :class:`~router.scoring.profile_cache.ProfileCache`, every refresh that rebuilt a
state saves the windows locally, and ``load_cached`` (called when the database is away at
start) fits the last known states from it. While the scorer has neither read the database nor
loaded the cache, ``score`` says so (``fallback_reason="profiles_unavailable"``), and the
request visibly goes to the policy's fallback.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import Engine
from sqlmodel import Session

from router.policies import Policies
from router.policy_sections import WindowSpec
from router.scoring.profile_cache import CachedWindow, ProfileCache
from router.scoring.feature_store import FeatureStore
from router.scoring.features import FeatureCache
from router.scoring.base import ScoreQuery, ScoreResult
from router.scoring.window import WindowRow, history_rows, needs_features, select_window
from router.store import profile_crud
from valuemodel.heads.base import ProfileState
from valuemodel.protocol import ValueModel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Built:
    version: int
    rows: int
    state: ProfileState
    features: np.ndarray | None = None  # (N, F) float32: a window loaded from the local profile cache
    scores: tuple[float, ...] = ()
    prompts: tuple[str, ...] = ()  # a window read from the database: its features stay in the feature cache
    window: WindowSpec | None = None  # the window policy it was built with


class V0Scorer:
    def __init__(self, v0: ValueModel, engine: Engine, *, features: FeatureCache | None = None,
                 missing_p: float = 0.0, share_features: bool = True,
                 cache: ProfileCache | None = None) -> None:
        self.v0, self.engine = v0, engine
        self.features = features or FeatureCache()
        self.store = FeatureStore(engine) if share_features else None
        self.missing_p = missing_p
        self._states: dict[tuple[str, int], Built] = {}  # replaced whole, never mutated
        self._wanted: frozenset[tuple[str, int]] = frozenset()
        self._windows: dict[tuple[str, int], WindowSpec] = {}
        self._lock = threading.Lock()  # one refresh at a time
        self.cache = cache
        self.source: str | None = None  # "database" | "cache" once states were read
        self._unprofiled: tuple[str, ...] = ()  # as last logged

    # ---- what to keep ready -------------------------------------------------------------
    def want(self, policies: Policies) -> None:
        """Keep states for every (candidate, profile_size) the policies use (next refresh). Two
        policies with the same candidate and size but other window policies: the default
        policy's window wins, else the first policy's in the file."""
        names = sorted(policies.policies, key=lambda n: n != policies.spec.default_policy)
        windows: dict[tuple[str, int], WindowSpec] = {}
        for name in names:
            p = policies.policies[name]
            for c in p.candidates:
                windows.setdefault((c, p.profile_size), p.window)
        self._windows = windows
        self._wanted = frozenset(windows)

    def unprofiled(self) -> list[str]:
        """Candidates a policy routes between that have no profile state (no rows): until they
        get one, their P is the cold-start value (``missing_p`` or the policy's prior). Empty
        before the profiles were ever read."""
        if self.source is None:
            return []
        have = {c for c, _ in self._states}
        return sorted({c for c, _ in self._wanted} - have)

    def _log_unprofiled(self) -> None:
        now = tuple(self.unprofiled())
        if now != self._unprofiled:
            self._unprofiled = now
            if now:
                log.warning("candidates without a profile (routed on a cold-start P until they have one; "
                            "build one with `v0-gateway profile build --candidate NAME`): %s", ", ".join(now))
            else:
                log.info("every candidate has a profile")

    def versions_in_use(self) -> dict[str, int]:
        """Each model's profile version in the states in use (the lowest, if several window sizes)."""
        out: dict[str, int] = {}
        for (model, _), built in self._states.items():
            out[model] = min(out.get(model, built.version), built.version)
        return out

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
                    spec = self._windows.get((model, size), WindowSpec(policy="recent"))
                    old = current.get((model, size))
                    if old is not None and old.version == version and old.window == spec:
                        new[(model, size)] = old
                        continue
                    if version == 0 and old is None:
                        continue  # never had a profile
                    built = self._build(session, model, size, version, spec)
                    rebuilt.add(model)
                    if built is not None:  # None: profile deleted, no state
                        new[(model, size)] = built
            self._states = new
            self.source = "database"
        if rebuilt and self.cache is not None:
            self._save_cache(new)
        if rebuilt:
            log.info("profile states rebuilt: %s", ", ".join(sorted(rebuilt)))
        self._log_unprofiled()
        return sorted(rebuilt)

    def _build(self, session: Session, model: str, size: int, version: int, spec: WindowSpec) -> Built | None:
        """The state of ``model``'s window under ``spec`` (None: no rows)."""
        rows = profile_crud.window(session=session, model=model, size=history_rows(spec, size))
        if not rows:
            return None
        feats = None
        if len(rows) > size and needs_features(spec):
            feats = self.features.features(self.v0, [r.prompt for r in rows], self.store)  # (H, F)
        keep = select_window([WindowRow(int(r.id or 0), r.source) for r in rows], size, spec, feats)
        rows = [rows[i] for i in keep]
        feats = feats[keep] if feats is not None else self.features.features(
            self.v0, [r.prompt for r in rows], self.store)  # (N, F)
        scores = tuple(r.score for r in rows)
        return Built(version, len(rows), self.v0.fit_profile(feats, list(scores)), scores=scores,
                     prompts=tuple(r.prompt for r in rows), window=spec)

    def load_cached(self) -> int:
        """Fit the last known states from the local cache (the database is away). Returns how
        many were loaded; does nothing once the database was read."""
        if self.cache is None or self.source == "database":
            return 0
        with self._lock:
            windows = self.cache.load(self.v0.fingerprint)
            if not windows:
                return 0
            states = {}
            for key, w in windows.items():
                feats = np.asarray(w.features, np.float32)  # (N, F)
                states[key] = Built(w.version, len(w.scores), self.v0.fit_profile(feats, w.scores),
                                    feats, tuple(w.scores))
            if self.source != "database":
                self._states, self.source = states, "cache"
        log.warning("database away: %d profile states loaded from the local cache", len(states))
        return len(states)

    def _save_cache(self, states: dict[tuple[str, int], Built]) -> None:
        assert self.cache is not None
        try:
            self.cache.save(self.v0.fingerprint, {
                k: CachedWindow(b.version, self.window_features(b), list(b.scores)) for k, b in states.items()})
        except OSError as exc:
            log.error("profile cache not saved: %s", exc)

    def window_features(self, built: Built) -> np.ndarray:
        """The window's features (N, F): kept for a window from the local cache, else from the
        feature cache (not held twice in memory), the database, or the encoder."""
        if built.features is not None:
            return np.asarray(built.features, np.float32)
        return self.features.features(self.v0, list(built.prompts), self.store)

    # ---- batch prediction (RL rollout budgets) --------------------------------------------
    def current(self, candidate: str) -> Built | None:
        """The candidate's fitted state with the largest window kept (None: no profile rows)."""
        built = [(size, b) for (c, size), b in self._states.items() if c == candidate]
        return max(built, key=lambda sb: sb[0])[1] if built else None

    def predict_many(self, texts: Sequence[str], built: Built, batch_size: int = 64) -> list[float]:
        """P(success) of each text against one fitted state, encoded in batches. (Q,)"""
        out: list[float] = []
        for start in range(0, len(texts), batch_size):
            query = np.asarray(self.v0.encode(list(texts[start:start + batch_size])))  # (b, F)
            out.extend(float(x) for x in self.v0.predict([built.state], query)[0])
        return out

    def fit_inline(self, prompts: Sequence[str], scores: Sequence[float]) -> Built:
        """A state for a profile sent with the request (encoded now, not cached or stored)."""
        feats = np.asarray(self.v0.encode(list(prompts)))  # (N, F)
        return Built(0, len(prompts), self.v0.fit_profile(feats, list(scores)), None, tuple(scores))

    # ---- hot path -----------------------------------------------------------------------
    def score(self, text: str, candidates: Sequence[str], *, profile_size: int = 256) -> ScoreResult:
        return self.score_many([ScoreQuery(text, candidates, profile_size)])[0]

    def score_many(self, queries: Sequence[ScoreQuery]) -> list[ScoreResult]:
        """Every query against its candidates' states: one encode call for all the texts, then
        one head pass per distinct set of states with all the queries that need it. Batching
        changes no prediction (each query's features and P are computed on their own)."""
        states = self._states
        if self.source is None:  # neither the database nor the local cache was ever read
            return [ScoreResult({c: self.missing_p for c in q.candidates}, {c: 0 for c in q.candidates},
                                fallback_reason="profiles_unavailable") for q in queries]
        keys = [tuple((c, q.profile_size) for c in q.candidates if (c, q.profile_size) in states) for q in queries]
        scored = [i for i, k in enumerate(keys) if k]
        probs: dict[int, np.ndarray] = {}
        if scored:
            feats = np.asarray(self.v0.encode([queries[i].text for i in scored]))  # (S, F): one backbone pass per text
            row = {i: r for r, i in enumerate(scored)}
            groups: dict[tuple[tuple[str, int], ...], list[int]] = {}
            for i in scored:
                groups.setdefault(keys[i], []).append(i)
            for key, idx in groups.items():
                p = self.v0.predict([states[k].state for k in key], feats[[row[i] for i in idx]])  # (M, q)
                for j, i in enumerate(idx):
                    probs[i] = p[:, j]
        out = []
        for i, q in enumerate(queries):
            p_success = {c: self.missing_p for c in q.candidates}
            versions = {c: 0 for c in q.candidates}
            for (c, size), pc in zip(keys[i], probs.get(i, ())):
                p_success[c] = round(float(pc), 6)
                versions[c] = states[(c, size)].version
            out.append(ScoreResult(p_success, versions))
        return out
