"""Initial schema: registrations, groups, territories, memberships, users, tasks.

Revision ID: 0001
Revises:
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _when(name: str, *, nullable: bool = False) -> sa.Column:
    """A timezone-aware timestamp column (UTC; naive on SQLite)."""
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    """Create every table of the service."""
    op.create_table(
        "registrations",
        sa.Column("id", sa.String(32), nullable=False),
        _when("created_at"),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("queue_reason", sa.String(16), nullable=True),
        sa.Column("phone_encrypted", sa.Text(), nullable=True),
        sa.Column("phone_hmac", sa.String(64), nullable=True),
        sa.Column("voornaam_encrypted", sa.Text(), nullable=True),
        sa.Column("address_key", sa.String(32), nullable=True),
        sa.Column("nummeraanduiding_id", sa.String(16), nullable=True),
        sa.Column("x", sa.Float(), nullable=True),
        sa.Column("y", sa.Float(), nullable=True),
        sa.Column("token_hash", sa.String(64), nullable=True),
        sa.Column("match_quality", sa.String(24), nullable=False),
        sa.Column("pc4", sa.String(4), nullable=False),
        sa.Column("woonplaats", sa.String(80), nullable=False),
        sa.Column("buurtcode", sa.String(10), nullable=True),
        _when("consent_at"),
        sa.Column("privacy_version", sa.String(32), nullable=False),
        _when("left_at", nullable=True),
        _when("erased_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_registrations"),
        sa.UniqueConstraint("phone_hmac", "address_key", name="uq_registrations_dup"),
        sa.UniqueConstraint("token_hash", name="uq_registrations_token_hash"),
    )
    op.create_index("ix_registrations_status", "registrations", ["status"])
    op.create_index("ix_registrations_address_key", "registrations", ["address_key"])

    op.create_table(
        "groups",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("woonplaats", sa.String(80), nullable=False),
        _when("created_at"),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("last_member_number", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_groups"),
    )

    op.create_table(
        "territories",
        sa.Column("address_key", sa.String(32), nullable=False),
        sa.Column("group_id", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"], ["groups.id"], name="fk_territories_group_id_groups"
        ),
        sa.PrimaryKeyConstraint("address_key", name="pk_territories"),
    )
    op.create_index("ix_territories_group_id", "territories", ["group_id"])

    op.create_table(
        "memberships",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("registration_id", sa.String(32), nullable=False),
        sa.Column("group_id", sa.String(64), nullable=False),
        sa.Column("member_number", sa.Integer(), nullable=False),
        _when("started_at"),
        _when("ended_at", nullable=True),
        sa.Column("end_reason", sa.String(16), nullable=True),
        sa.ForeignKeyConstraint(
            ["group_id"], ["groups.id"], name="fk_memberships_group_id_groups"
        ),
        sa.ForeignKeyConstraint(
            ["registration_id"],
            ["registrations.id"],
            name="fk_memberships_registration_id_registrations",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_memberships"),
        sa.UniqueConstraint("group_id", "member_number", name="uq_memberships_number"),
    )
    op.create_index("ix_memberships_open", "memberships", ["group_id", "ended_at"])
    op.create_index(
        "ix_memberships_registration_id", "memberships", ["registration_id"]
    )

    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("name", sa.String(80), nullable=True),
        sa.Column("token_hash", sa.String(64), nullable=False),
        _when("created_at"),
        _when("revoked_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("token_hash", name="uq_users_token_hash"),
    )

    op.create_table(
        "beheerders",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.String(64), nullable=False),
        _when("since"),
        sa.ForeignKeyConstraint(
            ["group_id"], ["groups.id"], name="fk_beheerders_group_id_groups"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_beheerders_user_id_users"
        ),
        sa.PrimaryKeyConstraint("user_id", "group_id", name="pk_beheerders"),
    )

    op.create_table(
        "tasks",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("group_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("member_number", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(16), nullable=False),
        _when("created_at"),
        _when("done_at", nullable=True),
        sa.Column("done_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["done_by"], ["users.id"], name="fk_tasks_done_by_users"
        ),
        sa.ForeignKeyConstraint(
            ["group_id"], ["groups.id"], name="fk_tasks_group_id_groups"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_tasks"),
    )
    op.create_index("ix_tasks_group_id", "tasks", ["group_id"])

    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        _when("at"),
        sa.Column("actor", sa.String(32), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("object_type", sa.String(24), nullable=False),
        sa.Column("object_id", sa.String(64), nullable=False),
        sa.Column("detail", sa.String(120), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])


def downgrade() -> None:
    """Drop every table of the service (all data is lost)."""
    for table in (
        "audit_log",
        "tasks",
        "beheerders",
        "users",
        "memberships",
        "territories",
        "groups",
        "registrations",
    ):
        op.drop_table(table)
