"""Read the input files of the data contracts and write run outputs atomically.

This is the only module of the library that touches the disk. Readers check a file
completely before returning, so a bad file fails with one :class:`InputFileError`
naming the file, the row and the field, and nothing downstream runs. Writers
assemble every output in a temporary folder next to the target and move the files
into place only when all of them are written.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio

from partition.boundaries import normalise_boundaries
from partition.errors import CRSError, InputFileError
from partition.register import prepare_register, require_columns, require_values

logger = logging.getLogger(__name__)

# the start of a CSV file that tells its separator and whether it is text
_HEAD_BYTES = 65_536

RD_NEW = "EPSG:28992"
ADDRESS_LAYERS = ("addresses",)
"""Layer names read as the address register from a multi-layer GeoPackage."""
BOUNDARY_LAYERS = ("buurten", "wijken")
"""Layer names read as boundaries from a multi-layer GeoPackage, in this order."""
REGISTRATION_REQUIRED = ("registration_id", "postcode", "huisnummer")
REGISTRATION_OPTIONAL = (
    "huisletter",
    "huisnummertoevoeging",
    "telefoon",
    "openbare_ruimte",
    "woonplaats",
)
_GEO_SUFFIXES = {".geojson", ".json", ".gpkg", ".parquet", ".shp"}


def read_addresses(path: str | Path) -> gpd.GeoDataFrame:
    """Read an address register (CSV with ``x``/``y``, GeoJSON or GeoPackage).

    See :func:`partition.register.prepare_register` for the checks and the
    columns returned.

    Raises
    ------
    InputFileError
        For an unreadable file or any problem ``prepare_register`` finds, naming
        the row (1-based data row) and the field.
    CRSError
        For a geo file without a declared CRS.
    """
    started = time.perf_counter()
    path = Path(path)
    result = prepare_register(read_table(path, ADDRESS_LAYERS), source=path)
    logger.info(
        "read %s addresses from %s in %.2f s",
        f"{len(result):,}",
        path.name,
        time.perf_counter() - started,
    )
    return result


def read_registrations(path: str | Path) -> pd.DataFrame:
    """Read a registrations CSV, keeping the values as residents typed them.

    Values are checked for presence here and for form by the geocoder, which
    reports each bad row with a reason instead of rejecting the whole file.

    Raises
    ------
    InputFileError
        For a missing column or a missing or repeated ``registration_id``.
    """
    path = Path(path)
    return check_registrations(_read_csv(path), path)


def check_registrations(frame: pd.DataFrame, path: str | Path) -> pd.DataFrame:
    """Check a registrations table read from ``path`` (columns, unique ids).

    Raises
    ------
    InputFileError
        For a missing column or a missing or repeated ``registration_id``.
    """
    path = Path(path)
    frame = frame.copy()
    require_columns(path, frame, REGISTRATION_REQUIRED)
    for col in REGISTRATION_OPTIONAL:
        if col not in frame.columns:
            frame[col] = pd.NA
    frame["registration_id"] = frame["registration_id"].astype("string").str.strip()
    require_values(path, frame, "registration_id")
    repeated = frame["registration_id"].duplicated()
    if repeated.any():
        row = int(np.flatnonzero(repeated.to_numpy())[0])
        msg = "this `registration_id` was already used on an earlier row"
        raise InputFileError(path, msg, row=row + 1, field="registration_id")
    logger.info("read %s registrations from %s", f"{len(frame):,}", path.name)
    return frame


def read_assignments(path: str | Path) -> pd.DataFrame:
    """Read the ``assignments.csv`` of an earlier run.

    An optional ``added`` column says whether the beheerder has added the member
    to the WhatsApp group yet (``yes``/``no``, also ``ja``/``nee``, ``true``/
    ``false``, ``1``/``0``); it is read as booleans. An optional ``handed_on``
    column, written by ``rebalance``, gives per row the members the row's group
    handed on to a neighbour since it was made or last split (a whole number,
    at least 0); it is read as integers.

    Raises
    ------
    InputFileError
        For a missing column, an empty value, a registration listed twice, an
        ``added`` value that is none of those or a ``handed_on`` value that is
        not a whole number from 0 to 999,999,999.
    """
    path = Path(path)
    frame = _read_csv(path)
    require_columns(path, frame, ("registration_id", "group_id"))
    for col in ("registration_id", "group_id"):
        frame[col] = frame[col].astype("string").str.strip()
        require_values(path, frame, col)
    repeated = frame["registration_id"].duplicated()
    if repeated.any():
        row = int(np.flatnonzero(repeated.to_numpy())[0])
        msg = "this `registration_id` is assigned twice"
        raise InputFileError(path, msg, row=row + 1, field="registration_id")
    if "added" in frame.columns:
        frame["added"] = _yes_no(path, frame["added"], "added")
    if "handed_on" in frame.columns:
        frame["handed_on"] = _count(path, frame["handed_on"], "handed_on")
    return frame


_YES = {"yes", "y", "ja", "j", "true", "1"}
_NO = {"no", "n", "nee", "false", "0"}


def _yes_no(path: Path, values: pd.Series, field: str) -> pd.Series:
    """Booleans from yes/no text; a file error on the first other value."""
    text = values.astype("string").str.strip().str.lower()
    bad = ~text.isin(_YES | _NO).fillna(False).to_numpy(dtype=bool)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        msg = "must be yes or no (ja/nee, true/false, 1/0)"
        raise InputFileError(path, msg, row=row + 1, field=field)
    return text.isin(_YES).astype(bool)


def _count(path: Path, values: pd.Series, field: str) -> pd.Series:
    """Whole numbers from 0 to 999,999,999 in digits 0-9; else a file error."""
    text = values.astype("string").str.strip()
    bad = ~text.str.fullmatch(r"[0-9]{1,9}").fillna(False).to_numpy(dtype=bool)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        msg = "must be a whole number from 0 to 999999999"
        raise InputFileError(path, msg, row=row + 1, field=field)
    return text.astype("int64")


def read_boundaries(path: str | Path) -> dict[str, gpd.GeoDataFrame]:
    """Read a wijk/buurt boundary file (GeoJSON or GeoPackage) into RD New layers.

    See :func:`partition.boundaries.normalise_boundaries` for the columns.
    """
    path = Path(path)
    frame = _read_geo(path, BOUNDARY_LAYERS)
    return normalise_boundaries(frame, source=path)


def write_outputs(
    out_dir: str | Path, writers: dict[str, Callable[[Path], None]]
) -> Path:
    """Write a run's files into ``out_dir`` all at once or not at all.

    Parameters
    ----------
    out_dir
        Target folder; created when missing. Files of earlier runs with other
        names are left alone.
    writers
        Relative file name -> function writing that file to the path it is given.

    Returns
    -------
    out_dir
        The target folder as a Path.
    """
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with _staging(out_dir.parent) as staging:
        for name, write in writers.items():
            target = staging / name
            target.parent.mkdir(parents=True, exist_ok=True)
            write(target)
        out_dir.mkdir(exist_ok=True)
        for name in writers:
            (out_dir / name).parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / name, out_dir / name)
    return out_dir


def csv_writer(frame: pd.DataFrame) -> Callable[[Path], None]:
    """A writer for :func:`write_outputs` that saves ``frame`` as UTF-8 CSV."""
    return lambda path: frame.to_csv(path, index=False)


def geojson_writer(frame: gpd.GeoDataFrame) -> Callable[[Path], None]:
    """A writer that saves ``frame`` as GeoJSON in EPSG:4326 (RFC 7946)."""
    return lambda path: frame.to_crs("EPSG:4326").to_file(path, driver="GeoJSON")


def parquet_writer(frame: pd.DataFrame) -> Callable[[Path], None]:
    """A writer that saves ``frame`` as Parquet; a GeoDataFrame as GeoParquet.

    GeoParquet keeps the frame's own CRS (RD New here), unlike the GeoJSON
    writer, which is for display.
    """
    if isinstance(frame, gpd.GeoDataFrame):
        return lambda path: frame.to_parquet(path, index=False)
    return lambda path: pd.DataFrame(frame).to_parquet(path, index=False)


def json_writer(data: object) -> Callable[[Path], None]:
    """A writer that saves ``data`` as indented UTF-8 JSON."""

    def write(path: Path) -> None:
        path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")

    return write


def text_writer(text: str) -> Callable[[Path], None]:
    """A writer that saves ``text`` as UTF-8."""
    return lambda path: path.write_text(text, encoding="utf-8")


@contextmanager
def _staging(parent: Path) -> Iterator[Path]:
    """A temporary folder beside the target, removed whatever happens."""
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=parent))
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def check_declared_crs(frame: gpd.GeoDataFrame, where: object) -> None:
    """Refuse geometry without a CRS, or RD metres that lost their CRS on the way.

    GeoJSON without a ``crs`` member is WGS84 by RFC 7946, so a file saved from RD
    New without its CRS reads as degrees far outside their range.

    Raises
    ------
    CRSError
        Naming ``where`` (the file, or the file and layer) and the fix.
    """
    if frame.crs is None:
        msg = f"{where}: the file declares no CRS; save it with its CRS and try again"
        raise CRSError(msg)
    if frame.crs.is_geographic and len(frame) and not frame.geometry.is_empty.all():
        minx, miny, maxx, maxy = frame.total_bounds
        if min(minx, miny) < -180 or max(maxx, maxy) > 180 or max(miny, maxy) > 90:
            msg = (
                f"{where}: the file declares no CRS (so WGS84 degrees are assumed) "
                "but holds coordinates in metres; save it with its CRS "
                "(EPSG:28992 for RD New)"
            )
            raise CRSError(msg)


def read_table(path: Path, layers: tuple[str, ...] = ()) -> pd.DataFrame:
    """Read CSV or a geo file (the first of ``layers`` a GeoPackage has), by suffix.

    No checks beyond a declared CRS for geo files; see :func:`read_addresses`.
    """
    if path.suffix.lower() in _GEO_SUFFIXES:
        return _read_geo(path, layers)
    return _read_csv(path)


def choose_layer(path: Path, layers: tuple[str, ...]) -> str | None:
    """The layer to read from a multi-layer GeoPackage; None for other files."""
    if path.suffix.lower() != ".gpkg":
        return None
    try:
        names = [str(name) for name, _ in pyogrio.list_layers(path)]
    except Exception as exc:  # pyogrio raises several unrelated types
        msg = f"not a readable GeoPackage ({type(exc).__name__})"
        raise InputFileError(path, msg) from exc
    if len(names) <= 1:
        return None
    for name in layers:
        if name in names:
            return name
    msg = (
        f"the GeoPackage holds several layers ({', '.join(names)}) and none of "
        f"{', '.join(layers) or 'the expected ones'}; save the layer as its own file"
    )
    raise InputFileError(path, msg)


def _read_csv(path: Path) -> pd.DataFrame:
    """Read a CSV with every column as text, so codes keep their leading zeros.

    Spreadsheets save CSV in several ways, and a steering group's volunteers use
    whatever they have: UTF-8 with or without a byte-order mark, or Windows-1252
    (Excel's "CSV" on a Dutch Windows); commas, or the semicolons a Dutch Excel
    writes (or tabs). The separator is the one of those the header line uses
    most, outside quotes.
    """
    if not path.is_file():
        raise InputFileError(path, "file not found")
    with path.open("rb") as file:
        head = file.read(_HEAD_BYTES)
    if b"\x00" in head:
        msg = "not a readable CSV file (binary, or UTF-16 rather than UTF-8 text)"
        raise InputFileError(path, msg)
    if not head.strip().removeprefix(b"\xef\xbb\xbf").strip():
        raise InputFileError(path, "the file is empty")
    separator = _separator(head.decode("utf-8-sig", errors="replace"))

    for encoding in ("utf-8-sig", "cp1252"):
        try:
            frame = pd.read_csv(
                path,
                sep=separator,
                encoding=encoding,
                dtype=str,
                keep_default_na=False,
                na_values=[""],
            )
        except UnicodeDecodeError:
            continue
        except (pd.errors.ParserError, ValueError) as exc:
            msg = f"not a readable CSV file ({type(exc).__name__})"
            raise InputFileError(path, msg) from exc
        if encoding != "utf-8-sig":
            logger.warning(
                "read %s as Windows-1252: it is not valid UTF-8 (if it is UTF-8 "
                "with a stray byte, letters with accents read wrongly)",
                path.name,
            )
        return frame
    msg = "not a readable CSV file (neither UTF-8 nor Windows-1252 text)"
    raise InputFileError(path, msg)


def _separator(head: str) -> str:
    """The separator of a CSV: comma, semicolon or tab, by the header line (the
    first line that is not blank, as the CSV reader skips blank lines)."""
    header = next((line for line in head.splitlines() if line.strip()), "")
    unquoted = "".join(part for i, part in enumerate(header.split('"')) if i % 2 == 0)
    counts = {sep: unquoted.count(sep) for sep in (",", ";", "\t")}
    best = max(counts, key=lambda sep: counts[sep])
    return best if counts[best] else ","


def _read_geo(path: Path, layers: tuple[str, ...] = ()) -> gpd.GeoDataFrame:
    """Read a vector file with pyogrio, insisting on a declared CRS.

    A GeoPackage with several layers (such as the one ``buurtgroepen data
    download`` writes) is read from the first of ``layers`` it holds.
    """
    if not path.is_file():
        raise InputFileError(path, "file not found")
    layer = choose_layer(path, layers)
    try:
        if path.suffix.lower() == ".parquet":
            frame = gpd.read_parquet(path)
        else:
            frame = gpd.read_file(path, engine="pyogrio", layer=layer)
    except Exception as exc:  # pyogrio raises several unrelated types
        msg = f"not a readable vector file ({type(exc).__name__})"
        raise InputFileError(path, msg) from exc
    check_declared_crs(frame, path)
    return frame
