"""Imports every table module, so that ``SQLModel.metadata`` knows them all (Alembic, tests)."""

from router.store import grade_models, key_models, models, profile_models  # noqa: F401  (profile_feature too)
