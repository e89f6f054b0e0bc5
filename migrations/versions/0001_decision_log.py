"""Decision log: one row per chat-completion request.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "decision",
        sa.Column("id", sa.String(length=32), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("requested_model", sa.String(length=256), nullable=False),
        sa.Column("policy", sa.String(length=128), nullable=True),
        sa.Column("chosen_model", sa.String(length=256), nullable=False),
        sa.Column("answered_model", sa.String(length=256), nullable=True),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.Column("candidates", sa.JSON(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=True),
        sa.Column("p_success", sa.Float(), nullable=True),
        sa.Column("stream", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("prompt_tokens", sa.Integer(), nullable=True),
        sa.Column("completion_tokens", sa.Integer(), nullable=True),
        sa.Column("cost_usd", sa.Float(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("profile_versions", sa.JSON(), nullable=True),
        sa.Column("feedback_score", sa.Float(), nullable=True),
    )
    op.create_index("ix_decision_created_at", "decision", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_decision_created_at", table_name="decision")
    op.drop_table("decision")
