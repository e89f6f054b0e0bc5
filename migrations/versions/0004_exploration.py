"""Exploration on the decision log: the rate in force and the propensity of the logged choice.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("decision") as batch:
        batch.add_column(sa.Column("explore_rate", sa.Float(), nullable=True))
        batch.add_column(sa.Column("propensity", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("decision") as batch:
        batch.drop_column("propensity")
        batch.drop_column("explore_rate")
