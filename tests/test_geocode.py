"""Tests for partition.geocode: the offline register geocoder."""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from partition.addresses import address_keys
from partition.errors import AddressError, BuurtgroepenError, CRSError
from partition.geocode import (
    AMBIGUOUS_TOEVOEGING,
    EXACT,
    FUZZY,
    INVALID_HUISLETTER,
    INVALID_HUISNUMMER,
    INVALID_POSTCODE,
    INVALID_TOEVOEGING,
    MATCH_QUALITIES,
    NO_STREET_MATCH,
    OUTPUT_COLUMNS,
    OUTSIDE_REGISTER,
    TOEVOEGING_UNIQUE,
    UNKNOWN_ADDRESS,
    UNMATCHED,
    UNMATCHED_REASONS,
    Geocoder,
    RegisterGeocoder,
    geocoded_to_geodataframe,
)

_REGISTER_ROWS = [
    # postcode, huisnummer, huisletter, toevoeging, street, woonplaats
    ("7581AB", 1, "", "", "Kerkstraat", "Losser"),
    ("7581AB", 2, "", "", "Kerkstraat", "Losser"),
    ("7581AB", 3, "A", "", "Kerkstraat", "Losser"),
    ("7581AB", 3, "B", "", "Kerkstraat", "Losser"),
    ("7581AB", 5, "", "1", "Kerkstraat", "Losser"),
    ("7581AB", 5, "", "2", "Kerkstraat", "Losser"),
    ("7581AB", 7, "", "HS", "Kerkstraat", "Losser"),
    ("7581AB", 9, "A", "1", "Kerkstraat", "Losser"),
    ("7581AB", 9, "B", "", "Kerkstraat", "Losser"),
    ("7581AB", 11, "A", "2", "Kerkstraat", "Losser"),
    ("7581AB", 11, "B", "1", "Kerkstraat", "Losser"),
    ("7581AC", 10, "", "", "Oude Kerkstraat", "Losser"),
    ("7587AA", 4, "", "", "Dorpstraat", "De Lutte"),
    ("7587AA", 6, "B", "", "Dorpstraat", "De Lutte"),
    ("7587AB", 1, "", "", "Oude Postweg", "De Lutte"),
]


@pytest.fixture(scope="module")
def register() -> pd.DataFrame:
    """Fifteen addresses on four streets in Losser and De Lutte."""
    frame = pd.DataFrame(
        _REGISTER_ROWS,
        columns=[
            "postcode",
            "huisnummer",
            "huisletter",
            "huisnummertoevoeging",
            "openbare_ruimte",
            "woonplaats",
        ],
    )
    frame["x"] = 262_000.0 + 10.0 * np.arange(len(frame))
    frame["y"] = 480_000.0 + 5.0 * np.arange(len(frame))
    frame["buurtcode"] = ["BU01680001"] * 12 + ["BU03010301"] * 3
    frame["nummeraanduiding_id"] = [f"01682000000{i:05d}" for i in range(len(frame))]
    return frame


@pytest.fixture(scope="module")
def geocoder(register: pd.DataFrame) -> RegisterGeocoder:
    """The geocoder over the small register."""
    return RegisterGeocoder(register)


# (postcode, huisnummer, huisletter, toevoeging, street, woonplaats)
#   -> match_quality, unmatched_reason, address_key of the match
CASES = {
    "exact": (("7581 ab", "1", None, None, None, None), EXACT, "", "7581AB|1||"),
    "exact-letter-inside": (
        ("7581AB", "3a", None, None, None, None),
        EXACT,
        "",
        "7581AB|3|A|",
    ),
    "exact-letter-apart": (
        ("7581AB", 3, "b", None, None, None),
        EXACT,
        "",
        "7581AB|3|B|",
    ),
    "exact-toevoeging": (
        ("7581ab", "5-2", None, None, None, None),
        EXACT,
        "",
        "7581AB|5||2",
    ),
    "unique-toevoeging": (
        ("7581AB", "7", None, None, None, None),
        TOEVOEGING_UNIQUE,
        "",
        "7581AB|7||HS",
    ),
    "unique-toevoeging-with-letter": (
        ("7581AB", "9a", None, None, None, None),
        TOEVOEGING_UNIQUE,
        "",
        "7581AB|9|A|1",
    ),
    "unique-letter": (
        ("7581AB", "11-2", None, None, None, None),
        TOEVOEGING_UNIQUE,
        "",
        "7581AB|11|A|2",
    ),
    "ambiguous-toevoeging": (
        ("7581AB", "5", None, None, None, None),
        UNMATCHED,
        AMBIGUOUS_TOEVOEGING,
        None,
    ),
    "ambiguous-letter": (
        ("7581AB", "3", None, None, None, None),
        UNMATCHED,
        AMBIGUOUS_TOEVOEGING,
        None,
    ),
    "toevoeging-register-lacks": (
        ("7581AB", "1-2", None, None, None, None),
        UNMATCHED,
        UNKNOWN_ADDRESS,
        None,
    ),
    "letter-register-lacks": (
        ("7581AB", "1a", None, None, None, None),
        UNMATCHED,
        UNKNOWN_ADDRESS,
        None,
    ),
    "unknown-number": (
        ("7581AB", "99", None, None, None, None),
        UNMATCHED,
        UNKNOWN_ADDRESS,
        None,
    ),
    "unknown-pc6-in-known-pc4": (
        ("7581ZZ", "1", None, None, None, None),
        UNMATCHED,
        UNKNOWN_ADDRESS,
        None,
    ),
    "outside": (
        ("7521AA", "1", None, None, None, None),
        UNMATCHED,
        OUTSIDE_REGISTER,
        None,
    ),
    "outside-street-elsewhere": (
        ("7521AA", "1", None, None, "Hengelosestraat", "Enschede"),
        UNMATCHED,
        OUTSIDE_REGISTER,
        None,
    ),
    "invalid-postcode": (
        ("75811AB", "1", None, None, None, None),
        UNMATCHED,
        INVALID_POSTCODE,
        None,
    ),
    "invalid-huisnummer": (
        ("7581AB", "0", None, None, None, None),
        UNMATCHED,
        INVALID_HUISNUMMER,
        None,
    ),
    "invalid-huisletter": (
        ("7581AB", "1", "AB", None, None, None),
        UNMATCHED,
        INVALID_HUISLETTER,
        None,
    ),
    "invalid-toevoeging": (
        ("7581AB", "1", None, "ABCDE", None, None),
        UNMATCHED,
        INVALID_TOEVOEGING,
        None,
    ),
    "invalid-postcode-and-huisnummer": (
        (None, "abc", None, None, "Kerkstraat", "Losser"),
        UNMATCHED,
        INVALID_POSTCODE,
        None,
    ),
    "fuzzy-street-typo": (
        (None, "2", None, None, "Kerkstrat", "Losser"),
        FUZZY,
        "",
        "7581AB|2||",
    ),
    "fuzzy-woonplaats-case": (
        ("", "4", None, None, "dorpstraat", "DE LUTTE"),
        FUZZY,
        "",
        "7587AA|4||",
    ),
    "fuzzy-woonplaats-typo": (
        (None, "2", None, None, "Kerkstraat", "Loser"),
        FUZZY,
        "",
        "7581AB|2||",
    ),
    "fuzzy-unique-toevoeging": (
        ("7581", "7", None, None, "kerkstraat", "losser"),
        FUZZY,
        "",
        "7581AB|7||HS",
    ),
    "fuzzy-letter-on-street": (
        (None, "6b", None, None, "Dorpstraat", "De Lutte"),
        FUZZY,
        "",
        "7587AA|6|B|",
    ),
    "fuzzy-unknown-pc6": (
        ("7581ZZ", "10", None, None, "Oude Kerkstrat", "Losser"),
        FUZZY,
        "",
        "7581AC|10||",
    ),
    "fuzzy-ambiguous-on-street": (
        (None, "5", None, None, "Kerkstraat", "Losser"),
        UNMATCHED,
        AMBIGUOUS_TOEVOEGING,
        None,
    ),
    "fuzzy-rejects-longer-street": (
        (None, "10", None, None, "Kerkstraat", "Losser"),
        UNMATCHED,
        UNKNOWN_ADDRESS,
        None,
    ),
    "fuzzy-rejects-street-containing-it": (
        (None, "1", None, None, "Postweg", "De Lutte"),
        UNMATCHED,
        NO_STREET_MATCH,
        None,
    ),
    "fuzzy-rejects-other-street": (
        (None, "1", None, None, "Kerkweg", "Losser"),
        UNMATCHED,
        NO_STREET_MATCH,
        None,
    ),
    "fuzzy-rejects-street-of-other-woonplaats": (
        (None, "4", None, None, "Dorpstraat", "Losser"),
        UNMATCHED,
        NO_STREET_MATCH,
        None,
    ),
    "fuzzy-rejects-unknown-woonplaats": (
        (None, "1", None, None, "Kerkstraat", "Oldenzaal"),
        UNMATCHED,
        NO_STREET_MATCH,
        None,
    ),
}


def _registrations(rows: list[tuple[object, ...]], ids: list[str]) -> pd.DataFrame:
    """Raw registrations as a web form or CSV would give them."""
    columns = [
        "postcode",
        "huisnummer",
        "huisletter",
        "huisnummertoevoeging",
        "openbare_ruimte",
        "woonplaats",
    ]
    frame = pd.DataFrame(rows, columns=columns, dtype=object)
    frame.insert(0, "registration_id", ids)
    return frame


@pytest.fixture(scope="module")
def all_cases(geocoder: RegisterGeocoder) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every case of CASES geocoded in one call."""
    registrations = _registrations([case[0] for case in CASES.values()], list(CASES))
    return registrations, geocoder.geocode(registrations)


@pytest.mark.parametrize("name", list(CASES))
def test_case(name: str, all_cases: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    _, result = all_cases
    _, quality, reason, key = CASES[name]
    row = result.set_index("registration_id").loc[name]

    assert row["match_quality"] == quality
    assert row["unmatched_reason"] == reason
    if key is None:
        assert row["address_index"] == -1
        assert pd.isna(row["address_key"]) and np.isnan(row["x"])
    else:
        assert row["address_key"] == key


@pytest.mark.parametrize("name", list(CASES))
def test_case_alone_gives_the_same_answer(
    name: str, geocoder: RegisterGeocoder, all_cases: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    _, together = all_cases
    alone = geocoder.geocode(_registrations([CASES[name][0]], [name]))

    expected = together.set_index("registration_id").loc[[name]]
    pd.testing.assert_frame_equal(
        alone.set_index("registration_id"), expected, check_index_type=False
    )


def test_output_invariants(
    register: pd.DataFrame, all_cases: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    registrations, result = all_cases
    matched = result["address_index"].to_numpy() >= 0

    assert result.columns.tolist() == list(OUTPUT_COLUMNS)
    assert result.index.equals(registrations.index)
    assert (
        result["registration_id"].tolist() == registrations["registration_id"].tolist()
    )
    assert set(result["match_quality"]) <= set(MATCH_QUALITIES)
    assert set(result["unmatched_reason"]) <= {"", *UNMATCHED_REASONS}
    assert ((result["match_quality"] == UNMATCHED).to_numpy() == ~matched).all()
    assert ((result["unmatched_reason"] == "").to_numpy() == matched).all()
    assert (np.isnan(result["x"].to_numpy()) == ~matched).all()

    # matched fields are the register's fields at address_index
    picked = register.iloc[result["address_index"].to_numpy()[matched]]
    assert result.loc[matched, "address_key"].tolist() == address_keys(picked).tolist()
    assert result.loc[matched, "x"].tolist() == picked["x"].tolist()
    assert result.loc[matched, "buurtcode"].tolist() == picked["buurtcode"].tolist()
    assert result["wijkcode"].isna().all()


def test_order_ids_and_index_kept_for_shuffled_input(
    geocoder: RegisterGeocoder,
) -> None:
    rng = np.random.default_rng(7)
    names = list(rng.permutation(list(CASES)))
    registrations = _registrations([CASES[name][0] for name in names], names)
    registrations.index = pd.Index([f"r{i}" for i in rng.permutation(len(names))])
    result = geocoder.geocode(registrations)

    assert len(result) == len(registrations)
    assert result.index.equals(registrations.index)
    assert result["registration_id"].tolist() == names
    assert result["registration_id"].is_unique
    assert result["match_quality"].tolist() == [CASES[n][1] for n in names]


def test_duplicate_registrations_each_kept(geocoder: RegisterGeocoder) -> None:
    fields = CASES["exact"][0]
    registrations = _registrations([fields, fields, fields], ["a", "a", "b"])
    result = geocoder.geocode(registrations.set_axis([5, 5, 6]))

    assert result["registration_id"].tolist() == ["a", "a", "b"]
    assert result.index.tolist() == [5, 5, 6]
    assert (result["match_quality"] == EXACT).all()


def test_ten_thousand_generated_registrations_match_exactly() -> None:
    rng = np.random.default_rng(20240101)
    n = 10_000
    postcodes = [f"75{d:02d}{a}{b}" for d in range(80, 90) for a in "AB" for b in "CD"]
    register = pd.DataFrame(
        {
            "postcode": rng.choice(postcodes, n),
            "huisnummer": rng.integers(1, 400, n),
            "huisletter": rng.choice(["", "", "", "A", "B"], n),
            "huisnummertoevoeging": rng.choice(["", "", "", "1", "2", "HS"], n),
            "openbare_ruimte": "Straat",
            "woonplaats": "Losser",
            "x": rng.uniform(260_000, 270_000, n),
            "y": rng.uniform(471_000, 489_000, n),
        }
    )
    fields = list(register.columns[:4])
    register = register.drop_duplicates(fields).reset_index(drop=True)

    # raw spellings: lower-case postcode with a space, letter and addition inside
    order = rng.permutation(len(register))
    source = register.iloc[order]
    huisnummer = source["huisnummer"].astype(str) + source["huisletter"].str.lower()
    addition = source["huisnummertoevoeging"]
    huisnummer = huisnummer.where(addition.eq(""), huisnummer + "-" + addition)
    registrations = pd.DataFrame(
        {
            "registration_id": [f"id{i}" for i in range(len(source))],
            "postcode": (source["postcode"].str[:4] + " " + source["postcode"].str[4:])
            .str.lower()
            .to_numpy(),
            "huisnummer": huisnummer.to_numpy(),
        }
    )
    result = RegisterGeocoder(register).geocode(registrations)

    assert (result["match_quality"] == EXACT).all()
    assert (result["address_index"].to_numpy() == order).all()
    assert result["address_key"].tolist() == address_keys(source[fields]).tolist()
    assert (
        result["registration_id"].tolist() == registrations["registration_id"].tolist()
    )


def test_tied_streets_are_rejected() -> None:
    register = pd.DataFrame(
        {
            "postcode": ["7581AA", "7581AB"],
            "huisnummer": [1, 1],
            "openbare_ruimte": ["Hoofdstraat", "Hooftstraat"],
            "woonplaats": "Losser",
            "x": [1.0, 2.0],
            "y": [1.0, 2.0],
        }
    )
    registrations = _registrations(
        [(None, "1", None, None, "Hoofstraat", "Losser")], ["t"]
    )
    result = RegisterGeocoder(register).geocode(registrations)

    assert result["unmatched_reason"].tolist() == [NO_STREET_MATCH]


def test_logs_counts_but_no_address(
    geocoder: RegisterGeocoder,
    all_cases: tuple[pd.DataFrame, pd.DataFrame],
    caplog: pytest.LogCaptureFixture,
) -> None:
    registrations, result = all_cases
    with caplog.at_level(logging.INFO, logger="partition"):
        geocoder.geocode(registrations)
    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]

    quality = result["match_quality"].value_counts()
    matched = len(result) - quality[UNMATCHED]
    expected = (
        f"geocoded {matched} of {len(result)} registrations in ",
        f"(exact {quality[EXACT]}, fallback {quality[TOEVOEGING_UNIQUE]}, "
        f"fuzzy {quality[FUZZY]}, unmatched {quality[UNMATCHED]})",
    )
    assert any(m.startswith(expected[0]) and m.endswith(expected[1]) for m in infos)
    assert len(warnings) == 1
    assert f"{AMBIGUOUS_TOEVOEGING} 3" in warnings[0]
    for text in ("Kerkstra", "Losser", "Lutte", "7581AB", "7581 ab"):
        assert all(text not in message for message in infos + warnings)


def test_no_warning_when_everything_matches(
    geocoder: RegisterGeocoder, caplog: pytest.LogCaptureFixture
) -> None:
    registrations = _registrations([CASES["exact"][0]], ["a"])
    with caplog.at_level(logging.INFO, logger="partition"):
        geocoder.geocode(registrations)

    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_empty_registrations(geocoder: RegisterGeocoder) -> None:
    result = geocoder.geocode(_registrations([], []))

    assert result.empty
    assert result.columns.tolist() == list(OUTPUT_COLUMNS)


def test_minimal_registration_columns(geocoder: RegisterGeocoder) -> None:
    registrations = pd.DataFrame(
        {"registration_id": [1, 2], "postcode": ["7581AB", ""], "huisnummer": [1, 2]}
    )
    result = geocoder.geocode(registrations)

    assert result["registration_id"].tolist() == [1, 2]
    assert result["unmatched_reason"].tolist() == ["", INVALID_POSTCODE]


def test_missing_registration_column_raises(geocoder: RegisterGeocoder) -> None:
    registrations = pd.DataFrame({"postcode": ["7581AB"], "huisnummer": [1]})
    with pytest.raises(BuurtgroepenError, match="`registration_id`"):
        geocoder.geocode(registrations)


def test_register_problems_raise(register: pd.DataFrame) -> None:
    with pytest.raises(BuurtgroepenError, match="`x`"):
        RegisterGeocoder(register.drop(columns="x"))

    broken = register.copy()
    broken.loc[3, "postcode"] = "7581 SS"
    with pytest.raises(AddressError, match=r"^`register` row 3: `postcode`"):
        RegisterGeocoder(broken)

    broken = register.copy()
    broken.loc[2, "y"] = np.nan
    with pytest.raises(BuurtgroepenError, match="1 addresses without finite"):
        RegisterGeocoder(broken)


def test_register_duplicates_use_the_first(
    register: pd.DataFrame, caplog: pytest.LogCaptureFixture
) -> None:
    doubled = pd.concat([register, register.iloc[[0]]], ignore_index=True)
    with caplog.at_level(logging.WARNING, logger="partition"):
        geocoder = RegisterGeocoder(doubled)
    result = geocoder.geocode(_registrations([CASES["exact"][0]], ["a"]))

    assert "1 rows that repeat an address" in caplog.text
    assert result["address_index"].tolist() == [0]
    assert result["match_quality"].tolist() == [EXACT]


def test_register_as_point_geodataframe(register: pd.DataFrame) -> None:
    points = gpd.points_from_xy(register["x"], register["y"])
    frame = gpd.GeoDataFrame(register.drop(columns=["x", "y"]), geometry=points)
    with pytest.raises(CRSError):
        RegisterGeocoder(frame)

    geocoder: Geocoder = RegisterGeocoder(frame.set_crs("EPSG:28992"))
    result = geocoder.geocode(_registrations([CASES["exact"][0]], ["a"]))
    assert result["x"].tolist() == [register["x"].iloc[0]]


def test_geocoded_to_geodataframe(
    all_cases: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    _, result = all_cases
    points = geocoded_to_geodataframe(result)
    matched = result[result["address_index"] >= 0]

    assert points.crs.to_epsg() == 28992
    assert points.index.equals(matched.index)
    assert (shapely.get_x(points.geometry.array) == matched["x"].to_numpy()).all()
    assert (shapely.get_y(points.geometry.array) == matched["y"].to_numpy()).all()
    with pytest.raises(BuurtgroepenError, match="`x`"):
        geocoded_to_geodataframe(result.drop(columns="x"))
