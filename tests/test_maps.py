"""Tests of the partition map: layers, legend, colours and no personal data."""

from __future__ import annotations

import re
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely import box

from partition.errors import BuurtgroepenError, CRSError
from partition.maps import (
    COVERAGE_CAPTION,
    LAYER_BUURTEN,
    LAYER_COVERAGE,
    LAYER_GROUPS,
    _greedy_colouring,
    build_partition_map,
)

# a corner of Losser in RD New metres
X0, Y0 = 262_000, 480_000
PHONE = "0612345678"
PHONE_INTERNATIONAL = "+31612345678"
STREET = "Dorpsstraat 12"


def _square(col: int, row: int, size: float = 500) -> shapely.Polygon:
    """Return the RD New square in column ``col`` and row ``row`` of a grid."""
    return box(
        X0 + col * size, Y0 + row * size, X0 + (col + 1) * size, Y0 + (row + 1) * size
    )


@pytest.fixture
def territories() -> gpd.GeoDataFrame:
    """A 2 x 2 block of group squares plus one detached group, with personal data."""
    return gpd.GeoDataFrame(
        {
            "group_id": [f"losser-0{i}" for i in range(1, 6)],
            "size": [40, 2, 0, 12, 25],
            "woonplaats": ["Losser"] * 5,
            "telefoon": [PHONE, PHONE_INTERNATIONAL, PHONE, PHONE, PHONE],
            "beheerder_adres": [STREET] * 5,
        },
        geometry=[
            _square(0, 0),
            _square(1, 0),
            _square(0, 1),
            _square(1, 1),
            _square(4, 4),
        ],
        crs="EPSG:28992",
    )


@pytest.fixture
def buurten() -> gpd.GeoDataFrame:
    """Three buurt strips covering the groups, with a street in a spare column."""
    return gpd.GeoDataFrame(
        {
            "buurtcode": ["BU01680001", "BU01680003", "BU01680009"],
            "buurtnaam": ["Losser-West", "Losser-Oost", "Verspreide huizen Losser"],
            "voorbeeld_adres": [STREET] * 3,
        },
        geometry=[
            box(X0, Y0, X0 + 500, Y0 + 1000),
            box(X0 + 500, Y0, X0 + 1000, Y0 + 1000),
            box(X0 + 1000, Y0, X0 + 2500, Y0 + 2500),
        ],
        crs="EPSG:28992",
    )


@pytest.fixture
def coverage() -> pd.DataFrame:
    """Coverage per buurt: 60 % in West, a masked 1 in Oost, none in the third."""
    return pd.DataFrame(
        {
            "buurtnaam": ["Losser-West", "Losser-Oost", "Verspreide huizen Losser"],
            "woonplaats": ["Losser"] * 3,
            "addresses": [10, 40, 0],
            "registered_addresses": [6, 1, 0],
            "coverage": [0.6, 1 / 40, np.nan],
        },
        index=pd.Index(["BU01680001", "BU01680003", "BU01680009"], name="buurtcode"),
    )


@pytest.fixture
def partition_map(territories, buurten, coverage) -> folium.Map:
    """The map of the fixtures with a title and a demo subtitle."""
    return build_partition_map(
        territories=territories,
        buurten=buurten,
        buurt_coverage=coverage,
        title="Buurtgroepen Losser",
        subtitle="DEMO - verzonnen gegevens",
    )


def _layers(m: folium.Map) -> dict[str, folium.GeoJson]:
    """Return the GeoJson layers of ``m`` by layer name."""
    return {
        child.layer_name: child
        for child in m._children.values()
        if isinstance(child, folium.GeoJson)
    }


def _properties(layer: folium.GeoJson) -> pd.DataFrame:
    """Return the feature properties of ``layer`` as a frame."""
    return pd.DataFrame([f["properties"] for f in layer.data["features"]])


def test_map_has_the_three_layers_control_legend_and_title(partition_map):
    page = partition_map.get_root().render()

    for name in (LAYER_BUURTEN, LAYER_COVERAGE, LAYER_GROUPS):
        assert f'"{name}"' in page
    assert "L.control.layers" in page
    assert "% van de adressen" in COVERAGE_CAPTION
    assert COVERAGE_CAPTION in page
    assert "Buurtgroepen Losser" in page
    assert "DEMO - verzonnen gegevens" in page
    assert "fitBounds" in page


def test_group_tooltips_carry_group_id_woonplaats_and_leden(partition_map):
    page = partition_map.get_root().render()
    groups = _layers(partition_map)[LAYER_GROUPS]

    for i in range(1, 6):
        assert f'"group_id": "losser-0{i}"' in page
    tooltip = next(
        c for c in groups._children.values() if isinstance(c, folium.GeoJsonTooltip)
    )
    assert tooltip.fields == ["group_id", "woonplaats", "size"]
    assert "Leden" in tooltip.aliases


def test_map_contains_no_phone_number_or_address(partition_map):
    page = partition_map.get_root().render()

    # digits inside a longer number (the legend's float ticks) are not phones
    assert not re.search(r"(?<![\d.])06\d{8}(?!\d)", page)
    assert not re.search(r"(\+|\\u002b)316\d{8}", page)
    assert PHONE not in page
    assert STREET not in page
    assert "Dorpsstraat" not in page
    assert "telefoon" not in page


def test_only_aggregate_properties_reach_the_map(partition_map):
    layers = _layers(partition_map)

    assert set(_properties(layers[LAYER_GROUPS]).columns) == {
        "group_id",
        "woonplaats",
        "size",
        "color",
    }
    assert set(_properties(layers[LAYER_COVERAGE]).columns) == {
        "buurtnaam",
        "dekking",
        "aangemeld",
        "adressen",
        "fill",
    }
    assert _properties(layers[LAYER_BUURTEN]).empty


def test_coordinates_are_lon_lat_in_the_netherlands_with_six_decimals(partition_map):
    for layer in _layers(partition_map).values():
        geometries = gpd.GeoDataFrame.from_features(layer.data["features"]).geometry
        xy = shapely.get_coordinates(geometries.to_numpy())

        assert len(xy)
        assert ((xy[:, 0] > 3.3) & (xy[:, 0] < 7.3)).all()  # longitude
        assert ((xy[:, 1] > 50.7) & (xy[:, 1] < 53.6)).all()  # latitude
        np.testing.assert_array_equal(xy, np.round(xy, 6))


def test_small_counts_and_their_share_are_masked(partition_map):
    layers = _layers(partition_map)
    buurt = _properties(layers[LAYER_COVERAGE]).set_index("buurtnaam")
    group = _properties(layers[LAYER_GROUPS]).set_index("group_id")

    assert buurt.loc["Losser-West", ["dekking", "aangemeld", "adressen"]].tolist() == [
        "60%",
        "6",
        "10",
    ]
    assert buurt.loc["Losser-Oost", ["dekking", "aangemeld"]].tolist() == [
        "klein aantal",
        "<3",
    ]
    assert buurt.loc["Verspreide huizen Losser", "dekking"] == "geen adressen"
    assert (
        buurt.loc["Losser-Oost", "fill"]
        == buurt.loc["Verspreide huizen Losser", "fill"]
    )
    assert group["size"].tolist() == ["40", "<3", "0", "12", "25"]
    assert "3%" not in partition_map.get_root().render()


def test_touching_groups_get_different_colours(partition_map):
    colours = _properties(_layers(partition_map)[LAYER_GROUPS])["color"]

    # the 2 x 2 block touches pairwise (at least at a corner)
    assert colours.iloc[:4].nunique() == 4


def test_buurt_outlines_are_not_filled(partition_map):
    outlines = _layers(partition_map)[LAYER_BUURTEN]

    assert outlines.style_function(outlines.data["features"][0])["fill"] is False


def test_title_is_escaped(territories):
    m = build_partition_map(
        territories=territories, buurten=None, buurt_coverage=None, title="<b>x</b>"
    )

    page = m.get_root().render()
    assert "&lt;b&gt;x&lt;/b&gt;" in page
    assert "<b>x</b>" not in page


def test_without_buurten_only_the_group_layer_is_drawn(territories):
    m = build_partition_map(
        territories=territories, buurten=None, buurt_coverage=None, title="Losser"
    )

    assert list(_layers(m)) == [LAYER_GROUPS]
    assert COVERAGE_CAPTION not in m.get_root().render()


def test_any_declared_crs_is_drawn_in_wgs84(territories):
    m = build_partition_map(
        territories=territories.to_crs("EPSG:4326"),
        buurten=None,
        buurt_coverage=None,
        title="Losser",
    )
    expected = build_partition_map(
        territories=territories, buurten=None, buurt_coverage=None, title="Losser"
    )

    assert _layers(m)[LAYER_GROUPS].data == _layers(expected)[LAYER_GROUPS].data


def test_territories_without_crs_raise(territories):
    with pytest.raises(CRSError, match="`territories` must be a GeoDataFrame"):
        build_partition_map(
            territories=territories.set_crs(None, allow_override=True),
            buurten=None,
            buurt_coverage=None,
            title="Losser",
        )


def test_coverage_without_buurten_raises(territories, coverage):
    with pytest.raises(BuurtgroepenError, match="`buurt_coverage` needs `buurten`"):
        build_partition_map(
            territories=territories, buurten=None, buurt_coverage=coverage, title="x"
        )


def test_missing_group_column_is_named(territories):
    with pytest.raises(BuurtgroepenError, match=r"`territories` lacks.*'size'"):
        build_partition_map(
            territories=territories.drop(columns="size"),
            buurten=None,
            buurt_coverage=None,
            title="x",
        )


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 7), st.integers(1, 7), st.data())
def test_greedy_colouring_separates_every_touching_pair(cols, rows, data):
    # a grid of squares with some cells merged into wider rectangles
    cells = [_square(c, r, 1) for r in range(rows) for c in range(cols)]
    keep = data.draw(st.lists(st.booleans(), min_size=len(cells), max_size=len(cells)))
    geometries = np.array(
        [g for g, k in zip(cells, keep, strict=True) if k], dtype=object
    )

    colours = _greedy_colouring(geometries)

    left, right = shapely.STRtree(geometries).query(geometries, predicate="touches")
    assert (colours[left] != colours[right]).all()
    degree = np.bincount(left, minlength=len(geometries))
    assert colours.max(initial=-1) <= degree.max(initial=0)


SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
LOSSER_BUURTEN = SHARED_DATA / "losser_buurten_2024_cbs_generalised_rd.geojson"


@pytest.mark.shared
@pytest.mark.skipif(
    not LOSSER_BUURTEN.exists(), reason=f"real Losser data not found at {SHARED_DATA}"
)
def test_real_losser_buurten_as_groups_stay_in_losser_and_apart():
    buurten = gpd.read_file(LOSSER_BUURTEN).rename(
        columns={"statcode": "buurtcode", "statnaam": "buurtnaam"}
    )
    territories = buurten.assign(
        group_id=buurten["buurtcode"], size=30, woonplaats="Losser"
    )

    m = build_partition_map(
        territories=territories, buurten=buurten, buurt_coverage=None, title="Losser"
    )

    groups = _layers(m)[LAYER_GROUPS]
    shown = gpd.GeoDataFrame.from_features(groups.data["features"], crs="EPSG:4326")
    lon, lat = shapely.get_coordinates(shown.geometry.to_numpy()).T
    assert len(shown) == 13
    assert lon.min() > 6.92 and lon.max() < 7.08
    assert lat.min() > 52.21 and lat.max() < 52.39
    left, right = shapely.STRtree(shown.geometry).query(
        shown.geometry, predicate="touches"
    )
    colours = shown["color"].to_numpy()
    assert len(left) and (colours[left] != colours[right]).all()
