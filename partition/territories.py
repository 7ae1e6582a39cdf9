"""Group territories: which group every address of the municipality belongs to.

A group owns the addresses nearest to its members inside the same unit (woonplaats,
or the wijk/buurt chosen with ``within``), so the group of a future registrant is
known from their address alone. Its territory polygon is the union of the
Voronoi cells of those addresses, clipped to the buurt polygons when they are
given and otherwise to a margin around the addresses.
"""

from __future__ import annotations

import logging
import time

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

from partition.groups import WITHIN_LEVELS, unit_codes

logger = logging.getLogger(__name__)

RD_NEW = "EPSG:28992"
DEFAULT_MARGIN_M = 150.0
_GRID_M = 0.01
_QUAD_SEGS = 4


def assign_addresses(
    addresses: pd.DataFrame,
    members: pd.DataFrame,
    group_id: pd.Series,
    *,
    within: str = "woonplaats",
) -> pd.Series:
    """Give every address the group of its nearest registered member in its unit.

    Parameters
    ----------
    addresses
        The address register: ``address_key``, ``x``, ``y`` (RD New metres),
        ``woonplaats`` and the code column of ``within``.
    members
        Geocoded registrations with the same columns.
    group_id
        Group of each member, on the index of ``members``.
    within
        The unit level the partition used.

    Returns
    -------
    group_id
        On the index of ``addresses``; missing where the address's unit has no
        registration yet (its future registrants are queued).
    """
    started = time.perf_counter()
    unit_cols = ["woonplaats", *WITHIN_LEVELS[within]]
    result = pd.Series(pd.NA, index=addresses.index, name="group_id", dtype="string")
    if members.empty:
        return result

    # a registered address keeps its own group; the rest take the nearest member
    own = pd.Series(group_id.to_numpy(), index=members["address_key"].to_numpy())
    own = own[~own.index.duplicated()]
    known = addresses["address_key"].map(own)
    result[known.notna()] = known[known.notna()].astype("string")

    todo = addresses[known.isna()]
    both = pd.concat([members[unit_cols], todo[unit_cols]], ignore_index=True)
    codes, _ = unit_codes(both, unit_cols)
    member_code, todo_code = codes[: len(members)], codes[len(members) :]
    member_xy = members[["x", "y"]].to_numpy()
    todo_xy = todo[["x", "y"]].to_numpy()
    groups = group_id.to_numpy()
    nearest = np.full(len(todo), "", dtype=object)
    found = np.zeros(len(todo), dtype=bool)
    for code in np.intersect1d(member_code, todo_code):
        idx = np.flatnonzero(member_code == code)
        rows = np.flatnonzero(todo_code == code)
        _, hit = cKDTree(member_xy[idx]).query(todo_xy[rows])
        nearest[rows] = groups[idx][hit]
        found[rows] = True
    result[todo.index[found]] = nearest[found]

    logger.info(
        "assigned %s of %s addresses to a group territory in %.2f s",
        f"{int(result.notna().sum()):,}",
        f"{len(addresses):,}",
        time.perf_counter() - started,
    )
    return result


def territory_polygons(
    addresses: pd.DataFrame,
    address_group: pd.Series,
    *,
    buurten: gpd.GeoDataFrame | None = None,
    margin: float = DEFAULT_MARGIN_M,
) -> gpd.GeoDataFrame:
    """Build one territory polygon per group from the Voronoi cells of its addresses.

    Parameters
    ----------
    addresses
        The address register with ``x``, ``y`` (RD New metres) and, when
        ``buurten`` is given, ``buurtcode``.
    address_group
        The group of each address (from :func:`assign_addresses`).
    buurten
        Buurt polygons (EPSG:28992) with ``buurtcode``; cells are then made and
        clipped per buurt, so a territory follows buurt boundaries exactly.
    margin
        Without buurten, cells are clipped to this distance (m) around the
        addresses.

    Returns
    -------
    territories
        ``group_id`` and geometry (EPSG:28992), one row per group with addresses.

    Notes
    -----
    Addresses at the same coordinate share one cell, which goes to the group of
    the first of them; territories therefore may miss a member's exact cell when
    two groups share a building.
    """
    started = time.perf_counter()
    has_group = address_group.notna()
    frame = addresses.loc[has_group, ["x", "y"]].copy()
    frame["group_id"] = address_group[has_group].astype(str)
    if frame.empty:
        return gpd.GeoDataFrame({"group_id": []}, geometry=[], crs=RD_NEW)

    if buurten is not None and "buurtcode" in addresses.columns:
        frame["buurtcode"] = addresses.loc[has_group, "buurtcode"]
        cells = _cells_per_buurt(frame, buurten)
        cells = cells[~cells.geometry.is_empty]
        territories = cells.dissolve(by="group_id", method="unary").reset_index()[
            ["group_id", "geometry"]
        ]
    else:
        territories = _territories_with_margin(frame, margin)

    # snapping to a 1 cm grid removes the near-degenerate slivers that unions of
    # clipped cells leave, which would turn invalid once reprojected to WGS84
    territories["geometry"] = shapely.set_precision(
        territories.geometry.make_valid().to_numpy(), _GRID_M
    )
    logger.info(
        "built %s group territories from %s addresses in %.2f s",
        f"{len(territories):,}",
        f"{len(frame):,}",
        time.perf_counter() - started,
    )
    return territories


def _voronoi_cells(xy: np.ndarray, extent: shapely.Geometry) -> np.ndarray:
    """Voronoi cells of distinct points, in input order, covering ``extent``."""
    if len(xy) == 1:
        return np.array([extent])
    points = shapely.multipoints(xy)
    cells = shapely.get_parts(
        shapely.voronoi_polygons(points, extend_to=extent, ordered=True)
    )
    if len(cells) != len(xy):
        # collinear or degenerate input: fall back to nearest-point assignment
        return np.array([extent] + [shapely.Polygon()] * (len(xy) - 1))
    return cells


def _cells_per_buurt(
    frame: pd.DataFrame, buurten: gpd.GeoDataFrame
) -> gpd.GeoDataFrame:
    """Voronoi cells made inside each buurt and clipped to it."""
    polygons = buurten.set_index("buurtcode").geometry
    parts = []
    for code, rows in frame.groupby("buurtcode", sort=True).indices.items():
        if code not in polygons.index:
            continue
        parts.append(_cells_in(frame.iloc[rows], polygons.loc[code]))
    if not parts:
        return gpd.GeoDataFrame({"group_id": []}, geometry=[], crs=RD_NEW)
    return gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=RD_NEW)


def _territories_with_margin(frame: pd.DataFrame, margin: float) -> gpd.GeoDataFrame:
    """Union per group of the Voronoi cells of its addresses, clipped to a buffer.

    A point's cell meets another point's buffer only where its own buffer is
    too (every place in the cell is nearer to its own point), so clipping each
    cell to its own buffer equals clipping it to the union of all buffers. Most
    cells lie wholly inside their own buffer; only the others are clipped, and
    the untouched ones, which tile exactly, are merged with the fast coverage
    union. The cost stays linear in the number of addresses.
    """
    xy = frame[["x", "y"]].to_numpy()
    unique, first = np.unique(xy, axis=0, return_index=True)
    (xmin, ymin), (xmax, ymax) = unique.min(axis=0), unique.max(axis=0)
    extent = shapely.box(xmin - margin, ymin - margin, xmax + margin, ymax + margin)
    cells = _voronoi_cells(unique, extent)

    # a cell whose corners are all within the buffer polygon's inner radius
    # lies inside it (both are convex); only the other cells need clipping
    corners, owner = shapely.get_coordinates(cells, return_index=True)
    reach = np.zeros(len(cells))
    np.maximum.at(reach, owner, np.hypot(*(corners - unique[owner]).T))
    inner = reach <= margin * np.cos(np.pi / (4 * _QUAD_SEGS)) * (1 - 1e-6)
    if len(unique) > 1 and shapely.is_empty(cells[1:]).all():
        # the degenerate fallback gave the whole extent to one point
        inner[:] = False
        buffers = np.full(len(unique), shapely.union_all(_buffers(unique, margin)))
    else:
        buffers = _buffers(unique, margin)
    clipped = cells.copy()
    clipped[~inner] = shapely.intersection(cells[~inner], buffers[~inner])

    codes, names = pd.factorize(frame["group_id"].to_numpy()[first], sort=True)
    order = np.argsort(codes, kind="stable")
    geometries = []
    for rows in np.split(order, np.flatnonzero(np.diff(codes[order])) + 1):
        parts = list(clipped[rows[~inner[rows]]])
        if inner[rows].any():
            parts.append(shapely.coverage_union_all(cells[rows[inner[rows]]]))
        geometries.append(shapely.union_all(parts))
    territories = gpd.GeoDataFrame(
        {"group_id": names, "geometry": geometries}, crs=RD_NEW
    )
    return territories[~territories.geometry.is_empty].reset_index(drop=True)


def _buffers(points: np.ndarray, margin: float) -> np.ndarray:
    """Round buffers of ``margin`` metres around each point."""
    return shapely.buffer(shapely.points(points), margin, quad_segs=_QUAD_SEGS)


def _cells_in(frame: pd.DataFrame, area: shapely.Geometry) -> pd.DataFrame:
    """Cells of the distinct points of ``frame`` clipped to ``area``."""
    xy = frame[["x", "y"]].to_numpy()
    unique, first = np.unique(xy, axis=0, return_index=True)
    cells = _voronoi_cells(unique, area)
    clipped = shapely.intersection(cells, area)
    return pd.DataFrame(
        {"group_id": frame["group_id"].to_numpy()[first], "geometry": clipped}
    )
