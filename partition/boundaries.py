"""Wijk and buurt polygons: normalise CBS-style boundary files, attach codes.

CBS publishes boundaries with ``statcode``/``statnaam`` (generalised layers) or
``buurtcode``/``buurtnaam`` and ``wijkcode``/``wijknaam`` (Wijk- en Buurtkaart).
Both come out of :func:`normalise_boundaries` as the same columns in RD New.
"""

from __future__ import annotations

import logging
import time

import geopandas as gpd
import numpy as np
import pandas as pd

from partition.errors import CRSError, InputFileError

logger = logging.getLogger(__name__)

RD_NEW = "EPSG:28992"
_CODE_COLUMNS = {
    "buurt": ("buurtcode", "buurtnaam"),
    "wijk": ("wijkcode", "wijknaam"),
}
_NEAREST_LIMIT_M = 250.0


def normalise_boundaries(
    frame: gpd.GeoDataFrame, *, source: object = "boundaries"
) -> dict[str, gpd.GeoDataFrame]:
    """Split a boundary layer into buurten and wijken with uniform columns.

    Parameters
    ----------
    frame
        Polygons with a declared CRS and either ``statcode``/``statnaam`` (codes
        starting ``BU`` or ``WK``) or ``buurtcode``/``buurtnaam`` and/or
        ``wijkcode``/``wijknaam``.
    source
        Name of the file, used in error messages.

    Returns
    -------
    layers
        ``{"buurt": ..., "wijk": ...}`` (a level may be absent), each with
        ``<level>code``, ``<level>naam`` and geometry in EPSG:28992; buurten also
        carry ``wijkcode``, derived from the code (``BU0168WWBB`` -> ``WK0168WW``)
        when the file does not give it.

    Raises
    ------
    CRSError
        When the layer has no CRS.
    InputFileError
        When no code/name column pair is present or polygons are missing.
    """
    if frame.crs is None:
        msg = (
            f"{source}: the boundary layer declares no CRS; save it with its CRS "
            "(CBS files are EPSG:28992) and try again."
        )
        raise CRSError(msg)
    frame = frame.to_crs(RD_NEW)
    if "statcode" in frame.columns and "statnaam" in frame.columns:
        frame = _split_statcode(frame)

    layers: dict[str, gpd.GeoDataFrame] = {}
    for level, (code, name) in _CODE_COLUMNS.items():
        if code not in frame.columns or name not in frame.columns:
            continue
        if level == "wijk" and "buurtcode" in frame.columns:
            # a buurt layer that also names its wijk: wijken are its dissolve
            part = frame[[code, name, "geometry"]].dissolve(by=[code, name])
            part = part.reset_index()
        else:
            part = frame[frame[code].notna()][[code, name, "geometry"]].copy()
        layers[level] = _check_polygons(part, code, source)
    if not layers:
        msg = (
            "no boundary code column found; expected `statcode`/`statnaam`, "
            "`buurtcode`/`buurtnaam` or `wijkcode`/`wijknaam`."
        )
        raise InputFileError(source, msg)

    if "buurt" in layers and "wijkcode" not in layers["buurt"].columns:
        layers["buurt"]["wijkcode"] = wijkcode_of(layers["buurt"]["buurtcode"])
    return layers


def wijkcode_of(buurtcode: pd.Series) -> pd.Series:
    """Derive the wijk code from CBS buurt codes: ``BU01680102`` -> ``WK016801``."""
    code = buurtcode.astype("string")
    return ("WK" + code.str.slice(2, 8)).where(code.str.match(r"^BU\d{8}$"))


def attach_boundaries(
    addresses: pd.DataFrame, buurten: gpd.GeoDataFrame
) -> pd.DataFrame:
    """Fill ``buurtcode`` and ``wijkcode`` of addresses from the buurt polygons.

    Codes already present in the register are kept. An address outside every
    polygon (generalised boundaries cut corners) takes the nearest buurt within
    250 m; farther ones keep no code and are counted in a WARNING.
    """
    started = time.perf_counter()
    result = addresses.copy()
    for col in ("buurtcode", "wijkcode"):
        if col not in result.columns:
            result[col] = pd.Series(pd.NA, index=result.index, dtype="string")
    need = result["buurtcode"].isna()
    if not need.any():
        return result

    points = gpd.GeoDataFrame(
        geometry=gpd.points_from_xy(result.loc[need, "x"], result.loc[need, "y"]),
        index=result.index[need],
        crs=RD_NEW,
    )
    polygons = buurten[["buurtcode", "wijkcode", "geometry"]]
    hit = gpd.sjoin(points, polygons, how="left", predicate="within")
    hit = hit[~hit.index.duplicated(keep="first")]
    missing = hit["buurtcode"].isna()
    if missing.any():
        near = gpd.sjoin_nearest(
            points.loc[missing[missing].index],
            polygons,
            how="left",
            max_distance=_NEAREST_LIMIT_M,
        )
        near = near[~near.index.duplicated(keep="first")]
        hit.loc[near.index, ["buurtcode", "wijkcode"]] = near[
            ["buurtcode", "wijkcode"]
        ].to_numpy()

    result.loc[need, "buurtcode"] = hit["buurtcode"].astype("string")
    result.loc[need, "wijkcode"] = hit["wijkcode"].astype("string")
    outside = int(result["buurtcode"].isna().sum())
    if outside:
        logger.warning(
            "%s addresses lie more than %.0f m outside every buurt and have no "
            "buurtcode",
            f"{outside:,}",
            _NEAREST_LIMIT_M,
        )
    logger.info(
        "attached buurt codes to %s addresses in %.2f s (%s outside)",
        f"{int(need.sum()):,}",
        time.perf_counter() - started,
        f"{outside:,}",
    )
    return result


def _split_statcode(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Turn ``statcode``/``statnaam`` into buurt or wijk columns by code prefix."""
    frame = frame.copy()
    code = frame["statcode"].astype("string")
    for level, prefix in (("buurt", "BU"), ("wijk", "WK")):
        is_level = code.str.startswith(prefix).fillna(False)
        col, name = _CODE_COLUMNS[level]
        if is_level.any():
            frame[col] = code.where(is_level)
            frame[name] = frame["statnaam"].astype("string").where(is_level)
    return frame


def _check_polygons(
    part: gpd.GeoDataFrame, code: str, source: object
) -> gpd.GeoDataFrame:
    """Keep valid polygons with a code, repairing invalid rings."""
    part = part[part[code].notna()].copy()
    geom_type = part.geometry.geom_type
    bad = ~geom_type.isin(["Polygon", "MultiPolygon"]) | part.geometry.is_empty
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        msg = "expected a polygon geometry for every boundary"
        raise InputFileError(source, msg, row=row + 1, field="geometry")
    part["geometry"] = part.geometry.make_valid()
    part[code] = part[code].astype("string")
    return part.reset_index(drop=True)
