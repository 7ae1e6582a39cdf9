"""Street cohesion: reunite streets that a partition split between two groups.

A beheerder explains a group as "the Kerkstraat, the Molenweg and the start of the
Esweg"; a street whose residents sit in two groups is confusing. After the
capacitated assignment two passes mend split streets, but only where nothing of
higher priority suffers: both groups stay within their size bounds and connected
in the Delaunay graph, and no member hull starts to overlap another group's hull.

- :func:`recut_pairs` redraws two neighbouring groups as the two sides of the
  straight line through their members that splits the fewest of their streets,
  trading members both ways, so it works between groups that are already full;
- :func:`mend_streets` then moves the smaller part of each split street into the
  group holding most of it, where that group has room.

Known limits: a street that runs through three or more groups, or crosses a
group boundary head-on, usually cannot be mended without such overlap or a size
bound giving way, and stays split; cuts are straight, so a street that bends
around a corner is kept whole only when a straight line can go round it.
"""

from __future__ import annotations

import numpy as np
import shapely
from scipy.sparse import csr_array, csr_matrix

_OVERLAP_M2 = 1.0
_ROUNDS = 3
_ANGLES = 8
_STREET_ANGLES = 6
_SPREAD = 1.25
_TRIES = 3


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
    k = int(labels.max()) + 1
    sizes = np.bincount(labels, weights=weight, minlength=k)
    shapes = _Shapes(xy, labels, edges, k)

    for _ in range(_ROUNDS):
        moved = False
        for site_ids, target in _candidate_moves(street, weight, labels):
            source = labels[site_ids[0]]
            piece = weight[site_ids].sum()
            if sizes[target] + piece > upper or sizes[source] - piece < lower:
                continue
            grown = np.union1d(np.flatnonzero(labels == target), site_ids)
            shrunk = np.setdiff1d(np.flatnonzero(labels == source), site_ids)
            if not shapes.redraw(target, grown, source, shrunk):
                continue
            labels[site_ids] = target
            sizes[target] += piece
            sizes[source] -= piece
            moved = True
        if not moved:
            break
    return labels


def recut_pairs(
    xy: np.ndarray,
    weight: np.ndarray,
    street: np.ndarray,
    labels: np.ndarray,
    edges: np.ndarray,
    *,
    lower: int,
    upper: int,
) -> np.ndarray:
    """Return new site labels with neighbouring groups re-cut along their streets.

    Two neighbouring groups that share a street are redrawn as the two sides of
    one straight line through their joint members, at the angle that splits the
    fewest streets lying wholly inside the pair: a line parallel to a street,
    in the gap behind a row of houses, keeps the row whole. The two sides of a
    line cannot interleave, so only the hulls of other groups need checking. A
    re-cut is kept only when it reunites at least one street, both groups stay
    within ``lower`` and ``upper`` and connected, no hull starts to overlap
    another group's and the pair's spread (sum of squared distances to the two
    centroids) grows by at most a quarter.

    Moving whole pieces (:func:`mend_streets`) needs room in the receiving
    group; a re-cut trades members both ways and does not, so it mends the
    streets of groups planned close to their bound. Parameters are as for
    :func:`mend_streets`; the input is not changed.
    """
    labels = labels.copy()
    if len(edges) == 0 or (street < 0).all():
        return labels
    k = int(labels.max()) + 1
    shapes = _Shapes(xy, labels, edges, k)
    street_sites = np.bincount(street[street >= 0])
    order = np.argsort(labels, kind="stable")
    starts = np.searchsorted(labels[order], np.arange(k + 1))
    members = [order[starts[g] : starts[g + 1]] for g in range(k)]

    for _ in range(_ROUNDS):
        moved = False
        for a, b in _pairs_sharing_streets(street, labels, edges, k):
            sites = np.concatenate([members[a], members[b]])
            for side in _cuts(
                xy[sites],
                weight[sites],
                street[sites],
                labels[sites] == a,
                street_sites,
                lower,
                upper,
            ):
                side_a, side_b = sites[side], sites[~side]
                if not shapes.redraw(a, side_a, b, side_b):
                    continue
                labels[side_a], labels[side_b] = a, b
                members[a], members[b] = side_a, side_b
                moved = True
                break
        if not moved:
            break
    return labels


class _Shapes:
    """The guard both passes share: connectivity and the member hull of each group.

    A redrawn pair of groups must stay connected in the Delaunay graph, and
    their hulls must not start to overlap another group's (or each other).
    """

    def __init__(
        self, xy: np.ndarray, labels: np.ndarray, edges: np.ndarray, k: int
    ) -> None:
        self.xy = xy
        self.adjacency = site_graph(edges, len(xy))
        self.hulls = _hulls(xy, labels, k)
        self.bounds = shapely.bounds(self.hulls)

    def redraw(self, a: int, sites_a: np.ndarray, b: int, sites_b: np.ndarray) -> bool:
        """Whether groups ``a`` and ``b`` may become these sites; if so, note it."""
        if not (
            connected(self.adjacency, sites_a) and connected(self.adjacency, sites_b)
        ):
            return False
        hull_a = shapely.convex_hull(shapely.multipoints(self.xy[sites_a]))
        hull_b = shapely.convex_hull(shapely.multipoints(self.xy[sites_b]))
        if _overlaps(hull_a, hull_b, self.hulls, self.bounds, (a, b)):
            return False
        self.hulls[a], self.hulls[b] = hull_a, hull_b
        self.bounds[[a, b]] = shapely.bounds([hull_a, hull_b])
        return True


def _pairs_sharing_streets(
    street: np.ndarray, labels: np.ndarray, edges: np.ndarray, k: int
) -> list[tuple[int, int]]:
    """Neighbouring groups (Delaunay) that share a street, most shared first."""
    a, b = labels[edges[:, 0]], labels[edges[:, 1]]
    across = a != b
    pairs = np.unique(np.sort(np.column_stack([a[across], b[across]]), axis=1), axis=0)
    named = street >= 0
    if not len(pairs) or not named.any():
        return []
    incidence = csr_array(
        (np.ones(int(named.sum())), (labels[named], street[named])),
        shape=(k, int(street.max()) + 1),
    )
    incidence.data[:] = 1.0
    shared = np.asarray(
        incidence[pairs[:, 0]].multiply(incidence[pairs[:, 1]]).sum(axis=1)
    ).ravel()
    keep = shared > 0
    pairs, shared = pairs[keep], shared[keep]
    ranked = np.lexsort((pairs[:, 1], pairs[:, 0], -shared))
    return [(int(p), int(q)) for p, q in pairs[ranked]]


def _cuts(
    xy: np.ndarray,
    weight: np.ndarray,
    street: np.ndarray,
    in_a: np.ndarray,
    street_sites: np.ndarray,
    lower: int,
    upper: int,
) -> list[np.ndarray]:
    """The best straight cuts of a pair, as masks of the side that stays ``a``.

    Only the pair's own streets (every site of the street in the pair) count:
    a street that runs on into a third group stays split whatever the cut.
    For each angle the best cut that splits fewer of them than the present
    boundary is returned, best first: fewest split streets, then least spread.
    """
    total = weight.sum()
    low, high = max(lower, total - upper), min(upper, total - lower)
    code, count = np.unique(street[street >= 0], return_counts=True)
    inside = np.isin(street, code[count == street_sites[code]])
    if low > high or not inside.any():
        return []
    local = np.unique(street[inside], return_inverse=True)[1].ravel()
    n_own = int(local.max()) + 1
    split_now = _split_count(local, in_a[inside], n_own)
    if split_now == 0:
        return []

    xy = xy - np.average(xy, axis=0, weights=weight)
    spread_now = _spread(xy, weight, in_a) + _spread(xy, weight, ~in_a)
    found = []
    for normal in _normals(xy[inside], local, in_a[inside]):
        ranked = np.argsort(xy @ normal, kind="stable")
        rank = np.empty_like(ranked)
        rank[ranked] = np.arange(len(ranked))
        splits = _splits_at(rank[inside], local, n_own, len(ranked))
        spread = _spread_at(xy[ranked], weight[ranked])
        left = np.cumsum(weight[ranked])[:-1]
        ok = (splits < split_now) & (left >= low) & (left <= high)
        ok &= spread <= _SPREAD * spread_now
        if ok.any():
            # the best position per angle: neighbouring positions of one angle
            # mostly fail the same checks, other angles give real alternatives
            candidates = np.flatnonzero(ok)
            p = candidates[np.lexsort((spread[candidates], splits[candidates]))[0]]
            found.append((splits[p], spread[p], len(found), ranked[: p + 1]))

    found.sort(key=lambda item: item[:3])
    masks = []
    for *_, first in found[:_TRIES]:
        side = np.zeros(len(weight), dtype=bool)
        side[first] = True
        masks.append(side if (side & in_a).sum() >= (~side & in_a).sum() else ~side)
    return masks


def _normals(xy: np.ndarray, local: np.ndarray, in_a: np.ndarray) -> np.ndarray:
    """Unit normals of the cut lines to try.

    Evenly spread angles, plus the directions across each of the largest split
    streets (a cut parallel to a street keeps it whole).
    """
    angles = np.arange(_ANGLES) * np.pi / _ANGLES
    normals = [np.column_stack([np.cos(angles), np.sin(angles)])]
    size = np.bincount(local)
    split = np.flatnonzero(_on_both_sides(local, in_a, len(size)))
    split = split[np.argsort(-size[split], kind="stable")]
    for s in split[:_STREET_ANGLES]:
        along = xy[local == s]
        _, _, axes = np.linalg.svd(along - along.mean(axis=0), full_matrices=False)
        normals.append(axes[1:2])
    return np.concatenate(normals)


def _on_both_sides(local: np.ndarray, in_a: np.ndarray, n: int) -> np.ndarray:
    """Per street: does it have sites on both sides?"""
    on_a = np.bincount(local, weights=in_a, minlength=n)
    return (on_a > 0) & (on_a < np.bincount(local, minlength=n))


def _split_count(local: np.ndarray, in_a: np.ndarray, n: int) -> int:
    """How many streets have sites on both sides."""
    return int(_on_both_sides(local, in_a, n).sum())


def _splits_at(rank: np.ndarray, local: np.ndarray, n: int, m: int) -> np.ndarray:
    """Split streets for each cut after position ``p`` (0..m-2) of the ranking."""
    first = np.full(n, m)
    last = np.full(n, -1)
    np.minimum.at(first, local, rank)
    np.maximum.at(last, local, rank)
    change = np.zeros(m + 1, dtype=np.int64)
    np.add.at(change, first, 1)
    np.add.at(change, last, -1)
    return np.cumsum(change)[: m - 1]


def _spread(xy: np.ndarray, weight: np.ndarray, side: np.ndarray) -> float:
    """Weighted sum of squared distances of one side's sites to their centroid."""
    if not side.any():
        return 0.0
    points, w = xy[side], weight[side]
    centre = np.average(points, axis=0, weights=w)
    return float((w * ((points - centre) ** 2).sum(axis=1)).sum())


def _spread_at(xy: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Spread of both sides for each cut after position ``p`` of ranked sites."""
    w = weight.astype(float)
    sums = np.cumsum(
        np.column_stack([w, w * xy[:, 0], w * xy[:, 1], w * (xy**2).sum(axis=1)]),
        axis=0,
    )
    left, right = sums[:-1], sums[-1] - sums[:-1]

    def spread(part: np.ndarray) -> np.ndarray:
        return part[:, 3] - (part[:, 1] ** 2 + part[:, 2] ** 2) / part[:, 0]

    return spread(left) + spread(right)


def _candidate_moves(
    street: np.ndarray, weight: np.ndarray, labels: np.ndarray
) -> list[tuple[np.ndarray, int]]:
    """The minority parts of split streets, smallest first, with their target.

    The target is the group holding the most registrations of the street (the
    lower group number on a tie).
    """
    sites = np.flatnonzero(street >= 0)
    if not len(sites):
        return []
    k = int(labels.max()) + 1
    key = street[sites].astype(np.int64) * k + labels[sites]
    order = np.argsort(key, kind="stable")
    parts, first, inverse = np.unique(
        key[order], return_index=True, return_inverse=True
    )
    part_weight = np.bincount(inverse.ravel(), weights=weight[sites][order])
    part_street, part_group = parts // k, parts % k

    # parts are sorted by street, then group: the heaviest part of each street
    # (the lowest group on a tie) is its majority
    rank = np.lexsort((part_group, -part_weight, part_street))
    streets, start, count = np.unique(
        part_street[rank], return_index=True, return_counts=True
    )
    split = count > 1
    if not split.any():
        return []
    majority = dict(zip(streets[split], part_group[rank][start[split]], strict=True))
    minority = np.flatnonzero(
        np.isin(part_street, streets[split])
        & (part_group != np.array([majority.get(s, -1) for s in part_street]))
    )
    minority = minority[
        np.lexsort((part_group[minority], part_street[minority], part_weight[minority]))
    ]
    bounds = np.append(first, len(order))
    return [
        (
            np.sort(sites[order[bounds[p] : bounds[p + 1]]]),
            int(majority[part_street[p]]),
        )
        for p in minority
    ]


def _hulls(xy: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Convex hull of each group's sites, as a shapely array of length ``k``."""
    order = np.argsort(labels, kind="stable")
    multipoints = shapely.multipoints(xy[order], indices=labels[order])
    hulls = np.full(k, shapely.Polygon(), dtype=object)
    present = np.unique(labels)
    hulls[present] = shapely.convex_hull(multipoints)
    return hulls


def site_graph(edges: np.ndarray, n: int) -> csr_matrix:
    """The symmetric adjacency matrix of ``n`` sites joined by ``edges``."""
    return csr_matrix(
        (np.ones(2 * len(edges)), (edges.ravel(), edges[:, ::-1].ravel())),
        shape=(n, n),
    )


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
    """Whether either changed hull overlaps another group's hull, or each other.

    Hulls with area overlap when they share more than 1 m²; a hull without area
    (one site, or one straight row of sites, as a re-cut along a street makes)
    overlaps when it runs through the inside of another group's hull. Bounding
    boxes are compared first, in numpy, so only the few hulls nearby are
    intersected exactly.
    """
    for hull in (new_target, new_source):
        xmin, ymin, xmax, ymax = shapely.bounds(hull)
        near = (
            (bounds[:, 0] <= xmax)
            & (bounds[:, 2] >= xmin)
            & (bounds[:, 1] <= ymax)
            & (bounds[:, 3] >= ymin)
        )
        near[list(changed)] = False
        if near.any() and _interleaves(hull, hulls[near]).any():
            return True
    pair = np.array([new_source]), np.array([new_target])
    return bool(
        _interleaves(new_target, pair[0])[0] or _interleaves(new_source, pair[1])[0]
    )


def _interleaves(hull: shapely.Geometry, others: np.ndarray) -> np.ndarray:
    """Per hull in ``others``: does ``hull`` overlap it (see :func:`_overlaps`)?"""
    if shapely.area(hull) > _OVERLAP_M2:
        return shapely.area(shapely.intersection(hull, others)) > _OVERLAP_M2
    solid = shapely.area(others) > _OVERLAP_M2
    return solid & shapely.relate_pattern(hull, others, "T********")
