"""Street mending: reunite split streets only where nothing of higher rank suffers."""

from __future__ import annotations

import numpy as np

from partition.cohesion import mend_streets
from partition.groups import delaunay_edges


def two_blocks() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two 3x4 blocks of sites side by side, groups 0 (left) and 1 (right).

    Street 0 runs along the top row of the left block and its last site sits
    in the right block's top-left corner, so group 1 holds one site of it.
    """
    xs, ys = np.meshgrid(np.arange(6) * 10.0, np.arange(4) * 10.0)
    xy = np.column_stack([xs.ravel(), ys.ravel()])
    labels = (xy[:, 0] >= 30).astype(np.int64)
    street = np.full(len(xy), -1)
    top = xy[:, 1] == 30
    street[top & (xy[:, 0] <= 30)] = 0
    return xy, labels, street


def test_minority_part_joins_the_majority_group() -> None:
    """The corner site of street 0 moves to group 0; sizes stay in bounds."""
    xy, labels, street = two_blocks()
    weight = np.ones(len(xy), dtype=np.int64)
    mended = mend_streets(
        xy, weight, street, labels, delaunay_edges(xy), lower=10, upper=14
    )
    assert len(set(mended[street == 0])) == 1
    assert mended[street == 0][0] == 0
    assert (np.bincount(mended) >= 10).all() and (np.bincount(mended) <= 14).all()
    assert (labels == (xy[:, 0] >= 30)).all()  # the input is not changed


def test_no_move_beyond_the_size_bound() -> None:
    """With no room in group 0 the street stays split."""
    xy, labels, street = two_blocks()
    weight = np.ones(len(xy), dtype=np.int64)
    mended = mend_streets(
        xy, weight, street, labels, delaunay_edges(xy), lower=10, upper=12
    )
    assert (mended == labels).all()


def test_no_move_that_makes_hulls_overlap() -> None:
    """A street crossing deep into the other group stays split: moving it would
    push group 0's hull into group 1's."""
    xy, labels, street = two_blocks()
    street[:] = -1
    middle = xy[:, 1] == 10
    street[middle] = 0  # the whole second row: 3 sites left, 3 right
    street[middle & (xy[:, 0] == 50)] = -1  # keep the right part smaller
    weight = np.ones(len(xy), dtype=np.int64)
    mended = mend_streets(
        xy, weight, street, labels, delaunay_edges(xy), lower=6, upper=20
    )
    assert (mended == labels).all()


def test_streets_marked_too_long_are_left_alone() -> None:
    """Sites with street -1 never move."""
    xy, labels, street = two_blocks()
    street[:] = -1
    weight = np.ones(len(xy), dtype=np.int64)
    mended = mend_streets(
        xy, weight, street, labels, delaunay_edges(xy), lower=0, upper=100
    )
    assert (mended == labels).all()
