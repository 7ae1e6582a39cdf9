"""The service commands: users, groups init, purge, serve's settings check."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from service.app import create_app
from service.config import load_settings
from service.store import load_address_book
from tests.service.helpers_service import (
    TestClient,
    bearer,
    registration_body,
    spread_rows,
)

pytest_plugins = ["tests.service.fixtures_service"]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """BUURTGROEPEN_* variables of a private SQLite service."""
    return {
        "BUURTGROEPEN_DATA_DIR": str(tmp_path / "data"),
        "BUURTGROEPEN_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
    }


def _invoke(env: dict[str, str], *args: str):
    from service.cli import app

    return CliRunner().invoke(app, list(args), env=env)


def test_users_add_prints_the_token_alone_on_the_last_line(env):
    result = _invoke(env, "users", "add", "--role", "steering", "--name", "Stuurgroep")

    assert result.exit_code == 0, result.output
    token = result.stdout.strip().splitlines()[-1]
    assert len(token) == 43 and " " not in token
    with TestClient(create_app(load_settings(env))) as client:
        assert client.get("/stats", headers=bearer(token)).status_code == 200


def test_a_beheerder_needs_an_existing_group(env):
    missing = _invoke(env, "users", "add", "--role", "beheerder")
    unknown = _invoke(
        env, "users", "add", "--role", "beheerder", "--group", "nergens-01"
    )
    bad_role = _invoke(env, "users", "add", "--role", "admin")

    assert (missing.exit_code, unknown.exit_code, bad_role.exit_code) == (2, 2, 2)
    assert "`--group` is required" in missing.output
    assert "group `nergens-01` does not exist" in unknown.output
    assert "`--role` must be one of" in bad_role.output


def test_groups_init_partitions_the_stored_registrations(env):
    book = load_address_book(None)
    settings = load_settings(env)
    with TestClient(create_app(settings)) as client:
        for i, row in enumerate(spread_rows(book, 3)):
            client.post("/registrations", json=registration_body(row, i))

    first = _invoke(env, "groups", "init")
    again = _invoke(env, "groups", "init")
    replaced = _invoke(env, "groups", "init", "--replace")
    beheerder = _invoke(
        env, "users", "add", "--role", "beheerder", "--group", "testerlo-01"
    )

    assert first.exit_code == 0, first.output
    assert "stored 3 groups over 10,000 addresses: 9 placed" in first.stdout
    assert again.exit_code == 2 and "--replace" in again.output
    assert replaced.exit_code == 0 and "9 kept" in replaced.stdout
    token = beheerder.stdout.strip().splitlines()[-1]
    with TestClient(create_app(settings)) as client:
        members = client.get("/groups/testerlo-01/members", headers=bearer(token))
        changes = client.get("/groups/testerlo-01/changes", headers=bearer(token))
    assert len(members.json()["members"]) == 3
    # the beheerder builds the WhatsApp group from the change list: one "add"
    # per member (kept ones were not added twice by the second init)
    numbers = {m["member_number"]: m["telefoon"] for m in members.json()["members"]}
    assert {
        (c["action"], c["reason"], c["member_number"], c["telefoon"])
        for c in changes.json()
    } == {("add", "init", number, tel) for number, tel in numbers.items()}


def test_purge_is_safe_to_run_again(env):
    first = _invoke(env, "purge")
    second = _invoke(env, "purge", "--days", "0")
    negative = _invoke(env, "purge", "--days", "-1")

    assert first.exit_code == 0 and "left over 30 days ago" in first.stdout
    assert second.exit_code == 0 and "erased 0 registrations" in second.stdout
    assert negative.exit_code == 2


def test_an_operator_helps_a_resident_who_lost_their_token(env):
    """Access, a new token and erasure by number and address, for a resident
    who no longer has their self-service token; an unknown number or a bad
    address is a message and exit code 2."""
    book = load_address_book(None)
    row = spread_rows(book, 1)[0]
    with TestClient(create_app(load_settings(env))) as client:
        old = client.post("/registrations", json=registration_body(row, 7)).json()
    where = ["--postcode", row["postcode"], "--huisnummer", str(row["huisnummer"])]
    where += ["--huisletter", row["huisletter"]] if row["huisletter"] else []
    if row["huisnummertoevoeging"]:
        where += ["--toevoeging", row["huisnummertoevoeging"]]
    telefoon = registration_body(row, 7)["telefoon"]

    shown = _invoke(env, "registrations", "show", "--telefoon", telefoon, *where)
    renewed = _invoke(env, "registrations", "token", "--telefoon", telefoon, *where)
    token = renewed.stdout.strip().splitlines()[-1]
    with TestClient(create_app(load_settings(env))) as client:
        by_old = client.get("/registrations/me", headers=bearer(old["token"]))
        by_new = client.get("/registrations/me", headers=bearer(token))
    erased = _invoke(env, "registrations", "erase", "--telefoon", telefoon, *where)
    again = _invoke(env, "registrations", "erase", "--telefoon", telefoon, *where)
    bad = _invoke(env, "registrations", "show", "--telefoon", telefoon, *where[:3], "0")

    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["registration_id"] == old["registration_id"]
    assert renewed.exit_code == 0 and by_old.status_code == 401
    assert by_new.json()["registration_id"] == old["registration_id"]
    events = [(e["action"], e["by"]) for e in by_new.json()["events"]]
    assert ("registration.read", "operator") in events
    assert ("registration.token", "operator") in events
    assert erased.exit_code == 0 and "erased registration" in erased.stdout
    assert again.exit_code == 2 and "erased already" in again.output
    assert bad.exit_code == 2 and "huisnummer" in bad.output
    unknown = _invoke(env, "registrations", "move", "--telefoon", telefoon, *where)
    assert unknown.exit_code == 2 and "ACTION must be one of" in unknown.output


def test_serve_refuses_bad_settings_before_starting(env):
    result = _invoke({**env, "BUURTGROEPEN_MAX_GROUP_SIZE": "2000"}, "serve")

    assert result.exit_code == 2
    assert "`BUURTGROEPEN_MAX_GROUP_SIZE` is 2000" in result.output
