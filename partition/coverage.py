"""Coverage of the address register by neighbourhood-watch registrations.

Coverage is the share of residential addresses in an area with at least one
registration. This first version aggregates per CBS buurt; the counts are meant for
maps and reports, so :func:`mask_small_counts` turns small counts into a label that
cannot single out a household.
"""

from __future__ import annotations

import logging
import time
import warnings

import geopandas as gpd
import numpy as np
import pandas as pd

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
    result = _assemble(counts, _main_woonplaats(register), buurten)

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
    if "gebruiksdoel" in addresses:
        use = addresses["gebruiksdoel"].astype("str")
        known = use.notna() & (use.str.strip() != "")
        residential = use.str.lower().str.contains(RESIDENTIAL_USE, regex=False)
        register = register[~known | residential.fillna(False)]

    # drop rows that cannot be counted, and say how many
    no_buurt = register["buurtcode"].isna()
    key = register["address_key"]
    duplicated = key.duplicated() & key.notna() & ~no_buurt
    _warn_dropped(int(no_buurt.sum()), "have no `buurtcode` and are not counted")
    _warn_dropped(int(duplicated.sum()), "repeat an `address_key` and count once")
    return register[~no_buurt & ~duplicated]


def _warn_dropped(n: int, what: str) -> None:
    """Warn that ``n`` addresses were left out of the counts, if any."""
    if n:
        warnings.warn(
            f"{n} residential addresses {what}; fix the register to count them.",
            UserWarning,
            stacklevel=4,
        )


def _main_woonplaats(register: pd.DataFrame) -> pd.Series:
    """Return the most common woonplaats per buurtcode, ties alphabetically."""
    counts = register.groupby(["buurtcode", "woonplaats"]).size()
    ranked = counts.rename("n").reset_index()
    ranked = ranked.sort_values(
        ["buurtcode", "n", "woonplaats"], ascending=[True, False, True]
    )
    first = ranked.drop_duplicates("buurtcode")
    return first.set_index("buurtcode")["woonplaats"]


def _buurt_names(buurten: gpd.GeoDataFrame | None, codes: pd.Index) -> pd.Series:
    """Return buurtnaam by buurtcode, warning about codes absent from buurten."""
    if buurten is None:
        return pd.Series(dtype="str", name="buurtnaam")
    names = buurten.drop_duplicates("buurtcode").set_index("buurtcode")["buurtnaam"]

    # an address in an unknown buurt is still counted, but say so
    unknown = codes.difference(names.index)
    if len(unknown):
        warnings.warn(
            f"{len(unknown)} buurtcodes of `addresses` are not in `buurten` "
            f"(e.g. {unknown[0]}); they are kept without a buurtnaam. Use "
            "buurten of the same year as the register.",
            UserWarning,
            stacklevel=4,
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
