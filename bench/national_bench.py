"""National benchmark: every municipality partitioned and measured, on Dask and alone.

Builds the generated national set once (``buurtgroepen data national``: 342
municipalities at their CBS sizes, about 9.9 million addresses, GEGENEREERD) in
``--data``, then for 10 % of the municipalities (a seeded sample, at their full
size) and for the whole set runs ``partition`` and then ``coverage`` through
:mod:`service.national`:

- ``--engine dask`` on a LocalCluster of ``--workers`` single-threaded workers;
- ``--engine local``, one process, the same code one municipality after another
  (the whole set only with ``--single-process-full``: it takes long).

It prints wall seconds per command, throughput, the peak memory of the busiest
worker (its process's high-water mark, ``ru_maxrss``, after each municipality)
and the speed-up of Dask over one process. Every run writes into a fresh folder,
so nothing is resumed. Run from the repository root::

    python bench/national_bench.py [--data bench/out/national] [--workers 2]
        [--participation 0.1] [--single-process-full] [--results FILE]

It prints; it asserts nothing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from common import machine_lines, markdown_table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from partition.national_demo import gemeente_sizes, plan_national  # noqa: E402
from service import national  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parent / "out" / "national"


def subset(data: Path, codes: list[str], target: Path) -> Path:
    """A national-set folder holding only ``codes`` (symbolic links)."""
    for kind, suffix in (("addresses", ".parquet"), ("registrations", ".csv")):
        (target / kind).mkdir(parents=True, exist_ok=True)
        for code in codes:
            (target / kind / f"{code}{suffix}").symlink_to(
                data / kind / f"{code}{suffix}"
            )
    return target


def run(data: Path, work: Path, engine: str, workers: int) -> dict:
    """Partition, then coverage, of every municipality in ``data``; the figures."""
    figures = {}
    partition_out = work / f"partition-{engine}"
    for command in ("partition", "coverage"):
        out = partition_out if command == "partition" else work / f"coverage-{engine}"
        started = time.perf_counter()
        municipalities, routed, _ = national.collect_inputs(
            data / "addresses", data / "registrations", out
        )
        result = national.run_municipalities(
            municipalities,
            routed,
            out,
            national.Settings(command),
            engine=engine,
            workers=workers,
            progress=False,
        )
        seconds = time.perf_counter() - started
        figures[command] = {
            "seconds": seconds,
            "failed": result.totals["failed"],
            "peak_mb": result.totals["peak_mb_per_worker"],
            "addresses": result.totals["addresses"],
            "registrations": result.totals["registrations"],
            "municipalities": result.totals["municipalities"],
            "largest_s": float(pd.to_numeric(result.rows["seconds"]).max()),
        }
    return figures


def rows_of(name: str, engine: str, workers: int, figures: dict) -> list[list[str]]:
    """Table rows of one scenario and engine."""
    rows = []
    for command, f in figures.items():
        per_s = f["addresses"] / f["seconds"] if f["seconds"] else 0
        rows.append(
            [
                name,
                f"{engine} ({workers} workers)" if engine == "dask" else "one process",
                command,
                f"{f['municipalities']:,}",
                f"{f['addresses']:,}",
                f"{f['registrations']:,}",
                f"{f['seconds']:.1f}",
                f"{f['largest_s']:.1f}",
                f"{per_s:,.0f}",
                "-" if f["peak_mb"] is None else f"{f['peak_mb']:,.0f}",
                str(f["failed"]),
            ]
        )
    total = sum(f["seconds"] for f in figures.values())
    rows.append([name, rows[-1][1], "both", *[""] * 3, f"{total:.1f}", *[""] * 4])
    return rows


def main() -> None:
    """Generate the set if needed, run the scenarios and print one table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--participation", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--single-process-full", action="store_true")
    parser.add_argument("--results", type=Path)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    started = time.perf_counter()
    plan = national.generate_national(
        args.data,
        participation=args.participation,
        seed=args.seed,
        workers=args.workers,
        progress=False,
    )
    generated_s = time.perf_counter() - started
    tenth = plan_national(
        gemeente_sizes(), share=0.1, participation=args.participation, seed=args.seed
    )

    rows = []
    seconds: dict[tuple[str, str], float] = {}
    with tempfile.TemporaryDirectory(prefix="national-bench-") as tmp:
        work = Path(tmp)
        sample = subset(args.data, list(tenth["gemeentecode"]), work / "tenth-data")
        scenarios = [("10 % of the municipalities", sample, ("dask", "local"))]
        full_engines = ("dask", "local") if args.single_process_full else ("dask",)
        scenarios.append(("whole national set", args.data, full_engines))
        for name, data, engines in scenarios:
            for engine in engines:
                out = work / name.replace(" ", "-").replace("%", "pct")
                figures = run(data, out, engine, args.workers)
                rows += rows_of(name, engine, args.workers, figures)
                seconds[(name, engine)] = sum(f["seconds"] for f in figures.values())
                shutil.rmtree(out, ignore_errors=True)

    header = [
        "input",
        "engine",
        "command",
        "municipalities",
        "addresses",
        "registrations",
        "wall s",
        "largest municipality s",
        "addresses / s",
        "peak MB per worker",
        "failed",
    ]
    lines = [
        "# National benchmark",
        "",
        f"Run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC by `bench/national_bench.py`"
        f" (seed {args.seed}, participation {args.participation}, "
        f"{args.workers} Dask workers).",
        "",
        "## Machine",
        "",
        *machine_lines(["numpy", "pandas", "shapely", "dask", "distributed"]),
        "",
        f"National set: {len(plan)} generated municipalities, "
        f"{int(plan['addresses'].sum()):,} addresses, "
        f"{int(plan['registrations'].sum()):,} registrations; built (or checked) "
        f"in {generated_s:.0f} s. 10 % sample: {len(tenth)} municipalities, "
        f"{int(tenth['addresses'].sum()):,} addresses.",
        "",
        markdown_table(header, rows),
    ]
    for name in ("10 % of the municipalities", "whole national set"):
        if (name, "local") in seconds and (name, "dask") in seconds:
            ratio = seconds[(name, "local")] / seconds[(name, "dask")]
            lines.append(f"\n{name}: Dask {ratio:.2f}x the speed of one process.")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.results:
        args.results.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
