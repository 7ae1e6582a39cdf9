"""Groups remember since when they hand members on to a neighbour.

A group whose area fills faster than it can hold is split at its next overflow
instead of moving one member per newcomer to a neighbour (see
:mod:`partition.rebalance`); the mark is kept in ``groups.relieved_at``.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the nullable ``relieved_at`` column; no group is relieved yet."""
    with op.batch_alter_table("groups") as batch:
        batch.add_column(
            sa.Column("relieved_at", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    """Drop the column; the marks are lost."""
    with op.batch_alter_table("groups") as batch:
        batch.drop_column("relieved_at")
