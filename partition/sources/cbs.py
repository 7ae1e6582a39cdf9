"""CBS Wijk- en Buurtkaart: the wijk and buurt polygons of one gemeente.

CBS publishes the boundaries of every gemeente, wijk and buurt once a year (the
*Wijk- en Buurtkaart*, CC BY 4.0, "Bron: CBS, Kadaster"). Three layouts are
read, in any combination of files and layers:

- **editions 2016-2021**: ``BU_CODE``, ``BU_NAAM``, ``WK_CODE``, ``WK_NAAM``,
  ``GM_CODE``, ``GM_NAAM``, ``JRSTATCODE``; figures ``AANT_INW``, ``AANTAL_HH``,
  ``WONINGEN``.
- **editions 2022 onwards**: ``buurtcode``, ``buurtnaam``, ``wijkcode``,
  ``wijknaam``, ``gemeentecode``, ``gemeentenaam``; figures
  ``aantal_inwoners``, ``aantal_huishoudens``, ``woningvoorraad``.
- **generalised layers** (CBS gebiedsindelingen, such as those in
  ``../shared/data/``): ``statcode``/``statnaam`` with ``BU``/``WK``/``GM``
  codes and ``jrstatcode``; no figures.

Column names are matched case-insensitively. A layer is a buurt layer when it
has a buurt code, else a wijk layer when it has a wijk code, else a gemeente
layer (used for the gemeentenaam only). :func:`import_cbs` is pure; only
:func:`read_cbs_files` touches the disk.

The output columns are fixed: ``buurtcode``, ``buurtnaam``, ``wijkcode``,
``wijknaam``, ``gemeentecode``, ``gemeentenaam``, ``jaar`` (edition year) and
``AANT_INW``, ``AANTAL_HH``, ``WONINGEN`` (residents, households, dwellings;
missing where CBS keeps them secret or the edition lacks them), in EPSG:28992.

Notes
-----
CBS marks secret or unknown figures with negative numbers (``-99999999`` and
``-99999997`` in the older editions, ``-99995`` and ``-99997`` in the newer);
every negative figure is stored as missing. Buurten marked as water only
(``WATER``/``water`` = ``"JA"``) are left out. The edition year comes from
``jrstatcode`` (``2024BU01680001``), a ``jaar`` column, or a four-digit year in
the file name, in that order, unless the caller names it.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from partition.errors import BuurtgroepenError, CRSError, InputFileError
from partition.sources import RD_NEW, read_layers

logger = logging.getLogger(__name__)

STAT_COLUMNS = ("AANT_INW", "AANTAL_HH", "WONINGEN")
BUURT_COLUMNS = (
    "buurtcode",
    "buurtnaam",
    "wijkcode",
    "wijknaam",
    "gemeentecode",
    "gemeentenaam",
    "jaar",
    *STAT_COLUMNS,
)
WIJK_COLUMNS = (
    "wijkcode",
    "wijknaam",
    "gemeentecode",
    "gemeentenaam",
    "jaar",
    *STAT_COLUMNS,
)
LICENCE = "CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/deed.nl)"
ATTRIBUTION = "Bron: CBS, Kadaster"

# canonical column -> accepted spellings (lower case), old editions first
_ALIASES = {
    "buurtcode": ("bu_code", "buurtcode"),
    "buurtnaam": ("bu_naam", "buurtnaam"),
    "wijkcode": ("wk_code", "wijkcode"),
    "wijknaam": ("wk_naam", "wijknaam"),
    "gemeentecode": ("gm_code", "gemeentecode"),
    "gemeentenaam": ("gm_naam", "gemeentenaam"),
    "statcode": ("statcode",),
    "statnaam": ("statnaam",),
    "jrstatcode": ("jrstatcode",),
    "jaar": ("jaar",),
    "water": ("water", "h2o"),
    "AANT_INW": ("aant_inw", "aantal_inwoners"),
    "AANTAL_HH": ("aantal_hh", "aantal_huishoudens"),
    "WONINGEN": ("woningen", "woningvoorraad"),
}
_CODE_PATTERN = {
    "buurt": r"^BU\d{8}$",
    "wijk": r"^WK\d{6}$",
    "gemeente": r"^GM\d{4}$",
}
_GEMEENTE_CODE = re.compile(r"^\s*(?:GM)?\s*(\d{1,4})\s*$", re.IGNORECASE)
_YEAR_IN_NAME = re.compile(r"(?<!\d)(20\d{2})(?!\d)")


@dataclass(frozen=True)
class CbsBoundaries:
    """The imported boundaries of one gemeente, in EPSG:28992.

    Attributes
    ----------
    gemeentecode
        ``GM`` + four digits.
    gemeentenaam
        The name when a file gives it, else ``None``.
    jaar
        Edition year, or ``None`` when no file says it.
    buurten
        One row per buurt with :data:`BUURT_COLUMNS` and polygon geometry.
    wijken
        One row per wijk with :data:`WIJK_COLUMNS`; empty when no file has a
        wijk layer.
    sources
        The file (and layer) names the rows came from.
    generalised
        Whether any layer was a generalised ``statcode`` layer.
    """

    gemeentecode: str
    gemeentenaam: str | None
    jaar: int | None
    buurten: gpd.GeoDataFrame
    wijken: gpd.GeoDataFrame
    sources: list[str] = field(default_factory=list)
    generalised: bool = False


def read_cbs_files(paths: Sequence[str | Path]) -> list[tuple[str, pd.DataFrame]]:
    """Read every layer of the given CBS files.

    Parameters
    ----------
    paths
        GeoPackages, GeoJSON files or Shapefiles of the Wijk- en Buurtkaart
        (or the generalised layers).

    Returns
    -------
    layers
        ``(source, frame)`` per layer, the source naming the file and, for
        files with several layers, the layer (``"wijkenbuurten_2023.gpkg:buurten"``).

    Raises
    ------
    InputFileError
        When a file is missing or unreadable.
    CRSError
        When a spatial layer declares no CRS.
    """
    layers: list[tuple[str, pd.DataFrame]] = []
    for path in map(Path, paths):
        frames = read_layers(path)
        for name, frame in frames.items():
            source = path.name if len(frames) == 1 else f"{path.name}:{name}"
            layers.append((source, frame))
    return layers


def import_cbs(
    layers: Iterable[tuple[str, pd.DataFrame]],
    gemeente: str,
    *,
    edition: int | None = None,
) -> CbsBoundaries:
    """Select one gemeente's wijken and buurten from CBS layers.

    Parameters
    ----------
    layers
        ``(source, frame)`` pairs as :func:`read_cbs_files` returns them; the
        frames need a declared CRS (any; the result is EPSG:28992).
    gemeente
        The gemeentecode (``"GM0168"``, ``"0168"`` or ``"168"``) or the
        gemeentenaam (``"Losser"``, case-insensitive; needs a file with
        ``gemeentenaam``/``GM_NAAM``).
    edition
        Edition year to record instead of the one found in the data.

    Returns
    -------
    CbsBoundaries
        The buurten and wijken of that gemeente.

    Raises
    ------
    InputFileError
        For a layer without CBS code columns, or a selected row with a
        malformed code or without polygon geometry.
    CRSError
        For a spatial layer without CRS.
    BuurtgroepenError
        When the gemeente is in none of the layers, or a name is given but no
        layer has gemeente names.
    """
    started = time.perf_counter()
    layers = list(layers)
    parts = [_level_rows(source, frame) for source, frame in layers]
    rows = {
        level: _concat([p[level] for p in parts if level in p])
        for level in ("buurt", "wijk", "gemeente")
    }
    if not any(len(frame) for frame in rows.values()):
        msg = (
            "none of the files holds CBS wijk or buurt polygons; pass the Wijk- en "
            "Buurtkaart as GeoPackage, GeoJSON or Shapefile"
        )
        raise BuurtgroepenError(msg)

    for level, frame in rows.items():
        frame["gemeentecode"] = _gemeentecode_of(frame, level)
    code, name = _resolve_gemeente(gemeente, rows, [s for s, _ in layers])
    buurten = _select(rows["buurt"], code, "buurt")
    wijken = _select(rows["wijk"], code, "wijk")
    if buurten.empty:
        msg = (
            f"the files hold no buurten of {code} (only wijken or gemeenten); "
            "pass the buurt layer of the Wijk- en Buurtkaart too"
        )
        raise BuurtgroepenError(msg)

    jaar = edition if edition is not None else _edition(buurten, wijken)
    name = name or _first_name(rows, code)
    result = CbsBoundaries(
        gemeentecode=code,
        gemeentenaam=name,
        jaar=jaar,
        buurten=_finish(buurten, wijken, BUURT_COLUMNS, name, jaar),
        wijken=_finish(wijken, None, WIJK_COLUMNS, name, jaar),
        sources=sorted({s for s, _ in layers}),
        generalised=any(p.get("generalised", False) for p in parts),
    )
    logger.info(
        "imported %d buurten and %d wijken of %s (edition %s) from %d layers in %.2f s",
        len(result.buurten),
        len(result.wijken),
        code,
        jaar if jaar is not None else "unknown",
        len(parts),
        time.perf_counter() - started,
    )
    return result


def normalise_gemeentecode(value: object) -> str | None:
    """``"GM0168"`` for ``"GM0168"``, ``"gm168"``, ``"0168"`` or ``168``, else None."""
    match = _GEMEENTE_CODE.match(str(value))
    return f"GM{int(match[1]):04d}" if match and int(match[1]) > 0 else None


def sources_section(result: CbsBoundaries, *, imported_on: str) -> str:
    """The CBS block of ``SOURCES.md``: edition, files, date, licence."""
    name = f" {result.gemeentenaam}" if result.gemeentenaam else ""
    edition = result.jaar if result.jaar is not None else "unknown"
    written = f"`buurten.gpkg` ({len(result.buurten)} buurten)"
    if len(result.wijken):
        written += f" and `wijken.gpkg` ({len(result.wijken)} wijken)"
    lines = [
        f"## CBS wijken en buurten: {result.gemeentecode}{name}, edition {edition}",
        "",
        f"- Files: {', '.join(result.sources)}",
        f"- Imported on {imported_on} into {written}",
        "- Publisher: Centraal Bureau voor de Statistiek (CBS); gemeentegrenzen "
        "from the Basisregistratie Kadaster.",
        f'- Licence: {LICENCE}. Attribution: "{ATTRIBUTION}".',
        "- Negative CBS figures (secret or unknown) are stored as missing.",
    ]
    if result.generalised:
        lines.append(
            "- The geometry is generalised (simplified): fine for maps, not for "
            "exact assignment of addresses near a boundary."
        )
    return "\n".join(lines) + "\n"


# --- steps ----------------------------------------------------------------------


def _level_rows(source: str, frame: pd.DataFrame) -> dict:
    """Rename a layer's columns and split its rows by level (buurt/wijk/gemeente)."""
    if not isinstance(frame, gpd.GeoDataFrame) or frame.geometry.name not in frame:
        return {}
    if frame.crs is None:
        msg = f"{source}: the layer declares no CRS; save it with its CRS"
        raise CRSError(msg)
    frame = _canonical_columns(frame).to_crs(RD_NEW)
    frame.attrs["source"] = source

    if "statcode" in frame.columns:
        return {**_split_statcode(frame), "generalised": True}
    for level in ("buurt", "wijk", "gemeente"):
        if f"{level}code" in frame.columns:
            return {level: frame}
    found = ", ".join(map(str, frame.columns.drop(frame.geometry.name)))
    msg = (
        "not a CBS Wijk- en Buurtkaart layer: expected a code column (`BU_CODE`/"
        "`WK_CODE` up to 2021, `buurtcode`/`wijkcode` from 2022, or `statcode`/"
        f"`statnaam` in the generalised layers); found {found or 'no columns'}"
    )
    raise InputFileError(source, msg)


def _canonical_columns(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Rename known CBS spellings to the canonical names and drop the rest.

    A layer with none of the known columns is returned as it is, so that the
    schema error can list what it does hold.
    """
    lower = {str(c).lower(): c for c in frame.columns if c != frame.geometry.name}
    renamed: dict[object, str] = {}
    for canonical, spellings in _ALIASES.items():
        original = next((lower[s] for s in spellings if s in lower), None)
        if original is not None:
            renamed[original] = canonical
    if not renamed:
        return frame
    result = frame[[*renamed, frame.geometry.name]].rename(columns=renamed)
    if result.geometry.name != "geometry":
        result = result.rename_geometry("geometry")
    return result


def _split_statcode(frame: gpd.GeoDataFrame) -> dict[str, gpd.GeoDataFrame]:
    """Generalised layers: ``statcode``/``statnaam`` rows by code prefix."""
    code = frame["statcode"].astype("string").str.strip().str.upper()
    name = (
        frame["statnaam"].astype("string")
        if "statnaam" in frame
        else pd.Series(pd.NA, index=frame.index, dtype="string")
    )
    levels = {}
    for level, prefix in (("buurt", "BU"), ("wijk", "WK"), ("gemeente", "GM")):
        mask = code.str.startswith(prefix).fillna(False).to_numpy()
        if mask.any():
            part = frame[mask].drop(columns=["statcode", "statnaam"], errors="ignore")
            part[f"{level}code"] = code[mask]
            part[f"{level}naam"] = name[mask]
            part.attrs["source"] = frame.attrs.get("source")
            levels[level] = part
    return levels


def _concat(frames: list[gpd.GeoDataFrame]) -> gpd.GeoDataFrame:
    """Rows of one level from all layers, remembering where each came from."""
    if not frames:
        return gpd.GeoDataFrame(geometry=gpd.GeoSeries([], crs=RD_NEW), crs=RD_NEW)
    tagged = [f.assign(_source=f.attrs.get("source")) for f in frames]
    return gpd.GeoDataFrame(pd.concat(tagged, ignore_index=True), crs=RD_NEW)


def _resolve_gemeente(
    gemeente: str, rows: dict[str, gpd.GeoDataFrame], sources: list[str]
) -> tuple[str, str | None]:
    """The gemeentecode asked for (by code or by name) and its name if known."""
    codes = sorted(
        set().union(*(set(f["gemeentecode"].dropna()) for f in rows.values()))
    )
    held = ", ".join(codes[:5]) + (
        f" and {len(codes) - 5} more" if len(codes) > 5 else ""
    )
    where = ", ".join(sources)

    code = normalise_gemeentecode(gemeente)
    if code is not None:
        if code not in codes:
            msg = (
                f"`gemeente` {code} is not in {where}: the files hold {held}; pass "
                "one of those codes (GM + four digits) or the file of that gemeente"
            )
            raise BuurtgroepenError(msg)
        return code, None

    names = _names(rows)
    if names.empty:
        msg = (
            f"`gemeente` {gemeente!r} looks like a name, but {where} has no "
            f"gemeente names; pass the gemeentecode instead (the files hold {held})"
        )
        raise BuurtgroepenError(msg)
    hit = names[names["gemeentenaam"].str.casefold() == gemeente.strip().casefold()]
    if hit.empty:
        msg = (
            f"`gemeente` {gemeente!r} is not in {where}; pass the gemeentenaam as "
            f"CBS writes it or the gemeentecode (the files hold {held})"
        )
        raise BuurtgroepenError(msg)
    return str(hit["gemeentecode"].iloc[0]), str(hit["gemeentenaam"].iloc[0])


def _gemeentecode_of(frame: gpd.GeoDataFrame, level: str) -> pd.Series:
    """``GM`` codes: the column where given, else derived from the row's own code."""
    given = (
        frame["gemeentecode"].map(normalise_gemeentecode, na_action="ignore")
        if "gemeentecode" in frame
        else pd.Series(pd.NA, index=frame.index, dtype="object")
    )
    if level == "gemeente" or f"{level}code" not in frame:
        return given.astype("string")
    own = frame[f"{level}code"].astype("string").str.upper()
    derived = ("GM" + own.str.slice(2, 6)).where(own.str.match(r"^(BU|WK)\d{4}"))
    return given.astype("string").fillna(derived)


def _names(rows: dict[str, gpd.GeoDataFrame]) -> pd.DataFrame:
    """Distinct (gemeentecode, gemeentenaam) pairs of all levels."""
    pairs = [
        frame[["gemeentecode", "gemeentenaam"]]
        for frame in rows.values()
        if "gemeentenaam" in frame and len(frame)
    ]
    if not pairs:
        return pd.DataFrame({"gemeentecode": [], "gemeentenaam": []}, dtype="string")
    names = pd.DataFrame(pd.concat(pairs)).astype("string").dropna()
    return names[names["gemeentenaam"].str.strip().ne("")].drop_duplicates()


def _first_name(rows: dict[str, gpd.GeoDataFrame], code: str) -> str | None:
    """The gemeentenaam of ``code`` in any layer, else ``None``."""
    names = _names(rows)
    hit = names[names["gemeentecode"] == code]
    return str(hit["gemeentenaam"].iloc[0]) if len(hit) else None


def _select(frame: gpd.GeoDataFrame, code: str, level: str) -> gpd.GeoDataFrame:
    """Rows of one gemeente, with valid codes and polygons, water left out."""
    part = frame[frame["gemeentecode"].eq(code).fillna(False).to_numpy()].copy()
    if part.empty:
        return part

    col = f"{level}code"
    part[col] = part[col].astype("string").str.strip().str.upper()
    bad = ~part[col].str.match(_CODE_PATTERN[level]).fillna(False)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        msg = f"expected a CBS {level} code such as {_example(level)}"
        raise InputFileError(part["_source"].iloc[row], msg, row=row + 1, field=col)
    part = _drop_water(part, level)
    part = _check_polygons(part, col)

    duplicated = part[col].duplicated()
    if duplicated.any():
        logger.warning(
            "%d %s codes appear in more than one layer or row; the first is kept",
            int(duplicated.sum()),
            level,
        )
    return part[~duplicated.to_numpy()]


def _example(level: str) -> str:
    """An example code of a level, for error messages."""
    return {"buurt": "BU01680001", "wijk": "WK016800", "gemeente": "GM0168"}[level]


def _drop_water(part: gpd.GeoDataFrame, level: str) -> gpd.GeoDataFrame:
    """Leave out areas CBS marks as water only (``WATER = "JA"``)."""
    if "water" not in part:
        return part
    water = part["water"].astype("string").str.strip().str.upper().eq("JA")
    water = water.fillna(False).to_numpy()
    if water.any():
        logger.info("left out %d %s areas marked as water", int(water.sum()), level)
    return part[~water]


def _check_polygons(part: gpd.GeoDataFrame, col: str) -> gpd.GeoDataFrame:
    """Polygon geometry for every row, repaired where invalid."""
    geometry = part.geometry
    bad = ~geometry.geom_type.isin(["Polygon", "MultiPolygon"]) | geometry.is_empty
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        msg = "expected a polygon geometry for every wijk and buurt"
        raise InputFileError(part["_source"].iloc[row], msg, row=row + 1, field=col)
    repaired = shapely.make_valid(
        geometry.to_numpy(), method="structure", keep_collapsed=False
    )
    return part.set_geometry(gpd.GeoSeries(repaired, index=part.index, crs=RD_NEW))


def _edition(buurten: gpd.GeoDataFrame, wijken: gpd.GeoDataFrame) -> int | None:
    """Edition year from ``jrstatcode``, ``jaar`` or the file names."""
    for frame in (buurten, wijken):
        if "jrstatcode" in frame:
            years = frame["jrstatcode"].astype("string").str.extract(r"^(20\d{2})")[0]
            if years.notna().any():
                return int(years.dropna().mode().iloc[0])
        if "jaar" in frame:
            years = pd.to_numeric(frame["jaar"], errors="coerce").dropna()
            if len(years):
                return int(years.mode().iloc[0])
    for frame in (buurten, wijken):
        for source in frame["_source"].dropna().unique() if "_source" in frame else ():
            match = _YEAR_IN_NAME.search(str(source))
            if match:
                return int(match[1])
    return None


def _finish(
    frame: gpd.GeoDataFrame,
    wijken: gpd.GeoDataFrame | None,
    columns: tuple[str, ...],
    name: str | None,
    jaar: int | None,
) -> gpd.GeoDataFrame:
    """Fixed output columns: names joined, figures cleaned, sorted by code."""
    frame = frame.copy()
    if "wijkcode" in columns and "wijkcode" not in frame and "buurtcode" in frame:
        frame["wijkcode"] = "WK" + frame["buurtcode"].str.slice(2, 8)
    if wijken is not None and "wijknaam" in wijken and "wijknaam" not in frame:
        names = wijken.set_index("wijkcode")["wijknaam"].astype("string")
        frame["wijknaam"] = frame["wijkcode"].map(names)

    for col in columns:
        if col not in frame:
            frame[col] = pd.NA
    for col in STAT_COLUMNS:
        frame[col] = _figures(frame[col])
    for col in columns:
        if col not in (*STAT_COLUMNS, "jaar"):
            frame[col] = frame[col].astype("string").str.strip()
    if name:
        frame["gemeentenaam"] = frame["gemeentenaam"].fillna(name)
    frame["jaar"] = pd.array([jaar] * len(frame), dtype="Int64")

    code = columns[0]
    result = frame[[*columns, "geometry"]].sort_values(code).reset_index(drop=True)
    return gpd.GeoDataFrame(result, geometry="geometry", crs=RD_NEW)


def _figures(values: pd.Series) -> pd.Series:
    """CBS counts as nullable integers; negative (secret/unknown) become missing."""
    numbers = pd.to_numeric(values, errors="coerce")
    numbers = numbers.where(numbers >= 0)
    return numbers.round().astype("Int64")
