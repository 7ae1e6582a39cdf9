"""Plain helpers of the service tests: test data, seeding, and database dumps.

Imported by the test modules directly; the fixtures live in
``fixtures_service.py`` (loaded with ``pytest_plugins``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import inspect, text, update
from starlette.exceptions import StarletteDeprecationWarning

from service import store
from service.config import Settings
from service.models import GroupChange
from service.store import AddressBook, GroupPlan

# starlette 1.x asks for the `httpx2` fork at import time; the project tests with
# `httpx`, which the test client still supports
with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

PRIVACY_VERSION = Settings().privacy_version
RESIDENTS_PER_WOONPLAATS = 4
# a distinctive first name, to look for in raw bytes and logs
VOORNAAM = "Wilhelmina"


def mobile(i: int) -> str:
    """The i-th test mobile number in national form (``0620000000`` + i)."""
    return f"06{20_000_000 + i:08d}"


def e164(i: int) -> str:
    """The i-th test mobile number in E.164."""
    return f"+316{20_000_000 + i:08d}"


def number_forms(i: int) -> list[str]:
    """Every form in which a test number could leak: E.164, national, digits."""
    national = mobile(i)
    return [e164(i), national, national[1:], f"{national[:2]} {national[2:]}"]


def residential_rows(book: AddressBook) -> list[dict[str, Any]]:
    """Register addresses with a woonfunctie, in register order, as dicts."""
    register = book.register
    rows = register[register["gebruiksdoel"].eq("woonfunctie")]
    return rows.drop(columns="geometry").to_dict("records")


def spread_rows(book: AddressBook, per_woonplaats: int) -> list[dict[str, Any]]:
    """A few residential addresses per woonplaats, spread along the register."""
    rows = residential_rows(book)
    chosen: list[dict[str, Any]] = []
    for woonplaats in sorted({row["woonplaats"] for row in rows}):
        mine = [row for row in rows if row["woonplaats"] == woonplaats]
        step = max(1, len(mine) // per_woonplaats)
        chosen += mine[::step][:per_woonplaats]
    return chosen


def register_row(book: AddressBook, address_key: str) -> dict[str, Any]:
    """The register row of an address key, as a dict."""
    frame = book.register.drop(columns="geometry")
    row = frame[frame["address_key"].eq(address_key)].iloc[0]
    return row.to_dict()


def registration_body(row: dict[str, Any], i: int, **changes: Any) -> dict[str, Any]:
    """A valid JSON registration for a register address and test number i."""
    body = {
        "postcode": f"{row['postcode'][:4]} {row['postcode'][4:].lower()}",
        "huisnummer": str(row["huisnummer"]),
        "huisletter": row["huisletter"],
        "huisnummertoevoeging": row["huisnummertoevoeging"],
        "telefoon": mobile(i),
        "voornaam": VOORNAAM,
        "consent": True,
        "privacy_version": PRIVACY_VERSION,
    }
    body.update(changes)
    return body


def bearer(token: str) -> dict[str, str]:
    """The Authorization header of a token."""
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Seeded:
    """A running app with groups, residents and users, and their tokens."""

    client: TestClient
    groups: list[str]
    residents: list[dict[str, Any]] = field(default_factory=list)
    steering: str = ""
    beheerders: dict[str, str] = field(default_factory=dict)

    @property
    def services(self) -> store.Services:
        """The app's services (engine, sessions, vault, settings)."""
        return self.client.app.state.services  # type: ignore[attr-defined]

    def in_group(self, group_id: str) -> list[dict[str, Any]]:
        """The seeded residents placed in a group."""
        return [r for r in self.residents if r["group_id"] == group_id]


def seed(client: TestClient, rows: list[dict[str, Any]], plan: GroupPlan) -> Seeded:
    """Register one resident per row, store the plan, add users; keep the tokens."""
    services = client.app.state.services  # type: ignore[attr-defined]
    residents = []
    for i, row in enumerate(rows):
        response = client.post("/registrations", json=registration_body(row, i))
        if response.status_code != 201:
            raise RuntimeError(
                f"seeding failed: {response.status_code} {response.text}"
            )
        residents.append({**response.json(), "i": i, "row": row})

    with services.sessions() as session, session.begin():
        store.apply_plan(session, plan, replace=False)
        built_in_whatsapp(session)
        steering = store.add_user(session, "steering", None, "Stuurgroep")[1]
        beheerders = {
            group: store.add_user(session, "beheerder", group, None)[1]
            for group in sorted(plan.groups)
        }
    for resident in residents:
        resident["group_id"] = plan.territory[resident["row"]["address_key"]]
    return Seeded(client, sorted(plan.groups), residents, steering, beheerders)


def built_in_whatsapp(session: Any) -> None:
    """Mark every pending change done, as beheerders do once their groups exist."""
    session.execute(
        update(GroupChange)
        .where(GroupChange.done_at.is_(None))
        .values(done_at=store.utcnow())
    )


def table_dump(
    engine: Any, *, skip: tuple[str, ...] = (), only: tuple[str, ...] = ()
) -> str:
    """Every row of every table as text, read with SQL (the 'dump').

    PostgreSQL casts each whole row to text (``SELECT t::text``); SQLite joins
    the columns. ``skip`` leaves tables out by name, ``only`` keeps just those.
    """
    names = [
        n
        for n in inspect(engine).get_table_names()
        if n not in skip and (not only or n in only)
    ]
    lines: list[str] = []
    with engine.connect() as connection:
        for name in names:
            if engine.dialect.name == "postgresql":
                query = text(f'SELECT CAST(t AS text) FROM "{name}" t')
            else:
                query = text(f'SELECT * FROM "{name}"')
            for row in connection.execute(query):
                lines.append(f"{name}: " + " | ".join(str(v) for v in row))
    return "\n".join(lines)


def sqlite_bytes(database_url: str) -> bytes:
    """The raw bytes of an SQLite database with its -wal and -shm files."""
    path = Path(database_url.removeprefix("sqlite:///"))
    parts = [path, Path(f"{path}-wal"), Path(f"{path}-shm")]
    return b"".join(p.read_bytes() for p in parts if p.exists())


def row_count(engine: Any, *, skip: tuple[str, ...] = ("alembic_version",)) -> int:
    """Rows in all tables together (the migration bookkeeping left out)."""
    total = 0
    with engine.connect() as connection:
        for name in inspect(engine).get_table_names():
            if name not in skip:
                query = text(f'SELECT count(*) FROM "{name}"')
                total += int(connection.execute(query).scalar() or 0)
    return total
