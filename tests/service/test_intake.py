"""Intake validation and the address book, without a database."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from partition.addresses import parse_address
from partition.register import prepare_register
from service import store, texts
from service.config import Settings
from service.store import AddressBook, FieldError, Intake, validate_intake

SETTINGS = Settings()


@pytest.fixture(scope="module")
def small_book() -> AddressBook:
    """Five addresses in two postcodes of one PC4 (7581)."""
    frame = pd.DataFrame(
        {
            "postcode": ["7581AB", "7581AB", "7581AB", "7581AB", "7581CD"],
            "huisnummer": [12, 14, 14, 16, 1],
            "huisletter": ["", "A", "B", "", ""],
            "huisnummertoevoeging": ["HS", "", "", "", ""],
            "openbare_ruimte": ["Dorpsstraat"] * 5,
            "woonplaats": ["Losser"] * 5,
            "nummeraanduiding_id": [f"016820000000000{i}" for i in range(5)],
            "x": [260_000.0, 260_010.0, 260_010.0, 260_020.0, 260_100.0],
            "y": [480_000.0] * 5,
        }
    )
    return AddressBook(prepare_register(frame), source="test")


@pytest.mark.parametrize(
    ("postcode", "huisnummer", "expected"),
    [
        ("7581 ab", "16", "exact"),
        ("7581AB", "12-hs", "exact"),
        ("7581AB", "12", "toevoeging_unique"),
        ("7581AB", "14", "address_ambiguous"),
        ("7581AB", "18", "address_unknown"),
        ("7581ZZ", "1", "address_unknown"),
        ("1012AB", "1", "address_outside"),
    ],
)
def test_the_address_book_locates_or_says_why_not(
    small_book, postcode, huisnummer, expected
):
    found = small_book.locate(parse_address(postcode, huisnummer))

    if isinstance(found, str):
        assert found == expected
    else:
        assert found.match_quality == expected
        assert (found.pc4, found.woonplaats) == ("7581", "Losser")


def test_an_exact_lookup_agrees_with_the_geocoder(small_book):
    address = parse_address("7581AB", "14", "B")

    fast = small_book.locate(address)
    geocoded = small_book._geocoder.geocode(
        pd.DataFrame(
            {
                "registration_id": ["r"],
                "postcode": [address.postcode],
                "huisnummer": [address.huisnummer],
                "huisletter": [address.huisletter],
            }
        )
    ).iloc[0]

    assert fast.address_key == geocoded["address_key"] == "7581AB|14|B|"
    assert (fast.x, fast.y) == (geocoded["x"], geocoded["y"])


def _body(**changes: object) -> dict[str, object]:
    body: dict[str, object] = {
        "postcode": "7581 AB",
        "huisnummer": "16",
        "telefoon": "06-12 34 56 78",
        "voornaam": "  José   María ",
        "consent": True,
        "privacy_version": SETTINGS.privacy_version,
    }
    body.update(changes)
    return body


def test_a_valid_registration_is_normalised(small_book):
    intake = validate_intake(_body(), SETTINGS, small_book)

    assert isinstance(intake, Intake)
    assert intake.e164 == "+31612345678"
    assert intake.voornaam == "José María"
    assert intake.located.address_key == "7581AB|16||"


@pytest.mark.parametrize("consent", [True, "on", "true", "ja"])
def test_consent_from_json_or_a_form_checkbox(small_book, consent):
    assert isinstance(
        validate_intake(_body(consent=consent), SETTINGS, small_book), Intake
    )


@pytest.mark.parametrize("consent", [False, None, "", "off", "nee", 1])
def test_anything_else_is_no_consent(small_book, consent):
    errors = validate_intake(_body(consent=consent), SETTINGS, small_book)

    assert errors == [FieldError("consent", "consent_missing")]


@pytest.mark.parametrize("name", ["Anne-Marie", "D'Artagnan", "Ö. Ünal", "Zoë"])
def test_first_names_with_usual_punctuation_are_accepted(small_book, name):
    assert isinstance(
        validate_intake(_body(voornaam=name), SETTINGS, small_book), Intake
    )


text_or_none = st.one_of(st.none(), st.text(max_size=40), st.integers(), st.booleans())


@settings(max_examples=150, deadline=None)
@given(
    postcode=text_or_none,
    huisnummer=text_or_none,
    huisletter=text_or_none,
    telefoon=text_or_none,
    voornaam=text_or_none,
)
def test_any_input_gives_an_intake_or_known_codes(
    small_book, postcode, huisnummer, huisletter, telefoon, voornaam
):
    body = _body(
        postcode=postcode,
        huisnummer=huisnummer,
        huisletter=huisletter,
        telefoon=telefoon,
        voornaam=voornaam,
    )

    result = validate_intake(body, SETTINGS, small_book)

    if isinstance(result, Intake):
        assert result.e164.startswith("+316")
        return
    assert result, "a refusal names at least one field"
    for error in result:
        assert error.field in store.INTAKE_FIELDS
        assert error.message == texts.ERRORS[error.code]
