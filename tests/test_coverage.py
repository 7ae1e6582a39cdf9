"""Tests of coverage per buurt and of the small-count mask."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely import box

from partition.coverage import buurt_coverage, mask_small_counts
from partition.errors import BuurtgroepenError

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
