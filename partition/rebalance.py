"""Rebalance existing groups as residents join and leave, moving as few as possible.

Every member moved costs a beheerder two manual steps in WhatsApp and confuses the
resident, so a rebalance changes only what it must:

1. leavers are removed;
2. a newcomer joins the group of a member at the same address, else the group
   whose territory holds the address, else the group of the nearest member in the
   same unit; a unit with no group yet gets new groups from the partition engine;
3. a group above ``max_size`` hands households on its edge to adjacent groups
   with room, newcomers and members with a pending add first, along the
   cheapest chain of neighbouring groups
   (a min-cost flow over the group adjacency graph): relieving a group of a few
   members moves far fewer residents than splitting it, and both groups stay
   contiguous. An overflowing group that already handed on, since it was made
   or last split, as many existing members as the headroom its plan left
   (:func:`split_threshold`, counted in ``handed_on``) passes on only newcomers
   and members with a pending add: its area fills faster than planned, and
   relieving it again would move one member per newcomer, filling its
   neighbours' headroom, until it or they split anyway;
4. a group that still would exceed ``max_size`` (no room nearby, a group that
   handed on enough, or only households of several registrations at its edge)
   is split into compact parts along its longest extent; the part holding most
   existing members keeps the group, so only the members of the new part move;
5. with ``min_size`` set, a group that fell below it is merged into its nearest
   neighbour in the same unit when the result fits under ``max_size``.

The result is a :class:`RebalancePlan`: the new assignment, the moves, the new
and dissolved groups, and a change list per group for its beheerder. It is
deterministic for the same input. Coordinates are RD New (EPSG:28992) metres.

A member whose "add" is still pending (``pending_adds``) is not in the WhatsApp
group yet, so placing them elsewhere costs no removal: such a *reroute* is
listed apart from the moves and gives only an "add" in the new group.
Newcomers arriving one at a time, with a rebalance after each, cost more moves
than the same newcomers in one batch: a step cannot know the later newcomers.
Two inputs narrow the gap: ``pending_adds`` (a reroute costs no removal) and
``handed_on``, which makes a group whose area keeps filling split once (about
half its members move) instead of handing on one member per newcomer for ever;
the plan's ``handed_on`` is the value to pass to the next rebalance
(``bench/REBALANCE.md``).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from partition.errors import InfeasibleError
from partition.groups import (
    WITHIN_LEVELS,
    check_partition_request,
    delaunay_edges,
    is_whole,
    partition_members,
    slugify,
    unit_codes,
)
from partition.relief import relieve

logger = logging.getLogger(__name__)

CHANGE_COLUMNS = ["group_id", "action", "registration_id", "reason"]
MOVE_COLUMNS = ["registration_id", "from_group", "to_group", "reason"]


@dataclass
class RebalancePlan:
    """What a rebalance changes, in the order a beheerder needs it.

    Attributes
    ----------
    assignment
        ``group_id`` per registration (indexed by ``registration_id``) after the
        rebalance; missing for newcomers queued in a unit without a group.
    moves
        Existing members placed in another group: ``registration_id``,
        ``from_group``, ``to_group``, ``reason`` ("overflow": to a neighbouring
        group with room, "split" or "merge").
    reroutes
        Members with a pending add placed in another group before their
        beheerder added them, with the same columns as ``moves``: one "add" in
        the new group and no removal, so they do not count as moved.
    joins
        Newcomers and their group: ``registration_id``, ``group_id``.
    leaves
        Leavers and the group they left: ``registration_id``, ``group_id``.
    new_groups, dissolved_groups
        Group ids created and removed.
    changes
        One row per manual step: ``group_id``, ``action`` ("add" or "remove"),
        ``registration_id``, ``reason`` ("join", "leave", "overflow", "split",
        "merge").
    summary
        Counts and seconds, JSON-ready.
    handed_on
        Per group, the existing members it handed on to a neighbour (reason
        "overflow") since it was made or last split; groups without any are
        left out. The ``handed_on`` argument of the next rebalance.
    """

    assignment: pd.Series
    moves: pd.DataFrame
    joins: pd.DataFrame
    leaves: pd.DataFrame
    new_groups: list[str]
    dissolved_groups: list[str]
    changes: pd.DataFrame
    reroutes: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=MOVE_COLUMNS)
    )
    summary: dict = field(default_factory=dict)
    handed_on: dict[str, int] = field(default_factory=dict)


def rebalance(
    current: pd.DataFrame,
    *,
    joiners: pd.DataFrame | None = None,
    leavers: Iterable[str] = (),
    address_groups: pd.Series | None = None,
    max_size: int = 50,
    target_fill: float = 0.9,
    min_size: int | None = None,
    within: str = "woonplaats",
    seed: int = 0,
    pending_adds: Iterable[str] = (),
    handed_on: Mapping[str, int] | None = None,
    split_after: int | None = None,
) -> RebalancePlan:
    """Plan the smallest change that keeps every group within the cap.

    Parameters
    ----------
    current
        Existing members: ``registration_id``, ``group_id``, ``address_key``,
        ``x``, ``y`` (RD New metres), ``woonplaats`` and the code column of
        ``within``.
    joiners
        Geocoded newcomers with the same columns except ``group_id``.
    leavers
        ``registration_id`` values of members who left.
    address_groups
        Territory group per ``address_key`` (from
        :func:`partition.territories.assign_addresses`); without it a newcomer
        takes the group of the nearest member in the unit.
    max_size, target_fill, min_size, within, seed
        As for :func:`partition.groups.partition_members`.
    pending_adds
        ``registration_id`` values of current members whose addition to their
        group is still pending: moving them is a reroute, not a move.
    handed_on
        Existing members each group handed on since it was made or last split
        (the previous plan's :attr:`RebalancePlan.handed_on`). A group that
        handed on :func:`split_threshold` or more splits at its next overflow
        instead of moving more members to a neighbour.
    split_after
        That number instead of :func:`split_threshold`, at least 1 (for
        ``bench/rebalance_bench.py --split-after``, which measures the
        trade-off behind the default).

    Returns
    -------
    plan
        See :class:`RebalancePlan`.

    Raises
    ------
    InfeasibleError
        For settings no partition can honour, or an address with more
        registrations than ``max_size``.
    """
    started = time.perf_counter()
    check_partition_request(max_size, target_fill, min_size, within)
    if split_after is not None and not (is_whole(split_after) and split_after >= 1):
        msg = f"`split_after` must be a whole number, at least 1; got {split_after!r}."
        raise InfeasibleError(msg)
    unit_cols = ["woonplaats", *WITHIN_LEVELS[within]]
    leavers = set(map(str, leavers))
    joiners = _empty_like(current) if joiners is None else joiners.copy()

    # leavers go first; their groups may then be merged
    state = current.copy()
    state["registration_id"] = state["registration_id"].astype(str)
    leaving = state["registration_id"].isin(leavers)
    leaves = state.loc[leaving, ["registration_id", "group_id"]].reset_index(drop=True)
    state = state[~leaving].copy()
    state["origin"] = state["group_id"]
    state["moved_by"] = pd.Series(pd.NA, index=state.index, dtype=object)
    state["pending"] = state["registration_id"].isin(set(map(str, pending_adds)))

    # newcomers join by address, territory or nearest member
    joiners["registration_id"] = joiners["registration_id"].astype(str)
    joiners = joiners.sort_values("registration_id", kind="stable")
    joiners["group_id"] = _join_targets(state, joiners, address_groups, unit_cols)
    joiners["origin"] = pd.NA
    joiners["pending"] = False
    state = pd.concat([state, joiners], ignore_index=True)
    _check_addresses(state, max_size)

    # units without a group get new groups from the engine
    names = _Namer(state["group_id"].dropna())
    state = _seed_new_units(state, names, max_size, target_fill, within, seed)

    # a full group hands edge households next door; what still overflows splits
    plan_size = max(1, math.floor(target_fill * max_size))
    handed_on = {str(g): int(n) for g, n in (handed_on or {}).items() if n > 0}
    sizes = state["group_id"].value_counts()
    overflowing = set(sizes.index[sizes > max_size])
    threshold = split_after or split_threshold(max_size, target_fill)
    held = {g for g, n in handed_on.items() if n >= threshold} & overflowing
    state = _push_overflow(state, unit_cols, max_size, plan_size, held)
    state, split = _split_overflowing(state, names, max_size, plan_size, within, seed)
    merges = 0
    if min_size is not None:
        state, merges = _merge_small(state, unit_cols, min_size, max_size)

    plan = _assemble(current, state, leaves)
    plan.handed_on = _handed_on_after(state, plan.moves, handed_on, overflowing, split)
    plan.summary["split_groups"] = len(split)
    plan.summary["merged_groups"] = merges
    plan.summary["seconds"] = round(time.perf_counter() - started, 3)
    logger.info(
        "rebalanced %s members in %.2f s: %s joined, %s left, %s moved, "
        "%s rerouted, %s new groups, %s dissolved",
        f"{len(state):,}",
        plan.summary["seconds"],
        plan.summary["joined"],
        plan.summary["left"],
        plan.summary["moved"],
        plan.summary["rerouted"],
        plan.summary["new_groups"],
        plan.summary["dissolved_groups"],
    )
    return plan


def split_threshold(max_size: int, target_fill: float = 0.9) -> int:
    """Members a group may hand on to neighbours before it splits instead.

    The headroom a fresh partition leaves in a group (``max_size`` minus the
    planned fill), at least one: once a group has overflowed by that much since
    it was made or last split, its area fills faster than the plan allowed for,
    and each further relief would move one member per newcomer. A split then
    moves about half the group once.
    """
    return max(1, max_size - max(1, math.floor(target_fill * max_size)))


class _Namer:
    """Hand out the next free ``<woonplaats slug>-NN`` group ids."""

    def __init__(self, existing: pd.Series) -> None:
        self.used = set(map(str, existing))

    def next(self, woonplaats: str) -> str:
        slug = slugify(str(woonplaats))
        number = 1
        while f"{slug}-{number:02d}" in self.used:
            number += 1
        name = f"{slug}-{number:02d}"
        self.used.add(name)
        return name


def _empty_like(current: pd.DataFrame) -> pd.DataFrame:
    """A frame with the columns of ``current`` and no rows."""
    return current.iloc[0:0].drop(columns=["group_id"], errors="ignore")


def _join_targets(
    state: pd.DataFrame,
    joiners: pd.DataFrame,
    address_groups: pd.Series | None,
    unit_cols: list[str],
) -> pd.Series:
    """The group each newcomer joins, or missing where its unit has none."""
    target = pd.Series(pd.NA, index=joiners.index, dtype=object)
    if joiners.empty or state.empty:
        return target

    # a member at the same address decides, then the territory of the address
    by_address = state.drop_duplicates("address_key").set_index("address_key")
    target = joiners["address_key"].map(by_address["group_id"]).astype(object)
    if address_groups is not None:
        territory = joiners["address_key"].map(address_groups)
        valid = territory.isin(set(state["group_id"]))
        target = target.where(target.notna(), territory.where(valid))

    # otherwise the nearest member in the same unit
    todo = target.isna()
    if todo.any():
        both = pd.concat([state[unit_cols], joiners.loc[todo, unit_cols]])
        codes, _ = unit_codes(both, unit_cols)
        state_code, todo_code = codes[: len(state)], codes[len(state) :]
        todo_index = joiners.index[todo]
        for code in np.intersect1d(state_code, todo_code):
            idx = np.flatnonzero(state_code == code)
            rows = np.flatnonzero(todo_code == code)
            tree = cKDTree(state[["x", "y"]].to_numpy()[idx])
            _, hit = tree.query(joiners.loc[todo_index[rows], ["x", "y"]].to_numpy())
            target.loc[todo_index[rows]] = state["group_id"].to_numpy()[idx][hit]
    return target


def _check_addresses(state: pd.DataFrame, max_size: int) -> None:
    """Refuse an address with more registrations than a group can hold."""
    per_address = state.groupby("address_key").size()
    if len(per_address) and int(per_address.max()) > max_size:
        msg = (
            f"{int(per_address.max())} registrations share one address, more than "
            f"`max_size` ({max_size}); raise `max_size` or remove duplicates."
        )
        raise InfeasibleError(msg)


def _seed_new_units(
    state: pd.DataFrame,
    names: _Namer,
    max_size: int,
    target_fill: float,
    within: str,
    seed: int,
) -> pd.DataFrame:
    """Partition newcomers of units that have no group yet into new groups."""
    orphan = state["group_id"].isna()
    if not orphan.any():
        return state
    local = partition_members(
        state[orphan],
        max_size=max_size,
        target_fill=target_fill,
        within=within,
        seed=seed,
    )
    renamed = {
        old: names.next(state.loc[local.index[local == old][0], "woonplaats"])
        for old in sorted(local.unique())
    }
    state.loc[orphan, "group_id"] = local.map(renamed)
    return state


def _push_overflow(
    state: pd.DataFrame,
    unit_cols: list[str],
    max_size: int,
    plan_size: int,
    held: set[str],
) -> pd.DataFrame:
    """Relieve full groups by moving edge households to neighbours with room.

    Per unit, :func:`partition.relief.relieve` passes each group's overflow
    along the cheapest chain of adjacent groups to room, one single-registration
    household at a time from the edge facing the next group, newcomers first
    (moving them changes nobody's group); both groups stay contiguous. Members
    of a ``held`` group move only when their add is pending (or they are new).
    What cannot be carried (no room within reach, or no such household at the
    edge) is left for :func:`_split_overflowing`.
    """
    sizes = state["group_id"].value_counts()
    if not (sizes > max_size).any():
        return state
    codes, _ = unit_codes(state, unit_cols)
    groups = state["group_id"].to_numpy(dtype=object, copy=True)
    cheap = (state["origin"].isna() | state["pending"]).to_numpy()
    alone = state.groupby("address_key")["address_key"].transform("size").eq(1)
    kept = state["group_id"].isin(held).to_numpy() & ~cheap
    movable = alone.to_numpy() & ~kept
    xy = state[["x", "y"]].to_numpy(dtype=float)
    over_units = np.unique(codes[np.isin(groups, sizes.index[sizes > max_size])])

    for unit in over_units:
        rows = np.flatnonzero((codes == unit) & pd.notna(groups))
        groups[rows] = relieve(
            xy[rows],
            np.ones(len(rows), dtype=np.int64),
            groups[rows],
            delaunay_edges(xy[rows]),
            limit=max_size,
            plan_size=plan_size,
            movable=movable[rows],
            cheap=cheap[rows],
        )
    state = state.copy()
    state["group_id"] = groups
    moved = state["origin"].notna() & state["origin"].ne(state["group_id"])
    state.loc[moved, "moved_by"] = "overflow"
    return state


def _split_overflowing(
    state: pd.DataFrame,
    names: _Namer,
    max_size: int,
    plan_size: int,
    within: str,
    seed: int,
) -> tuple[pd.DataFrame, list[str]]:
    """Split every group above ``max_size`` into compact parts; list them.

    Groups are listed by the id they keep: the part with most confirmed
    existing members keeps it, the others become new groups. Two parts are cut
    across the group's longest extent at the median; a group more than twice
    the planned size, or one where that cut leaves a part above the cap (a
    large address beside it), is re-partitioned by the engine, which keeps
    every part within the cap.
    """
    sizes = state["group_id"].value_counts()
    for group in sorted(sizes.index[sizes > max_size]):
        rows = state.index[state["group_id"] == group]
        part = state.loc[rows]
        halves = _halves(part) if len(part) <= 2 * plan_size else None
        if halves is not None and np.bincount(halves).max() <= max_size:
            local = pd.Series(halves, index=rows)
        else:
            local = partition_members(
                part,
                max_size=max_size,
                target_fill=plan_size / max_size,
                within=within,
                seed=seed,
            )
        stay = (
            part.assign(
                local=local, existing=part["origin"].eq(group) & ~part["pending"]
            )
            .groupby("local")["existing"]
            .sum()
            .sort_values(ascending=False, kind="stable")
            .index[0]
        )
        for piece in sorted(set(local) - {stay}):
            new = names.next(part["woonplaats"].iloc[0])
            state.loc[local.index[local == piece], "group_id"] = new
    return state, sorted(sizes.index[sizes > max_size])


def _handed_on_after(
    state: pd.DataFrame,
    moves: pd.DataFrame,
    handed_on: dict[str, int],
    overflowing: set[str],
    split: list[str],
) -> dict[str, int]:
    """Members each group handed on since it was made or last split, after the plan.

    The earlier count plus this plan's overflow moves out of the group, when it
    was above the cap itself: a group that only passed a neighbour's surplus on
    along a chain did not overflow. A group that split or is gone counts zero
    and is left out.
    """
    overflow = moves["reason"].eq("overflow") & moves["from_group"].isin(overflowing)
    out = moves.loc[overflow, "from_group"].value_counts()
    counts = {
        g: handed_on.get(g, 0) + int(out.get(g, 0))
        for g in set(handed_on) | set(out.index)
    }
    alive = set(state["group_id"].dropna()) - set(split)
    return {g: n for g, n in sorted(counts.items()) if n > 0 and g in alive}


def _halves(part: pd.DataFrame) -> np.ndarray:
    """Cut a group in two halves across its longest extent, addresses kept whole."""
    xy = part[["x", "y"]].to_numpy(dtype=float)
    centred = xy - xy.mean(axis=0)
    _, _, axes = np.linalg.svd(centred, full_matrices=False)
    along = centred @ axes[0]

    # whole addresses: order addresses by their mean position along the axis
    address = pd.factorize(part["address_key"])[0]
    position = pd.Series(along).groupby(address).transform("mean").to_numpy()
    order = np.lexsort((address, position))
    counts = np.cumsum(np.ones(len(order)))
    boundary = np.flatnonzero(np.diff(address[order]) != 0) + 1
    if not len(boundary):
        return np.zeros(len(part), dtype=np.int64)
    cut = boundary[np.argmin(np.abs(counts[boundary - 1] - len(order) / 2))]
    labels = np.zeros(len(part), dtype=np.int64)
    labels[order[cut:]] = 1
    return labels


def _merge_small(
    state: pd.DataFrame, unit_cols: list[str], min_size: int, max_size: int
) -> tuple[pd.DataFrame, int]:
    """Merge groups below ``min_size`` into the nearest group of their unit."""
    merges = 0
    while True:
        sizes = state["group_id"].value_counts()
        small = sorted(sizes.index[sizes < min_size], key=lambda g: (sizes[g], g))
        merged = False
        centres = state.groupby("group_id")[["x", "y"]].mean()
        unit_of = state.groupby("group_id")[unit_cols].first()
        for group in small:
            same_unit = (unit_of == unit_of.loc[group]).all(axis=1)
            others = centres[same_unit & (centres.index != group)]
            fits = sizes.reindex(others.index) + sizes[group] <= max_size
            others = others[fits.to_numpy()]
            if others.empty:
                continue
            distance = np.hypot(*(others.to_numpy() - centres.loc[group].to_numpy()).T)
            target = others.index[int(np.argmin(distance))]
            state.loc[state["group_id"] == group, "group_id"] = target
            merged = True
            merges += 1
            break
        if not merged:
            return state, merges


def _assemble(
    current: pd.DataFrame,
    state: pd.DataFrame,
    leaves: pd.DataFrame,
) -> RebalancePlan:
    """Turn the final state into moves, joins, change lists and a summary."""
    origin = state["origin"].astype("string")
    group = state["group_id"].astype("string")
    existing = origin.notna().to_numpy()
    placed_elsewhere = existing & (origin != group).fillna(True).to_numpy()
    pending = state["pending"].to_numpy(dtype=bool)
    moved, rerouted = placed_elsewhere & ~pending, placed_elsewhere & pending
    old_groups = set(current["group_id"].dropna().astype(str))
    new_groups = sorted(set(state["group_id"].dropna()) - old_groups)
    moves = _move_rows(state, moved, new_groups)
    reroutes = _move_rows(state, rerouted, new_groups)
    joined = ~existing & group.notna().to_numpy()
    joins = state.loc[joined, ["registration_id", "group_id"]].reset_index(drop=True)
    dissolved = sorted(old_groups - set(state["group_id"].dropna()))

    changes = pd.concat(
        [
            _change_rows(joins["group_id"], "add", joins["registration_id"], "join"),
            _change_rows(
                moves["to_group"], "add", moves["registration_id"], moves["reason"]
            ),
            _change_rows(
                reroutes["to_group"],
                "add",
                reroutes["registration_id"],
                reroutes["reason"],
            ),
            _change_rows(
                moves["from_group"], "remove", moves["registration_id"], moves["reason"]
            ),
            _change_rows(
                leaves["group_id"], "remove", leaves["registration_id"], "leave"
            ),
        ],
        ignore_index=True,
    ).sort_values(["group_id", "action", "registration_id"], kind="stable")

    assignment = state.set_index("registration_id")["group_id"].sort_index()
    queued = int(state["group_id"].isna().sum())
    summary = {
        "members": int(existing.sum()),
        "joined": int(joined.sum()),
        "queued": queued,
        "left": int(len(leaves)),
        "moved": int(moved.sum()),
        "moved_share": round(float(moved.sum()) / max(1, int(existing.sum())), 4),
        "rerouted": int(rerouted.sum()),
        "new_groups": len(new_groups),
        "dissolved_groups": len(dissolved),
        "groups": int(state["group_id"].nunique()),
        "max_group_size": int(state["group_id"].value_counts().max())
        if state["group_id"].notna().any()
        else 0,
    }
    return RebalancePlan(
        assignment=assignment,
        moves=moves,
        joins=joins,
        leaves=leaves,
        new_groups=new_groups,
        dissolved_groups=dissolved,
        changes=changes.reset_index(drop=True)[CHANGE_COLUMNS],
        reroutes=reroutes,
        summary=summary,
    )


def _move_rows(
    state: pd.DataFrame, rows: np.ndarray, new_groups: list[str]
) -> pd.DataFrame:
    """Moves (or reroutes) of the marked rows, with the reason for each."""
    moved_by = state.loc[rows, "moved_by"].fillna("merge").to_numpy(dtype=object)
    reason = np.where(state.loc[rows, "group_id"].isin(new_groups), "split", moved_by)
    return pd.DataFrame(
        {
            "registration_id": state.loc[rows, "registration_id"].to_numpy(),
            "from_group": state.loc[rows, "origin"].to_numpy(),
            "to_group": state.loc[rows, "group_id"].to_numpy(),
            "reason": reason,
        },
        columns=MOVE_COLUMNS,
    )


def _change_rows(
    group_id: pd.Series, action: str, registration_id: pd.Series, reason: object
) -> pd.DataFrame:
    """Change-list rows for one kind of step."""
    return pd.DataFrame(
        {
            "group_id": np.asarray(group_id, dtype=object),
            "action": action,
            "registration_id": np.asarray(registration_id, dtype=object),
            "reason": reason if isinstance(reason, str) else np.asarray(reason),
        },
        columns=CHANGE_COLUMNS,
    )
