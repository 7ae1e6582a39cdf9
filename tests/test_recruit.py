"""Tests of recruitment targeting: greedy maximum coverage and its outputs."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from partition.coverage import address_coverage
from partition.errors import BuurtgroepenError
from partition.recruit import (
    PRIVATE_COLUMNS,
    RECRUITMENT_COLUMNS,
    canvass_sheets,
    greedy_max_coverage,
    house_number_ranges,
    recruitment_targets,
)
from partition.register import prepare_register

X0, Y0 = 250_000.0, 470_000.0


# ------------------------------------------------------------- brute force


def _reach(xy: np.ndarray, radius: float) -> np.ndarray:
    """Return the boolean matrix "point j within radius of candidate i"."""
    distance = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
    return distance <= radius


def _best_total(reach: np.ndarray, open_: np.ndarray, k: int) -> int:
    """Return the most uncovered points any k candidates cover (enumeration)."""
    best = 0
    for chosen in itertools.combinations(range(len(reach)), k):
        best = max(best, int((reach[list(chosen)].any(axis=0) & open_).sum()))
    return best


instances = st.lists(
    st.tuples(st.integers(0, 12), st.integers(0, 12), st.booleans()),
    min_size=1,
    max_size=9,
)


@settings(max_examples=60, deadline=None)
@given(instances, st.integers(1, 3), st.sampled_from([2.0, 3.0, 4.5]))
def test_every_step_takes_the_largest_marginal_gain(points, k, radius):
    xy = np.array([(x, y) for x, y, _ in points], dtype=float)
    covered = np.array([c for _, _, c in points])
    reach = _reach(xy, radius)

    steps = greedy_max_coverage(xy, covered, radius, limit=k, min_gain=1)

    # replay: each pick's gain is the maximum over all candidates at that point
    open_ = ~covered
    for candidate, newly in steps:
        gains = (reach & open_).sum(axis=1)
        assert len(newly) == gains.max() == gains[candidate]
        # ties go to the lowest priority (here the position)
        assert candidate == np.flatnonzero(gains == gains.max())[0]
        np.testing.assert_array_equal(newly, np.flatnonzero(reach[candidate] & open_))
        open_ = open_ & ~reach[candidate]
    # it only stops early when nothing is left to gain
    if len(steps) < k:
        assert not (reach & open_).any()


@settings(max_examples=60, deadline=None)
@given(instances, st.integers(1, 3), st.sampled_from([2.0, 3.0, 4.5]))
def test_greedy_total_is_within_one_minus_one_over_e_of_the_optimum(points, k, radius):
    xy = np.array([(x, y) for x, y, _ in points], dtype=float)
    covered = np.array([c for _, _, c in points])
    reach = _reach(xy, radius)

    steps = greedy_max_coverage(xy, covered, radius, limit=k, min_gain=1)

    total = sum(len(newly) for _, newly in steps)
    best = _best_total(reach, ~covered, min(k, len(xy)))
    assert total >= (1 - 1 / math.e) * best
    assert total <= best
    newly = np.concatenate([n for _, n in steps]) if steps else np.array([])
    assert len(np.unique(newly)) == len(newly)  # nobody is covered twice
    assert not covered[newly.astype(int)].any()


def test_greedy_can_be_beaten_but_not_by_more_than_the_bound():
    # at R = 2 greedy takes 7 (covering 5, 7, 8, 9), then 2 or 3 (two more):
    # 6 addresses, where 3 and 9 together cover all 7
    xy = np.array([[x, 0] for x in (2, 3, 5, 7, 8, 9, 10)], dtype=float)
    covered = np.zeros(len(xy), dtype=bool)

    steps = greedy_max_coverage(xy, covered, 2.0, limit=2, min_gain=1)

    assert [c for c, _ in steps] == [3, 0]
    total = sum(len(n) for _, n in steps)
    best = _best_total(_reach(xy, 2.0), ~covered, 2)
    assert (total, best) == (6, 7)
    assert total >= (1 - 1 / math.e) * best


def test_min_gain_and_limit_stop_the_list():
    xy = np.array([[0, 0], [1, 0], [2, 0], [50, 0], [100, 0]], dtype=float)
    covered = np.zeros(len(xy), dtype=bool)

    assert len(greedy_max_coverage(xy, covered, 1.5, min_gain=1)) == 3
    assert len(greedy_max_coverage(xy, covered, 1.5, min_gain=2)) == 1
    assert len(greedy_max_coverage(xy, covered, 1.5, limit=2, min_gain=1)) == 2
    assert greedy_max_coverage(xy, covered, 1.5, limit=0) == []
    assert greedy_max_coverage(xy, np.ones(5, dtype=bool), 1.5) == []


# ------------------------------------------------------------ house numbers


@pytest.mark.parametrize(
    ("selected", "street", "expected"),
    [
        (range(1, 31), range(1, 31), "1-29, 2-30"),
        ([*range(1, 24, 2), *range(2, 31, 2)], range(1, 41), "1-23, 2-30"),
        (range(1, 24, 2), range(1, 41), "1-23"),
        ([7], range(1, 20), "7"),
        ([1, 3, 7, 9], range(1, 10), "1-3, 7-9"),
        ([1, 3, 7, 9], [1, 3, 7, 9, 2], "1-9"),  # 5 does not exist: no break
        ([4, 4, 6], [2, 4, 6, 8], "4-6"),  # 4A and 4B count once
        ([], range(1, 10), ""),
    ],
)
def test_house_number_ranges(selected, street, expected):
    assert house_number_ranges(np.array(list(selected)), np.array(list(street))) == (
        expected
    )


# ---------------------------------------------------- recruitment_targets


def _street(name, place, buurt, postcode, n, y, *, step=10.0):
    """Rows of a straight street: odd numbers at y, even numbers 20 m across."""
    rows = []
    for i in range(n):
        number = i + 1
        side = number % 2 == 0
        rows.append(
            {
                "postcode": postcode,
                "huisnummer": number,
                "openbare_ruimte": name,
                "woonplaats": place,
                "buurtcode": buurt,
                "x": X0 + (i // 2) * step,
                "y": Y0 + y + (20.0 if side else 0.0),
            }
        )
    return rows


@pytest.fixture
def register() -> pd.DataFrame:
    """Three streets far apart; Kerkstraat has one registered house (number 1).

    Raadhuisstraat (40 houses) is the biggest win, then the 9 houses of
    Kerkstraat beyond 100 m from number 1 (22-30), then Molenweg (6 houses).
    """
    rows = (
        _street("Kerkstraat", "Losser", "BU01", "7581AA", 30, 0)
        + _street("Raadhuisstraat", "Losser", "BU02", "7581AB", 40, 1000, step=5)
        + _street("Molenweg", "De Lutte", "BU03", "7587BB", 6, 3000)
    )
    return prepare_register(pd.DataFrame(rows))


@pytest.fixture
def covered(register) -> pd.DataFrame:
    """Coverage at R = 100 m with Kerkstraat 1 registered."""
    keys = register.loc[
        (register["openbare_ruimte"] == "Kerkstraat") & (register["huisnummer"] == 1),
        "address_key",
    ]
    return address_coverage(register, keys, radius=100.0)


def test_targets_rank_streets_by_gain_with_exact_columns(covered):
    targets = recruitment_targets(covered, radius=100.0)

    assert list(targets.columns) == [
        *RECRUITMENT_COLUMNS,
        *PRIVATE_COLUMNS,
        "geometry",
    ]
    assert targets["rank"].tolist() == list(range(1, len(targets) + 1))
    assert targets["openbare_ruimte"].tolist() == [
        "Raadhuisstraat",
        "Kerkstraat",
        "Molenweg",
    ]
    assert targets["newly_covered"].tolist() == [40, 9, 6]
    assert targets.loc[0, ["woonplaats", "buurtcode"]].tolist() == ["Losser", "BU02"]
    assert targets.loc[0, "huisnummers"] == "1-39, 2-40"
    assert targets.loc[0, "newly_covered"] == 40
    assert targets["newly_covered"].is_monotonic_decreasing
    n = len(covered)
    start = int(covered["covered"].sum())
    expected = (start + targets["newly_covered"].cumsum()) / n
    np.testing.assert_allclose(
        targets["cumulative_radius_coverage"], expected, atol=5e-5
    )
    assert targets.crs == "EPSG:28992"


def test_doors_to_knock_on_are_never_registered_or_covered(covered):
    targets = recruitment_targets(covered, radius=100.0)

    doors = [label for canvass in targets["canvass"] for label in canvass]
    assert doors
    assert not covered.loc[doors, "registered"].any()
    assert not covered.loc[doors, "covered"].any()
    assert len(doors) == len(set(doors))
    # Kerkstraat 1 is registered, so its range cannot start there
    kerk = targets[targets["openbare_ruimte"] == "Kerkstraat"].iloc[0]
    assert not kerk["huisnummers"].startswith("1-")


def test_markers_sit_on_the_snapped_street_centroid(covered):
    targets = recruitment_targets(covered, radius=100.0)

    first = targets.iloc[0]
    street = covered[covered["openbare_ruimte"] == first["openbare_ruimte"]]
    centre = street[["x", "y"]].mean().to_numpy()
    assert first.geometry.distance(shapely.Point(*centre)) <= 10
    assert first.geometry.x % 10 == 0 and first.geometry.y % 10 == 0


def test_result_does_not_depend_on_row_order(covered):
    shuffled = covered.sample(frac=1.0, random_state=np.random.default_rng(3))

    a = recruitment_targets(covered, radius=100.0)
    b = recruitment_targets(shuffled, radius=100.0)

    pd.testing.assert_frame_equal(
        pd.DataFrame(a[RECRUITMENT_COLUMNS]), pd.DataFrame(b[RECRUITMENT_COLUMNS])
    )
    assert a["candidate"].tolist() == b["candidate"].tolist()


def test_limit_and_min_gain(covered):
    assert len(recruitment_targets(covered, radius=100.0, limit=1)) == 1
    assert recruitment_targets(covered, radius=100.0, min_gain=1000).empty


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"radius": 50.0}, "computed with 100.0 m"),
        ({"limit": -1}, "`limit` must be at least 0"),
        ({"min_gain": 0}, "`min_gain` must be at least 1"),
        ({"limit": 2.5}, "`limit` must be a whole number"),
    ],
)
def test_bad_parameters_are_rejected(covered, kwargs, match):
    with pytest.raises(BuurtgroepenError, match=match):
        recruitment_targets(covered, **{"radius": 100.0, **kwargs})


def test_frame_without_coverage_is_rejected(register):
    with pytest.raises(BuurtgroepenError, match="address_coverage"):
        recruitment_targets(register)


def test_everything_covered_gives_an_empty_list(register):
    covered = address_coverage(register, register["address_key"], radius=100.0)

    targets = recruitment_targets(covered, radius=100.0)

    assert targets.empty
    assert list(targets.columns)[: len(RECRUITMENT_COLUMNS)] == RECRUITMENT_COLUMNS


def test_demo_municipality_list_is_consistent(demo):
    register = prepare_register(demo.addresses)
    keys = register["address_key"].iloc[::25]
    covered = address_coverage(register, keys)

    targets = recruitment_targets(covered)

    assert len(targets) > 10
    assert (targets["newly_covered"] >= 3).all()
    assert targets["newly_covered"].sum() <= (~covered["covered"]).sum()
    assert targets["cumulative_radius_coverage"].is_monotonic_increasing
    assert targets["cumulative_radius_coverage"].iloc[-1] <= 1


# --------------------------------------------------------------------- sheets


def test_sheets_list_the_doors_per_street_and_nothing_registered(covered):
    targets = recruitment_targets(covered, radius=100.0)

    sheets = canvass_sheets(
        targets, covered, title="Losser <demo>", subtitle="GEGENEREERD"
    )

    assert "sheets/index.html" in sheets
    names = sorted(k for k in sheets if k != "sheets/index.html")
    assert names[0] == "sheets/001-raadhuisstraat-losser.html"
    assert len(names) == targets.groupby(["woonplaats", "openbare_ruimte"]).ngroups
    page = sheets["sheets/001-raadhuisstraat-losser.html"]
    assert page.startswith("<!DOCTYPE html>") and "@page" in page
    assert "Huis-aan-huis: Raadhuisstraat, Losser" in page
    assert "Losser &lt;demo&gt;" in page and "<demo>" not in page
    assert page.count("<tr><td>") == 40
    kerk = next(v for k, v in sheets.items() if "kerkstraat" in k)
    assert "<tr><td>1</td>" not in kerk  # the registered house
    assert "<tr><td>7</td>" not in kerk  # covered from it
    assert "<tr><td>23</td>" in kerk and "aanbellen bij 23-29, 22-30" in kerk


def test_sheets_without_targets_say_so(register):
    covered = address_coverage(register, register["address_key"], radius=100.0)
    targets = recruitment_targets(covered, radius=100.0)

    sheets = canvass_sheets(targets, covered, title="Losser")

    assert list(sheets) == ["sheets/index.html"]
    assert "Geen wervingsdoelen" in sheets["sheets/index.html"]
