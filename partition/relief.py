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
    present = pd.notna(labels)
    code, names = pd.factorize(pd.Series(labels[present], dtype=object), sort=True)
    codes = np.full(len(labels), -1)
    codes[present] = code
    k = len(names)
    sizes = np.bincount(code, weights=weight[present], minlength=k).astype(np.int64)
    excess = np.maximum(sizes - limit, 0)
    if k < 2 or not excess.any():
        return []

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
    arcs = frontier.groupby(["sender", "receiver"])[["weight", "cheap"]].sum()

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
    if flow.solve_max_flow_with_min_cost() != flow.OPTIMAL:
        return []

    moves: dict[tuple[int, int], int] = {}
    for arc in range(flow.num_arcs()):
        head, amount = flow.head(arc), flow.flow(arc)
        if head != sink and amount > 0:
            pair = (flow.tail(arc), head)
            moves[pair] = moves.get(pair, 0) + int(amount)
    return [(names[s], names[r], amount) for (s, r), amount in sorted(moves.items())]


def _carry(
    graph: csr_matrix,
    xy: np.ndarray,
    weight: np.ndarray,
    labels: np.ndarray,
    kinds: tuple[np.ndarray, np.ndarray],
    pair: tuple[object, object],
    amount: int,
) -> None:
    """Move about ``amount`` registrations of edge sites to a neighbour, in place.

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
            return
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
            return
        labels[best] = target
        left -= int(weight[best])


def _hull_overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Area (m²) shared by the convex hulls of two point sets."""
    first = shapely.convex_hull(shapely.multipoints(a))
    second = shapely.convex_hull(shapely.multipoints(b))
    return float(shapely.area(shapely.intersection(first, second)))
