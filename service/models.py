"""SQLAlchemy 2 models of the registrations service.

Personal data lives only in the ``registrations`` columns marked *personal*
below; erasure nulls exactly those (:data:`PERSONAL_COLUMNS`). Phone numbers and
first names are stored only as Fernet ciphertext, the number also as a keyed
HMAC for the duplicate check. Tokens are stored only as SHA-256 hashes.

The schema is created by the Alembic migrations in ``service/migrations``; a
test compares them with these models.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# registration status
ASSIGNED = "assigned"
QUEUED = "queued"
LEFT = "left"
ERASED = "erased"
ACTIVE_STATUSES = (ASSIGNED, QUEUED)
STATUSES = (ASSIGNED, QUEUED, LEFT, ERASED)

# why a registration waits in the queue
NO_GROUP = "no_group"
GROUP_FULL = "group_full"

# roles of users
STEERING = "steering"
BEHEERDER = "beheerder"
ROLES = (STEERING, BEHEERDER)

# why a membership ended
END_LEFT = "left"
END_ERASED = "erased"
END_REGROUPED = "regrouped"

# the columns of `registrations` that hold personal data (nulled on erasure)
PERSONAL_COLUMNS = (
    "phone_encrypted",
    "phone_hmac",
    "voornaam_encrypted",
    "address_key",
    "nummeraanduiding_id",
    "x",
    "y",
    "token_hash",
)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> object:
        """Store UTC; naive values are refused, they are always a bug here."""
        if value is None:
            return None
        if value.tzinfo is None:
            msg = "naive datetime given to a UtcDateTime column; use datetime.now(UTC)"
            raise ValueError(msg)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(
        self, value: datetime | None, _dialect: Dialect
    ) -> datetime | None:
        """Return aware UTC datetimes."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Declarative base with stable constraint names (for the migrations)."""

    metadata = MetaData(naming_convention=NAMING)


class Registration(Base):
    """One resident's sign-up; a stub of counts is kept after erasure."""

    __tablename__ = "registrations"
    __table_args__ = (
        UniqueConstraint("phone_hmac", "address_key", name="uq_registrations_dup"),
        Index("ix_registrations_status", "status"),
        Index("ix_registrations_address_key", "address_key"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    status: Mapped[str] = mapped_column(String(16))
    queue_reason: Mapped[str | None] = mapped_column(String(16))
    # personal: encrypted number (E.164), keyed hash, encrypted first name
    phone_encrypted: Mapped[str | None] = mapped_column(Text)
    phone_hmac: Mapped[str | None] = mapped_column(String(64))
    voornaam_encrypted: Mapped[str | None] = mapped_column(Text)
    # personal: the exact address and its point (EPSG:28992 metres)
    address_key: Mapped[str | None] = mapped_column(String(32))
    nummeraanduiding_id: Mapped[str | None] = mapped_column(String(16))
    x: Mapped[float | None] = mapped_column(Float)
    y: Mapped[float | None] = mapped_column(Float)
    # personal: SHA-256 of the self-service token
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    # kept after erasure, for anonymised counts
    match_quality: Mapped[str] = mapped_column(String(24))
    pc4: Mapped[str] = mapped_column(String(4))
    woonplaats: Mapped[str] = mapped_column(String(80))
    buurtcode: Mapped[str | None] = mapped_column(String(10))
    consent_at: Mapped[datetime] = mapped_column(UtcDateTime())
    privacy_version: Mapped[str] = mapped_column(String(32))
    left_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    erased_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class Group(Base):
    """One WhatsApp group, made by ``buurtgroepen groups init``."""

    __tablename__ = "groups"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    woonplaats: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # last member number handed out; numbers are never reused within a group
    last_member_number: Mapped[int] = mapped_column(Integer, default=0)
    # existing members the group handed on to a neighbour since it was made or
    # last split; at partition.rebalance.split_threshold it splits instead
    handed_on: Mapped[int] = mapped_column(Integer, default=0)


class Territory(Base):
    """The group of every register address (public BAG data, not personal)."""

    __tablename__ = "territories"

    address_key: Mapped[str] = mapped_column(String(32), primary_key=True)
    group_id: Mapped[str] = mapped_column(ForeignKey("groups.id"), index=True)


class Membership(Base):
    """Who was in which group when; open while ``ended_at`` is null."""

    __tablename__ = "memberships"
    __table_args__ = (
        UniqueConstraint("group_id", "member_number", name="uq_memberships_number"),
        Index("ix_memberships_open", "group_id", "ended_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    registration_id: Mapped[str] = mapped_column(
        ForeignKey("registrations.id"), index=True
    )
    group_id: Mapped[str] = mapped_column(ForeignKey("groups.id"))
    member_number: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    end_reason: Mapped[str | None] = mapped_column(String(16))


class User(Base):
    """A steering-group member or a beheerder, with a hashed bearer token."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    role: Mapped[str] = mapped_column(String(16))
    name: Mapped[str | None] = mapped_column(String(80))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class Beheerder(Base):
    """Which group a beheerder user manages."""

    __tablename__ = "beheerders"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    group_id: Mapped[str] = mapped_column(ForeignKey("groups.id"), primary_key=True)
    since: Mapped[datetime] = mapped_column(UtcDateTime())


class Task(Base):
    """Work for a group's beheerder; names a member by number, never by data."""

    __tablename__ = "tasks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    group_id: Mapped[str] = mapped_column(ForeignKey("groups.id"), index=True)
    kind: Mapped[str] = mapped_column(String(24))
    member_number: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    done_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    done_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class AuditEntry(Base):
    """Who did what to which object when; never the personal data itself."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    actor: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(40))
    object_type: Mapped[str] = mapped_column(String(24))
    object_id: Mapped[str] = mapped_column(String(64))
    # counts only, e.g. "members=12"
    detail: Mapped[str | None] = mapped_column(Text)


# change lists (rebalances and intake): what a beheerder does by hand in WhatsApp
ADD = "add"
REMOVE = "remove"
CHANGE_ACTIONS = (ADD, REMOVE)
# the reason of the additions written when groups are stored (``groups init``)
INIT = "init"


class RebalanceRecord(Base):
    """A rebalance plan: made as a dry run, applied at most once.

    ``base_version`` is :func:`service.store.data_version` when the plan was
    made; applying refuses when the data has another version by then.
    ``document`` is the plan as JSON: registration ids and group ids only.
    """

    __tablename__ = "rebalance_plans"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    base_version: Mapped[str] = mapped_column(String(64))
    max_group_size: Mapped[int] = mapped_column(Integer)
    document: Mapped[str] = mapped_column(Text)
    applied_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    applied_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class GroupChange(Base):
    """One manual step for a beheerder: add or remove a member.

    Written by a rebalance (``plan_id`` set), by the intake when a sign-up is
    placed straight into a group with room, or when groups are stored
    (``groups init``; both with ``plan_id`` empty). Names the member
    by registration and member number; the number to add is read (decrypted)
    only when the beheerder asks for the change list. An "add" not yet done
    means the member is not in the WhatsApp group yet.
    """

    __tablename__ = "group_changes"
    __table_args__ = (Index("ix_group_changes_open", "group_id", "done_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    plan_id: Mapped[str | None] = mapped_column(
        ForeignKey("rebalance_plans.id"), index=True
    )
    group_id: Mapped[str] = mapped_column(ForeignKey("groups.id"))
    action: Mapped[str] = mapped_column(String(8))
    reason: Mapped[str] = mapped_column(String(8))
    registration_id: Mapped[str] = mapped_column(ForeignKey("registrations.id"))
    member_number: Mapped[int] = mapped_column(Integer)
    # a move's other side: the group an added member comes from, or goes to
    other_group_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    done_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    done_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
