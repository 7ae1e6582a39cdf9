"""The Dutch pages: rendered without scripts, and driven in headless Chromium."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.app import create_app
from service.config import Settings
from tests.service.helpers_service import (
    PRIVACY_VERSION,
    TestClient,
    mobile,
    residential_rows,
)

pytest_plugins = ["tests.service.fixtures_service"]


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> Settings:
    """Settings on an SQLite file: the pages do not depend on the backend."""
    return Settings(
        data_dir=tmp_path / "data",
        database_url=f"sqlite:///{tmp_path / 'pages.db'}",
    )


@pytest.fixture
def page_client(sqlite_settings: Settings) -> Iterator[TestClient]:
    """A test client on SQLite."""
    with TestClient(create_app(sqlite_settings)) as client:
        yield client


def _form(row: dict, i: int, **changes: str) -> dict[str, str]:
    """The registration form as a browser posts it."""
    form = {
        "postcode": row["postcode"],
        "huisnummer": f"{row['huisnummer']}{row['huisletter']}",
        "huisletter": "",
        "huisnummertoevoeging": row["huisnummertoevoeging"],
        "telefoon": mobile(i),
        "voornaam": "",
        "consent": "on",
        "privacy_version": PRIVACY_VERSION,
    }
    form.update(changes)
    return form


def test_pages_load_no_scripts_and_forbid_them(page_client):
    for path in ("/aanmelden", "/afmelden", "/privacy"):
        response = page_client.get(path)

        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        assert "<script" not in response.text.lower()
        assert not re.search(r"(src|href)=\"https?://", response.text)
        assert "default-src 'none'" in response.headers["content-security-policy"]
        assert '<html lang="nl">' in response.text


def test_the_form_posts_the_api_fields_with_consent_and_the_statement_version(
    page_client,
):
    html = page_client.get("/aanmelden").text

    assert '<form method="post" action="/registrations"' in html
    for name in ("postcode", "huisnummer", "huisletter", "huisnummertoevoeging"):
        assert f'name="{name}"' in html
    assert 'name="telefoon"' in html and 'name="voornaam"' in html
    assert 'type="checkbox" id="consent" name="consent"' in html
    assert f'name="privacy_version" value="{PRIVACY_VERSION}"' in html
    assert 'href="/privacy"' in html


def test_a_form_post_shows_the_confirmation_or_the_dutch_errors(page_client, book):
    row = residential_rows(book)[10]

    bad = page_client.post("/registrations", data=_form(row, 1, postcode="75810"))
    good = page_client.post("/registrations", data=_form(row, 1))
    again = page_client.post("/registrations", data=_form(row, 1))

    assert bad.status_code == 422
    assert "Dit is geen geldige postcode" in bad.text
    assert (
        'id="postcode" name="postcode"' in bad.text
        and 'aria-invalid="true"' in bad.text
    )
    assert good.status_code == 201
    assert "in de wachtrij" in good.text
    token = re.search(r'id="token">([^<]+)<', good.text).group(1)
    assert len(token) == 43
    assert again.status_code == 200 and 'id="token"' not in again.text


def test_the_leave_page_shows_the_data_then_leaves_then_erases(page_client, book):
    row = residential_rows(book)[11]
    created = page_client.post("/registrations", data=_form(row, 2, voornaam="Sanne"))
    token = re.search(r'id="token">([^<]+)<', created.text).group(1)

    unknown = page_client.post(
        "/afmelden", data={"token": "x" * 43, "action": "inzien"}
    )
    shown = page_client.post("/afmelden", data={"token": token, "action": "inzien"})
    left = page_client.post("/afmelden", data={"token": token, "action": "afmelden"})
    erased = page_client.post("/afmelden", data={"token": token, "action": "wissen"})
    after = page_client.post("/afmelden", data={"token": token, "action": "inzien"})

    assert unknown.status_code == 422 and "Deze code kennen we niet" in unknown.text
    assert "+31620000002" in shown.text and "Sanne" in shown.text
    assert "U bent afgemeld" in left.text and "30 dagen" in left.text
    assert "Uw gegevens zijn gewist" in erased.text
    assert after.status_code == 422


def test_the_privacy_page_names_the_controller_and_the_retention(tmp_path, book):
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=f"sqlite:///{tmp_path / 'p.db'}",
        controller="Stichting Buurtpreventie Losser",
        retention_days=21,
    )
    with TestClient(create_app(settings)) as client:
        html = client.get("/privacy").text

    assert "Stichting Buurtpreventie Losser" in html
    assert "21 dagen" in html
    assert "Notes for maintainers" not in html


# --- in the browser -------------------------------------------------------------


def _fill(page, row: dict, telefoon: str, postcode: str | None = None) -> None:
    """Fill the registration form as a resident would."""
    page.fill("#postcode", postcode or f"{row['postcode'][:4]} {row['postcode'][4:]}")
    page.fill("#huisnummer", f"{row['huisnummer']}{row['huisletter'].lower()}")
    page.fill("#huisnummertoevoeging", row["huisnummertoevoeging"])
    page.fill("#telefoon", telefoon)
    page.fill("#voornaam", "Sanne")
    page.check("#consent")


def test_a_resident_registers_and_erases_in_the_browser(
    browser_page, live_server, sqlite_settings, book
):
    base = live_server(create_app(sqlite_settings))
    row = residential_rows(book)[20]
    page = browser_page

    page.goto(f"{base}/aanmelden")
    _fill(page, row, "06 2000 0020")
    page.click("button[type=submit]")

    assert page.inner_text("#bevestiging") == "U bent aangemeld"
    assert page.inner_text("#groep") == "in de wachtrij"
    token = page.inner_text("#token").strip()
    assert len(token) == 43

    page.click("a[href='/afmelden']")
    page.fill("#token", token)
    page.check("input[value=wissen]")
    page.click("button[type=submit]")

    assert page.inner_text("#resultaat") == "Uw gegevens zijn gewist"
    assert page.console_errors == []


def test_a_bad_postcode_shows_the_dutch_error_in_the_browser(
    browser_page, live_server, sqlite_settings, book
):
    base = live_server(create_app(sqlite_settings))
    page = browser_page

    page.goto(f"{base}/aanmelden")
    _fill(page, residential_rows(book)[21], "06 2000 0021", postcode="0581 AB")
    page.click("button[type=submit]")

    error = page.locator("#fout-postcode")
    assert error.is_visible()
    assert error.inner_text().startswith("Dit is geen geldige postcode")
    assert page.get_attribute("#postcode", "aria-invalid") == "true"
    # what the resident typed stays in the form
    assert page.input_value("#telefoon") == "06 2000 0021"
    # the 422 itself is the only console message (no CSP or script errors)
    assert [e for e in page.console_errors if "status of 422" not in e] == []
