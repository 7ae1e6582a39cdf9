"""Disjoint groups and whole streets: redraw groups along straight lines.

A beheerder explains a group as "the Kerkstraat, the Molenweg and the start of the
Esweg". That fails when two groups' members are wound round each other, and it
is confusing when a street's residents sit in two groups. After the capacitated
assignment five passes redraw groups, each only where nothing of higher
priority suffers: the groups stay within their size bounds and connected in the
Delaunay graph, and no member hull starts to overlap another group's hull.

- :func:`separate_hulls` redraws groups whose hulls overlap by recursive
  straight cuts through their joint members (the parts of a straight cut
  cannot interleave);
- :func:`peel_overlaps` parts the pairs no straight redraw parts by moving the
  sites that make their overlap one at a time to a neighbouring group;
- :func:`fill_short` grows the groups that contiguity repair left below the
  balance bound with sites next to them, from neighbours that can spare them;
- :func:`recut_pairs` redraws two neighbouring groups as the two sides of the
  straight line through their members that splits the fewest of their streets,
  trading members both ways, so it works between groups that are already full;
- :func:`mend_streets` then moves the smaller part of each split street into the
  group holding most of it, where that group has room.

Known limits: a street that runs through three or more groups, or crosses a
group boundary head-on, usually cannot be mended without such overlap or a size
bound giving way, and stays split; cuts are straight, so a street that bends
around a corner is kept whole only when a straight line can go round it.
Overlapping groups that neither a straight redraw nor moving up to ``_PEEL``
sites parts, without cutting a group in two or running into a neighbour, stay
as they are. A short group takes only from its direct neighbours, not along
chains of groups.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import shapely
from scipy.optimize import linear_sum_assignment
from scipy.sparse import csr_array, csr_matrix
from scipy.sparse.csgraph import connected_components

_OVERLAP_M2 = 1.0
_ROUNDS = 3
_ANGLES = 8
_STREET_ANGLES = 6
_SPREAD = 1.25
_TRIES = 3
_KNOT_ANGLES = 16
_KNOT = 15
_PEEL = 12


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
    members = _members(labels, k)

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


def separate_hulls(
    xy: np.ndarray,
    weight: np.ndarray,
    labels: np.ndarray,
    edges: np.ndarray,
    *,
    lower: int,
    upper: int,
) -> np.ndarray:
    """Return new site labels with groups whose hulls overlap redrawn apart.

    Groups whose member hulls overlap form a *knot* (two groups, or a dense
    group wedged between two others). A knot is redrawn by recursive straight
    cuts through its joint members, each at the angle that leaves the parts
    most compact (least spread) with sizes within ``lower`` and ``upper``, or
    within the knot's present sizes where those lie outside; the parts of
    straight cuts cannot interleave. Each group keeps the part it shares most
    members with. A redraw is kept only when every part is connected and no
    new hull overlaps a group outside the knot, so it takes the knot out of the
    overlap count and puts no other group in. Where the redraws run into a
    neighbour, that neighbour joins the knot; where every redraw of a pair cuts
    a group in two (two full groups leave the cut no room), the neighbour with
    most room joins; up to ``_KNOT`` groups.

    Overlap ranks above street cohesion and compactness, so a redraw may split a
    street or widen the groups; the street passes run after it and keep hulls
    apart. Known limit: a connected set of more than ``_KNOT`` overlapping
    groups is only tried a pair at a time, and a knot that no straight redraw
    parts within ``_KNOT`` groups stays as it is. Parameters are as for
    :func:`mend_streets`; the input is not changed.
    """
    labels = labels.copy()
    if len(edges) == 0:
        return labels
    k = int(labels.max()) + 1
    shapes = _Shapes(xy, labels, edges, k)
    members = _members(labels, k)
    sizes = np.bincount(labels, weights=weight, minlength=k).astype(np.int64)

    # a knot that found no redraw is tried again only once a group it involved
    # has been redrawn since
    changed = np.full(k, -1)
    failed: dict[tuple[int, ...], tuple[int, np.ndarray]] = {}
    for round_ in range(_ROUNDS):
        moved = False
        for knot in _knots(shapes.hulls):
            key = tuple(knot.tolist())
            if key in failed and changed[failed[key][1]].max() < failed[key][0]:
                continue
            if not _still_knotted(shapes.hulls, knot):
                continue
            involved = knot
            while True:
                sites = np.concatenate([members[g] for g in knot])
                low = min(lower, int(sizes[knot].min()))
                high = max(upper, int(sizes[knot].max()))
                redrawn, touched = _redraw_knot(
                    shapes, xy, weight, labels, sites, knot, low, high
                )
                involved = np.union1d(involved, touched)
                if redrawn is not None:
                    break
                if not len(touched):
                    # every redraw of a pair cut a group in two: the neighbour
                    # with most room joins, so the cuts can fall elsewhere
                    if len(knot) > 2:
                        break
                    touched = _roomiest_neighbour(shapes, labels, sites, knot, sizes)
                    if not len(touched):
                        break
                # a neighbour in the way joins the knot, up to ``_KNOT`` groups
                knot = np.union1d(knot, touched)
                if len(knot) > _KNOT:
                    break
            if redrawn is None:
                failed[key] = (round_, involved)
                continue
            for g, part in zip(knot, redrawn, strict=True):
                labels[part] = g
                members[g] = part
                sizes[g] = weight[part].sum()
            changed[knot] = round_
            moved = True
        if not moved:
            break
    return labels


def peel_overlaps(
    xy: np.ndarray,
    weight: np.ndarray,
    labels: np.ndarray,
    edges: np.ndarray,
    *,
    lower: int,
    upper: int,
) -> np.ndarray:
    """Return new site labels with overlapping pairs parted site by site.

    Where no straight redraw parts two overlapping groups (every cut leaves a
    part in pieces, as round a bend, or at a village edge with houses strung
    out into the country), the sites that make the overlap move one at a time:
    a site of either group that lies in the other's hull, or on its own
    group's hull, goes to the neighbouring group whose move shrinks the pair's
    overlap most. A move is kept only when the giver stays connected and at
    ``lower`` or more, the taker stays at ``upper`` or less and its hull
    overlaps no group it did not overlap already. A pair's moves stand only
    when they part it within ``_PEEL`` sites; otherwise the pair is put back.

    ``upper`` is meant to be the cap, not the planned size: overlap ranks above
    headroom, and only the few groups next to an overlap take sites. Other
    parameters are as for :func:`mend_streets`; the input is not changed.
    """
    labels = labels.copy()
    if len(edges) == 0:
        return labels
    k = int(labels.max()) + 1
    shapes = _Shapes(xy, labels, edges, k)
    pairs = _interleaving_pairs(shapes.hulls)
    if not len(pairs):
        return labels
    members = _members(labels, k)
    sizes = np.bincount(labels, weights=weight, minlength=k).astype(np.int64)
    bounds = (lower, upper)

    for a, b in pairs.tolist():
        if not _pair_overlap(shapes.hulls[a], shapes.hulls[b]):
            continue
        moves: list[tuple[int, int, int, np.ndarray]] = []
        while len(moves) < _PEEL and _pair_overlap(shapes.hulls[a], shapes.hulls[b]):
            step = _best_peel(
                shapes, xy, weight, labels, members, sizes, (a, b), bounds
            )
            if step is None:
                break
            site, giver, taker, hulls = step
            moves.append((site, giver, taker, shapes.hulls[[giver, taker]]))
            _move_site(weight, labels, members, sizes, site, taker)
            shapes.note([giver, taker], hulls)
        if _pair_overlap(shapes.hulls[a], shapes.hulls[b]):
            for site, giver, taker, hulls in reversed(moves):
                _move_site(weight, labels, members, sizes, site, giver)
                shapes.note([giver, taker], hulls)
    return labels


def _pair_overlap(hull_a: shapely.Geometry, hull_b: shapely.Geometry) -> float:
    """How much two hulls overlap: their shared area, at least 1 when they do."""
    if not _interleaves(hull_a, np.array([hull_b]))[0]:
        return 0.0
    return max(1.0, float(shapely.area(shapely.intersection(hull_a, hull_b))))


def _best_peel(
    shapes: _Shapes,
    xy: np.ndarray,
    weight: np.ndarray,
    labels: np.ndarray,
    members: list[np.ndarray],
    sizes: np.ndarray,
    pair: tuple[int, int],
    bounds: tuple[int, int],
) -> tuple[int, int, int, np.ndarray] | None:
    """The one site move that shrinks the pair's overlap most, if any does.

    Returns the site, its group, the group taking it, and the two groups' new
    hulls (giver first).
    """
    a, b = pair
    lower, upper = bounds
    now = _pair_overlap(shapes.hulls[a], shapes.hulls[b])
    best = None
    # the groups each taker's hull overlaps now, worked out once per step
    present: dict[int, set[int]] = {}
    for giver, other in ((a, b), (b, a)):
        sites = members[giver]
        inside = shapely.intersects_xy(
            shapely.buffer(shapes.hulls[other], 1.0), xy[sites, 0], xy[sites, 1]
        )
        rim = shapely.intersects_xy(
            shapely.buffer(shapely.boundary(shapes.hulls[giver]), 0.01),
            xy[sites, 0],
            xy[sites, 1],
        )
        for site in sites[inside | rim].tolist():
            if sizes[giver] - weight[site] < lower:
                continue
            around = np.unique(labels[neighbours(shapes.adjacency, np.array([site]))])
            takers = around[(around != giver) & (sizes[around] + weight[site] <= upper)]
            rest = sites[sites != site]
            if not len(takers) or not connected(shapes.adjacency, rest):
                continue
            shrunk = shapely.convex_hull(shapely.multipoints(xy[rest]))
            for taker in takers.tolist():
                grown = np.append(members[taker], site)
                hulls = np.array(
                    [shrunk, shapely.convex_hull(shapely.multipoints(xy[grown]))]
                )
                if taker not in present:
                    hull_now = shapes.hulls[[taker]]
                    present[taker] = set(shapes.clashes([taker], hull_now).tolist())
                after = set(shapes.clashes([taker], hulls[1:]).tolist())
                # the giver's hull only shrinks; the taker's may not reach
                # anyone new, the giver included unless it is the pair's other
                allowed = present[taker] | ({giver} if taker in pair else set())
                if not after <= allowed:
                    continue
                new = {giver: hulls[0], taker: hulls[1]}
                gain = now - _pair_overlap(
                    new.get(a, shapes.hulls[a]), new.get(b, shapes.hulls[b])
                )
                if gain > 0 and (best is None or gain > best[0]):
                    best = (gain, site, giver, taker, hulls)
    return None if best is None else best[1:]


def _move_site(
    weight: np.ndarray,
    labels: np.ndarray,
    members: list[np.ndarray],
    sizes: np.ndarray,
    site: int,
    taker: int,
) -> None:
    """Move one site to ``taker``, in place (the caller notes the new hulls).

    ``labels``, ``members`` and ``sizes`` are the bookkeeping the site-by-site
    passes (:func:`peel_overlaps`, :func:`fill_short`) keep in step.
    """
    giver = int(labels[site])
    labels[site] = taker
    members[giver] = members[giver][members[giver] != site]
    members[taker] = np.sort(np.append(members[taker], site))
    sizes[giver] -= weight[site]
    sizes[taker] += weight[site]


def fill_short(
    xy: np.ndarray,
    weight: np.ndarray,
    labels: np.ndarray,
    edges: np.ndarray,
    *,
    lower: int,
    upper: int,
) -> np.ndarray:
    """Return new site labels with groups below ``lower`` grown from their neighbours.

    Contiguity repair cuts detached pieces off groups, and the group left behind
    can fall well below the balance bound. Such a group takes, one at a time,
    the sites next to it that are nearest its centre, from neighbours that stay
    at ``lower`` or more; a move is kept only when the giver stays connected
    and no hull starts to overlap (the guard of the other passes), as balance
    ranks below both. A site farther from the group's centre than the two
    groups' radii together is not taken: a Delaunay edge across open country
    would otherwise let a group reach into a village kilometres away. A group
    stays short where no neighbour can give that way: a hamlet with nobody else
    near, or neighbours at the bound themselves (no chains of groups are
    tried). Parameters are as for :func:`mend_streets`;
    the input is not changed.
    """
    labels = labels.copy()
    k = int(labels.max()) + 1 if len(labels) else 0
    sizes = np.bincount(labels, weights=weight, minlength=k).astype(np.int64)
    short = np.flatnonzero((sizes > 0) & (sizes < lower))
    if not len(short) or not len(edges):
        return labels

    shapes = _Shapes(xy, labels, edges, k)
    members = _members(labels, k)
    for g in short[np.argsort(sizes[short], kind="stable")].tolist():
        refused = np.zeros(len(weight), dtype=bool)
        while sizes[g] < lower:
            around = neighbours(shapes.adjacency, members[g])
            givers = labels[around]
            around = around[
                (givers != g)
                & ~refused[around]
                & (sizes[givers] - weight[around] >= lower)
                & (sizes[g] + weight[around] <= upper)
            ]
            if not len(around):
                break
            centre = np.average(xy[members[g]], axis=0, weights=weight[members[g]])
            distance = np.hypot(*(xy[around] - centre).T)
            lenders, lender_of = np.unique(labels[around], return_inverse=True)
            radii = np.array([_radius(xy, members[lender]) for lender in lenders])
            reach = _radius(xy, members[g]) + radii[lender_of.ravel()]
            near = distance <= reach
            refused[around[~near]] = True
            if not near.any():
                break
            around, distance = around[near], distance[near]
            for site in around[np.argsort(distance, kind="stable")].tolist():
                giver = int(labels[site])
                grown = np.append(members[g], site)
                shrunk = members[giver][members[giver] != site]
                if shapes.redraw(g, grown, giver, shrunk):
                    _move_site(weight, labels, members, sizes, site, g)
                    break
                refused[site] = True
    return labels


def _radius(xy: np.ndarray, sites: np.ndarray) -> float:
    """Distance from the mean of ``sites`` to the farthest of them."""
    points = xy[sites]
    return float(np.hypot(*(points - points.mean(axis=0)).T).max())


def _roomiest_neighbour(
    shapes: _Shapes,
    labels: np.ndarray,
    sites: np.ndarray,
    knot: np.ndarray,
    sizes: np.ndarray,
) -> np.ndarray:
    """The smallest group next to the knot in the Delaunay graph, if any."""
    around = np.unique(labels[neighbours(shapes.adjacency, sites)])
    around = around[~np.isin(around, knot)]
    if not len(around):
        return around
    return around[[np.argmin(sizes[around])]]


def _redraw_knot(
    shapes: _Shapes,
    xy: np.ndarray,
    weight: np.ndarray,
    labels: np.ndarray,
    sites: np.ndarray,
    knot: np.ndarray,
    low: int,
    high: int,
) -> tuple[list[np.ndarray] | None, np.ndarray]:
    """Try the straight redraws of a knot, best first; note the first that fits.

    Returns the new sites of each group of ``knot`` (None when none fits) and
    the outside groups that the redraws which stayed connected ran into.
    """
    touched = np.empty(0, dtype=np.int64)
    for parts in _straight_partitions(xy[sites], weight[sites], len(knot), low, high):
        keeper = _keepers(labels[sites], parts, knot)
        new = [sites[parts == keeper[i]] for i in range(len(knot))]
        hulls = shapes.hulls_of(new)
        if hulls is None:
            continue
        clash = shapes.clashes(knot.tolist(), hulls)
        if not len(clash):
            shapes.note(knot.tolist(), hulls)
            return new, clash
        touched = np.union1d(touched, clash[~np.isin(clash, knot)])
    return None, touched


def _knots(hulls: np.ndarray) -> list[np.ndarray]:
    """Groups whose hulls overlap, as connected sets; large sets as their pairs."""
    pairs = _interleaving_pairs(hulls)
    if not len(pairs):
        return []
    k = len(hulls)
    graph = csr_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(k, k))
    _, comp = connected_components(graph, directed=False)
    knots = []
    in_pair = np.unique(pairs)
    for c in np.unique(comp[in_pair]):
        groups = np.flatnonzero(comp == c)
        if len(groups) <= _KNOT:
            knots.append(groups)
        else:
            inside = np.isin(pairs[:, 0], groups)
            knots.extend(pair for pair in pairs[inside])
    return knots


def _still_knotted(hulls: np.ndarray, knot: np.ndarray) -> bool:
    """Whether a group of the knot still overlaps another (an earlier redraw of a
    neighbouring knot can have changed them)."""
    return any(_interleaves(hulls[g], hulls[knot[knot != g]]).any() for g in knot)


def _interleaving_pairs(hulls: np.ndarray) -> np.ndarray:
    """Pairs ``(i, j)``, ``i < j``, of groups whose hulls overlap, as an array."""
    tree = shapely.STRtree(hulls)
    i, j = tree.query(hulls, predicate="intersects")
    keep = i < j
    i, j = i[keep], j[keep]
    solid = shapely.area(hulls) > _OVERLAP_M2
    hit = np.zeros(len(i), dtype=bool)
    both = solid[i] & solid[j]
    hit[both] = (
        shapely.area(shapely.intersection(hulls[i[both]], hulls[j[both]])) > _OVERLAP_M2
    )
    for thin, full in ((i, j), (j, i)):
        line = ~solid[thin] & solid[full]
        hit[line] = shapely.relate_pattern(
            hulls[thin[line]], hulls[full[line]], "T********"
        )
    return np.column_stack([i[hit], j[hit]])


def _straight_partitions(
    xy: np.ndarray, weight: np.ndarray, m: int, lower: int, upper: int
) -> Iterator[np.ndarray]:
    """Ways to cut sites into ``m`` parts by recursive straight cuts, best first.

    Each part weighs ``lower`` to ``upper``. The first cut is tried at
    ``_KNOT_ANGLES`` angles, the least spread position of each; the two sides
    are cut the same way, keeping the least spread cut that works. Yields
    part numbers 0..m-1 per site, one array per first cut that works.
    """
    m_first = m // 2
    for first in _straight_cuts(xy, weight, m, lower, upper):
        parts = np.zeros(len(weight), dtype=np.int64)
        rest = np.ones(len(weight), dtype=bool)
        rest[first] = False
        sides = ((first, m_first, 0), (np.flatnonzero(rest), m - m_first, m_first))
        for sites, count, offset in sides:
            if count == 1:
                parts[sites] = offset
                continue
            inner = next(
                _straight_partitions(xy[sites], weight[sites], count, lower, upper),
                None,
            )
            if inner is None:
                break
            parts[sites] = inner + offset
        else:
            yield parts


def _straight_cuts(
    xy: np.ndarray, weight: np.ndarray, m: int, lower: int, upper: int
) -> list[np.ndarray]:
    """The least spread cut of each angle into ``m // 2`` and the other parts.

    Returns the sites on the first side of each, least spread first.
    """
    m_first = m // 2
    total = int(weight.sum())
    low = max(m_first * lower, total - (m - m_first) * upper)
    high = min(m_first * upper, total - (m - m_first) * lower)
    if low > high or len(weight) < m:
        return []

    # every angle at once: sites ranked along each normal (a column each), and
    # the spread of both sides after every position from running sums
    xy = xy - np.average(xy, axis=0, weights=weight)
    angles = np.arange(_KNOT_ANGLES) * np.pi / _KNOT_ANGLES
    normals = np.vstack([np.cos(angles), np.sin(angles)])
    ranked = np.argsort(xy @ normals, axis=0, kind="stable")
    spread = _spread_at(xy[ranked, 0], xy[ranked, 1], weight[ranked])
    left = np.cumsum(weight[ranked], axis=0)[:-1]
    spread = np.where((left >= low) & (left <= high), spread, np.inf)
    best = np.argmin(spread, axis=0)
    least = spread[best, np.arange(len(angles))]
    usable = np.flatnonzero(np.isfinite(least))
    usable = usable[np.argsort(least[usable], kind="stable")]
    return [ranked[: best[a] + 1, a] for a in usable]


def _keepers(old: np.ndarray, parts: np.ndarray, knot: np.ndarray) -> np.ndarray:
    """The part each group of the knot takes: most members kept in place."""
    m = len(knot)
    shared = np.zeros((m, m))
    np.add.at(shared, (np.searchsorted(knot, old), parts), 1)
    rows, cols = linear_sum_assignment(-shared)
    part = np.empty(m, dtype=np.int64)
    part[rows] = cols
    return part


def _members(labels: np.ndarray, k: int) -> list[np.ndarray]:
    """The sites of each group 0..k-1, in site order."""
    order = np.argsort(labels, kind="stable")
    starts = np.searchsorted(labels[order], np.arange(k + 1))
    return [order[starts[g] : starts[g + 1]] for g in range(k)]


class _Shapes:
    """The guard the passes share: connectivity and the member hull of each group.

    Redrawn groups must stay connected in the Delaunay graph, and their hulls
    must not start to overlap another group's (or each other).
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
        groups, hulls = [a, b], self.hulls_of([sites_a, sites_b])
        if hulls is None or len(self.clashes(groups, hulls)):
            return False
        self.note(groups, hulls)
        return True

    def hulls_of(self, parts: list[np.ndarray]) -> np.ndarray | None:
        """The hull of each part, or None when a part falls apart."""
        if not all(connected(self.adjacency, part) for part in parts):
            return None
        return shapely.convex_hull(
            np.array([shapely.multipoints(self.xy[part]) for part in parts])
        )

    def clashes(self, groups: list[int], hulls: np.ndarray) -> np.ndarray:
        """The groups whose hulls these new hulls of ``groups`` would overlap.

        Hulls with area overlap when they share more than 1 m²; a hull without
        area (one site, or one straight row of sites, as a re-cut along a street
        makes) overlaps when it runs through the inside of another hull. A new
        hull overlapping another new one counts as a clash with its own group.
        Bounding boxes are compared first, so only the hulls nearby are
        intersected exactly.
        """
        bounds = shapely.bounds(hulls)
        outside = np.ones(len(self.hulls), dtype=bool)
        outside[groups] = False
        hit: set[int] = set()
        for g, hull in enumerate(hulls):
            near = np.flatnonzero(_boxes_meet(self.bounds, bounds[g]) & outside)
            if len(near):
                hit.update(near[_interleaves(hull, self.hulls[near])].tolist())
            if _interleaves(hull, np.delete(hulls, g)).any():
                hit.add(groups[g])
        return np.array(sorted(hit), dtype=np.int64)

    def note(self, groups: list[int], hulls: np.ndarray) -> None:
        """Record the new hulls of redrawn groups."""
        self.hulls[groups] = hulls
        self.bounds[groups] = shapely.bounds(hulls)


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
        spread = _spread_at(xy[ranked, 0], xy[ranked, 1], weight[ranked])
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


def _spread_at(x: np.ndarray, y: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Spread of both sides for each cut after position ``p`` of ranked sites.

    Sites are ranked along the first axis; further axes (one column per cut
    angle) are cut independently.
    """
    w = weight.astype(float)
    sums = np.cumsum(np.stack([w, w * x, w * y, w * (x**2 + y**2)]), axis=1)
    left, right = sums[:, :-1], sums[:, -1:] - sums[:, :-1]

    def spread(part: np.ndarray) -> np.ndarray:
        return part[3] - (part[1] ** 2 + part[2] ** 2) / part[0]

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
    present, index = np.unique(labels[order], return_inverse=True)
    multipoints = shapely.multipoints(xy[order], indices=index.ravel())
    hulls = np.full(k, shapely.Polygon(), dtype=object)
    hulls[present] = shapely.convex_hull(multipoints)
    return hulls


def site_graph(edges: np.ndarray, n: int) -> csr_matrix:
    """The symmetric adjacency matrix of ``n`` sites joined by ``edges``."""
    return csr_matrix(
        (np.ones(2 * len(edges)), (edges.ravel(), edges[:, ::-1].ravel())),
        shape=(n, n),
    )


def neighbours(adjacency: csr_matrix, sites: np.ndarray) -> np.ndarray:
    """The distinct sites joined by an edge to any of ``sites``."""
    return np.unique(adjacency[sites].indices)


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


def _boxes_meet(bounds: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Per row of ``bounds``: does its bounding box meet ``box``?"""
    xmin, ymin, xmax, ymax = box
    return (
        (bounds[:, 0] <= xmax)
        & (bounds[:, 2] >= xmin)
        & (bounds[:, 1] <= ymax)
        & (bounds[:, 3] >= ymin)
    )


def _interleaves(hull: shapely.Geometry, others: np.ndarray) -> np.ndarray:
    """Per hull in ``others``: does ``hull`` overlap it (see :func:`_overlaps`)?"""
    if shapely.area(hull) > _OVERLAP_M2:
        return shapely.area(shapely.intersection(hull, others)) > _OVERLAP_M2
    solid = shapely.area(others) > _OVERLAP_M2
    return solid & shapely.relate_pattern(hull, others, "T********")
