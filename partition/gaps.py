"""Coverage gaps: areas where nobody registered lives within reach.

A gap is a cluster of *uncovered* residential addresses, farther than the radius
R from every registered address (see :func:`partition.coverage.address_coverage`),
drawn as a polygon with its address count so the steering group sees where it is
blind without a list of households.

Clusters are single-linkage: two uncovered addresses at most R apart are in the
same gap (the connected components of that neighbour graph, from one k-d tree
pair query). The polygon is the union of discs of radius R / 2 around the
cluster's addresses (so a cluster's discs touch and its polygon is connected),
snapped to a grid of :data:`GAP_GRID_M` metres so that no vertex sits on an
address point. Every polygon then stays at least R / 2 minus half a grid
diagonal away from every registered address, and the polygons of two gaps never
overlap. All coordinates are RD New (EPSG:28992) metres.

A cluster of fewer than ``min_addresses`` (default 3) addresses is not drawn: a
polygon around one or two houses would point at them. Those addresses are only
counted, per woonplaats, in :attr:`CoverageGaps.scattered`; in the countryside
most uncovered addresses are such scattered houses.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_array
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from partition.coverage import DEFAULT_RADIUS_M, check_covered
from partition.errors import BuurtgroepenError

logger = logging.getLogger(__name__)

RD_NEW = "EPSG:28992"

#: Grid (m) the gap polygons are snapped to, so no vertex marks an address.
GAP_GRID_M = 25.0

#: Smallest cluster drawn as a polygon; smaller ones are only counted.
MIN_GAP_ADDRESSES = 3

#: Columns of :attr:`CoverageGaps.areas` besides the geometry.
GAP_COLUMNS = ["gap_id", "woonplaats", "buurtcode", "addresses"]

# segments per quarter circle of the discs: the grid snap is coarser anyway
_QUAD_SEGS = 4


@dataclass(frozen=True, eq=False)
class CoverageGaps:
    """The coverage gaps of a municipality.

    Attributes
    ----------
    areas
        One polygon per gap of at least ``min_addresses`` addresses, columns
        :data:`GAP_COLUMNS` (``gap_id`` ``"gap-001"``, ... from the largest
        gap; ``woonplaats`` and ``buurtcode`` of most of its addresses, ties
        alphabetically; ``addresses`` its count) and geometry in EPSG:28992.
    scattered
        Uncovered addresses in clusters too small to draw, per woonplaats
        (every woonplaats with residential addresses listed, 0 where none).
    radius
        The radius R the gaps were computed with, metres.
    """

    areas: gpd.GeoDataFrame
    scattered: pd.Series
    radius: float


def coverage_gaps(
    covered: pd.DataFrame,
    *,
    radius: float = DEFAULT_RADIUS_M,
    min_addresses: int = MIN_GAP_ADDRESSES,
    grid: float = GAP_GRID_M,
) -> CoverageGaps:
    """Cluster the uncovered addresses into gap polygons with address counts.

    Parameters
    ----------
    covered
        The frame of :func:`partition.coverage.address_coverage` (columns
        ``covered``, ``x``, ``y``, ``woonplaats`` and optionally
        ``buurtcode``).
    radius
        The radius R the frame was computed with, metres: the linking distance
        of the clusters and twice the disc radius of the polygons. Must match
        ``covered.attrs["radius_m"]`` when that is set.
    min_addresses
        Smallest cluster drawn as a polygon, at least 1; smaller clusters are
        only counted in ``scattered``.
    grid
        Snapping grid of the polygons in metres, from 0 (no snapping) to
        below R / 2.

    Returns
    -------
    CoverageGaps
        The gap polygons and the count of scattered uncovered addresses.

    Raises
    ------
    BuurtgroepenError
        For a missing column, a radius that differs from the one of
        ``covered``, or ``min_addresses`` or ``grid`` out of range.
    """
    start = time.perf_counter()
    _check_inputs(covered, radius, min_addresses, grid)
    uncovered = covered[~covered["covered"].to_numpy(dtype=bool)]
    xy = uncovered[["x", "y"]].to_numpy(dtype="float64")

    # single-linkage clusters, then the ones large enough to draw
    labels = _clusters(xy, radius)
    sizes = np.bincount(labels, minlength=labels.max(initial=-1) + 1)
    drawn = sizes[labels] >= min_addresses
    areas = _gap_polygons(uncovered[drawn], labels[drawn], radius, grid)
    scattered = _scattered(covered, uncovered[~drawn])

    logger.info(
        "found %s coverage gaps (%s addresses) and %s scattered uncovered "
        "addresses among %s uncovered in %.2f s",
        f"{len(areas):,}",
        f"{int(areas['addresses'].sum()):,}",
        f"{int(scattered.sum()):,}",
        f"{len(uncovered):,}",
        time.perf_counter() - start,
    )
    return CoverageGaps(areas=areas, scattered=scattered, radius=float(radius))


def _check_inputs(
    covered: pd.DataFrame, radius: float, min_addresses: int, grid: float
) -> None:
    """Raise for a frame that is not from address_coverage or a bad parameter."""
    check_covered(covered, radius, ("covered", "x", "y", "woonplaats"))
    if isinstance(min_addresses, bool) or not isinstance(min_addresses, int):
        raise BuurtgroepenError("`min_addresses` must be a whole number, e.g. 3.")
    if min_addresses < 1:
        raise BuurtgroepenError(
            f"`min_addresses` must be at least 1, got {min_addresses}; use 3 so "
            "no polygon points at one or two houses."
        )
    if not 0 <= grid < radius / 2:
        raise BuurtgroepenError(
            f"`grid` must be from 0 to below radius / 2 = {radius / 2} m, got "
            f"{grid}; a coarser grid could cut a gap's addresses out of it."
        )


def _clusters(xy: np.ndarray, radius: float) -> np.ndarray:
    """Label points by connected component of the "at most radius apart" graph."""
    n = len(xy)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    pairs = cKDTree(xy).query_pairs(radius, output_type="ndarray")
    graph = coo_array(
        (np.ones(len(pairs), dtype=np.int8), (pairs[:, 0], pairs[:, 1])),
        shape=(n, n),
    )
    _, labels = connected_components(graph, directed=False)
    return labels.astype(np.int64)


def _gap_polygons(
    uncovered: pd.DataFrame, labels: np.ndarray, radius: float, grid: float
) -> gpd.GeoDataFrame:
    """Return one snapped disc-union polygon per cluster, largest first."""
    if len(uncovered) == 0:
        empty = pd.DataFrame({c: [] for c in GAP_COLUMNS})
        empty = empty.astype({"addresses": "int64"})
        return gpd.GeoDataFrame(empty, geometry=[], crs=RD_NEW)

    # discs around the points, unioned per cluster: a cascaded union per group
    # is an order of magnitude faster than buffering one multipoint per cluster
    codes, label = np.unique(labels, return_inverse=True)
    discs = shapely.buffer(
        shapely.points(uncovered[["x", "y"]].to_numpy()),
        radius / 2,
        quad_segs=_QUAD_SEGS,
    )
    unioned = gpd.GeoDataFrame({"cluster": label}, geometry=discs, crs=RD_NEW)
    unioned = unioned.dissolve(by="cluster", method="unary")
    polygons = unioned.geometry.reindex(np.arange(len(codes))).to_numpy()
    if grid > 0:
        polygons = shapely.set_precision(polygons, grid)

    # attributes per cluster, then a stable order: largest, then west to east
    frame = uncovered.assign(cluster=label)
    table = frame.groupby("cluster").size().rename("addresses").to_frame()
    for column in ("woonplaats", "buurtcode"):
        table[column] = _main_value(frame, column)
    centre = shapely.centroid(polygons)
    table["cx"], table["cy"] = shapely.get_x(centre), shapely.get_y(centre)
    order = table.sort_values(
        ["addresses", "cx", "cy"], ascending=[False, True, True]
    ).index.to_numpy()
    areas = table.loc[order].reset_index(drop=True)
    areas["gap_id"] = [f"gap-{i:03d}" for i in range(1, len(codes) + 1)]
    areas = areas.astype({"woonplaats": "str", "buurtcode": "str"})
    return gpd.GeoDataFrame(areas[GAP_COLUMNS], geometry=polygons[order], crs=RD_NEW)


def _main_value(frame: pd.DataFrame, column: str) -> pd.Series:
    """Return the most common ``column`` value per cluster, ties alphabetically."""
    if column not in frame:
        return pd.Series(np.nan, index=np.unique(frame["cluster"]), dtype="str")
    counts = frame.groupby(["cluster", column]).size().rename("n").reset_index()
    counts = counts.sort_values(["cluster", "n", column], ascending=[True, False, True])
    return counts.drop_duplicates("cluster").set_index("cluster")[column]


def _scattered(covered: pd.DataFrame, scattered: pd.DataFrame) -> pd.Series:
    """Count the undrawn uncovered addresses per woonplaats, all woonplaatsen."""
    places = pd.Index(covered["woonplaats"].dropna().unique()).sort_values()
    counts = scattered.groupby("woonplaats").size()
    result = counts.reindex(places, fill_value=0).astype("int64")
    result.index.name = "woonplaats"
    return result.rename("scattered_uncovered")
