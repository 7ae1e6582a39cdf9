"""The JSON API on both backends: intake, rights of residents, beheerders, steering."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from service import store, texts
from service.app import create_app
from service.models import ASSIGNED, GROUP_FULL, LEFT, NO_GROUP, QUEUED, Task
from tests.service.helpers_service import (
    VOORNAAM,
    TestClient,
    bearer,
    built_in_whatsapp,
    e164,
    register_row,
    registration_body,
    residential_rows,
    row_count,
    seed,
)

pytest_plugins = ["tests.service.fixtures_service"]


def _new_address_in(seeded, plan, group_id: str) -> dict:
    """A register address in a group's territory that nobody registered yet."""
    taken = {r["row"]["address_key"] for r in seeded.residents}
    key = next(
        k for k, g in sorted(plan.territory.items()) if g == group_id and k not in taken
    )
    return register_row(seeded.services.book, key)


def test_a_registration_gets_its_group_a_member_number_and_a_token(seeded, seed_plan):
    group = seeded.groups[1]
    row = _new_address_in(seeded, seed_plan, group)

    response = seeded.client.post("/registrations", json=registration_body(row, 500))

    assert response.status_code == 201
    body = response.json()
    assert (body["status"], body["group_id"], body["duplicate"]) == (
        ASSIGNED,
        group,
        False,
    )
    assert len(body["token"]) == 43 and len(body["registration_id"]) == 32
    me = seeded.client.get("/registrations/me", headers=bearer(body["token"])).json()
    # four seeded members came first; numbers are never reused
    assert [m["member_number"] for m in me["memberships"]] == [5]


def test_without_groups_a_registration_waits_in_the_queue(client, book):
    response = client.post(
        "/registrations", json=registration_body(residential_rows(book)[7], 1)
    )

    assert response.status_code == 201
    assert (response.json()["status"], response.json()["group_id"]) == (QUEUED, None)
    headers = bearer(response.json()["token"])
    me = client.get("/registrations/me", headers=headers)
    erased = client.delete("/registrations/me", headers=headers)

    assert me.json()["queue_reason"] == NO_GROUP
    # never in a group: no beheerder has the number, so no task and no promise
    assert "beheerder" not in erased.json()["message"]
    with client.app.state.services.sessions() as session:
        assert session.scalars(select(Task)).all() == []


def test_a_full_group_queues_the_newcomer(make_settings, seed_rows, seed_plan):
    with TestClient(create_app(make_settings(max_group_size=4))) as client:
        seeded = seed(client, seed_rows, seed_plan)
        group = seeded.groups[0]
        row = _new_address_in(seeded, seed_plan, group)

        response = client.post("/registrations", json=registration_body(row, 600))
        token = response.json()["token"]

        assert (response.json()["status"], response.json()["group_id"]) == (
            QUEUED,
            None,
        )
        me = client.get("/registrations/me", headers=bearer(token)).json()
        assert me["queue_reason"] == GROUP_FULL
        members = client.get(
            f"/groups/{group}/members", headers=bearer(seeded.beheerders[group])
        )
        assert len(members.json()["members"]) == 4


def _bad_cases(book) -> list[tuple[str, dict | str, str, str]]:
    """(name, body changes or raw body, field, code) of refused registrations."""
    rows = residential_rows(book)
    row = rows[0]
    number = str(row["huisnummer"])
    register = book.register
    ambiguous = register[
        register["postcode"].eq("9000AD") & register["huisnummer"].eq(33)
    ].iloc[0]
    return [
        ("no postcode", {"postcode": " "}, "postcode", "postcode_missing"),
        ("five digits", {"postcode": "12345"}, "postcode", "postcode_invalid"),
        ("leading zero", {"postcode": "0581 AB"}, "postcode", "postcode_invalid"),
        ("never issued", {"postcode": "7581 SA"}, "postcode", "postcode_invalid"),
        ("no number", {"huisnummer": ""}, "huisnummer", "huisnummer_missing"),
        ("letters", {"huisnummer": "abc"}, "huisnummer", "huisnummer_invalid"),
        ("too big", {"huisnummer": "100000"}, "huisnummer", "huisnummer_invalid"),
        ("two letters", {"huisletter": "AB"}, "huisletter", "huisletter_invalid"),
        (
            "long addition",
            {"huisnummertoevoeging": "TOOLONG"},
            "huisnummertoevoeging",
            "toevoeging_invalid",
        ),
        (
            "two letters given",
            {"huisnummer": f"{number}A", "huisletter": "B"},
            "huisletter",
            "huisletter_conflict",
        ),
        ("outside", {"postcode": "1012 AB"}, "postcode", "address_outside"),
        ("unknown", {"huisnummer": "99999"}, "postcode", "address_unknown"),
        (
            "ambiguous",
            {
                "postcode": ambiguous["postcode"],
                "huisnummer": str(ambiguous["huisnummer"]),
                "huisletter": "",
            },
            "huisnummer",
            "address_ambiguous",
        ),
        ("no phone", {"telefoon": ""}, "telefoon", "telefoon_missing"),
        ("short phone", {"telefoon": "98765"}, "telefoon", "telefoon_invalid"),
        ("landline", {"telefoon": "020 123 4567"}, "telefoon", "telefoon_not_mobile"),
        ("belgian", {"telefoon": "+32 470 12 34 56"}, "telefoon", "telefoon_foreign"),
        ("german", {"telefoon": "+49 151 23456789"}, "telefoon", "telefoon_foreign"),
        (
            "odd name",
            {"voornaam": "Robert'); DROP TABLE"},
            "voornaam",
            "voornaam_invalid",
        ),
        ("long name", {"voornaam": "Annemarie" * 5}, "voornaam", "voornaam_too_long"),
        ("no consent", {"consent": False}, "consent", "consent_missing"),
        ("consent absent", {"consent": None}, "consent", "consent_missing"),
        (
            "old statement",
            {"privacy_version": "2019-1"},
            "privacy_version",
            "privacy_version_outdated",
        ),
        (
            "no statement",
            {"privacy_version": None},
            "privacy_version",
            "privacy_version_missing",
        ),
        ("number as bool", {"huisnummer": True}, "huisnummer", "field_type"),
        ("phone as int", {"telefoon": 620000001}, "telefoon", "field_type"),
        ("postcode list", {"postcode": ["7581AB"]}, "postcode", "field_type"),
        ("not json", "postcode=7581AB", "body", "body_invalid"),
        ("json list", "[1, 2]", "body", "body_invalid"),
        ("deep list", "[" * 5_000 + "]" * 5_000, "body", "body_invalid"),
        ("deep object", '{"a":' * 2_000 + "1" + "}" * 2_000, "body", "body_invalid"),
    ]


def test_bad_input_is_refused_in_dutch_with_a_code_and_nothing_is_stored(client, book):
    row = residential_rows(book)[0]
    wrong = []
    for name, change, field, code in _bad_cases(book):
        if isinstance(change, str):
            response = client.post(
                "/registrations",
                content=change,
                headers={"Content-Type": "application/json"},
            )
            values = []
        else:
            response = client.post(
                "/registrations", json=registration_body(row, 1, **change)
            )
            values = [v for v in change.values() if isinstance(v, str) and len(v) > 3]
        detail = response.json()["detail"] if response.status_code == 422 else []
        found = {(e["field"], e["code"]) for e in detail}
        if (
            response.status_code != 422
            or (field, code) not in found
            or any(set(e) != {"field", "code", "message"} for e in detail)
            or any(e["message"] != texts.ERRORS[e["code"]] for e in detail)
            or any(value in response.text for value in values)
        ):
            wrong.append((name, response.status_code, sorted(found)))

    assert wrong == []
    assert row_count(client.app.state.services.engine) == 0


def test_all_refused_fields_are_reported_at_once(client, book):
    body = registration_body(
        residential_rows(book)[0], 1, postcode="x", telefoon="0", consent=False
    )

    response = client.post("/registrations", json=body)

    assert response.status_code == 422
    assert {e["code"] for e in response.json()["detail"]} == {
        "postcode_invalid",
        "telefoon_invalid",
        "consent_missing",
    }


def test_a_body_too_large_is_refused_without_reading_it_whole(client, book):
    """A body over the limit is refused (413): by its declared length, or, when
    streamed without one, cut off at the limit."""
    row = residential_rows(book)[0]
    padding = {"voornaam": "x" * 20_000}
    raw = json.dumps(registration_body(row, 1, **padding)).encode()
    json_type = {"Content-Type": "application/json"}

    declared = client.post("/registrations", content=raw, headers=json_type)
    streamed = client.post("/registrations", content=iter([raw]), headers=json_type)

    assert declared.status_code == 413 and streamed.status_code == 413
    assert row_count(client.app.state.services.engine) == 0


def test_german_mobiles_are_accepted_when_the_setting_allows(make_settings, book):
    row = residential_rows(book)[3]
    with TestClient(create_app(make_settings(allow_foreign_mobile=True))) as client:
        german = client.post(
            "/registrations",
            json=registration_body(row, 1, telefoon="+49 151 23456789"),
        )
        belgian = client.post(
            "/registrations",
            json=registration_body(row, 1, telefoon="+32 470 12 34 56"),
        )
        me = client.get("/registrations/me", headers=bearer(german.json()["token"]))

    assert german.status_code == 201
    assert me.json()["telefoon"] == "+4915123456789"
    assert belgian.json()["detail"][0]["code"] == "telefoon_foreign_de"


def test_access_shows_everything_held_and_every_read_of_the_member_list(seeded):
    client = seeded.client
    resident = seeded.residents[5]
    group, token = resident["group_id"], resident["token"]

    before = client.get("/registrations/me", headers=bearer(token)).json()
    client.get(f"/groups/{group}/members.vcf", headers=bearer(seeded.beheerders[group]))
    after = client.get("/registrations/me", headers=bearer(token)).json()

    row = resident["row"]
    assert before["telefoon"] == e164(5) and before["voornaam"] == VOORNAAM
    assert before["address"]["postcode"] == row["postcode"]
    assert before["address"]["huisnummer"] == row["huisnummer"]
    assert before["address"]["nummeraanduiding_id"] == row["nummeraanduiding_id"]
    assert before["address"]["x"] == pytest.approx(row["x"])
    assert (
        before["consent"]["privacy_version"] == seeded.services.settings.privacy_version
    )
    assert [m["group_id"] for m in before["memberships"]] == [group]
    assert before["member_list_reads"] == []
    assert [r["action"] for r in after["member_list_reads"]] == ["members.vcard"]


def test_access_lists_the_changes_tasks_and_events_about_the_resident(seeded):
    """What the beheerders were asked to do about a resident and what the audit
    log holds about them is personal data too, so the access report lists it,
    as does the Dutch access page."""
    client = seeded.client
    resident = seeded.residents[4]
    group, token = resident["group_id"], resident["token"]
    client.post("/registrations/me/leave", headers=bearer(token))

    me = client.get("/registrations/me", headers=bearer(token)).json()
    page = client.post("/afmelden", data={"token": token, "action": "inzien"})

    assert [(c["group_id"], c["action"]) for c in me["changes"]] == [(group, "add")]
    assert [(t["group_id"], t["reason"]) for t in me["tasks"]] == [(group, "left")]
    events = [(e["action"], e["by"]) for e in me["events"]]
    assert ("registration.leave", "resident") in events
    assert me["rebalance_plans"] == []
    assert "registratienummer" in me["recipients"]
    assert "uw nummer verwijderen uit groep " + group in page.text
    assert texts.EVENT_TEXT["registration.leave"] in page.text


def test_leaving_ends_the_membership_and_a_repeat_rejoins(seeded, monkeypatch):
    client = seeded.client
    resident = seeded.residents[0]
    group, token = resident["group_id"], resident["token"]
    beheerder = bearer(seeded.beheerders[group])

    first = client.get("/registrations/me", headers=bearer(token)).json()
    left = client.post("/registrations/me/leave", headers=bearer(token))
    members = client.get(f"/groups/{group}/members", headers=beheerder).json()
    tasks = client.get(f"/groups/{group}/tasks", headers=beheerder).json()
    later = store.utcnow() + timedelta(days=1)
    monkeypatch.setattr(store, "utcnow", lambda: later)
    again = client.post(
        "/registrations", json=registration_body(resident["row"], 0, voornaam="Els")
    )
    me = client.get("/registrations/me", headers=bearer(token)).json()
    repeat = client.post(
        "/registrations", json=registration_body(resident["row"], 0, voornaam="Els")
    )

    assert left.json()["status"] == LEFT
    assert e164(0) not in [m["telefoon"] for m in members["members"]]
    assert [(t["reason"], t["member_number"]) for t in tasks] == [("left", 1)]
    assert again.status_code == 200 and again.json()["status"] == ASSIGNED
    assert [(m["member_number"], m["end_reason"]) for m in me["memberships"]] == [
        (1, "left"),
        (5, None),
    ]
    # rejoining is a new consent, and the resident is told they are back
    assert me["consent"]["given_at"] > first["consent"]["given_at"]
    assert me["voornaam"] == "Els"
    assert again.json()["message"] == texts.REJOIN_TEXT[ASSIGNED].format(
        group=me["group_id"]
    )
    assert repeat.json()["message"] == texts.DUPLICATE_TEXT


def test_a_beheerder_gets_members_as_json_and_vcard_and_a_welcome_text(seeded):
    client = seeded.client
    group = seeded.groups[2]
    headers = bearer(seeded.beheerders[group])
    expected = {e164(r["i"]) for r in seeded.in_group(group)}

    members = client.get(f"/groups/{group}/members", headers=headers).json()
    card = client.get(f"/groups/{group}/members.vcf", headers=headers)
    welcome = client.get(f"/groups/{group}/welcome", headers=headers)

    assert {m["telefoon"] for m in members["members"]} == expected
    assert card.headers["content-type"].startswith("text/vcard")
    assert f'filename="{group}.vcf"' in card.headers["content-disposition"]
    raw = card.content.decode()
    assert "\n" not in raw.replace("\r\n", "")
    lines = raw.split("\r\n")
    assert lines.count("BEGIN:VCARD") == len(expected) == lines.count("VERSION:3.0")
    assert {line.split(":", 1)[1] for line in lines if line.startswith("TEL;")} == (
        expected
    )
    assert f"FN:{VOORNAAM} - Buurtpreventie {group} #1" in lines
    assert all(len(line.encode()) <= 75 for line in lines)
    assert welcome.headers["content-type"].startswith("text/plain")
    for fragment in ("SAAR", "Signaleer", "Alarmeer", "112", "0900-8844", group):
        assert fragment in welcome.text


def test_steering_sees_counts_and_coverage_never_numbers(seeded):
    client = seeded.client
    client.post("/registrations/me/leave", headers=bearer(seeded.residents[0]["token"]))
    client.delete("/registrations/me", headers=bearer(seeded.residents[1]["token"]))
    headers = bearer(seeded.steering)

    stats = client.get("/stats", headers=headers)
    groups = client.get("/groups", headers=headers)

    assert stats.json() == {
        "registrations": 12,
        "geocoded": 12,
        "assigned": 10,
        "queued": 0,
        "left": 1,
        "erased": 1,
        "groups": 3,
        "tasks_open": 2,
    }
    overview = groups.json()
    assert [g["group_id"] for g in overview] == seeded.groups
    assert sum(g["size"] for g in overview) == 10
    assert sum(g["territory_addresses"] for g in overview) == len(seeded.services.book)
    for group in overview:
        assert group["coverage"] == pytest.approx(
            group["registered_addresses"] / group["territory_addresses"], abs=1e-4
        )
    assert "+316" not in stats.text + groups.text


def test_a_beheerder_marks_a_task_done_only_in_their_group(seeded):
    client = seeded.client
    resident = seeded.residents[0]
    group = resident["group_id"]
    other = next(g for g in seeded.groups if g != group)
    client.delete("/registrations/me", headers=bearer(resident["token"]))
    (task,) = client.get(
        f"/groups/{group}/tasks", headers=bearer(seeded.beheerders[group])
    ).json()

    elsewhere = client.post(
        f"/groups/{other}/tasks/{task['task_id']}/done",
        headers=bearer(seeded.beheerders[other]),
    )
    done = client.post(
        f"/groups/{group}/tasks/{task['task_id']}/done",
        headers=bearer(seeded.beheerders[group]),
    )
    open_tasks = client.get(
        f"/groups/{group}/tasks", headers=bearer(seeded.beheerders[group])
    )
    all_tasks = client.get(
        f"/groups/{group}/tasks?done=true", headers=bearer(seeded.beheerders[group])
    )

    assert elsewhere.status_code == 404
    assert done.status_code == 200 and done.json()["done_at"] is not None
    assert open_tasks.json() == []
    assert [t["task_id"] for t in all_tasks.json()] == [task["task_id"]]


@pytest.mark.parametrize(
    "path",
    [
        "/groups/{group}/tasks/not-a-number/done",
        "/groups/{group}/tasks/100000000000000000000/done",
        "/groups/{group}/tasks/0/done",
    ],
)
def test_fastapi_validation_errors_keep_the_one_error_shape(seeded, path):
    """A task id that is no number, or one beyond any stored id (which the
    database could not even compare), is a 422 in the service's error shape."""
    group = seeded.groups[0]

    response = seeded.client.post(
        path.format(group=group), headers=bearer(seeded.beheerders[group])
    )

    assert response.status_code == 422
    assert response.json()["detail"] == [
        {
            "field": "task_id",
            "code": "field_type",
            "message": texts.ERRORS["field_type"],
        }
    ]


def test_partitioning_again_keeps_members_who_stay(seeded, seed_plan):
    services = seeded.services

    with (
        services.sessions() as session,
        session.begin(),
        pytest.raises(store.StoreError, match="--replace"),
    ):
        store.apply_plan(session, seed_plan, replace=False)
    with services.sessions() as session, session.begin():
        counts = store.apply_plan(session, seed_plan, replace=True)

    assert (counts["kept"], counts["moved"], counts["placed"]) == (12, 0, 0)


@pytest.mark.parametrize("built", [False, True], ids=["not-added-yet", "added"])
def test_partitioning_again_asks_removals_only_for_members_added(
    client, book, seed_rows, seed_plan, built
):
    """`groups init --replace` right after a first init: a member nobody has
    added yet needs no removal task (its pending "add" reads as no longer
    needed); once the groups are built in WhatsApp, every moved member does."""
    for i, row in enumerate(seed_rows):
        assert client.post("/registrations", json=registration_body(row, i)).is_success
    services = client.app.state.services
    keys = [row["address_key"] for row in seed_rows]
    smaller = store.plan_groups(book, keys, 2)  # cap 2: most members move
    with services.sessions() as session, session.begin():
        store.apply_plan(session, seed_plan, replace=False)
        if built:
            built_in_whatsapp(session)
        counts = store.apply_plan(session, smaller, replace=True)

    with services.sessions() as session:
        tasks = session.scalars(select(Task)).all()
        old_adds = [
            change
            for group in seed_plan.groups
            for change in store.group_changes(session, services.vault, group)
            if change["reason"] == "init"
        ]
    assert counts["moved"] > 0
    assert len(tasks) == (counts["moved"] if built else 0)
    if not built:
        no_longer = [c for c in old_adds if "hoeft niet meer" in c["text"]]
        assert len(no_longer) == counts["moved"]
        assert all("telefoon" not in c for c in no_longer)


def test_the_openapi_document_describes_the_error_shape(client):
    document = client.get("/openapi.json").json()

    assert {
        "/registrations",
        "/registrations/me",
        "/registrations/me/leave",
        "/groups",
        "/stats",
        "/groups/{group_id}/members",
        "/groups/{group_id}/members.vcf",
        "/groups/{group_id}/welcome",
        "/groups/{group_id}/tasks",
        "/groups/{group_id}/tasks/{task_id}/done",
    } <= set(document["paths"])
    assert "postcode_invalid" in document["info"]["description"]
    post = document["paths"]["/registrations"]["post"]
    assert set(post["responses"]) >= {"200", "201", "422"}
    assert "ValidationErrorOut" in document["components"]["schemas"]
