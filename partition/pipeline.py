"""One partition run: geocode, partition, territories, coverage and a summary.

The run is a pure function of its inputs (frames in, frames out); the command line
and the service read the files and write what it returns.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd

from partition.boundaries import attach_boundaries
from partition.coverage import buurt_coverage
from partition.geocode import Geocoder, RegisterGeocoder
from partition.groups import check_partition_request, partition_members
from partition.register import prepare_register
from partition.territories import assign_addresses, territory_polygons

logger = logging.getLogger(__name__)

ASSIGNMENT_COLUMNS = ["registration_id", "group_id", "woonplaats", "buurtcode"]


@dataclass
class PartitionResult:
    """Everything a partition run produces, in RD New unless stated otherwise."""

    addresses: gpd.GeoDataFrame
    geocoded: pd.DataFrame
    assignments: pd.DataFrame
    address_groups: pd.Series
    groups: gpd.GeoDataFrame
    buurt_coverage: pd.DataFrame | None
    summary: dict = field(default_factory=dict)

    @property
    def unmatched(self) -> pd.DataFrame:
        """Registrations the geocoder could not place, with the reason."""
        lost = self.geocoded["match_quality"].eq("unmatched")
        return self.geocoded.loc[lost, ["registration_id", "unmatched_reason"]]


def run_partition(
    addresses: gpd.GeoDataFrame,
    registrations: pd.DataFrame,
    *,
    buurten: gpd.GeoDataFrame | None = None,
    max_size: int = 50,
    target_fill: float = 0.9,
    min_size: int | None = None,
    within: str = "woonplaats",
    seed: int = 0,
    geocoder: Geocoder | None = None,
) -> PartitionResult:
    """Partition registrations into groups and derive their territories.

    Parameters
    ----------
    addresses
        The address register of the municipality, RD New; checked and normalised
        with :func:`partition.register.prepare_register` unless it already carries
        ``address_key`` (as :func:`partition.io.read_addresses` returns it).
    registrations
        Registrations as residents typed them (``registration_id``, ``postcode``,
        ``huisnummer`` and optional address parts).
    buurten
        Buurt polygons with ``buurtcode``, ``buurtnaam``, ``wijkcode`` (RD New);
        used to attach codes to addresses, clip territories and compute coverage.
    max_size, target_fill, min_size, within, seed
        See :func:`partition.groups.partition_members`.
    geocoder
        Defaults to the offline :class:`partition.geocode.RegisterGeocoder` over
        ``addresses``.

    Returns
    -------
    result
        Frames for the outputs and a JSON-ready ``summary`` with counts, group
        sizes and seconds per step.
    """
    check_partition_request(max_size, target_fill, min_size, within)
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def step(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = round(now - clock, 3)
        clock = now

    if "address_key" not in addresses.columns:
        addresses = prepare_register(addresses)
    if buurten is not None:
        addresses = attach_boundaries(addresses, buurten)
    step("boundaries")

    geocoder = geocoder or RegisterGeocoder(addresses)
    geocoded = geocoder.geocode(registrations)
    step("geocode")

    members = geocoded[geocoded["match_quality"].ne("unmatched")].copy()
    group_id = partition_members(
        members,
        max_size=max_size,
        target_fill=target_fill,
        min_size=min_size,
        within=within,
        seed=seed,
    )
    members["group_id"] = group_id
    step("partition")

    address_groups = assign_addresses(addresses, members, group_id, within=within)
    territories = territory_polygons(addresses, address_groups, buurten=buurten)
    groups = _group_table(members, territories)
    step("territories")

    coverage = None
    if "buurtcode" in addresses.columns and addresses["buurtcode"].notna().any():
        coverage = buurt_coverage(addresses, members["address_key"], buurten)
    step("coverage")

    assignments = members[ASSIGNMENT_COLUMNS].reset_index(drop=True)
    summary = _summary(addresses, geocoded, groups, max_size, target_fill, within)
    summary["seconds"] = timings
    return PartitionResult(
        addresses=addresses,
        geocoded=geocoded,
        assignments=assignments,
        address_groups=address_groups,
        groups=groups,
        buurt_coverage=coverage,
        summary=summary,
    )


def _group_table(
    members: pd.DataFrame, territories: gpd.GeoDataFrame
) -> gpd.GeoDataFrame:
    """One row per group: size, woonplaats and territory polygon."""
    table = members.groupby("group_id").agg(
        size=("registration_id", "size"), woonplaats=("woonplaats", "first")
    )
    geometry = territories.set_index("group_id").geometry.reindex(table.index)
    return gpd.GeoDataFrame(
        table.reset_index(), geometry=geometry.to_numpy(), crs=territories.crs
    )


def _summary(
    addresses: pd.DataFrame,
    geocoded: pd.DataFrame,
    groups: gpd.GeoDataFrame,
    max_size: int,
    target_fill: float,
    within: str,
) -> dict:
    """Counts and size statistics of a run, as plain JSON types."""
    sizes = groups["size"].to_numpy() if len(groups) else np.array([0])
    quality = geocoded["match_quality"].value_counts()
    reasons = geocoded.loc[
        geocoded["match_quality"].eq("unmatched"), "unmatched_reason"
    ]
    return {
        "addresses": int(len(addresses)),
        "registrations": int(len(geocoded)),
        "geocoded": int(len(geocoded) - quality.get("unmatched", 0)),
        "unmatched": int(quality.get("unmatched", 0)),
        "match_quality": {str(k): int(v) for k, v in quality.items()},
        "unmatched_reasons": {
            str(k): int(v) for k, v in reasons.value_counts().items()
        },
        "groups": int(len(groups)),
        "group_size": {
            "min": int(sizes.min()),
            "median": float(np.median(sizes)),
            "max": int(sizes.max()),
        },
        "max_size": max_size,
        "target_fill": target_fill,
        "within": within,
        "woonplaatsen": {
            str(k): int(v) for k, v in groups["woonplaats"].value_counts().items()
        },
    }
