"""The coverage job: where the watch is blind, and where to knock on doors next.

Shared by the command line (``buurtgroepen coverage``) and the service
(``GET /coverage``, ``GET /recruitment/targets``, ``GET /maps/coverage``):

- :func:`run_coverage` is the pure step over frames (geocode the registrations,
  coverage per street, buurt and wijk, gaps, recruitment targets and, with
  assignments, the group territories and their postcodes);
- :func:`coverage_map`, :func:`coverage_geojson` and :func:`targets_table` turn
  its result into what the endpoints serve;
- :func:`coverage` reads the files with :mod:`partition.io`, runs it and writes
  every output at once with :func:`partition.io.write_outputs`, so a failure
  leaves the output folder as it was.

No output carries a registration, a name or a phone number: the registrations
only enter as the set of registered addresses, which stays inside
:class:`partition.coverage.CoverageReport`.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import pandas as pd

from partition import io
from partition.boundaries import attach_boundaries
from partition.coverage import (
    BUURT_COLUMNS,
    DEFAULT_RADIUS_M,
    STREET_COLUMNS,
    WIJK_COLUMNS,
    CoverageReport,
    CoverageThresholds,
    coverage_report,
    territory_postcodes,
)
from partition.gaps import GAP_COLUMNS, CoverageGaps, coverage_gaps
from partition.geocode import RegisterGeocoder
from partition.maps import build_coverage_map, street_lines
from partition.recruit import (
    MIN_GAIN,
    PRIVATE_COLUMNS,
    RECRUITMENT_COLUMNS,
    canvass_sheets,
    recruitment_targets,
)
from partition.register import source_label
from partition.territories import assign_addresses, territory_polygons

logger = logging.getLogger(__name__)

#: Heading of the door-to-door sheets (Dutch, for the canvassing volunteers).
SHEET_TITLE = "Werving buurtpreventie"


@dataclass(eq=False)
class CoverageRun:
    """Everything a coverage run produces, in RD New unless stated otherwise.

    Attributes
    ----------
    report
        Coverage per address (private), street, buurt and wijk.
    gaps
        Gap polygons and the count of scattered uncovered addresses.
    targets
        The ranked recruitment list with its private columns (see
        :data:`partition.recruit.PRIVATE_COLUMNS`).
    streets
        ``report.streets`` with a line geometry per street.
    buurten
        The buurt polygons used, or None.
    territories
        One polygon per group (``group_id``, ``size``, ``woonplaats``) when
        assignments were given, else None.
    postcodes
        The postcodes per group (``groups_postcodes.csv``), or None.
    summary
        Counts, shares and seconds per step, as JSON types.
    """

    report: CoverageReport
    gaps: CoverageGaps
    targets: gpd.GeoDataFrame
    streets: gpd.GeoDataFrame
    buurten: gpd.GeoDataFrame | None
    territories: gpd.GeoDataFrame | None
    postcodes: pd.DataFrame | None
    summary: dict[str, Any] = field(default_factory=dict)


def run_coverage(
    addresses: gpd.GeoDataFrame,
    registrations: pd.DataFrame,
    *,
    buurten: gpd.GeoDataFrame | None = None,
    wijken: gpd.GeoDataFrame | None = None,
    assignments: pd.DataFrame | None = None,
    radius: float = DEFAULT_RADIUS_M,
    thresholds: CoverageThresholds | None = None,
    limit: int | None = None,
    min_gain: int = MIN_GAIN,
    within: str = "woonplaats",
    geocoded: pd.DataFrame | None = None,
) -> CoverageRun:
    """Analyse coverage, gaps and recruitment targets of one municipality.

    Parameters
    ----------
    addresses
        The address register as :func:`partition.io.read_addresses` returns
        it (RD New, with ``address_key``).
    registrations
        Registrations as :func:`partition.io.read_registrations` returns them;
        geocoded offline against ``addresses``, unmatched ones left out.
    buurten, wijken
        Optional polygons (``buurtcode``/``buurtnaam``, ``wijkcode``/
        ``wijknaam``, RD New); buurten also fill missing buurt codes.
    assignments
        Optional ``registration_id`` -> ``group_id`` table (the
        ``assignments.csv`` of a partition run) for the territories layer and
        the postcodes per group; rows of unknown registrations are ignored.
    radius
        Reach of a registered address, metres (straight-line, RD New).
    thresholds
        Class bounds; default :class:`partition.coverage.CoverageThresholds()`.
    limit, min_gain
        See :func:`partition.recruit.recruitment_targets`.
    within
        The unit level the groups were made in, for the territories.
    geocoded
        The geocoder's output for ``registrations`` when the caller already
        has it (a partition run of the same files), so it is not made twice.

    Returns
    -------
    CoverageRun
        The frames of every output and a summary.
    """
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def step(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = round(now - clock, 3)
        clock = now

    if buurten is not None:
        addresses = attach_boundaries(addresses, buurten)
    if geocoded is None:
        geocoded = RegisterGeocoder(addresses).geocode(registrations)
    members = geocoded[geocoded["match_quality"].ne("unmatched")]
    step("geocode")

    report = coverage_report(
        addresses,
        members["address_key"],
        radius=radius,
        thresholds=thresholds,
        buurten=buurten,
        wijken=wijken,
    )
    streets = _street_frame(report)
    step("coverage")

    gaps = coverage_gaps(report.addresses, radius=radius)
    step("gaps")
    targets = recruitment_targets(
        report.addresses, radius=radius, limit=limit, min_gain=min_gain
    )
    step("recruitment")

    territories = postcodes = None
    if assignments is not None:
        territories, postcodes = _territories(
            addresses, members, assignments, buurten, within
        )
    step("territories")

    summary = _summary(report, geocoded, gaps, targets, territories)
    summary["seconds"] = timings
    return CoverageRun(
        report=report,
        gaps=gaps,
        targets=targets,
        streets=streets,
        buurten=buurten,
        territories=territories,
        postcodes=postcodes,
        summary=summary,
    )


def aggregates_only(run: CoverageRun) -> CoverageRun:
    """The run without anything that points at a single address.

    A long-lived cache (the service keeps the last run) must not hold an erased
    resident's address: the per-address rows and the private target columns
    are dropped; what the coverage endpoints and the map show stays.
    """
    report = replace(run.report, addresses=run.report.addresses.iloc[0:0])
    targets = run.targets.drop(columns=[*PRIVATE_COLUMNS], errors="ignore")
    return replace(run, report=report, targets=targets)


def coverage_map(
    run: CoverageRun, *, title: str | None = None, subtitle: str | None = None
) -> folium.Map:
    """Build the steering group's coverage map of a run (``GET /maps/coverage``).

    Parameters
    ----------
    run
        The result of :func:`run_coverage`.
    title
        Map title; default states the radius coverage.
    subtitle
        Second line, e.g. the demo label.

    Returns
    -------
    folium.Map
        See :func:`partition.maps.build_coverage_map`.
    """
    polygons = run.buurten is not None and run.report.buurten is not None
    return build_coverage_map(
        title=title or _title(run),
        subtitle=subtitle,
        buurten=run.buurten if polygons else None,
        buurt_coverage=run.report.buurten if polygons else None,
        streets=run.streets,
        territories=run.territories,
        gaps=run.gaps,
        targets=run.targets,
        radius=run.report.radius,
        thresholds=run.report.thresholds,
    )


def coverage_geojson(run: CoverageRun) -> dict[str, dict[str, Any]]:
    """Return the coverage per street and per buurt as GeoJSON (``GET /coverage``).

    Parameters
    ----------
    run
        The result of :func:`run_coverage`.

    Returns
    -------
    dict
        ``{"streets": FeatureCollection, "buurten": FeatureCollection}`` in
        EPSG:4326 with the columns of ``coverage.csv`` and
        ``coverage_buurten.csv`` as properties (exact counts: for the steering
        role only). ``buurten`` is empty without buurt polygons.
    """
    streets = run.streets[[*STREET_COLUMNS, "geometry"]]
    buurten = _buurt_polygons(run)
    empty = {"type": "FeatureCollection", "features": []}
    return {
        "streets": _feature_collection(streets),
        "buurten": empty if buurten is None else _feature_collection(buurten),
    }


def targets_table(run: CoverageRun, limit: int | None = None) -> pd.DataFrame:
    """Return the first ``limit`` recruitment targets without private columns.

    For ``GET /recruitment/targets?limit=N``: the columns of
    ``recruitment.csv``, in rank order.
    """
    table = run.targets[RECRUITMENT_COLUMNS]
    return pd.DataFrame(table if limit is None else table.head(limit))


def write_coverage_outputs(
    run: CoverageRun,
    out: Path,
    *,
    title: str | None = None,
    subtitle: str | None = None,
) -> Path:
    """Write every output of a coverage run into ``out`` at once.

    Files: ``coverage.html``, ``coverage.csv``, ``coverage_buurten.csv``,
    ``coverage_wijken.csv`` (when there are wijk codes), ``gaps.geojson``,
    ``recruitment.csv``, ``recruitment.geojson``, ``sheets/*.html`` (one
    door-to-door sheet per target street and an ``index.html``) and, when the
    run has territories, ``groups_postcodes.csv``.
    """
    title = title or _title(run)
    public = run.targets[[*RECRUITMENT_COLUMNS, "geometry"]]
    writers = {
        "coverage.html": io.text_writer(
            coverage_map(run, title=title, subtitle=subtitle).get_root().render()
        ),
        "coverage.csv": io.csv_writer(run.streets[STREET_COLUMNS]),
        "coverage_buurten.csv": io.csv_writer(area_table(run, "buurt")),
        "gaps.geojson": io.geojson_writer(run.gaps.areas[[*GAP_COLUMNS, "geometry"]]),
        "recruitment.csv": io.csv_writer(pd.DataFrame(public[RECRUITMENT_COLUMNS])),
        "recruitment.geojson": io.geojson_writer(public),
    }
    if run.report.wijken is not None:
        writers["coverage_wijken.csv"] = io.csv_writer(area_table(run, "wijk"))
    if run.postcodes is not None:
        writers["groups_postcodes.csv"] = io.csv_writer(run.postcodes)
    sheets = canvass_sheets(
        run.targets,
        run.report.addresses,
        title=SHEET_TITLE,
        subtitle=subtitle,
        radius=run.report.radius,
    )
    writers.update({name: io.text_writer(page) for name, page in sheets.items()})
    return io.write_outputs(out, writers)


def coverage(
    addresses: Path,
    registrations: Path,
    out: Path,
    *,
    assignments: Path | None = None,
    boundaries: Path | None = None,
    radius: float = DEFAULT_RADIUS_M,
    limit: int | None = None,
    within: str = "woonplaats",
    subtitle: str | None = None,
) -> dict[str, Any]:
    """Read the inputs, analyse coverage and write the coverage outputs.

    Parameters
    ----------
    addresses, registrations
        The address register and the registrations (see the README's file
        formats).
    out
        Output folder; see :func:`write_coverage_outputs` for the files.
    assignments
        Optional ``assignments.csv`` of a partition run (``registration_id``,
        ``group_id``), for the territories layer and ``groups_postcodes.csv``.
    boundaries
        Optional buurt (and wijk) polygons.
    radius
        Reach of a registered address, metres (straight-line, RD New).
    limit
        Largest number of recruitment targets, or None for all worth a round.
    within
        The unit level the groups of ``assignments`` were made in.
    subtitle
        Second line of the map title; default the register's ``bron`` label
        (the demo's "generated" notice), if any.

    Returns
    -------
    dict
        The run's summary (counts, shares, seconds per step).

    Raises
    ------
    InputFileError, CRSError
        For a bad input file; nothing is written then.
    """
    register = io.read_addresses(addresses)
    people = io.read_registrations(registrations)
    layers = io.read_boundaries(boundaries) if boundaries else {}
    grouped = io.read_assignments(assignments) if assignments else None

    run = run_coverage(
        register,
        people,
        buurten=layers.get("buurt"),
        wijken=layers.get("wijk"),
        assignments=grouped,
        radius=radius,
        limit=limit,
        within=within,
    )
    write_coverage_outputs(run, out, subtitle=subtitle or source_label(register))
    return run.summary


def _street_frame(report: CoverageReport) -> gpd.GeoDataFrame:
    """Join the street table with a line geometry per street."""
    lines = street_lines(report.addresses)
    joined = report.streets.merge(
        lines, on=["woonplaats", "openbare_ruimte"], how="left", validate="1:1"
    )
    return gpd.GeoDataFrame(joined, geometry="geometry", crs=lines.crs)


def _territories(
    addresses: pd.DataFrame,
    members: pd.DataFrame,
    assignments: pd.DataFrame,
    buurten: gpd.GeoDataFrame | None,
    within: str,
) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Return the group territories and their postcodes from an assignment."""
    group_of = assignments.set_index("registration_id")["group_id"]
    grouped = members.assign(group_id=members["registration_id"].map(group_of))
    grouped = grouped[grouped["group_id"].notna()]
    logger.info(
        "assignments: %s of %s geocoded registrations have a group (%s "
        "assignment rows without a geocoded registration)",
        f"{len(grouped):,}",
        f"{len(members):,}",
        f"{int((~group_of.index.isin(members['registration_id'])).sum()):,}",
    )

    # every address to the group of its nearest member, then polygons and sizes
    address_groups = assign_addresses(
        addresses, grouped, grouped["group_id"], within=within
    )
    polygons = territory_polygons(addresses, address_groups, buurten=buurten)
    table = grouped.groupby("group_id").agg(
        size=("registration_id", "size"), woonplaats=("woonplaats", "first")
    )
    geometry = polygons.set_index("group_id").geometry.reindex(table.index)
    territories = gpd.GeoDataFrame(
        table.reset_index(), geometry=geometry.to_numpy(), crs=polygons.crs
    )
    return territories, territory_postcodes(addresses, address_groups)


def area_table(run: CoverageRun, level: str) -> pd.DataFrame:
    """Return the buurt or wijk table with its code as a column (for CSV)."""
    table = run.report.buurten if level == "buurt" else run.report.wijken
    columns = BUURT_COLUMNS if level == "buurt" else WIJK_COLUMNS
    if table is None:
        return pd.DataFrame(columns=columns)
    return table.reset_index()[columns]


def _buurt_polygons(run: CoverageRun) -> gpd.GeoDataFrame | None:
    """Return the buurt table joined to its polygons, or None without them."""
    if run.buurten is None or run.report.buurten is None:
        return None
    table = area_table(run, "buurt").drop(columns="buurtnaam")
    shapes = run.buurten[["buurtcode", "buurtnaam", "geometry"]]
    joined = shapes.merge(table, on="buurtcode", how="inner")
    return gpd.GeoDataFrame(joined[[*BUURT_COLUMNS, "geometry"]], crs=shapes.crs)


def _feature_collection(frame: gpd.GeoDataFrame) -> dict[str, Any]:
    """Return ``frame`` as a JSON-safe GeoJSON dict in EPSG:4326 (NaN as null)."""
    return json.loads(frame.to_crs("EPSG:4326").to_json(na="null", show_bbox=False))


def _summary(
    report: CoverageReport,
    geocoded: pd.DataFrame,
    gaps: CoverageGaps,
    targets: gpd.GeoDataFrame,
    territories: gpd.GeoDataFrame | None,
) -> dict[str, Any]:
    """Counts of a coverage run, as plain JSON types."""
    unmatched = int(geocoded["match_quality"].eq("unmatched").sum())
    summary = report.summary()
    summary.update(
        {
            "registrations": int(len(geocoded)),
            "geocoded": int(len(geocoded) - unmatched),
            "unmatched": unmatched,
            "gaps": int(len(gaps.areas)),
            "gap_addresses": int(gaps.areas["addresses"].sum()),
            "scattered_uncovered": int(gaps.scattered.sum()),
            "recruitment_targets": int(len(targets)),
            "radius_coverage_after_targets": (
                float(targets["cumulative_radius_coverage"].iloc[-1])
                if len(targets)
                else summary["radius_coverage"]
            ),
        }
    )
    if territories is not None:
        summary["groups"] = int(len(territories))
    return summary


def _title(run: CoverageRun) -> str:
    """Return the default map title, with the municipality's radius coverage."""
    share = run.summary.get("radius_coverage")
    radius = f"{run.report.radius:.0f} m"
    if share is None:
        return f"Dekking buurtpreventie (binnen {radius})"
    return f"Dekking buurtpreventie: {share:.0%} van de adressen binnen {radius}"
