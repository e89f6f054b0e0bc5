"""Profiles (rows, versions), client keys, gateway metadata; decision rows gain the client key,
the routing text and the feedback time.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "profile_row",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("model", sa.String(length=256), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decision_id", sa.String(length=32), nullable=True),
        sa.CheckConstraint("score >= 0 AND score <= 1", name="ck_profile_row_score"),
    )
    op.create_index("ix_profile_row_model", "profile_row", ["model"])
    op.create_index("ix_profile_row_decision_id", "profile_row", ["decision_id"], unique=True)
    op.create_table(
        "profile_version",
        sa.Column("model", sa.String(length=256), primary_key=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "client_key",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked", sa.Boolean(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_client_key_key_hash", "client_key", ["key_hash"], unique=True)
    op.create_table(
        "gateway_meta",
        sa.Column("key", sa.String(length=64), primary_key=True),
        sa.Column("value", sa.String(length=256), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    with op.batch_alter_table("decision") as batch:
        batch.add_column(sa.Column("client_key_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("routing_text", sa.Text(), nullable=True))
        batch.add_column(sa.Column("feedback_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_index("ix_decision_client_key_id", ["client_key_id"])


def downgrade() -> None:
    with op.batch_alter_table("decision") as batch:
        batch.drop_index("ix_decision_client_key_id")
        batch.drop_column("feedback_at")
        batch.drop_column("routing_text")
        batch.drop_column("client_key_id")
    op.drop_table("gateway_meta")
    op.drop_index("ix_client_key_key_hash", table_name="client_key")
    op.drop_table("client_key")
    op.drop_table("profile_version")
    op.drop_index("ix_profile_row_decision_id", table_name="profile_row")
    op.drop_index("ix_profile_row_model", table_name="profile_row")
    op.drop_table("profile_row")
