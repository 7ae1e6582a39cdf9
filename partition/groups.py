"""Partition geocoded registrations into compact groups under a hard size cap.

The engine works one *unit* at a time: a woonplaats by default, or a wijk or buurt
inside a woonplaats when ``within`` asks for it, so no group ever crosses that
boundary. Inside a unit:

1. registrations are gathered into *sites*: all registrations at one point (one
   address, or one building whose addresses share a point) travel together, so a
   household is never split and a flat tends to share a group;
2. the number of groups is the fewest that keep every group at or below the
   planned fill (``target_fill * max_size``), leaving room for newcomers;
3. a recursive bisection along the longer axis gives a balanced, convex start and,
   for large units, cuts the unit into blocks of at most ``_BLOCK_GROUPS`` groups
   (``_FULL_BLOCK_GROUPS`` where groups are planned full, at the cap) so the cost
   stays near-linear in the number of registrations;
4. inside each block, a capacitated assignment (min-cost flow, OR-Tools) on squared
   distances alternates with moving the centres to their members' mean, like
   k-means with exact size bounds; its network links each site to its few nearest
   group centres and each centre to its nearest sites, with a dearer route
   through a hub where those links cannot meet the bounds, so it grows with the
   sites, not with sites times groups; squared distances make the cells
   power-diagram cells, which are convex, so groups do not interleave;
5. repair passes keep every group at most ``max_size``: a building the flow
   shared between groups, and whose whole weight would push its group over the
   cap, has its addresses dealt out the way the flow shared them; what is still
   over moves to the nearest group with room, or, when that would leave
   islands, is passed along neighbouring groups with :mod:`partition.relief`; a
   group is added to a block only when large flats cannot be packed otherwise.
   The passes then reconnect groups whose
   members fall apart in the Delaunay graph of the unit (a piece whose
   neighbouring groups are all full joins one anyway when relief can pass the
   surplus on, in rounds, since passing it on can cut off a piece elsewhere; a
   piece still left is traded for sites on its group's border or, when it holds
   half the balance bound, such as a block of flats, becomes a group of its own);
6. groups whose member hulls still overlap (a dense group wedged between two,
   or groups the repairs wound together) are redrawn apart by straight cuts
   through their joint members, where every part stays connected and no hull
   runs into a neighbour (:func:`partition.cohesion.separate_hulls`); where no
   straight redraw parts a pair, the sites that make the overlap move one at a
   time to a neighbouring group, which may then fill to the cap
   (:func:`partition.cohesion.peel_overlaps`); knots still overlapping are
   redrawn once more with their groups allowed up to the cap (a dense group
   wedged between two others at the planned size has no straight redraw
   within it);
7. split streets are reunited where that keeps sizes, contiguity and disjoint
   hulls (:mod:`partition.cohesion`): neighbouring groups are first redrawn along
   the straight line that splits the fewest of their streets, then the leftover
   parts of split streets join the group holding most of the street;
8. with ``min_size`` set, a group the contiguity repair left below it receives
   edge households from neighbours with spare (:func:`partition.relief.top_up`),
   else the nearest addresses other groups can spare, single flats of a building
   included (a hard constraint goes before contiguity), else its surroundings
   are packed again exactly (an integer programme); one that cannot be brought
   up fails the run.

Known limits: block seams are straight lines that a group never crosses, which
costs some compactness and balance in units of more than one block; streets that
cross a group boundary head-on, run through three or more groups, or whose parts
cannot be regrouped within the size bounds stay split (on long streets, most).

All coordinates are RD New (EPSG:28992) metres.
"""

from __future__ import annotations

import itertools
import logging
import math
import numbers
import re
import time
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
from ortools.graph.python import min_cost_flow
from ortools.sat.python import cp_model
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import Delaunay, QhullError, cKDTree

from partition.cohesion import (
    connected,
    fill_short,
    mend_streets,
    neighbours,
    peel_overlaps,
    recut_pairs,
    separate_hulls,
    site_graph,
)
from partition.errors import BuurtgroepenError, InfeasibleError
from partition.relief import relieve, top_up

logger = logging.getLogger(__name__)

WHATSAPP_MAX_MEMBERS = 1024
"""WhatsApp's limit on the members of one group."""

WITHIN_LEVELS = {"woonplaats": (), "wijk": ("wijkcode",), "buurt": ("buurtcode",)}
"""Boundary levels a group may not cross, with the columns that define them."""

# groups per block: a block's assignment costs more per site the larger it is,
# and its straight seams cost compactness, balance and overlap; where groups are
# planned full, larger blocks overlapped more (figures in the README's limits)
_BLOCK_GROUPS = 512
_FULL_BLOCK_GROUPS = 128
_CANDIDATES = 6
_REACH = 2.0
_MAX_ITER = 6
_SETTLED = 0.02
_BALANCE = 0.15
_RECONNECT_ROUNDS = 4
_PACK_NEIGHBOURS = 16
_PACK_CHOICES = 6
_PACK_MOVE = 10
_PACK_METRES = 100.0
_PACK_WORK = 15.0
_PACK_ADDRESSES = 5_000
# addresses in metres stand metres apart; a median spacing below 10 cm is
# another unit (degrees, kilometres)
_MIN_SPACING = 0.1
_SPACING_POINTS = 10
# the Netherlands spans about 300 by 350 km in RD New; wider input is another
# unit or CRS, and squared distances across it overflow the flow's integer costs
_MAX_SPAN_M = 1_000_000.0


@dataclass(frozen=True)
class PartitionPlan:
    """The number of groups planned for one unit and the bounds on their sizes."""

    unit: tuple[str, ...]
    registrations: int
    groups: int
    lower: int
    upper: int
    min_size: int = 0


def slugify(text: str) -> str:
    """Return an ASCII slug of a place name: ``"De Lutte"`` -> ``de-lutte``."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-") or "onbekend"


def check_partition_request(
    max_size: int, target_fill: float, min_size: int | None, within: str
) -> None:
    """Reject settings that no partition can honour, before any work is done.

    Raises
    ------
    InfeasibleError
        When ``max_size`` is not a whole number in 1-1024, ``target_fill`` not a
        number in (0, 1], ``min_size`` not a whole number up to ``max_size`` or
        ``within`` is not a known level.
    """
    if not is_whole(max_size):
        msg = f"`max_size` must be a whole number; got {max_size!r}."
        raise InfeasibleError(msg)
    if not isinstance(target_fill, numbers.Real) or isinstance(target_fill, bool):
        msg = f"`target_fill` must be a number in (0, 1]; got {target_fill!r}."
        raise InfeasibleError(msg)
    if min_size is not None and not is_whole(min_size):
        msg = f"`min_size` must be a whole number or None; got {min_size!r}."
        raise InfeasibleError(msg)
    if not 1 <= max_size <= WHATSAPP_MAX_MEMBERS:
        msg = (
            f"`max_size` must be between 1 and {WHATSAPP_MAX_MEMBERS} (the WhatsApp "
            f"group limit); got {max_size}."
        )
        raise InfeasibleError(msg)
    if not 0 < target_fill <= 1:
        msg = f"`target_fill` must be in (0, 1]; got {target_fill}."
        raise InfeasibleError(msg)
    if min_size is not None and not 1 <= min_size <= max_size:
        msg = (
            f"`min_size` must be between 1 and `max_size` ({max_size}); got {min_size}."
        )
        raise InfeasibleError(msg)
    if within not in WITHIN_LEVELS:
        msg = f"`within` must be one of {sorted(WITHIN_LEVELS)}; got {within!r}."
        raise InfeasibleError(msg)


def is_whole(value: object) -> bool:
    """Whether a setting is a whole number (numpy integers too, booleans not)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_members(members: pd.DataFrame) -> None:
    """Reject registrations the engine cannot place, before any work is done.

    Raises
    ------
    BuurtgroepenError
        When ``address_key``, ``x`` or ``y`` is missing, an address key is
        empty, a coordinate is not a finite number, or the coordinates are
        plainly not metres (RD New metres are expected).
    """
    missing = [col for col in ("address_key", "x", "y") if col not in members.columns]
    if missing:
        names = " and ".join(f"`{col}`" for col in missing)
        noun = "column" if len(missing) == 1 else "columns"
        msg = f"the registrations have no {names} {noun}; geocode them first."
        raise BuurtgroepenError(msg)
    if members["address_key"].isna().any():
        count = int(members["address_key"].isna().sum())
        msg = f"{count} registrations have no `address_key`; geocode them first."
        raise BuurtgroepenError(msg)
    for col in ("x", "y"):
        column = members[col]
        if not pd.api.types.is_numeric_dtype(column):
            # numbers held as objects pass; text such as "250000" does not
            text = column.map(lambda value: isinstance(value, str | bytes))
            column = pd.to_numeric(column.where(~text.astype(bool)), errors="coerce")
        bad = int((~np.isfinite(column.to_numpy(dtype=float))).sum())
        if bad:
            msg = (
                f"`{col}` must be a finite number (RD New metres) for every "
                f"registration; {bad} are not."
            )
            raise BuurtgroepenError(msg)
    _check_metres(members[["x", "y"]].to_numpy(dtype=float))


def _check_metres(xy: np.ndarray) -> None:
    """Refuse coordinates that cannot be RD New metres: degrees, kilometres, or
    far too wide.

    Every distance, cost and the 1 m² hull tolerance assume metres; in degrees
    the groups come out interleaved without any error. Addresses in metres stand
    metres apart, while in degrees or kilometres neighbours are thousandths of a
    unit apart, so a median spacing below ``_MIN_SPACING`` among at least
    ``_SPACING_POINTS`` distinct points means another unit. Up to 20,000
    distinct points, taken at an even stride, are measured; a sample stands
    further apart than the whole input, so it errs towards accepting. Known
    limit: kilometres pass where the addresses stand a median 100 m or more
    apart (a sparse rural set); degrees, about 0.0001 per 10 m, never do.
    Coordinates spanning more than ``_MAX_SPAN_M`` (1,000 km, three times the
    Netherlands) are refused as well: millimetres, or another CRS.
    """
    if len(xy):
        span = float(np.ptp(xy, axis=0).max())
        if span > _MAX_SPAN_M:
            msg = (
                f"the coordinates span {span / 1_000:,.0f} km, wider than the "
                "Netherlands in RD New metres (EPSG:28992); give `x` and `y` in "
                "RD New metres, e.g. with GeoDataFrame.to_crs(28992)."
            )
            raise BuurtgroepenError(msg)

    points, _ = distinct_points(xy)
    if len(points) < _SPACING_POINTS:
        return

    sample = points[:: max(1, len(points) // 20_000)]
    spacing = float(np.median(cKDTree(sample).query(sample, k=2)[0][:, 1]))
    if spacing < _MIN_SPACING:
        msg = (
            f"the coordinates look like degrees or kilometres: neighbouring "
            f"addresses are a median {spacing:.2g} apart; give `x` and `y` in "
            "RD New metres (EPSG:28992), e.g. with GeoDataFrame.to_crs(28992)."
        )
        raise BuurtgroepenError(msg)


def plan_groups(
    members: pd.DataFrame,
    *,
    max_size: int = 50,
    target_fill: float = 0.9,
    min_size: int | None = None,
    within: str = "woonplaats",
) -> list[PartitionPlan]:
    """Plan the number of groups per unit and check that the request is feasible.

    Parameters
    ----------
    members
        One row per geocoded registration with ``address_key``, ``woonplaats`` and
        the code column of ``within`` (``wijkcode`` or ``buurtcode``).
    max_size
        Hard cap on the members of a group.
    target_fill
        Planned fill as a share of ``max_size``; groups are planned at
        ``floor(target_fill * max_size)`` members so newcomers fit without a split.
    min_size
        Smallest allowed group, or None for no minimum.
    within
        The boundary level a group may not cross.

    Returns
    -------
    plans
        One plan per unit, in a stable order.

    Raises
    ------
    InfeasibleError
        Naming the unit and the number that fails, with what would fix it.
    """
    check_partition_request(max_size, target_fill, min_size, within)
    unit_cols = _unit_columns(members, within)
    if members.empty:
        return []

    # registrations at one address must share a group, so the cap is checked first
    per_address = members.groupby("address_key", sort=False).size()
    if int(per_address.max()) > max_size:
        msg = (
            f"{int(per_address.max())} registrations share one address, more than "
            f"`max_size` ({max_size}); raise `max_size` to at least "
            f"{int(per_address.max())} or remove duplicate registrations."
        )
        raise InfeasibleError(msg)

    plan_size = max(1, math.floor(target_fill * max_size))
    codes, keys = unit_codes(members, unit_cols)
    _check_one_unit_per_address(members, codes, keys, unit_cols)
    counts = np.bincount(codes, minlength=len(keys))
    return [
        _plan_unit(key, int(n), plan_size, max_size, min_size)
        for key, n in zip(keys, counts, strict=True)
    ]


def _check_one_unit_per_address(
    members: pd.DataFrame,
    codes: np.ndarray,
    keys: list[tuple[str, ...]],
    unit_cols: list[str],
) -> None:
    """Refuse an address whose registrations lie in two units.

    Its registrations must share a group and no group may cross a unit, so no
    partition can hold both; it comes from registrations geocoded against two
    versions of the register or boundaries.
    """
    address_id = pd.factorize(members["address_key"])[0]
    low = np.full(int(address_id.max()) + 1, len(keys))
    high = np.full(int(address_id.max()) + 1, -1)
    np.minimum.at(low, address_id, codes)
    np.maximum.at(high, address_id, codes)
    torn = np.flatnonzero(low != high)
    if not len(torn):
        return
    rows = np.flatnonzero(address_id == torn[0])
    units = sorted({" / ".join(keys[c]) for c in codes[rows]})
    msg = (
        f"{len(torn)} address{'es' if len(torn) != 1 else ''} "
        f"{'have' if len(torn) != 1 else 'has'} registrations in more than one "
        f"{' / '.join(unit_cols)}, such as "
        f"{members['address_key'].iloc[rows[0]]!r} in {' and '.join(units)}; "
        "an address lies in one, so geocode its registrations again against one "
        "version of the register and boundaries."
    )
    raise InfeasibleError(msg)


def unit_codes(
    frame: pd.DataFrame, columns: list[str]
) -> tuple[np.ndarray, list[tuple[str, ...]]]:
    """Number the units (distinct values of ``columns``) in sorted order.

    Returns the unit number of every row and the unit keys as tuples.
    """
    if frame.empty:
        return np.empty(0, dtype=np.int64), []
    index = pd.MultiIndex.from_frame(frame[columns].astype(str))
    codes, uniques = index.factorize(sort=True)
    return codes.astype(np.int64), [tuple(key) for key in uniques]


def partition_members(
    members: pd.DataFrame,
    *,
    max_size: int = 50,
    target_fill: float = 0.9,
    min_size: int | None = None,
    within: str = "woonplaats",
    seed: int = 0,
) -> pd.Series:
    """Assign every geocoded registration to a group.

    Parameters
    ----------
    members
        One row per geocoded registration with ``address_key``, ``x``, ``y`` (RD New
        metres), ``woonplaats`` and, for ``within="wijk"`` or ``"buurt"``,
        ``wijkcode`` or ``buurtcode``.
    max_size, target_fill, min_size, within
        See :func:`plan_groups`.
    seed
        Orders ties between sites at the same coordinate along a cut; the result is
        otherwise deterministic.

    Returns
    -------
    group_id
        A Series on the index of ``members`` named ``group_id``, with ids such as
        ``"de-lutte-03"`` numbered per woonplaats from north-west to south-east.

    Notes
    -----
    Hard constraints always hold: every registration in exactly one group, no
    group above ``max_size``, none below ``min_size`` when it is set, no group
    across ``within``, all registrations of one address together. A building
    (addresses at one point) stays in one group unless that would push a group
    above ``max_size``; then its addresses are divided between the neighbouring
    groups the assignment shared it with. Sizes stay within about 15 % of the
    unit mean where sites allow: a group that contiguity repair left smaller
    takes sites back from its neighbours where no hull starts to overlap.
    Contiguity is repaired on the Delaunay graph, which can leave a group split
    when every neighbouring group is full and the piece cut off holds less than
    half the balance bound (a larger piece becomes a group of its own), or less
    than ``min_size`` where a group of its own could not be brought up to it.
    """
    started = time.perf_counter()
    if not is_whole(seed) or seed < 0:
        msg = f"`seed` must be a whole number of 0 or more; got {seed!r}."
        raise InfeasibleError(msg)
    check_members(members)
    plans = plan_groups(
        members,
        max_size=max_size,
        target_fill=target_fill,
        min_size=min_size,
        within=within,
    )
    if members.empty:
        return pd.Series([], index=members.index, name="group_id", dtype=object)

    rng = np.random.default_rng(seed)
    codes, _ = unit_codes(members, _unit_columns(members, within))
    labels = np.empty(len(members), dtype=object)
    numbering: dict[str, int] = {}

    # units are partitioned independently; ids are numbered per woonplaats
    order = np.argsort(codes, kind="stable")
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    for plan, rows in zip(plans, np.split(order, bounds), strict=True):
        part = members.iloc[rows]
        local = _partition_unit(part, plan, max_size, rng)
        labels[rows] = _name_groups(part, local, plan.unit[0], numbering)
    labels = pd.Series(labels, index=members.index, name="group_id")

    sizes = labels.value_counts()
    logger.info(
        "partitioned %s registrations into %s groups in %.2f s "
        "(sizes %s-%s, cap %s, within %s)",
        f"{len(members):,}",
        f"{len(sizes):,}",
        time.perf_counter() - started,
        sizes.min(),
        sizes.max(),
        max_size,
        within,
    )
    return labels


def _unit_columns(members: pd.DataFrame, within: str) -> list[str]:
    """Return the columns that define a unit, checking they are present and full."""
    cols = ["woonplaats", *WITHIN_LEVELS[within]]
    for col in cols:
        if col not in members.columns:
            msg = f"`within={within!r}` needs a `{col}` column on the registrations."
            raise InfeasibleError(msg)
        missing = int(members[col].isna().sum())
        if missing:
            msg = (
                f"`within={within!r}` needs a `{col}` for every registration; "
                f"{missing} have none (pass boundaries so they can be attached)."
            )
            raise InfeasibleError(msg)
    return cols


def _plan_unit(
    unit: tuple[str, ...],
    n: int,
    plan_size: int,
    max_size: int,
    min_size: int | None,
) -> PartitionPlan:
    """Choose the number of groups of one unit and their size bounds."""
    fewest = math.ceil(n / max_size)
    wanted = max(fewest, math.ceil(n / plan_size))
    most = n if min_size is None else n // min_size
    name = " / ".join(str(part) for part in unit)
    if most < fewest:
        if min_size is not None and n < min_size:
            msg = (
                f"{name} has {n} registration{'s' if n != 1 else ''}, fewer than "
                f"`min_size` ({min_size}); "
                f"lower `min_size` to {n} or choose a coarser `within` level."
            )
        else:
            msg = (
                f"{name} has {n} registrations: {fewest} groups are needed under "
                f"`max_size` ({max_size}) but `min_size` ({min_size}) allows at most "
                f"{most}; lower `min_size` to {n // fewest} or raise `max_size`."
            )
        raise InfeasibleError(msg)

    k = min(wanted, most)
    mean = n / k
    balanced = min(plan_size, math.floor(mean * (1 + _BALANCE)))
    upper = min(max_size, max(math.ceil(mean), balanced))
    lower = min(math.floor(mean), max(min_size or 0, math.ceil(mean * (1 - _BALANCE))))
    return PartitionPlan(
        unit=unit,
        registrations=n,
        groups=k,
        lower=lower,
        upper=upper,
        min_size=min_size or 0,
    )


def _partition_unit(
    part: pd.DataFrame, plan: PartitionPlan, max_size: int, rng: np.random.Generator
) -> np.ndarray:
    """Return a local group number (0..k-1) for every registration of one unit."""
    if plan.groups == 1:
        return np.zeros(len(part), dtype=np.int64)

    address_id = pd.factorize(part["address_key"])[0]
    site_of, xy, weight = _sites(part, address_id, max_size)
    pair_of, pair_site, pair_weight = _site_addresses(site_of, address_id)
    tie = rng.permutation(len(weight))
    block = _BLOCK_GROUPS if plan.upper < max_size else _FULL_BLOCK_GROUPS
    blocks = _bisect(xy, weight, np.arange(len(weight)), plan.groups, tie, block)
    pair_label = np.empty(len(pair_site), dtype=np.int64)
    offset = 0
    for (sites, k_block, start_labels), pairs, local_site in _block_addresses(
        blocks, pair_site, len(weight)
    ):
        local, k_block = _refine_or_grow(
            xy[sites],
            weight[sites],
            start_labels,
            k_block,
            plan,
            max_size,
            tie[sites],
            (local_site, pair_weight[pairs]),
        )
        pair_label[pairs] = local + offset
        offset += k_block

    # a building divided between groups by the cap repair is a site per group
    site_of_pair, xy, weight, site_label = _divided_sites(
        xy, pair_site, pair_weight, pair_label
    )
    site_of = site_of_pair[pair_of]
    edges = delaunay_edges(xy)
    street = _site_streets(part, site_of, len(weight), max_size)
    addresses = (site_of_pair, pair_weight)
    half = max(plan.lower // 2, 1)
    reconnected = _reconnect(
        xy, edges, weight, site_label, offset, max_size, plan.upper, smallest=half
    )
    try:
        pair_label = _tidy_unit(
            xy, weight, reconnected, edges, street, plan, max_size, addresses
        )
    except InfeasibleError:
        # a piece that became a group of its own may be what cannot reach
        # min_size: then such pieces stay with their groups
        if plan.min_size <= half:
            raise
        alone = _reconnect(
            xy,
            edges,
            weight,
            site_label,
            offset,
            max_size,
            plan.upper,
            smallest=plan.min_size,
        )
        if np.array_equal(alone, reconnected):
            raise
        pair_label = _tidy_unit(
            xy, weight, alone, edges, street, plan, max_size, addresses
        )

    # heavy sites can leave a planned group empty: number only the groups in use
    _, used = np.unique(pair_label, return_inverse=True)
    return used.ravel()[pair_of]


def _tidy_unit(
    xy: np.ndarray,
    weight: np.ndarray,
    site_label: np.ndarray,
    edges: np.ndarray,
    street: np.ndarray | None,
    plan: PartitionPlan,
    max_size: int,
    addresses: tuple[np.ndarray, np.ndarray],
) -> np.ndarray:
    """Finish the reconnected groups of a unit; return a group per address.

    Parts overlapping hulls, tops up short groups, reunites split streets and,
    with ``min_size``, holds it (or raises :class:`InfeasibleError`).
    ``addresses`` gives the site and registrations of every address.
    """
    site_label = separate_hulls(
        xy, weight, site_label, edges, lower=plan.lower, upper=plan.upper
    )
    # overlap ranks above headroom: a group next to an overlap may fill to the
    # cap, and knots still overlapping are redrawn once more with that room
    site_label = peel_overlaps(
        xy, weight, site_label, edges, lower=plan.lower, upper=max_size
    )
    if plan.upper < max_size:
        site_label = separate_hulls(
            xy, weight, site_label, edges, lower=plan.lower, upper=max_size
        )
    site_label = fill_short(
        xy, weight, site_label, edges, lower=plan.lower, upper=plan.upper
    )
    if street is not None:
        site_label = recut_pairs(
            xy, weight, street, site_label, edges, lower=plan.lower, upper=plan.upper
        )
        site_label = mend_streets(
            xy, weight, street, site_label, edges, lower=plan.lower, upper=plan.upper
        )
    if plan.min_size > 1:
        return _hold_min_size(xy, weight, site_label, edges, plan, max_size, addresses)
    return site_label[addresses[0]]


def _refine_or_grow(
    xy: np.ndarray,
    weight: np.ndarray,
    labels: np.ndarray,
    k: int,
    plan: PartitionPlan,
    max_size: int,
    tie: np.ndarray,
    addresses: tuple[np.ndarray, np.ndarray],
) -> tuple[np.ndarray, int]:
    """Refine a block; when its heavy sites cannot be packed, add groups.

    Large flats (sites of many registrations) can make the planned number of
    groups impossible to pack under the cap; more groups are then a smaller
    loss than a failed run. Sites above half the cap each need a group of
    their own, so the block starts with at least that many. A failed packing
    then adds one group, three times; after that a tenth more each time, up to
    one group per site, where the run fails with the packing's message.
    Returns a group per address of a site (``addresses``, as for
    :func:`_refine_block`) and the number of groups.
    """
    heavy = int(np.count_nonzero(2 * weight > max_size))
    if heavy > k:
        k = heavy
        labels = _bisect_labels(xy, weight, k, tie)
    for attempt in itertools.count():
        try:
            return _refine_block(xy, weight, labels, k, plan, max_size, addresses), k
        except _PackingError as exc:
            if k >= len(weight):
                raise InfeasibleError(str(exc)) from exc
            step = 1 if attempt < 3 else max(1, k // 10)
            k = min(len(weight), k + step)
            labels = _bisect_labels(xy, weight, k, tie)


class _PackingError(Exception):
    """Sites that cannot be packed under the cap with the given groups."""


def _site_streets(
    part: pd.DataFrame, site_of: np.ndarray, n_sites: int, max_size: int
) -> np.ndarray | None:
    """Street code of each site, from its first registration.

    Streets with ``max_size`` or more registrations cannot fit one group and get
    -1, as do sites without a street; None when there is no street column or
    no registration of the unit has a street.
    """
    if "openbare_ruimte" not in part.columns:
        return None
    codes, _ = pd.factorize(part["openbare_ruimte"], use_na_sentinel=True)
    if (codes < 0).all():
        return None
    first = np.full(n_sites, len(site_of))
    np.minimum.at(first, site_of, np.arange(len(site_of)))
    per_street = np.bincount(codes[codes >= 0], minlength=codes.max() + 1)
    street = codes[first]
    too_long = (street >= 0) & (per_street[np.maximum(street, 0)] >= max_size)
    return np.where(too_long, -1, street)


def _sites(
    part: pd.DataFrame, address_id: np.ndarray, max_size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gather registrations into sites that must or should share a group.

    A site is all registrations at one coordinate, so a household and usually a
    block of flats share a group; where one coordinate holds more than
    ``max_size`` registrations, each of its addresses becomes its own site.
    Registrations of one address stand at its first registration's coordinate,
    so an address geocoded at two points (two versions of the register) is
    still one site. ``address_id`` numbers the addresses of ``part``.
    """
    first = np.full(int(address_id.max()) + 1, len(address_id))
    np.minimum.at(first, address_id, np.arange(len(address_id)))
    coords = part[["x", "y"]].to_numpy(dtype=float)[first[address_id]]
    _, point_id = distinct_points(coords)
    point_weight = np.bincount(point_id)

    # registrations at an oversized point fall back to one site per address
    oversized = point_weight[point_id] > max_size
    key = np.where(oversized, address_id + point_id.max() + 1, point_id)
    _, site_of = np.unique(key, return_inverse=True)
    site_of = site_of.ravel()

    weight = np.bincount(site_of).astype(np.int64)
    xy = np.zeros((len(weight), 2))
    np.add.at(xy, site_of, coords)
    xy /= weight[:, None]
    return site_of, xy, weight


def _site_addresses(
    site_of: np.ndarray, address_id: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The addresses of each site, which the cap repair can divide a building by.

    Returns, per registration, its address within its site (a *pair*), and per
    pair its site and number of registrations, pairs ordered by site.
    """
    n_addresses = int(address_id.max()) + 1
    keys, pair_of = np.unique(site_of * n_addresses + address_id, return_inverse=True)
    pair_of = pair_of.ravel()
    return pair_of, keys // n_addresses, np.bincount(pair_of).astype(np.int64)


def _block_addresses(
    blocks: list[tuple[np.ndarray, int, np.ndarray]],
    pair_site: np.ndarray,
    n_sites: int,
) -> Iterator[tuple[tuple[np.ndarray, int, np.ndarray], np.ndarray, np.ndarray]]:
    """Each block with its addresses and, for each, its site within the block."""
    block_of = np.empty(n_sites, dtype=np.int64)
    local = np.empty(n_sites, dtype=np.int64)
    for b, (sites, _, _) in enumerate(blocks):
        block_of[sites] = b
        local[sites] = np.arange(len(sites))
    order = np.argsort(block_of[pair_site], kind="stable")
    bounds = np.searchsorted(block_of[pair_site][order], np.arange(len(blocks) + 1))
    for b, block in enumerate(blocks):
        pairs = order[bounds[b] : bounds[b + 1]]
        yield block, pairs, local[pair_site[pairs]]


def _divided_sites(
    xy: np.ndarray,
    pair_site: np.ndarray,
    pair_weight: np.ndarray,
    pair_label: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Sites again, with a divided building as one site per group it went to.

    Returns the new site of every pair, and per new site its point, its
    registrations and its group.
    """
    k = int(pair_label.max()) + 1
    key, site_of_pair = np.unique(pair_site * k + pair_label, return_inverse=True)
    site_of_pair = site_of_pair.ravel()
    weight = np.bincount(site_of_pair, weights=pair_weight).astype(np.int64)
    return site_of_pair, xy[key // k], weight, key % k


def _bisect(
    xy: np.ndarray,
    weight: np.ndarray,
    sites: np.ndarray,
    k: int,
    tie: np.ndarray,
    block: int,
) -> list[tuple[np.ndarray, int, np.ndarray]]:
    """Split sites recursively into blocks of at most ``block`` groups each.

    Each cut runs across the longer side of the bounding box at the weighted
    quantile that leaves ``k1 / k`` of the registrations on one side. Returns
    ``(sites, groups, start_labels)`` per block, with start labels from bisecting
    the block all the way down to single groups.
    """
    if k <= block:
        return [(sites, k, _bisect_labels(xy[sites], weight[sites], k, tie[sites]))]
    left, right, k_left = _cut(xy[sites], weight[sites], k, tie[sites])
    return _bisect(xy, weight, sites[left], k_left, tie, block) + _bisect(
        xy, weight, sites[right], k - k_left, tie, block
    )


def _bisect_labels(
    xy: np.ndarray, weight: np.ndarray, k: int, tie: np.ndarray
) -> np.ndarray:
    """Label sites 0..k-1 by recursive bisection (the engine's starting point)."""
    labels = np.zeros(len(weight), dtype=np.int64)
    stack = [(np.arange(len(weight)), k, 0)]
    while stack:
        idx, k_here, first = stack.pop()
        if k_here == 1 or len(idx) <= 1:
            labels[idx] = first
            continue
        left, right, k_left = _cut(xy[idx], weight[idx], k_here, tie[idx])
        stack.append((idx[left], k_left, first))
        stack.append((idx[right], k_here - k_left, first + k_left))
    return labels


def _cut(
    xy: np.ndarray, weight: np.ndarray, k: int, tie: np.ndarray
) -> tuple[np.ndarray, np.ndarray, int]:
    """Cut sites in two across the longer axis, in proportion ``k_left / k``."""
    k_left = k // 2
    axis = int(np.ptp(xy[:, 1]) > np.ptp(xy[:, 0]))
    order = np.lexsort((tie, xy[:, axis]))
    cumulative = np.cumsum(weight[order])
    target = cumulative[-1] * k_left / k
    split = int(np.searchsorted(cumulative, target, side="left")) + 1
    split = min(max(split, 1), len(order) - 1) if len(order) > 1 else len(order)
    return order[:split], order[split:], k_left


def _refine_block(
    xy: np.ndarray,
    weight: np.ndarray,
    labels: np.ndarray,
    k: int,
    plan: PartitionPlan,
    max_size: int,
    addresses: tuple[np.ndarray, np.ndarray],
) -> np.ndarray:
    """Alternate capacitated assignment and centre updates until stable.

    Returns a group for every address of a site (``addresses`` lists the site
    and the registrations of each), as a building can be divided.
    """
    pair_site, pair_weight = addresses
    if k == 1:
        return np.zeros(len(pair_site), dtype=np.int64)

    total = int(weight.sum())
    mean = total / k
    upper = int(min(max_size, max(plan.upper, math.ceil(mean), weight.max())))
    lower = int(min(plan.lower, math.floor(mean)))
    for _ in range(_MAX_ITER):
        centres = _centres(xy, weight, labels, k)
        new, shares = _capacitated_assign(xy, weight, centres, lower, upper)
        changed = np.count_nonzero(new != labels)
        labels = new
        if changed <= _SETTLED * len(labels):
            break

    # with little headroom, a building the flow shared between groups overfills
    # the group it is rounded to; dividing its addresses the way the flow shared
    # them keeps the groups near their planned sizes, where moving whole sites
    # to groups with room would scatter them
    pair_label = _divide_buildings(
        weight, labels, k, shares, (pair_site, pair_weight), max_size
    )
    part_of, xy, weight, labels = _divided_sites(xy, pair_site, pair_weight, pair_label)

    # a household split by the flow and rounded up overfills its group; moving
    # sites to the nearest group with room is clean while there is room next
    # door, but with little headroom that group is far and the moved sites
    # become islands: then the surplus is passed along neighbouring groups
    direct = _enforce_cap(xy, weight, labels, k, max_size)
    edges = delaunay_edges(xy)
    broken = _broken_groups(direct, edges, len(weight))
    if not broken:
        return direct[part_of]
    relieved = relieve(xy, weight, labels, edges, limit=max_size, plan_size=upper)
    chained = _enforce_cap(xy, weight, relieved, k, max_size)
    best = chained if _broken_groups(chained, edges, len(weight)) < broken else direct
    return best[part_of]


def _divide_buildings(
    weight: np.ndarray,
    labels: np.ndarray,
    k: int,
    shares: tuple[np.ndarray, np.ndarray, np.ndarray],
    addresses: tuple[np.ndarray, np.ndarray],
    max_size: int,
) -> np.ndarray:
    """Group of every address: its site's, except in buildings that overfill.

    A site of several addresses that the flow shared between groups, and whose
    rounding puts its group above ``max_size``, has its addresses dealt out to
    the groups the flow sent it to, the largest household first, each to the
    group furthest below its share (to the smallest of them when no share has
    room left for it). Dealing one building out can fill a neighbour, whose
    shared buildings are then dealt out in turn. Registrations of one address
    stay together.
    """
    pair_site, pair_weight = addresses
    pair_label = labels[pair_site]
    site, to, flows = shares
    positive = flows > 0
    site, to, flows = site[positive], to[positive], flows[positive]
    links = np.bincount(site, minlength=len(weight))
    per_site = np.bincount(pair_site, minlength=len(weight))
    sizes = np.bincount(labels, weights=weight, minlength=k).astype(np.int64)
    shared = np.flatnonzero((links > 1) & (per_site > 1))
    if not len(shared):
        return pair_label

    by_site = np.argsort(site, kind="stable")
    link_start = np.searchsorted(site[by_site], np.arange(len(weight)))
    by_pair = np.lexsort((-pair_weight, pair_site))
    pair_start = np.searchsorted(pair_site[by_pair], np.arange(len(weight)))
    shared = shared[np.argsort(-weight[shared], kind="stable")]
    whole = np.ones(len(weight), dtype=bool)
    while True:
        due_now = shared[whole[shared] & (sizes[labels[shared]] > max_size)]
        if not len(due_now):
            return pair_label
        for s in due_now.tolist():
            if sizes[labels[s]] <= max_size:
                continue
            whole[s] = False
            mine = by_site[link_start[s] : link_start[s] + links[s]]
            groups, due = to[mine], flows[mine].astype(np.int64)
            sizes[labels[s]] -= weight[s]
            for p in by_pair[pair_start[s] : pair_start[s] + per_site[s]].tolist():
                fits = due >= pair_weight[p]
                if fits.any():
                    g = int(np.argmax(np.where(fits, due, -1)))
                else:
                    g = int(np.argmin(sizes[groups]))
                pair_label[p] = groups[g]
                due[g] -= pair_weight[p]
                sizes[groups[g]] += pair_weight[p]


def _broken_groups(labels: np.ndarray, edges: np.ndarray, n: int) -> int:
    """How many groups fall apart in the Delaunay graph of their sites."""
    pieces = _group_components(labels, edges, n)
    return int((pd.Series(pieces).groupby(labels).nunique() > 1).sum())


def _centres(
    xy: np.ndarray, weight: np.ndarray, labels: np.ndarray, k: int
) -> np.ndarray:
    """Weighted mean position of each group's sites (empty groups keep NaN)."""
    total = np.bincount(labels, weights=weight, minlength=k)
    cx = np.bincount(labels, weights=weight * xy[:, 0], minlength=k)
    cy = np.bincount(labels, weights=weight * xy[:, 1], minlength=k)
    with np.errstate(invalid="ignore", divide="ignore"):
        centres = np.column_stack([cx / total, cy / total])
    empty = total == 0
    if empty.any():
        # an empty group restarts at the site farthest from its nearest centre
        tree = cKDTree(centres[~empty])
        far = np.argsort(-tree.query(xy)[0])[: int(empty.sum())]
        centres[empty] = xy[far]
    return centres


def _capacitated_assign(
    xy: np.ndarray,
    weight: np.ndarray,
    centres: np.ndarray,
    lower: int,
    upper: int,
) -> np.ndarray:
    """Assign sites to centres minimising squared distance within size bounds.

    The network is sparse, so it grows with the sites rather than with sites
    times groups: each site is linked to its ``_CANDIDATES`` nearest centres,
    and each centre to its nearest sites holding ``_REACH`` groups' worth of
    registrations, so a centre that the sites around it do not rank first can
    still fill up. Where the links still leave no flow that meets the bounds,
    every site has a dearer route through one hub that reaches every centre;
    the sites sent through it are shared out among the centres the hub fed.
    A site whose flow is split goes to the centre taking most of it; the caller
    repairs the cap, and gets the flow on every link (``site``, ``to``,
    ``flows``; none for the sites sent through the hub) to divide buildings by.
    """
    n_sites, k = len(weight), len(centres)
    total = int(weight.sum())
    lower = min(lower, total // k)
    if k * upper < total:
        msg = f"{k} groups of at most {upper} cannot hold {total} registrations"
        raise _PackingError(msg)
    m = min(k, _CANDIDATES)
    _, nearest = cKDTree(centres).query(xy, k=m)
    reach = min(n_sites, math.ceil(_REACH * upper * n_sites / total))
    _, near = cKDTree(xy).query(centres, k=reach)
    site = np.concatenate([np.repeat(np.arange(n_sites), m), np.ravel(near)])
    to = np.concatenate([np.ravel(nearest), np.repeat(np.arange(k), reach)])
    pair = np.unique(site * k + to)
    site, to = pair // k, pair % k

    flows, into_hub, hub_out = _solve_flow(xy, weight, centres, site, to, lower, upper)
    labels, most = _heaviest(site, to, flows, n_sites)
    via_hub = into_hub > most
    if via_hub.any():
        labels[via_hub] = _share_out(xy[via_hub], weight[via_hub], centres, hub_out)
        flows = np.where(via_hub[site], 0, flows)
    return labels, (site, to, flows)


def _share_out(
    xy: np.ndarray, weight: np.ndarray, centres: np.ndarray, room: np.ndarray
) -> np.ndarray:
    """Send the hub's sites to the centres it fed, at least distance in total.

    ``room`` is the hub flow each centre received. A site only partly routed
    through the hub counts whole here, so every centre may take that excess
    too; the cap repair after the assignment settles what is left over.
    """
    fed = np.flatnonzero(room > 0)
    n_sites, k = len(weight), len(fed)
    excess = max(0, int(weight.sum()) - int(room.sum()))
    site = np.repeat(np.arange(n_sites), k)
    to = np.tile(np.arange(k), n_sites)
    flows, _, _ = _solve_flow(xy, weight, centres[fed], site, to, 0, room[fed] + excess)
    return fed[_heaviest(site, to, flows, n_sites)[0]]


def _heaviest(
    site: np.ndarray, to: np.ndarray, flows: np.ndarray, n_sites: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per site, the linked centre taking most of its flow, and that flow."""
    order = np.lexsort((flows, site))
    last = order[np.r_[site[order][1:] != site[order][:-1], True]]
    labels = np.zeros(n_sites, dtype=np.int64)
    most = np.zeros(n_sites)
    labels[site[last]] = to[last]
    most[site[last]] = flows[last]
    return labels, most


def _solve_flow(
    xy: np.ndarray,
    weight: np.ndarray,
    centres: np.ndarray,
    site: np.ndarray,
    to: np.ndarray,
    lower: int,
    upper: int | np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Solve one transport problem sites -> linked centres (or hub) -> sink.

    ``site`` and ``to`` list the links; ``upper`` is one bound for every
    centre or one per centre. The hub route costs more than twice the dearest
    link, so the flow takes it only where the links leave no cheaper way.
    Returns the flow on every link, of every site into the hub and from the
    hub to every centre.
    """
    n_sites, k, n_links = len(weight), len(centres), len(site)
    total = int(weight.sum())
    upper = np.broadcast_to(np.asarray(upper, dtype=np.int64), (k,))
    centre, sink, hub = n_sites + np.arange(k), n_sites + k, n_sites + k + 1

    # a site's whole weight leaves it, so costs count from its nearest link;
    # smaller numbers take the cost-scaling solver fewer rounds
    d2 = ((xy[site] - centres[to]) ** 2).sum(-1)
    nearest = np.full(n_sites, np.inf)
    np.minimum.at(nearest, site, d2)
    d2 -= nearest[site]
    detour = 2 * int(np.ceil(d2.max())) + 1
    sites = np.arange(n_sites)
    tails = np.concatenate([site, centre, sites, np.full(k, hub)])
    heads = np.concatenate(
        [centre[to], np.full(k, sink), np.full(n_sites, hub), centre]
    )
    caps = np.concatenate([weight[site], upper - lower, weight, upper])
    costs = np.concatenate(
        [np.rint(d2), np.zeros(k), np.full(n_sites, detour), np.zeros(k)]
    )
    supplies = np.concatenate([weight, np.full(k, -lower), [k * lower - total], [0]])

    smcf = min_cost_flow.SimpleMinCostFlow()
    arcs = smcf.add_arcs_with_capacity_and_unit_cost(
        tails.astype(np.int32),
        heads.astype(np.int32),
        caps.astype(np.int64),
        costs.astype(np.int64),
    )
    smcf.set_nodes_supplies(
        np.arange(hub + 1, dtype=np.int32), supplies.astype(np.int64)
    )
    status = smcf.solve()
    if status != smcf.OPTIMAL:
        msg = f"the assignment of {n_sites} sites found no flow ({status})"
        raise _PackingError(msg)
    flows = smcf.flows(arcs)
    into_hub = flows[n_links + k : n_links + k + n_sites]
    return flows[:n_links], into_hub, flows[n_links + k + n_sites :]


def _enforce_cap(
    xy: np.ndarray, weight: np.ndarray, labels: np.ndarray, k: int, max_size: int
) -> np.ndarray:
    """Move whole sites out of groups above ``max_size`` to the nearest group with room.

    When no site of a full group fits the room left anywhere (two large flats
    side by side in one group, every other group nearly full), its cheapest site
    to move is placed in a group that can hold it once that group's smaller
    sites have moved on, and stays there; the following steps move those
    smaller sites to groups with room. Each such forced move fixes one site,
    so the repair ends.

    Raises
    ------
    _PackingError
        When the sites cannot be packed under the cap (only possible with sites
        close to ``max_size``); the message says which number to raise.
    """
    labels = labels.copy()
    sizes = np.bincount(labels, weights=weight, minlength=k).astype(np.int64)
    fixed = np.zeros(len(weight), dtype=bool)
    fixed_load = np.zeros(k, dtype=np.int64)
    while (sizes > max_size).any():
        centres = _centres(xy, weight, labels, k)
        over = int(np.argmax(sizes))
        sites = np.flatnonzero((labels == over) & ~fixed)
        d2 = ((xy[sites, None, :] - centres[None]) ** 2).sum(-1)
        extra = d2 - d2[:, [over]]
        fits = weight[sites, None] <= (max_size - sizes)[None, :]
        forced = not fits[:, np.arange(k) != over].any()
        if forced:
            fits = weight[sites, None] + fixed_load[None, :] <= max_size
        fits[:, over] = False
        if not fits.any():
            msg = (
                f"cannot keep every group at or below `max_size` ({max_size}) with "
                f"sites of up to {int(weight.max())} registrations; raise `max_size` "
                "or lower `target_fill`."
            )
            raise _PackingError(msg)
        site_pos, target = np.unravel_index(
            np.argmin(np.where(fits, extra, np.inf)), extra.shape
        )
        site = sites[site_pos]
        labels[site] = target
        sizes[over] -= weight[site]
        sizes[target] += weight[site]
        if forced:
            fixed[site] = True
            fixed_load[target] += weight[site]
    return labels


def _reconnect(
    xy: np.ndarray,
    edges: np.ndarray,
    weight: np.ndarray,
    labels: np.ndarray,
    k: int,
    max_size: int,
    preferred: int,
    *,
    smallest: int,
) -> np.ndarray:
    """Reattach detached pieces of groups, round after round, within the cap.

    A piece first joins a neighbouring group with room
    (:func:`_repair_contiguity`); where every neighbour is full it joins one
    anyway and the surplus is passed on (:func:`_reattach_through_neighbours`).
    Passing the surplus along can cut a small piece off a group further on,
    which the next round picks up; rounds stop when one leaves no fewer groups
    broken, after at most ``_RECONNECT_ROUNDS``. A piece still detached then
    is traded (:func:`_exchange_pieces`) or becomes a group of its own
    (:func:`_pieces_apart`) of at least ``smallest`` registrations.
    """
    n = len(weight)
    labels = _repair_contiguity(edges, weight, labels, k, max_size, preferred)
    broken = _broken_groups(labels, edges, n)
    for _ in range(_RECONNECT_ROUNDS):
        if not broken:
            break
        again = _reattach_through_neighbours(
            xy, edges, weight, labels, k, max_size, preferred
        )
        again = _repair_contiguity(edges, weight, again, k, max_size, preferred)
        still = _broken_groups(again, edges, n)
        if still >= broken:
            break
        labels, broken = again, still
    if broken:
        labels = _exchange_pieces(xy, edges, weight, labels, max_size)
        labels = _pieces_apart(labels, edges, weight, max_size, smallest)
    return labels


def _pieces_apart(
    labels: np.ndarray,
    edges: np.ndarray,
    weight: np.ndarray,
    max_size: int,
    smallest: int,
) -> np.ndarray:
    """Give the pieces that no neighbour could take groups of their own.

    Such a piece is mostly a block of flats, too heavy for the full groups
    around it. Pieces that touch each other share a new group while it stays
    within the cap. A new group needs ``smallest`` registrations: a household
    or two alone in a group of their own is worse off than in a group whose
    other members live a street away, so smaller pieces stay where they are.
    """
    comp, detached = _detached(labels, edges, weight)
    if not detached.any():
        return labels

    # pieces joined by an edge form one cluster; a cluster above the cap
    # falls back to its pieces
    both = detached[edges[:, 0]] & detached[edges[:, 1]]
    cluster = _group_components(np.zeros_like(labels), edges[both], len(weight))
    cluster = cluster[detached]
    held = pd.Series(weight[detached]).groupby(cluster).transform("sum").to_numpy()
    key = np.where(held <= max_size, cluster, -1 - comp[detached])
    _, new = np.unique(key, return_inverse=True)
    new = new.ravel()
    size = np.bincount(new, weights=weight[detached])
    sites = np.flatnonzero(detached)
    keep = size[new] >= smallest
    labels = labels.copy()
    _, number = np.unique(new[keep], return_inverse=True)
    labels[sites[keep]] = labels.max() + 1 + number.ravel()
    return labels


def _exchange_pieces(
    xy: np.ndarray,
    edges: np.ndarray,
    weight: np.ndarray,
    labels: np.ndarray,
    max_size: int,
) -> np.ndarray:
    """Trade each detached piece for as many registrations of the group it joins.

    Where the groups around a piece are full and no chain reaches room, the
    piece can still join the group it touches most if that group hands back
    sites on its border with the piece's own group: both keep their sizes, both
    stay within the cap, and the border moves a little instead of an island
    remaining. A trade is made only when both groups come out connected; a
    piece with no such trade stays where it is.
    """
    labels = labels.copy()
    graph = site_graph(edges, len(weight))
    for _ in range(_RECONNECT_ROUNDS):
        comp, detached = _detached(labels, edges, weight)
        if not detached.any():
            break
        sizes = np.bincount(labels, weights=weight).astype(np.int64)
        touched: set[int] = set()
        traded = False
        pieces = pd.Series(weight[detached]).groupby(comp[detached]).sum()
        for piece in pieces.sort_values(kind="stable").index:
            sites = np.flatnonzero(comp == piece)
            own = int(labels[sites[0]])
            if own in touched:
                continue
            main = np.flatnonzero((labels == own) & ~detached)
            trade = _trade(
                xy, weight, labels, graph, sites, main, sizes, max_size, touched
            )
            if trade is None:
                continue
            other, back = trade
            labels[sites] = other
            labels[back] = own
            moved = int(weight[sites].sum()) - int(weight[back].sum())
            sizes[own] -= moved
            sizes[other] += moved
            touched.update((own, other))
            traded = True
        if not traded:
            break
    return labels


def _trade(
    xy: np.ndarray,
    weight: np.ndarray,
    labels: np.ndarray,
    graph: csr_matrix,
    piece: np.ndarray,
    main: np.ndarray,
    sizes: np.ndarray,
    max_size: int,
    touched: set[int],
) -> tuple[int, np.ndarray] | None:
    """The group a piece can join and the sites it hands back, or None.

    The sites handed back are those nearest the piece's own group
    (:func:`_hand_back`).
    """
    own = int(labels[piece[0]])
    given = int(weight[piece].sum())
    centre = np.average(xy[main], axis=0, weights=weight[main])

    # the groups it touches, the one with most neighbouring sites first
    around = neighbours(graph, piece)
    for other in pd.Series(labels[around]).value_counts().index:
        if other == own or other in touched:
            continue
        # the trade must leave both groups at or below the cap
        least = int(sizes[other]) + given - max_size
        most = max_size - int(sizes[own]) + given
        in_other = labels == other
        back = _hand_back(xy, weight, in_other, graph, main, centre, least, most)
        if back is None:
            continue
        members = np.flatnonzero(in_other)
        stays = np.concatenate([members[~np.isin(members, back)], piece])
        if connected(graph, stays) and connected(graph, np.concatenate([main, back])):
            return int(other), back
    return None


def _hand_back(
    xy: np.ndarray,
    weight: np.ndarray,
    in_other: np.ndarray,
    graph: csr_matrix,
    main: np.ndarray,
    centre: np.ndarray,
    least: int,
    most: int,
) -> np.ndarray | None:
    """Sites of the other group weighing ``least`` to ``most``, or None.

    They are taken in rings through the other group (its sites next to the own
    group, then the ones next to those), closest to the own group's centre
    first within a ring, skipping a site that would weigh past ``most``.
    """
    if least <= 0:
        return np.empty(0, dtype=np.int64)
    seen = np.zeros(len(weight), dtype=bool)
    seen[main] = True
    ring = main
    back: list[int] = []
    total = 0
    while total < least:
        ring = neighbours(graph, ring)
        ring = ring[in_other[ring] & ~seen[ring]]
        if not len(ring):
            return None
        seen[ring] = True
        ring = ring[np.argsort(((xy[ring] - centre) ** 2).sum(axis=1), kind="stable")]
        for site in ring.tolist():
            if total + weight[site] <= most:
                back.append(site)
                total += int(weight[site])
            if total >= least:
                break
    return np.asarray(back, dtype=np.int64)


def _repair_contiguity(
    edges: np.ndarray,
    weight: np.ndarray,
    labels: np.ndarray,
    k: int,
    max_size: int,
    preferred: int,
) -> np.ndarray:
    """Reattach detached pieces of a group to the neighbouring group they touch most.

    Works on the Delaunay graph of the unit's sites; a piece moves only when the
    receiving group stays at or below ``max_size``, so a piece whose neighbours
    are all full stays where it is. A few passes are enough in practice because
    the capacitated cells are already convex.
    """
    if len(edges) == 0:
        return labels
    labels = labels.copy()
    for _ in range(4):
        comp, detached = _detached(labels, edges, weight)
        if not detached.any():
            break
        labels, moved = _move_pieces(
            labels, comp, detached, edges, weight, k, max_size, preferred
        )
        if not moved:
            break
    return labels


def _reattach_through_neighbours(
    xy: np.ndarray,
    edges: np.ndarray,
    weight: np.ndarray,
    labels: np.ndarray,
    k: int,
    max_size: int,
    preferred: int,
) -> np.ndarray:
    """Reattach pieces whose neighbouring groups are all full, via relief.

    :func:`_repair_contiguity` leaves a detached piece where it is when no
    group it touches has room. Here every such piece joins the group it
    touches most anyway, the surplus that gives is passed along neighbouring
    groups (:func:`partition.relief.relieve`) to room further away, and what
    no chain could carry goes to the nearest group with room. The result is
    kept only when every group is within ``max_size`` and fewer groups are
    broken than before; hull overlap is not weighed (when this pass came in, it
    raised the overlap at 100,000 registrations from 2.2 to 3.8 % of the groups;
    the hull separation after it takes most of that out again).
    """
    n = len(weight)
    broken = _broken_groups(labels, edges, n)
    if not broken:
        return labels
    comp, detached = _detached(labels, edges, weight)
    joined, _ = _move_pieces(
        labels.copy(), comp, detached, edges, weight, k, math.inf, math.inf
    )
    relieved = relieve(xy, weight, joined, edges, limit=max_size, plan_size=preferred)
    try:
        relieved = _enforce_cap(xy, weight, relieved, k, max_size)
    except _PackingError:
        return labels
    sizes = np.bincount(relieved, weights=weight, minlength=k)
    if sizes.max() <= max_size and _broken_groups(relieved, edges, n) < broken:
        return relieved
    return labels


def _hold_min_size(
    xy: np.ndarray,
    weight: np.ndarray,
    labels: np.ndarray,
    edges: np.ndarray,
    plan: PartitionPlan,
    max_size: int,
    addresses: tuple[np.ndarray, np.ndarray],
) -> np.ndarray:
    """Bring groups that contiguity repair left below ``min_size`` back up to it.

    ``min_size`` is a hard constraint and contiguity an objective: neighbours
    with spare first pass edge households along chains
    (:func:`partition.relief.top_up`, every group stays connected); a group
    still short then takes the nearest addresses of groups with spare, even if
    that leaves a piece of the giver detached or divides a building (a whole
    block of flats rarely fits the few places a group lacks). A group that
    still cannot reach ``min_size`` fails the run with what would fix it.
    ``addresses`` gives the site and registrations of every address; the
    result is a group per address.
    """
    site_of_pair, pair_weight = addresses
    sizes = np.bincount(labels, weights=weight)
    if sizes[sizes > 0].min() >= plan.min_size:
        return labels[site_of_pair]

    labels = top_up(xy, weight, labels, edges, minimum=plan.min_size)
    pair_xy = xy[site_of_pair]
    pair_label = _take_nearest(
        pair_xy, pair_weight, labels[site_of_pair], plan.min_size, max_size
    )
    pair_label = _pack_to_min_size(
        pair_xy, pair_weight, pair_label, plan.min_size, max_size
    )

    sizes = np.bincount(pair_label, weights=pair_weight)
    smallest = int(sizes[sizes > 0].min())
    if smallest < plan.min_size:
        name = " / ".join(str(part) for part in plan.unit)
        msg = (
            f"{name}: a group of {smallest} registrations cannot be brought up to "
            f"`min_size` ({plan.min_size}) from its neighbours without taking "
            "apart an address or exceeding `max_size`; lower `min_size`."
        )
        raise InfeasibleError(msg)
    return pair_label


def _take_nearest(
    xy: np.ndarray,
    weight: np.ndarray,
    labels: np.ndarray,
    minimum: int,
    max_size: int,
) -> np.ndarray:
    """Fill groups below ``minimum`` with the nearest sites other groups can spare."""
    labels = labels.copy()
    for _ in range(len(weight)):
        sizes = np.bincount(labels, weights=weight)
        short = np.flatnonzero((sizes > 0) & (sizes < minimum))
        if not len(short):
            break
        group = short[0]
        spare = sizes[labels] - weight >= minimum
        fits = weight <= max_size - sizes[group]
        candidates = np.flatnonzero(spare & fits & (labels != group))
        if not len(candidates):
            break
        centre = xy[labels == group].mean(axis=0)
        nearest = candidates[np.argmin(((xy[candidates] - centre) ** 2).sum(axis=1))]
        labels[nearest] = group
    return labels


def _pack_to_min_size(
    xy: np.ndarray,
    weight: np.ndarray,
    labels: np.ndarray,
    minimum: int,
    max_size: int,
) -> np.ndarray:
    """Pack groups again exactly where some are still below ``minimum``.

    The nearest-first fill is greedy: with households of many registrations it
    can strand a group a few short although some packing exists (groups of
    44-50 from households of up to 23). The short groups and their
    ``_PACK_NEIGHBOURS`` nearest groups are then packed again as one integer
    programme; when that region has too little spare, every group of the unit
    is, in units of up to ``_PACK_ADDRESSES`` addresses. Returns the labels
    unchanged when no packing is found.
    """
    sizes = np.bincount(labels, weights=weight)
    short = np.flatnonzero((sizes > 0) & (sizes < minimum))
    if not len(short):
        return labels

    start = time.perf_counter()
    used = np.flatnonzero(sizes > 0)
    centres = _centres(xy, weight.astype(float), labels, len(sizes))
    reach = min(len(used), _PACK_NEIGHBOURS + 1)
    _, near = cKDTree(centres[used]).query(centres[short], k=reach)
    region = np.unique(used[np.ravel(near)])
    packed = _pack_region(xy, weight, labels, region, centres, minimum, max_size)
    wider = len(region) < len(used) and len(weight) <= _PACK_ADDRESSES
    if packed is None and wider:
        region = used
        packed = _pack_region(xy, weight, labels, used, centres, minimum, max_size)

    logger.info(
        "min_size: %s groups short after the nearest-first fill; packing %s "
        "groups again %s in %.2f s",
        len(short),
        len(region),
        "found" if packed is not None else "failed",
        time.perf_counter() - start,
    )
    return labels if packed is None else packed


def _pack_region(
    xy: np.ndarray,
    weight: np.ndarray,
    labels: np.ndarray,
    region: np.ndarray,
    centres: np.ndarray,
    minimum: int,
    max_size: int,
) -> np.ndarray | None:
    """Pack the addresses of ``region``'s groups so each holds ``minimum`` to
    ``max_size`` registrations; None when no packing is found.

    An integer programme (OR-Tools CP-SAT): every address stays or moves to
    one of the ``_PACK_CHOICES`` region groups nearest to it, as few
    registrations move as possible, nearer groups preferred. The search is
    single-threaded with a deterministic work limit, so a run repeats exactly;
    a unit too large for that limit may be reported short although a packing
    exists.
    """
    free = np.flatnonzero(np.isin(labels, region))
    choices = min(len(region), _PACK_CHOICES)
    distance, nearest = cKDTree(centres[region]).query(xy[free], k=choices)
    nearest = region[np.reshape(nearest, (len(free), choices))]
    distance = np.reshape(distance, (len(free), choices))

    model = cp_model.CpModel()
    members: dict[int, list[tuple[cp_model.IntVar, int]]] = {int(g): [] for g in region}
    options_of = []
    moved = []
    for i, address in enumerate(free.tolist()):
        w, own = int(weight[address]), int(labels[address])
        options = {own: 0.0}
        for g, d in zip(nearest[i].tolist(), distance[i].tolist(), strict=True):
            options.setdefault(int(g), d)
        chosen = []
        for g, d in options.items():
            var = model.NewBoolVar("")
            chosen.append((var, g))
            members[g].append((var, w))
            if g == own:
                model.AddHint(var, 1)
            else:
                # a move costs its registrations, a little more the farther it goes
                moved.append((var, w * (_PACK_MOVE + int(d // _PACK_METRES))))
        model.AddExactlyOne(var for var, _ in chosen)
        options_of.append(chosen)
    for pairs in members.values():
        variables, weights = zip(*pairs, strict=True)
        model.AddLinearConstraint(
            cp_model.LinearExpr.WeightedSum(variables, weights), minimum, max_size
        )
    variables, costs = zip(*moved, strict=True) if moved else ((), ())
    model.Minimize(cp_model.LinearExpr.WeightedSum(variables, costs))

    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = 0
    solver.parameters.max_deterministic_time = _PACK_WORK
    if solver.Solve(model) not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None

    packed = labels.copy()
    for address, chosen in zip(free.tolist(), options_of, strict=True):
        packed[address] = next(g for var, g in chosen if solver.BooleanValue(var))
    return packed


def _detached(
    labels: np.ndarray, edges: np.ndarray, weight: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Components of the groups, and the sites outside their group's largest."""
    comp = _group_components(labels, edges, len(weight))
    frame = pd.DataFrame({"group": labels, "comp": comp, "weight": weight})
    piece = frame.groupby(["group", "comp"], sort=False)["weight"].sum()
    main = piece.groupby(level="group").idxmax().map(lambda pair: pair[1])
    return comp, comp != main.reindex(labels).to_numpy()


def _group_components(labels: np.ndarray, edges: np.ndarray, n: int) -> np.ndarray:
    """Connected components of the graph keeping only edges inside one group."""
    same = labels[edges[:, 0]] == labels[edges[:, 1]]
    graph = coo_matrix(
        (np.ones(int(same.sum())), (edges[same, 0], edges[same, 1])), shape=(n, n)
    )
    return connected_components(graph, directed=False)[1]


def _move_pieces(
    labels: np.ndarray,
    comp: np.ndarray,
    detached: np.ndarray,
    edges: np.ndarray,
    weight: np.ndarray,
    k: int,
    max_size: float,
    preferred: float,
) -> tuple[np.ndarray, bool]:
    """Move each detached piece to the group it shares most Delaunay edges with."""
    sizes = np.bincount(labels, weights=weight, minlength=k)
    piece_weight = pd.Series(weight[detached]).groupby(comp[detached]).sum()

    # count the edges from each detached piece to each other group
    both = np.concatenate([edges, edges[:, ::-1]])
    from_piece = detached[both[:, 0]] & (labels[both[:, 0]] != labels[both[:, 1]])
    links = pd.DataFrame(
        {"comp": comp[both[from_piece, 0]], "target": labels[both[from_piece, 1]]}
    ).value_counts()

    # first into groups that stay within the planned fill, then up to the cap
    moved = False
    taken: set[int] = set()
    for limit in (preferred, max_size):
        for (c, target), _ in links.items():
            if c in taken or sizes[target] + piece_weight[c] > limit:
                continue
            members = comp == c
            sizes[labels[members][0]] -= piece_weight[c]
            sizes[target] += piece_weight[c]
            labels[members] = target
            taken.add(c)
            moved = True
    return labels, moved


def delaunay_edges(xy: np.ndarray) -> np.ndarray:
    """Return the unique undirected edges ``(i, j)`` with ``i < j`` of a Delaunay graph.

    The triangulation is of the distinct coordinates; fewer than three, or all
    on one line, are joined in coordinate order. Points at one coordinate (the
    addresses of a large block of flats) are joined to each other and each to
    every point their coordinate is joined to, so any of them stand where the
    building stands: a group holding part of a building is connected through
    it, as :mod:`partition.quality` counts contiguity. Such a coordinate of
    ``m`` points adds ``m * (m - 1) / 2`` edges among them, and ``m * n`` to
    each joined coordinate of ``n`` points.
    """
    if len(xy) < 2:
        return np.empty((0, 2), dtype=np.int64)
    unique, inverse = distinct_points(xy)

    pairs = _chain(unique)
    if len(unique) >= 3:
        try:
            tri = Delaunay(unique)
        except QhullError:
            tri = None
        if tri is not None:
            indptr, neighbours = tri.vertex_neighbor_vertices
            source = np.repeat(np.arange(len(unique)), np.diff(indptr))
            keep = source < neighbours
            pairs = np.column_stack([source[keep], neighbours[keep]])
            # points Qhull left out as numerically coincident join their vertex
            if len(tri.coplanar):
                pairs = np.concatenate([pairs, tri.coplanar[:, [0, 2]]])

    # every point at a coordinate is joined to every point at the coordinates
    # it is joined to, and to the other points at its own coordinate
    counts = np.bincount(inverse, minlength=len(unique))
    members = np.argsort(inverse, kind="stable")
    start = np.r_[0, np.cumsum(counts)]
    edges = [_all_pairs_between(pairs, counts, members, start)]
    for point in np.flatnonzero(counts > 1):
        here = members[start[point] : start[point + 1]]
        i, j = np.triu_indices(len(here), 1)
        edges.append(np.column_stack([here[i], here[j]]))
    return np.sort(np.concatenate(edges), axis=1)


def _all_pairs_between(
    pairs: np.ndarray, counts: np.ndarray, members: np.ndarray, start: np.ndarray
) -> np.ndarray:
    """Edges between every point at ``p`` and every point at ``q``, per pair."""
    p, q = pairs[:, 0], pairs[:, 1]
    per_pair = counts[p] * counts[q]
    pair = np.repeat(np.arange(len(pairs)), per_pair)
    rank = np.arange(len(pair)) - np.repeat(np.cumsum(per_pair) - per_pair, per_pair)
    across = counts[q][pair]
    a = members[start[p[pair]] + rank // across]
    b = members[start[q[pair]] + rank % across]
    return np.column_stack([a, b])


def distinct_points(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct coordinates and, per input point, the index of its distinct point.

    Sorting complex numbers is a one-dimensional sort, several times faster than
    ``np.unique(axis=0)`` on large inputs.
    """
    packed = xy[:, 0] + 1j * xy[:, 1]
    unique, inverse = np.unique(packed, return_inverse=True)
    return np.column_stack([unique.real, unique.imag]), inverse.ravel()


def _chain(points: np.ndarray) -> np.ndarray:
    """Join points in lexicographic order: the graph of collinear points."""
    order = np.lexsort((points[:, 1], points[:, 0]))
    return np.column_stack([order[:-1], order[1:]])


def _name_groups(
    part: pd.DataFrame, local: np.ndarray, woonplaats: str, numbering: dict[str, int]
) -> np.ndarray:
    """Name local groups ``<woonplaats slug>-NN`` from north-west to south-east."""
    k = int(local.max()) + 1
    cx = np.bincount(local, weights=part["x"].to_numpy(dtype=float), minlength=k)
    cy = np.bincount(local, weights=part["y"].to_numpy(dtype=float), minlength=k)
    count = np.bincount(local, minlength=k)
    order = np.argsort((cx - cy) / count, kind="stable")
    slug = slugify(woonplaats)
    start = numbering.get(slug, 0)
    numbering[slug] = start + k
    width = max(2, len(str(start + k)))
    names = np.empty(k, dtype=object)
    names[order] = [f"{slug}-{start + i + 1:0{width}d}" for i in range(k)]
    return names[local]
