"""Storage on SQLite and PostgreSQL: schema, encryption, duplicates, erasure, purge."""

from __future__ import annotations

import hashlib
import logging
import sqlite3
from datetime import timedelta

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, inspect, select

from service import db, store
from service.crypto import hash_token
from service.db import alembic_config, make_engine, migrate
from service.models import (
    ERASED,
    LEFT,
    PERSONAL_COLUMNS,
    Base,
    Registration,
    Task,
    utcnow,
)
from tests.service.helpers_service import (
    VOORNAAM,
    bearer,
    e164,
    number_forms,
    register_row,
    registration_body,
    residential_rows,
    sqlite_bytes,
    table_dump,
)

pytest_plugins = ["tests.service.fixtures_service"]

TABLES = {
    "registrations",
    "groups",
    "territories",
    "memberships",
    "users",
    "beheerders",
    "tasks",
    "audit_log",
}


def _registrations(services) -> list[Registration]:
    with services.sessions() as session:
        return list(session.scalars(select(Registration)))


def test_migrations_build_the_models_schema_and_can_be_undone(database_url):
    engine = make_engine(database_url)
    migrate(engine)
    migrate(engine)  # a second start changes nothing

    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
    assert set(inspect(engine).get_table_names()) >= TABLES

    command.downgrade(alembic_config(engine), "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()


def test_sqlite_runs_in_wal_with_busy_timeout_and_secure_delete(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")

    with engine.connect() as connection:
        pragma = connection.exec_driver_sql
        assert pragma("PRAGMA journal_mode").scalar() == "wal"
        assert pragma("PRAGMA busy_timeout").scalar() == 30_000
        assert pragma("PRAGMA secure_delete").scalar() == 1
        assert pragma("PRAGMA foreign_keys").scalar() == 1
    engine.dispose()


def test_the_database_alone_reveals_no_number_or_name(client, book, database_url):
    rows = residential_rows(book)[:5]
    tokens = []
    for i, row in enumerate(rows):
        response = client.post("/registrations", json=registration_body(row, i))
        assert response.status_code == 201
        tokens.append(response.json()["token"])
    services = client.app.state.services

    # neither the rows read with SQL nor (SQLite) the raw file bytes hold them
    dump = table_dump(services.engine)
    secrets = [form for i in range(5) for form in number_forms(i)] + [VOORNAAM]
    secrets += [hashlib.sha256(e164(i).encode()).hexdigest() for i in range(5)]
    secrets += tokens
    assert [s for s in secrets if s in dump] == []
    if database_url.startswith("sqlite"):
        raw = sqlite_bytes(database_url)
        assert [s for s in secrets if s.encode() in raw] == []

    # and yet they are stored: encrypted, readable with the key
    me = client.get("/registrations/me", headers=bearer(tokens[3])).json()
    assert (me["telefoon"], me["voornaam"]) == (e164(3), VOORNAAM)
    stored = _registrations(services)
    assert all(r.phone_encrypted.startswith("gAAAA") for r in stored)
    assert len({r.phone_hmac for r in stored}) == 5


def test_a_duplicate_is_idempotent_and_households_are_separate(client, book):
    row, other = residential_rows(book)[:2]

    first = client.post("/registrations", json=registration_body(row, 0))
    # the same number and address, written differently, with another name
    again = client.post(
        "/registrations",
        json=registration_body(
            row, 0, telefoon="+31 6 2000 0000", postcode=row["postcode"], voornaam="X"
        ),
    )
    household = client.post("/registrations", json=registration_body(row, 1))
    moved = client.post("/registrations", json=registration_body(other, 0))

    assert [r.status_code for r in (first, again, household, moved)] == [
        201,
        200,
        201,
        201,
    ]
    assert again.json()["registration_id"] == first.json()["registration_id"]
    assert again.json()["token"] is None and again.json()["duplicate"] is True
    stored = _registrations(client.app.state.services)
    assert len(stored) == 3
    me = client.get("/registrations/me", headers=bearer(first.json()["token"]))
    assert me.json()["voornaam"] == VOORNAAM  # the repeat changed nothing


def test_erasure_leaves_nothing_personal_in_any_table(seeded, seed_plan, database_url):
    client, services = seeded.client, seeded.services
    group = seeded.groups[0]
    taken = {r["row"]["address_key"] for r in seeded.residents}
    key = next(
        k
        for k, g in sorted(seed_plan.territory.items())
        if g == group and k not in taken
    )
    row = register_row(services.book, key)
    body = registration_body(row, 900, voornaam="Bartholomeus")
    created = client.post("/registrations", json=body).json()
    token = created["token"]
    assert created["group_id"] == group

    # reads that leave audit entries, then the erasure
    me = client.get("/registrations/me", headers=bearer(token)).json()
    members = client.get(
        f"/groups/{group}/members", headers=bearer(seeded.beheerders[group])
    ).json()["members"]
    number = next(m["member_number"] for m in members if m["telefoon"] == e164(900))
    response = client.delete("/registrations/me", headers=bearer(token))
    assert response.status_code == 200 and response.json()["status"] == ERASED

    # nothing personal anywhere, the audit log included
    address = me["address"]
    secrets = number_forms(900) + [
        "Bartholomeus",
        token,
        hash_token(token),
        services.vault.phone_hash(e164(900)),
        address["nummeraanduiding_id"],
        str(address["x"]),
        str(address["y"]),
    ]
    dump = table_dump(services.engine)
    assert [s for s in secrets if s in dump] == []
    # the territory lists every address of the register (public BAG data, no
    # link to anyone); no other table may still hold the erased address
    assert key not in table_dump(services.engine, skip=("territories",))
    if database_url.startswith("sqlite"):
        raw = sqlite_bytes(database_url)
        assert [s for s in secrets[:-2] if s.encode() in raw] == []

    # anonymised counts stay, the token is dead, the beheerder has a task
    erased = next(
        r for r in _registrations(services) if r.id == created["registration_id"]
    )
    assert all(getattr(erased, column) is None for column in PERSONAL_COLUMNS)
    assert (erased.pc4, erased.woonplaats) == (row["postcode"][:4], row["woonplaats"])
    assert client.get("/registrations/me", headers=bearer(token)).status_code == 401
    tasks = client.get(
        f"/groups/{group}/tasks", headers=bearer(seeded.beheerders[group])
    )
    (task,) = tasks.json()
    assert (task["member_number"], task["reason"]) == (number, "erased")
    assert f"#{number}" in task["text"] and "620000900" not in task["text"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_erasure_blocked_by_a_reader_is_folded_at_the_next_checkpoint(
    seeded, database_url, monkeypatch, caplog
):
    """A reader on an older snapshot keeps SQLite (the write-ahead log is
    SQLite's) from truncating the log: the checkpoint gives up after its short
    wait and says so, and the next one (the next erasure, or the next start)
    removes the erased number."""
    monkeypatch.setattr(db, "CHECKPOINT_WAIT_S", 0.1)
    resident = seeded.residents[6]
    with seeded.services.sessions() as session:
        cipher = session.get(Registration, resident["registration_id"]).phone_encrypted
    reader = sqlite3.connect(database_url.removeprefix("sqlite:///"))
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM registrations").fetchone()

    with caplog.at_level(logging.WARNING, logger="service.db"):
        erased = seeded.client.delete(
            "/registrations/me", headers=bearer(resident["token"])
        )
    blocked = cipher.encode() in sqlite_bytes(database_url)
    reader.rollback()
    reader.close()
    folded = db.checkpoint(seeded.services.engine)

    assert erased.status_code == 200
    assert blocked and "not truncated" in caplog.text
    assert folded and cipher.encode() not in sqlite_bytes(database_url)


def test_purge_erases_who_left_long_ago_and_is_safe_to_repeat(seeded):
    client, services = seeded.client, seeded.services
    old, recent = seeded.residents[:2]
    for resident in (old, recent):
        response = client.post(
            "/registrations/me/leave", headers=bearer(resident["token"])
        )
        assert response.json()["status"] == LEFT
    with services.sessions() as session, session.begin():
        session.get(Registration, old["registration_id"]).left_at = (
            utcnow() - timedelta(days=31)
        )
        task = session.scalars(select(Task)).first()
        task.done_at = utcnow() - timedelta(days=40)

    with services.sessions() as session, session.begin():
        first = store.purge(session, 30)
    with services.sessions() as session, session.begin():
        second = store.purge(session, 30)

    assert first == {"erased": 1, "tasks": 1}
    assert second == {"erased": 0, "tasks": 0}
    by_id = {r.id: r for r in _registrations(services)}
    assert by_id[old["registration_id"]].status == ERASED
    assert by_id[old["registration_id"]].phone_encrypted is None
    assert by_id[recent["registration_id"]].status == LEFT
    assert by_id[recent["registration_id"]].phone_encrypted is not None
    with services.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Task)) == 1
