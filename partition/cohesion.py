"""Street cohesion: reunite streets that a partition split between two groups.

A beheerder explains a group as "the Kerkstraat, the Molenweg and the start of the
Esweg"; a street whose residents sit in two groups is confusing. After the
capacitated assignment, :func:`mend_streets` moves the smaller part of each split
street into the group holding most of it, but only where nothing of higher
priority suffers: the receiving group stays within its size bound, both groups stay
connected in the Delaunay graph, and no member hull starts to overlap another
group's hull. Streets that cross a group boundary head-on usually cannot be mended
without such overlap and stay split.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely
from scipy.sparse import csr_matrix

_OVERLAP_M2 = 1.0
_ROUNDS = 3


def mend_streets(
    xy: np.ndarray,
    weight: np.ndarray,
    street: np.ndarray,
    labels: np.ndarray,
    edges: np.ndarray,
    *,
    lower: int,
    upper: int,
) -> np.ndarray:
    """Return new site labels with split streets reunited where it is safe.

    Parameters
    ----------
    xy
        Site coordinates, RD New metres.
    weight
        Registrations per site.
    street
        Street code per site; -1 for sites whose street is not to be kept whole
        (too long for one group).
    labels
        Group number per site.
    edges
        Delaunay edges between sites (``partition.groups.delaunay_edges``).
    lower, upper
        Size bounds (registrations) a group must stay within.

    Returns
    -------
    labels
        A new array; the input is not changed.
    """
    labels = labels.copy()
    if len(edges) == 0 or (street < 0).all():
        return labels
    n = len(weight)
    adjacency = csr_matrix(
        (np.ones(2 * len(edges)), (edges.ravel(), edges[:, ::-1].ravel())),
        shape=(n, n),
    )
    k = int(labels.max()) + 1
    sizes = np.bincount(labels, weights=weight, minlength=k)
    hulls = _hulls(xy, labels, k)
    bounds = shapely.bounds(hulls)

    for _ in range(_ROUNDS):
        moved = False
        for site_ids, target in _candidate_moves(street, weight, labels):
            source = labels[site_ids[0]]
            piece = weight[site_ids].sum()
            if sizes[target] + piece > upper or sizes[source] - piece < lower:
                continue
            grown = np.union1d(np.flatnonzero(labels == target), site_ids)
            shrunk = np.setdiff1d(np.flatnonzero(labels == source), site_ids)
            if not (connected(adjacency, grown) and connected(adjacency, shrunk)):
                continue
            new_target = shapely.convex_hull(shapely.multipoints(xy[grown]))
            new_source = shapely.convex_hull(shapely.multipoints(xy[shrunk]))
            if _overlaps(new_target, new_source, hulls, bounds, (target, source)):
                continue
            labels[site_ids] = target
            sizes[target] += piece
            sizes[source] -= piece
            hulls[target], hulls[source] = new_target, new_source
            bounds[[target, source]] = shapely.bounds([new_target, new_source])
            moved = True
        if not moved:
            break
    return labels


def _candidate_moves(
    street: np.ndarray, weight: np.ndarray, labels: np.ndarray
) -> list[tuple[np.ndarray, int]]:
    """The minority parts of split streets, smallest first, with their target.

    The target is the group holding the most registrations of the street.
    """
    sites = np.flatnonzero(street >= 0)
    frame = pd.DataFrame(
        {
            "site": sites,
            "street": street[sites],
            "group": labels[sites],
            "weight": weight[sites],
        }
    )
    part = frame.groupby(["street", "group"], sort=True)["weight"].sum()
    groups_per_street = part.groupby(level="street").size()
    split = groups_per_street.index[groups_per_street > 1]
    if not len(split):
        return []
    part = part.loc[split].reset_index()
    part = part.sort_values(
        ["street", "weight", "group"], ascending=[True, False, True]
    )
    majority = part.groupby("street")["group"].first()
    minority = part[part["group"].to_numpy() != majority.loc[part["street"]].to_numpy()]
    minority = minority.sort_values(["weight", "street", "group"])

    members = frame.groupby(["street", "group"])["site"].agg(np.array)
    return [
        (members.loc[(row.street, row.group)], int(majority.loc[row.street]))
        for row in minority.itertuples()
    ]


def _hulls(xy: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Convex hull of each group's sites, as a shapely array of length ``k``."""
    order = np.argsort(labels, kind="stable")
    multipoints = shapely.multipoints(xy[order], indices=labels[order])
    hulls = np.full(k, shapely.Polygon(), dtype=object)
    present = np.unique(labels)
    hulls[present] = shapely.convex_hull(multipoints)
    return hulls


def connected(adjacency: csr_matrix, nodes: np.ndarray) -> bool:
    """Whether ``nodes`` form one connected piece of the graph (BFS on a subgraph).

    The search walks the CSR arrays directly, one frontier at a time, so a test
    on a small group in a large graph costs the group, not the graph.
    """
    if len(nodes) <= 1:
        return True
    inside = np.zeros(adjacency.shape[0], dtype=bool)
    inside[nodes] = True
    seen = np.zeros_like(inside)
    seen[nodes[0]] = True
    frontier = np.asarray(nodes[:1])
    indptr, indices = adjacency.indptr, adjacency.indices
    reached_count = 1
    while len(frontier):
        starts, ends = indptr[frontier], indptr[frontier + 1]
        counts = ends - starts
        offsets = np.repeat(starts - np.cumsum(counts) + counts, counts)
        neighbours = indices[offsets + np.arange(counts.sum())]
        fresh = neighbours[inside[neighbours] & ~seen[neighbours]]
        frontier = np.unique(fresh)
        seen[frontier] = True
        reached_count += len(frontier)
    return reached_count == len(np.unique(nodes))


def _overlaps(
    new_target: shapely.Geometry,
    new_source: shapely.Geometry,
    hulls: np.ndarray,
    bounds: np.ndarray,
    changed: tuple[int, int],
) -> bool:
    """Whether either changed hull overlaps any other group's hull by > 1 m².

    Bounding boxes are compared first, in numpy, so only the few hulls nearby
    are intersected exactly.
    """
    for hull in (new_target, new_source):
        if shapely.area(hull) <= _OVERLAP_M2:
            continue
        xmin, ymin, xmax, ymax = shapely.bounds(hull)
        near = (
            (bounds[:, 0] < xmax)
            & (bounds[:, 2] > xmin)
            & (bounds[:, 1] < ymax)
            & (bounds[:, 3] > ymin)
        )
        near[list(changed)] = False
        others = hulls[near]
        if (
            len(others)
            and (shapely.area(shapely.intersection(hull, others)) > _OVERLAP_M2).any()
        ):
            return True
    return shapely.area(shapely.intersection(new_target, new_source)) > _OVERLAP_M2
