"""Coverage API: numbers per street and buurt, recruitment targets, the map.

Steering only, aggregates only. The backend does not matter to these
endpoints (they read through the same store functions as the rest), so they
run on SQLite alone.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import pytest

from partition.coverage import BUURT_COLUMNS, STREET_COLUMNS
from partition.maps import (
    LAYER_COVERAGE,
    LAYER_GAPS,
    LAYER_GROUPS,
    LAYER_STREETS,
    LAYER_TARGETS,
)
from partition.recruit import PRIVATE_COLUMNS, RECRUITMENT_COLUMNS
from service import store
from service.app import create_app
from tests.service.helpers_service import (
    VOORNAAM,
    Seeded,
    TestClient,
    bearer,
    number_forms,
    registration_body,
    residential_rows,
)

pytest_plugins = ["tests.service.fixtures_service"]
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

ENDPOINTS = ("/coverage", "/recruitment/targets", "/maps/coverage")
LAYERS = (LAYER_COVERAGE, LAYER_STREETS, LAYER_GROUPS, LAYER_GAPS, LAYER_TARGETS)


def _personal_forms(seeded: Seeded) -> list[str | re.Pattern[str]]:
    """Every form in which a seeded resident's data could leak into a response."""
    forms: list[str | re.Pattern[str]] = [VOORNAAM]
    for resident in seeded.residents:
        row = resident["row"]
        number = f"{row['huisnummer']}{row['huisletter']}"
        postcode = row["postcode"]
        forms += number_forms(resident["i"])
        forms += [
            resident["registration_id"],
            row["address_key"],
            postcode,
            f"{postcode[:4]} {postcode[4:]}",
            str(row["nummeraanduiding_id"]),
            # "Akkerpad 12" but not "Akkerpad 120" or a range "Akkerpad 12-30"
            re.compile(rf"{re.escape(row['openbare_ruimte'])}\s+{number}(?![\dA-Z-])"),
        ]
    return forms


def _leaks(text: str, forms: list[str | re.Pattern[str]]) -> list[str]:
    """The forms found in a response text."""
    return [
        form if isinstance(form, str) else form.pattern
        for form in forms
        if (form in text if isinstance(form, str) else form.search(text))
    ]


def test_the_three_endpoints_serve_aggregates_and_no_personal_data(seeded):
    steering = bearer(seeded.steering)

    coverage = seeded.client.get("/coverage", headers=steering)
    targets = seeded.client.get("/recruitment/targets?limit=5", headers=steering)
    page = seeded.client.get("/maps/coverage", headers=steering)

    assert [r.status_code for r in (coverage, targets, page)] == [200, 200, 200]
    forms = _personal_forms(seeded)
    for response in (coverage, targets, page):
        assert _leaks(response.text, forms) == []
    # streets: the registered addresses counted where they are, nowhere else
    streets = coverage.json()["streets"]["features"]
    assert all(list(f["properties"]) == STREET_COLUMNS for f in streets)
    registered = Counter(
        (r["row"]["woonplaats"], r["row"]["openbare_ruimte"]) for r in seeded.residents
    )
    counted = {
        (p["woonplaats"], p["openbare_ruimte"]): p["registered_addresses"]
        for p in (f["properties"] for f in streets)
        if p["registered_addresses"]
    }
    assert counted == dict(registered)
    assert all(
        p["coverage"] == pytest.approx(p["registered_addresses"] / p["addresses"])
        for p in (f["properties"] for f in streets)
    )
    buurten = coverage.json()["buurten"]["features"]
    assert buurten and all(list(f["properties"]) == BUURT_COLUMNS for f in buurten)
    assert sum(f["properties"]["registered_addresses"] for f in buurten) == len(
        seeded.residents
    )
    # targets: the recruitment.csv columns, best first
    rows = targets.json()
    assert [list(row) for row in rows] == [RECRUITMENT_COLUMNS] * 5
    assert [row["rank"] for row in rows] == [1, 2, 3, 4, 5]
    cumulative = [row["cumulative_radius_coverage"] for row in rows]
    assert cumulative == sorted(cumulative)
    # the map: every layer, and a policy that admits only its CDNs
    assert page.headers["content-type"].startswith("text/html")
    assert all(f'"{layer}"' in page.text for layer in LAYERS)
    policy = page.headers["content-security-policy"]
    assert policy.startswith("default-src 'none'")
    assert "script-src 'unsafe-inline' https://cdn.jsdelivr.net" in policy
    assert "unsafe-eval" not in policy and "*" not in policy


@pytest.mark.parametrize("limit", ["0", "501", "-3", "veel"])
def test_a_limit_outside_1_to_500_is_422_in_the_service_shape(seeded, limit):
    response = seeded.client.get(
        f"/recruitment/targets?limit={limit}", headers=bearer(seeded.steering)
    )

    assert response.status_code == 422
    assert [(e["field"], e["code"]) for e in response.json()["detail"]] == [
        ("limit", "field_type")
    ]


def test_only_the_steering_group_reads_coverage(seeded):
    group = seeded.groups[0]
    callers = {
        "anonymous": ({}, 401),
        "beheerder": (bearer(seeded.beheerders[group]), 403),
        "resident": (bearer(seeded.residents[0]["token"]), 403),
        "steering": (bearer(seeded.steering), 200),
    }

    answers = {
        (path, caller): seeded.client.get(path, headers=headers).status_code
        for path in ENDPOINTS
        for caller, (headers, _) in callers.items()
    }

    assert answers == {
        (path, caller): status
        for path in ENDPOINTS
        for caller, (_, status) in callers.items()
    }


def test_a_new_registration_shows_up_in_the_next_answer(seeded, book):
    steering = bearer(seeded.steering)
    used = {r["row"]["address_key"] for r in seeded.residents}
    row = next(r for r in residential_rows(book) if r["address_key"] not in used)
    street = (row["woonplaats"], row["openbare_ruimte"])

    def registered_on_street() -> int:
        features = seeded.client.get("/coverage", headers=steering).json()
        return next(
            f["properties"]["registered_addresses"]
            for f in features["streets"]["features"]
            if (f["properties"]["woonplaats"], f["properties"]["openbare_ruimte"])
            == street
        )

    before = registered_on_street()
    posted = seeded.client.post("/registrations", json=registration_body(row, 900))
    assert posted.status_code == 201

    assert registered_on_street() == before + 1


def test_the_cached_run_holds_no_single_address(seeded):
    """The service keeps its last coverage run between requests; an erased
    resident's address must not stay in it, so it keeps aggregates only."""
    resident = seeded.residents[5]
    maps = seeded.client.get("/maps/coverage", headers=bearer(seeded.steering))
    seeded.client.delete("/registrations/me", headers=bearer(resident["token"]))

    _, run = seeded.client.app.state.coverage_run

    assert maps.status_code == 200
    assert run.report.addresses.empty
    assert not set(PRIVATE_COLUMNS) & set(run.targets.columns)
    assert len(run.streets) and len(run.targets)


def test_coverage_without_any_registration_is_all_blind(make_settings):
    with TestClient(create_app(make_settings())) as client:
        services: Any = client.app.state.services  # type: ignore[attr-defined]
        with services.sessions() as session, session.begin():
            token = store.add_user(session, "steering", None, None)[1]

        coverage = client.get("/coverage", headers=bearer(token))
        page = client.get("/maps/coverage", headers=bearer(token))

    assert coverage.status_code == 200 and page.status_code == 200
    streets = coverage.json()["streets"]["features"]
    assert streets and {f["properties"]["class"] for f in streets} == {"blind"}
