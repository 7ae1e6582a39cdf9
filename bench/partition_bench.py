"""Benchmark the partition engine against the peers a GIS analyst would use.

Run from the repository root (``make bench`` runs it with the defaults)::

    python bench/partition_bench.py [--sizes 500,2000,10000,100000,1000000]
        [--budget 150] [--methods engine,kmeans-town,...] [--seed 0]
        [--results bench/RESULTS.md] [--verbose]

At each size N the same seeded members (generated demo municipalities, see
:func:`common.make_members`) are built once and every method runs on them in this
one process, one after the other. Each run is timed (wall clock) and its peak
memory sampled; the groups are then scored with
:func:`partition.quality.partition_quality` (not timed). A method is skipped at a
size when it ran out of the time budget at a smaller size, or when its time at
the previous size, scaled by its work (see :func:`common.work`), would exceed the
budget; a SIGALRM interrupts it at the budget where Python gets control back.
The result is one markdown table, printed and optionally written to
``--results``.

This is a benchmark, not a test: it prints what it measured and asserts nothing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import math
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import util
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from common import (
    BUSY_MACHINE_CORES,
    PEAK_MEMORY_DEFINITION,
    REGISTRATIONS_PER_ADDRESS,
    TOWN_MAX_ADDRESSES,
    Budget,
    Measurement,
    fmt,
    machine_lines,
    make_members,
    markdown_table,
    measure_best,
    work,
)

from partition.groups import delaunay_edges, partition_members
from partition.quality import (
    BALANCE_TOLERANCE,
    partition_quality,
    split_streets_floor,
)

CAP = 50
"""The group cap of every run (``max_size``)."""

DEFAULT_SIZES = (500, 2_000, 10_000, 100_000, 1_000_000)
DEFAULT_BUDGET_S = 150.0
PACKAGES = (
    "numpy",
    "pandas",
    "scipy",
    "shapely",
    "ortools",
    "scikit-learn",
    "k-means-constrained",
    "spopt",
    "libpysal",
)

COLUMNS = (
    "N",
    "method",
    "wall s",
    "peak MB",
    "groups",
    "max size",
    "min size",
    "size CV",
    "contiguous %",
    "hull overlap %",
    "split streets %",
    "cross-woonplaats %",
    "mean distance m",
    "engine speed-up",
)
_WARM_UP_N = 120
_WARM_UP_BUDGET_S = 10.0
# shares of the registrations per woonplaats in one demo municipality (N = 10,000)
_REFERENCE_SHARES = (0.545, 0.307, 0.148)
_RIGHT = [True, False] + [True] * (len(COLUMNS) - 2)

Labels = np.ndarray | pd.Series
Runner = Callable[[pd.DataFrame, int], Labels]


@dataclass(frozen=True)
class Method:
    """One way of making groups, with how its time grows with N."""

    key: str
    label: str
    exponent: float  # wall time ~ n ** exponent per part, to project the next size
    reference: tuple[int, float]  # (N, seconds) on the 2-core reference machine
    run: Runner
    module: str | None = None  # import name that must be installed
    per_woonplaats: bool = False  # runs woonplaats by woonplaats


@dataclass
class Row:
    """The outcome of one method at one size."""

    n: int
    method: Method
    run: Measurement | None = None
    quality: dict[str, Any] | None = None
    status: str | None = None


# --- the methods ---------------------------------------------------------------


def _engine(members: pd.DataFrame, seed: int) -> Labels:
    """This library's engine with its defaults (groups planned at 90 % of the cap)."""
    return partition_members(members, max_size=CAP, seed=seed)


def _engine_full(members: pd.DataFrame, seed: int) -> Labels:
    """The engine planning groups at the cap, as many groups as the peers get."""
    return partition_members(members, max_size=CAP, target_fill=1.0, seed=seed)


def _kmc_fit(xy: np.ndarray, k: int, seed: int) -> np.ndarray:
    """k-means-constrained with the cap as ``size_max`` and no minimum."""
    from k_means_constrained import KMeansConstrained

    model = KMeansConstrained(
        n_clusters=k, size_min=None, size_max=CAP, n_init=1, random_state=seed
    )
    return np.asarray(model.fit_predict(xy))


def _kmc_balanced_fit(xy: np.ndarray, k: int, seed: int) -> np.ndarray:
    """k-means-constrained held to the balance the engine plans: no group below
    85 % of the mean (``size_min``), none above the cap.

    The issue ranks balance above compactness; this row shows how compact the
    peer is under the same lower bound.
    """
    from k_means_constrained import KMeansConstrained

    model = KMeansConstrained(
        n_clusters=k,
        size_min=math.ceil((1 - BALANCE_TOLERANCE) * len(xy) / k),
        size_max=CAP,
        n_init=1,
        random_state=seed,
    )
    return np.asarray(model.fit_predict(xy))


def _kmeans_fit(xy: np.ndarray, k: int, seed: int) -> np.ndarray:
    """scikit-learn KMeans, one k-means++ start; no cap."""
    from sklearn.cluster import KMeans

    return KMeans(n_clusters=k, n_init=1, random_state=seed).fit_predict(xy)


def _whole_town(fit: Callable[[np.ndarray, int, int], np.ndarray]) -> Runner:
    """Run ``fit`` once over all members with ``k = ceil(N / CAP)``."""

    def run(members: pd.DataFrame, seed: int) -> Labels:
        xy = members[["x", "y"]].to_numpy()
        return fit(xy, math.ceil(len(xy) / CAP), seed)

    return run


def _per_woonplaats(fit: Callable[[np.ndarray, int, int], np.ndarray]) -> Runner:
    """Run ``fit`` per woonplaats with ``k_w = ceil(n_w / CAP)``."""

    def run(members: pd.DataFrame, seed: int) -> Labels:
        xy = members[["x", "y"]].to_numpy()
        labels = np.empty(len(xy), dtype=np.int64)
        offset = 0
        for rows in members.groupby("woonplaats", sort=True).indices.values():
            k = math.ceil(len(rows) / CAP)
            local = np.zeros(len(rows), np.int64) if k == 1 else fit(xy[rows], k, seed)
            labels[rows] = offset + local
            offset += k
        return labels

    return run


def _delaunay_weights(xy: np.ndarray) -> Any:
    """A libpysal ``W`` of the Delaunay graph of all members (one component).

    The graph is :func:`partition.groups.delaunay_edges`, the one the contiguity
    metric uses; members at one point are joined to each other.
    """
    import libpysal
    from scipy.sparse import coo_matrix

    edges = delaunay_edges(xy)
    n = len(xy)
    graph = coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), (n, n))
    graph = ((graph + graph.T) > 0).astype(float).tocsr()
    return libpysal.weights.WSP(graph).to_W(silence_warnings=True)


def _skater(members: pd.DataFrame, seed: int) -> Labels:
    """spopt Skater on x, y over the Delaunay graph, ``n_clusters = ceil(N / CAP)``.

    Skater's spanning tree drops edges of zero dissimilarity (scipy treats a zero
    as no edge), so members at one point would become islands and Skater would
    add a region for each; their x, y are moved apart by at most 1 cm first.
    """
    from spopt.region import Skater

    xy = members[["x", "y"]].to_numpy()
    weights = _delaunay_weights(xy)
    rng = np.random.default_rng(seed)
    jittered = pd.DataFrame(xy + rng.uniform(-0.01, 0.01, xy.shape), columns=["x", "y"])
    model = Skater(jittered, weights, ["x", "y"], n_clusters=math.ceil(len(xy) / CAP))
    model.solve()
    return np.asarray(model.labels_)


def _region_kmeans(members: pd.DataFrame, seed: int) -> Labels:
    """spopt RegionKMeansHeuristic on x, y over the Delaunay graph."""
    from spopt.region import RegionKMeansHeuristic

    xy = members[["x", "y"]].to_numpy()
    weights = _delaunay_weights(xy)
    model = RegionKMeansHeuristic(xy, math.ceil(len(xy) / CAP), weights, seed=seed)
    model.solve()
    return np.asarray(model.labels_)


METHODS = (
    Method(
        "engine",
        "engine (defaults)",
        1.0,
        (10_000, 0.9),
        _engine,
        per_woonplaats=True,
    ),
    Method(
        "engine-fill1",
        "engine, target_fill=1",
        1.0,
        (10_000, 0.9),
        _engine_full,
        per_woonplaats=True,
    ),
    Method(
        "kmc-town",
        "KMeansConstrained, town",
        2.0,
        (10_000, 35.0),
        _whole_town(_kmc_fit),
        "k_means_constrained",
    ),
    Method(
        "kmc-woonplaats",
        "KMeansConstrained, per woonplaats",
        2.0,
        (10_000, 13.7),
        _per_woonplaats(_kmc_fit),
        "k_means_constrained",
        per_woonplaats=True,
    ),
    Method(
        "kmc-woonplaats-balanced",
        "KMeansConstrained, per woonplaats, size_min 85 % of the mean",
        2.0,
        (10_000, 16.7),
        _per_woonplaats(_kmc_balanced_fit),
        "k_means_constrained",
        per_woonplaats=True,
    ),
    Method("skater", "spopt Skater, town (no cap)", 2.5, (500, 8.3), _skater, "spopt"),
    Method(
        "regionkmeans",
        "spopt RegionKMeans, town (no cap)",
        2.5,
        (500, 6.4),
        _region_kmeans,
        "spopt",
    ),
    Method(
        "kmeans-town",
        "KMeans, town (no cap)",
        2.0,
        (10_000, 0.06),
        _whole_town(_kmeans_fit),
        "sklearn",
    ),
    Method(
        "kmeans-woonplaats",
        "KMeans, per woonplaats (no cap)",
        2.0,
        (10_000, 0.04),
        _per_woonplaats(_kmeans_fit),
        "sklearn",
        per_woonplaats=True,
    ),
)
METHOD_KEYS = tuple(m.key for m in METHODS)


# --- running -------------------------------------------------------------------


def run_benchmark(
    sizes: Sequence[int], methods: Sequence[Method], *, budget_s: float, seed: int
) -> tuple[list[Row], list[str]]:
    """Run every method at every size; return the rows and notes on the inputs."""
    budget = Budget(budget_s)
    rows: list[Row] = []
    inputs: list[str] = []
    _warm_up(methods, seed=seed)
    for n in sizes:
        started = time.perf_counter()
        members = make_members(n, seed=seed)
        inputs.append(_describe_inputs(members, time.perf_counter() - started))
        _progress(f"N={n:,}: inputs built in {time.perf_counter() - started:.1f} s")
        for method in methods:
            rows.append(_run_one(members, method, budget, seed))
        del members
    return rows, inputs


def _warm_up(methods: Sequence[Method], *, seed: int) -> None:
    """Run every method once on a tiny input, untimed, for at most 10 s each.

    The first call of a method pays for imports, thread pools and caches; the
    benchmark measures the method, not that one-off cost.
    """
    started = time.perf_counter()
    members = make_members(_WARM_UP_N, seed=seed)
    for method in methods:
        if method.module is None or util.find_spec(method.module) is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                measure_best(
                    lambda m=method: m.run(members, seed),
                    budget_s=_WARM_UP_BUDGET_S,
                    repeats=1,
                )
    _progress(f"warm-up on N={_WARM_UP_N} in {time.perf_counter() - started:.1f} s")


def _run_one(members: pd.DataFrame, method: Method, budget: Budget, seed: int) -> Row:
    """Run one method on the members unless it is unavailable or out of budget."""
    n = len(members)
    if method.module is not None and util.find_spec(method.module) is None:
        return Row(n, method, status=f"skipped, {method.module} not installed")
    work_now = _work(members, method)
    n_ref, seconds_ref = method.reference
    reference = (n_ref, seconds_ref, work([n_ref], method.exponent) * _shape(method))
    reason = budget.skip_reason(method.key, n, work_now, reference)
    if reason is not None:
        _progress(f"N={n:,}: {method.key} {reason}")
        return Row(n, method, status=reason)

    # peers warn about their own deprecations; that is not what is measured
    with warnings.catch_warnings():
        if method.module is not None:
            warnings.simplefilter("ignore")
        run = measure_best(lambda: method.run(members, seed), budget_s=budget.seconds)
    budget.record(method.key, n, work_now, run)
    if run.timed_out:
        status = f"interrupted at the {budget.seconds:,.0f} s budget"
        _progress(f"N={n:,}: {method.key} {status}")
        return Row(n, method, run=run, status=status)
    if run.error is not None:
        _progress(f"N={n:,}: {method.key} failed: {run.error}")
        return Row(n, method, run=run, status=f"failed: {run.error}")

    # scoring is not part of the method's time
    scored = time.perf_counter()
    labels = pd.Series(np.asarray(run.result), index=members.index, name="group_id")
    quality = partition_quality(members, labels, max_size=CAP)
    _progress(
        f"N={n:,}: {method.key} {run.seconds:.2f} s, {run.peak_mb:,.0f} MB, "
        f"{quality['groups']:,} groups, other processes "
        f"{fmt(run.others_cores, 2)} "
        f"cores (scored in {time.perf_counter() - scored:.1f} s)"
    )
    over = run.seconds > budget.seconds
    return Row(
        n, method, run=run, quality=quality, status="over budget" if over else None
    )


def _work(members: pd.DataFrame, method: Method) -> float:
    """How much work ``method`` has on these members (see :func:`common.work`)."""
    if method.per_woonplaats:
        sizes = members.groupby("woonplaats").size().tolist()
    else:
        sizes = [len(members)]
    return work(sizes, method.exponent)


def _shape(method: Method) -> float:
    """Work of one demo municipality relative to ``N ** p`` (for the references).

    The references were measured on one municipality, whose woonplaatsen hold
    fixed shares of the registrations.
    """
    if not method.per_woonplaats:
        return 1.0
    return work(list(_REFERENCE_SHARES), method.exponent)


def _describe_inputs(members: pd.DataFrame, seconds: float) -> str:
    """One line on the members of one size."""
    prefix = members["address_key"].str.extract(r"^(\d+)/", expand=False)
    towns = max(1, prefix.nunique())
    counts = members.groupby("woonplaats").size()
    streets = members.groupby(["woonplaats", "openbare_ruimte"]).ngroups
    floor = split_streets_floor(members, max_size=CAP)
    return (
        f"N = {len(members):,}: {towns} municipalit{'y' if towns == 1 else 'ies'}, "
        f"{len(counts)} woonplaatsen of {counts.min():,} to {counts.max():,} "
        f"registrations, {streets:,} streets with registrations (of those with 2 "
        f"to {CAP - 1}, any partition without overlapping hulls splits at least "
        f"{fmt(floor, 1)} %); built and geocoded in {seconds:.1f} s"
    )


def _progress(text: str) -> None:
    """Progress on stderr, so stdout carries only the result."""
    print(text, file=sys.stderr, flush=True)


# --- reporting -----------------------------------------------------------------


def table_rows(rows: Sequence[Row]) -> list[list[str]]:
    """Format the rows; the speed-up is peer wall time over engine wall time."""
    engine_s = {
        r.n: r.run.seconds
        for r in rows
        if r.method.key == "engine" and r.run is not None and r.quality is not None
    }
    cells = []
    for r in rows:
        label = r.method.label if r.status is None else f"{r.method.label}: {r.status}"
        wall = "-"
        if r.run is not None:
            others = r.run.others_cores
            busy = others is not None and others > BUSY_MACHINE_CORES
            wall = _seconds(r.run.seconds) + (" †" if busy else "")
        peak = fmt(r.run.peak_mb, 0) if r.run is not None else "-"
        q = r.quality or {}
        speed = "-"
        if r.method.key != "engine" and r.quality is not None and r.n in engine_s:
            speed = _ratio(r.run.seconds / engine_s[r.n])
        cells.append(
            [
                f"{r.n:,}",
                label,
                wall,
                peak,
                fmt(q.get("groups"), 0),
                fmt(q.get("max_size"), 0),
                fmt(q.get("min_size"), 0),
                fmt(q.get("size_cv"), 3),
                fmt(q.get("contiguous_pct"), 1),
                fmt(q.get("hull_overlap_pct"), 1),
                fmt(q.get("split_streets_pct"), 1),
                fmt(q.get("cross_woonplaats_pct"), 1),
                fmt(q.get("mean_distance_m"), 0),
                speed,
            ]
        )
    return cells


def _seconds(value: float) -> str:
    """Wall seconds: three decimals below 0.1 s, else two."""
    return fmt(value, 3 if value < 0.1 else 2)


def _ratio(value: float) -> str:
    """A speed-up with about two significant digits: ``0.31x``, ``4.2x``, ``44x``."""
    digits = 0 if value >= 10 else 1 if value >= 1 else 2
    return f"{value:,.{digits}f}x"


def report(
    rows: Sequence[Row], inputs: Sequence[str], *, budget_s: float, command: str
) -> str:
    """The whole report: date, machine, inputs, definitions and the table."""
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    machine = "\n".join(f"- {line}" for line in machine_lines(PACKAGES))
    sizes = "\n".join(f"- {line}" for line in inputs)
    table = markdown_table(COLUMNS, table_rows(rows), right=_RIGHT)
    return f"""# Partition benchmark

Run {now}, written by `bench/partition_bench.py` (see `bench/README.md` for
what is measured and how):

    {command}

## Machine

{machine}

## Inputs

Generated demo municipalities (`partition.demo`: three villages plus scattered
houses, with real street layouts), {REGISTRATIONS_PER_ADDRESS:.0%} of the
addresses registered, geocoded once with `RegisterGeocoder`; above
{TOWN_MAX_ADDRESSES:,} addresses several municipalities lie side by side, their
woonplaats names suffixed. Cap {CAP} for every method. The engine chooses its own
number of groups (planned at `target_fill` x cap, 45 by default); the peers get
k = ceil(N / {CAP}) on the whole town and k_w = ceil(n_w / {CAP}) per woonplaats.
k-means-constrained and KMeans use one k-means++ start (`n_init=1`); the spopt
methods use the Delaunay graph of the members as weights.

{sizes}

## Rules

- Every method runs in this one process, one after the other, on the same
  in-memory members, after one untimed warm-up call on {_WARM_UP_N} members.
  wall s is `time.perf_counter` around the call (including spopt's weights, not
  the scoring); a call under 1 s is repeated up to 5 times and the fastest kept.
- Time budget {budget_s:,.0f} s per method and size: a method is skipped at a
  size when it ran out of budget or failed at a smaller size, or when its time at
  the previous size (before that, a reference time on the 2-core machine) scaled
  by the work exceeds the budget: n^p summed over the parts a method runs on (the
  town, or each woonplaats), p = 1 engine, 2 k-means family, 2.5 spopt. A
  SIGALRM interrupts it at the budget where Python regains control; compiled
  code runs on to its end and is marked "over budget".
- {PEAK_MEMORY_DEFINITION}
- Metrics from `partition.quality.partition_quality` (cap {CAP}); a group with
  members in two woonplaatsen is never contiguous. Engine speed-up = the
  method's wall s / the engine's (defaults) wall s at the same N; above 1x the
  engine is faster.

## Results

{table}

† other processes kept more than {BUSY_MACHINE_CORES:g} of a core busy on
average during this run (the machine is shared), so the time is likely inflated;
runs shorter than 0.5 s in all are too short to tell and never marked.
"""


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        type=_int_list,
        default=list(DEFAULT_SIZES),
        help="comma-separated numbers of registrations (default %(default)s)",
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=DEFAULT_BUDGET_S,
        help="seconds per method and size (default %(default)s)",
    )
    parser.add_argument(
        "--methods",
        type=_method_list,
        default=list(METHOD_KEYS),
        help=f"comma-separated subset of {','.join(METHOD_KEYS)} (default: all)",
    )
    parser.add_argument("--seed", type=int, default=0, help="input and method seed")
    parser.add_argument(
        "--results", type=Path, default=None, help="also write the report here"
    )
    parser.add_argument(
        "--verbose", action="store_true", help="show the library's INFO logs"
    )
    return parser.parse_args(argv)


def _int_list(text: str) -> list[int]:
    """``"500,2000"`` -> ``[500, 2000]``; sizes must be at least 1."""
    try:
        values = [int(part.replace("_", "")) for part in text.split(",") if part]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a list of integers: {text!r}") from exc
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"sizes must be integers >= 1: {text!r}")
    return values


def _method_list(text: str) -> list[str]:
    """Comma-separated method keys, checked against ``METHOD_KEYS``."""
    keys = [part.strip() for part in text.split(",") if part.strip()]
    unknown = sorted(set(keys) - set(METHOD_KEYS))
    if unknown or not keys:
        msg = f"unknown method(s) {unknown}; choose from {', '.join(METHOD_KEYS)}"
        raise argparse.ArgumentTypeError(msg)
    return keys


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark, print the report and write it when asked."""
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.ERROR,
        format="%(asctime)s %(name)s %(message)s",
    )
    methods = [m for m in METHODS if m.key in args.methods]
    command = "python bench/partition_bench.py " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    rows, inputs = run_benchmark(
        sorted(set(args.sizes)), methods, budget_s=args.budget, seed=args.seed
    )
    text = report(rows, inputs, budget_s=args.budget, command=command.strip())
    print(text)
    if args.results is not None:
        args.results.write_text(text, encoding="utf-8")
        _progress(f"wrote {args.results}")


if __name__ == "__main__":
    main()
