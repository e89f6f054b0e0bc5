"""Encoded profile features shared by replicas (a cache keyed by V0 fingerprint and text hash).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "profile_feature",
        sa.Column("fingerprint", sa.String(length=32), primary_key=True),
        sa.Column("text_hash", sa.String(length=64), primary_key=True),
        sa.Column("dim", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("profile_feature")
