"""The audit log's ``detail`` becomes unbounded text.

Details are built from fixed keys and counts (``moved=12,joined=3``); with
large counts a rebalance's detail came close to the 120 characters of the old
column, and PostgreSQL refuses a longer value, which would roll back the whole
apply. SQLite never enforced the length.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Widen ``audit_log.detail`` to text; stored details are kept."""
    with op.batch_alter_table("audit_log") as batch:
        batch.alter_column("detail", existing_type=sa.String(120), type_=sa.Text())


def downgrade() -> None:
    """Back to 120 characters; longer details are cut to fit."""
    op.execute("UPDATE audit_log SET detail = substr(detail, 1, 120)")
    with op.batch_alter_table("audit_log") as batch:
        batch.alter_column("detail", existing_type=sa.Text(), type_=sa.String(120))
