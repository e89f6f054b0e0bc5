"""Default profiles, seeded into an empty database on the first start.

``router/data/profiles/<candidate>.jsonl`` (LLMRouter dcrouter data, MIT; see NOTICE there)
is loaded for every candidate of the policies that has such a file and no rows yet. Seeding
happens once per database: the ``gateway_meta`` key ``default_profiles_seeded`` is written in
the same transaction, so a later start (or another replica starting at the same time) does not
seed again, even after an admin deleted the profiles.
"""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from router.policies import Policies
from router.profiles.upload import parse_upload
from router.store import profile_crud
from router.store.profile_models import ProfileRowCreate

log = logging.getLogger(__name__)

SEED_KEY = "default_profiles_seeded"


def default_profiles_dir() -> Path:
    return Path(__file__).resolve().parents[1] / "data" / "profiles"


def seed_default_profiles(engine: Engine, policies: Policies, directory: Path | None = None) -> list[str]:
    """Seed once per database; returns the models seeded (empty when it happened before)."""
    directory = directory or default_profiles_dir()
    seeded: list[str] = []
    try:
        with Session(engine) as session:
            if profile_crud.get_meta(session=session, key=SEED_KEY) is not None:
                return []
            profile_crud.set_meta(session=session, key=SEED_KEY, value=str(directory.name))
            for name in policies.candidates:
                path = directory / f"{name}.jsonl"
                if not path.is_file() or profile_crud.window(session=session, model=name, size=1):
                    continue
                rows = parse_upload(path.read_bytes(), fmt="jsonl", max_rows=1_000_000)
                profile_crud.add_rows(session=session, rows=[
                    ProfileRowCreate(model=name, prompt=r.prompt, score=r.score, source="upload") for r in rows])
                profile_crud.bump_version(session=session, model=name)
                seeded.append(name)
            session.commit()
    except IntegrityError:  # another replica seeded at the same moment
        return []
    if seeded:
        log.info("seeded default profiles: %s", ", ".join(seeded))
    return seeded
