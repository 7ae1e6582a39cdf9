"""Tests of coverage per street, buurt and wijk, the gaps and the small-count mask."""

from __future__ import annotations

import json
import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely import box

from partition import io
from partition.coverage import (
    BUURT_COLUMNS,
    COVERAGE_CLASSES,
    POSTCODE_COLUMNS,
    STREET_COLUMNS,
    CoverageThresholds,
    address_coverage,
    area_coverage,
    buurt_coverage,
    classify_coverage,
    coverage_report,
    mask_small_counts,
    street_coverage,
    territory_postcodes,
)
from partition.demo import make_demo_municipality
from partition.errors import BuurtgroepenError, InputFileError
from partition.gaps import GAP_GRID_M, coverage_gaps
from partition.geocode import RegisterGeocoder
from partition.recruit import RECRUITMENT_COLUMNS
from partition.register import prepare_register
from service import coverage_job, jobs

COLUMNS = ["buurtnaam", "woonplaats", "addresses", "registered_addresses", "coverage"]


@pytest.fixture
def addresses() -> pd.DataFrame:
    """Nine register rows: B1 all dwellings, B2 two non-residential, none in B3."""
    return pd.DataFrame(
        {
            "address_key": [
                "7581AA|1||",
                "7581AA|2||",
                "7581AA|3|A|",
                "7581AA|4||2",
                "7587BB|10||",
                "7587BB|11||",
                "7587BB|12||",
                "7587BB|13||",
                "7587BB|14||",
            ],
            "buurtcode": ["BU01680001"] * 4 + ["BU01680301"] * 5,
            "woonplaats": ["Losser", "Losser", "Glane", "Losser"] + ["De Lutte"] * 5,
            "gebruiksdoel": [
                "woonfunctie",
                "woonfunctie",
                "woonfunctie",
                "woonfunctie",
                "Woonfunctie,winkelfunctie",  # mixed use counts as a dwelling
                "winkelfunctie",  # a shop: not residential
                "bijeenkomstfunctie",  # a community hall: not residential
                None,  # a ligplaats has no gebruiksdoel: kept
                "woonfunctie",
            ],
        }
    )


@pytest.fixture
def registered() -> pd.Series:
    """Registration keys with a duplicate, a shop and an unknown address."""
    return pd.Series(
        [
            "7581AA|1||",
            "7581AA|1||",  # second resident at the same address
            "7581AA|3|A|",
            "7587BB|11||",  # the shop: ignored
            "7587BB|13||",
            "9999ZZ|1||",  # not in the register: ignored
        ]
    )


@pytest.fixture
def buurten() -> gpd.GeoDataFrame:
    """Three buurt squares in RD New; the third has no addresses."""
    return gpd.GeoDataFrame(
        {
            "buurtcode": ["BU01680001", "BU01680301", "BU01680401"],
            "buurtnaam": ["Losser-West", "De Lutte kern", "Beuningen kern"],
        },
        geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1), box(2, 0, 3, 1)],
        crs="EPSG:28992",
    )


def test_counts_match_the_hand_checked_table(addresses, registered, buurten):
    result = buurt_coverage(addresses, registered, buurten)

    expected = pd.DataFrame(
        {
            "buurtnaam": ["Losser-West", "De Lutte kern", "Beuningen kern"],
            "woonplaats": ["Losser", "De Lutte", np.nan],
            "addresses": [4, 3, 0],
            "registered_addresses": [2, 1, 0],
            "coverage": [0.5, 1 / 3, np.nan],
        },
        index=pd.Index(["BU01680001", "BU01680301", "BU01680401"], name="buurtcode"),
    ).astype({"buurtnaam": "str", "woonplaats": "str"})
    pd.testing.assert_frame_equal(result, expected)


def test_totals_are_conserved(addresses, registered, buurten):
    result = buurt_coverage(addresses, registered, buurten)

    residential = addresses["gebruiksdoel"].fillna("woonfunctie").str.lower()
    residential = residential.str.contains("woonfunctie")
    assert result["addresses"].sum() == residential.sum() == 7
    assert (result["registered_addresses"] <= result["addresses"]).all()


def test_without_buurten_only_buurten_with_addresses_appear(addresses, registered):
    result = buurt_coverage(addresses, pd.Index(registered))

    assert list(result.index) == ["BU01680001", "BU01680301"]
    assert list(result.columns) == COLUMNS
    assert result["buurtnaam"].isna().all()
    assert result["registered_addresses"].tolist() == [2, 1]


def test_without_gebruiksdoel_every_address_counts(addresses, registered):
    result = buurt_coverage(addresses.drop(columns="gebruiksdoel"), registered)

    assert result["addresses"].tolist() == [4, 5]
    assert result["registered_addresses"].tolist() == [2, 2]


def test_empty_register_gives_every_buurt_zero(addresses, buurten):
    result = buurt_coverage(addresses.iloc[:0], pd.Series([], dtype="str"), buurten)

    assert len(result) == 3
    assert (result["addresses"] == 0).all()
    assert result["coverage"].isna().all()


def test_repeated_address_key_counts_once_with_warning(addresses, registered):
    doubled = pd.concat([addresses, addresses.iloc[[0]]], ignore_index=True)

    with pytest.warns(UserWarning, match="1 residential addresses repeat"):
        result = buurt_coverage(doubled, registered)
    assert result.loc["BU01680001", "addresses"] == 4


def test_address_without_buurtcode_is_left_out_with_warning(addresses, registered):
    addresses.loc[0, "buurtcode"] = None

    with pytest.warns(UserWarning, match="1 residential addresses have no"):
        result = buurt_coverage(addresses, registered)
    assert result.loc["BU01680001", "addresses"] == 3
    assert result.loc["BU01680001", "registered_addresses"] == 1


def test_buurtcode_missing_from_buurten_is_kept_with_warning(
    addresses, registered, buurten
):
    with pytest.warns(UserWarning, match="1 buurtcodes of `addresses`"):
        result = buurt_coverage(addresses, registered, buurten.iloc[1:])

    assert result.loc["BU01680001", "addresses"] == 4
    assert pd.isna(result.loc["BU01680001", "buurtnaam"])


@pytest.mark.parametrize("column", ["address_key", "buurtcode"])
def test_missing_column_names_it(addresses, registered, column):
    with pytest.raises(BuurtgroepenError, match=f"`addresses` lacks.*{column}"):
        buurt_coverage(addresses.drop(columns=column), registered)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 30),  # house number
            st.sampled_from(["B1", "B2", "B3"]),
            st.sampled_from(["woonfunctie", "winkelfunctie", None]),
        ),
        max_size=40,
    ),
    st.lists(st.integers(0, 40), max_size=40),
)
def test_invariants_hold_for_any_register(rows, registered_numbers):
    frame = pd.DataFrame(rows, columns=["n", "buurtcode", "gebruiksdoel"])
    frame = frame.drop_duplicates("n")
    frame["address_key"] = "7581AA|" + frame["n"].astype("str") + "||"
    frame["woonplaats"] = "Losser"
    keys = pd.Series([f"7581AA|{n}||" for n in registered_numbers], dtype="str")

    result = buurt_coverage(frame, keys)

    residential = frame[frame["gebruiksdoel"].ne("winkelfunctie")]
    assert result["addresses"].sum() == len(residential)
    expected = residential["address_key"].isin(keys).sum()
    assert result["registered_addresses"].sum() == expected
    assert result["coverage"].between(0, 1).all()
    assert result.index.is_monotonic_increasing


@pytest.mark.parametrize(
    ("value", "text"),
    [(0, "0"), (1, "<3"), (2, "<3"), (3, "3"), (17, "17"), (1250, "1250")],
)
def test_mask_small_counts_table(value, text):
    assert mask_small_counts(pd.Series([value])).tolist() == [text]


def test_mask_small_counts_keeps_index_and_marks_missing():
    values = pd.Series([4.0, np.nan, 1.0], index=["a", "b", "c"], name="n")

    result = mask_small_counts(values, threshold=5)

    assert result.tolist() == ["<5", "onbekend", "<5"]
    assert list(result.index) == ["a", "b", "c"]
    assert result.name == "n"


def test_threshold_one_masks_nothing():
    assert mask_small_counts(pd.Series([0, 1, 2]), 1).tolist() == ["0", "1", "2"]


@pytest.mark.parametrize(
    ("values", "threshold", "match"),
    [([1], 0, "`threshold` must be at least 1"), ([-1], 3, "`values` must be")],
)
def test_mask_small_counts_rejects_bad_input(values, threshold, match):
    with pytest.raises(BuurtgroepenError, match=match):
        mask_small_counts(pd.Series(values), threshold)


def test_mask_small_counts_rejects_shares():
    with pytest.raises(BuurtgroepenError, match="not shares"):
        mask_small_counts(pd.Series([0.5]))


# --------------------------------------------------------------- streets, radius

R = 25.0  # radius of the street fixture, metres


def _rows(street, place, buurt, xs, ys, numbers=None, use="woonfunctie"):
    """Register rows of one street at the given RD New offsets."""
    numbers = numbers or list(range(1, 2 * len(xs), 2))
    return [
        {
            "woonplaats": place,
            "openbare_ruimte": street,
            "buurtcode": buurt,
            "huisnummer": n,
            "x": 250_000.0 + x,
            "y": 470_000.0 + y,
            "gebruiksdoel": use,
        }
        for n, x, y in zip(numbers, xs, ys, strict=True)
    ]


@pytest.fixture
def streets_register() -> pd.DataFrame:
    """Four streets with hand-checked counts at R = 25 m (see each comment).

    - Losser, Kerkstraat: 5 houses 20 m apart, the first registered: 2 within
      25 m (0 and 20 m), so radius 2/5, coverage 1/5, "covered".
    - Losser, Molenweg: 4 houses, none registered, the first 10 m from the
      Kerkstraat registration: radius 1/4 but "blind".
    - Losser, Dorpsstraat: 10 houses 100 m apart, one registered, plus a
      registered shop: radius 1/10, coverage 1/10, "under-covered".
    - De Lutte, Kerkstraat (same name, other woonplaats): 10 houses 10 m
      apart, the first registered: 3 within 25 m, radius exactly 0.30 (the
      bound is inclusive): "covered".
    """
    rows = (
        _rows("Kerkstraat", "Losser", "BU01", [0, 20, 40, 60, 80], [0] * 5)
        + _rows("Molenweg", "Losser", "BU01", [0] * 4, [10, 100, 200, 300])
        + _rows("Dorpsstraat", "Losser", "BU01", list(range(0, 1000, 100)), [2000] * 10)
        + _rows("Dorpsstraat", "Losser", "BU01", [50], [2000], [100], "winkelfunctie")
        + _rows("Kerkstraat", "De Lutte", "BU02", list(range(0, 100, 10)), [5000] * 10)
    )
    frame = pd.DataFrame(rows)
    frame["postcode"] = np.where(frame["woonplaats"] == "Losser", "7581AA", "7587BB")
    frame.loc[frame["openbare_ruimte"] == "Dorpsstraat", "postcode"] = "7581AC"
    frame["address_key"] = (
        frame["postcode"]
        + "|"
        + frame["huisnummer"].astype("str")
        + "||"
        + frame["openbare_ruimte"].str[:1]  # keeps the two Kerkstraten apart
    )
    return frame


@pytest.fixture
def streets_registered(streets_register) -> pd.Series:
    """Registered keys: the first house of three streets, a shop, a repeat."""
    r = streets_register
    first = r.groupby(["woonplaats", "openbare_ruimte"]).head(1)
    keys = first.loc[first["openbare_ruimte"] != "Molenweg", "address_key"].tolist()
    shop = r.loc[r["gebruiksdoel"] == "winkelfunctie", "address_key"].tolist()
    return pd.Series([*keys, *shop, keys[0]])  # a second resident at the first


def test_street_table_matches_the_hand_checked_counts(
    streets_register, streets_registered
):
    covered = address_coverage(streets_register, streets_registered, radius=R)

    result = street_coverage(covered)

    expected = pd.DataFrame(
        {
            "woonplaats": ["De Lutte", "Losser", "Losser", "Losser"],
            "openbare_ruimte": ["Kerkstraat", "Dorpsstraat", "Kerkstraat", "Molenweg"],
            "buurtcode": ["BU02", "BU01", "BU01", "BU01"],
            "addresses": [10, 10, 5, 4],
            "registered_addresses": [1, 1, 1, 0],
            "coverage": [0.1, 0.1, 0.2, 0.0],
            "radius_coverage": [0.3, 0.1, 0.4, 0.25],
            "class": ["covered", "under-covered", "covered", "blind"],
        }
    ).astype({"woonplaats": "str", "openbare_ruimte": "str", "buurtcode": "str"})
    assert list(result.columns) == STREET_COLUMNS
    pd.testing.assert_frame_equal(result, expected)


def test_buurt_table_counts_the_same_addresses(streets_register, streets_registered):
    covered = address_coverage(streets_register, streets_registered, radius=R)

    buurten = area_coverage(covered, "buurt")
    streets = street_coverage(covered)

    assert list(buurten.reset_index().columns[:1]) == ["buurtcode"]
    assert buurten.loc["BU01", ["addresses", "registered_addresses"]].tolist() == [
        19,
        2,
    ]
    assert buurten.loc["BU01", "radius_coverage"] == pytest.approx(4 / 19)
    assert buurten.loc["BU01", "class"] == "under-covered"
    assert buurten["addresses"].sum() == streets["addresses"].sum() == 29
    assert buurten["woonplaats"].tolist() == ["Losser", "De Lutte"]


def test_report_with_buurt_polygons_lists_empty_buurten(
    streets_register, streets_registered
):
    areas = pd.DataFrame(
        {"buurtcode": ["BU01", "BU02", "BU03"], "buurtnaam": ["Kern", "Lutte", "Leeg"]}
    )

    report = coverage_report(
        streets_register, streets_registered, radius=R, buurten=areas
    )

    table = report.buurten.reset_index()
    assert list(table.columns) == BUURT_COLUMNS
    empty = table.set_index("buurtcode").loc["BU03"]
    assert empty["addresses"] == 0 and pd.isna(empty["class"])
    assert np.isnan(empty["radius_coverage"])
    assert report.wijken is None
    summary = report.summary()
    assert summary["addresses"] == 29 and summary["registered_addresses"] == 3
    assert summary["radius_covered_addresses"] == 2 + 1 + 1 + 3
    assert summary["streets"] == {
        "blind": 1,
        "under-covered": 1,
        "covered": 2,
        "well covered": 0,
    }


def test_registered_shop_and_unknown_keys_count_nowhere(
    streets_register, streets_registered
):
    keys = pd.concat([streets_registered, pd.Series(["9999ZZ|1||", None])])

    covered = address_coverage(streets_register, keys, radius=R)

    assert covered["registered"].sum() == 3
    assert len(covered) == 29  # the shop is not a residential address
    shop_xy = (250_050.0, 472_000.0)
    assert not ((covered["x"] == shop_xy[0]) & (covered["y"] == shop_xy[1])).any()


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 60), st.integers(0, 60), st.booleans()),
        min_size=1,
        max_size=40,
    ),
    st.integers(1, 30),
)
def test_radius_coverage_matches_brute_force_distances(points, radius):
    frame = pd.DataFrame(points, columns=["x", "y", "registered"])
    frame["address_key"] = [f"7581AA|{i + 1}||" for i in range(len(frame))]
    frame["woonplaats"], frame["openbare_ruimte"] = "Losser", "Kerkstraat"
    keys = frame.loc[frame["registered"], "address_key"]

    covered = address_coverage(frame, keys, radius=float(radius))

    # every pair distance, exact on this integer grid
    xy = frame[["x", "y"]].to_numpy(float)
    distance = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
    nearest = np.where(frame["registered"].to_numpy()[None, :], distance, np.inf)
    nearest = nearest.min(axis=1)
    np.testing.assert_allclose(covered["distance_m"], nearest)
    np.testing.assert_array_equal(covered["covered"], nearest <= radius)


@pytest.mark.parametrize(
    ("share", "registered", "addresses", "expected"),
    [
        (0.29, 1, 10, "under-covered"),
        (0.30, 1, 10, "covered"),
        (0.50, 1, 10, "covered"),
        (0.51, 1, 10, "well covered"),
        (0.90, 0, 10, "blind"),
        (np.nan, 0, 0, None),
    ],
)
def test_classes_follow_the_thresholds(share, registered, addresses, expected):
    table = pd.DataFrame(
        {
            "addresses": [addresses],
            "registered_addresses": [registered],
            "radius_coverage": [share],
            "coverage": [0.0],
        }
    )

    result = classify_coverage(table).iloc[0]

    assert (pd.isna(result) and expected is None) or result == expected
    assert expected is None or expected in COVERAGE_CLASSES


def test_thresholds_are_configurable_and_can_use_the_registered_share():
    table = pd.DataFrame(
        {
            "addresses": [10, 10],
            "registered_addresses": [1, 3],
            "radius_coverage": [0.9, 0.9],
            "coverage": [0.1, 0.3],
        }
    )
    thresholds = CoverageThresholds(under=0.2, well=0.25, basis="coverage")

    assert classify_coverage(table, thresholds).tolist() == [
        "under-covered",
        "well covered",
    ]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"under": 0.6, "well": 0.5}, "0 <= under <= well <= 1"),
        ({"under": 30, "well": 50}, "not percentages"),
        ({"basis": "walking"}, "`basis` must be"),
    ],
)
def test_bad_thresholds_are_rejected(kwargs, match):
    with pytest.raises(BuurtgroepenError, match=match):
        CoverageThresholds(**kwargs)


@pytest.mark.parametrize("radius", [0, -5, float("nan"), float("inf"), True])
def test_bad_radius_is_rejected(streets_register, radius):
    with pytest.raises(BuurtgroepenError, match="`radius` must be a positive"):
        address_coverage(streets_register, pd.Series([], dtype="str"), radius=radius)


def test_missing_coordinates_and_columns_are_named(streets_register):
    holes = streets_register.astype({"x": "float64"})
    holes.loc[3, "x"] = np.nan
    with pytest.raises(BuurtgroepenError, match="1 rows without `x`/`y`"):
        address_coverage(holes, pd.Series([], dtype="str"))
    with pytest.raises(
        BuurtgroepenError, match=r"lacks column\(s\) \['openbare_ruimte'"
    ):
        address_coverage(
            streets_register.drop(columns="openbare_ruimte"), pd.Series([], dtype="str")
        )


def test_nothing_registered_makes_everything_blind(streets_register):
    covered = address_coverage(streets_register, pd.Series([], dtype="str"))

    assert np.isinf(covered["distance_m"]).all()
    assert (street_coverage(covered)["class"] == "blind").all()


def test_area_without_codes_warns_and_unknown_level_raises(
    streets_register, streets_registered
):
    streets_register.loc[0, "buurtcode"] = None
    covered = address_coverage(streets_register, streets_registered, radius=R)

    with pytest.warns(UserWarning, match="1 residential addresses have no `buurtcode`"):
        table = area_coverage(covered)
    assert table["addresses"].sum() == 28
    with pytest.raises(BuurtgroepenError, match="`level` must be"):
        area_coverage(covered, "gemeente")


def test_territory_postcodes_count_and_share_split_postcodes():
    addresses = pd.DataFrame(
        {
            "postcode": ["7581AA"] * 4 + ["7581AB"] * 2 + ["7581AC"],
            "woonplaats": ["Losser"] * 7,
        }
    )
    groups = pd.Series(["losser-01"] * 3 + ["losser-02"] * 3 + [None])

    result = territory_postcodes(addresses, groups)

    assert list(result.columns) == POSTCODE_COLUMNS
    assert result[["group_id", "postcode", "addresses"]].values.tolist() == [
        ["losser-01", "7581AA", 3],
        ["losser-02", "7581AA", 1],
        ["losser-02", "7581AB", 2],
    ]
    assert result["share"].tolist() == [0.75, 0.25, 1.0]


# ------------------------------------------------------------------------- gaps


def _gap_fixture():
    """Three uncovered clusters (5 houses, 4 houses, 2 houses) and a registration."""
    xs = [0, 30, 60, 90, 120] + [1000, 1040, 1080, 1120] + [3000, 3050] + [2000]
    frame = pd.DataFrame(
        {
            "x": 250_000.0 + np.array(xs, float),
            "y": 470_000.0 + np.zeros(len(xs)),
            "woonplaats": ["Losser"] * 9 + ["Glane"] * 2 + ["Losser"],
            "openbare_ruimte": "Weg",
            "buurtcode": "BU01",
        }
    )
    frame["address_key"] = [f"7581AA|{i + 1}||" for i in range(len(frame))]
    return frame, frame["address_key"].iloc[[-1]]


def test_gaps_are_clusters_of_three_or_more_with_counts():
    frame, keys = _gap_fixture()
    covered = address_coverage(frame, keys, radius=100.0)

    gaps = coverage_gaps(covered, radius=100.0)

    assert gaps.areas["gap_id"].tolist() == ["gap-001", "gap-002"]
    assert gaps.areas["addresses"].tolist() == [5, 4]
    assert gaps.scattered.to_dict() == {"Glane": 2, "Losser": 0}
    assert gaps.areas.crs == "EPSG:28992"


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 800), st.integers(0, 800), st.booleans()),
        min_size=1,
        max_size=60,
    )
)
def test_gap_polygons_hold_their_addresses_and_keep_away_from_registrations(points):
    frame = pd.DataFrame(points, columns=["x", "y", "registered"])
    frame["x"] += 250_000.0
    frame["y"] += 470_000.0
    frame["address_key"] = [f"7581AA|{i + 1}||" for i in range(len(frame))]
    frame["woonplaats"], frame["openbare_ruimte"] = "Losser", "Weg"
    keys = frame.loc[frame["registered"], "address_key"]
    covered = address_coverage(frame, keys, radius=100.0)

    gaps = coverage_gaps(covered, radius=100.0)

    # every uncovered address is drawn in exactly one gap or counted as scattered
    uncovered = covered[~covered["covered"]]
    assert gaps.areas["addresses"].sum() + gaps.scattered.sum() == len(uncovered)
    assert (gaps.areas["addresses"] >= 3).all()
    points_u = shapely.points(uncovered[["x", "y"]].to_numpy())
    inside = shapely.STRtree(gaps.areas.geometry.to_numpy()).query(
        points_u, predicate="within"
    )
    assert len(inside[0]) == gaps.areas["addresses"].sum()
    assert len(np.unique(inside[0])) == len(inside[0])  # gaps do not overlap
    # R / 2 discs, minus the grid snap, keep every registration outside
    registered = shapely.points(covered.loc[covered["registered"], ["x", "y"]])
    slack = 50.0 - GAP_GRID_M * np.sqrt(2) / 2
    for polygon in gaps.areas.geometry:
        assert polygon.is_valid
        if len(registered):
            assert shapely.distance(polygon, registered).min() >= slack - 1e-6


def test_gaps_reject_a_radius_other_than_the_coverage_radius():
    frame, keys = _gap_fixture()
    covered = address_coverage(frame, keys, radius=100.0)

    with pytest.raises(BuurtgroepenError, match="computed with 100.0 m"):
        coverage_gaps(covered, radius=50.0)
    with pytest.raises(BuurtgroepenError, match="`min_addresses` must be at least 1"):
        coverage_gaps(covered, radius=100.0, min_addresses=0)


def test_no_uncovered_address_gives_no_gap():
    frame, _ = _gap_fixture()
    covered = address_coverage(frame, frame["address_key"], radius=100.0)

    gaps = coverage_gaps(covered, radius=100.0)

    assert gaps.areas.empty and list(gaps.areas.columns[:4]) == [
        "gap_id",
        "woonplaats",
        "buurtcode",
        "addresses",
    ]
    assert gaps.scattered.sum() == 0


# --------------------------------------------------------- the job, privacy


@pytest.fixture(scope="module")
def job_run(tmp_path_factory):
    """The demo written to files with fake phones and names, partitioned and
    analysed by the coverage job with assignments; returns the folders."""
    root = tmp_path_factory.mktemp("coverage-job")
    demo = make_demo_municipality(seed=0)
    rng = np.random.default_rng(7)
    people = demo.registrations.assign(
        telefoon=[f"06{n:08d}" for n in rng.choice(10**8, len(demo.registrations))],
        naam=[f"Testbewoner {i:04d}" for i in range(len(demo.registrations))],
    )
    layer = demo.buurten.merge(demo.wijken[["wijkcode", "wijknaam"]], on="wijkcode")
    inputs = root / "input"
    io.write_outputs(
        inputs,
        {
            "addresses.csv": io.csv_writer(demo.addresses.drop(columns="geometry")),
            "registrations.csv": io.csv_writer(people),
            "buurten.geojson": io.geojson_writer(layer),
        },
    )
    jobs.partition(
        inputs / "addresses.csv",
        inputs / "registrations.csv",
        root / "partition",
        boundaries=inputs / "buurten.geojson",
    )
    summary = coverage_job.coverage(
        inputs / "addresses.csv",
        inputs / "registrations.csv",
        root / "coverage",
        assignments=root / "partition" / "assignments.csv",
        boundaries=inputs / "buurten.geojson",
    )
    return root, people, summary


PHONE_RE = re.compile(r"(?<![\d.])(?:0|\+31\s?|0031\s?)6[\s-]?(\d{8})(?!\d)")
NAME_RE = re.compile(r"Testbewoner \d{4}")
ID_RE = re.compile(r"\bR\d{5}\b")
KEY_RE = re.compile(r"\d{4}[A-Z]{2}\|\d+\|[A-Z]?\|[A-Z0-9]*")
POSTCODE_NUMBER_RE = re.compile(r"(\d{4})\s?([A-Z]{2})\s*(\d+[A-Z]?)(?![\dA-Z])")


def _personal_data(register: pd.DataFrame, people: pd.DataFrame) -> dict:
    """Every registration's phone, name, id and address in comparable forms."""
    geocoded = RegisterGeocoder(register).geocode(people)
    matched = geocoded[geocoded["match_quality"].ne("unmatched")]
    number = matched["huisnummer"].astype("str") + matched["huisletter"]
    streets: dict[str, set[str]] = {}
    for street, value in zip(matched["openbare_ruimte"], number, strict=True):
        streets.setdefault(street, set()).add(value)
    return {
        "phones": {phone[2:] for phone in people["telefoon"]},
        "names": set(people["naam"]),
        "ids": set(people["registration_id"]),
        "keys": set(matched["address_key"]),
        "postcode_numbers": set(matched["postcode"] + " " + number),
        "streets": {
            street: (re.compile(rf"{re.escape(street)}\s+(\d+[A-Z]?)(?![\dA-Z])"), n)
            for street, n in streets.items()
        },
    }


def _leaks(text: str, personal: dict) -> int:
    """Count the pieces of personal data found in ``text``."""
    found = len(set(PHONE_RE.findall(text)) & personal["phones"])
    found += len(set(NAME_RE.findall(text)) & personal["names"])
    found += len(set(ID_RE.findall(text)) & personal["ids"])
    found += len(set(KEY_RE.findall(text)) & personal["keys"])
    postcodes = {f"{a}{b} {n}" for a, b, n in POSTCODE_NUMBER_RE.findall(text)}
    found += len(postcodes & personal["postcode_numbers"])
    for pattern, numbers in personal["streets"].values():
        found += len(set(pattern.findall(text)) & numbers)
    return found


def test_job_writes_every_output_with_the_contract_columns(job_run):
    root, _, summary = job_run
    out = root / "coverage"

    assert list(pd.read_csv(out / "coverage.csv").columns) == STREET_COLUMNS
    assert list(pd.read_csv(out / "coverage_buurten.csv").columns) == BUURT_COLUMNS
    targets = pd.read_csv(out / "recruitment.csv")
    assert list(targets.columns) == RECRUITMENT_COLUMNS
    geojson = json.loads((out / "recruitment.geojson").read_text())
    assert len(geojson["features"]) == len(targets) == summary["recruitment_targets"]
    assert set(geojson["features"][0]["properties"]) == set(RECRUITMENT_COLUMNS)
    postcodes = pd.read_csv(out / "groups_postcodes.csv")
    assert list(postcodes.columns) == POSTCODE_COLUMNS
    assert postcodes["group_id"].nunique() == summary["groups"]
    assert postcodes["share"].between(0, 1).all()
    assert postcodes.groupby("postcode")["share"].sum().le(1 + 1e-9).all()
    sheets = sorted((out / "sheets").glob("*.html"))
    assert (out / "sheets" / "index.html") in sheets and len(sheets) > 10
    assert "Huis-aan-huis" in sheets[0].read_text()
    assert (out / "coverage.html").read_text().count('map.on("overlayadd"') == 5


def test_job_summary_is_consistent(job_run):
    root, _, summary = job_run
    streets = pd.read_csv(root / "coverage" / "coverage.csv")

    assert summary["addresses"] == streets["addresses"].sum()
    assert summary["registered_addresses"] == streets["registered_addresses"].sum()
    assert summary["registrations"] == 460 and summary["unmatched"] == 5
    assert (
        summary["streets"]
        == streets["class"]
        .value_counts()
        .reindex(list(summary["streets"]), fill_value=0)
        .to_dict()
    )
    uncovered = summary["addresses"] - summary["radius_covered_addresses"]
    assert summary["gap_addresses"] + summary["scattered_uncovered"] == uncovered
    assert summary["radius_coverage_after_targets"] > summary["radius_coverage"]


def test_no_output_carries_a_registration(job_run):
    root, people, _ = job_run
    register = io.read_addresses(root / "input" / "addresses.csv")
    personal = _personal_data(register, people)

    # the scanner finds planted leaks in every form (else this could not fail)
    first = people.iloc[0]
    key = next(iter(personal["keys"]))
    postcode, number, letter = key.split("|")[:3]
    street = max(personal["streets"], key=len)  # a name with a space, likely
    numbers = personal["streets"][street][1]
    planted = (
        f"{first['registration_id']};+31 6 {first['telefoon'][2:]};{first['naam']};"
        f"{key};{postcode[:4]} {postcode[4:]} {number}{letter};"
        f"{street} {sorted(numbers)[0]}"
    )
    assert _leaks(planted, personal) == 6

    files = [p for p in (root / "coverage").rglob("*") if p.is_file()]
    assert len(files) > 10
    for path in files:
        found = _leaks(path.read_text(encoding="utf-8"), personal)
        assert not found, f"{path.name} holds {found} pieces of personal data"


def test_bad_assignments_file_writes_nothing(job_run, tmp_path):
    root, _, _ = job_run
    bad = tmp_path / "assignments.csv"
    bad.write_text("registration_id,groep\nR00001,x\n")
    out = tmp_path / "out"

    with pytest.raises(InputFileError, match=r"assignments.csv.*group_id"):
        coverage_job.coverage(
            root / "input" / "addresses.csv",
            root / "input" / "registrations.csv",
            out,
            assignments=bad,
        )
    assert not out.exists()


def test_run_without_boundaries_or_assignments_still_reports_streets(demo):
    register = prepare_register(demo.addresses.drop(columns=["buurtcode", "wijkcode"]))

    run = coverage_job.run_coverage(register, demo.registrations)

    assert run.report.buurten is None and run.territories is None
    assert (
        len(run.streets)
        == demo.addresses.groupby(["woonplaats", "openbare_ruimte"]).ngroups
    )
    assert run.streets["buurtcode"].isna().all()
    page = coverage_job.coverage_map(run).get_root().render()
    assert "Dekking per straat" in page and "Dekking per buurt" not in page
    features = coverage_job.coverage_geojson(run)
    assert len(features["streets"]["features"]) == len(run.streets)
    assert features["buurten"]["features"] == []
    json.dumps(features, allow_nan=False)
    assert list(coverage_job.targets_table(run, limit=5).columns) == (
        RECRUITMENT_COLUMNS
    )
    assert len(coverage_job.targets_table(run, limit=5)) == 5


def test_geojson_per_buurt_lists_an_empty_buurt_with_null_shares(demo):
    register = prepare_register(demo.addresses)
    far = demo.buurten.iloc[[0]].assign(
        buurtcode="BU99999999",
        buurtnaam="Leeg",
        geometry=[box(0, 300_000, 10, 300_010)],
    )
    buurten = pd.concat([demo.buurten, far], ignore_index=True)

    run = coverage_job.run_coverage(register, demo.registrations, buurten=buurten)

    features = coverage_job.coverage_geojson(run)["buurten"]["features"]
    assert len(features) == len(buurten)
    empty = next(f for f in features if f["properties"]["buurtcode"] == "BU99999999")
    assert empty["properties"]["addresses"] == 0
    assert empty["properties"]["radius_coverage"] is None
    assert set(empty["properties"]) == set(BUURT_COLUMNS)
    json.dumps(features, allow_nan=False)
