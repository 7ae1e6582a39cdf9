"""Quality metrics of a partition of registrations into groups.

The steering group, the tests and the benchmarks all score partitions with these
functions, so the definitions below are the reference; they follow the issue and
are fixed. All coordinates are RD New (EPSG:28992) metres.

Input is a ``members`` frame with one row per registration (``x``, ``y``,
``woonplaats``, ``openbare_ruimte``; other columns such as ``address_key`` are
ignored) and a ``group_id`` Series on the same index. Group labels may be any
hashable values (strings such as ``"de-lutte-03"`` or integers): the metrics
depend only on which registrations share a label, never on the labels
themselves or on the row order.

Definitions
-----------
size
    The number of registrations with a label.
contiguity
    A group is contiguous when its members form one connected component of the
    Delaunay graph of its woonplaats's registrations: the graph is built per
    woonplaats over all registrations of that woonplaats (of any group), and
    only the edges with both ends in the group are kept. The triangulation is
    of the distinct points (:func:`partition.groups.delaunay_edges`; collinear
    points are joined in order), and members of one group at the same point
    are connected, whichever other groups share that point. Woonplaatsen share
    no edges, so a group with members in two woonplaatsen is never contiguous.
    A group of one member is contiguous.
hull overlap
    A group's hull is the convex hull of all its members. A group overlaps when
    its hull intersects the hull of another group that shares a woonplaats with
    it (a group belongs to every woonplaats it has members in) over more than
    :data:`HULL_OVERLAP_TOLERANCE_M2`. Touching hulls, or hulls sharing an edge,
    do not overlap; hulls of one or two distinct points (a point or a line)
    have no area and never overlap.
street cohesion
    A street is an ``openbare_ruimte`` within a ``woonplaats`` (the same name in
    two woonplaatsen is two streets), spelled exactly as given; registrations
    without one (missing or blank) are left out of this metric only. A street
    is *split* when its registrations are in more than one group. Only streets
    with at least 2 and fewer than ``max_size`` registrations count: a street
    with one registration cannot be split, and one with ``max_size`` or more
    may have to be.
split streets floor
    How many counted streets *any* partition must split when no hulls overlap
    and no group is above ``max_size`` (:func:`split_streets_floor`). Two whole
    streets of one woonplaats whose own hulls overlap must share a group, as
    their groups' hulls hold theirs; so streets linked by such overlaps that
    together hold more than ``max_size`` registrations cannot all stay whole.
    Disjoint linked sets of that kind each need a split street of their own.
balance
    A group is balanced when its size is within ±15 % (inclusive) of the mean
    size of the groups whose main woonplaats (the most common among its
    members) is the same as its own.
compactness
    The Euclidean distance of a member to its group's centroid (the mean of the
    members' coordinates), in metres; averaged per group in
    :func:`group_table` and over all registrations in :func:`partition_quality`.

Known limits: the Delaunay graph knows no barriers, so members on both sides of
a canal or railway can be neighbours, and far-apart parts of one woonplaats are
joined across open country; a concave group (an L along two streets) can have
a hull that overlaps a neighbour without the two interleaving. The running time
is dominated by the triangulation of the largest woonplaats (about 10-15 s for
a million registrations, 670,000 of them in one woonplaats, on two cores).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_array, csr_array
from scipy.sparse.csgraph import connected_components

from partition.errors import BuurtgroepenError
from partition.groups import delaunay_edges

logger = logging.getLogger(__name__)

HULL_OVERLAP_TOLERANCE_M2 = 1.0
"""Smallest intersection of two group hulls (m²) that counts as overlap."""

BALANCE_TOLERANCE = 0.15
"""Largest relative deviation from the woonplaats's mean group size that is balanced."""

GROUP_COLUMNS = ("x", "y", "woonplaats")
"""Columns of ``members`` that :func:`group_table` needs."""

QUALITY_COLUMNS = (*GROUP_COLUMNS, "openbare_ruimte")
"""Columns of ``members`` that :func:`partition_quality` needs."""

# groups per STRtree query and candidate pairs per vectorised intersection
_QUERY_CHUNK = 256
_PAIR_BATCH = 65_536

# relative slack on the balance bound, so sizes exactly at ±15 % count as inside
_BALANCE_EPS = 1e-9


@dataclass(frozen=True)
class _Coded:
    """Registrations as integer codes: group and woonplaats numbers per row."""

    xy: np.ndarray
    group: np.ndarray
    labels: pd.Index
    woonplaats: np.ndarray
    woonplaatsen: pd.Index


def group_table(members: pd.DataFrame, group_id: pd.Series) -> pd.DataFrame:
    """Measure every group of a partition.

    Parameters
    ----------
    members
        One row per registration with ``x``, ``y`` (RD New metres) and
        ``woonplaats``; other columns are ignored.
    group_id
        The group label of every registration, on the index of ``members``
        (strings or integers; the order of the rows may differ when both indexes
        are unique).

    Returns
    -------
    table
        One row per group, indexed by its label (``group_id``, sorted), with
        ``size`` (registrations), ``woonplaats`` (the most common among its
        members, the alphabetically first on a tie), ``woonplaatsen`` (distinct
        woonplaatsen), ``contiguous`` and ``hull_overlaps`` (see the module
        docstring) and ``mean_distance_m`` (mean distance of the members to the
        group's centroid, metres). Empty input gives an empty table with these
        columns.

    Raises
    ------
    BuurtgroepenError
        When a column is missing, ``group_id`` does not match the index of
        ``members``, or a label, woonplaats or coordinate is missing.
    """
    started = time.perf_counter()
    coded = _encode(members, group_id, GROUP_COLUMNS)
    table = _table(coded)
    logger.info(
        "measured %s groups of %s registrations in %.2f s "
        "(%s not contiguous, %s with overlapping hulls)",
        f"{len(table):,}",
        f"{len(coded.group):,}",
        time.perf_counter() - started,
        f"{int((~table['contiguous']).sum()):,}",
        f"{int(table['hull_overlaps'].sum()):,}",
    )
    return table


def partition_quality(
    members: pd.DataFrame, group_id: pd.Series, *, max_size: int
) -> dict[str, Any]:
    """Summarise the quality of a partition in plain JSON values.

    Parameters
    ----------
    members
        One row per registration with ``x``, ``y`` (RD New metres),
        ``woonplaats`` and ``openbare_ruimte``; other columns are ignored.
    group_id
        The group label of every registration, on the index of ``members``.
    max_size
        The cap the partition was asked to respect (members per group); used
        for ``over_cap`` and to choose the streets of ``split_streets_pct``.

    Returns
    -------
    quality
        ``registrations``, ``groups``, ``max_size`` (the largest group; not the
        cap), ``min_size``, ``size_cv`` (population standard deviation of the
        group sizes over their mean), ``over_cap`` (groups above the cap),
        ``within_15pct`` (share 0-1 of balanced groups), ``contiguous_pct``,
        ``hull_overlap_pct``, ``cross_woonplaats_pct`` (groups with members in
        more than one woonplaats), ``split_streets_pct`` (split streets among the
        counted ones) and ``mean_distance_m`` (mean over all registrations of the
        distance to their group's centroid, metres). Every ``*_pct`` is 0-100.
        Values are ``int``, ``float`` or ``None``, so ``json.dumps`` works with
        ``allow_nan=False``.

    Raises
    ------
    BuurtgroepenError
        When ``max_size`` is not a positive integer, or for the input problems
        listed in :func:`group_table`.

    Notes
    -----
    Degenerate input: without registrations the counts (``registrations``,
    ``groups``, ``over_cap``) are 0 and every other value is ``None``;
    ``split_streets_pct`` is ``None`` whenever no street has 2 to
    ``max_size - 1`` registrations.
    """
    started = time.perf_counter()
    _check_cap(max_size)
    coded = _encode(members, group_id, QUALITY_COLUMNS)
    table = _table(coded)
    if table.empty:
        return _empty_quality()

    split, counted = _split_streets(members["openbare_ruimte"], coded, max_size)
    quality = _summarise(table, split, counted, max_size)
    logger.info(
        "scored %s registrations in %s groups in %.2f s (largest %s, cap %s, "
        "%s over cap, %.1f %% contiguous, %.1f %% overlapping hulls)",
        f"{quality['registrations']:,}",
        f"{quality['groups']:,}",
        time.perf_counter() - started,
        quality["max_size"],
        max_size,
        quality["over_cap"],
        quality["contiguous_pct"],
        quality["hull_overlap_pct"],
    )
    return quality


def split_streets_floor(members: pd.DataFrame, *, max_size: int) -> float | None:
    """The least share of streets that must split, whatever the partition.

    A target on ``split_streets_pct`` means something only next to what the
    town allows: where streets cross or run side by side, keeping them all
    whole would make their groups' hulls overlap, or one group too large.
    This is a lower bound for every partition of ``members`` with no
    overlapping hulls (as :func:`partition_quality` measures them) and no
    group above ``max_size``, so a partition whose ``split_streets_pct`` lies
    below it either overlaps or breaks the cap.

    Parameters
    ----------
    members
        One row per registration with ``x``, ``y`` (RD New metres),
        ``woonplaats`` and ``openbare_ruimte``; other columns are ignored.
    max_size
        The group cap; it also chooses the counted streets, as for
        ``split_streets_pct``.

    Returns
    -------
    floor
        Percent (0-100) of the counted streets, or None when no street has 2
        to ``max_size - 1`` registrations.

    Raises
    ------
    BuurtgroepenError
        For the input problems listed in :func:`partition_quality`.

    Notes
    -----
    Known limits: the bound counts only pairs of street hulls that overlap
    and packs the linked sets greedily, smallest first, so it can lie well
    below the true least share; it is never above it. Streets with
    ``max_size`` or more registrations, and registrations without a street,
    are left out, although their houses also bind the groups.
    """
    started = time.perf_counter()
    _check_cap(max_size)
    coded = _encode(members, None, QUALITY_COLUMNS)
    named, street_of, registrations = _streets(members["openbare_ruimte"], coded)
    counted = (registrations >= 2) & (registrations < max_size)
    if not counted.any():
        return None

    # one hull per counted street, from its registrations' points
    number = np.cumsum(counted) - 1
    rows = np.flatnonzero(named)[counted[street_of]]
    street = number[street_of[counted[street_of]]]
    order = np.argsort(street, kind="stable")
    hulls = shapely.convex_hull(
        shapely.multipoints(coded.xy[rows[order]], indices=street[order])
    )
    woonplaats = np.empty(len(hulls), dtype=np.int64)
    woonplaats[street] = coded.woonplaats[rows]

    # whole streets whose hulls overlap in one woonplaats must share a group
    a, b = shapely.STRtree(hulls).query(hulls, predicate="intersects")
    keep = (a < b) & (woonplaats[a] == woonplaats[b])
    a, b = a[keep], b[keep]
    area = shapely.area(shapely.intersection(hulls[a], hulls[b]))
    linked = area > HULL_OVERLAP_TOLERANCE_M2
    must_split = _pack_heavy(registrations[counted], a[linked], b[linked], max_size)

    logger.info(
        "split streets floor: %s of %s streets must split at cap %s "
        "(%s overlapping street pairs) in %.2f s",
        f"{must_split:,}",
        f"{len(hulls):,}",
        max_size,
        f"{int(linked.sum()):,}",
        time.perf_counter() - started,
    )
    return 100.0 * must_split / len(hulls)


def _pack_heavy(weight: np.ndarray, a: np.ndarray, b: np.ndarray, cap: int) -> int:
    """Count disjoint linked sets of streets that hold more than ``cap`` together.

    Each set needs one split street of its own, so the count is a lower bound
    on the split streets. Small sets leave room for more of them: a set grows
    from its least linked street and takes the largest linked street first.
    """
    n = len(weight)
    adjacency = csr_array(
        (np.ones(2 * len(a), dtype=bool), (np.r_[a, b], np.r_[b, a])), shape=(n, n)
    )
    degree = np.diff(adjacency.indptr)
    free = np.ones(n, dtype=bool)
    found = 0
    for seed in np.lexsort((-weight, degree)):
        if not free[seed]:
            continue
        members, total = [seed], int(weight[seed])
        frontier = {int(v) for v in _linked(adjacency, seed) if free[v]}
        while total <= cap and frontier:
            taken = max(frontier, key=lambda v: (weight[v], -v))
            frontier.discard(taken)
            members.append(taken)
            total += int(weight[taken])
            frontier.update(int(v) for v in _linked(adjacency, taken) if free[v])
            frontier.difference_update(members)
        if total > cap:
            free[members] = False
            found += 1
    return found


def _linked(adjacency: csr_array, street: int) -> np.ndarray:
    """The streets linked to ``street``."""
    return adjacency.indices[adjacency.indptr[street] : adjacency.indptr[street + 1]]


def _check_cap(max_size: int) -> None:
    """Reject a cap that is not a positive integer."""
    is_int = isinstance(max_size, int | np.integer) and not isinstance(max_size, bool)
    if not is_int or max_size < 1:
        msg = (
            f"`max_size` must be a positive integer (the group cap); got "
            f"{max_size!r}. Pass the `max_size` the partition was made with."
        )
        raise BuurtgroepenError(msg)


def _encode(
    members: pd.DataFrame, group_id: pd.Series | None, columns: tuple[str, ...]
) -> _Coded:
    """Check the input and number the groups and woonplaatsen (both sorted).

    Without ``group_id`` every registration is in one group, for measures of
    the registrations alone.
    """
    missing = [col for col in columns if col not in members.columns]
    if missing:
        msg = (
            f"`members` lacks the column(s) {missing}; pass one row per "
            f"registration with {list(columns)} (x, y in RD New metres)."
        )
        raise BuurtgroepenError(msg)
    if group_id is None:
        labels = pd.Series(0, index=members.index)
    else:
        labels = _aligned_labels(members, group_id)
        _check_complete(labels, "group_id", "assign every registration to a group")
    _check_complete(members["woonplaats"], "woonplaats", "fill in the woonplaats")

    # coordinates must be finite for the distances, the graph and the hulls
    xy = members[["x", "y"]].to_numpy(dtype=float, na_value=np.nan)
    bad = int((~np.isfinite(xy).all(axis=1)).sum())
    if bad:
        msg = (
            f"`members` has {bad} registrations without finite `x`/`y`; geocode "
            "them or drop them before measuring."
        )
        raise BuurtgroepenError(msg)

    group, group_labels = pd.factorize(labels, sort=True)
    woonplaats, names = pd.factorize(members["woonplaats"].astype("str"), sort=True)
    return _Coded(
        xy=xy,
        group=group.astype(np.int64),
        labels=pd.Index(group_labels, name="group_id"),
        woonplaats=woonplaats.astype(np.int64),
        woonplaatsen=pd.Index(names),
    )


def _aligned_labels(members: pd.DataFrame, group_id: pd.Series) -> pd.Series:
    """Return ``group_id`` in the row order of ``members``."""
    if group_id.index.equals(members.index):
        return group_id
    same_labels = (
        members.index.is_unique
        and group_id.index.is_unique
        and len(group_id) == len(members)
        and bool(group_id.index.isin(members.index).all())
    )
    if not same_labels:
        extra = int((~group_id.index.isin(members.index)).sum())
        msg = (
            f"`group_id` must be on the index of `members`: it has {len(group_id)} "
            f"rows for {len(members)} registrations, {extra} of its index labels "
            "not in `members`; pass the Series returned by the partition for "
            "exactly these registrations."
        )
        raise BuurtgroepenError(msg)
    return group_id.reindex(members.index)


def _check_complete(values: pd.Series, name: str, fix: str) -> None:
    """Reject missing values, naming the column and how many are missing."""
    missing = int(values.isna().sum())
    if missing:
        msg = (
            f"`{name}` is missing for {missing} of {len(values)} registrations; "
            f"{fix} or drop those rows before measuring."
        )
        raise BuurtgroepenError(msg)


def _table(coded: _Coded) -> pd.DataFrame:
    """Assemble the per-group table from the coded registrations."""
    if len(coded.group) == 0:
        return _empty_table(coded.labels)

    sizes = np.bincount(coded.group)
    pair_group, pair_woonplaats, pair_count = _group_woonplaats_pairs(coded)
    main = _main_woonplaats(pair_group, pair_woonplaats, pair_count)
    contiguous = _contiguous(coded)
    overlaps = _hull_overlaps(coded, pair_group, pair_woonplaats)
    return pd.DataFrame(
        {
            "size": sizes.astype(np.int64),
            "woonplaats": pd.array(coded.woonplaatsen.take(main), dtype="str"),
            "woonplaatsen": np.bincount(pair_group).astype(np.int64),
            "contiguous": contiguous,
            "hull_overlaps": overlaps,
            "mean_distance_m": _mean_distance(coded, sizes),
        },
        index=coded.labels,
    )


def _empty_table(labels: pd.Index) -> pd.DataFrame:
    """The table of a partition without registrations."""
    return pd.DataFrame(
        {
            "size": pd.Series(dtype=np.int64),
            "woonplaats": pd.Series(dtype="str"),
            "woonplaatsen": pd.Series(dtype=np.int64),
            "contiguous": pd.Series(dtype=bool),
            "hull_overlaps": pd.Series(dtype=bool),
            "mean_distance_m": pd.Series(dtype=float),
        },
        index=labels[:0],
    )


def _group_woonplaats_pairs(
    coded: _Coded,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct (group, woonplaats) pairs, sorted, with their registration counts."""
    n_woonplaatsen = len(coded.woonplaatsen)
    keys, counts = np.unique(
        coded.group * n_woonplaatsen + coded.woonplaats, return_counts=True
    )
    return keys // n_woonplaatsen, keys % n_woonplaatsen, counts


def _main_woonplaats(
    pair_group: np.ndarray, pair_woonplaats: np.ndarray, pair_count: np.ndarray
) -> np.ndarray:
    """The most common woonplaats of each group; ties go to the lowest code."""
    order = np.lexsort((pair_woonplaats, -pair_count, pair_group))
    first = np.r_[True, np.diff(pair_group[order]) != 0]
    return pair_woonplaats[order][first]


def _mean_distance(coded: _Coded, sizes: np.ndarray) -> np.ndarray:
    """Mean distance (m) of each group's members to the group's centroid."""
    cx = np.bincount(coded.group, weights=coded.xy[:, 0]) / sizes
    cy = np.bincount(coded.group, weights=coded.xy[:, 1]) / sizes
    distance = np.hypot(
        coded.xy[:, 0] - cx[coded.group], coded.xy[:, 1] - cy[coded.group]
    )
    return np.bincount(coded.group, weights=distance) / sizes


def _contiguous(coded: _Coded) -> np.ndarray:
    """Whether each group is one component of its woonplaats's Delaunay graph.

    The graph is built on sites, the distinct (point, group) pairs of a
    woonplaats: members of one group at one point are one node, and two sites
    are joined when their points share a Delaunay edge and their group is the
    same. Joining co-located rows through one representative instead would
    make the answer depend on the row order when groups share a point.
    """
    point_of, point_xy, point_woonplaats = _points(coded)
    n_groups = len(coded.labels)
    site_key = np.unique(point_of * n_groups + coded.group)
    point_edges = _point_edges(point_xy, point_woonplaats)
    edges = _site_edges(point_edges, site_key, n_groups, len(point_xy))

    # a group is contiguous when all its sites fall in one component
    n_sites = len(site_key)
    graph = coo_array(
        (np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n_sites, n_sites)
    ).tocsr()
    _, component = connected_components(graph, directed=False)
    site_group = site_key % n_groups
    pieces = np.unique(site_group * n_sites + component)
    return np.bincount(pieces // n_sites, minlength=n_groups) == 1


def _points(coded: _Coded) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Number the distinct (woonplaats, x, y) points, sorted by woonplaats first."""
    # a lexsort is several times faster than np.unique(axis=0) on a million rows
    order = np.lexsort((coded.xy[:, 1], coded.xy[:, 0], coded.woonplaats))
    xy, woonplaats = coded.xy[order], coded.woonplaats[order]
    new = np.r_[True, (np.diff(woonplaats) != 0) | (np.diff(xy, axis=0) != 0).any(1)]
    point_of = np.empty(len(order), dtype=np.int64)
    point_of[order] = np.cumsum(new) - 1
    return point_of, xy[new], woonplaats[new]


def _point_edges(point_xy: np.ndarray, point_woonplaats: np.ndarray) -> np.ndarray:
    """Delaunay edges between the distinct points, per woonplaats (point numbers)."""
    bounds = np.flatnonzero(np.diff(point_woonplaats)) + 1
    starts = np.r_[0, bounds]
    stops = np.r_[bounds, len(point_xy)]
    edges = [np.empty((0, 2), dtype=np.int64)]
    for start, stop in zip(starts, stops, strict=True):
        edges.append(start + delaunay_edges(point_xy[start:stop]))
    return np.concatenate(edges)


def _site_edges(
    point_edges: np.ndarray, site_key: np.ndarray, n_groups: int, n_points: int
) -> np.ndarray:
    """Join the sites of one group across every Delaunay edge between points.

    ``site_key`` is ``point * n_groups + group``, sorted, so the sites of a
    point are a contiguous run. Each edge ``(p, q)`` is repeated once per site at
    ``p`` and kept where ``q`` has a site of the same group.
    """
    site_point = site_key // n_groups
    first = np.searchsorted(site_point, np.arange(n_points + 1))
    p, q = point_edges[:, 0], point_edges[:, 1]
    per_edge = first[p + 1] - first[p]
    edge = np.repeat(np.arange(len(point_edges)), per_edge)
    offset = np.arange(len(edge)) - np.repeat(np.cumsum(per_edge) - per_edge, per_edge)
    source = first[p][edge] + offset

    # look up the site of the same group at the other end
    wanted = q[edge] * n_groups + site_key[source] % n_groups
    target = np.minimum(np.searchsorted(site_key, wanted), len(site_key) - 1)
    found = site_key[target] == wanted
    return np.column_stack([source[found], target[found]])


def _hull_overlaps(
    coded: _Coded, pair_group: np.ndarray, pair_woonplaats: np.ndarray
) -> np.ndarray:
    """Whether each group's hull overlaps another's in a woonplaats they share."""
    n_groups = len(coded.labels)
    overlapping = np.zeros(n_groups, dtype=bool)
    order = np.argsort(coded.group, kind="stable")
    points = shapely.multipoints(coded.xy[order], indices=coded.group[order])
    hulls = shapely.convex_hull(points)

    # points and lines have no area, so only hulls with area can overlap
    solid = np.flatnonzero(shapely.area(hulls) > HULL_OVERLAP_TOLERANCE_M2)
    if len(solid) < 2:
        return overlapping
    tree = shapely.STRtree(hulls[solid])
    member = csr_array(
        (np.ones(len(pair_group), dtype=bool), (pair_group, pair_woonplaats)),
        shape=(n_groups, len(coded.woonplaatsen)),
    )

    # query a chunk of groups at a time, leaving out groups already known to
    # overlap: an interleaved partition has candidate pairs quadratic in groups
    for start in range(0, len(solid), _QUERY_CHUNK):
        chunk = solid[start : start + _QUERY_CHUNK]
        chunk = chunk[~overlapping[chunk]]
        query, found = tree.query(hulls[chunk], predicate="intersects")
        a, b = chunk[query], solid[found]
        shared = np.asarray(member[a].multiply(member[b]).sum(axis=1)).ravel() > 0
        shared &= a != b
        _mark_overlaps(hulls, a[shared], b[shared], overlapping)
    return overlapping


def _mark_overlaps(
    hulls: np.ndarray, a: np.ndarray, b: np.ndarray, overlapping: np.ndarray
) -> None:
    """Flag both groups of each pair whose hulls share more than the tolerance.

    Pairs are intersected in batches, and a pair is skipped once its group
    ``a`` is flagged: its partner ``b`` is then decided by its own query, or
    already was. Changes ``overlapping`` in place.
    """
    for start in range(0, len(a), _PAIR_BATCH):
        left, right = a[start : start + _PAIR_BATCH], b[start : start + _PAIR_BATCH]
        undecided = ~overlapping[left]
        left, right = left[undecided], right[undecided]
        area = shapely.area(shapely.intersection(hulls[left], hulls[right]))
        hit = area > HULL_OVERLAP_TOLERANCE_M2
        overlapping[left[hit]] = True
        overlapping[right[hit]] = True


def _streets(
    street: pd.Series, coded: _Coded
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Number the streets (a name within a woonplaats) of the named registrations.

    Returns which registrations have a street, the street of each of those, and
    the registrations per street.
    """
    blank = street.astype("str").str.strip().eq("").to_numpy(dtype=bool)
    code, names = pd.factorize(street.mask(blank))
    named = code >= 0
    key = coded.woonplaats[named] * max(len(names), 1) + code[named]
    _, street_of, registrations = np.unique(
        key, return_inverse=True, return_counts=True
    )
    return named, street_of.ravel(), registrations


def _split_streets(street: pd.Series, coded: _Coded, max_size: int) -> tuple[int, int]:
    """Count the split streets and the streets counted (2 to ``max_size - 1``)."""
    named, street_of, registrations = _streets(street, coded)

    # distinct groups per street, from the distinct (street, group) pairs
    n_groups = len(coded.labels)
    pairs = np.unique(street_of * n_groups + coded.group[named])
    groups = np.bincount(pairs // n_groups, minlength=len(registrations))
    counted = (registrations >= 2) & (registrations < max_size)
    return int((counted & (groups > 1)).sum()), int(counted.sum())


def _summarise(
    table: pd.DataFrame, split: int, counted: int, max_size: int
) -> dict[str, Any]:
    """Reduce the group table and the street counts to the quality dict."""
    sizes = table["size"].to_numpy(dtype=float)
    mean = table["size"].groupby(table["woonplaats"]).transform("mean").to_numpy()
    balanced = np.abs(sizes - mean) <= BALANCE_TOLERANCE * mean * (1 + _BALANCE_EPS)
    # exact sums, so the result does not depend on the order of the groups
    total = int(table["size"].sum())
    squares = int((table["size"].astype(np.int64) ** 2).sum())
    distance = math.fsum(sizes * table["mean_distance_m"].to_numpy()) / total
    return {
        "registrations": total,
        "groups": len(table),
        "max_size": int(sizes.max()),
        "min_size": int(sizes.min()),
        "size_cv": math.sqrt(len(sizes) * squares - total**2) / total,
        "over_cap": int((sizes > max_size).sum()),
        "within_15pct": float(balanced.mean()),
        "contiguous_pct": _pct(table["contiguous"].to_numpy()),
        "hull_overlap_pct": _pct(table["hull_overlaps"].to_numpy()),
        "split_streets_pct": 100.0 * split / counted if counted else None,
        "cross_woonplaats_pct": _pct(table["woonplaatsen"].to_numpy() > 1),
        "mean_distance_m": distance,
    }


def _pct(flags: np.ndarray) -> float:
    """Share of true values, in percent."""
    return float(100.0 * flags.mean())


def _empty_quality() -> dict[str, Any]:
    """The quality dict of a partition without registrations."""
    return {
        "registrations": 0,
        "groups": 0,
        "max_size": None,
        "min_size": None,
        "size_cv": None,
        "over_cap": 0,
        "within_15pct": None,
        "contiguous_pct": None,
        "hull_overlap_pct": None,
        "split_streets_pct": None,
        "cross_woonplaats_pct": None,
        "mean_distance_m": None,
    }
