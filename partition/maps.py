"""Folium maps of a partition: group territories and coverage per buurt.

The builders return a :class:`folium.Map` and never save it; writing the HTML is
the caller's job (:mod:`partition.io`, the CLI or the service). The maps carry only
polygons and aggregate counts, never an address, a name or a phone number, and
counts below :data:`MASK_THRESHOLD` are masked with
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

from partition.coverage import mask_small_counts
from partition.errors import BuurtgroepenError, CRSError

logger = logging.getLogger(__name__)

LAYER_BUURTEN = "Buurtgrenzen"
LAYER_COVERAGE = "Dekking per buurt"
LAYER_GROUPS = "Groepen"

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


def _group_layer(groups: gpd.GeoDataFrame) -> folium.GeoJson:
    """Return the group territories layer with a tooltip per group."""
    return folium.GeoJson(
        _as_geojson(groups),
        name=LAYER_GROUPS,
        style_function=_property_style(
            "color", {"color": "#333333", "weight": 1, "fillOpacity": 0.55}
        ),
        highlight_function=_constant_style({"weight": 3, "fillOpacity": 0.75}),
        tooltip=folium.GeoJsonTooltip(
            fields=["group_id", "woonplaats", "size"],
            aliases=["Groep", "Woonplaats", "Leden"],
            sticky=True,
        ),
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
