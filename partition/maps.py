"""Folium maps: the partition map and the steering group's coverage map.

:func:`build_partition_map` shows group territories and coverage per buurt;
:func:`build_coverage_map` answers "where are we blind, and where do we knock
next?" with one layer each for buurt coverage, street coverage, group
territories, coverage gaps and the numbered recruitment targets, every layer
with its own legend that shows while the layer is switched on.

The builders return a :class:`folium.Map` and never save it; writing the HTML is
the caller's job (:mod:`partition.io`, the CLI or the service). The maps carry only
polygons, street lines and aggregate counts, never an address, a name or a phone
number, and counts below :data:`MASK_THRESHOLD` are masked with
:func:`partition.coverage.mask_small_counts`.
"""

from __future__ import annotations

import html
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.colormap import StepColormap
from folium.template import Template

from partition.coverage import (
    CLASS_BLIND,
    CLASS_COVERED,
    CLASS_UNDER,
    CLASS_WELL,
    DEFAULT_RADIUS_M,
    CoverageThresholds,
    mask_small_counts,
)
from partition.errors import BuurtgroepenError, CRSError
from partition.gaps import CoverageGaps

logger = logging.getLogger(__name__)

LAYER_BUURTEN = "Buurtgrenzen"
LAYER_COVERAGE = "Dekking per buurt"
LAYER_GROUPS = "Groepen"
LAYER_STREETS = "Dekking per straat"
LAYER_GAPS = "Onbedekte gebieden"
LAYER_TARGETS = "Wervingsdoelen"

#: Counts from 1 to this minus 1 are shown as "<3" so they cannot single out a
#: household.
MASK_THRESHOLD = 3

#: Decimals kept in degrees: 6 decimals is about 0.1 m, far below what a map shows.
COORDINATE_DECIMALS = 6

#: Tableau 10, a qualitative palette whose neighbouring hues stay distinguishable.
GROUP_PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
)

#: ColorBrewer YlGn, 5 classes of 20 percentage points each.
COVERAGE_COLOURS = ("#ffffcc", "#c2e699", "#78c679", "#31a354", "#006837")
COVERAGE_BINS = (0, 20, 40, 60, 80, 100)
NO_COVERAGE_COLOUR = "#bdbdbd"
COVERAGE_CAPTION = "Dekking per buurt, % van de adressen aangemeld"

#: Colour per coverage class (ColorBrewer RdYlGn, 4 classes); grey where the
#: class is hidden or there are no addresses.
CLASS_COLOURS = {
    CLASS_BLIND: "#d7191c",
    CLASS_UNDER: "#fdae61",
    CLASS_COVERED: "#a6d96a",
    CLASS_WELL: "#1a9641",
}
GAP_COLOUR = "#7b3294"
TARGET_COLOUR = "#08306b"

#: Recruitment targets drawn on the coverage map (the first in rank order).
MAX_MAP_TARGETS = 25

#: Simplification tolerance (m) of the street lines.
STREET_TOLERANCE_M = 5.0

#: Radius (m) of the small ring drawn for a street whose addresses share one
#: point per side of the street (a single building).
STREET_RING_M = 10.0

#: Shown before the first fit_bounds when there is no geometry at all (the
#: centre of the Netherlands).
_NL_CENTRE = (52.2, 5.3)


def build_partition_map(
    *,
    territories: gpd.GeoDataFrame,
    buurten: gpd.GeoDataFrame | None,
    buurt_coverage: pd.DataFrame | None,
    title: str,
    subtitle: str | None = None,
) -> folium.Map:
    """Build the partition map: buurt outlines, coverage per buurt and groups.

    Parameters
    ----------
    territories
        One polygon per group with columns ``group_id``, ``size`` (members),
        ``woonplaats`` and ``geometry``, in any declared CRS. Other columns are
        dropped before anything is written into the map.
    buurten
        Buurt polygons with columns ``buurtcode``, ``buurtnaam`` and
        ``geometry`` in any declared CRS, or None to leave out both buurt
        layers.
    buurt_coverage
        The frame of :func:`partition.coverage.buurt_coverage`, indexed by
        ``buurtcode``, or None to leave out the coverage layer. Needs
        ``buurten`` for the polygons.
    title
        Map title shown at the top of the map (plain text, escaped).
    subtitle
        Second line under the title, for example the demo label.

    Returns
    -------
    folium.Map
        Layers "Buurtgrenzen" (outlines), "Dekking per buurt" (choropleth of
        registered / all addresses, hidden until switched on in the layer
        control, with a legend) and "Groepen" (territories coloured so that
        touching groups differ), fitted to the data. Coordinates are EPSG:4326
        rounded to 6 decimals.

    Raises
    ------
    CRSError
        When ``territories`` or ``buurten`` has no CRS.
    BuurtgroepenError
        When a required column is missing, or ``buurt_coverage`` is given
        without ``buurten``.

    Notes
    -----
    The HTML loads Leaflet, its plugins and the OpenStreetMap tiles from CDNs when
    opened (folium's default), so it needs internet to display. The coverage
    percentage and colour are hidden (grey, "klein aantal") where fewer than
    ``MASK_THRESHOLD`` addresses are registered, as the exact share together
    with the address count would reveal the masked count. Group sizes are
    masked the same way. The count of unregistered addresses is not masked.
    With more than 10 mutually touching neighbours the palette repeats, so two
    touching groups can then share a colour.
    """
    start = time.perf_counter()
    _check_inputs(territories, buurten, buurt_coverage)
    groups = _group_frame(territories)
    outlines = None if buurten is None else _buurt_frame(buurten)

    # layers, in the order the layer control lists them
    m = folium.Map(location=_NL_CENTRE, zoom_start=8, tiles="OpenStreetMap")
    if outlines is not None:
        _outline_layer(outlines).add_to(m)
    if outlines is not None and buurt_coverage is not None:
        _coverage_layer(outlines, buurt_coverage).add_to(m)
        _coverage_legend().add_to(m)
    _group_layer(groups).add_to(m)

    # title, layer control and view
    _add_title(m, title, subtitle)
    folium.LayerControl(collapsed=False).add_to(m)
    _fit_to_data(m, [groups, outlines])

    logger.info(
        "built partition map with %d groups in %d colours and %d buurten "
        "(coverage layer: %s) in %.2f s",
        len(groups),
        groups["color"].nunique(),
        0 if outlines is None else len(outlines),
        "yes" if buurt_coverage is not None and outlines is not None else "no",
        time.perf_counter() - start,
    )
    return m


def build_coverage_map(
    *,
    title: str,
    subtitle: str | None = None,
    buurten: gpd.GeoDataFrame | None = None,
    buurt_coverage: pd.DataFrame | None = None,
    streets: gpd.GeoDataFrame | None = None,
    territories: gpd.GeoDataFrame | None = None,
    gaps: CoverageGaps | None = None,
    targets: gpd.GeoDataFrame | None = None,
    radius: float = DEFAULT_RADIUS_M,
    thresholds: CoverageThresholds | None = None,
    max_targets: int = MAX_MAP_TARGETS,
) -> folium.Map:
    """Build the steering group's coverage map, one layer per question.

    Every argument but ``title`` is optional; a layer is drawn when its data is
    given. All frames may be in any declared CRS.

    Parameters
    ----------
    title
        Map title shown at the bottom left (plain text, escaped).
    subtitle
        Second line under the title, for example the demo label.
    buurten
        Buurt polygons with ``buurtcode`` and ``buurtnaam``; needed for
        ``buurt_coverage``.
    buurt_coverage
        :func:`partition.coverage.area_coverage` per buurt, indexed by
        ``buurtcode`` (``addresses``, ``registered_addresses``, ``coverage``,
        ``radius_coverage``, ``class``).
    streets
        :func:`partition.coverage.street_coverage` joined with a line geometry
        per street, as :func:`street_lines` makes it.
    territories
        One polygon per group with ``group_id``, ``size``, ``woonplaats`` and
        optionally ``beheerders`` (the number of admins; "onbekend" where the
        column or the value is missing).
    gaps
        :func:`partition.gaps.coverage_gaps`.
    targets
        :func:`partition.recruit.recruitment_targets` (``rank``,
        ``openbare_ruimte``, ``woonplaats``, ``newly_covered`` and the street
        centroid points); the private columns are never read.
    radius
        The radius of the radius coverage, metres, quoted in legends.
    thresholds
        The class bounds of the coverage tables, quoted in the legends;
        default :class:`partition.coverage.CoverageThresholds()`.
    max_targets
        Number of targets drawn, the first in rank order.

    Returns
    -------
    folium.Map
        Layers "Dekking per buurt" (choropleth by class), "Dekking per straat"
        (street lines by class), "Groepen" (hidden until switched on),
        "Onbedekte gebieden" and "Wervingsdoelen" (numbered markers), with a
        layer control and a legend per layer, fitted to the data. Coordinates
        are EPSG:4326 rounded to 6 decimals.

    Raises
    ------
    CRSError
        When a frame has no CRS.
    BuurtgroepenError
        When a required column is missing or ``buurt_coverage`` is given
        without ``buurten``.

    Notes
    -----
    Only aggregates reach the page: counts from 1 to ``MASK_THRESHOLD - 1``
    show as "<3"; the registered share is hidden ("klein aantal") where 1 or 2
    addresses are registered, as it would reveal the masked count; the class
    and the radius share are hidden (grey) for an area of 1 or 2 addresses,
    whose class would tell whether those households are near a participant.
    A target marker sits at its street's centroid (snapped to 10 m), never at
    the best-placed address; house numbers are left to the door-to-door
    sheets. Streets are drawn from the address points, as there are no street
    centre lines in the data (see :func:`street_lines`). Like
    :func:`build_partition_map`, the page loads Leaflet and the tiles from
    CDNs.
    """
    start = time.perf_counter()
    thresholds = thresholds or CoverageThresholds()
    _check_coverage_inputs(buurten, buurt_coverage, streets, territories, targets)
    m = folium.Map(location=_NL_CENTRE, zoom_start=8, tiles="OpenStreetMap")
    _add_legend_style(m)
    shown: list[gpd.GeoDataFrame | None] = []

    # layers in the order the layer control lists them, each with its legend
    if buurten is not None and buurt_coverage is not None:
        layer, frame = _class_choropleth(buurten, buurt_coverage)
        _add_with_legend(m, layer, _class_legend(LAYER_COVERAGE, radius, thresholds))
        shown.append(frame)
    if streets is not None:
        layer, frame = _street_layer(streets)
        _add_with_legend(m, layer, _class_legend(LAYER_STREETS, radius, thresholds))
        shown.append(frame)
    if territories is not None:
        groups = _group_frame(territories)
        groups["beheerders"] = _beheerder_text(territories, groups)
        layer = _group_layer(groups, show=False)
        _add_with_legend(m, layer, _group_legend())
        shown.append(groups)
    if gaps is not None:
        layer, frame = _gap_layer(gaps)
        _add_with_legend(m, layer, _gap_legend(gaps, radius))
        shown.append(frame)
    if targets is not None:
        layer, frame = _target_layer(targets, radius, max_targets)
        _add_with_legend(m, layer, _target_legend(len(frame), radius))
        shown.append(frame)

    # title, layer control and view
    _add_title(m, title, subtitle)
    folium.LayerControl(collapsed=False).add_to(m)
    _fit_to_data(m, shown)
    logger.info(
        "built coverage map with %d layers in %.2f s",
        len(shown),
        time.perf_counter() - start,
    )
    return m


def street_lines(
    addresses: pd.DataFrame, *, tolerance: float = STREET_TOLERANCE_M
) -> gpd.GeoDataFrame:
    """Draw every street as lines through its addresses, one per side.

    The data has address points but no street centre lines, so a street is
    drawn as the line through its odd-numbered addresses and the line through
    its even-numbered ones, each ordered by house number (Dutch numbering runs
    along the street, odd on one side and even on the other), simplified.

    Parameters
    ----------
    addresses
        Addresses with ``woonplaats``, ``openbare_ruimte``, ``huisnummer``,
        ``x`` and ``y`` (RD New metres), e.g. the frame of
        :func:`partition.coverage.address_coverage`.
    tolerance
        Douglas-Peucker tolerance in metres; 0 keeps every address point.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per street (``woonplaats``, ``openbare_ruimte``, sorted) with a
        (multi)line geometry in EPSG:28992. A street without two distinct
        points on either side (a single building) gets a ring of
        :data:`STREET_RING_M` around the mean of its points.

    Notes
    -----
    A street whose numbering jumps (a side street numbered on from the main
    street) gets a straight segment across the jump, and a side whose
    numbers are interleaved with another street's shows a zigzag; the line
    is a picture of the street, not its course.
    """
    frame = addresses[["woonplaats", "openbare_ruimte", "huisnummer", "x", "y"]]
    frame = frame.dropna(subset=["woonplaats", "openbare_ruimte"])
    # side 0 is the odd side, listed first as in partition.recruit
    frame = frame.assign(side=(frame["huisnummer"].astype("int64") % 2 == 0) * 1)
    frame = frame.sort_values(
        ["woonplaats", "openbare_ruimte", "side", "huisnummer", "x", "y"],
        kind="stable",
    )
    streets = frame[["woonplaats", "openbare_ruimte"]].drop_duplicates()
    street = _codes(frame[["woonplaats", "openbare_ruimte"]])
    side = _codes(frame[["woonplaats", "openbare_ruimte", "side"]])

    # one line per side with at least two distinct consecutive points
    xy = frame[["x", "y"]].to_numpy(dtype="float64")
    repeat = np.r_[False, (side[1:] == side[:-1]) & (xy[1:] == xy[:-1]).all(axis=1)]
    xy, side, street = xy[~repeat], side[~repeat], street[~repeat]
    long_side = np.bincount(side)[side] >= 2
    line_id = _codes(pd.DataFrame({"s": side[long_side]}))
    lines = shapely.linestrings(xy[long_side], indices=line_id)
    line_street = street[long_side][np.r_[0, np.flatnonzero(np.diff(line_id)) + 1]]

    # streets: their side lines, or a small ring where there are none
    geometry = _street_geometry(len(streets), lines, line_street, xy, street)
    if tolerance > 0:
        geometry = shapely.simplify(geometry, tolerance)
    return gpd.GeoDataFrame(
        streets.reset_index(drop=True), geometry=geometry, crs=RD_NEW
    )


def coverage_bar_chart(
    before: pd.Series,
    after: pd.Series,
    *,
    title: str,
    labels: tuple[str, str] = ("nu", "na werving"),
) -> str:
    """Draw a before/after bar chart of shares as a self-contained SVG.

    Dependency-free (matplotlib is not a dependency): the notebook and reports
    embed the returned markup directly.

    Parameters
    ----------
    before, after
        Shares from 0 to 1 on the same index (one bar pair per label, e.g. a
        buurt name); missing values are drawn as empty bars.
    title
        Chart title (plain text, escaped).
    labels
        Legend text of the two bars.

    Returns
    -------
    str
        An ``<svg>`` element, 640 px wide, one row of two bars per index
        entry in the order of ``before``, with the percentages written out.
    """
    after = after.reindex(before.index)
    row, bar, left, width = 34, 13, 210, 360
    height = 50 + row * len(before)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="640" height="{height}" '
        'font-family="sans-serif" font-size="12">',
        f'<text x="0" y="16" font-size="14" font-weight="bold">'
        f"{html.escape(title)}</text>",
        f'<rect x="{left}" y="26" width="12" height="10" fill="#bdbdbd"/>'
        f'<text x="{left + 16}" y="35">{html.escape(labels[0])}</text>'
        f'<rect x="{left + 90}" y="26" width="12" height="10" fill="#1a9641"/>'
        f'<text x="{left + 106}" y="35">{html.escape(labels[1])}</text>',
    ]
    for i, (name, share) in enumerate(before.items()):
        y = 46 + i * row
        parts.append(
            f'<text x="{left - 6}" y="{y + bar + 4}" text-anchor="end">'
            f"{html.escape(str(name))}</text>"
        )
        for j, (value, colour) in enumerate(
            ((share, "#bdbdbd"), (after.iloc[i], "#1a9641"))
        ):
            known = value is not None and not pd.isna(value)
            length = width * min(max(float(value), 0.0), 1.0) if known else 0.0
            text = f"{float(value):.0%}" if known else "-"
            top = y + j * bar
            parts.append(
                f'<rect x="{left}" y="{top}" width="{length:.1f}" '
                f'height="{bar - 1}" fill="{colour}"/>'
                f'<text x="{left + length + 4:.1f}" y="{top + bar - 3}">'
                f"{text}</text>"
            )
    parts.append("</svg>")
    return "".join(parts)


def _check_inputs(
    territories: gpd.GeoDataFrame,
    buurten: gpd.GeoDataFrame | None,
    buurt_coverage: pd.DataFrame | None,
) -> None:
    """Raise when a frame lacks its CRS or a column the map needs."""
    _require(territories, "territories", ("group_id", "size", "woonplaats"))
    if buurten is not None:
        _require(buurten, "buurten", ("buurtcode", "buurtnaam"))
    if buurt_coverage is None:
        return
    if buurten is None:
        raise BuurtgroepenError(
            "`buurt_coverage` needs `buurten` for its polygons; pass the buurt "
            "polygons too, or buurt_coverage=None."
        )
    missing = [
        c
        for c in ("addresses", "registered_addresses", "coverage")
        if c not in buurt_coverage
    ]
    if missing:
        raise BuurtgroepenError(
            f"`buurt_coverage` lacks column(s) {missing}; build it with "
            "partition.coverage.buurt_coverage."
        )


def _require(frame: gpd.GeoDataFrame, name: str, columns: tuple[str, ...]) -> None:
    """Raise when ``frame`` has no CRS or lacks one of ``columns``."""
    if not isinstance(frame, gpd.GeoDataFrame) or frame.crs is None:
        raise CRSError(
            f"`{name}` must be a GeoDataFrame with a declared CRS; call "
            "set_crs('EPSG:28992') when the coordinates are RD New metres."
        )
    missing = [c for c in columns if c not in frame]
    if missing:
        raise BuurtgroepenError(
            f"`{name}` lacks column(s) {missing}; the map needs {list(columns)}."
        )


def _to_display(frame: gpd.GeoDataFrame, columns: list[str]) -> gpd.GeoDataFrame:
    """Keep only ``columns``, reproject to EPSG:4326 and round coordinates.

    Selecting the columns here is what keeps personal data out of the HTML:
    folium writes every property of a feature into the page.
    """
    shown = gpd.GeoDataFrame(
        frame[columns].reset_index(drop=True),
        geometry=frame.geometry.to_numpy(),
        crs=frame.crs,
    )
    shown = shown[shown.geometry.notna() & ~shown.geometry.is_empty]
    shown = shown.to_crs("EPSG:4326").reset_index(drop=True)

    # rounding to the grid keeps the page small
    shown["geometry"] = shapely.transform(
        shown.geometry.to_numpy(), lambda xy: np.round(xy, COORDINATE_DECIMALS)
    )
    return shown


def _group_frame(territories: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Return the group polygons to show, with a colour and a masked size."""
    ordered = territories.sort_values("group_id", kind="stable")
    shown = _to_display(ordered, ["group_id", "woonplaats", "size"])
    if len(shown) < len(territories):
        logger.warning(
            "%d of %d territories have no geometry and are not drawn",
            len(territories) - len(shown),
            len(territories),
        )

    # colour and size label; adjacency is computed on the displayed polygons
    colours = _greedy_colouring(shown.geometry.to_numpy())
    shown["color"] = [GROUP_PALETTE[c % len(GROUP_PALETTE)] for c in colours]
    shown["size"] = mask_small_counts(shown["size"], MASK_THRESHOLD)
    shown["group_id"] = shown["group_id"].astype("str")
    shown["woonplaats"] = shown["woonplaats"].astype("str").fillna("onbekend")
    return shown


def _buurt_frame(buurten: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Return the buurt polygons to show, with code and name only."""
    shown = _to_display(buurten, ["buurtcode", "buurtnaam"])
    shown["buurtcode"] = shown["buurtcode"].astype("str")
    shown["buurtnaam"] = shown["buurtnaam"].astype("str").fillna("onbekend")
    return shown


def _greedy_colouring(geometries: np.ndarray) -> np.ndarray:
    """Colour polygons so that intersecting (touching) polygons differ.

    Parameters
    ----------
    geometries
        Shapely polygons in one CRS.

    Returns
    -------
    numpy.ndarray
        One colour index (0, 1, ...) per polygon. Polygons that share a border or
        a corner, or overlap, get different indices.

    Notes
    -----
    Welsh-Powell greedy colouring: polygons with the most neighbours are coloured
    first, each with the lowest index none of its neighbours has, so at most
    (largest number of neighbours + 1) indices are used. The neighbour pairs come
    from one vectorised :class:`shapely.STRtree` query with ``intersects``, which
    also catches slight overlaps that ``touches`` would miss.
    """
    n = len(geometries)
    tree = shapely.STRtree(geometries)
    left, right = tree.query(geometries, predicate="intersects")
    pairs = left != right

    # neighbour lists, then colour the most connected polygons first
    neighbours: list[list[int]] = [[] for _ in range(n)]
    for i, j in zip(left[pairs].tolist(), right[pairs].tolist(), strict=True):
        neighbours[i].append(j)
    degree = np.bincount(left[pairs], minlength=n)
    colours = np.full(n, -1, dtype=np.int64)
    for i in np.argsort(-degree, kind="stable").tolist():
        taken = set(colours[neighbours[i]].tolist())
        colours[i] = next(c for c in range(n) if c not in taken)
    return colours


def _outline_layer(outlines: gpd.GeoDataFrame) -> folium.GeoJson:
    """Return the buurt outlines layer, without fill or tooltip."""
    return folium.GeoJson(
        _as_geojson(outlines[["geometry"]]),
        name=LAYER_BUURTEN,
        style_function=_constant_style(
            {"color": "#444444", "weight": 1.5, "fill": False, "dashArray": "4 4"}
        ),
    )


def _coverage_layer(
    outlines: gpd.GeoDataFrame, buurt_coverage: pd.DataFrame
) -> folium.GeoJson:
    """Return the coverage choropleth, coloured and labelled per buurt."""
    counts = buurt_coverage[["addresses", "registered_addresses", "coverage"]]
    counts = counts.set_axis(counts.index.astype("str"))
    joined = outlines.join(counts, on="buurtcode")

    # masked labels, and no exact share where the count itself is masked
    registered = joined["registered_addresses"]
    hidden = joined["coverage"].isna() | registered.between(1, MASK_THRESHOLD - 1)
    percent = (joined["coverage"] * 100).clip(0, 100)
    shown = joined[["buurtnaam", "geometry"]].assign(
        dekking=_coverage_text(percent, hidden, joined["addresses"]),
        aangemeld=mask_small_counts(registered, MASK_THRESHOLD),
        adressen=mask_small_counts(joined["addresses"], MASK_THRESHOLD),
        fill=_coverage_fill(percent, hidden),
    )
    return folium.GeoJson(
        _as_geojson(shown),
        name=LAYER_COVERAGE,
        show=False,
        style_function=_property_style("fill", {"weight": 0.5, "fillOpacity": 0.7}),
        tooltip=folium.GeoJsonTooltip(
            fields=["buurtnaam", "dekking", "aangemeld", "adressen"],
            aliases=["Buurt", "Dekking", "Aangemelde adressen", "Adressen"],
            sticky=True,
        ),
    )


def _coverage_text(
    percent: pd.Series, hidden: pd.Series, addresses: pd.Series
) -> np.ndarray:
    """Return the coverage as "42%", or why it is not shown (Dutch)."""
    rounded = percent.fillna(0).round().astype("int64").astype("str") + "%"
    conditions = [addresses.isna(), addresses == 0, hidden]
    labels = ["onbekend", "geen adressen", "klein aantal"]
    return np.select(conditions, labels, default=rounded)


def _coverage_fill(percent: pd.Series, hidden: pd.Series) -> np.ndarray:
    """Return the fill colour per buurt: its 20-point class, grey when hidden."""
    classes = np.digitize(percent.fillna(0), COVERAGE_BINS[1:-1])
    colours = np.asarray(COVERAGE_COLOURS)[classes]
    return np.where(hidden, NO_COVERAGE_COLOUR, colours)


def _coverage_legend() -> StepColormap:
    """Return the legend of the coverage classes, in percent."""
    return StepColormap(
        list(COVERAGE_COLOURS),
        index=list(COVERAGE_BINS),
        vmin=COVERAGE_BINS[0],
        vmax=COVERAGE_BINS[-1],
        caption=COVERAGE_CAPTION,
    )


def _group_layer(groups: gpd.GeoDataFrame, *, show: bool = True) -> folium.GeoJson:
    """Return the group territories layer with a tooltip per group.

    The tooltip shows the beheerder count when ``groups`` has ``beheerders``.
    """
    fields, aliases = ["group_id", "woonplaats", "size"], ["Groep", "Woonplaats"]
    aliases.append("Leden")
    if "beheerders" in groups:
        fields.append("beheerders")
        aliases.append("Beheerders")
    return folium.GeoJson(
        _as_geojson(groups),
        name=LAYER_GROUPS,
        show=show,
        style_function=_property_style(
            "color", {"color": "#333333", "weight": 1, "fillOpacity": 0.55}
        ),
        highlight_function=_constant_style({"weight": 3, "fillOpacity": 0.75}),
        tooltip=folium.GeoJsonTooltip(fields=fields, aliases=aliases, sticky=True),
    )


def _as_geojson(frame: gpd.GeoDataFrame) -> dict[str, Any]:
    """Return ``frame`` as a GeoJSON dict with positional ids and no bbox."""
    return json.loads(frame.to_json(na="null", show_bbox=False))


def _constant_style(
    style: dict[str, Any],
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Return a folium style function that gives every feature ``style``."""

    def style_function(_feature: dict[str, Any]) -> dict[str, Any]:
        return style

    return style_function


def _property_style(
    key: str, style: dict[str, Any]
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Return a folium style function filling each feature with its ``key``."""

    def style_function(feature: dict[str, Any]) -> dict[str, Any]:
        return {**style, "fillColor": feature["properties"][key]}

    return style_function


def _add_title(m: folium.Map, title: str, subtitle: str | None) -> None:
    """Put the escaped title and subtitle in a box at the bottom left of the map.

    The top right holds the legend and the layer control, the top left the zoom
    buttons; the bottom left is the corner nothing else uses.
    """
    lines = f'<div style="font-size:16px;font-weight:bold">{html.escape(title)}</div>'
    if subtitle:
        lines += f'<div style="font-size:13px">{html.escape(subtitle)}</div>'
    box = (
        '<div class="buurtgroepen-title" style="position:fixed;bottom:24px;'
        "left:10px;max-width:45%;z-index:1000;padding:6px 12px;"
        "background:rgba(255,255,255,0.9);border-radius:4px;"
        'font-family:sans-serif;box-shadow:0 1px 4px rgba(0,0,0,0.3)">'
        f"{lines}</div>"
    )
    m.get_root().html.add_child(folium.Element(box))
    m.get_root().header.add_child(
        folium.Element(f"<title>{html.escape(title)}</title>")
    )


def _fit_to_data(m: folium.Map, frames: list[gpd.GeoDataFrame | None]) -> None:
    """Fit the map view to the joint bounds of the shown frames, if any."""
    shown = [f for f in frames if f is not None and len(f)]
    if not shown:
        return
    bounds = np.array([f.total_bounds for f in shown])
    west, south = bounds[:, 0].min(), bounds[:, 1].min()
    east, north = bounds[:, 2].max(), bounds[:, 3].max()
    centre = np.round([(south + north) / 2, (west + east) / 2], COORDINATE_DECIMALS)
    m.location = centre.tolist()
    m.fit_bounds([[float(south), float(west)], [float(north), float(east)]])


RD_NEW = "EPSG:28992"

_LEGEND_CSS = """
<style>
.buurtgroepen-legend { background: rgba(255,255,255,0.92); padding: 6px 10px;
  border-radius: 4px; font: 12px/1.4 sans-serif; box-shadow: 0 1px 4px
  rgba(0,0,0,0.3); max-width: 260px; }
.buurtgroepen-legend b { display: block; margin-bottom: 3px; }
.buurtgroepen-legend i { display: inline-block; width: 14px; height: 10px;
  margin-right: 6px; vertical-align: middle; border: 1px solid #555; }
.buurtgroepen-target { background: #08306b; color: #fff; border: 2px solid #fff;
  border-radius: 50%; width: 24px; height: 24px; line-height: 20px;
  text-align: center; font: bold 12px sans-serif; box-sizing: border-box;
  box-shadow: 0 1px 3px rgba(0,0,0,0.5); }
</style>
"""


class _LayerLegend(folium.MacroElement):
    """A legend box that shows while its layer is switched on.

    Leaflet fires ``overlayadd``/``overlayremove`` on the map when a layer is
    ticked in the layer control; the legend follows those events.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = L.control({position: "bottomright"});
        {{ this.get_name() }}.onAdd = function () {
            var div = L.DomUtil.create("div", "buurtgroepen-legend");
            div.setAttribute("data-layer", {{ this.layer_name|tojson }});
            div.innerHTML = {{ this.html|tojson }};
            return div;
        };
        (function (map, layer, legend) {
            if (map.hasLayer(layer)) { legend.addTo(map); }
            map.on("overlayadd", function (e) {
                if (e.layer === layer) { legend.addTo(map); }
            });
            map.on("overlayremove", function (e) {
                if (e.layer === layer) { legend.remove(); }
            });
        })({{ this.map_name }}, {{ this.layer.get_name() }}, {{ this.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self, layer: folium.map.Layer, html_text: str) -> None:
        super().__init__()
        self._name = "LayerLegend"
        self.layer = layer
        self.layer_name = layer.layer_name
        self.html = html_text
        self.map_name = ""

    def render(self, **kwargs: Any) -> None:
        """Resolve the map's variable name, then render as a MacroElement."""
        self.map_name = self._parent.get_name()
        super().render(**kwargs)


def _add_legend_style(m: folium.Map) -> None:
    """Add the CSS of the legends and target markers to the page header."""
    m.get_root().header.add_child(folium.Element(_LEGEND_CSS))


def _add_with_legend(m: folium.Map, layer: folium.map.Layer, legend: str) -> None:
    """Add ``layer`` and, after it, the legend that follows its visibility."""
    layer.add_to(m)
    _LayerLegend(layer, legend).add_to(m)


def _check_coverage_inputs(
    buurten: gpd.GeoDataFrame | None,
    buurt_coverage: pd.DataFrame | None,
    streets: gpd.GeoDataFrame | None,
    territories: gpd.GeoDataFrame | None,
    targets: gpd.GeoDataFrame | None,
) -> None:
    """Raise when a frame lacks its CRS or a column the coverage map needs."""
    counts = ("addresses", "registered_addresses", "coverage", "radius_coverage")
    if buurten is not None:
        _require(buurten, "buurten", ("buurtcode", "buurtnaam"))
    if buurt_coverage is not None:
        if buurten is None:
            raise BuurtgroepenError(
                "`buurt_coverage` needs `buurten` for its polygons; pass the "
                "buurt polygons too, or buurt_coverage=None."
            )
        _require_table(buurt_coverage, "buurt_coverage", (*counts, "class"))
    if streets is not None:
        columns = ("woonplaats", "openbare_ruimte", *counts, "class")
        _require(streets, "streets", columns)
    if territories is not None:
        _require(territories, "territories", ("group_id", "size", "woonplaats"))
    if targets is not None:
        columns = ("rank", "woonplaats", "openbare_ruimte", "newly_covered")
        _require(targets, "targets", columns)


def _require_table(frame: pd.DataFrame, name: str, columns: tuple[str, ...]) -> None:
    """Raise when the plain table ``frame`` lacks one of ``columns``."""
    missing = [c for c in columns if c not in frame]
    if missing:
        raise BuurtgroepenError(
            f"`{name}` lacks column(s) {missing}; build it with "
            "partition.coverage.coverage_report."
        )


def _masked_shares(table: pd.DataFrame) -> pd.DataFrame:
    """Return the display columns of a coverage table, masked (Dutch labels).

    ``klasse``, ``bereik`` (radius share), ``dekking`` (registered share),
    ``aangemeld``, ``adressen`` and the ``fill`` colour.
    """
    addresses = table["addresses"]
    registered = table["registered_addresses"]
    few = addresses.between(1, MASK_THRESHOLD - 1)
    few_registered = registered.between(1, MASK_THRESHOLD - 1)
    radius_pct = (table["radius_coverage"] * 100).clip(0, 100)
    share_pct = (table["coverage"] * 100).clip(0, 100)
    classes = table["class"].astype("object")
    hidden_class = few | addresses.isna() | (addresses == 0) | classes.isna()
    return pd.DataFrame(
        {
            "klasse": np.where(
                hidden_class,
                _coverage_text(radius_pct, few, addresses),
                classes.map(_CLASS_TEXT).fillna("onbekend"),
            ),
            "bereik": _coverage_text(radius_pct, few, addresses),
            "dekking": _coverage_text(share_pct, few_registered, addresses),
            "aangemeld": mask_small_counts(registered, MASK_THRESHOLD),
            "adressen": mask_small_counts(addresses, MASK_THRESHOLD),
            "fill": np.where(
                hidden_class,
                NO_COVERAGE_COLOUR,
                classes.map(CLASS_COLOURS).fillna(NO_COVERAGE_COLOUR),
            ),
        },
        index=table.index,
    )


_CLASS_TEXT = {
    CLASS_BLIND: "blind",
    CLASS_UNDER: "onvoldoende gedekt",
    CLASS_COVERED: "gedekt",
    CLASS_WELL: "goed gedekt",
}
_SHARE_FIELDS = ["klasse", "bereik", "dekking", "aangemeld", "adressen"]
_SHARE_ALIASES = [
    "Klasse",
    "Binnen bereik",
    "Aangemeld (adressen)",
    "Aangemelde adressen",
    "Adressen",
]


def _class_choropleth(
    buurten: gpd.GeoDataFrame, buurt_coverage: pd.DataFrame
) -> tuple[folium.GeoJson, gpd.GeoDataFrame]:
    """Return the buurt choropleth by coverage class and its display frame."""
    outlines = _buurt_frame(buurten)
    table = buurt_coverage.set_axis(buurt_coverage.index.astype("str"))
    joined = outlines.join(table[list(_TABLE_COLUMNS)], on="buurtcode")
    shown = pd.concat(
        [joined[["buurtnaam", "geometry"]], _masked_shares(joined)], axis=1
    )
    shown = gpd.GeoDataFrame(shown, geometry="geometry", crs=outlines.crs)
    layer = folium.GeoJson(
        _as_geojson(shown),
        name=LAYER_COVERAGE,
        style_function=_property_style(
            "fill", {"color": "#444444", "weight": 1, "fillOpacity": 0.45}
        ),
        tooltip=folium.GeoJsonTooltip(
            fields=["buurtnaam", *_SHARE_FIELDS],
            aliases=["Buurt", *_SHARE_ALIASES],
            sticky=True,
        ),
    )
    return layer, shown


_TABLE_COLUMNS = (
    "addresses",
    "registered_addresses",
    "coverage",
    "radius_coverage",
    "class",
)


def _street_layer(
    streets: gpd.GeoDataFrame,
) -> tuple[folium.GeoJson, gpd.GeoDataFrame]:
    """Return the street lines coloured by class and their display frame."""
    shown = _to_display(streets, ["woonplaats", "openbare_ruimte", *_TABLE_COLUMNS])
    shown = pd.concat(
        [
            shown[["openbare_ruimte", "woonplaats", "geometry"]],
            _masked_shares(shown),
        ],
        axis=1,
    )
    shown = gpd.GeoDataFrame(shown, geometry="geometry", crs="EPSG:4326")
    layer = folium.GeoJson(
        _as_geojson(shown),
        name=LAYER_STREETS,
        style_function=_line_style(),
        highlight_function=_constant_style({"weight": 7}),
        tooltip=folium.GeoJsonTooltip(
            fields=["openbare_ruimte", "woonplaats", *_SHARE_FIELDS],
            aliases=["Straat", "Woonplaats", *_SHARE_ALIASES],
            sticky=True,
        ),
    )
    return layer, shown


def _line_style() -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Return a style function drawing each street in its class colour."""

    def style_function(feature: dict[str, Any]) -> dict[str, Any]:
        colour = feature["properties"]["fill"]
        return {"color": colour, "weight": 4, "opacity": 0.9}

    return style_function


def _beheerder_text(
    territories: gpd.GeoDataFrame, groups: gpd.GeoDataFrame
) -> pd.Series:
    """Return the masked beheerder count per displayed group, or "onbekend"."""
    if "beheerders" not in territories:
        return pd.Series("onbekend", index=groups.index, dtype="str")
    counts = territories.set_index(territories["group_id"].astype("str"))
    counts = counts["beheerders"][~counts.index.duplicated()]
    values = pd.to_numeric(counts.reindex(groups["group_id"]), errors="coerce")
    return mask_small_counts(values.reset_index(drop=True), MASK_THRESHOLD)


def _gap_layer(gaps: CoverageGaps) -> tuple[folium.GeoJson, gpd.GeoDataFrame]:
    """Return the gap polygons with their (masked) address counts."""
    shown = _to_display(gaps.areas, ["gap_id", "woonplaats", "addresses"])
    shown["addresses"] = mask_small_counts(shown["addresses"], MASK_THRESHOLD)
    shown["woonplaats"] = shown["woonplaats"].astype("str").fillna("onbekend")
    style = {
        "color": GAP_COLOUR,
        "weight": 1,
        "fillColor": GAP_COLOUR,
        "fillOpacity": 0.35,
    }
    layer = folium.GeoJson(
        _as_geojson(shown),
        name=LAYER_GAPS,
        style_function=_constant_style(style),
        tooltip=folium.GeoJsonTooltip(
            fields=["gap_id", "woonplaats", "addresses"],
            aliases=["Onbedekt gebied", "Woonplaats", "Adressen"],
            sticky=True,
        ),
    )
    return layer, shown


def _target_layer(
    targets: gpd.GeoDataFrame, radius: float, max_targets: int
) -> tuple[folium.FeatureGroup, gpd.GeoDataFrame]:
    """Return numbered markers of the first targets at their street centroids."""
    first = targets.sort_values("rank").head(max_targets)
    shown = _to_display(first, ["rank", "openbare_ruimte", "woonplaats"])
    shown["newly_covered"] = mask_small_counts(
        first["newly_covered"].reset_index(drop=True), MASK_THRESHOLD
    )
    group = folium.FeatureGroup(name=LAYER_TARGETS)

    # a handful of markers: a loop is clearer than a GeoJson point layer here
    for row in shown.itertuples(index=False):
        rank = int(row.rank)
        text = (
            f"{rank}. {row.openbare_ruimte}, {row.woonplaats}: "
            f"+{row.newly_covered} adressen binnen {radius:.0f} m"
        )
        folium.Marker(
            location=[row.geometry.y, row.geometry.x],
            icon=folium.DivIcon(
                html=f'<div class="buurtgroepen-target">{rank}</div>',
                icon_size=(24, 24),
                icon_anchor=(12, 12),
                class_name="buurtgroepen-target-icon",
            ),
            tooltip=folium.Tooltip(html.escape(text)),
        ).add_to(group)
    return group, shown


def _swatch(colour: str, text: str) -> str:
    """Return one legend line: a colour swatch and an escaped label."""
    return f'<div><i style="background:{colour}"></i>{html.escape(text)}</div>'


def _class_legend(name: str, radius: float, thresholds: CoverageThresholds) -> str:
    """Return the legend of a coverage-class layer (buurten or streets)."""
    basis = (
        f"van de adressen binnen {radius:.0f} m van een deelnemer"
        if thresholds.basis == "radius_coverage"
        else "van de adressen aangemeld"
    )
    under, well = round(thresholds.under * 100), round(thresholds.well * 100)
    lines = [
        _swatch(CLASS_COLOURS[CLASS_BLIND], "blind: geen enkele aanmelding"),
        _swatch(CLASS_COLOURS[CLASS_UNDER], f"onvoldoende: minder dan {under}%"),
        _swatch(CLASS_COLOURS[CLASS_COVERED], f"gedekt: {under}-{well}%"),
        _swatch(CLASS_COLOURS[CLASS_WELL], f"goed gedekt: meer dan {well}%"),
        _swatch(NO_COVERAGE_COLOUR, "klein aantal of geen adressen"),
    ]
    return f"<b>{html.escape(name)}</b><div>% {html.escape(basis)}</div>" + "".join(
        lines
    )


def _group_legend() -> str:
    """Return the legend of the group territories."""
    colours = "".join(
        f'<i style="background:{c};width:8px;margin-right:1px"></i>'
        for c in GROUP_PALETTE[:6]
    )
    return (
        f"<b>{LAYER_GROUPS}</b><div>{colours}</div>"
        "<div>Gebied per groep; aangrenzende groepen verschillen van kleur. "
        "Aantallen onder 3 als &lt;3.</div>"
    )


def _gap_legend(gaps: CoverageGaps, radius: float) -> str:
    """Return the legend of the gap polygons, with the scattered count."""
    scattered = int(gaps.scattered.sum())
    return (
        f"<b>{LAYER_GAPS}</b>"
        + _swatch(GAP_COLOUR, f"adressen verder dan {radius:.0f} m van een deelnemer")
        + f"<div>Plus {scattered} verspreide adressen, niet getekend "
        "(groepjes van 1 of 2).</div>"
    )


def _target_legend(n: int, radius: float) -> str:
    """Return the legend of the numbered recruitment targets."""
    return (
        f"<b>{LAYER_TARGETS}</b>"
        '<div><span class="buurtgroepen-target" style="display:inline-block;'
        'width:18px;height:18px;line-height:14px;font-size:10px">1</span> '
        f"de {n} beste straten om aan te bellen, in volgorde; een deelnemer "
        f"daar brengt de meeste adressen binnen {radius:.0f} m.</div>"
    )


def _codes(frame: pd.DataFrame) -> np.ndarray:
    """Return consecutive integer codes of the rows of a sorted frame."""
    change = (frame.iloc[1:].to_numpy() != frame.iloc[:-1].to_numpy()).any(axis=1)
    return np.r_[0, np.cumsum(change)].astype(np.int64)[: len(frame)]


def _street_geometry(
    n_streets: int,
    lines: np.ndarray,
    line_street: np.ndarray,
    xy: np.ndarray,
    street: np.ndarray,
) -> np.ndarray:
    """Return one geometry per street: its side lines, else a small ring."""
    geometry = np.empty(n_streets, dtype=object)
    if len(lines):
        has_line = np.unique(line_street)
        dense = _codes(pd.DataFrame({"street": line_street}))
        geometry[has_line] = shapely.multilinestrings(lines, indices=dense)
    missing = np.flatnonzero(pd.isna(geometry))
    if len(missing):
        centre = pd.DataFrame(xy).groupby(street).mean().loc[missing].to_numpy()
        rings = shapely.buffer(shapely.points(centre), STREET_RING_M, quad_segs=4)
        geometry[missing] = shapely.get_exterior_ring(rings)
    return geometry
