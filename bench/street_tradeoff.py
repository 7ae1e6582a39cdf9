"""How far can streets be kept whole before groups interleave?

The partition objectives rank "no interleaving" (disjoint member hulls) above
"street cohesion" (few split streets). This benchmark shows what keeping streets
whole costs on the same generated towns as ``partition_bench.py``: it runs the
engine as it is, and the same engine on inputs where every street shorter than a
limit is collapsed to one site at its registrations' mean point (so the engine
can only place it whole), then scores both on the real coordinates with
:func:`partition.quality.partition_quality`. A last row per size gives
:func:`partition.quality.split_streets_floor`: the split streets that no
partition without overlapping hulls or groups over the cap can avoid.

Run from the repository root::

    python bench/street_tradeoff.py [--sizes 500,2000,10000,100000] [--seed 0]

It prints one table and asserts nothing.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import pandas as pd
from common import QUALITY_HEADER, make_members, markdown_table, quality_cells

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from partition.groups import partition_members  # noqa: E402
from partition.quality import (  # noqa: E402
    partition_quality,
    split_streets_floor,
)

CAP = 50
LIMITS = (12, 25, CAP)


def whole_streets(members: pd.DataFrame, limit: int) -> pd.DataFrame:
    """Members with every street of fewer than ``limit`` registrations at one point."""
    street = [members["woonplaats"], members["openbare_ruimte"]]
    size = members.groupby(street)["x"].transform("size")
    short = size < limit
    collapsed = members.copy()
    for axis in ("x", "y"):
        mean = members.groupby(street)[axis].transform("mean")
        collapsed.loc[short, axis] = mean[short]
    return collapsed


def row(n: int, method: str, members: pd.DataFrame, labels: pd.Series) -> list[str]:
    """One table row of quality figures."""
    quality = partition_quality(members, labels, max_size=CAP)
    return [f"{n:,}", method, *quality_cells(quality)]


def main() -> None:
    """Run the engine with and without whole streets and print one table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="500,2000,10000,100000")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.disable(logging.INFO)

    rows = []
    for n in (int(size) for size in args.sizes.split(",")):
        members = make_members(n, seed=args.seed)
        rows.append(row(n, "engine", members, partition_members(members, max_size=CAP)))
        for limit in LIMITS:
            labels = partition_members(whole_streets(members, limit), max_size=CAP)
            rows.append(row(n, f"streets < {limit} kept whole", members, labels))
        floor = split_streets_floor(members, max_size=CAP)
        least = "-" if floor is None else f"{floor:.1f}"
        rows.append(
            [f"{n:,}", "floor at 0 % overlap", "-", "-", "-", "0.0", least, "-"]
        )

    header = ["N", "method", *QUALITY_HEADER]
    print(f"cap {CAP}; generated towns of bench/common.py, seed {args.seed}")
    print(markdown_table(header, rows))


if __name__ == "__main__":
    main()
