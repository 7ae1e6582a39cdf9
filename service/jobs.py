"""File-level jobs shared by the command line and the service.

Each job reads its inputs with :mod:`partition.io`, runs the pure pipeline and
writes every output at once with :func:`partition.io.write_outputs`, so a failure
leaves the output folder as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import pandas as pd

from partition import io
from partition.boundaries import attach_boundaries
from partition.demo import DEMO_LABEL, make_demo_municipality
from partition.errors import BuurtgroepenError
from partition.geocode import Geocoder, RegisterGeocoder
from partition.maps import build_partition_map
from partition.pipeline import ASSIGNMENT_COLUMNS, PartitionResult, run_partition
from partition.rebalance import RebalancePlan
from partition.rebalance import rebalance as rebalance_groups
from partition.register import source_label
from partition.sources.locatieserver import LocatieserverGeocoder
from partition.territories import assign_addresses
from service import coverage_job

GEOCODED_COLUMNS = [
    "registration_id",
    "match_quality",
    "unmatched_reason",
    "nummeraanduiding_id",
    "address_key",
    "woonplaats",
    "buurtcode",
    "x",
    "y",
]


def partition(
    addresses: Path,
    registrations: Path,
    out: Path,
    *,
    boundaries: Path | None = None,
    max_size: int = 50,
    target_fill: float = 0.9,
    min_size: int | None = None,
    within: str = "woonplaats",
    seed: int = 0,
    subtitle: str | None = None,
    on_result: Callable[[PartitionResult, pd.DataFrame, dict], None] | None = None,
) -> dict:
    """Read the inputs, partition, and write the outputs of a partition run.

    ``on_result`` receives the run, the registrations and the boundary layers,
    for a caller that continues with the same data (the demo's coverage).
    """
    register = io.read_addresses(addresses)
    people = io.read_registrations(registrations)
    layers = io.read_boundaries(boundaries) if boundaries else {}
    buurten = layers.get("buurt")

    result = run_partition(
        register,
        people,
        buurten=buurten,
        max_size=max_size,
        target_fill=target_fill,
        min_size=min_size,
        within=within,
        seed=seed,
    )
    title = f"Buurtpreventiegroepen - {len(result.groups)} groepen"
    subtitle = subtitle or source_label(register)
    write_partition_outputs(
        result, out, buurten=buurten, title=title, subtitle=subtitle
    )
    if on_result is not None:
        on_result(result, people, layers)
    return result.summary


def write_partition_outputs(
    result: PartitionResult,
    out: Path,
    *,
    buurten: gpd.GeoDataFrame | None,
    title: str,
    subtitle: str | None = None,
) -> Path:
    """Write assignments.csv, groups.geojson, map.html, summary.json, unmatched.csv."""
    # a register with buurt codes but no polygons has coverage but nothing to draw
    groups_map = build_partition_map(
        territories=result.groups,
        buurten=buurten,
        buurt_coverage=None if buurten is None else result.buurt_coverage,
        title=title,
        subtitle=subtitle,
    )
    writers = {
        "assignments.csv": io.csv_writer(result.assignments),
        "groups.geojson": io.geojson_writer(
            result.groups[["group_id", "size", "woonplaats", "geometry"]]
        ),
        "map.html": io.text_writer(groups_map.get_root().render()),
        "summary.json": io.json_writer(result.summary),
        "unmatched.csv": io.csv_writer(result.unmatched),
    }
    return io.write_outputs(out, writers)


GEOCODERS = ("register", "pdok")
"""Geocoders the command line can use; the offline register is the default."""


def geocode(
    addresses: Path | None,
    registrations: Path,
    out: Path,
    *,
    geocoder: str = "register",
    pdok_url: str | None = None,
    gemeente: str | None = None,
    cache_dir: Path | None = None,
) -> dict:
    """Geocode a registrations file and write one CSV row per registration.

    ``geocoder="register"`` matches offline against ``addresses``;
    ``geocoder="pdok"`` asks PDOK's Locatieserver (internet needed, answers
    cached on disk in ``cache_dir``), optionally limited to one ``gemeente``.
    """
    if geocoder not in GEOCODERS:
        msg = f"`geocoder` must be one of {', '.join(GEOCODERS)}; got {geocoder!r}."
        raise BuurtgroepenError(msg)
    people = io.read_registrations(registrations)
    if geocoder == "pdok":
        options = {"base_url": pdok_url} if pdok_url else {}
        engine: Geocoder = LocatieserverGeocoder(
            gemeentecode=gemeente, cache_dir=cache_dir, **options
        )
    else:
        if addresses is None:
            msg = "`--addresses` is needed with the offline register geocoder."
            raise BuurtgroepenError(msg)
        engine = RegisterGeocoder(io.read_addresses(addresses))
    geocoded = engine.geocode(people)
    io.write_outputs(out.parent, {out.name: io.csv_writer(geocoded[GEOCODED_COLUMNS])})
    unmatched = int(geocoded["match_quality"].eq("unmatched").sum())
    return {
        "registrations": len(geocoded),
        "geocoded": len(geocoded) - unmatched,
        "unmatched": unmatched,
    }


def demo(
    out: Path,
    *,
    boundaries: Path | None = None,
    wijken: Path | None = None,
    seed: int = 0,
    max_size: int = 50,
    target_fill: float = 0.9,
    within: str = "woonplaats",
) -> dict:
    """Generate the demo municipality into ``out/input``, partition it, map coverage.

    With ``boundaries`` (and optionally ``wijken``) the generated addresses are
    placed inside those real polygons. The inputs are written first and read back
    through the same readers as :func:`partition`, so the demo exercises the real
    file path.
    """
    real_buurten = io.read_boundaries(boundaries)["buurt"] if boundaries else None
    real_wijken = io.read_boundaries(wijken).get("wijk") if wijken else None
    municipality = make_demo_municipality(
        seed=seed, buurten=real_buurten, wijken=real_wijken
    )
    layer = municipality.buurten.merge(
        municipality.wijken[["wijkcode", "wijknaam"]], on="wijkcode", how="left"
    )
    inputs = out / "input"
    io.write_outputs(
        inputs,
        {
            "addresses.csv": io.csv_writer(
                municipality.addresses.drop(columns="geometry").assign(bron=DEMO_LABEL)
            ),
            "registrations.csv": io.csv_writer(municipality.registrations),
            "buurten.geojson": io.geojson_writer(layer),
        },
    )
    # the steering group's coverage map of the same run, from the same
    # register and geocoding rather than reading and matching everything again
    coverage: dict = {}

    def map_coverage(
        result: PartitionResult, people: pd.DataFrame, layers: dict
    ) -> None:
        run = coverage_job.run_coverage(
            result.addresses,
            people,
            buurten=layers.get("buurt"),
            wijken=layers.get("wijk"),
            assignments=result.assignments,
            within=within,
            geocoded=result.geocoded,
        )
        coverage_job.write_coverage_outputs(
            run, out, subtitle=source_label(result.addresses)
        )
        coverage.update(run.summary)

    summary = partition(
        inputs / "addresses.csv",
        inputs / "registrations.csv",
        out,
        boundaries=inputs / "buurten.geojson",
        max_size=max_size,
        target_fill=target_fill,
        within=within,
        seed=seed,
        on_result=map_coverage,
    )
    summary["coverage"] = coverage
    return summary


def rebalance(
    addresses: Path,
    registrations: Path,
    assignments: Path,
    out: Path,
    *,
    boundaries: Path | None = None,
    max_size: int = 50,
    target_fill: float = 0.9,
    min_size: int | None = None,
    within: str = "woonplaats",
    seed: int = 0,
) -> dict:
    """Rebalance an earlier partition to the current registrations file.

    Registrations in ``assignments`` but no longer in ``registrations`` are the
    leavers; registrations not yet in ``assignments`` are the newcomers. Writes
    the new ``assignments.csv``, ``plan.json`` and ``changes/<group_id>.csv``
    (with ``telefoon`` on the rows to add, when the registrations carry it).
    A ``handed_on`` column (members the row's group handed on to neighbours
    since it was made or last split) makes a group that handed on enough split
    rather than hand on more; the new ``assignments.csv`` carries the counts
    on, so running on from it keeps them.
    """
    register = io.read_addresses(addresses)
    people = io.read_registrations(registrations)
    old = io.read_assignments(assignments)
    layers = io.read_boundaries(boundaries) if boundaries else {}
    if layers.get("buurt") is not None:
        register = attach_boundaries(register, layers["buurt"])

    geocoded = RegisterGeocoder(register).geocode(people)
    placed = geocoded[geocoded["match_quality"].ne("unmatched")]
    known = placed["registration_id"].isin(old["registration_id"])

    # leavers stay in the current state (without coordinates) so their removal
    # reaches the change lists; a registration that no longer geocodes leaves too
    current = old[["registration_id", "group_id"]].merge(
        placed, on="registration_id", how="left"
    )
    leavers = current.loc[current["x"].isna(), "registration_id"]
    staying = current[current["x"].notna()]
    territory = assign_addresses(
        register, staying, staying["group_id"], within=within
    ).set_axis(register["address_key"])

    # members the beheerder has not added yet can be rerouted instead of moved
    added = old.set_index("registration_id")["added"] if "added" in old else None
    pending = [] if added is None else added.index[~added.to_numpy()].tolist()
    handed_on = (
        old.groupby("group_id")["handed_on"].max().to_dict()
        if "handed_on" in old
        else {}
    )
    plan = rebalance_groups(
        current,
        joiners=placed[~known],
        leavers=leavers,
        address_groups=territory,
        max_size=max_size,
        target_fill=target_fill,
        min_size=min_size,
        within=within,
        seed=seed,
        pending_adds=pending,
        handed_on=handed_on,
    )
    io.write_outputs(out, _rebalance_writers(plan, placed, people, added))
    return plan.summary


def _rebalance_writers(
    plan: RebalancePlan,
    placed: pd.DataFrame,
    people: pd.DataFrame,
    added: pd.Series | None,
) -> dict:
    """The files of a rebalance: assignments, plan.json and one change list a group.

    With ``added`` (from the old assignments) the new assignments carry it on:
    ``yes`` for a member added before who stays, ``no`` for everyone with an
    "add" on a change list now or still pending. ``handed_on`` is the count of
    each row's group after the plan. A rerouted member gets a "cancel" row in
    the group it left: its earlier "add" there is off.
    """
    info = placed.set_index("registration_id")[["woonplaats", "buurtcode"]]
    assignments = (
        plan.assignment.dropna()
        .rename("group_id")
        .to_frame()
        .join(info)
        .reset_index()[ASSIGNMENT_COLUMNS]
    )
    if added is not None:
        adds = plan.changes.loc[plan.changes["action"] == "add", "registration_id"]
        ids = assignments["registration_id"]
        still = ids.map(added).fillna(False).astype(bool) & ~ids.isin(set(adds))
        assignments["added"] = still.map({True: "yes", False: "no"})
    handed_on = assignments["group_id"].map(plan.handed_on)
    assignments["handed_on"] = handed_on.fillna(0).astype("int64")
    # a rerouted member's earlier "add" is called off in the group it left
    cancels = plan.reroutes.rename(columns={"from_group": "group_id"}).assign(
        action="cancel"
    )[plan.changes.columns]
    phones = people.set_index("registration_id")["telefoon"]
    changes = pd.concat([plan.changes, cancels], ignore_index=True).assign(
        telefoon=lambda f: f["registration_id"].map(phones).where(f["action"] == "add")
    )
    document = {
        "summary": plan.summary,
        "new_groups": plan.new_groups,
        "dissolved_groups": plan.dissolved_groups,
        "handed_on": plan.handed_on,
        "moves": plan.moves.to_dict(orient="records"),
        "reroutes": plan.reroutes.to_dict(orient="records"),
        "joins": plan.joins.to_dict(orient="records"),
        "leaves": plan.leaves.to_dict(orient="records"),
    }
    writers = {
        "assignments.csv": io.csv_writer(assignments),
        "plan.json": io.json_writer(document),
    }
    for group_id, rows in changes.groupby("group_id", sort=True):
        writers[f"changes/{group_id}.csv"] = io.csv_writer(
            rows.drop(columns="group_id")
        )
    return writers
