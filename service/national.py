"""Many municipalities in one run: one after another, or in parallel on Dask.

A national foundation or a province partitions (and measures coverage for)
hundreds of municipalities at once. The unit of parallel work is one
municipality: its addresses and registrations are read by the worker that
handles it, run through the same single-municipality code as
``buurtgroepen partition`` and ``buurtgroepen coverage``
(:func:`partition.pipeline.run_partition`, :func:`service.coverage_job.run_coverage`)
and written as GeoParquet into ``OUT/municipalities/<gemeentecode>/``. So a Dask
run and a one-process run of the same input give the same files, and a worker
never holds more than one municipality.

Inputs (see :func:`collect_inputs`):

- addresses: a folder with one register per municipality, named by its
  gemeentecode (``GM0168.parquet``, ``.gpkg``, ``.geojson`` or ``.csv``), or one
  file with a ``gemeentecode`` column. A GeoParquet file is read per
  municipality with a row filter; any other single file is split once into
  ``OUT/input/`` first, which needs the whole file in the driver's memory.
- registrations: a folder with one CSV (or Parquet) per municipality, named the
  same way, or one file, routed to municipalities by its ``gemeentecode`` column
  or else by postcode (a postcode found in several municipalities goes to each,
  and only the municipality whose register has the address keeps it).

Per run, ``OUT/summary.csv`` has one row per municipality (done, resumed or
failed, with counts, seconds, peak memory of the worker and the reason of a
failure) and ``OUT/run.json`` the totals. A failed municipality does not stop
the others, and a rerun resumes where a run stopped.

A municipality is finished when its ``summary.json`` records the same settings
and the same inputs (file sizes and modification times, or a hash of the
registrations routed to it), so changed registrations are partitioned again.

Known limits: the largest municipality bounds the memory of a worker (it is one
task; a generated Amsterdam of 609,000 addresses peaks at 1.8 GB); there are no
HTML maps per municipality.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import resource
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pyogrio

from partition import io
from partition.addresses import normalise_postcode
from partition.coverage import STREET_COLUMNS
from partition.errors import AddressError, BuurtgroepenError, InputFileError
from partition.geocode import RegisterGeocoder
from partition.groups import check_partition_request
from partition.logs import quiet
from partition.national_demo import (
    NATIONAL_ADDRESSES,
    gemeente_sizes,
    make_national_municipality,
    plan_national,
)
from partition.pipeline import ASSIGNMENT_COLUMNS, run_partition
from partition.recruit import RECRUITMENT_COLUMNS
from partition.register import prepare_register
from partition.sources.cbs import normalise_gemeentecode

logger = logging.getLogger(__name__)

ENGINES = ("local", "dask")
SUMMARY_COLUMNS = [
    "gemeentecode",
    "status",
    "addresses",
    "registrations",
    "geocoded",
    "unmatched",
    "groups",
    "seconds",
    "peak_mb",
    "worker",
    "error",
]
_TABLE_SUFFIXES = (".parquet", ".gpkg", ".geojson", ".json", ".csv")
_ROUTED_TO_SEVERAL = "_routed_to_several"


@dataclass(frozen=True)
class Settings:
    """Everything that changes a municipality's result; part of its marker."""

    command: str
    max_size: int = 50
    target_fill: float = 0.9
    min_size: int | None = None
    within: str = "woonplaats"
    seed: int = 0
    radius: float = 100.0
    limit: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON types, for ``summary.json`` and comparison on resume."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Municipality:
    """Where one municipality's inputs are; cheap to send to a worker."""

    gemeentecode: str
    addresses: str
    filtered: bool = False
    registrations: str | None = None
    boundaries: str | None = None
    assignments: str | None = None
    size_hint: int = 0


@dataclass
class NationalRun:
    """What a run did: one row per municipality and the totals."""

    rows: pd.DataFrame
    totals: dict[str, Any]


def is_national(addresses: Path, engine: str) -> bool:
    """Whether a run goes through this module rather than the one-town path.

    That is so for a folder of registers, for ``--engine dask``, and for one
    register whose ``gemeentecode`` column holds more than one municipality.
    """
    if engine not in ENGINES:
        msg = f"`--engine` must be one of {', '.join(ENGINES)}; got {engine!r}."
        raise BuurtgroepenError(msg)
    if engine == "dask" or addresses.is_dir():
        return True
    return len(_codes_in_file(addresses)) > 1


def check_settings(settings: Settings, workers: int | None = None) -> None:
    """Refuse settings no municipality could run with, before any work.

    Raises
    ------
    InfeasibleError
        For a cap, fill, minimum or level the partition engine refuses.
    BuurtgroepenError
        For a radius or limit that is not positive, or fewer than one worker.
    """
    check_partition_request(
        settings.max_size, settings.target_fill, settings.min_size, settings.within
    )
    if settings.radius <= 0:
        raise BuurtgroepenError(f"`--radius` must be above 0; got {settings.radius}.")
    if settings.limit is not None and settings.limit < 1:
        raise BuurtgroepenError(f"`--limit` must be 1 or more; got {settings.limit}.")
    if workers is not None and workers < 1:
        raise BuurtgroepenError(f"`--workers` must be 1 or more; got {workers}.")


def collect_inputs(
    addresses: Path,
    registrations: Path,
    work: Path,
    *,
    boundaries: Path | None = None,
    assignments: Path | None = None,
) -> tuple[list[Municipality], dict[str, pd.DataFrame], pd.DataFrame]:
    """Find the municipalities of a run and route the registrations to them.

    Returns
    -------
    municipalities
        One entry per municipality, largest first (by file size or rows).
    routed
        Registrations per gemeentecode when they came in one file (empty when
        each municipality has its own file).
    unrouted
        Registrations of a single file that no municipality's register has the
        postcode of: ``registration_id`` and ``reason``.

    Raises
    ------
    InputFileError
        For a folder without registers, a file not named by a gemeentecode, a
        register without a ``gemeentecode`` column or an unreadable file.
    """
    found = _address_sources(addresses, work)
    codes = [m.gemeentecode for m in found]
    routed: dict[str, pd.DataFrame] = {}
    unrouted = pd.DataFrame(columns=["registration_id", "reason"])
    per_file: dict[str, str] = {}
    if registrations.is_dir():
        per_file = _files_by_code(registrations, suffixes=(".csv", ".parquet"))
    else:
        routed, unrouted = _route(io.read_registrations(registrations), found)
    folders = {} if assignments is None else _assignment_folders(assignments)

    municipalities = [
        dataclasses.replace(
            m,
            registrations=per_file.get(m.gemeentecode),
            boundaries=None if boundaries is None else str(boundaries),
            assignments=folders.get(m.gemeentecode),
        )
        for m in found
    ]
    logger.info(
        "found %s municipalities (%s) with %s",
        len(municipalities),
        ", ".join(codes[:5]) + (", ..." if len(codes) > 5 else ""),
        "one registrations file per municipality"
        if per_file
        else f"{sum(map(len, routed.values())):,} routed registrations "
        f"({len(unrouted):,} unrouted)",
    )
    return municipalities, routed, unrouted


def unresolved(routed: dict[str, pd.DataFrame], out: Path) -> pd.DataFrame:
    """Registrations sent to several municipalities that none of them placed.

    Their postcode is in more than one register, and no partition in ``out``
    has them (the address is in none of those registers, or the municipality
    that has it failed): ``registration_id`` and ``reason``, for unrouted.csv.
    """
    sent: dict[str, set[str]] = {}
    for code, part in routed.items():
        if _ROUTED_TO_SEVERAL in part.columns:
            ids = part.loc[part[_ROUTED_TO_SEVERAL], "registration_id"]
            if len(ids):
                sent[code] = set(ids)
    placed: set[str] = set()
    for code, ids in sent.items():
        path = out / "municipalities" / code / "assignments.parquet"
        if path.is_file():
            done = pd.read_parquet(path, columns=["registration_id"])
            placed |= ids & set(done["registration_id"])
    missing = sorted(set().union(*sent.values()) - placed) if sent else []
    reason = "address in none of the registers that have its postcode"
    return pd.DataFrame({"registration_id": missing, "reason": reason})


def write_unrouted(out: Path, unrouted: pd.DataFrame) -> None:
    """Write ``unrouted.csv``: registrations no municipality's register has."""
    io.write_outputs(out, {"unrouted.csv": io.csv_writer(unrouted)})


def run_municipalities(
    municipalities: Sequence[Municipality],
    routed: dict[str, pd.DataFrame],
    out: Path,
    settings: Settings,
    *,
    engine: str = "local",
    scheduler: str | None = None,
    workers: int | None = None,
    progress: bool = True,
) -> NationalRun:
    """Run every municipality not finished yet and write the run summary.

    Parameters
    ----------
    municipalities, routed
        From :func:`collect_inputs`.
    out
        Run folder: ``municipalities/<code>/``, ``summary.csv``, ``run.json``.
    settings
        The command and its parameters; a municipality finished with other
        settings is run again.
    engine
        ``"local"``: one after another in this process. ``"dask"``: on a
        ``dask.distributed`` cluster, the one at ``scheduler`` or else a
        LocalCluster of ``workers`` single-threaded processes (default: one per
        CPU core).
    progress
        Show a progress bar over municipalities on stderr.
    """
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    finished, todo = _split_finished(municipalities, routed, out, settings)
    task = _TASKS[settings.command]
    rows = [dict(row, status="resumed") for row in finished]
    logger.info(
        "%s: %s municipalities to run, %s finished earlier",
        settings.command,
        len(todo),
        len(finished),
    )

    with _progress(len(todo), enabled=progress) as advance:
        for row in _execute(
            task, todo, routed, out, settings, engine, scheduler, workers
        ):
            rows.append(row)
            _log_row(row)
            advance()

    table = pd.DataFrame(rows).reindex(columns=SUMMARY_COLUMNS)
    table = table.sort_values("gemeentecode", kind="stable").reset_index(drop=True)
    totals = _totals(table, settings, engine, scheduler, time.perf_counter() - started)
    io.write_outputs(
        out,
        {
            "summary.csv": io.csv_writer(table),
            "run.json": io.json_writer(totals),
        },
    )
    logger.info(
        "%s of %s municipalities done (%s resumed, %s failed) in %.1f s",
        totals["done"] + totals["resumed"],
        len(table),
        totals["resumed"],
        totals["failed"],
        totals["seconds"],
    )
    return NationalRun(rows=table, totals=totals)


def partition_municipality(
    source: Municipality,
    registrations: pd.DataFrame | None,
    out: str,
    settings: Settings,
) -> dict[str, Any]:
    """Partition one municipality and write its files; return its summary row.

    Files in ``out/municipalities/<code>/``: ``assignments.parquet``
    (``gemeentecode`` plus the columns of ``assignments.csv``),
    ``groups.parquet`` (GeoParquet, RD New: group territories with size and
    woonplaats), ``unmatched.csv`` and ``summary.json`` (the run's summary and
    settings; written last, it marks the municipality finished).
    """
    started = time.perf_counter()
    register, people, buurten = _inputs(source, registrations)

    with quiet(logging.getLogger("partition")):
        result = run_partition(
            register,
            people,
            buurten=buurten,
            max_size=settings.max_size,
            target_fill=settings.target_fill,
            min_size=settings.min_size,
            within=settings.within,
            seed=settings.seed,
        )
    matched = _answerable(people, result.geocoded)
    assignments = result.assignments[
        result.assignments["registration_id"].isin(matched)
    ].assign(gemeentecode=source.gemeentecode)
    groups = result.groups.assign(gemeentecode=source.gemeentecode)
    unmatched = result.unmatched[result.unmatched["registration_id"].isin(matched)]

    row = {
        "gemeentecode": source.gemeentecode,
        "status": "done",
        "addresses": int(len(register)),
        "registrations": int(len(matched)),
        "geocoded": int(len(assignments)),
        "unmatched": int(len(unmatched)),
        "groups": int(assignments["group_id"].nunique()),
    }
    _write(
        out,
        source,
        registrations,
        settings,
        {
            "assignments.parquet": io.parquet_writer(
                assignments[["gemeentecode", *ASSIGNMENT_COLUMNS]]
            ),
            "groups.parquet": io.parquet_writer(groups),
            "unmatched.csv": io.csv_writer(unmatched),
        },
        dict(result.summary, **row),
    )
    return _finish(row, started)


def coverage_municipality(
    source: Municipality,
    registrations: pd.DataFrame | None,
    out: str,
    settings: Settings,
) -> dict[str, Any]:
    """Measure one municipality's coverage and write its files; return its row.

    Files in ``out/municipalities/<code>/``: ``coverage_streets.parquet``,
    ``coverage_buurten.parquet`` (and ``coverage_wijken.parquet`` with wijk
    codes), ``gaps.parquet`` and ``recruitment.parquet`` (GeoParquet, RD New),
    ``groups_postcodes.parquet`` when assignments were given, and
    ``summary.json`` last. None of them holds a registration.
    """
    from service import coverage_job

    started = time.perf_counter()
    register, people, buurten = _inputs(source, registrations)
    assignments = None
    if source.assignments is not None:
        assignments = pd.read_parquet(
            Path(source.assignments) / "assignments.parquet",
            columns=["registration_id", "group_id"],
        )

    with quiet(logging.getLogger("partition")):
        geocoded = None
        if _ROUTED_TO_SEVERAL in people.columns:
            # registrations this municipality only shares a postcode with are
            # another municipality's, not unmatched ones of this one
            geocoded = RegisterGeocoder(register).geocode(people)
            keep = _answerable(people, geocoded)
            geocoded = geocoded[geocoded["registration_id"].isin(keep)]
            people = people[people["registration_id"].isin(keep)]
        run = coverage_job.run_coverage(
            register,
            people,
            buurten=buurten,
            assignments=assignments,
            radius=settings.radius,
            limit=settings.limit,
            within=settings.within,
            geocoded=geocoded,
        )
    code = source.gemeentecode
    writers = {
        "coverage_streets.parquet": io.parquet_writer(
            run.streets[STREET_COLUMNS].assign(gemeentecode=code)
        ),
        "coverage_buurten.parquet": io.parquet_writer(
            coverage_job.area_table(run, "buurt").assign(gemeentecode=code)
        ),
        "gaps.parquet": io.parquet_writer(run.gaps.areas.assign(gemeentecode=code)),
        "recruitment.parquet": io.parquet_writer(
            run.targets[[*RECRUITMENT_COLUMNS, "geometry"]].assign(gemeentecode=code)
        ),
    }
    if run.report.wijken is not None:
        writers["coverage_wijken.parquet"] = io.parquet_writer(
            coverage_job.area_table(run, "wijk").assign(gemeentecode=code)
        )
    if run.postcodes is not None:
        writers["groups_postcodes.parquet"] = io.parquet_writer(
            run.postcodes.assign(gemeentecode=code)
        )
    row = {
        "gemeentecode": code,
        "status": "done",
        "addresses": int(len(register)),
        "registrations": int(run.summary["registrations"]),
        "geocoded": int(run.summary["geocoded"]),
        "unmatched": int(run.summary["unmatched"]),
        "groups": run.summary.get("groups"),
    }
    _write(out, source, registrations, settings, writers, dict(run.summary, **row))
    return _finish(row, started)


_TASKS: dict[str, Callable[..., dict[str, Any]]] = {
    "partition": partition_municipality,
    "coverage": coverage_municipality,
}


def _execute(
    task: Callable[..., dict[str, Any]],
    todo: Sequence[Municipality],
    routed: dict[str, pd.DataFrame],
    out: Path,
    settings: Settings,
    engine: str,
    scheduler: str | None,
    workers: int | None,
) -> Iterator[dict[str, Any]]:
    """Run ``task`` per municipality; yield each row as it finishes."""
    if not todo:
        return
    if engine == "local":
        for source in todo:
            yield _guarded(task, source, routed.get(source.gemeentecode), out, settings)
        return

    from distributed import as_completed

    with _client(scheduler, workers) as client:
        futures = {}
        for source in todo:
            people = routed.get(source.gemeentecode)
            future = client.submit(
                task,
                source,
                people,
                str(out),
                settings,
                key=f"{settings.command}-{source.gemeentecode}-{time.time_ns()}",
                pure=False,
            )
            futures[future] = source.gemeentecode
        for future in as_completed(futures):
            code = futures[future]
            try:
                yield future.result()
            except Exception as exc:  # noqa: BLE001 - reported per municipality
                yield _failure(code, exc)
            finally:
                future.release()


def _guarded(
    task: Callable[..., dict[str, Any]],
    source: Municipality,
    people: pd.DataFrame | None,
    out: Path,
    settings: Settings,
) -> dict[str, Any]:
    """Run one municipality in this process; a failure becomes its row."""
    try:
        return task(source, people, str(out), settings)
    except Exception as exc:  # noqa: BLE001 - reported per municipality
        return _failure(source.gemeentecode, exc)


def _failure(code: str, exc: BaseException) -> dict[str, Any]:
    """The summary row of a failed municipality."""
    reason = str(exc).strip() or type(exc).__name__
    logger.error("%s failed: %s", code, reason)
    return {
        "gemeentecode": code,
        "status": "failed",
        "error": f"{type(exc).__name__}: {reason}",
    }


@contextmanager
def _client(scheduler: str | None, workers: int | None) -> Iterator[Any]:
    """A Dask client: on the cluster at ``scheduler`` or on a LocalCluster."""
    from distributed import Client, LocalCluster

    if scheduler is not None:
        with Client(scheduler) as client:
            logger.info("running on the Dask cluster at %s", scheduler)
            yield client
        return
    n = workers or os.cpu_count() or 1
    logging.getLogger("distributed").setLevel(logging.WARNING)
    with (
        LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.WARNING,
        ) as cluster,
        Client(cluster) as client,
    ):
        logger.info("started a Dask LocalCluster of %s single-threaded workers", n)
        yield client


@contextmanager
def _progress(total: int, *, enabled: bool) -> Iterator[Callable[[], None]]:
    """A progress bar over municipalities (rich, on stderr), or nothing."""
    if not enabled or total == 0:
        yield lambda: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=False,
    ) as bar:
        task = bar.add_task("municipalities", total=total)
        yield lambda: bar.advance(task)


def _split_finished(
    municipalities: Sequence[Municipality],
    routed: dict[str, pd.DataFrame],
    out: Path,
    settings: Settings,
) -> tuple[list[dict[str, Any]], list[Municipality]]:
    """Rows of municipalities finished with these settings and inputs; the rest."""
    finished, todo = [], []
    for source in municipalities:
        marker = out / "municipalities" / source.gemeentecode / "summary.json"
        summary = _read_marker(marker)
        if (
            summary is not None
            and summary.get("settings") == settings.as_dict()
            and summary.get("inputs")
            == fingerprint(source, routed.get(source.gemeentecode))
        ):
            row = {c: summary.get(c) for c in SUMMARY_COLUMNS}
            finished.append(dict(row, seconds=None, peak_mb=None, worker=None))
        else:
            todo.append(source)
    return finished, todo


def fingerprint(source: Municipality, routed: pd.DataFrame | None) -> dict[str, Any]:
    """What a municipality's result was made from, to tell whether it is stale.

    Each input file by name, size and modification time (a copied or edited
    file counts as changed), and registrations routed from one national file
    by a hash of their rows.
    """
    files = [source.addresses, source.registrations, source.boundaries]
    if source.assignments is not None:
        files.append(str(Path(source.assignments) / "assignments.parquet"))
    stats = []
    for name in files:
        if name is None:
            continue
        path = Path(name)
        info = path.stat() if path.exists() else None
        stats.append(
            [str(path.resolve()), info.st_size, info.st_mtime_ns] if info else [name]
        )
    rows = None
    if routed is not None:
        rows = int(pd.util.hash_pandas_object(routed, index=False).sum() % 2**63)
    return {"files": stats, "routed_rows": rows}


def _read_marker(path: Path) -> dict[str, Any] | None:
    """The ``summary.json`` of a finished municipality, or None."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _write(
    out: str,
    source: Municipality,
    registrations: pd.DataFrame | None,
    settings: Settings,
    writers: dict[str, Callable[[Path], None]],
    summary: dict[str, Any],
) -> None:
    """Write a municipality's files at once; ``summary.json`` goes in last.

    The marker holds the run's summary plus the settings and the fingerprint of
    the inputs, which decide on a rerun whether the files are still current.
    """
    marker = dict(
        summary, settings=settings.as_dict(), inputs=fingerprint(source, registrations)
    )
    target = Path(out) / "municipalities" / source.gemeentecode
    io.write_outputs(target, dict(writers, **{"summary.json": io.json_writer(marker)}))


def _inputs(
    source: Municipality, registrations: pd.DataFrame | None
) -> tuple[gpd.GeoDataFrame, pd.DataFrame, gpd.GeoDataFrame | None]:
    """The municipality's register, registrations and buurten, read on the worker."""
    return (
        _read_register(source),
        _registrations(source, registrations),
        _buurten(source),
    )


def _finish(row: dict[str, Any], started: float) -> dict[str, Any]:
    """Add time, peak memory and the worker's name to a summary row."""
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return dict(
        row,
        seconds=round(time.perf_counter() - started, 3),
        peak_mb=round(peak_kb / 1024, 1),
        worker=f"{socket.gethostname()}:{os.getpid()}",
        error=None,
    )


def _log_row(row: dict[str, Any]) -> None:
    """One log line per finished municipality, with its counts and time."""
    if row["status"] == "failed":
        return
    logger.info(
        "%s: %s addresses, %s registrations, %s geocoded (%s unmatched)%s in %.2f s",
        row["gemeentecode"],
        f"{row['addresses']:,}",
        f"{row['registrations']:,}",
        f"{row['geocoded']:,}",
        f"{row['unmatched']:,}",
        "" if row.get("groups") is None else f", {row['groups']:,} groups",
        row["seconds"],
    )


def _totals(
    table: pd.DataFrame,
    settings: Settings,
    engine: str,
    scheduler: str | None,
    seconds: float,
) -> dict[str, Any]:
    """Run-level counts for ``run.json``."""
    status = table["status"].value_counts()
    ran = table[table["status"].eq("done")]

    def total(col: str) -> int:
        return int(pd.to_numeric(table[col], errors="coerce").fillna(0).sum())

    return {
        "command": settings.command,
        "settings": settings.as_dict(),
        "engine": engine,
        "scheduler": scheduler,
        "municipalities": int(len(table)),
        "done": int(status.get("done", 0)),
        "resumed": int(status.get("resumed", 0)),
        "failed": int(status.get("failed", 0)),
        "failures": {
            str(r.gemeentecode): str(r.error)
            for r in table[table["status"].eq("failed")].itertuples()
        },
        "addresses": total("addresses"),
        "registrations": total("registrations"),
        "geocoded": total("geocoded"),
        "unmatched": total("unmatched"),
        "groups": total("groups"),
        "seconds": round(seconds, 3),
        "peak_mb_per_worker": float(pd.to_numeric(ran["peak_mb"]).max())
        if len(ran)
        else None,
    }


# --- inputs -------------------------------------------------------------------


def _address_sources(addresses: Path, work: Path) -> list[Municipality]:
    """One entry per municipality of a register folder or file, largest first."""
    if addresses.is_dir():
        files = _files_by_code(addresses, suffixes=_TABLE_SUFFIXES)
        found = [
            Municipality(code, path, size_hint=Path(path).stat().st_size)
            for code, path in files.items()
        ]
    elif not (counts := _codes_in_file(addresses)) and _is_code(addresses.stem):
        # one municipality's register, named by its code (``--engine dask``)
        code = str(normalise_gemeentecode(addresses.stem))
        found = [Municipality(code, str(addresses), size_hint=1)]
    elif addresses.suffix.lower() == ".parquet":
        found = [
            Municipality(code, str(addresses), filtered=True, size_hint=n)
            for code, n in counts.items()
        ]
    else:
        found = _split_file(addresses, work / "input" / "addresses")
    if not found:
        msg = "no municipality found: give registers named by gemeentecode"
        raise InputFileError(addresses, msg)
    return sorted(found, key=lambda m: (-m.size_hint, m.gemeentecode))


def _files_by_code(folder: Path, *, suffixes: tuple[str, ...]) -> dict[str, str]:
    """``{gemeentecode: path}`` of the files in ``folder`` named ``GM0168.*``."""
    files: dict[str, str] = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or path.suffix.lower() not in suffixes:
            continue
        if not _is_code(path.stem):
            msg = "name each file by its gemeentecode, such as GM0168.parquet"
            raise InputFileError(path, msg)
        code = str(normalise_gemeentecode(path.stem))
        if code in files:
            msg = f"two files for {code}: {Path(files[code]).name} and {path.name}"
            raise InputFileError(path, msg)
        files[code] = str(path)
    if not files:
        wanted = ", ".join(suffixes)
        raise InputFileError(folder, f"the folder holds no {wanted} file")
    return files


def _is_code(name: str) -> bool:
    """Whether a file stem is a gemeentecode such as ``GM0168``."""
    return name.upper().startswith("GM") and normalise_gemeentecode(name) is not None


def _codes_in_file(path: Path) -> dict[str, int]:
    """Rows per gemeentecode of a register file; {} without the column.

    Asked twice per command (whether the run is national, then which
    municipalities it has), so the column of a national file is read once per
    version of the file.
    """
    if not path.is_file():
        raise InputFileError(path, "the file does not exist")
    info = path.stat()
    return dict(_codes_of_version(path.resolve(), info.st_size, info.st_mtime_ns))


@lru_cache(maxsize=4)
def _codes_of_version(
    path: Path,
    size: int,  # noqa: ARG001 - keys the cache
    mtime_ns: int,  # noqa: ARG001 - keys the cache
) -> dict[str, int]:
    """See :func:`_codes_in_file`; ``size`` and ``mtime_ns`` only key the cache."""
    if path.suffix.lower() == ".parquet":
        schema = pq.read_schema(path)
        if "gemeentecode" not in schema.names:
            return {}
        column = pq.read_table(path, columns=["gemeentecode"]).column(0).to_pandas()
    elif path.suffix.lower() == ".csv":
        header = pd.read_csv(path, nrows=0, dtype="string")
        if "gemeentecode" not in header.columns:
            return {}
        column = pd.read_csv(path, usecols=["gemeentecode"], dtype="string").iloc[:, 0]
    elif path.suffix.lower() in (".gpkg", ".geojson", ".json"):
        layer = io.choose_layer(path, io.ADDRESS_LAYERS)
        fields = pyogrio.read_info(path, layer=layer)["fields"]
        if "gemeentecode" not in fields:
            return {}
        column = pyogrio.read_dataframe(
            path, layer=layer, columns=["gemeentecode"], read_geometry=False
        )["gemeentecode"]
    else:
        return {}
    return _count_codes(path, column.astype("string"))


def _count_codes(path: Path, column: pd.Series) -> dict[str, int]:
    """Normalised gemeentecode counts; a row without a valid code is an error."""
    codes = column.map(normalise_gemeentecode, na_action="ignore")
    bad = codes.isna().to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        msg = f"not a gemeentecode: {column.iloc[row]!r} (use GM + four digits)"
        raise InputFileError(path, msg, row=row + 1, field="gemeentecode")
    return {str(k): int(v) for k, v in codes.value_counts().sort_index().items()}


def _split_file(path: Path, target: Path) -> list[Municipality]:
    """Split one register with a ``gemeentecode`` column into GeoParquet files."""
    frame = io.read_table(path, io.ADDRESS_LAYERS)
    if "gemeentecode" not in frame.columns:
        msg = "a register of several municipalities needs a `gemeentecode` column"
        raise InputFileError(path, msg, field="gemeentecode")
    counts = _count_codes(path, frame["gemeentecode"].astype("string"))
    frame["gemeentecode"] = frame["gemeentecode"].map(normalise_gemeentecode)
    writers = {
        f"{code}.parquet": io.parquet_writer(part.reset_index(drop=True))
        for code, part in frame.groupby("gemeentecode", sort=True)
    }
    io.write_outputs(target, writers)
    logger.info(
        "split %s into %s municipality files in %s", path.name, len(counts), target
    )
    return [
        Municipality(code, str(target / f"{code}.parquet"), size_hint=n)
        for code, n in counts.items()
    ]


def _route(
    people: pd.DataFrame, found: Sequence[Municipality]
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """Registrations per municipality, by ``gemeentecode`` or else by postcode."""
    if "gemeentecode" in people.columns:
        code = people["gemeentecode"].map(normalise_gemeentecode, na_action="ignore")
        routed = {
            str(c): part.drop(columns="gemeentecode")
            for c, part in people.groupby(code, sort=True)
        }
        lost = people[code.isna() | ~code.isin([m.gemeentecode for m in found])]
        return routed, _unrouted(lost, "gemeentecode missing or not in the run")

    postcode = people["postcode"].map(_postcode_or_none)
    owners = (
        pd.concat([_postcodes(m) for m in found], ignore_index=True)
        .drop_duplicates()
        .sort_values(["postcode", "gemeentecode"])
    )
    pairs = people.assign(postcode_key=postcode).merge(
        owners,
        left_on="postcode_key",
        right_on="postcode",
        how="left",
        suffixes=("", "_register"),
    )
    several = pairs.groupby("registration_id")["gemeentecode"].transform("nunique") > 1
    pairs[_ROUTED_TO_SEVERAL] = several
    keep = [*people.columns, _ROUTED_TO_SEVERAL]
    routed = {
        str(c): part[keep].reset_index(drop=True)
        for c, part in pairs[pairs["gemeentecode"].notna()].groupby(
            "gemeentecode", sort=True
        )
    }
    lost = pairs[pairs["gemeentecode"].isna()]
    return routed, _unrouted(
        lost, "postcode missing, malformed or in no municipality's register"
    )


def _postcode_or_none(value: object) -> str | None:
    """The normalised postcode, or None when it is not one."""
    try:
        return normalise_postcode(value)
    except AddressError:
        return None


def _postcodes(source: Municipality) -> pd.DataFrame:
    """The distinct postcodes of one municipality's register."""
    if source.filtered:
        frame = pd.read_parquet(
            source.addresses,
            columns=["postcode"],
            filters=[("gemeentecode", "==", source.gemeentecode)],
        )
    elif source.addresses.endswith(".parquet"):
        frame = pd.read_parquet(source.addresses, columns=["postcode"])
    else:
        frame = io.read_table(Path(source.addresses), io.ADDRESS_LAYERS)
    codes = frame["postcode"].drop_duplicates().map(_postcode_or_none).dropna()
    return pd.DataFrame(
        {"postcode": codes.unique(), "gemeentecode": source.gemeentecode}
    )


def _unrouted(lost: pd.DataFrame, reason: str) -> pd.DataFrame:
    """``registration_id`` and ``reason`` of registrations no municipality got."""
    return pd.DataFrame(
        {"registration_id": lost["registration_id"].to_numpy(), "reason": reason}
    )


def _assignment_folders(root: Path) -> dict[str, str]:
    """``{gemeentecode: folder}`` of a national partition run's output."""
    base = root / "municipalities"
    if not base.is_dir():
        msg = "give the output folder of a partition run of several municipalities"
        raise InputFileError(root, msg)
    return {
        path.name: str(path)
        for path in sorted(base.iterdir())
        if (path / "assignments.parquet").is_file()
    }


# --- per municipality, on the worker -------------------------------------------


def _read_register(source: Municipality) -> gpd.GeoDataFrame:
    """The municipality's address register, checked and normalised."""
    path = Path(source.addresses)
    if source.filtered:
        frame = gpd.read_parquet(
            path, filters=[("gemeentecode", "==", source.gemeentecode)]
        )
        io.check_declared_crs(frame, path)
        return prepare_register(frame, source=path)
    return io.read_addresses(path)


def _registrations(source: Municipality, routed: pd.DataFrame | None) -> pd.DataFrame:
    """The municipality's registrations: its own file, the routed part or none."""
    if source.registrations is not None:
        path = Path(source.registrations)
        if path.suffix.lower() == ".parquet":
            return io.check_registrations(pd.read_parquet(path), path)
        return io.read_registrations(path)
    if routed is not None:
        return routed
    return pd.DataFrame(columns=list(io.REGISTRATION_REQUIRED))


def _answerable(people: pd.DataFrame, geocoded: pd.DataFrame) -> pd.Index:
    """Registration ids this municipality answers for.

    A registration routed to several municipalities (its postcode is in each)
    belongs only to the one whose register has its address; elsewhere it is
    dropped instead of being reported as unmatched.
    """
    ids = geocoded["registration_id"]
    if _ROUTED_TO_SEVERAL not in people.columns:
        return pd.Index(ids)
    several = set(people.loc[people[_ROUTED_TO_SEVERAL], "registration_id"])
    unmatched = geocoded["match_quality"].eq("unmatched")
    return pd.Index(ids[~(ids.isin(several) & unmatched)])


def _buurten(source: Municipality) -> gpd.GeoDataFrame | None:
    """The municipality's buurten, if there are any to use.

    From the national boundary file when one was given (the buurten whose code
    holds the municipality's digits), else from a ``buurten`` layer in the
    municipality's own GeoPackage (as ``buurtgroepen data download`` writes it).
    """
    if source.boundaries is not None:
        buurten = _boundary_layers(source.boundaries).get("buurt")
        if buurten is None:
            return None
        mine = buurten[buurten["buurtcode"].str.slice(2, 6).eq(source.gemeentecode[2:])]
        return mine.reset_index(drop=True) if len(mine) else None
    path = Path(source.addresses)
    if path.suffix.lower() == ".gpkg" and "buurten" in _layer_names(path):
        return io.read_boundaries(path).get("buurt")
    return None


def _layer_names(path: Path) -> set[str]:
    """The layer names of a GeoPackage."""
    return {str(name) for name, _ in pyogrio.list_layers(path)}


@lru_cache(maxsize=2)
def _boundary_layers(path: str) -> dict[str, gpd.GeoDataFrame]:
    """Boundary layers, read once per worker process."""
    return io.read_boundaries(path)


# --- the generated national test set -------------------------------------------


def generate_national(
    out: Path,
    *,
    share: float = 1.0,
    participation: float = 0.1,
    total_addresses: int | None = None,
    seed: int = 0,
    workers: int | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Write the generated national set (GEGENEREERD) into ``out``.

    ``out/addresses/<code>.parquet`` (GeoParquet, RD New, with ``gemeentecode``),
    ``out/registrations/<code>.csv`` and ``out/plan.csv`` (the sizes used).
    Municipalities whose two files exist already are kept, so an interrupted
    generation resumes. They are generated in ``workers`` processes (default one
    per core). All the generated municipalities lie at the demo's fictional
    place: they are meant to be processed one by one, not mapped together.
    """
    from concurrent.futures import ProcessPoolExecutor, as_completed

    plan = plan_national(
        gemeente_sizes(),
        share=share,
        participation=participation,
        total_addresses=total_addresses or NATIONAL_ADDRESSES,
        seed=seed,
    )
    out.mkdir(parents=True, exist_ok=True)
    io.write_outputs(out, {"plan.csv": io.csv_writer(plan)})
    todo = [
        row
        for row in plan.itertuples(index=False)
        if not (
            (out / "addresses" / f"{row.gemeentecode}.parquet").is_file()
            and (out / "registrations" / f"{row.gemeentecode}.csv").is_file()
        )
    ]
    started = time.perf_counter()
    with (
        ProcessPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool,
        _progress(len(todo), enabled=progress) as advance,
    ):
        jobs = [pool.submit(_generate_one, row._asdict(), str(out)) for row in todo]
        for job in as_completed(jobs):
            job.result()
            advance()
    logger.info(
        "generated %s municipalities (%s kept) with %s addresses and %s "
        "registrations in %.1f s",
        len(todo),
        len(plan) - len(todo),
        f"{int(plan['addresses'].sum()):,}",
        f"{int(plan['registrations'].sum()):,}",
        time.perf_counter() - started,
    )
    return plan


def _generate_one(row: dict[str, Any], out: str) -> None:
    """Generate and write one municipality of the national set."""
    demo = make_national_municipality(
        row["gemeentecode"],
        row["gemeentenaam"],
        addresses=int(row["addresses"]),
        registrations=int(row["registrations"]),
        seed=int(row["seed"]),
    )
    code = row["gemeentecode"]
    io.write_outputs(
        Path(out) / "registrations",
        {f"{code}.csv": io.csv_writer(demo.registrations)},
    )
    io.write_outputs(
        Path(out) / "addresses", {f"{code}.parquet": io.parquet_writer(demo.addresses)}
    )
