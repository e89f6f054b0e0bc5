"""Surfaces and conversation affinity: the surface a decision row's request came in on (chat,
responses, messages, embeddings) and its conversation key, indexed for the affinity lookup.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("decision") as batch:
        batch.add_column(sa.Column("surface", sa.String(length=16), nullable=False, server_default="chat"))
        batch.add_column(sa.Column("conversation_key", sa.String(length=64), nullable=True))
    op.create_index("ix_decision_conversation_key", "decision", ["conversation_key", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_decision_conversation_key", table_name="decision")
    with op.batch_alter_table("decision") as batch:
        for name in ("conversation_key", "surface"):
            batch.drop_column(name)
