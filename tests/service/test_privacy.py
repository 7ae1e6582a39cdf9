"""Privacy by design: the generated statement, the logs and the audit log."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from service import privacy, store
from service.cli import app as cli
from service.config import Settings, load_settings
from service.models import AuditEntry
from tests.service.helpers_service import (
    bearer,
    number_forms,
    register_row,
    registration_body,
    table_dump,
)

pytest_plugins = ["tests.service.fixtures_service"]

PRIVACY_MD = Path(__file__).resolve().parents[2] / "docs" / "privacy.md"


def test_the_committed_statement_is_the_one_the_defaults_generate():
    assert PRIVACY_MD.read_text(encoding="utf-8") == privacy.render_markdown(
        load_settings({})
    )


def test_the_statement_follows_the_configuration():
    settings = Settings(
        controller="Stichting Buurtpreventie Losser",
        retention_days=14,
        allow_foreign_mobile=True,
        privacy_version="2026-3",
    )

    text = privacy.render_markdown(settings)

    assert "Stichting Buurtpreventie Losser" in text
    assert "14 dagen later" in text and "plus 14 dagen" in text
    assert "een Nederlands of Duits mobiel nummer" in text
    assert "Versie 2026-3" in text
    for heading in ("Verwerkingsregister", "Bewaartermijn", "Ontvangers", "Doel"):
        assert heading in text
    assert "Notes for maintainers: erasure" in text


def test_the_privacy_command_writes_the_statement_from_the_environment(tmp_path):
    out = tmp_path / "privacy.md"

    result = CliRunner().invoke(
        cli,
        ["privacy", "--out", str(out)],
        env={
            "BUURTGROEPEN_CONTROLLER": "Gemeente Demo",
            "BUURTGROEPEN_RETENTION_DAYS": "7",
        },
    )

    assert result.exit_code == 0, result.output
    assert "Gemeente Demo" in out.read_text() and "7 dagen" in out.read_text()


def test_no_log_line_holds_a_number_a_name_an_address_or_a_token(
    seeded, seed_plan, caplog
):
    client, services = seeded.client, seeded.services
    group = seeded.groups[0]
    taken = {r["row"]["address_key"] for r in seeded.residents}
    key = next(
        k
        for k, g in sorted(seed_plan.territory.items())
        if g == group and k not in taken
    )
    row = register_row(services.book, key)
    beheerder = bearer(seeded.beheerders[group])

    # the whole flow: refused, registered, read, exported, left, erased, purged
    with caplog.at_level(logging.DEBUG):
        client.post("/registrations", json=registration_body(row, 800, telefoon="1"))
        created = client.post(
            "/registrations", json=registration_body(row, 800, voornaam="Cornelis")
        ).json()
        token = created["token"]
        client.get("/registrations/me", headers=bearer(token))
        client.get(f"/groups/{group}/members", headers=beheerder)
        client.get(f"/groups/{group}/members.vcf", headers=beheerder)
        client.post("/registrations/me/leave", headers=bearer(token))
        client.delete("/registrations/me", headers=bearer(token))
        with services.sessions() as session, session.begin():
            store.purge(session, 0)

    secrets = number_forms(800) + ["Cornelis", token, key, row["postcode"]]
    secrets += [
        row["nummeraanduiding_id"],
        f"{row['postcode'][:4]} {row['postcode'][4:]}",
    ]
    text = "\n".join(
        f"{record.getMessage()} {record.args!r}" for record in caplog.records
    )
    assert len(caplog.records) > 5
    assert [s for s in secrets if s.lower() in text.lower()] == []


def test_the_audit_log_says_who_did_what_but_holds_no_personal_data(seeded):
    client = seeded.client
    resident = seeded.residents[2]
    group = resident["group_id"]
    client.get("/registrations/me", headers=bearer(resident["token"]))
    client.get(f"/groups/{group}/members", headers=bearer(seeded.beheerders[group]))
    client.delete("/registrations/me", headers=bearer(resident["token"]))

    with seeded.services.sessions() as session:
        entries = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
    audit = table_dump(seeded.services.engine, only=("audit_log",))

    actions = [(e.actor.split(":")[0], e.action) for e in entries]
    assert ("resident", "registration.read") in actions
    assert ("user", "members.read") in actions
    assert ("resident", "registration.erase") in actions
    assert all(e.at is not None for e in entries)
    read = next(e for e in entries if e.action == "members.read")
    assert (read.object_type, read.object_id, read.detail) == (
        "group",
        group,
        "members=4",
    )
    for i in range(12):
        assert not any(form in audit for form in number_forms(i))
    assert resident["row"]["address_key"] not in audit


@pytest.mark.parametrize(
    "detail", ["Jan de Vries", "street=Kerkstraat 12", "postcode=7581 AB", "moved=3,"]
)
def test_an_audit_detail_other_than_codes_and_counts_is_refused(detail):
    """The audit log keeps codes and counts only; free text is a programming
    error, refused before anything is written."""
    with pytest.raises(ValueError, match="key=value"):
        store.audit(None, store.SYSTEM, "test", "registration", "x", detail)
