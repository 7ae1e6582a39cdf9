"""Tests of the partition and coverage maps: layers, legends, masks, privacy."""

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

from partition.coverage import CoverageThresholds
from partition.errors import BuurtgroepenError, CRSError
from partition.gaps import CoverageGaps
from partition.maps import (
    CLASS_COLOURS,
    COVERAGE_CAPTION,
    LAYER_BUURTEN,
    LAYER_COVERAGE,
    LAYER_GAPS,
    LAYER_GROUPS,
    LAYER_STREETS,
    LAYER_TARGETS,
    MAX_MAP_TARGETS,
    NO_COVERAGE_COLOUR,
    STREET_RING_M,
    _greedy_colouring,
    build_coverage_map,
    build_partition_map,
    coverage_bar_chart,
    street_lines,
)

# a corner of Losser in RD New metres
X0, Y0 = 262_000, 480_000
PHONE = "0612345678"
PHONE_INTERNATIONAL = "+31612345678"
STREET = "Dorpsstraat 12"


def _without_element_ids(page: str) -> str:
    """The page with folium's random element ids (``map_<32 hex>``) blanked.

    A uuid4 in hex can hold ``06`` and eight digits in a row, which would look
    like a mobile number to the searches below.
    """
    return re.sub(r"_[0-9a-f]{32}", "_id", page)


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
    page = _without_element_ids(partition_map.get_root().render())

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


# ----------------------------------------------------------------- coverage map


@pytest.fixture
def class_coverage() -> pd.DataFrame:
    """Coverage per buurt with classes: well, under-covered and 2 addresses."""
    return pd.DataFrame(
        {
            "buurtnaam": ["Losser-West", "Losser-Oost", "Verspreide huizen Losser"],
            "woonplaats": ["Losser"] * 3,
            "addresses": [10, 40, 2],
            "registered_addresses": [6, 1, 0],
            "coverage": [0.6, 1 / 40, 0.0],
            "radius_coverage": [0.8, 0.2, 0.0],
            "class": ["well covered", "under-covered", "blind"],
        },
        index=pd.Index(["BU01680001", "BU01680003", "BU01680009"], name="buurtcode"),
    )


@pytest.fixture
def streets() -> gpd.GeoDataFrame:
    """Three street lines: well covered, blind, and a hofje of 2 addresses."""
    return gpd.GeoDataFrame(
        {
            "woonplaats": ["Losser"] * 3,
            "openbare_ruimte": ["Kerkstraat", "Molenweg", "Hofje"],
            "buurtcode": ["BU01680001", "BU01680003", "BU01680003"],
            "addresses": [20, 8, 2],
            "registered_addresses": [2, 0, 1],
            "coverage": [0.1, 0.0, 0.5],
            "radius_coverage": [0.75, 0.25, 1.0],
            "class": ["well covered", "blind", "well covered"],
            "telefoon": [PHONE] * 3,
        },
        geometry=[
            shapely.LineString([(X0 + 10, Y0 + 10), (X0 + 400, Y0 + 20)]),
            shapely.LineString([(X0 + 600, Y0 + 10), (X0 + 900, Y0 + 600)]),
            shapely.LineString([(X0 + 700, Y0 + 700), (X0 + 720, Y0 + 700)]),
        ],
        crs="EPSG:28992",
    )


@pytest.fixture
def gaps() -> CoverageGaps:
    """One gap polygon of 5 addresses and 4 scattered uncovered addresses."""
    areas = gpd.GeoDataFrame(
        {
            "gap_id": ["gap-001"],
            "woonplaats": ["Losser"],
            "buurtcode": ["BU01680003"],
            "addresses": [5],
        },
        geometry=[_square(1, 1, 200)],
        crs="EPSG:28992",
    )
    scattered = pd.Series({"Losser": 4}, name="scattered_uncovered")
    return CoverageGaps(areas=areas, scattered=scattered, radius=100.0)


@pytest.fixture
def targets() -> gpd.GeoDataFrame:
    """Thirty targets with private columns that must not reach the map."""
    n = 30
    return gpd.GeoDataFrame(
        {
            "rank": np.arange(1, n + 1),
            "woonplaats": ["Losser"] * n,
            "openbare_ruimte": [f"Laan {i}" for i in range(n)],
            "buurtcode": ["BU01680001"] * n,
            "huisnummers": ["997-999"] * n,
            "newly_covered": np.linspace(60, 2, n).round().astype(int),
            "cumulative_radius_coverage": np.linspace(0.5, 0.9, n),
            "candidate": np.arange(n) + 4_242_000,
            "canvass": [(1, 2)] * n,
        },
        geometry=shapely.points(np.c_[X0 + 10 * np.arange(n), np.full(n, Y0 + 50)]),
        crs="EPSG:28992",
    )


@pytest.fixture
def coverage_map(
    territories, buurten, class_coverage, streets, gaps, targets
) -> folium.Map:
    """The coverage map with every layer."""
    return build_coverage_map(
        title="Dekking Losser",
        subtitle="DEMO",
        buurten=buurten,
        buurt_coverage=class_coverage,
        streets=streets,
        territories=territories,
        gaps=gaps,
        targets=targets,
    )


def _legends(m: folium.Map) -> list:
    """Return the per-layer legends of ``m``."""
    return [c for c in m._children.values() if type(c).__name__ == "_LayerLegend"]


def test_coverage_map_has_five_layers_each_with_a_legend(coverage_map):
    page = coverage_map.get_root().render()

    names = [LAYER_COVERAGE, LAYER_STREETS, LAYER_GROUPS, LAYER_GAPS, LAYER_TARGETS]
    for name in names:
        assert f'"{name}"' in page
    legends = _legends(coverage_map)
    assert [legend.layer_name for legend in legends] == names
    assert all(
        legend.html.startswith(f"<b>{legend.layer_name}</b>") for legend in legends
    )
    assert page.count('map.on("overlayadd"') == 5
    assert "L.control.layers" in page and "fitBounds" in page
    assert "Dekking Losser" in page and "DEMO" in page


def test_street_and_buurt_layers_are_coloured_by_class_and_masked(coverage_map):
    layers = _layers(coverage_map)
    street = _properties(layers[LAYER_STREETS]).set_index("openbare_ruimte")
    buurt = _properties(layers[LAYER_COVERAGE]).set_index("buurtnaam")

    assert street.loc["Kerkstraat", ["klasse", "bereik", "fill"]].tolist() == [
        "goed gedekt",
        "75%",
        CLASS_COLOURS["well covered"],
    ]
    assert street.loc["Molenweg", "klasse"] == "blind"
    # two addresses: neither class, share nor counts are shown
    hofje = street.loc["Hofje"]
    assert hofje[["klasse", "bereik", "dekking"]].tolist() == ["klein aantal"] * 3
    assert hofje[["adressen", "aangemeld"]].tolist() == ["<3", "<3"]
    assert hofje["fill"] == NO_COVERAGE_COLOUR
    assert buurt.loc["Losser-Oost", ["klasse", "dekking", "aangemeld"]].tolist() == [
        "onvoldoende gedekt",
        "klein aantal",
        "<3",
    ]
    assert buurt.loc["Verspreide huizen Losser", "fill"] == NO_COVERAGE_COLOUR
    assert set(street.columns) == {
        "woonplaats",
        "klasse",
        "bereik",
        "dekking",
        "aangemeld",
        "adressen",
        "fill",
    }


def test_groups_are_hidden_at_first_and_beheerders_unknown(coverage_map):
    groups = _layers(coverage_map)[LAYER_GROUPS]

    assert groups.show is False
    assert _properties(groups)["beheerders"].eq("onbekend").all()
    tooltip = next(
        c for c in groups._children.values() if isinstance(c, folium.GeoJsonTooltip)
    )
    assert tooltip.fields[-1] == "beheerders"


def test_beheerder_counts_are_masked(territories):
    with_admins = territories.assign(beheerders=[2, 4, 0, None, 3])

    m = build_coverage_map(title="x", territories=with_admins)

    shown = _properties(_layers(m)[LAYER_GROUPS]).set_index("group_id")
    assert shown["beheerders"].tolist() == ["<3", "4", "0", "onbekend", "3"]


def test_targets_are_numbered_markers_at_their_street_centroids(coverage_map, targets):
    group = next(
        c
        for c in coverage_map._children.values()
        if isinstance(c, folium.FeatureGroup) and c.layer_name == LAYER_TARGETS
    )
    markers = [c for c in group._children.values() if isinstance(c, folium.Marker)]
    page = coverage_map.get_root().render()

    assert len(markers) == MAX_MAP_TARGETS < len(targets)
    ranks = [
        int(re.search(r">(\d+)<", m.icon.options["html"]).group(1)) for m in markers
    ]
    assert ranks == list(range(1, MAX_MAP_TARGETS + 1))
    expected = targets.head(MAX_MAP_TARGETS).to_crs("EPSG:4326").geometry
    np.testing.assert_allclose(
        [m.location for m in markers], np.c_[expected.y, expected.x], atol=1e-6
    )
    assert "1. Laan 0, Losser: +60 adressen binnen 100 m" in page
    # the private columns and the house numbers stay off the map
    assert "997-999" not in page
    assert "4242000" not in page


def test_gap_layer_counts_and_legend_mentions_scattered(coverage_map):
    gap = _properties(_layers(coverage_map)[LAYER_GAPS])

    assert gap[["gap_id", "addresses"]].values.tolist() == [["gap-001", "5"]]
    legend = next(x for x in _legends(coverage_map) if x.layer_name == LAYER_GAPS)
    assert "Plus 4 verspreide adressen" in legend.html


def test_coverage_map_contains_no_phone_number_or_address(coverage_map):
    page = _without_element_ids(coverage_map.get_root().render())

    assert not re.search(r"(?<![\d.])06\d{8}(?!\d)", page)
    assert PHONE not in page and PHONE_INTERNATIONAL not in page
    assert "Dorpsstraat" not in page and "telefoon" not in page


def test_coverage_map_draws_only_the_layers_given(streets):
    m = build_coverage_map(title="Losser", streets=streets)

    assert list(_layers(m)) == [LAYER_STREETS]
    assert [legend.layer_name for legend in _legends(m)] == [LAYER_STREETS]


def test_coverage_legend_quotes_thresholds_and_radius(streets):
    thresholds = CoverageThresholds(under=0.2, well=0.6)

    m = build_coverage_map(
        title="x", streets=streets, radius=150, thresholds=thresholds
    )

    legend = _legends(m)[0].html
    assert "minder dan 20%" in legend and "meer dan 60%" in legend
    assert "binnen 150 m" in legend


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"buurt_coverage": "class_coverage"}, BuurtgroepenError, "needs `buurten`"),
        ({"streets": "streets_without_class"}, BuurtgroepenError, "'class'"),
        ({"streets": "streets_without_crs"}, CRSError, "`streets` must be"),
    ],
)
def test_coverage_map_input_errors(request, streets, kwargs, error, match):
    frames = {
        "class_coverage": request.getfixturevalue("class_coverage"),
        "streets_without_class": streets.drop(columns="class"),
        "streets_without_crs": streets.set_crs(None, allow_override=True),
    }
    with pytest.raises(error, match=match):
        build_coverage_map(title="x", **{k: frames[v] for k, v in kwargs.items()})


# ----------------------------------------------------------------- street lines


def test_street_lines_draw_each_side_in_number_order():
    addresses = pd.DataFrame(
        {
            "woonplaats": ["Losser"] * 7,
            "openbare_ruimte": ["Kerkstraat"] * 6 + ["Hofje"],
            "huisnummer": [5, 1, 3, 2, 4, 6, 1],
            "x": [X0 + 40, X0, X0 + 20, X0, X0 + 20, X0 + 40, X0 + 500],
            "y": [Y0, Y0, Y0 + 1, Y0 + 20, Y0 + 20, Y0 + 21, Y0 + 500],
        }
    )

    lines = street_lines(addresses, tolerance=0)

    assert lines[["woonplaats", "openbare_ruimte"]].values.tolist() == [
        ["Losser", "Hofje"],
        ["Losser", "Kerkstraat"],
    ]
    kerk = lines.geometry.iloc[1]
    assert kerk.geom_type == "MultiLineString"
    odd, even = kerk.geoms
    assert [x - X0 for x, _ in odd.coords] == [0, 20, 40]
    assert [y - Y0 for _, y in even.coords] == [20, 20, 21]
    # a single building becomes a ring of STREET_RING_M around it
    hofje = lines.geometry.iloc[0]
    assert hofje.is_ring
    assert hofje.distance(shapely.Point(X0 + 500, Y0 + 500)) == pytest.approx(
        STREET_RING_M, rel=0.05
    )
    assert lines.crs == "EPSG:28992"


def test_street_lines_of_the_demo_are_one_per_street(demo):
    lines = street_lines(demo.addresses)

    n_streets = demo.addresses.groupby(["woonplaats", "openbare_ruimte"]).ngroups
    assert len(lines) == n_streets
    assert lines.geometry.notna().all() and lines.geometry.is_valid.all()
    assert set(lines.geom_type) <= {"LineString", "MultiLineString"}


# ------------------------------------------------------------------ bar chart


def test_bar_chart_draws_two_bars_per_row_with_percentages():
    before = pd.Series([0.2, 0.5], index=["West", "<Oost>"])
    after = pd.Series([0.4, np.nan], index=["West", "<Oost>"])

    svg = coverage_bar_chart(before, after, title="Bereik & werving")

    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert "Bereik &amp; werving" in svg and "&lt;Oost&gt;" in svg
    widths = [
        float(w)
        for w in re.findall(r'<rect x="210" y="\d+" width="([\d.]+)" height="12"', svg)
    ]
    assert widths == [72.0, 144.0, 180.0, 0.0]
    assert "20%" in svg and "40%" in svg and ">-<" in svg
