"""Groups count the members they handed on to a neighbour since their last split.

A group whose area fills faster than planned is split at its next overflow once
it has handed on as many members as its planned headroom, instead of moving one
member per newcomer to a neighbour (see :mod:`partition.rebalance`); the count is
kept in ``groups.handed_on``.

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
    """Add ``handed_on``; existing groups start at zero."""
    with op.batch_alter_table("groups") as batch:
        batch.add_column(
            sa.Column("handed_on", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    """Drop the column; the counts are lost."""
    with op.batch_alter_table("groups") as batch:
        batch.drop_column("handed_on")
