"""Per-key limits: requests and tokens per minute, a spend budget and its period.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("client_key") as batch:
        batch.add_column(sa.Column("rpm", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("tpm", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("max_budget_usd", sa.Float(), nullable=True))
        batch.add_column(sa.Column("budget_period", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("client_key") as batch:
        for name in ("budget_period", "max_budget_usd", "tpm", "rpm"):
            batch.drop_column(name)
