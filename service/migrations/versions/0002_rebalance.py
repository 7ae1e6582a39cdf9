"""Rebalance plans and the beheerders' change lists.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _when(name: str, *, nullable: bool = False) -> sa.Column:
    """A timezone-aware timestamp column (UTC; naive on SQLite)."""
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    """Create ``rebalance_plans`` and ``group_changes``."""
    op.create_table(
        "rebalance_plans",
        sa.Column("id", sa.String(32), nullable=False),
        _when("created_at"),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("base_version", sa.String(64), nullable=False),
        sa.Column("max_group_size", sa.Integer(), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        _when("applied_at", nullable=True),
        sa.Column("applied_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name="fk_rebalance_plans_created_by_users"
        ),
        sa.ForeignKeyConstraint(
            ["applied_by"], ["users.id"], name="fk_rebalance_plans_applied_by_users"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_rebalance_plans"),
    )

    op.create_table(
        "group_changes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("plan_id", sa.String(32), nullable=False),
        sa.Column("group_id", sa.String(64), nullable=False),
        sa.Column("action", sa.String(8), nullable=False),
        sa.Column("reason", sa.String(8), nullable=False),
        sa.Column("registration_id", sa.String(32), nullable=False),
        sa.Column("member_number", sa.Integer(), nullable=False),
        sa.Column("other_group_id", sa.String(64), nullable=True),
        _when("created_at"),
        _when("done_at", nullable=True),
        sa.Column("done_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["rebalance_plans.id"],
            name="fk_group_changes_plan_id_rebalance_plans",
        ),
        sa.ForeignKeyConstraint(
            ["group_id"], ["groups.id"], name="fk_group_changes_group_id_groups"
        ),
        sa.ForeignKeyConstraint(
            ["registration_id"],
            ["registrations.id"],
            name="fk_group_changes_registration_id_registrations",
        ),
        sa.ForeignKeyConstraint(
            ["done_by"], ["users.id"], name="fk_group_changes_done_by_users"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_group_changes"),
    )
    op.create_index("ix_group_changes_open", "group_changes", ["group_id", "done_at"])
    op.create_index("ix_group_changes_plan_id", "group_changes", ["plan_id"])


def downgrade() -> None:
    """Drop the rebalance tables (plans and change lists are lost)."""
    op.drop_table("group_changes")
    op.drop_table("rebalance_plans")
