"""Grading: the judge's grade on the decision row, and the grading log (judge and shadow grades).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("decision") as batch:
        batch.add_column(sa.Column("judge_score", sa.Float(), nullable=True))
        batch.add_column(sa.Column("judge_model", sa.String(length=256), nullable=True))
        batch.add_column(sa.Column("judge_cost_usd", sa.Float(), nullable=True))
    op.create_table(
        "grade",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decision_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("model", sa.String(length=256), nullable=False),
        sa.Column("policy", sa.String(length=128), nullable=True),
        sa.Column("judge_model", sa.String(length=256), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("grade", sa.Float(), nullable=True),
        sa.Column("p_success", sa.Float(), nullable=True),
        sa.Column("judge_cost_usd", sa.Float(), nullable=False),
        sa.Column("answer_cost_usd", sa.Float(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
    )
    op.create_index("ix_grade_created_at", "grade", ["created_at"])
    op.create_index("ix_grade_decision_id", "grade", ["decision_id"])


def downgrade() -> None:
    op.drop_index("ix_grade_decision_id", table_name="grade")
    op.drop_index("ix_grade_created_at", table_name="grade")
    op.drop_table("grade")
    with op.batch_alter_table("decision") as batch:
        for name in ("judge_cost_usd", "judge_model", "judge_score"):
            batch.drop_column(name)
