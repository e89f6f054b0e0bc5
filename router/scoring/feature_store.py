"""Profile features in the database (table ``profile_feature``), shared by replicas.

The replica that encodes profile prompts (an upload, feedback, the first start) saves their
features; another replica rebuilding the same profile loads them instead of encoding. Rows
are float32 bytes keyed by (V0 fingerprint, sha256 of the text); existing keys are kept.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from sqlalchemy import Engine
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from router.store.profile_models import ProfileFeature

CHUNK = 500  # keys per query


class FeatureStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def load(self, fingerprint: str, hashes: Sequence[str]) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        with Session(self.engine) as session:
            for start in range(0, len(hashes), CHUNK):
                stmt = select(ProfileFeature).where(col(ProfileFeature.fingerprint) == fingerprint,
                                                    col(ProfileFeature.text_hash).in_(hashes[start:start + CHUNK]))
                for row in session.exec(stmt):
                    out[row.text_hash] = np.frombuffer(row.data, dtype="<f4", count=row.dim).astype(np.float32)  # (F,)
        return out

    def save(self, fingerprint: str, features: Mapping[str, np.ndarray]) -> None:
        if not features:
            return
        values = [{"fingerprint": fingerprint, "text_hash": h, "dim": int(np.size(f)),
                   "data": np.asarray(f, dtype="<f4").tobytes()} for h, f in features.items()]
        insert = pg_insert if self.engine.dialect.name == "postgresql" else sqlite_insert
        with Session(self.engine) as session:
            for start in range(0, len(values), CHUNK):
                session.execute(insert(ProfileFeature).values(values[start:start + CHUNK]).on_conflict_do_nothing())
            session.commit()
