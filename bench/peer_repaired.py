"""How compact is the peer once its groups meet the engine's constraints?

The issue asks the engine to be at least as compact as k-means-constrained run
per woonplaats with the same number of groups. That peer reaches its mean
distance with groups whose hulls overlap (3-8 % at 10,000) and a few that fall
apart; the engine ranks contiguity, disjoint hulls and whole streets above
compactness. This benchmark asks what the peer's own solution costs once it is
held to those: per woonplaats it runs the peer as ``partition_bench.py`` does,
hands each site (registrations at one point) the label most of its
registrations got, moves sites out of groups above the cap to the nearest group
with room, and lets the engine's repair passes (contiguity, hull overlap,
balance fill, streets) finish the job. It does so by replacing the engine's
private start (``partition.groups._refine_or_grow``) for the run, so every pass
after it is the engine's own. Scores come from
:func:`partition.quality.partition_quality`, side by side with the peer as it
is and the engine at ``target_fill=1`` (the same number of groups).

Run from the repository root::

    python bench/peer_repaired.py [--sizes 2000,10000] [--seeds 0,1,2]

It prints one table and asserts nothing. Sizes stop where a woonplaats needs
more than one block of the engine (128 groups): the start is swapped per block.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from unittest import mock

import numpy as np
import pandas as pd
from common import QUALITY_HEADER, make_members, markdown_table, quality_cells
from partition_bench import CAP, _kmc_fit, _per_woonplaats
from scipy.spatial import cKDTree

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from partition import groups  # noqa: E402
from partition.quality import partition_quality  # noqa: E402


def site_labels(members: pd.DataFrame, peer: np.ndarray) -> dict[str, tuple]:
    """Per woonplaats, a tree of its points and the peer's majority label at each."""
    frame = members[["woonplaats", "x", "y"]].assign(label=peer)
    lookup = {}
    for woonplaats, part in frame.groupby("woonplaats", sort=True):
        counts = part.groupby(["x", "y", "label"]).size().rename("n").reset_index()
        first = counts.sort_values("n", ascending=False, kind="stable")
        majority = first.drop_duplicates(["x", "y"])
        local = majority["label"].to_numpy() - majority["label"].min()
        lookup[woonplaats] = (cKDTree(majority[["x", "y"]].to_numpy()), local)
    return lookup


def peer_start(lookup: dict[str, tuple]):
    """A stand-in for the engine's start that returns the peer's labels."""

    def start(xy, weight, _labels, k, plan, max_size, _tie, addresses):
        tree, local = lookup[plan.unit[0]]
        site_label = local[tree.query(xy)[1]]
        if site_label.max() + 1 != k:
            msg = f"{plan.unit[0]}: the engine plans {k} groups in this block"
            raise SystemExit(f"{msg}, the peer made {site_label.max() + 1}")
        site_label = groups._enforce_cap(xy, weight, site_label, k, max_size)
        pair_site, _ = addresses
        return site_label[pair_site], k

    return start


def row(n: int, seed: int, method: str, members, labels) -> list[str]:
    """One table row of quality figures."""
    quality = partition_quality(
        members, pd.Series(labels, index=members.index), max_size=CAP
    )
    return [f"{n:,}", str(seed), method, *quality_cells(quality, metre_decimals=1)]


def main() -> None:
    """Score the peer, the peer repaired by the engine, and the engine."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2000,10000")
    parser.add_argument("--seeds", default="0,1,2")
    args = parser.parse_args()
    logging.disable(logging.INFO)

    rows = []
    for n in (int(size) for size in args.sizes.split(",")):
        for seed in (int(seed) for seed in args.seeds.split(",")):
            members = make_members(n, seed=seed)
            peer = _per_woonplaats(_kmc_fit)(members, seed)
            rows.append(
                row(n, seed, "KMeansConstrained, per woonplaats", members, peer)
            )
            with mock.patch.object(
                groups, "_refine_or_grow", peer_start(site_labels(members, peer))
            ):
                repaired = groups.partition_members(
                    members, max_size=CAP, target_fill=1.0
                )
            rows.append(
                row(n, seed, "the same, repaired by the engine", members, repaired)
            )
            engine = groups.partition_members(members, max_size=CAP, target_fill=1.0)
            rows.append(row(n, seed, "engine, target_fill=1", members, engine))

    header = ["N", "seed", "method", *QUALITY_HEADER]
    print(f"cap {CAP}; generated towns of bench/common.py")
    print(markdown_table(header, rows))


if __name__ == "__main__":
    main()
