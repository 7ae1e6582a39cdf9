"""Coverage of the address register by neighbourhood-watch registrations.

Two measures, per street (an ``openbare_ruimte`` within a woonplaats), per buurt
and per wijk:

- **coverage**: the share of residential addresses with at least one
  registration;
- **radius coverage**: the share of residential addresses within a radius R
  (default 100 m) of a registered address, straight-line in RD New
  (EPSG:28992) metres, not a walking distance: a canal or a railway without a
  crossing does not stop it.

Each area gets a class from thresholds "from practice" (configurable, see
:class:`CoverageThresholds`): below 30 % "under-covered", 30-50 % "covered",
above 50 % "well covered", and "blind" when not one of its addresses is
registered. :func:`coverage_report` computes all of it at once;
:func:`buurt_coverage` is the first, count-only view per buurt the partition
pipeline uses. The counts are meant for maps and reports, so
:func:`mask_small_counts` turns small counts into a label that cannot single out
a household.

The per-address frame of :func:`address_coverage` says which address is
registered: it is personal data, an intermediate for the aggregates, recruitment
and gaps, and is never to be written to an output.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from dataclasses import dataclass
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from partition.errors import BuurtgroepenError

logger = logging.getLogger(__name__)

#: Substring of the BAG ``gebruiksdoel`` that marks a dwelling.
RESIDENTIAL_USE = "woonfunctie"

COVERAGE_COLUMNS = [
    "buurtnaam",
    "woonplaats",
    "addresses",
    "registered_addresses",
    "coverage",
]

#: Default radius of :func:`address_coverage`, metres in RD New.
DEFAULT_RADIUS_M = 100.0

CLASS_BLIND = "blind"
CLASS_UNDER = "under-covered"
CLASS_COVERED = "covered"
CLASS_WELL = "well covered"
#: The coverage classes from worst to best.
COVERAGE_CLASSES = (CLASS_BLIND, CLASS_UNDER, CLASS_COVERED, CLASS_WELL)

_COUNT_COLUMNS = [
    "addresses",
    "registered_addresses",
    "coverage",
    "radius_coverage",
    "class",
]
#: Columns of ``coverage.csv``, one row per street (:func:`street_coverage`).
STREET_COLUMNS = ["woonplaats", "openbare_ruimte", "buurtcode", *_COUNT_COLUMNS]
#: Columns of ``coverage_buurten.csv`` (:func:`area_coverage` reset_index).
BUURT_COLUMNS = ["buurtcode", "buurtnaam", "woonplaats", *_COUNT_COLUMNS]
#: The same per wijk.
WIJK_COLUMNS = ["wijkcode", "wijknaam", "woonplaats", *_COUNT_COLUMNS]
#: Columns of ``groups_postcodes.csv`` (:func:`territory_postcodes`).
POSTCODE_COLUMNS = ["group_id", "woonplaats", "postcode", "addresses", "share"]

_STREET_KEYS = ["woonplaats", "openbare_ruimte"]
_ADDRESS_REQUIRED = ("address_key", "woonplaats", "openbare_ruimte", "x", "y")
_ADDRESS_KEPT = (
    "address_key",
    "woonplaats",
    "openbare_ruimte",
    "buurtcode",
    "wijkcode",
    "postcode",
    "huisnummer",
    "huisletter",
    "huisnummertoevoeging",
    "x",
    "y",
)
_LEVELS = ("buurt", "wijk")


@dataclass(frozen=True)
class CoverageThresholds:
    """Class bounds of a coverage share, as fractions from 0 to 1.

    Attributes
    ----------
    under
        Shares below this are "under-covered" (default 0.30).
    well
        Shares above this are "well covered" (default 0.50); shares from
        ``under`` to ``well``, both inclusive, are "covered".
    basis
        The share the class is read from: ``"radius_coverage"`` (default) or
        ``"coverage"`` (registered / all addresses).

    Notes
    -----
    An area without any registered address is "blind" whatever its share (its
    radius coverage can be above 0 through registrations on the next street),
    and an area without addresses has no class. The default basis is the
    radius coverage because that is what a watch group watches: the homes a
    participant lives near. At a typical participation of a few percent of the
    households the registered share itself puts nearly every street below
    30 %, so a class read from it would only tell blind from not blind.
    """

    under: float = 0.30
    well: float = 0.50
    basis: Literal["radius_coverage", "coverage"] = "radius_coverage"

    def __post_init__(self) -> None:
        """Reject bounds out of order and an unknown basis."""
        if not 0 <= self.under <= self.well <= 1:
            raise BuurtgroepenError(
                f"`under` and `well` must satisfy 0 <= under <= well <= 1, got "
                f"under={self.under} and well={self.well}; give fractions such "
                "as 0.30 and 0.50, not percentages."
            )
        if self.basis not in ("radius_coverage", "coverage"):
            raise BuurtgroepenError(
                f"`basis` must be 'radius_coverage' or 'coverage', got {self.basis!r}."
            )


@dataclass(frozen=True, eq=False)
class CoverageReport:
    """Coverage of a municipality per address, street, buurt and wijk.

    Attributes
    ----------
    addresses
        The frame of :func:`address_coverage`: personal data (which address is
        registered), never to be written to an output.
    streets
        :func:`street_coverage`, one row per street, columns
        :data:`STREET_COLUMNS`.
    buurten
        :func:`area_coverage` per buurt, indexed by ``buurtcode``, or None when
        the register has no buurt codes and no buurt polygons were given.
    wijken
        The same per wijk, indexed by ``wijkcode``, or None.
    radius
        The radius of the radius coverage, metres.
    thresholds
        The class bounds used.
    """

    addresses: pd.DataFrame
    streets: pd.DataFrame
    buurten: pd.DataFrame | None
    wijken: pd.DataFrame | None
    radius: float
    thresholds: CoverageThresholds

    def summary(self) -> dict[str, Any]:
        """Return the totals and the number of areas per class, as JSON types."""
        covered = self.addresses
        total = len(covered)
        registered = int(covered["registered"].sum())
        near = int(covered["covered"].sum())
        result: dict[str, Any] = {
            "addresses": total,
            "registered_addresses": registered,
            "coverage": round(registered / total, 4) if total else None,
            "radius_m": self.radius,
            "radius_covered_addresses": near,
            "radius_coverage": round(near / total, 4) if total else None,
            "thresholds": {
                "under": self.thresholds.under,
                "well": self.thresholds.well,
                "basis": self.thresholds.basis,
            },
            "streets": _class_counts(self.streets),
        }
        for name, table in (("buurten", self.buurten), ("wijken", self.wijken)):
            if table is not None:
                result[name] = _class_counts(table)
        return result


def buurt_coverage(
    addresses: pd.DataFrame,
    registered_keys: pd.Series | pd.Index,
    buurten: gpd.GeoDataFrame | None = None,
) -> pd.DataFrame:
    """Count addresses and registered addresses per buurt.

    Parameters
    ----------
    addresses
        The address register, one row per address, with columns ``address_key``
        (see :func:`partition.addresses.address_key`), ``buurtcode`` and
        optionally ``woonplaats`` and ``gebruiksdoel``. Rows without a
        ``buurtcode`` are left out with a warning; a repeated ``address_key``
        is counted once (first row kept) with a warning.
    registered_keys
        ``address_key`` of every registration. Duplicates (several residents at
        one address) count once; keys that are not residential addresses of
        ``addresses`` are ignored and only their number is logged.
    buurten
        Optional buurt polygons with columns ``buurtcode`` and ``buurtnaam``.
        When given, every buurt appears in the result, with 0 addresses when
        none of the addresses lies in it. The geometry is not used.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``buurtcode`` (sorted), with columns ``buurtnaam`` (missing
        without ``buurten``), ``woonplaats`` (the most common woonplaats of the
        buurt's addresses, ties broken alphabetically; missing without
        addresses), ``addresses`` (int), ``registered_addresses`` (int) and
        ``coverage`` (registered / addresses, 0-1, NaN for 0 addresses).

    Raises
    ------
    BuurtgroepenError
        When a required column is missing.

    Notes
    -----
    Residential means that ``gebruiksdoel`` contains ``"woonfunctie"``
    (case-insensitive; BAG lists several uses separated by commas). The filter
    only applies where the register has a ``gebruiksdoel``: without the column
    every address counts, and rows with an empty value are kept because BAG
    ligplaatsen and standplaatsen (houseboats, caravans) carry no
    ``gebruiksdoel`` but are usually dwellings. A registration at a
    non-residential address (a shop, a school) is not counted anywhere.
    """
    start = time.perf_counter()
    _check_columns(addresses, buurten)
    register = _residential_register(addresses)

    # counts per buurt
    keys = pd.Index(registered_keys).dropna().unique()
    registered = register["address_key"].isin(keys)
    counts = (
        register.assign(registered=registered)
        .groupby("buurtcode")
        .agg(
            addresses=("address_key", "size"),
            registered_addresses=("registered", "sum"),
        )
    )
    woonplaats = _most_common(register, ["buurtcode"], "woonplaats")
    result = _assemble(counts, woonplaats, buurten)

    # log counts only: keys are personal data
    n_keys = len(keys)
    n_registered = int(result["registered_addresses"].sum())
    n_addresses = int(result["addresses"].sum())
    logger.info(
        "coverage for %d buurten: %d of %d residential addresses registered "
        "(%d registration keys not in the register) in %.2f s",
        len(result),
        n_registered,
        n_addresses,
        n_keys - n_registered,
        time.perf_counter() - start,
    )
    return result


def mask_small_counts(values: pd.Series, threshold: int = 3) -> pd.Series:
    """Format counts for display, hiding counts that could identify a household.

    Parameters
    ----------
    values
        Non-negative whole counts (int or float dtype, missing values allowed).
    threshold
        Smallest count shown as a number; counts from 1 to ``threshold - 1``
        become ``"<{threshold}"``. At least 1 (1 masks nothing).

    Returns
    -------
    pandas.Series
        Strings on the index of ``values``: ``"0"`` for 0, ``"<3"`` for 1 and 2
        (with the default threshold), the number otherwise and ``"onbekend"``
        (Dutch for unknown, shown to residents) where a value is missing.

    Raises
    ------
    BuurtgroepenError
        When ``threshold`` is below 1 or a value is negative or not whole.
    """
    if threshold < 1:
        raise BuurtgroepenError(
            f"`threshold` must be at least 1, got {threshold}; use 3 to hide "
            "counts of 1 and 2."
        )
    numbers = pd.to_numeric(values, errors="raise").astype("Float64")
    bad = numbers.notna() & ((numbers < 0) | (numbers % 1 != 0))
    if bad.any():
        raise BuurtgroepenError(
            f"`values` must be non-negative whole counts; {int(bad.sum())} of "
            f"{len(values)} are not (e.g. {numbers[bad].iloc[0]}). Pass counts, "
            "not shares."
        )

    # format: vectorised choice between mask, number and missing
    filled = numbers.fillna(0).to_numpy(dtype=np.int64)
    small = (filled > 0) & (filled < threshold)
    text = np.where(small, f"<{threshold}", filled.astype(str))
    text = np.where(numbers.isna().to_numpy(), "onbekend", text)
    return pd.Series(text, index=values.index, name=values.name, dtype="str")


def coverage_report(
    addresses: pd.DataFrame,
    registered_keys: pd.Series | pd.Index,
    *,
    radius: float = DEFAULT_RADIUS_M,
    thresholds: CoverageThresholds | None = None,
    buurten: gpd.GeoDataFrame | None = None,
    wijken: gpd.GeoDataFrame | None = None,
) -> CoverageReport:
    """Compute coverage per address, street, buurt and wijk in one pass.

    Parameters
    ----------
    addresses, registered_keys, radius
        See :func:`address_coverage`.
    thresholds
        Class bounds; default :class:`CoverageThresholds()`.
    buurten
        Optional buurt polygons (``buurtcode``, ``buurtnaam``), so that every
        buurt appears with its name; see :func:`area_coverage`.
    wijken
        The same for wijken (``wijkcode``, ``wijknaam``).

    Returns
    -------
    CoverageReport
        The per-address frame and the tables per street, buurt and wijk. The
        buurt (wijk) table is None when the register has no ``buurtcode``
        (``wijkcode``) values and no polygons of that level are given.
    """
    thresholds = thresholds or CoverageThresholds()
    covered = address_coverage(addresses, registered_keys, radius=radius)
    streets = street_coverage(covered, thresholds=thresholds)

    # an area level only where codes or polygons of that level exist
    tables: dict[str, pd.DataFrame | None] = {}
    for level, areas in (("buurt", buurten), ("wijk", wijken)):
        code = f"{level}code"
        has_codes = code in covered and bool(covered[code].notna().any())
        tables[level] = (
            area_coverage(covered, level, areas=areas, thresholds=thresholds)
            if has_codes or areas is not None
            else None
        )
    return CoverageReport(
        addresses=covered,
        streets=streets,
        buurten=tables["buurt"],
        wijken=tables["wijk"],
        radius=float(radius),
        thresholds=thresholds,
    )


def address_coverage(
    addresses: pd.DataFrame,
    registered_keys: pd.Series | pd.Index,
    *,
    radius: float = DEFAULT_RADIUS_M,
) -> pd.DataFrame:
    """Mark every residential address as registered and as within reach.

    Parameters
    ----------
    addresses
        The address register, one row per address, with ``address_key``,
        ``woonplaats``, ``openbare_ruimte``, ``x`` and ``y`` (RD New metres),
        and optionally ``buurtcode``, ``wijkcode``, ``gebruiksdoel`` and the
        address parts (``postcode``, ``huisnummer``, ``huisletter``,
        ``huisnummertoevoeging``). Non-residential addresses are left out (see
        :func:`buurt_coverage`); a repeated ``address_key`` counts once (first
        row kept) with a warning.
    registered_keys
        ``address_key`` of every registration; duplicates count once and keys
        that are not residential addresses of ``addresses`` are ignored.
    radius
        Reach of a registered address in metres, straight-line in RD New
        (not walking distance); positive.

    Returns
    -------
    pandas.DataFrame
        The residential rows of ``addresses`` on their own index, with the
        columns above that are present, plus ``registered`` (bool),
        ``distance_m`` (to the nearest registered address, metres; 0 for a
        registered address, inf when nothing is registered) and ``covered``
        (bool: ``distance_m <= radius``). ``attrs["radius_m"]`` holds
        ``radius``. This frame says which address is registered: personal
        data, for computing only.

    Raises
    ------
    BuurtgroepenError
        When a required column is missing, a coordinate is missing or
        ``radius`` is not a positive number.
    """
    start = time.perf_counter()
    _check_register(addresses, radius)
    columns = [c for c in _ADDRESS_KEPT if c in addresses]
    register = addresses.loc[_is_residential(addresses), columns]
    repeated = register["address_key"].duplicated() & register["address_key"].notna()
    _warn_dropped(int(repeated.sum()), "repeat an `address_key` and count once", 1)
    register = register[~repeated].copy()

    # nearest registered address by k-d tree, exact (no distance bound)
    keys = pd.Index(registered_keys).dropna().unique()
    registered = register["address_key"].isin(keys).to_numpy()
    distance = _nearest_distance(register[["x", "y"]].to_numpy(float), registered)
    register["registered"] = registered
    register["distance_m"] = distance
    register["covered"] = distance <= radius
    register.attrs["radius_m"] = float(radius)

    logger.info(
        "radius coverage (%.0f m) of %s residential addresses: %s registered, "
        "%s within reach, in %.2f s",
        radius,
        f"{len(register):,}",
        f"{int(registered.sum()):,}",
        f"{int(register['covered'].sum()):,}",
        time.perf_counter() - start,
    )
    return register


def street_coverage(
    covered: pd.DataFrame, *, thresholds: CoverageThresholds | None = None
) -> pd.DataFrame:
    """Aggregate the per-address coverage per street.

    Parameters
    ----------
    covered
        The frame of :func:`address_coverage`.
    thresholds
        Class bounds; default :class:`CoverageThresholds()`.

    Returns
    -------
    pandas.DataFrame
        One row per street (``woonplaats`` + ``openbare_ruimte``; the same name
        in two woonplaatsen is two streets), sorted by woonplaats and street,
        with the columns :data:`STREET_COLUMNS`: ``buurtcode`` is the buurt of
        most of the street's addresses (ties alphabetically; missing without
        buurt codes), ``addresses`` and ``registered_addresses`` are counts,
        ``coverage`` and ``radius_coverage`` shares from 0 to 1 and ``class``
        one of :data:`COVERAGE_CLASSES` (see :func:`classify_coverage`).

    Notes
    -----
    A street that crosses a buurt boundary appears once, under its main buurt;
    the buurt table (:func:`area_coverage`) counts every address in its own
    buurt. Addresses without a street name are left out of this table only.
    """
    start = time.perf_counter()
    _require_covered(covered, _STREET_KEYS)
    counts = _counts(covered, _STREET_KEYS)
    counts["buurtcode"] = _most_common(covered, _STREET_KEYS, "buurtcode")
    counts["class"] = classify_coverage(counts, thresholds)
    result = counts.reset_index()
    result["buurtcode"] = result["buurtcode"].astype("str")
    result = result[STREET_COLUMNS]

    logger.info(
        "coverage of %s streets (%s blind) in %.2f s",
        f"{len(result):,}",
        f"{int(result['class'].eq(CLASS_BLIND).sum()):,}",
        time.perf_counter() - start,
    )
    return result


def area_coverage(
    covered: pd.DataFrame,
    level: Literal["buurt", "wijk"] = "buurt",
    *,
    areas: gpd.GeoDataFrame | pd.DataFrame | None = None,
    thresholds: CoverageThresholds | None = None,
) -> pd.DataFrame:
    """Aggregate the per-address coverage per buurt or per wijk.

    Parameters
    ----------
    covered
        The frame of :func:`address_coverage`, with ``buurtcode`` (or
        ``wijkcode``). Addresses without a code are left out with a warning.
    level
        ``"buurt"`` or ``"wijk"``.
    areas
        Optional polygons (or a plain table) of that level with ``<level>code``
        and ``<level>naam``: every area then appears, with 0 addresses and no
        class when none of the addresses lies in it. The geometry is not used.
    thresholds
        Class bounds; default :class:`CoverageThresholds()`.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``<level>code`` (sorted), with ``<level>naam`` (missing
        without ``areas``), ``woonplaats`` (of most of its addresses, ties
        alphabetically) and the counts, shares and class of
        :func:`street_coverage`; shares are NaN and the class missing for 0
        addresses. ``reset_index()`` gives :data:`BUURT_COLUMNS` (or
        :data:`WIJK_COLUMNS`).

    Raises
    ------
    BuurtgroepenError
        For an unknown ``level`` or a missing code column.
    """
    if level not in _LEVELS:
        raise BuurtgroepenError(f"`level` must be 'buurt' or 'wijk', got {level!r}.")
    code, name = f"{level}code", f"{level}naam"
    _require_covered(covered, [code])
    if areas is not None:
        _require_areas(areas, level)

    # counts per area; an address without a code cannot be placed
    missing = covered[code].isna()
    _warn_dropped(int(missing.sum()), f"have no `{code}` and are not counted", 1)
    placed = covered[~missing]
    counts = _counts(placed, [code])
    codes = counts.index
    names = pd.Series(dtype="str")
    if areas is not None:
        names = _area_names(areas, code, name, counts.index, "areas", 1)
        codes = codes.union(names.index)
    codes = pd.Index(codes.astype("str").sort_values(), name=code)

    # assemble on every code, empty areas with zeros
    result = pd.DataFrame(index=codes)
    result[name] = names.reindex(codes).astype("str")
    result["woonplaats"] = _most_common(placed, [code], "woonplaats").reindex(codes)
    result["woonplaats"] = result["woonplaats"].astype("str")
    counts = counts.reindex(codes)
    for column in ("addresses", "registered_addresses"):
        result[column] = counts[column].fillna(0).astype("int64")
    for column in ("coverage", "radius_coverage"):
        result[column] = counts[column].astype("float64")
    result["class"] = classify_coverage(result, thresholds)
    return result


def classify_coverage(
    table: pd.DataFrame, thresholds: CoverageThresholds | None = None
) -> pd.Series:
    """Give each area of a coverage table its class.

    Parameters
    ----------
    table
        Rows with ``addresses``, ``registered_addresses`` and the share named
        by ``thresholds.basis`` (0-1).
    thresholds
        Class bounds; default :class:`CoverageThresholds()`.

    Returns
    -------
    pandas.Series
        Strings on the index of ``table``: "blind" where no address is
        registered, else "under-covered" below ``thresholds.under``, "well
        covered" above ``thresholds.well`` and "covered" in between (bounds
        inclusive); missing where the area has no addresses.
    """
    thresholds = thresholds or CoverageThresholds()
    share = table[thresholds.basis].to_numpy(dtype="float64", na_value=np.nan)
    registered = table["registered_addresses"].to_numpy()
    conditions = [
        registered == 0,
        share < thresholds.under,
        share > thresholds.well,
    ]
    labels = [CLASS_BLIND, CLASS_UNDER, CLASS_WELL]
    classes = np.select(conditions, labels, default=CLASS_COVERED).astype(object)
    classes[table["addresses"].to_numpy() == 0] = None
    return pd.Series(classes, index=table.index, name="class", dtype="str")


def territory_postcodes(
    addresses: pd.DataFrame, address_groups: pd.Series
) -> pd.DataFrame:
    """List the six-position postcodes each group's territory covers.

    Groups are registered on the national WABP map (*WhatsApp
    buurtpreventie*) by postcode, so this is the form the steering group
    passes on.

    Parameters
    ----------
    addresses
        The address register with ``postcode`` and ``woonplaats``; all uses
        count (a postcode of shops is still part of a territory).
    address_groups
        The group of every address, on the index of ``addresses``, as
        :func:`partition.territories.assign_addresses` returns it; missing
        where an address has no group.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`POSTCODE_COLUMNS`, one row per group and postcode,
        sorted by ``group_id`` and ``postcode``: ``addresses`` is the number of
        the postcode's addresses in the group's territory and ``share`` that
        number over all addresses of the postcode (below 1 where a postcode
        is split between groups or partly has no group).
    """
    missing = [c for c in ("postcode", "woonplaats") if c not in addresses]
    if missing:
        raise BuurtgroepenError(
            f"`addresses` lacks column(s) {missing}; read the register with "
            "partition.io.read_addresses."
        )
    frame = addresses[["postcode", "woonplaats"]].assign(
        group_id=address_groups.reindex(addresses.index)
    )
    totals = frame.groupby("postcode").size()

    # one row per group and postcode, woonplaats of most of its addresses
    keys = ["group_id", "postcode"]
    grouped = frame.dropna(subset=["group_id", "postcode"])
    table = grouped.groupby(keys).size().rename("addresses").to_frame()
    table["woonplaats"] = _most_common(grouped, keys, "woonplaats")
    table = table.reset_index()
    table["share"] = table["addresses"] / table["postcode"].map(totals)
    table = table.astype({"group_id": "str", "postcode": "str", "woonplaats": "str"})
    return table[POSTCODE_COLUMNS].sort_values(keys, ignore_index=True)


def _check_register(addresses: pd.DataFrame, radius: float) -> None:
    """Raise when the register lacks a column or coordinate, or radius is bad."""
    missing = [c for c in _ADDRESS_REQUIRED if c not in addresses]
    if missing:
        raise BuurtgroepenError(
            f"`addresses` lacks column(s) {missing}; read the register with "
            "partition.io.read_addresses (it adds `address_key`, `x`, `y`)."
        )
    bad = addresses[["x", "y"]].isna().any(axis=1)
    if bad.any():
        raise BuurtgroepenError(
            f"`addresses` has {int(bad.sum())} rows without `x`/`y`; every "
            "address needs RD New coordinates (geocode or drop those rows)."
        )
    if (
        isinstance(radius, bool)
        or not isinstance(radius, int | float | np.number)
        or not math.isfinite(radius)
        or radius <= 0
    ):
        raise BuurtgroepenError(
            f"`radius` must be a positive number of metres, got {radius!r}; "
            "100 is the usual walking radius."
        )


def _require_covered(covered: pd.DataFrame, keys: list[str]) -> None:
    """Raise when ``covered`` is not a frame of :func:`address_coverage`."""
    missing = [c for c in [*keys, "registered", "covered"] if c not in covered]
    if missing:
        raise BuurtgroepenError(
            f"`covered` lacks column(s) {missing}; build it with "
            "partition.coverage.address_coverage from a register that has them."
        )


def _require_areas(areas: pd.DataFrame, level: str) -> None:
    """Raise when the area polygons lack their code or name column."""
    missing = [c for c in (f"{level}code", f"{level}naam") if c not in areas]
    if missing:
        raise BuurtgroepenError(
            f"`areas` lacks column(s) {missing}; normalise the {level} polygons "
            "with partition.boundaries first."
        )


def _is_residential(addresses: pd.DataFrame) -> pd.Series:
    """Tell per row whether an address is residential (see buurt_coverage Notes)."""
    if "gebruiksdoel" not in addresses:
        return pd.Series(True, index=addresses.index)
    use = addresses["gebruiksdoel"].astype("str")
    known = use.notna() & (use.str.strip() != "")
    residential = use.str.lower().str.contains(RESIDENTIAL_USE, regex=False)
    return ~known | residential.fillna(False)


def _nearest_distance(xy: np.ndarray, registered: np.ndarray) -> np.ndarray:
    """Return the distance (m) of every point to the nearest registered point."""
    if not registered.any():
        return np.full(len(xy), np.inf)
    distance, _ = cKDTree(xy[registered]).query(xy, k=1)
    return np.asarray(distance, dtype="float64")


def _counts(covered: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Return counts and shares per group of ``keys`` (rows with a key only)."""
    counts = covered.groupby(keys, sort=True, dropna=True).agg(
        addresses=("registered", "size"),
        registered_addresses=("registered", "sum"),
        radius_covered=("covered", "sum"),
    )
    counts = counts.astype("int64")
    counts["coverage"] = counts["registered_addresses"] / counts["addresses"]
    counts["radius_coverage"] = counts["radius_covered"] / counts["addresses"]
    return counts.drop(columns="radius_covered")


def _most_common(frame: pd.DataFrame, keys: list[str], column: str) -> pd.Series:
    """Return the most common value of ``column`` per ``keys``, ties alphabetically.

    Empty (all missing) where ``frame`` has no such column.
    """
    if column not in frame:
        return pd.Series(dtype="str", name=column)
    counts = frame.groupby([*keys, column]).size().rename("n").reset_index()
    ranked = counts.sort_values(
        [*keys, "n", column], ascending=[True] * len(keys) + [False, True]
    )
    first = ranked.drop_duplicates(keys)
    index = keys[0] if len(keys) == 1 else keys
    return first.set_index(index)[column]


def _class_counts(table: pd.DataFrame) -> dict[str, int]:
    """Return the number of rows per class, every class listed, as JSON ints."""
    counts = table["class"].value_counts()
    return {c: int(counts.get(c, 0)) for c in COVERAGE_CLASSES}


def _check_columns(addresses: pd.DataFrame, buurten: gpd.GeoDataFrame | None) -> None:
    """Raise when the address register or the buurten lack a required column."""
    missing = [c for c in ("address_key", "buurtcode") if c not in addresses]
    if missing:
        raise BuurtgroepenError(
            f"`addresses` lacks column(s) {missing}; attach buurtcodes with "
            "partition.boundaries and build keys with partition.addresses first."
        )
    if buurten is not None:
        missing = [c for c in ("buurtcode", "buurtnaam") if c not in buurten]
        if missing:
            raise BuurtgroepenError(
                f"`buurten` lacks column(s) {missing}; normalise the buurt "
                "polygons with partition.boundaries first."
            )


def _residential_register(addresses: pd.DataFrame) -> pd.DataFrame:
    """Return the residential addresses with a buurtcode, one row per key."""
    keep = ["address_key", "buurtcode", "woonplaats"]
    register = addresses.reindex(columns=keep)

    # residential filter where a gebruiksdoel is known (see buurt_coverage Notes)
    register = register[_is_residential(addresses)]

    # drop rows that cannot be counted, and say how many
    no_buurt = register["buurtcode"].isna()
    key = register["address_key"]
    duplicated = key.duplicated() & key.notna() & ~no_buurt
    _warn_dropped(int(no_buurt.sum()), "have no `buurtcode` and are not counted")
    _warn_dropped(int(duplicated.sum()), "repeat an `address_key` and count once")
    return register[~no_buurt & ~duplicated]


def _warn_dropped(n: int, what: str, depth: int = 2) -> None:
    """Warn that ``n`` addresses were left out of the counts, if any.

    ``depth`` is the number of library frames between the caller's code and
    this function, so the warning points at the caller's line.
    """
    if n:
        warnings.warn(
            f"{n} residential addresses {what}; fix the register to count them.",
            UserWarning,
            stacklevel=depth + 2,
        )


def _buurt_names(buurten: gpd.GeoDataFrame | None, codes: pd.Index) -> pd.Series:
    """Return buurtnaam by buurtcode, warning about codes absent from buurten."""
    if buurten is None:
        return pd.Series(dtype="str", name="buurtnaam")
    return _area_names(buurten, "buurtcode", "buurtnaam", codes, "buurten", 3)


def _area_names(
    areas: pd.DataFrame,
    code: str,
    name: str,
    codes: pd.Index,
    argument: str = "areas",
    depth: int = 2,
) -> pd.Series:
    """Return the area names by code, warning about codes absent from ``areas``.

    ``depth`` counts the library frames above this one, as in ``_warn_dropped``.
    """
    names = areas.drop_duplicates(code).set_index(code)[name]

    # an address in an unknown area is still counted, but say so
    unknown = codes.difference(names.index)
    if len(unknown):
        warnings.warn(
            f"{len(unknown)} {code}s of `addresses` are not in `{argument}` "
            f"(e.g. {unknown[0]}); they are kept without a {name}. Use "
            f"{argument} of the same year as the register.",
            UserWarning,
            stacklevel=depth + 2,
        )
    return names.astype("str")


def _assemble(
    counts: pd.DataFrame,
    woonplaats: pd.Series,
    buurten: gpd.GeoDataFrame | None,
) -> pd.DataFrame:
    """Join counts, woonplaats and buurtnaam on one sorted buurtcode index."""
    names = _buurt_names(buurten, counts.index)
    codes = counts.index.union(names.index).astype("str").sort_values()

    result = pd.DataFrame(index=pd.Index(codes, name="buurtcode"))
    result["buurtnaam"] = names.reindex(codes).astype("str")
    result["woonplaats"] = woonplaats.reindex(codes).astype("str")
    for column in ("addresses", "registered_addresses"):
        result[column] = counts[column].reindex(codes).fillna(0).astype("int64")

    # 0 addresses gives NaN: no coverage to speak of, not 0 %
    total = result["addresses"].where(result["addresses"] > 0)
    result["coverage"] = (result["registered_addresses"] / total).astype("float64")
    return result[COVERAGE_COLUMNS]


def check_covered(
    covered: pd.DataFrame, radius: float, columns: tuple[str, ...]
) -> None:
    """Check a frame from :func:`address_coverage` before gaps or targets use it.

    Raises
    ------
    BuurtgroepenError
        When ``columns`` are missing, ``radius`` is not positive, or the frame
        was computed with another radius than the one asked for now.
    """
    missing = [c for c in columns if c not in covered]
    if missing:
        raise BuurtgroepenError(
            f"`covered` lacks column(s) {missing}; build it with "
            "partition.coverage.address_coverage from the address register."
        )
    used = covered.attrs.get("radius_m")
    if used is not None and not np.isclose(used, radius):
        raise BuurtgroepenError(
            f"`radius` is {radius} m but `covered` was computed with {used} m; "
            "pass the same radius to both."
        )
    if not radius > 0:
        raise BuurtgroepenError(f"`radius` must be positive, got {radius}.")
