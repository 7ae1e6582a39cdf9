"""The address register: check and normalise a frame into the data contract.

Pure: takes a frame (from a file, the demo generator or an importer) and returns
the register every later step expects, or raises one :class:`InputFileError`
naming the source, the row (data rows counted from 1) and the field.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from partition.addresses import normalise_address_columns
from partition.errors import AddressError, InputFileError

RD_NEW = "EPSG:28992"
ADDRESS_REQUIRED = ("postcode", "huisnummer", "openbare_ruimte", "woonplaats")
ADDRESS_OPTIONAL = (
    "huisletter",
    "huisnummertoevoeging",
    "nummeraanduiding_id",
    "buurtcode",
    "wijkcode",
    "gebruiksdoel",
    "gemeentecode",
)
# plausible RD New extent of the Netherlands, with a margin
_RD_X = (-7_000.0, 300_000.0)
_RD_Y = (289_000.0, 629_000.0)


def prepare_register(
    frame: pd.DataFrame, *, source: object = "addresses"
) -> gpd.GeoDataFrame:
    """Check and normalise an address register.

    Parameters
    ----------
    frame
        Address rows with the contract columns and either a point geometry (a
        GeoDataFrame with a CRS) or ``x``/``y`` in EPSG:28992 metres.
    source
        Name of the input, used in error messages.

    Returns
    -------
    addresses
        Normalised address columns (see ``docs/architecture.md``), ``address_key``,
        ``x``, ``y`` and point geometry in EPSG:28992, on a fresh RangeIndex.

    Raises
    ------
    InputFileError
        For a missing column, an unparseable value, a duplicate address or
        coordinates outside the Netherlands.
    """
    require_columns(source, frame, ADDRESS_REQUIRED)
    xy = _coordinates(source, frame)
    frame = pd.DataFrame(
        frame.drop(columns=[c for c in ("geometry", "x", "y") if c in frame])
    )

    # text columns as clean strings; absent optional ones become missing
    for col in ADDRESS_OPTIONAL:
        if col not in frame.columns:
            frame[col] = pd.NA
    for col in ("openbare_ruimte", "woonplaats"):
        frame[col] = frame[col].astype("string").str.strip()
        require_values(source, frame, col)
    for col in ("nummeraanduiding_id", "buurtcode", "wijkcode", "gebruiksdoel"):
        frame[col] = _as_text(frame[col])

    normalised = _normalise(source, frame)
    normalised[["x", "y"]] = xy.loc[normalised.index].to_numpy()
    duplicated = normalised["address_key"].duplicated()
    if duplicated.any():
        row = int(np.flatnonzero(duplicated.to_numpy())[0])
        msg = "the same postcode + huisnummer + huisletter + toevoeging appears twice"
        raise InputFileError(source, msg, row=row + 1, field="huisnummer")

    return gpd.GeoDataFrame(
        normalised.reset_index(drop=True),
        geometry=gpd.points_from_xy(normalised["x"], normalised["y"]),
        crs=RD_NEW,
    )


def require_columns(
    path: object, frame: pd.DataFrame, columns: tuple[str, ...]
) -> None:
    """Fail on the first contract column that is absent."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        msg = (
            f"missing column{'s' if len(missing) > 1 else ''} "
            + ", ".join(f"`{c}`" for c in missing)
            + f"; found {', '.join(map(str, frame.columns))}"
        )
        raise InputFileError(path, msg, field=missing[0])


def _coordinates(path: object, frame: pd.DataFrame) -> pd.DataFrame:
    """Return ``x``/``y`` in RD New from point geometry or ``x``/``y`` columns."""
    if isinstance(frame, gpd.GeoDataFrame) and frame.geometry.name in frame:
        geom = frame.geometry.to_crs(RD_NEW)
        not_point = geom.geom_type.ne("Point") | geom.is_empty
        if not_point.any():
            row = int(np.flatnonzero(not_point.to_numpy())[0])
            msg = "expected a point geometry for every address"
            raise InputFileError(path, msg, row=row + 1, field="geometry")
        xy = pd.DataFrame({"x": geom.x, "y": geom.y}, index=frame.index)
    else:
        require_columns(path, frame, ("x", "y"))
        xy = pd.DataFrame(index=frame.index)
        for col in ("x", "y"):
            # a Dutch spreadsheet writes 251234,5: a lone comma between digits
            text = frame[col].astype("string").str.strip()
            text = text.str.replace(r"^(-?\d+),(\d+)$", r"\1.\2", regex=True)
            values = pd.to_numeric(text, errors="coerce")
            bad = values.isna()
            if bad.any():
                row = int(np.flatnonzero(bad.to_numpy())[0])
                msg = "expected a number (RD New metres)"
                raise InputFileError(path, msg, row=row + 1, field=col)
            xy[col] = values.astype(float)

    for col, (low, high) in (("x", _RD_X), ("y", _RD_Y)):
        outside = ~xy[col].between(low, high)
        if outside.any():
            row = int(np.flatnonzero(outside.to_numpy())[0])
            msg = (
                f"coordinate outside the Netherlands in RD New ({low:,.0f} to "
                f"{high:,.0f} m); are the coordinates EPSG:28992?"
            )
            raise InputFileError(path, msg, row=row + 1, field=col)
    return xy


def require_values(path: object, frame: pd.DataFrame, col: str) -> None:
    """Fail on the first empty value of a required column."""
    empty = frame[col].isna() | frame[col].astype("string").str.len().eq(0)
    if empty.any():
        row = int(np.flatnonzero(empty.to_numpy())[0])
        raise InputFileError(path, "value is empty", row=row + 1, field=col)


def _as_text(values: pd.Series) -> pd.Series:
    """Text codes, without the ``.0`` pandas adds to integer-looking numbers."""
    text = values.astype("string").str.strip()
    return text.str.replace(r"\.0$", "", regex=True).replace("", pd.NA)


def _normalise(path: object, frame: pd.DataFrame) -> pd.DataFrame:
    """Normalise the address columns strictly, as a file error on the first problem."""
    try:
        normalised, _ = normalise_address_columns(frame, strict=True)
    except AddressError as exc:
        row = None if exc.row is None else exc.row + 1
        raise InputFileError(path, exc.reason, row=row, field=exc.field) from exc
    return normalised


def source_label(register: pd.DataFrame) -> str | None:
    """The register's own ``bron`` label (the demo's "generated" notice), if any.

    Generated data carries its label in a ``bron`` column so every map made from
    it says so, whichever command made the map.
    """
    if "bron" not in register.columns:
        return None
    labels = register["bron"].dropna().astype(str).unique()
    return "; ".join(sorted(labels)) or None
