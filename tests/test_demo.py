"""Tests for the generated demo municipality (partition.demo)."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from partition.demo import DEMO_LABEL, DemoMunicipality, make_demo_municipality
from partition.errors import BuurtgroepenError, CRSError

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
LOSSER_BUURTEN = SHARED / "losser_buurten_2024_cbs_generalised_rd.geojson"
LOSSER_WIJKEN = SHARED / "losser_wijken_2024_cbs_generalised_rd.geojson"
needs_losser = pytest.mark.skipif(
    not (LOSSER_BUURTEN.exists() and LOSSER_WIJKEN.exists()),
    reason=f"real Losser boundaries not found in {SHARED}",
)

KEY = ["postcode", "huisnummer", "huisletter", "huisnummertoevoeging"]
ADDRESS_COLUMNS = [
    *KEY,
    "openbare_ruimte",
    "woonplaats",
    "nummeraanduiding_id",
    "buurtcode",
    "wijkcode",
    "gebruiksdoel",
    "x",
    "y",
    "geometry",
]
REGISTRATION_COLUMNS = ["registration_id", *KEY]
POSTCODE = re.compile(r"[1-9][0-9]{3}(?!SA|SD|SS)[A-Z]{2}")


@pytest.fixture(scope="module")
def demo() -> DemoMunicipality:
    """The default demo: 10,000 addresses, 460 registrations, seed 0."""
    return make_demo_municipality()


@pytest.fixture(scope="module")
def losser() -> DemoMunicipality:
    """Generated addresses inside the real CBS buurten and wijken of Losser."""
    if not (LOSSER_BUURTEN.exists() and LOSSER_WIJKEN.exists()):
        pytest.skip(f"real Losser boundaries not found in {SHARED}")
    return make_demo_municipality(
        seed=1,
        buurten=gpd.read_file(LOSSER_BUURTEN),
        wijken=gpd.read_file(LOSSER_WIJKEN),
    )


def keys(frame: pd.DataFrame) -> pd.Series:
    """``postcode|huisnummer|huisletter|toevoeging`` of clean address columns."""
    return (
        frame["postcode"]
        + "|"
        + frame["huisnummer"].astype(str)
        + "|"
        + frame["huisletter"]
        + "|"
        + frame["huisnummertoevoeging"]
    )


def typed_keys(registrations: pd.DataFrame) -> pd.Series:
    """Keys of registrations after undoing the residents' typing habits."""
    postcode = registrations["postcode"].str.upper().str.replace(" ", "")
    number = registrations["huisnummer"].str.extract(r"^(\d+)([A-Za-z]?)$")
    assert number[0].notna().all(), "a generated house number has an unknown shape"
    letter = registrations["huisletter"].str.upper()
    letter = letter.where(letter != "", number[1].str.upper())
    clean = pd.DataFrame(
        {
            "postcode": postcode,
            "huisnummer": number[0].astype(int),
            "huisletter": letter,
            "huisnummertoevoeging": registrations["huisnummertoevoeging"].str.upper(),
        }
    )
    return keys(clean)


def assert_valid_addresses(demo: DemoMunicipality, n_addresses: int) -> None:
    """Invariants every generated address register must satisfy."""
    addresses = demo.addresses
    assert len(addresses) == n_addresses
    assert list(addresses.columns) == ADDRESS_COLUMNS
    assert addresses.crs.to_epsg() == 28992
    assert not addresses.duplicated(KEY).any()
    assert addresses["nummeraanduiding_id"].is_unique
    assert addresses["nummeraanduiding_id"].str.fullmatch(r"999920\d{10}").all()
    assert addresses["postcode"].str.fullmatch(POSTCODE).all()
    assert addresses["huisnummer"].between(1, 99_999).all()
    assert addresses["huisletter"].str.fullmatch(r"[A-Z]?").all()
    assert addresses["huisnummertoevoeging"].str.fullmatch(r"[A-Z0-9]{0,4}").all()
    assert (addresses["wijkcode"] == "WK" + addresses["buurtcode"].str[2:8]).all()
    np.testing.assert_array_equal(addresses["x"], addresses.geometry.x)
    np.testing.assert_array_equal(addresses["y"], addresses.geometry.y)

    # every address lies in the polygon of its own buurt
    polygons = demo.buurten.set_index("buurtcode").geometry
    own = polygons.loc[addresses["buurtcode"]].to_numpy()
    assert shapely.covers(own, addresses.geometry.to_numpy()).all()


# --- determinism and shape -----------------------------------------------------


def test_same_seed_gives_identical_frames() -> None:
    first = make_demo_municipality(seed=7, n_addresses=2000, n_registrations=100)
    again = make_demo_municipality(seed=7, n_addresses=2000, n_registrations=100)
    pd.testing.assert_frame_equal(first.addresses, again.addresses)
    pd.testing.assert_frame_equal(first.registrations, again.registrations)
    pd.testing.assert_frame_equal(first.buurten, again.buurten)
    pd.testing.assert_frame_equal(first.wijken, again.wijken)


def test_other_seed_gives_other_addresses_and_registrations() -> None:
    first = make_demo_municipality(seed=7, n_addresses=2000, n_registrations=100)
    other = make_demo_municipality(seed=8, n_addresses=2000, n_registrations=100)
    assert not first.addresses[["x", "y"]].equals(other.addresses[["x", "y"]])
    shared = set(keys(first.addresses)) & set(keys(other.addresses))
    assert len(shared) < 0.9 * len(first.addresses)
    assert not first.registrations.equals(other.registrations)


def test_counts_are_exactly_the_requested_ones(demo: DemoMunicipality) -> None:
    assert_valid_addresses(demo, 10_000)
    assert len(demo.registrations) == 460
    assert list(demo.registrations.columns) == REGISTRATION_COLUMNS


def test_every_frame_is_labelled_as_generated(demo: DemoMunicipality) -> None:
    frames = (demo.addresses, demo.registrations, demo.buurten, demo.wijken)
    assert all(frame.attrs["source"] == DEMO_LABEL for frame in frames)
    assert "gegenereerd" in demo.name
    assert demo.gemeentecode == "GM9999"
    assert "generated" in (make_demo_municipality.__doc__ or "")


def test_logs_one_info_line_with_counts_and_no_addresses(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="partition.demo"):
        result = make_demo_municipality(seed=2, n_addresses=500, n_registrations=20)
    lines = [r.getMessage() for r in caplog.records if r.name == "partition.demo"]
    assert len(lines) == 1
    assert "500 addresses" in lines[0] and "20 registrations" in lines[0]
    assert not any(pc in lines[0] for pc in result.addresses["postcode"])


# --- the fictional municipality ------------------------------------------------


def test_buurten_tile_the_municipality_without_gaps(demo: DemoMunicipality) -> None:
    buurten = demo.buurten.geometry.to_numpy()
    wijken = demo.wijken.geometry.to_numpy()
    municipality = shapely.union_all(wijken)

    # no overlaps: summed areas equal the area of the union
    union = shapely.union_all(buurten)
    assert shapely.area(buurten).sum() == pytest.approx(union.area, rel=1e-6)
    assert shapely.area(wijken).sum() == pytest.approx(municipality.area, rel=1e-6)

    # no gaps: one polygon without holes, the same as the municipality
    assert union.geom_type == "Polygon" and len(union.interiors) == 0
    assert union.area == pytest.approx(municipality.area, rel=1e-6)
    assert union.symmetric_difference(municipality).area < 1e-6 * municipality.area
    assert 50e6 < municipality.area < 200e6  # m2: a rural Dutch municipality


def test_buurt_codes_follow_cbs_style(demo: DemoMunicipality) -> None:
    buurten = demo.buurten
    assert buurten["buurtcode"].str.fullmatch(r"BU9999\d{4}").all()
    assert demo.wijken["wijkcode"].str.fullmatch(r"WK9999\d{2}").all()
    assert (buurten["wijkcode"] == "WK" + buurten["buurtcode"].str[2:8]).all()
    assert set(buurten["wijkcode"]) == set(demo.wijken["wijkcode"])

    # each buurt lies in its wijk; each wijk has 2-4 kern buurten and countryside
    wijk = demo.wijken.set_index("wijkcode").geometry.loc[buurten["wijkcode"]]
    outside = shapely.area(shapely.difference(buurten.geometry, wijk.to_numpy()))
    assert (outside < 1e-3).all()
    rural = buurten["buurtnaam"].str.startswith("Verspreide huizen ")
    assert (buurten[rural].groupby("wijkcode").size() == 1).all()
    assert buurten[~rural].groupby("wijkcode").size().between(2, 4).all()


def test_villages_differ_in_size_and_lie_km_apart(demo: DemoMunicipality) -> None:
    addresses = demo.addresses
    shares = addresses["woonplaats"].value_counts(normalize=True)
    assert len(shares) >= 3
    assert shares.iloc[0] > 1.5 * shares.iloc[1]
    assert shares.iloc[1] > 1.5 * shares.iloc[2]

    # scattered houses in the countryside: about 8 %
    in_rural = addresses["buurtcode"].isin(
        demo.buurten.loc[
            demo.buurten["buurtnaam"].str.startswith("Verspreide huizen"), "buurtcode"
        ]
    )
    assert 0.04 < in_rural.mean() < 0.12

    # village cores (medians of the core addresses) at least 3 km apart
    cores = addresses[~in_rural].groupby("woonplaats")[["x", "y"]].median().to_numpy()
    gaps = np.hypot(*(cores[:, None, :] - cores[None, :, :]).transpose(2, 0, 1))
    assert gaps[np.triu_indices(len(cores), 1)].min() > 3000
    assert np.allclose(cores.mean(axis=0), (251_000, 470_000), atol=5000)


def test_postcodes_cover_one_side_of_one_street(demo: DemoMunicipality) -> None:
    addresses = demo.addresses
    by_pc6 = addresses.groupby("postcode")
    assert (by_pc6["openbare_ruimte"].nunique() == 1).all()
    assert (by_pc6["huisnummer"].agg(lambda s: s.mod(2).nunique()) == 1).all()
    assert 8 <= by_pc6.size().median() <= 25
    assert by_pc6.size().quantile(0.9) <= 30  # blocks make a few larger

    # one PC4 per woonplaats, two for the largest
    pc4 = addresses.assign(pc4=addresses["postcode"].str[:4])
    assert (pc4.groupby("pc4")["woonplaats"].nunique() == 1).all()
    per_place = pc4.groupby("woonplaats")["pc4"].nunique()
    largest = addresses["woonplaats"].value_counts().index[0]
    assert per_place[largest] == 2
    assert (per_place.drop(largest) == 1).all()


def test_streets_have_odd_and_even_sides_rising(demo: DemoMunicipality) -> None:
    addresses = demo.addresses
    street = addresses.groupby(["woonplaats", "openbare_ruimte"])
    assert street.ngroups > 100
    # both sides appear on most streets and numbers start low
    sides = street["huisnummer"].agg(lambda s: s.mod(2).nunique())
    assert (sides == 2).mean() > 0.8
    assert (street["huisnummer"].min() <= 2).all()

    # an apartment block: several addresses at one point, told apart by suffix
    shared = addresses.groupby(["x", "y"]).size()
    assert shared.max() >= 4
    assert (addresses["huisletter"] != "").any()
    assert (addresses["huisnummertoevoeging"] != "").any()


def test_mostly_residential(demo: DemoMunicipality) -> None:
    purpose = demo.addresses["gebruiksdoel"].value_counts(normalize=True)
    assert 0.9 < purpose["woonfunctie"] < 0.99
    assert {"winkelfunctie", "kantoorfunctie"} <= set(purpose.index)


# --- registrations -------------------------------------------------------------


def test_registrations_reference_existing_addresses(demo: DemoMunicipality) -> None:
    registrations = demo.registrations
    assert registrations["registration_id"].is_unique
    assert registrations["registration_id"].str.fullmatch(r"R\d{5}").all()
    typed = typed_keys(registrations)
    matched = typed.isin(set(keys(demo.addresses)))

    # only the deliberate ~1 % fail, and they fail on the number, not the postcode
    assert 0.005 <= 1 - matched.mean() <= 0.02
    unmatched_pc = typed[~matched].str.split("|").str[0]
    assert unmatched_pc.isin(set(demo.addresses["postcode"])).all()

    # registered addresses are homes; a few hold 2-3 household members
    homes = demo.addresses.loc[demo.addresses["gebruiksdoel"] == "woonfunctie"]
    assert typed[matched].isin(set(keys(homes))).all()
    members = typed[matched].value_counts()
    assert 1 <= (members > 1).sum() <= 0.02 * len(members)
    assert members.max() <= 3


def test_registrations_are_typed_like_residents_do(demo: DemoMunicipality) -> None:
    registrations = demo.registrations
    postcode = registrations["postcode"]
    sloppy = ~postcode.str.fullmatch(POSTCODE)
    assert 0.02 < sloppy.mean() < 0.1
    assert postcode.str.upper().str.replace(" ", "").str.fullmatch(POSTCODE).all()
    assert registrations["huisnummer"].str.fullmatch(r"\d+[a-z]").any()
    # no phone numbers or other personal fields
    assert not any("tel" in c or "phone" in c for c in registrations.columns)


def test_registrations_are_spread_unevenly(demo: DemoMunicipality) -> None:
    addresses = demo.addresses.assign(key=keys(demo.addresses))
    registered = addresses["key"].isin(set(typed_keys(demo.registrations)))
    coverage = registered.groupby(
        [addresses["woonplaats"], addresses["openbare_ruimte"]]
    ).mean()
    assert (coverage == 0).mean() > 0.3
    assert coverage.max() >= 0.4
    # also streets in between: covered and under-covered
    assert ((coverage > 0) & (coverage < 0.1)).sum() >= 5
    assert ((coverage >= 0.1) & (coverage < 0.4)).sum() >= 3


def test_no_registrations_gives_an_empty_frame() -> None:
    result = make_demo_municipality(n_addresses=300, n_registrations=0)
    assert result.registrations.empty
    assert list(result.registrations.columns) == REGISTRATION_COLUMNS


# --- properties over seeds and sizes -------------------------------------------


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_addresses=st.integers(1, 3000),
    fraction=st.floats(0.0, 0.4),
)
def test_invariants_hold_for_any_seed_and_size(
    seed: int, n_addresses: int, fraction: float
) -> None:
    n_registrations = int(fraction * n_addresses)
    result = make_demo_municipality(
        seed=seed, n_addresses=n_addresses, n_registrations=n_registrations
    )
    assert_valid_addresses(result, n_addresses)
    assert len(result.registrations) == n_registrations
    assert result.registrations["registration_id"].is_unique


# --- real boundaries -------------------------------------------------------------


@needs_losser
def test_losser_addresses_lie_inside_the_given_buurten(
    losser: DemoMunicipality,
) -> None:
    assert_valid_addresses(losser, 10_000)
    given_buurten = gpd.read_file(LOSSER_BUURTEN).to_crs(28992)
    polygons = given_buurten.set_index("statcode").geometry
    own = polygons.loc[losser.addresses["buurtcode"]].to_numpy()
    assert shapely.covers(own, losser.addresses.geometry.to_numpy()).all()
    assert set(losser.buurten["buurtcode"]) == set(given_buurten["statcode"])
    assert losser.gemeentecode == "GM0168"
    assert losser.buurten.crs.to_epsg() == 28992
    assert all(f.attrs["source"] == DEMO_LABEL for f in (losser.buurten, losser.wijken))


@needs_losser
def test_losser_woonplaatsen_and_fictional_postcodes(losser: DemoMunicipality) -> None:
    woonplaatsen = set(losser.addresses["woonplaats"])
    assert {"Losser", "Overdinkel", "De Lutte", "Glane", "Beuningen"} <= woonplaatsen
    # the real PC4s of Losser are 7581-7588; the demo must not use them
    assert not losser.addresses["postcode"].str[:4].between("7581", "7588").any()
    per_place = losser.addresses.groupby("woonplaats")["postcode"].agg(
        lambda s: s.str[:4].nunique()
    )
    assert per_place["Losser"] == 2


@needs_losser
def test_losser_countryside_is_sparser_than_cores(losser: DemoMunicipality) -> None:
    buurten = losser.buurten.set_index("buurtcode")
    count = (
        losser.addresses["buurtcode"]
        .value_counts()
        .reindex(buurten.index, fill_value=0)
    )
    density = count / (buurten.area / 1e6)
    rural = buurten["buurtnaam"].str.startswith("Verspreide huizen")
    works = buurten["buurtnaam"].str.startswith("Bedrijfsterrein")
    assert density[~rural & ~works].min() > 10 * density[rural].max()
    assert 0 < count[works].sum() < 0.03 * count.sum()
    business = losser.addresses["buurtcode"].isin(buurten.index[works])
    assert (
        losser.addresses.loc[business, "gebruiksdoel"] != "woonfunctie"
    ).mean() > 0.5


@needs_losser
def test_woonplaats_from_buurt_names_without_wijken() -> None:
    buurten = gpd.read_file(LOSSER_BUURTEN)
    result = make_demo_municipality(
        n_addresses=3000, n_registrations=50, buurten=buurten
    )
    expected = {"Losser", "Overdinkel", "De Lutte", "Glane", "Beuningen"}
    assert set(result.addresses["woonplaats"]) == expected
    assert result.wijken["wijkcode"].tolist() == sorted(set(result.buurten["wijkcode"]))
    assert "Wijk 00 Losser" in set(result.wijken["wijknaam"])


def test_real_mode_accepts_any_crs_and_documents_the_name_rule() -> None:
    """Synthetic squares in WGS84 with names that exercise the woonplaats rule."""
    names = {
        "Noordveen-West": "Noordveen",
        "Noordveen-Oost": "Noordveen",
        "Verspreide huizen Noordveen": "Noordveen",
        "Ooster Es kern": "Ooster Es",
        "Ooster Es-beekhoek": "Ooster Es",
        "Bedrijfsterrein Ooster Es": "Ooster Es",
        "Nieuw-Kamp": "Nieuw-Kamp",
    }
    x0, y0 = 250_000, 470_000
    squares = [
        shapely.box(x0 + x, y0, x0 + x + 1500, y0 + 1500)
        for x in range(0, 10_500, 1500)
    ]
    frame = gpd.GeoDataFrame(
        {
            "buurtcode": [f"BU09990{i}01" for i in range(len(names))],
            "buurtnaam": list(names),
        },
        geometry=squares,
        crs=28992,
    ).to_crs(4326)
    result = make_demo_municipality(n_addresses=1500, n_registrations=30, buurten=frame)

    assert result.buurten.crs.to_epsg() == 28992
    assert_valid_addresses(result, 1500)
    got = result.addresses.merge(result.buurten[["buurtcode", "buurtnaam"]])
    pairs = got.groupby("buurtnaam")["woonplaats"].unique()
    assert {name: list(place) for name, place in pairs.items()} == {
        name: [place] for name, place in names.items()
    }


def test_buurten_too_small_for_a_street_get_no_addresses() -> None:
    """A 30 m square core and a zero-area countryside leave all to the big buurt."""
    frame = gpd.GeoDataFrame(
        {
            "statcode": ["BU09990001", "BU09990009", "BU09990002"],
            "statnaam": ["Aa kern", "Verspreide huizen Aa", "Aa-Noord"],
        },
        geometry=[
            shapely.box(250_000, 470_000, 250_030, 470_030),
            shapely.Polygon(
                [(250_000, 469_000), (250_001, 469_000), (250_002, 469_000)]
            ),
            shapely.box(251_000, 470_000, 252_000, 471_000),
        ],
        crs=28992,
    )
    result = make_demo_municipality(n_addresses=500, n_registrations=10, buurten=frame)
    assert result.addresses["buurtcode"].unique().tolist() == ["BU09990002"]
    assert_valid_addresses(result, 500)


# --- errors --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"seed": -1}, "`seed`"),
        ({"seed": 1.5}, "`seed`"),
        ({"n_addresses": 0}, "`n_addresses`"),
        ({"n_addresses": 3_000_000}, "`n_addresses`"),
        ({"n_addresses": 100}, "`n_registrations`"),
        ({"n_registrations": -1}, "`n_registrations`"),
        ({"wijken": gpd.GeoDataFrame(geometry=[], crs=28992)}, "`buurten`"),
    ],
)
def test_bad_parameters_are_named(kwargs: dict, parameter: str) -> None:
    with pytest.raises(BuurtgroepenError, match=re.escape(parameter)):
        make_demo_municipality(**kwargs)


def test_buurten_need_a_crs_and_cbs_columns() -> None:
    square = shapely.box(250_000, 470_000, 252_000, 472_000)
    no_crs = gpd.GeoDataFrame(
        {"statcode": ["BU09990001"], "statnaam": ["X"]}, geometry=[square]
    )
    with pytest.raises(CRSError, match="`buurten` has no CRS"):
        make_demo_municipality(buurten=no_crs)
    no_name = gpd.GeoDataFrame(
        {"statcode": ["BU09990001"]}, geometry=[square], crs=28992
    )
    with pytest.raises(BuurtgroepenError, match="`buurtnaam` or `statnaam`"):
        make_demo_municipality(buurten=no_name)
    bad_code = no_name.assign(statnaam="X", statcode="0001")
    with pytest.raises(BuurtgroepenError, match="1 codes"):
        make_demo_municipality(buurten=bad_code)
