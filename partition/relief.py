"""Relieve groups above a size limit through their neighbours, keeping shapes.

When a group holds more than it may, the nearest group with room is often not
next door. Moving the surplus straight there leaves an island in a far group;
instead, :func:`relieve` passes it along a chain of adjacent groups: each group
on the chain hands over sites on its edge facing the next one, so every group
stays connected and its edge moves a little. A min-cost flow over the adjacency
graph of the groups (two groups are adjacent when a Delaunay edge joins their
sites) chooses the chains; each step along an arc costs, so the surplus goes to
the nearest room, and groups fill past ``plan_size`` only after all others are
at it.

Used by the partition engine (sites of several registrations after the
capacitated assignment rounds a split flat up) and by the rebalance (one
registration per site, newcomers cheaper to move than existing members).
:func:`top_up` is the mirror for a hard minimum: groups below it receive sites
from neighbours with spare, along chains in the same way.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely
from ortools.graph.python import min_cost_flow
from scipy.sparse import csr_matrix

from partition.cohesion import connected, site_graph

_TRIED = 8
_ROUNDS = 4
_OVERLAP_M2 = 1.0
_CHEAP, _DEAR = 2, 20
_HEADROOM_COST = 1
_TOP_UP_ROUNDS = 16


def relieve(
    xy: np.ndarray,
    weight: np.ndarray,
    labels: np.ndarray,
    edges: np.ndarray,
    *,
    limit: int,
    plan_size: int,
    movable: np.ndarray | None = None,
    cheap: np.ndarray | None = None,
) -> np.ndarray:
    """Return labels with every group at most ``limit`` where chains allow.

    Parameters
    ----------
    xy, weight
        Site coordinates (RD New metres) and registrations per site.
    labels
        Group of each site (any hashable values; missing ones are left out).
    edges
        Delaunay edges between the sites (``partition.groups.delaunay_edges``).
    limit
        Size no group should exceed afterwards.
    plan_size
        Groups below it take surplus first; those between it and ``limit`` only
        when no group below it is in reach.
    movable
        Sites that may change group (default all).
    cheap
        Sites whose move costs little (a newcomer nobody has added yet); moved
        before the others.

    Returns
    -------
    labels
        A new array. Groups may stay above ``limit`` when no chain reaches
        room or their edge holds no movable site small enough; the caller
        handles what is left.
    """
    labels = labels.copy()
    n = len(weight)
    movable = np.ones(n, dtype=bool) if movable is None else movable
    cheap = np.zeros(n, dtype=bool) if cheap is None else cheap
    if not len(edges):
        return labels
    graph = site_graph(edges, n)

    # a site that cannot leave blocks an arc; the next round goes round it
    for _ in range(_ROUNDS):
        before = labels.copy()
        flows = _group_flows(edges, labels, weight, movable, cheap, limit, plan_size)
        for source, target, amount in flows:
            _carry(
                graph, xy, weight, labels, (movable, cheap), (source, target), amount
            )
        if (labels == before).all():
            break
    return labels


def _group_flows(
    edges: np.ndarray,
    labels: np.ndarray,
    weight: np.ndarray,
    movable: np.ndarray,
    cheap: np.ndarray,
    limit: int,
    plan_size: int,
) -> list[tuple[object, object, int]]:
    """Registrations to move between adjacent groups: (from, to, amount).

    The capacity of an arc is the weight of the sender's movable sites on a
    Delaunay edge to the receiver, so a group gives away its edge, not its core.
    """
    codes, names, sizes = _coded(labels, weight)
    k = len(names)
    excess = np.maximum(sizes - limit, 0)
    if k < 2 or not excess.any():
        return []

    arcs = _frontier(edges, codes, weight, movable, cheap)
    flow = min_cost_flow.SimpleMinCostFlow()
    sink = k
    for (s, r), total, light in zip(
        arcs.index, arcs["weight"], arcs["cheap"], strict=True
    ):
        if light:
            flow.add_arc_with_capacity_and_unit_cost(int(s), int(r), int(light), _CHEAP)
        if total > light:
            flow.add_arc_with_capacity_and_unit_cost(
                int(s), int(r), int(total - light), _DEAR
            )
    for g in np.flatnonzero(sizes < limit):
        below_plan = max(0, plan_size - sizes[g])
        if below_plan:
            flow.add_arc_with_capacity_and_unit_cost(int(g), sink, int(below_plan), 0)
        headroom = limit - max(sizes[g], plan_size)
        if headroom > 0:
            flow.add_arc_with_capacity_and_unit_cost(
                int(g), sink, int(headroom), _HEADROOM_COST
            )
    for g in range(k):
        flow.set_node_supply(g, int(excess[g]))
    flow.set_node_supply(sink, -int(excess.sum()))
    return _solved_moves(flow, names, k)


def _coded(
    labels: np.ndarray, weight: np.ndarray
) -> tuple[np.ndarray, pd.Index, np.ndarray]:
    """Group number per site (-1 without a group), the group names and sizes."""
    present = pd.notna(labels)
    code, names = pd.factorize(pd.Series(labels[present], dtype=object), sort=True)
    codes = np.full(len(labels), -1)
    codes[present] = code
    sizes = np.bincount(code, weights=weight[present], minlength=len(names))
    return codes, names, sizes.astype(np.int64)


def _frontier(
    edges: np.ndarray,
    codes: np.ndarray,
    weight: np.ndarray,
    movable: np.ndarray,
    cheap: np.ndarray,
) -> pd.DataFrame:
    """Per (sender, receiver) of adjacent groups: the weight of the sender's
    movable sites on a Delaunay edge to the receiver, and of the cheap ones."""
    a, b = codes[edges[:, 0]], codes[edges[:, 1]]
    cross = (a != b) & (a >= 0) & (b >= 0)
    site = np.concatenate([edges[cross, 0], edges[cross, 1]])
    frontier = pd.DataFrame(
        {
            "sender": np.concatenate([a[cross], b[cross]]),
            "receiver": np.concatenate([b[cross], a[cross]]),
            "site": site,
        }
    )
    frontier = frontier[movable[site]].drop_duplicates()
    frontier["cheap"] = np.where(cheap[frontier["site"]], weight[frontier["site"]], 0)
    frontier["weight"] = weight[frontier["site"]]
    return frontier.groupby(["sender", "receiver"])[["weight", "cheap"]].sum()


def _solved_moves(
    flow: min_cost_flow.SimpleMinCostFlow, names: pd.Index, groups: int
) -> list[tuple[object, object, int]]:
    """The flow between groups (nodes below ``groups``) as (from, to, amount);
    arcs from or to the extra nodes (source, sink) are left out."""
    if flow.solve_max_flow_with_min_cost() != flow.OPTIMAL:
        return []
    moves: dict[tuple[int, int], int] = {}
    for arc in range(flow.num_arcs()):
        head, tail, amount = flow.head(arc), flow.tail(arc), flow.flow(arc)
        if head < groups and tail < groups and amount > 0:
            moves[(tail, head)] = moves.get((tail, head), 0) + int(amount)
    return [(names[s], names[r], amount) for (s, r), amount in sorted(moves.items())]


def top_up(
    xy: np.ndarray,
    weight: np.ndarray,
    labels: np.ndarray,
    edges: np.ndarray,
    *,
    minimum: int,
) -> np.ndarray:
    """Return labels with every group at least ``minimum`` where chains allow.

    The mirror of :func:`relieve` for a hard ``min_size``: a group that fell
    below it (contiguity repair took a piece away) receives edge sites from
    neighbours above it, along the cheapest chains of adjacent groups (a
    min-cost flow from the spare of every group to the shortfalls), each
    sender staying connected. A group receives only what it lacks, or what it
    passed on already, so none ends above its start or ``minimum``. A step
    whose sender cannot give (every edge site would split it) is left out and
    the flow solved again. Groups may stay below ``minimum`` when no chain
    reaches spare; the caller decides.
    """
    labels = labels.copy()
    n = len(weight)
    if not len(edges):
        return labels
    graph = site_graph(edges, n)
    kinds = _everything(n)
    start = pd.Series(weight).groupby(pd.Series(labels, dtype=object)).sum()
    blocked: set[tuple[object, object]] = set()
    for _ in range(_TOP_UP_ROUNDS):
        steps = _top_up_flows(edges, labels, weight, minimum, blocked)
        changed, progress = False, bool(steps)
        while progress:
            progress = False
            for i, (sender, receiver, amount) in enumerate(steps):
                room = max(minimum, start[receiver]) - weight[labels == receiver].sum()
                if amount <= 0 or room <= 0:
                    continue
                pair = (sender, receiver)
                moved = _carry(
                    graph, xy, weight, labels, kinds, pair, min(amount, room)
                )
                if not moved:
                    blocked.add(pair)
                steps[i] = (sender, receiver, amount - moved if moved else 0)
                progress = progress or moved > 0
                changed = True
        if not changed:
            break
    return labels


def _top_up_flows(
    edges: np.ndarray,
    labels: np.ndarray,
    weight: np.ndarray,
    minimum: int,
    blocked: set[tuple[object, object]],
) -> list[tuple[object, object, int]]:
    """Registrations to pass between adjacent groups so none is below ``minimum``."""
    codes, names, sizes = _coded(labels, weight)
    k = len(names)
    short = np.maximum(minimum - sizes, 0)
    if k < 2 or not short.any():
        return []

    spare = np.maximum(sizes - minimum, 0)
    source, sink = k, k + 1
    flow = min_cost_flow.SimpleMinCostFlow()
    arcs = _frontier(edges, codes, weight, *_everything(len(weight)))
    for (s, r), total in zip(arcs.index, arcs["weight"], strict=True):
        if (names[s], names[r]) not in blocked:
            flow.add_arc_with_capacity_and_unit_cost(int(s), int(r), int(total), 1)
    for g in np.flatnonzero(spare):
        flow.add_arc_with_capacity_and_unit_cost(source, int(g), int(spare[g]), 0)
    for g in np.flatnonzero(short):
        flow.add_arc_with_capacity_and_unit_cost(int(g), sink, int(short[g]), 0)
    flow.set_node_supply(source, int(short.sum()))
    flow.set_node_supply(sink, -int(short.sum()))
    return _solved_moves(flow, names, k)


def _everything(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Every site movable, none cheap."""
    return np.ones(n, dtype=bool), np.zeros(n, dtype=bool)


def _carry(
    graph: csr_matrix,
    xy: np.ndarray,
    weight: np.ndarray,
    labels: np.ndarray,
    kinds: tuple[np.ndarray, np.ndarray],
    pair: tuple[object, object],
    amount: int,
) -> int:
    """Move about ``amount`` registrations of edge sites to a neighbour, in place;
    return how many moved.

    One site at a time: among the sender's movable sites touching the receiver
    and no heavier than what is left to move, cheap ones first, then the one
    that most belongs to the receiver by distance to the two centres; the first
    of the few best whose departure keeps the sender connected and whose arrival
    makes no hull overlap between the two, else the one with least overlap.
    """
    movable, cheap = kinds
    source, target = pair
    left = amount
    while left > 0:
        sender = np.flatnonzero(labels == source)
        receiver = np.flatnonzero(labels == target)
        around = graph[sender]
        hits = labels[around.indices] == target
        rows_of = np.repeat(np.arange(len(sender)), np.diff(around.indptr))
        touching = np.bincount(rows_of, weights=hits, minlength=len(sender)) > 0
        edge = sender[touching & movable[sender] & (weight[sender] <= left)]
        if not len(edge) or not len(receiver):
            break
        to_target = ((xy[edge] - xy[receiver].mean(axis=0)) ** 2).sum(axis=1)
        to_source = ((xy[edge] - xy[sender].mean(axis=0)) ** 2).sum(axis=1)
        order = np.lexsort((edge, to_target - to_source, ~cheap[edge]))
        best, best_overlap = -1, np.inf
        for candidate in edge[order][:_TRIED]:
            rest = sender[sender != candidate]
            if not connected(graph, rest):
                continue
            overlap = _hull_overlap(xy[rest], xy[np.append(receiver, candidate)])
            if overlap < best_overlap:
                best, best_overlap = candidate, overlap
            if overlap <= _OVERLAP_M2:
                break
        if best < 0:
            break
        labels[best] = target
        left -= int(weight[best])
    return amount - left


def _hull_overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Area (m²) shared by the convex hulls of two point sets."""
    first = shapely.convex_hull(shapely.multipoints(a))
    second = shapely.convex_hull(shapely.multipoints(b))
    return float(shapely.area(shapely.intersection(first, second)))
