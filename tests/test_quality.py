"""Group quality metrics: hand-checked fixtures, then invariants over random input."""

from __future__ import annotations

import itertools
import json
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from partition import quality as quality_module
from partition.errors import BuurtgroepenError
from partition.groups import delaunay_edges, partition_members
from partition.quality import group_table, partition_quality
from tests.conftest import generated_members

X0, Y0 = 257_000.0, 478_000.0  # a point in Losser, RD New metres

PCT_KEYS = (
    "contiguous_pct",
    "hull_overlap_pct",
    "split_streets_pct",
    "cross_woonplaats_pct",
)


def make_members(
    xy: list[tuple[float, float]],
    *,
    woonplaats: list[str] | None = None,
    street: list[str | None] | None = None,
    index: list[object] | None = None,
) -> pd.DataFrame:
    """Registrations at ``xy`` (metres from a point in Losser), one street each."""
    n = len(xy)
    coords = np.asarray(xy, dtype=float).reshape(n, 2)
    return pd.DataFrame(
        {
            "x": X0 + coords[:, 0],
            "y": Y0 + coords[:, 1],
            "woonplaats": woonplaats or ["Losser"] * n,
            "openbare_ruimte": street or [f"Straat {i}" for i in range(n)],
        },
        index=index,
    )


def labels(values: list[object], members: pd.DataFrame) -> pd.Series:
    """A ``group_id`` Series on the index of ``members``."""
    return pd.Series(values, index=members.index, name="group_id")


def grid(n: int, spacing: float = 10.0) -> list[tuple[float, float]]:
    """An ``n`` x ``n`` square grid, column by column: (0, 0), (0, 10), ..."""
    return [(i * spacing, j * spacing) for i in range(n) for j in range(n)]


# --- fixtures with hand-checked answers ------------------------------------


def test_side_by_side_halves_are_contiguous_without_overlap() -> None:
    """Left and right halves of a 4x4 grid: both connected, hulls 10 m apart."""
    members = make_members(grid(4))
    group_id = labels(["left"] * 8 + ["right"] * 8, members)
    quality = partition_quality(members, group_id, max_size=10)
    assert quality["contiguous_pct"] == 100.0
    assert quality["hull_overlap_pct"] == 0.0
    assert quality["groups"] == 2
    assert quality["cross_woonplaats_pct"] == 0.0


def test_checkerboard_groups_are_split_and_overlap() -> None:
    """Checkerboard on a sheared 4x4 grid: neither colour connected, hulls overlap.

    A square grid has four co-circular corners per cell, so its Delaunay diagonals
    are arbitrary; shearing by 3 m per row makes each cell's shorter diagonal,
    (i + 1, j) - (i, j + 1), the Delaunay edge. It joins two cells of the same
    colour on one anti-diagonal, and no edge joins two anti-diagonals of one colour.
    """
    cells = [(i, j) for i in range(4) for j in range(4)]
    members = make_members([(10.0 * i + 3.0 * j, 10.0 * j) for i, j in cells])
    group_id = labels([(i + j) % 2 for i, j in cells], members)
    table = group_table(members, group_id)
    assert not table["contiguous"].any()
    assert table["hull_overlaps"].all()
    quality = partition_quality(members, group_id, max_size=10)
    assert quality["contiguous_pct"] == 0.0
    assert quality["hull_overlap_pct"] == 100.0


def test_group_in_two_far_clusters_is_not_contiguous() -> None:
    """Group a: squares at x 0 and 1000 m; group b: a square at 500 m between them."""
    square = [(0.0, 0.0), (10.0, 0.0), (0.0, 10.0), (10.0, 10.0)]
    xy = [(x + dx, y) for dx in (0.0, 1000.0, 500.0) for x, y in square]
    members = make_members(xy)
    table = group_table(members, labels(["a"] * 8 + ["b"] * 4, members))
    assert table.loc["a", "contiguous"] == False  # noqa: E712
    assert table.loc["b", "contiguous"] == True  # noqa: E712
    # a's hull (0-1010 m x 0-10 m) contains b's square
    assert table["hull_overlaps"].all()


def test_group_across_two_woonplaatsen_is_never_contiguous() -> None:
    """Group a: 3 in Losser and 1 in Glane, all on one 10 m line; b: 1 in Glane."""
    members = make_members(
        [(0.0, 0.0), (10.0, 0.0), (20.0, 0.0), (30.0, 0.0), (40.0, 0.0)],
        woonplaats=["Losser"] * 3 + ["Glane"] * 2,
    )
    group_id = labels(["a"] * 4 + ["b"], members)
    table = group_table(members, group_id)
    assert table.loc["a", "woonplaatsen"] == 2
    assert table.loc["a", "woonplaats"] == "Losser"
    assert table.loc["a", "contiguous"] == False  # noqa: E712
    quality = partition_quality(members, group_id, max_size=10)
    assert quality["cross_woonplaats_pct"] == 50.0
    assert quality["contiguous_pct"] == 50.0


def test_main_woonplaats_tie_goes_to_the_first_name() -> None:
    """Two members in Losser and two in Glane: the main woonplaats is Glane."""
    members = make_members(grid(2), woonplaats=["Losser", "Glane"] * 2)
    table = group_table(members, labels(["a"] * 4, members))
    assert table.loc["a", "woonplaats"] == "Glane"


@pytest.mark.parametrize(
    ("woonplaats", "overlap_pct"),
    [
        (["Losser"] * 4 + ["Glane"] * 4, 0.0),
        (["Losser"] * 3 + ["Glane"] + ["Glane"] * 4, 100.0),
    ],
    ids=["other-woonplaats", "shared-woonplaats"],
)
def test_hull_overlap_counts_only_groups_sharing_a_woonplaats(
    woonplaats: list[str], overlap_pct: float
) -> None:
    """Two overlapping 10 m squares count only when their groups share a woonplaats."""
    square = [(0.0, 0.0), (10.0, 0.0), (0.0, 10.0), (10.0, 10.0)]
    shifted = [(x + 5.0, y + 5.0) for x, y in square]
    members = make_members(square + shifted, woonplaats=woonplaats)
    group_id = labels(["a"] * 4 + ["b"] * 4, members)
    quality = partition_quality(members, group_id, max_size=10)
    assert quality["hull_overlap_pct"] == overlap_pct


def test_hulls_sharing_an_edge_do_not_overlap() -> None:
    """Squares 0-10 m and 10-20 m wide, with co-located members on the shared edge."""
    left = [(0.0, 0.0), (10.0, 0.0), (0.0, 10.0), (10.0, 10.0)]
    right = [(x + 10.0, y) for x, y in left]
    members = make_members(left + right)
    table = group_table(members, labels(["a"] * 4 + ["b"] * 4, members))
    assert not table["hull_overlaps"].any()


@pytest.mark.parametrize(
    "line",
    [[(5.0, -5.0), (5.0, 15.0)], [(5.0, -5.0), (5.0, 5.0), (5.0, 15.0)]],
    ids=["two-points", "three-collinear"],
)
def test_hulls_without_area_never_overlap(line: list[tuple[float, float]]) -> None:
    """A line of members crossing another group's 10 m square is no overlap."""
    square = [(0.0, 0.0), (10.0, 0.0), (0.0, 10.0), (10.0, 10.0)]
    members = make_members(square + line)
    group_id = labels(["a"] * 4 + ["b"] * len(line), members)
    quality = partition_quality(members, group_id, max_size=10)
    assert quality["hull_overlap_pct"] == 0.0


def test_split_streets_counts_streets_of_two_to_cap_minus_one() -> None:
    """A (3, one group) and B (4, split 2/2) count; C (1) and D (5 = cap) do not."""
    street = ["A"] * 3 + ["B"] * 4 + ["C"] + ["D"] * 5
    group = [1, 1, 1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2]
    members = make_members([(10.0 * i, 0.0) for i in range(13)], street=street)
    quality = partition_quality(members, labels(group, members), max_size=5)
    assert quality["split_streets_pct"] == 50.0


def test_same_street_name_in_two_woonplaatsen_is_two_streets() -> None:
    """Dorpsstraat in Losser (group a) and in Glane (group b): nothing is split."""
    members = make_members(
        grid(2), woonplaats=["Losser", "Losser", "Glane", "Glane"], street=["D"] * 4
    )
    quality = partition_quality(members, labels(list("aabb"), members), max_size=10)
    assert quality["split_streets_pct"] == 0.0


def test_split_streets_is_none_without_countable_streets() -> None:
    """Streets of one registration each, and blank or missing names, count for none."""
    members = make_members(grid(2), street=["A", "B", "", None])
    quality = partition_quality(members, labels(list("abab"), members), max_size=10)
    assert quality["split_streets_pct"] is None


def test_sizes_10_10_13_in_one_woonplaats() -> None:
    """Mean 11, population std sqrt(2), so cv sqrt(2)/11; 13 is over 11 * 1.15."""
    xy = [(1000.0 * g + i, 0.0) for g, n in enumerate([10, 10, 13]) for i in range(n)]
    members = make_members(xy)
    group = [g for g, n in enumerate([10, 10, 13]) for _ in range(n)]
    quality = partition_quality(members, labels(group, members), max_size=12)
    assert quality["size_cv"] == pytest.approx(math.sqrt(2) / 11)
    assert quality["within_15pct"] == pytest.approx(2 / 3)
    assert (quality["min_size"], quality["max_size"]) == (10, 13)
    assert quality["over_cap"] == 1


def test_balance_is_judged_per_woonplaats() -> None:
    """Losser sizes 10 and 10, Glane 3: each near its own woonplaats's mean."""
    sizes = [10, 10, 3]
    xy = [(1000.0 * g + i, 0.0) for g, n in enumerate(sizes) for i in range(n)]
    woonplaats = ["Losser"] * 20 + ["Glane"] * 3
    members = make_members(xy, woonplaats=woonplaats)
    group = [g for g, n in enumerate(sizes) for _ in range(n)]
    quality = partition_quality(members, labels(group, members), max_size=12)
    assert quality["within_15pct"] == 1.0


def test_balance_bound_is_inclusive() -> None:
    """Sizes 17 and 23 around a mean of 20 are exactly 15 % off: both balanced."""
    xy = [(1000.0 * g + i, 0.0) for g, n in enumerate([17, 23]) for i in range(n)]
    members = make_members(xy)
    group = [g for g, n in enumerate([17, 23]) for _ in range(n)]
    quality = partition_quality(members, labels(group, members), max_size=30)
    assert quality["within_15pct"] == 1.0


def test_mean_distance_of_two_members_10_m_apart_is_5() -> None:
    """Two members 10 m apart are each 5 m from their midpoint."""
    members = make_members([(0.0, 0.0), (6.0, 8.0)])
    group_id = labels(["a", "a"], members)
    assert group_table(members, group_id).loc["a", "mean_distance_m"] == 5.0
    assert partition_quality(members, group_id, max_size=5)["mean_distance_m"] == 5.0


def test_mean_distance_is_averaged_over_registrations() -> None:
    """Pair 10 m apart (5 m each) plus a single (0 m): (5 + 5 + 0) / 3 over members."""
    members = make_members([(0.0, 0.0), (10.0, 0.0), (500.0, 0.0)])
    quality = partition_quality(members, labels(["a", "a", "b"], members), max_size=5)
    assert quality["mean_distance_m"] == pytest.approx(10 / 3)


@pytest.mark.parametrize(
    "xy",
    [
        [(0.0, 0.0)] * 3,
        [(0.0, 0.0), (0.0, 0.0), (10.0, 0.0), (5.0, 8.0), (5.0, -8.0)],
    ],
    ids=["one-point", "with-neighbours"],
)
def test_co_located_members_are_connected(xy: list[tuple[float, float]]) -> None:
    """Members at one point form one piece, also when other groups surround it."""
    members = make_members(xy)
    group_id = labels(["a"] * 3 + ["b"] * (len(xy) - 3), members)
    table = group_table(members, group_id)
    assert table.loc["a", "contiguous"] == True  # noqa: E712


@pytest.mark.parametrize("first", ["a", "b"])
def test_groups_sharing_a_point_both_stay_connected(first: str) -> None:
    """a and b share the point 0; a goes on to -10 m, b to +10 m: both connected.

    Whichever group's registration comes first at the shared point, the other
    group's member there is still joined to its own neighbour.
    """
    second = "b" if first == "a" else "a"
    members = make_members([(0.0, 0.0), (0.0, 0.0), (-10.0, 0.0), (10.0, 0.0)])
    table = group_table(members, labels([first, second, "a", "b"], members))
    assert table["contiguous"].all()


def test_single_registration() -> None:
    """One member: one contiguous group of size 1, nothing to split or overlap."""
    members = make_members([(0.0, 0.0)])
    quality = partition_quality(members, labels(["a"], members), max_size=5)
    assert quality["contiguous_pct"] == 100.0
    assert quality["hull_overlap_pct"] == 0.0
    assert quality["size_cv"] == 0.0
    assert quality["within_15pct"] == 1.0
    assert quality["mean_distance_m"] == 0.0
    assert quality["split_streets_pct"] is None


def test_empty_members_give_zero_counts_and_none() -> None:
    """No registrations: counts 0, every ratio None, valid strict JSON."""
    members = make_members([])
    group_id = labels([], members)
    quality = partition_quality(members, group_id, max_size=5)
    assert (quality["registrations"], quality["groups"], quality["over_cap"]) == (
        0,
        0,
        0,
    )
    assert all(quality[key] is None for key in PCT_KEYS)
    json.dumps(quality, allow_nan=False)
    table = group_table(members, group_id)
    assert table.empty
    assert table.index.name == "group_id"
    assert list(table.columns) == [
        "size",
        "woonplaats",
        "woonplaatsen",
        "contiguous",
        "hull_overlaps",
        "mean_distance_m",
    ]


def test_int_and_string_labels_give_the_same_numbers() -> None:
    """Labels 0/1 and "de-lutte-01"/"de-lutte-02" score the same partition."""
    members = make_members(grid(4), street=["A", "B"] * 8)
    ints = labels([0] * 8 + [1] * 8, members)
    names = ints.map({0: "de-lutte-01", 1: "de-lutte-02"})
    assert partition_quality(members, ints, max_size=10) == partition_quality(
        members, names, max_size=10
    )
    table = group_table(members, names)
    assert list(table.index) == ["de-lutte-01", "de-lutte-02"]
    assert table.index.name == "group_id"


def test_index_need_not_be_a_range_and_labels_align_by_index() -> None:
    """A string index works, and ``group_id`` in another row order is aligned."""
    index = [f"reg-{i:02d}" for i in range(16)][::-1]
    plain = make_members(grid(4))
    members = make_members(grid(4), index=index)
    split = [0] * 8 + [1] * 8
    expected = partition_quality(plain, labels(split, plain), max_size=10)
    group_id = labels(split, members)
    assert partition_quality(members, group_id, max_size=10) == expected
    shuffled = group_id.iloc[np.random.default_rng(0).permutation(16)]
    assert partition_quality(members, shuffled, max_size=10) == expected


def test_result_is_plain_json() -> None:
    """Every value is a built-in int, float or None (no numpy scalars)."""
    members = make_members(grid(3))
    quality = partition_quality(members, labels([0] * 5 + [1] * 4, members), max_size=4)
    assert all(type(value) in (int, float, type(None)) for value in quality.values())
    assert json.loads(json.dumps(quality, allow_nan=False)) == quality


# --- input errors ----------------------------------------------------------


def test_missing_column_is_named() -> None:
    """A frame without ``openbare_ruimte`` is rejected by name."""
    members = make_members(grid(2)).drop(columns="openbare_ruimte")
    group_id = labels([0] * 4, members)
    with pytest.raises(BuurtgroepenError, match="openbare_ruimte"):
        partition_quality(members, group_id, max_size=5)
    assert len(group_table(members, group_id)) == 1


def test_group_id_on_another_index_is_rejected() -> None:
    """A ``group_id`` for other registrations cannot be measured."""
    members = make_members(grid(2))
    group_id = pd.Series([0, 0, 1], index=[0, 1, 7])
    with pytest.raises(BuurtgroepenError, match=r"`group_id` must be on the index"):
        group_table(members, group_id)


def test_missing_labels_are_counted() -> None:
    """Unassigned registrations are reported by count."""
    members = make_members(grid(2))
    group_id = labels([0, None, 1, None], members)
    with pytest.raises(BuurtgroepenError, match="missing for 2 of 4"):
        group_table(members, group_id)


def test_missing_coordinates_are_counted() -> None:
    """A registration without coordinates cannot be placed in the graph."""
    members = make_members(grid(2))
    members.loc[0, "x"] = np.nan
    with pytest.raises(BuurtgroepenError, match="1 registrations without finite"):
        group_table(members, labels([0] * 4, members))


@pytest.mark.parametrize("max_size", [0, -3, 2.5, True])
def test_cap_must_be_a_positive_integer(max_size: Any) -> None:
    """``max_size`` is the cap: a positive integer."""
    members = make_members(grid(2))
    with pytest.raises(BuurtgroepenError, match="`max_size` must be a positive"):
        partition_quality(members, labels([0] * 4, members), max_size=max_size)


# --- invariants --------------------------------------------------------------


@st.composite
def partitions(draw: st.DrawFn) -> tuple[pd.DataFrame, pd.Series, int]:
    """Small towns on a 7x7 lattice (duplicates, collinear runs) with any labels."""
    n = draw(st.integers(min_value=1, max_value=30))

    def column(strategy: st.SearchStrategy[object]) -> list[object]:
        return draw(st.lists(strategy, min_size=n, max_size=n))

    xy = list(zip(column(st.integers(0, 6)), column(st.integers(0, 6)), strict=True))
    members = make_members(
        [(10.0 * x, 10.0 * y) for x, y in xy],
        woonplaats=column(st.sampled_from(["Losser", "Glane"])),
        street=column(st.sampled_from(["A", "B", "C"])),
    )
    group_id = labels(column(st.integers(0, 4)), members)
    return members, group_id, draw(st.integers(min_value=1, max_value=8))


def check_ranges(quality: dict[str, object], members: pd.DataFrame) -> None:
    """Every metric within its range and consistent with the counts."""
    assert quality["registrations"] == len(members)
    assert 1 <= quality["groups"] <= len(members)
    assert 1 <= quality["min_size"] <= quality["max_size"] <= len(members)
    assert 0 <= quality["over_cap"] <= quality["groups"]
    assert quality["size_cv"] >= 0.0
    assert 0.0 <= quality["within_15pct"] <= 1.0
    assert quality["mean_distance_m"] >= 0.0
    for key in PCT_KEYS:
        assert quality[key] is None or 0.0 <= quality[key] <= 100.0
    json.dumps(quality, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(case=partitions(), data=st.data())
def test_metrics_are_in_range_and_ignore_labels_and_row_order(
    case: tuple[pd.DataFrame, pd.Series, int], data: st.DataObject
) -> None:
    """Hypothesis: ranges hold; renaming groups or shuffling rows changes nothing."""
    members, group_id, max_size = case
    quality = partition_quality(members, group_id, max_size=max_size)
    check_ranges(quality, members)
    table = group_table(members, group_id)
    assert not (table["contiguous"] & (table["woonplaatsen"] > 1)).any()
    assert table.loc[table["size"] == 1, "contiguous"].all()

    # rename the groups by a permutation of other names
    perm = data.draw(st.permutations(range(5)))
    renamed = group_id.map(lambda g: f"groep-{perm[g]}")
    assert partition_quality(members, renamed, max_size=max_size) == pytest.approx(
        quality
    )
    relabelled = group_table(members, renamed)
    relabelled.index = relabelled.index.map(lambda name: perm.index(int(name[-1])))
    pd.testing.assert_frame_equal(
        relabelled.sort_index(), table, check_index_type=False, check_names=False
    )

    # shuffle the rows together with their labels
    order = data.draw(st.permutations(range(len(members))))
    shuffled = partition_quality(
        members.iloc[order], group_id.iloc[order], max_size=max_size
    )
    assert shuffled == pytest.approx(quality)


def random_town(n: int, seed: int) -> tuple[pd.DataFrame, pd.Series]:
    """Three villages, nearest-centre groups with noise, some shared points.

    A tenth of the registrations sit at the point of another one; they and about
    5 % of the rest get a random group, so groups share points, some groups are
    split and some hulls overlap.
    """
    rng = np.random.default_rng(seed)
    village = rng.integers(0, 3, n)
    xy = np.column_stack([village * 5_000.0, village * 1_000.0])
    xy = np.round(xy + rng.normal(0, 400, (n, 2)))
    shared = slice(n // 2, n // 2 + n // 10)
    xy[shared], village[shared] = xy[: n // 10], village[: n // 10]
    centres = rng.normal(0, 400, (8, 2))
    local = np.argmin(
        (((xy - xy.mean(axis=0))[:, None, :] - centres[None]) ** 2).sum(-1), axis=1
    )
    noisy = rng.random(n) < 0.05
    noisy[shared] = True  # households at one point split over groups
    local[noisy] = rng.integers(0, 8, int(noisy.sum()))
    members = make_members(
        [tuple(p) for p in xy],
        woonplaats=[f"Dorp {v}" for v in village],
        street=[f"Straat {s}" for s in rng.integers(0, 60, n)],
    )
    return members, labels(
        [f"g{v}-{g}" for v, g in zip(village, local, strict=True)], members
    )


def brute_force_contiguous(members: pd.DataFrame, group_id: pd.Series) -> pd.Series:
    """The contiguity definition as a plain search over registrations."""
    result = {}
    for _, part in members.groupby("woonplaats"):
        xy = part[["x", "y"]].to_numpy()
        points, point_of = np.unique(xy, axis=0, return_inverse=True)
        point_of = point_of.ravel()
        near = {(i, i) for i in range(len(points))}
        near |= {(min(e), max(e)) for e in delaunay_edges(points).tolist()}
        group = group_id[part.index].to_numpy()
        for label in np.unique(group):
            rows = np.flatnonzero(group == label)
            seen, todo = {rows[0]}, [rows[0]]
            while todo:
                u = todo.pop()
                for v in rows:
                    pair = tuple(sorted((point_of[u], point_of[v])))
                    if v not in seen and pair in near:
                        seen.add(v)
                        todo.append(v)
            result[label] = result.get(label, True) and len(seen) == len(rows)
    return pd.Series(result).sort_index()


def brute_force_overlaps(members: pd.DataFrame, group_id: pd.Series) -> pd.Series:
    """The hull-overlap definition as a loop over all pairs of groups."""
    names = sorted(group_id.unique())
    hull = {
        g: shapely.MultiPoint(
            members.loc[group_id == g, ["x", "y"]].to_numpy()
        ).convex_hull
        for g in names
    }
    places = {g: set(members.loc[group_id == g, "woonplaats"]) for g in names}
    result = dict.fromkeys(names, False)
    for a, b in itertools.combinations(names, 2):
        if places[a] & places[b] and hull[a].intersection(hull[b]).area > 1.0:
            result[a] = result[b] = True
    return pd.Series(result).sort_index()


@pytest.mark.parametrize("batches", [None, (3, 5)], ids=["default", "tiny-batches"])
def test_vectorised_metrics_match_brute_force(
    batches: tuple[int, int] | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Contiguity and hull overlap agree with plain loops over the definitions.

    With tiny batches the hull pairs are queried and intersected in many
    rounds, so skipping groups already known to overlap is exercised.
    """
    if batches is not None:
        monkeypatch.setattr(quality_module, "_QUERY_CHUNK", batches[0])
        monkeypatch.setattr(quality_module, "_PAIR_BATCH", batches[1])
    members, group_id = random_town(600, seed=3)
    table = group_table(members, group_id)
    contiguous = brute_force_contiguous(members, group_id)
    overlaps = brute_force_overlaps(members, group_id)
    assert table["contiguous"].tolist() == contiguous.tolist()
    assert table["hull_overlaps"].tolist() == overlaps.tolist()
    # the fixture exercises both outcomes of both metrics
    assert 0 < contiguous.sum() < len(contiguous)
    assert 0 < overlaps.sum() < len(overlaps)


def test_engine_partition_meets_its_hard_constraints() -> None:
    """The engine's groups of 1,500 registrations: no group over cap or across."""
    members, _ = random_town(1_500, seed=7)
    members["address_key"] = [f"7581AA|{i + 1}||" for i in range(len(members))]
    members = members.drop_duplicates(["x", "y"])
    group_id = partition_members(members, max_size=50)
    quality = partition_quality(members, group_id, max_size=50)
    check_ranges(quality, members)
    assert quality["over_cap"] == 0
    assert quality["cross_woonplaats_pct"] == 0.0
    table = group_table(members, group_id)
    assert quality["contiguous_pct"] == pytest.approx(100 * table["contiguous"].mean())


def street_strip(
    name: str, n: int, along: tuple[float, float], at: tuple[float, float] = (0, 0)
) -> tuple[list[tuple[float, float]], list[str]]:
    """``n`` houses of street ``name``, both sides of a line through ``at``.

    The houses stand 10 m either side of the line, 300 m long, running along
    the unit vector ``along``, so the street's hull is a strip 20 m wide.
    """
    direction = np.asarray(along, dtype=float)
    side = np.array([-direction[1], direction[0]])
    steps = np.linspace(-150.0, 150.0, n)
    offsets = np.where(np.arange(n) % 2 == 0, 10.0, -10.0)
    xy = np.asarray(at) + steps[:, None] * direction + offsets[:, None] * side
    return [tuple(point) for point in xy], [name] * n


def streets_town(
    *streets: tuple[list, list], woonplaats: list[str] | None = None
) -> pd.DataFrame:
    """Registrations of the given street strips, in one woonplaats by default."""
    xy = [point for points, _ in streets for point in points]
    names = [name for _, street in streets for name in street]
    return make_members(xy, street=names, woonplaats=woonplaats)


def test_floor_of_two_crossing_streets_over_the_cap_is_one_of_them() -> None:
    """A (30) and B (30) cross: whole, they share a group of 60 > 50, so one splits.

    With a cap of 70 they fit one group and nothing has to split; in two
    woonplaatsen their hulls may overlap, so nothing binds them.
    """
    a = street_strip("A", 30, (1.0, 0.0))
    b = street_strip("B", 30, (0.0, 1.0))
    members = streets_town(a, b)
    assert quality_module.split_streets_floor(members, max_size=50) == 50.0
    assert quality_module.split_streets_floor(members, max_size=70) == 0.0
    two_places = streets_town(a, b, woonplaats=["Losser"] * 30 + ["Glane"] * 30)
    assert quality_module.split_streets_floor(two_places, max_size=50) == 0.0


def test_floor_counts_disjoint_chains_not_pairs() -> None:
    """Streets linked in a chain A-B-C (20 each, cap 50) need one split, not two;
    a second chain D-E-F far away needs its own; G alone needs none."""
    chain = [
        street_strip("A", 20, (1.0, 0.0), (0, 0)),
        street_strip("B", 20, (0.0, 1.0), (140, 0)),
        street_strip("C", 20, (1.0, 0.0), (280, 140)),
    ]
    second = [
        street_strip("D", 20, (1.0, 0.0), (0, 2000)),
        street_strip("E", 20, (0.0, 1.0), (140, 2000)),
        street_strip("F", 20, (1.0, 0.0), (280, 2140)),
    ]
    alone = street_strip("G", 20, (1.0, 0.0), (5000, 0))
    members = streets_town(*chain, *second, alone)
    assert quality_module.split_streets_floor(members, max_size=50) == 200 / 7


def test_floor_is_none_without_counted_streets_and_checks_the_cap() -> None:
    """Streets of one registration count for nothing; a cap of 0 is refused."""
    members = make_members(grid(3))
    assert quality_module.split_streets_floor(members, max_size=10) is None
    with pytest.raises(BuurtgroepenError, match="max_size"):
        quality_module.split_streets_floor(members, max_size=0)
    with pytest.raises(BuurtgroepenError, match="openbare_ruimte"):
        quality_module.split_streets_floor(
            members.drop(columns="openbare_ruimte"), max_size=10
        )


def least_split_streets(members: pd.DataFrame, max_size: int) -> int:
    """The fewest streets to split so that the whole ones obey the floor's rule.

    Every set of streets is tried: the whole streets, linked where their hulls
    overlap by more than the tolerance in one woonplaats, must form linked
    sets of at most ``max_size`` registrations.
    """
    counted = members.groupby(["woonplaats", "openbare_ruimte"]).filter(
        lambda street: 2 <= len(street) < max_size
    )
    streets = list(counted.groupby(["woonplaats", "openbare_ruimte"]))
    hulls = [
        shapely.MultiPoint(street[["x", "y"]].to_numpy()).convex_hull
        for _, street in streets
    ]
    size = [len(street) for _, street in streets]
    linked = {
        (i, j)
        for i, j in itertools.combinations(range(len(streets)), 2)
        if streets[i][0][0] == streets[j][0][0]
        and hulls[i].intersection(hulls[j]).area
        > quality_module.HULL_OVERLAP_TOLERANCE_M2
    }
    for n_split in range(len(streets) + 1):
        for split in itertools.combinations(range(len(streets)), n_split):
            whole = [i for i in range(len(streets)) if i not in split]
            if all(
                weight <= max_size for weight in _linked_weights(whole, linked, size)
            ):
                return n_split
    raise AssertionError("splitting every street always obeys the rule")


def _linked_weights(whole: list[int], linked: set, size: list[int]) -> list[int]:
    """Registrations of each linked set among the whole streets."""
    home = {i: i for i in whole}

    def root(i: int) -> int:
        while home[i] != i:
            i = home[i]
        return i

    for i, j in linked:
        if i in home and j in home:
            home[root(i)] = root(j)
    totals: dict[int, int] = {}
    for i in whole:
        totals[root(i)] = totals.get(root(i), 0) + size[i]
    return list(totals.values())


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(2, 25),
            st.sampled_from([(1.0, 0.0), (0.0, 1.0), (0.6, 0.8)]),
            st.integers(-3, 3),
            st.integers(-3, 3),
            st.sampled_from(["Losser", "Glane"]),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_floor_never_exceeds_the_fewest_splits_of_any_partition(
    streets: list[tuple[int, tuple[float, float], int, int, str]],
) -> None:
    """Random crossing strips: the floor is at most the brute-force least split."""
    strips, places = [], []
    for number, (n, along, dx, dy, place) in enumerate(streets):
        strips.append(street_strip(f"S{number}", n, along, (100.0 * dx, 100.0 * dy)))
        places += [place] * n
    members = streets_town(*strips, woonplaats=places)
    floor = quality_module.split_streets_floor(members, max_size=30)
    counted = sum(1 for n, *_ in streets if 2 <= n < 30)
    least = least_split_streets(members, 30)
    assert floor is not None
    assert floor * counted <= 100 * least + 1e-9


def test_engine_groups_without_overlap_split_at_least_the_floor() -> None:
    """On a generated town, a partition with no overlapping hull and no group over
    the cap splits at least as many streets as the floor says it must."""
    members = generated_members(2000, 10_000, 2065, 2000)
    group_id = partition_members(members, max_size=50)
    quality = partition_quality(members, group_id, max_size=50)
    floor = quality_module.split_streets_floor(members, max_size=50)
    assert quality["hull_overlap_pct"] == 0.0
    assert quality["over_cap"] == 0
    assert floor is not None
    assert quality["split_streets_pct"] >= floor
