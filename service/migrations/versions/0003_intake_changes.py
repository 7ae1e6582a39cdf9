"""Change rows for sign-ups placed at intake: ``group_changes.plan_id`` optional.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Allow change rows without a plan (an "add" written by the intake)."""
    with op.batch_alter_table("group_changes") as batch:
        batch.alter_column("plan_id", existing_type=sa.String(32), nullable=True)


def downgrade() -> None:
    """Drop the intake's change rows, then require a plan again."""
    op.execute("DELETE FROM group_changes WHERE plan_id IS NULL")
    with op.batch_alter_table("group_changes") as batch:
        batch.alter_column("plan_id", existing_type=sa.String(32), nullable=False)
