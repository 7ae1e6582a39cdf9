"""Download a gemeente's BAG addresses and CBS boundaries from PDOK's OGC APIs.

Both datasets are served by PDOK as *OGC API - Features* (Part 1: Core, Part 2:
CRS by reference): ``GET {api}/collections/{collection}/items`` answers a GeoJSON
``FeatureCollection`` with ``numberReturned`` and ``links``; the link with
``rel="next"`` gives the next page (PDOK: at most 1,000 features per page) and
is absent on the last. Parameters used, all from those standards: ``f=json``,
``limit``, ``bbox`` with ``bbox-crs``, ``crs`` (RD New as
``http://www.opengis.net/def/crs/EPSG/0/28992``), and for the CBS collections
the property filter ``gemeentecode``.

- **CBS boundaries**: collections ``buurten`` and ``wijken`` of
  ``/cbs/wijken-en-buurten-{edition}/ogc/v1``, filtered on ``gemeentecode``.
  A service that ignores the filter is detected (features of other gemeenten
  on the first page) and stops the download instead of paging the country.
- **BAG addresses**: collection ``verblijfsobject`` of ``/kadaster/bag/ogc/v2``
  (each verblijfsobject with its main address flattened into its properties),
  paged by bounding box: the gemeente's extent is cut into square tiles and
  each tile is paged through its ``next`` links.

Resuming: every page is appended to a journal (JSON lines, flushed to disk)
with its ``next`` link. A download started again with the same journal skips
the finished tiles and continues each unfinished tile from its last ``next``
link, so no page is fetched twice; a page cut off by a crash is ignored and
fetched again. Features on a tile edge appear in both tiles and are kept once
(by feature id).
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import httpx
import pandas as pd
import shapely

from partition.errors import BuurtgroepenError
from partition.sources import RD_NEW, bag, cbs
from partition.sources._http import HttpClient, ServiceError

logger = logging.getLogger(__name__)

PDOK_API = "https://api.pdok.nl"
BAG_API_PATH = "/kadaster/bag/ogc/v2"
CBS_API_PATH = "/cbs/wijken-en-buurten-{edition}/ogc/v1"
CBS_EDITION = 2024
BAG_COLLECTION = "verblijfsobject"
CBS_COLLECTIONS = ("buurten", "wijken")
RD_CRS = "http://www.opengis.net/def/crs/EPSG/0/28992"
PAGE_SIZE = 1000
TILE_SIZE_M = 2000.0
_MAX_PAGES_PER_TILE = 10_000

Tile = tuple[float, float, float, float]
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Download:
    """What :func:`download_municipality` fetched.

    Attributes
    ----------
    boundaries
        The gemeente's buurten and wijken (see :class:`cbs.CbsBoundaries`).
    addresses
        The address register (see :func:`bag.import_bag`).
    fetched_on
        UTC date of the download, ``YYYY-MM-DD``.
    features
        Distinct BAG features fetched, before the status and area filters.
    """

    boundaries: cbs.CbsBoundaries
    addresses: gpd.GeoDataFrame
    fetched_on: str
    features: int


def download_municipality(
    gemeente: str,
    work_dir: str | Path,
    *,
    base_url: str = PDOK_API,
    edition: int = CBS_EDITION,
    tile_size: float = TILE_SIZE_M,
    page_size: int = PAGE_SIZE,
    client: HttpClient | None = None,
    progress: Progress | None = None,
) -> Download:
    """Fetch one gemeente's boundaries and addresses from PDOK.

    Parameters
    ----------
    gemeente
        The gemeentecode (``"GM0168"``).
    work_dir
        Folder for the page journal; created when the address download starts
        (after the boundaries confirmed the code), so a wrong code writes
        nothing. Keep it to resume; remove it after the outputs are written.
    base_url
        Root of the PDOK APIs; the dataset paths are appended to it.
    edition
        Edition year of the CBS wijken en buurten.
    tile_size
        Side of the square bounding-box tiles, in metres.
    page_size
        Features per page (``limit``), at most 1,000 at PDOK.
    client
        The HTTP client; a throttled one for PDOK by default.
    progress
        Called as ``progress(tiles_done, tiles_total)`` after each tile.

    Returns
    -------
    Download
        Boundaries, address register and date.

    Raises
    ------
    BuurtgroepenError
        For a code that is not a gemeentecode or that the CBS service does not
        know.
    ServiceError
        When a service keeps failing (the journal keeps what was fetched).
    """
    started = time.perf_counter()
    code = cbs.normalise_gemeentecode(gemeente)
    if code is None:
        msg = "`gemeente` must be a gemeentecode such as GM0168 (GM + four digits)"
        raise BuurtgroepenError(msg)
    own_client = client is None
    client = client or HttpClient(service="PDOK", min_interval=0.1)
    try:
        layers = fetch_cbs_layers(
            client, code, base_url=base_url, edition=edition, page_size=page_size
        )
        boundaries = cbs.import_cbs(layers, code, edition=edition)
        area = shapely.union_all(boundaries.buurten.geometry.to_numpy())
        grid = tiles(tuple(boundaries.buurten.total_bounds), tile_size)

        work_dir = Path(work_dir)
        work_dir.mkdir(parents=True, exist_ok=True)
        raw = fetch_bag_features(
            client,
            grid,
            work_dir / f"{code}-bag-pages.jsonl",
            base_url=base_url,
            page_size=page_size,
            progress=progress,
        )
    finally:
        if own_client:
            client.close()

    layer = bag.addresses_from_features(raw)
    register = bag.import_bag(
        {"verblijfsobject": layer}, within=area, source="PDOK BAG OGC API"
    )
    logger.info(
        "downloaded %s of %s: %d buurten, %s addresses in %.1f s",
        code,
        base_url,
        len(boundaries.buurten),
        f"{len(register):,}",
        time.perf_counter() - started,
    )
    today = datetime.now(UTC).date().isoformat()
    return Download(boundaries, register, today, len(raw))


def fetch_cbs_layers(
    client: HttpClient,
    gemeentecode: str,
    *,
    base_url: str = PDOK_API,
    edition: int = CBS_EDITION,
    page_size: int = PAGE_SIZE,
) -> list[tuple[str, gpd.GeoDataFrame]]:
    """The CBS buurten and wijken of one gemeente, as layers for ``import_cbs``.

    Raises
    ------
    BuurtgroepenError
        When the service has no buurten for the code.
    ServiceError
        When the service ignores the ``gemeentecode`` filter or keeps failing.
    """
    api = base_url.rstrip("/") + CBS_API_PATH.format(edition=edition)
    layers = []
    for collection in CBS_COLLECTIONS:
        params = {
            "f": "json",
            "limit": page_size,
            "crs": RD_CRS,
            "gemeentecode": gemeentecode,
        }
        url = f"{api}/collections/{collection}/items"
        features = [f for page, _ in iter_pages(client, url, params) for f in page]
        _check_filtered(features, gemeentecode, collection)
        frame = _geodataframe(features)
        layers.append((f"PDOK CBS wijken en buurten {edition}:{collection}", frame))

    if not len(layers[0][1]):
        msg = (
            f"`gemeente` {gemeentecode}: PDOK's CBS wijken en buurten {edition} has "
            "no buurten with this code; check the code (GM + four digits, such as "
            "GM0168 for Losser)"
        )
        raise BuurtgroepenError(msg)
    return layers


def fetch_bag_features(
    client: HttpClient,
    grid: list[Tile],
    journal_path: str | Path,
    *,
    base_url: str = PDOK_API,
    page_size: int = PAGE_SIZE,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """Page BAG verblijfsobjecten tile by tile, resuming from the journal.

    Parameters
    ----------
    client
        The HTTP client.
    grid
        Bounding boxes in EPSG:28992 metres, as :func:`tiles` makes them.
    journal_path
        The page journal; an existing journal of the same request is resumed,
        one of another request (other tiles or page size) is started anew.
    base_url
        Root of the PDOK APIs.
    page_size
        Features per page.
    progress
        Called as ``progress(tiles_done, tiles_total)``.

    Returns
    -------
    features
        One row per distinct feature: its properties and ``x``/``y`` (EPSG:28992).
    """
    url = base_url.rstrip("/") + f"{BAG_API_PATH}/collections/{BAG_COLLECTION}/items"
    header = {"url": url, "page_size": page_size, "tiles": [list(t) for t in grid]}
    journal = PageJournal(Path(journal_path), header)
    resumed = journal.open()
    try:
        for index, tile in enumerate(grid):
            state = journal.tiles.get(index)
            if state is None or state[1] is not None:
                page, following = (
                    (0, None) if state is None else (state[0] + 1, state[1])
                )
                _fetch_tile(
                    client, journal, index, tile, url, page, following, page_size
                )
            if progress is not None:
                progress(index + 1, len(grid))
    finally:
        journal.close()

    frame = _points_frame(journal.features())
    logger.info(
        "fetched %s distinct BAG features in %d tiles (%s pages, %d from an "
        "earlier run)",
        f"{len(frame):,}",
        len(grid),
        f"{journal.pages:,}",
        resumed,
    )
    return frame


def iter_pages(
    client: HttpClient, url: str, params: dict[str, Any] | None = None
) -> Iterator[tuple[list[dict], str | None]]:
    """Follow an OGC API items response through its ``next`` links.

    Yields
    ------
    page
        ``(features, next_url)``; ``next_url`` is ``None`` on the last page.
    """
    for _ in range(_MAX_PAGES_PER_TILE):
        body = client.get_json(url, params, cache=False, check=check_page)
        following = next_link(body, url)
        yield body["features"], following
        if following is None:
            return
        if following == url:
            msg = f"{client.service} gave a `next` link to the same page; stopping"
            raise ServiceError(msg)
        url, params = following, None
    raise ServiceError(f"{client.service} gave more than {_MAX_PAGES_PER_TILE} pages")


def check_page(body: Any) -> str | None:
    """What is wrong with an OGC API items page, or ``None`` when it is whole."""
    if not isinstance(body, dict) or not isinstance(body.get("features"), list):
        return "a page without a `features` list"
    returned = body.get("numberReturned")
    if isinstance(returned, int) and returned != len(body["features"]):
        return (
            f"a page with {len(body['features'])} features where "
            f"`numberReturned` says {returned}"
        )
    if not all(isinstance(f, dict) and "properties" in f for f in body["features"]):
        return "a page with features without `properties`"
    return None


def next_link(body: dict, url: str) -> str | None:
    """The absolute URL of the ``rel="next"`` link, or ``None``."""
    for link in body.get("links") or ():
        if isinstance(link, dict) and link.get("rel") == "next" and link.get("href"):
            return str(_join(url, str(link["href"])))
    return None


def tiles(bounds: tuple[float, ...], size: float) -> list[Tile]:
    """Cut a bounding box into square tiles, row by row from the south-west.

    Parameters
    ----------
    bounds
        ``(xmin, ymin, xmax, ymax)`` in metres; widened to whole metres.
    size
        Side of a tile in metres (the last row and column may be smaller).

    Returns
    -------
    grid
        Tiles that together cover the (widened) box; neighbours share edges.
    """
    if size <= 0:
        raise BuurtgroepenError(f"`tile_size` must be above 0 m, got {size}")
    xmin, ymin = math.floor(bounds[0]), math.floor(bounds[1])
    xmax, ymax = math.ceil(bounds[2]), math.ceil(bounds[3])
    columns = max(1, math.ceil((xmax - xmin) / size))
    rows = max(1, math.ceil((ymax - ymin) / size))
    return [
        (
            xmin + i * size,
            ymin + j * size,
            min(xmin + (i + 1) * size, xmax),
            min(ymin + (j + 1) * size, ymax),
        )
        for j in range(rows)
        for i in range(columns)
    ]


class PageJournal:
    """Append-only record of fetched pages, the basis of resuming.

    Line 1 is the header (the request); each further line is one page:
    ``{"tile": i, "page": n, "next": url-or-null, "features": [...]}``.

    Parameters
    ----------
    path
        The journal file.
    header
        The request; a journal with another header is discarded.
    """

    def __init__(self, path: Path, header: dict[str, Any]) -> None:
        self.path = path
        self.header = header
        self.tiles: dict[int, tuple[int, str | None]] = {}
        self.pages = 0
        self._features: dict[str, dict] = {}
        self._stream: Any = None

    def open(self) -> int:
        """Load an earlier journal of the same request; return its page count."""
        good = self._load() if self.path.is_file() else 0
        if good == 0:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            header = json.dumps({"header": self.header}) + "\n"
            self.path.write_text(header, encoding="utf-8")
            good = self.path.stat().st_size
            self.tiles, self.pages, self._features = {}, 0, {}
        else:
            # drop a line cut off by a crash, so that appends start clean
            with self.path.open("r+b") as stream:
                stream.truncate(good)
        self._stream = self.path.open("a", encoding="utf-8")
        return self.pages

    def append(
        self, tile: int, page: int, following: str | None, features: list
    ) -> None:
        """Record one page durably (flushed and synced before returning)."""
        record = {"tile": tile, "page": page, "next": following, "features": features}
        self._stream.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._stream.flush()
        os.fsync(self._stream.fileno())
        self._take(record)

    def close(self) -> None:
        """Close the journal file."""
        if self._stream is not None:
            self._stream.close()
            self._stream = None

    def features(self) -> list[dict]:
        """The distinct features recorded, in order of first appearance."""
        return list(self._features.values())

    def _load(self) -> int:
        """Read the journal; return the byte length of its whole lines (0: discard)."""
        good = 0
        with self.path.open("rb") as stream:
            for number, line in enumerate(stream):
                if not line.endswith(b"\n"):
                    break
                try:
                    record = json.loads(line)
                except ValueError:
                    break
                if number == 0:
                    if record.get("header") != self.header:
                        logger.info(
                            "journal %s is of another request; starting anew",
                            self.path.name,
                        )
                        return 0
                else:
                    self._take(record)
                good += len(line)
        return good

    def _take(self, record: dict) -> None:
        """Apply one page record to the state."""
        tile, page = int(record["tile"]), int(record["page"])
        done = self.tiles.get(tile)
        if done is not None and page <= done[0]:
            return
        self.tiles[tile] = (page, record["next"])
        self.pages += 1
        for feature in record["features"]:
            key = str(feature.get("id") or feature["properties"].get("identificatie"))
            self._features.setdefault(key, feature)


# --- steps ----------------------------------------------------------------------


def _fetch_tile(
    client: HttpClient,
    journal: PageJournal,
    index: int,
    tile: Tile,
    url: str,
    page: int,
    next_url: str | None,
    page_size: int,
) -> None:
    """Page through one tile from its first page or from where it stopped."""
    if next_url is None:
        params: dict[str, Any] | None = {
            "f": "json",
            "limit": page_size,
            "bbox": ",".join(f"{v:.3f}" for v in tile),
            "bbox-crs": RD_CRS,
            "crs": RD_CRS,
        }
        start = url
    else:
        params, start = None, next_url
    for offset, (features, following) in enumerate(iter_pages(client, start, params)):
        journal.append(index, page + offset, following, features)


def _check_filtered(features: list[dict], gemeentecode: str, collection: str) -> None:
    """Stop when the service returned features of other gemeenten."""
    codes = {str(f["properties"].get("gemeentecode", gemeentecode)) for f in features}
    others = sorted(codes - {gemeentecode})
    if others:
        msg = (
            f"PDOK's CBS collection `{collection}` ignored the `gemeentecode` filter "
            f"(it returned {', '.join(others[:3])}); download the Wijk- en "
            "Buurtkaart GeoPackage from CBS and use `data import-cbs` instead"
        )
        raise ServiceError(msg)


def _geodataframe(features: list[dict]) -> gpd.GeoDataFrame:
    """GeoJSON features (coordinates in RD New) as a GeoDataFrame."""
    if not features:
        return gpd.GeoDataFrame(geometry=gpd.GeoSeries([], crs=RD_NEW), crs=RD_NEW)
    return gpd.GeoDataFrame.from_features(features, crs=RD_NEW)


def _points_frame(features: list[dict]) -> pd.DataFrame:
    """Properties and point coordinates of point features; others are counted."""
    rows, x, y = [], [], []
    skipped = 0
    for feature in features:
        geometry = feature.get("geometry") or {}
        coordinates = geometry.get("coordinates")
        if geometry.get("type") != "Point" or not coordinates:
            skipped += 1
            continue
        rows.append(feature["properties"])
        x.append(float(coordinates[0]))
        y.append(float(coordinates[1]))
    if skipped:
        logger.warning("%d BAG features without a point are left out", skipped)
    frame = pd.DataFrame(rows)
    frame["x"] = pd.Series(x, dtype="float64")
    frame["y"] = pd.Series(y, dtype="float64")
    return frame


def _join(base: str, href: str) -> str:
    """Resolve a link against the URL of the page it came from."""
    return str(httpx.URL(base).join(href))
