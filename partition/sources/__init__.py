"""Importers of the official Dutch open data: CBS boundaries, BAG addresses, PDOK.

Modules:

- :mod:`partition.sources.cbs`: CBS Wijk- en Buurtkaart (any edition from 2016,
  and the generalised ``statcode``/``statnaam`` layers) -> wijk and buurt
  polygons of one gemeente.
- :mod:`partition.sources.bag`: BAG GeoPackage -> the address register contract
  of :func:`partition.register.prepare_register`.
- :mod:`partition.sources.pdok`: download of the same data from PDOK's OGC API
  Features (paged by bounding box, resumable).
- :mod:`partition.sources.locatieserver`: the PDOK Locatieserver geocoder.
- :mod:`partition.sources._http`: the only module that speaks HTTP (retries,
  backoff, throttle, on-disk cache). It needs ``httpx``; the file importers do
  not, so this package imports none of the HTTP modules by itself.

This module holds what the importers share: reading every layer of a vector
file with its CRS checked, and the ``SOURCES.md`` that travels with imported
data.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio

from partition.errors import CRSError, InputFileError
from partition.io import check_declared_crs

logger = logging.getLogger(__name__)

RD_NEW = "EPSG:28992"

SOURCES_TITLE = "# Sources of the data in this folder"
_BLOCK = re.compile(
    r"<!-- source:(?P<key>[a-z]+) -->\n.*?<!-- /source:(?P=key) -->\n?", re.S
)


def read_layers(
    path: str | Path, layers: tuple[str, ...] | None = None
) -> dict[str, pd.DataFrame]:
    """Read the layers of a vector file (GeoPackage, GeoJSON, Shapefile).

    Parameters
    ----------
    path
        The file.
    layers
        Lower-case names of the layers to read (others are skipped); ``None``
        reads every layer. Names are matched case-insensitively.

    Returns
    -------
    layers
        Lower-case layer name -> frame: a GeoDataFrame for spatial layers (CRS
        as declared in the file), a DataFrame for attribute-only tables.

    Raises
    ------
    InputFileError
        When the file is missing or not a readable vector file.
    CRSError
        When a spatial layer declares no CRS, or declares WGS84 (the GeoJSON
        default) while holding coordinates in metres.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "file not found")
    try:
        names = [str(name) for name, _ in pyogrio.list_layers(path)]
    except Exception as exc:  # pyogrio raises several unrelated types
        msg = f"not a readable vector file ({type(exc).__name__})"
        raise InputFileError(path, msg) from exc

    frames: dict[str, pd.DataFrame] = {}
    for name in names:
        key = name.lower()
        if layers is not None and key not in layers:
            continue
        frames[key] = _read_layer(path, name, single=len(names) == 1)
    return frames


def merge_sources(existing: str | None, key: str, section: str) -> str:
    """Put one source's section into the text of a folder's ``SOURCES.md``.

    Each importer owns one block (``key`` such as ``"cbs"`` or ``"bag"``); a
    new import replaces its own block and keeps the blocks of the others, so
    boundaries and addresses imported into one folder keep both notices.

    Parameters
    ----------
    existing
        The current text of ``SOURCES.md``, or ``None`` when there is none.
    key
        Lower-case name of the source block.
    section
        Markdown of the block, starting with a ``##`` heading.

    Returns
    -------
    text
        The new text of ``SOURCES.md``.
    """
    block = f"<!-- source:{key} -->\n{section.strip()}\n<!-- /source:{key} -->\n"
    blocks = {m["key"]: m[0] for m in _BLOCK.finditer(existing or "")}
    blocks[key] = block
    return SOURCES_TITLE + "\n\n" + "\n".join(blocks[k] for k in sorted(blocks))


def _read_layer(path: Path, name: str, *, single: bool) -> pd.DataFrame:
    """Read one layer, insisting on a usable CRS for spatial layers."""
    where = path if single else f"{path}, layer `{name}`"
    try:
        frame = gpd.read_file(path, layer=name, engine="pyogrio")
    except Exception as exc:  # pyogrio raises several unrelated types
        msg = f"not a readable vector file ({type(exc).__name__})"
        raise InputFileError(path, msg) from exc
    if not isinstance(frame, gpd.GeoDataFrame) or frame.geometry.name not in frame:
        return pd.DataFrame(frame)
    if frame.crs is None:
        msg = (
            f"{where}: the layer declares no CRS; save it with its CRS (CBS and "
            "BAG files are EPSG:28992) and try again"
        )
        raise CRSError(msg)
    check_declared_crs(frame, where)
    return frame
