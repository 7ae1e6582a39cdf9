"""Fixtures of the open-data importers: small files in the official schemas and a
real HTTP server on 127.0.0.1 answering in the documented PDOK formats.

All addresses, streets and polygons here are fictional (fixture data); only the
schemas (layer and column names, code formats, statuses) follow the official
BAG, CBS and PDOK documentation cited in ``docs/data_sources.md``.
"""

from __future__ import annotations

import json
import re
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
import shapely

RD = "EPSG:28992"
RD_URI = "http://www.opengis.net/def/crs/EPSG/0/28992"
BAG_ITEMS = "/kadaster/bag/ogc/v2/collections/verblijfsobject/items"
CBS_ITEMS = "/cbs/wijken-en-buurten-2024/ogc/v1/collections/{}/items"
FREE = "/bzk/locatieserver/search/v3_1/free"

# documented query parameters (OGC API Features Part 1 + 2, Locatieserver v3.1)
OGC_PARAMS = {"f", "limit", "bbox", "bbox-crs", "crs", "cursor"}
CBS_PARAMS = OGC_PARAMS | {"gemeentecode"}
FREE_PARAMS = {"q", "fq", "fl", "rows", "start", "sort", "df", "bq", "lat", "lon", "wt"}


def box(x0: float, y0: float, x1: float, y1: float) -> shapely.Polygon:
    """A rectangle in RD New metres."""
    return shapely.box(x0, y0, x1, y1)


# --- the fictional gemeente of the HTTP tests: GM0168, 4 x 2 km, 2 buurten ----

GEMEENTE_BUURTEN = [
    ("BU01680001", "Dorp-West", box(260_000, 470_000, 262_000, 472_000)),
    ("BU01680002", "Dorp-Oost", box(262_000, 470_000, 264_000, 472_000)),
]
NEIGHBOUR_BUURT = ("BU01530101", "Buurland", box(258_000, 470_000, 260_000, 472_000))


def bag_features() -> list[dict]:
    """Flat BAG verblijfsobjecten as the OGC API serves them, in and around GM0168.

    A grid of 30 x 5 points (x 258,100-263,900, y 470,100-471,700), the first 10
    columns in the neighbour gemeente; plus three points on the tile edge
    x = 262,000. Every 7th object is only "gevormd" (not in use).
    """
    points = [
        (258_100 + 200 * i, 470_100 + 400 * j) for j in range(5) for i in range(30)
    ]
    points += [(262_000, 470_500), (262_000, 471_000), (262_000, 471_500)]
    features = []
    for n, (x, y) in enumerate(points):
        inside = x > 260_000
        code = "0168" if inside else "0153"
        features.append(
            {
                "type": "Feature",
                "id": f"vbo-{n:04d}",
                "geometry": {"type": "Point", "coordinates": [x, y]},
                "properties": {
                    "identificatie": f"{code}01{n:010d}",
                    "status": "Verblijfsobject gevormd"
                    if n % 7 == 3
                    else "Verblijfsobject in gebruik",
                    "gebruiksdoel": "woonfunctie" if n % 5 else "winkelfunctie",
                    "oppervlakte": 80 + n,
                    "hoofdadres_identificatie": f"{code}20{n:010d}",
                    "postcode": f"{7581 if inside else 7522}{'ABCDEFGHJK'[n % 10]}A",
                    "huisnummer": n + 1,
                    "huisletter": "A" if n % 11 == 0 else None,
                    "toevoeging": None,
                    "openbare_ruimte_naam": f"Proefstraat {n // 10}",
                    "woonplaats_naam": "Dorp" if inside else "Buurland",
                    "bronhouder_identificatie": code,
                },
            }
        )
    return features


def expected_bag_ids(features: list[dict]) -> set[str]:
    """Ids the download must keep: in GM0168 (x > 260,000) and in use."""
    return {
        f["properties"]["hoofdadres_identificatie"]
        for f in features
        if f["geometry"]["coordinates"][0] > 260_000
        and f["properties"]["status"] == "Verblijfsobject in gebruik"
    }


def cbs_features() -> dict[str, list[dict]]:
    """The CBS buurten and wijken collections (2024 property names)."""
    buurten = [
        _cbs_feature(code, name, poly, "buurt")
        for code, name, poly in [*GEMEENTE_BUURTEN, NEIGHBOUR_BUURT]
    ]
    wijken = [
        _cbs_feature(
            "WK016800", "Wijk 00 Dorp", box(260_000, 470_000, 264_000, 472_000), "wijk"
        ),
        _cbs_feature("WK015301", "Wijk 01 Buurland", NEIGHBOUR_BUURT[2], "wijk"),
    ]
    return {"buurten": buurten, "wijken": wijken}


def _cbs_feature(code: str, name: str, poly: shapely.Polygon, level: str) -> dict:
    """One CBS feature with the 2022+ property names."""
    gemeente = "GM" + code[2:6]
    properties = {
        f"{level}code": code,
        f"{level}naam": name,
        "gemeentecode": gemeente,
        "gemeentenaam": "Losser" if gemeente == "GM0168" else "Enschede",
        "jrstatcode": f"2024{code}",
        "water": "NEE",
        "aantal_inwoners": 1200,
        "aantal_huishoudens": -99997,
        "woningvoorraad": 480,
    }
    if level == "buurt":
        properties["wijkcode"] = "WK" + code[2:8]
    return {
        "type": "Feature",
        "id": code,
        "geometry": shapely.geometry.mapping(poly),
        "properties": properties,
    }


# --- Locatieserver documents (v3.1 `free`, type adres) ---------------------------


def adres_doc(
    postcode: str,
    huisnummer: int,
    straat: str,
    woonplaats: str,
    *,
    letter: str = "",
    toevoeging: str = "",
    gemeente: str = "0168",
    n: int = 0,
) -> dict:
    """A Locatieserver address document with the documented fields."""
    doc = {
        "type": "adres",
        "id": f"adr-{n:032x}",
        "weergavenaam": "fixture",
        "nummeraanduiding_id": f"{gemeente}20{n:010d}",
        "adresseerbaarobject_id": f"{gemeente}01{n:010d}",
        "postcode": postcode,
        "huisnummer": huisnummer,
        "huis_nlt": f"{huisnummer}{letter}{'-' + toevoeging if toevoeging else ''}",
        "straatnaam": straat,
        "woonplaatsnaam": woonplaats,
        "gemeentecode": gemeente,
        "gemeentenaam": "Losser" if gemeente == "0168" else "Enschede",
        "buurtcode": f"BU{gemeente}0001",
        "wijkcode": f"WK{gemeente}00",
        "centroide_rd": f"POINT({260_100 + 10 * n}.5 {471_000 + 5 * n}.25)",
        "centroide_ll": "POINT(7.0 52.3)",
    }
    if letter:
        doc["huisletter"] = letter
    if toevoeging:
        doc["huisnummertoevoeging"] = toevoeging
    return doc


def locatieserver_docs() -> list[dict]:
    """Fixture addresses covering every matching case of the geocoder."""
    rows = [
        ("7581AB", 12, "Kerkstraat", "Losser", "", ""),
        ("7581AB", 12, "Kerkstraat", "Losser", "A", ""),
        ("7581AB", 12, "Kerkstraat", "Losser", "B", ""),
        ("7581AB", 14, "Kerkstraat", "Losser", "", ""),
        ("7581AC", 5, "Molenweg", "Losser", "", "1"),
        ("7581AC", 5, "Molenweg", "Losser", "", "2"),
        ("7581AD", 7, "Markt", "Losser", "", "HS"),
        ("7587AA", 3, "Dorpsstraat", "De Lutte", "", ""),
    ]
    docs = [
        adres_doc(pc, nr, st, wp, letter=lt, toevoeging=tv, n=n)
        for n, (pc, nr, st, wp, lt, tv) in enumerate(rows)
    ]
    docs.append(adres_doc("7522AA", 3, "Stadsweg", "Enschede", gemeente="0153", n=99))
    # not an address: the service also holds other types; fq=type:adres drops it
    docs.append(
        {**adres_doc("7581AB", 12, "Kerkstraat", "Losser", n=50), "type": "postcode"}
    )
    return docs


# --- the server --------------------------------------------------------------------


@dataclass
class Fault:
    """A reply that replaces the normal answer to matching requests."""

    path: str
    status: int = 500
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b'{"detail": "fixture fault"}'
    truncate: bool = False
    times: int = 1
    after: int = 0


@dataclass
class FakePdok:
    """State of the fixture server: datasets, faults and the request log."""

    bag: list[dict] = field(default_factory=bag_features)
    cbs: dict[str, list[dict]] = field(default_factory=cbs_features)
    docs: list[dict] = field(default_factory=locatieserver_docs)
    max_limit: int = 1000
    ignore_gemeente_filter: bool = False
    faults: list[Fault] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    url: str = ""

    def requests(self, path: str) -> list[str]:
        """Logged requests (path and query) whose path starts with `path`."""
        return [r for r in self.log if urlsplit(r).path.startswith(path)]


class _Handler(BaseHTTPRequestHandler):
    """Routes GET requests to the fake OGC API and Locatieserver."""

    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """Keep the test output clean."""

    def do_GET(self) -> None:  # noqa: N802
        """Answer one request."""
        fake = self.server.fake
        fake.log.append(self.path)
        parts = urlsplit(self.path)
        query = parse_qsl(parts.query, keep_blank_values=True)
        if self._fault(fake, parts.path):
            return
        if parts.path == BAG_ITEMS:
            self._items(fake.bag, query, OGC_PARAMS, fake)
        elif parts.path in {CBS_ITEMS.format(c) for c in fake.cbs}:
            collection = parts.path.split("/")[-2]
            self._cbs(fake, collection, query)
        elif parts.path == FREE:
            self._free(fake, query)
        else:
            self._send(404, {"detail": "not found"})

    def _fault(self, fake: FakePdok, path: str) -> bool:
        """Send the first matching fault, if any."""
        for fault in fake.faults:
            if not path.startswith(fault.path) or fault.times <= 0:
                continue
            if fault.after > 0:
                fault.after -= 1
                return False
            fault.times -= 1
            body = fault.body
            self.send_response(fault.status)
            for name, value in fault.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            length = len(body) + (500 if fault.truncate else 0)
            self.send_header("Content-Length", str(length))
            self.end_headers()
            self.wfile.write(body)
            return True
        return False

    def _items(
        self, features: list[dict], query: list, allowed: set, fake: FakePdok
    ) -> None:
        """OGC API items: bbox filter, limit/cursor paging, `next` link."""
        params = dict(query)
        if set(params) - allowed:
            self._send(
                400, {"detail": f"unknown parameter {sorted(set(params) - allowed)}"}
            )
            return
        if "bbox" in params:
            if params.get("bbox-crs") != RD_URI:
                self._send(400, {"detail": "bbox-crs must be given for RD bbox"})
                return
            x0, y0, x1, y1 = map(float, params["bbox"].split(","))
            features = [
                f
                for f in features
                if x0 <= f["geometry"]["coordinates"][0] <= x1
                and y0 <= f["geometry"]["coordinates"][1] <= y1
            ]
        limit = min(int(params.get("limit", 10)), fake.max_limit)
        start = int(params.get("cursor", 0))
        page = features[start : start + limit]
        links = [
            {
                "rel": "self",
                "type": "application/geo+json",
                "href": fake.url + self.path,
            }
        ]
        if start + limit < len(features):
            following = {**params, "cursor": str(start + limit)}
            href = fake.url + urlsplit(self.path).path + "?" + urlencode(following)
            links.append({"rel": "next", "type": "application/geo+json", "href": href})
        body = {
            "type": "FeatureCollection",
            "timeStamp": "2026-01-01T00:00:00Z",
            "links": links,
            "numberReturned": len(page),
            "features": page,
        }
        self._send(200, body, {"Content-Crs": f"<{RD_URI}>"})

    def _cbs(self, fake: FakePdok, collection: str, query: list) -> None:
        """CBS collections: the `gemeentecode` property filter, then paging."""
        params = dict(query)
        if set(params) - CBS_PARAMS:
            self._send(400, {"detail": "unknown parameter"})
            return
        features = fake.cbs[collection]
        if "gemeentecode" in params and not fake.ignore_gemeente_filter:
            code = params["gemeentecode"]
            features = [f for f in features if f["properties"]["gemeentecode"] == code]
        self._items_plain(features, params, fake)

    def _items_plain(self, features: list[dict], params: dict, fake: FakePdok) -> None:
        """Items without a bbox (polygons), paged like `_items`."""
        limit = min(int(params.get("limit", 10)), fake.max_limit)
        start = int(params.get("cursor", 0))
        page = features[start : start + limit]
        links = []
        if start + limit < len(features):
            following = {**params, "cursor": str(start + limit)}
            href = fake.url + urlsplit(self.path).path + "?" + urlencode(following)
            links.append({"rel": "next", "href": href})
        body = {
            "type": "FeatureCollection",
            "links": links,
            "numberReturned": len(page),
            "features": page,
        }
        self._send(200, body)

    def _free(self, fake: FakePdok, query: list) -> None:
        """Locatieserver v3.1 `free`: unknown parameters are refused (400)."""
        names = {k for k, _ in query}
        if names - FREE_PARAMS:
            self._send(
                400, {"detail": f"unknown parameter {sorted(names - FREE_PARAMS)}"}
            )
            return
        q = next((v for k, v in query if k == "q"), "*:*")
        filters = [v for k, v in query if k == "fq"]
        docs = [d for d in fake.docs if _matches(d, q)]
        for fq in filters:
            name, _, value = fq.partition(":")
            docs = [d for d in docs if str(d.get(name)) == value]
        fields = next((v for k, v in query if k == "fl"), "")
        if fields:
            keep = set(fields.replace(",", " ").split())
            docs = [{k: v for k, v in d.items() if k in keep} for d in docs]
        rows = int(next((v for k, v in query if k == "rows"), 10))
        start = int(next((v for k, v in query if k == "start"), 0))
        body = {
            "response": {
                "numFound": len(docs),
                "start": start,
                "maxScore": 1.0,
                "numFoundExact": True,
                "docs": docs[start : start + rows],
            }
        }
        self._send(200, body)

    def _send(self, status: int, body: object, headers: dict | None = None) -> None:
        """Send a JSON answer."""
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _matches(doc: dict, q: str) -> bool:
    """Field query ``postcode:X AND huisnummer:N``, or free text with the number."""
    field_query = re.fullmatch(r"postcode:(\w+) AND huisnummer:(\d+)", q)
    if field_query:
        return doc["postcode"] == field_query[1] and doc["huisnummer"] == int(
            field_query[2]
        )
    text = q.lower().replace("\\", "")
    return (
        str(doc["huisnummer"]) in text.split() and doc["woonplaatsnaam"].lower() in text
    )


class _Server(ThreadingHTTPServer):
    """The HTTP server with the fixture state attached."""

    daemon_threads = True
    fake: FakePdok


@pytest.fixture
def pdok() -> Iterator[FakePdok]:
    """A real HTTP server on 127.0.0.1 (random port) serving the fixture data."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.fake = FakePdok()
    server.fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
    )
    thread.start()
    try:
        yield server.fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def waits() -> list[float]:
    """Waits a fast HTTP client asked for, instead of sleeping."""
    return []


@pytest.fixture
def make_client(waits: list[float]) -> Iterator[Callable[..., object]]:
    """Factory of HTTP clients that record their waits instead of sleeping."""
    from partition.sources._http import HttpClient

    clients = []

    def make(**options: object) -> HttpClient:
        options.setdefault("service", "PDOK fixture")
        options.setdefault("timeout", 5.0)
        client = HttpClient(sleep=waits.append, **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


# --- files in the official schemas ----------------------------------------------


@contextmanager
def _no_crs_warning() -> Iterator[None]:
    """Writing a CRS-less fixture on purpose: pyogrio's warning is expected."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "'crs' was not provided", UserWarning)
        yield


def write_cbs_2023(path: Path, *, crs: str | None = RD) -> Path:
    """A Wijk- en Buurtkaart 2023-style GeoPackage: gemeenten, wijken, buurten.

    GM0168 has wijken WK016800 and WK016801 with three land buurten and one
    water buurt; GM0153 has one wijk with one buurt. Figures include the CBS
    secret markers -99995 and -99997.
    """
    buurten = gpd.GeoDataFrame(
        {
            "buurtcode": [
                "BU01680001",
                "BU01680002",
                "BU01680101",
                "BU01680199",
                "BU01530101",
            ],
            "buurtnaam": ["Centrum", "Noord", "Glane kern", "Water", "Buurland"],
            "wijkcode": ["WK016800", "WK016800", "WK016801", "WK016801", "WK015301"],
            "gemeentecode": ["GM0168"] * 4 + ["GM0153"],
            "gemeentenaam": ["Losser"] * 4 + ["Enschede"],
            "water": ["NEE", "NEE", "NEE", "JA", "NEE"],
            "aantal_inwoners": [1500, -99995, 800, 0, 900],
            "aantal_huishoudens": [650, -99997, 330, -99997, 400],
            "woningvoorraad": [700, 20, 340, 0, 410],
        },
        geometry=[
            box(260_000, 470_000, 261_000, 471_000),
            box(260_000, 471_000, 261_000, 472_000),
            box(261_000, 470_000, 262_000, 472_000),
            box(262_000, 470_000, 262_500, 472_000),
            box(258_000, 470_000, 260_000, 472_000),
        ],
        crs=crs,
    )
    wijken = gpd.GeoDataFrame(
        {
            "wijkcode": ["WK016800", "WK016801", "WK015301"],
            "wijknaam": ["Wijk 00 Losser", "Wijk 01 Glane", "Wijk 01 Buurland"],
            "gemeentecode": ["GM0168", "GM0168", "GM0153"],
            "gemeentenaam": ["Losser", "Losser", "Enschede"],
            "water": ["NEE", "NEE", "NEE"],
            "aantal_inwoners": [1500, 800, 900],
            "aantal_huishoudens": [650, 330, -99995],
            "woningvoorraad": [720, 340, 410],
        },
        geometry=[
            box(260_000, 470_000, 261_000, 472_000),
            box(261_000, 470_000, 262_500, 472_000),
            box(258_000, 470_000, 260_000, 472_000),
        ],
        crs=crs,
    )
    gemeenten = gpd.GeoDataFrame(
        {"gemeentecode": ["GM0168", "GM0153"], "gemeentenaam": ["Losser", "Enschede"]},
        geometry=[
            box(260_000, 470_000, 262_500, 472_000),
            box(258_000, 470_000, 260_000, 472_000),
        ],
        crs=crs,
    )
    with _no_crs_warning():
        for name, frame in (
            ("gemeenten", gemeenten),
            ("wijken", wijken),
            ("buurten", buurten),
        ):
            frame.to_file(path, layer=name, driver="GPKG")
    return path


def write_cbs_2018(folder: Path) -> tuple[Path, Path]:
    """Wijk- en Buurtkaart 2018-style Shapefiles (upper-case columns, -99999999)."""
    buurten = gpd.GeoDataFrame(
        {
            "BU_CODE": ["BU01680001", "BU01680002", "BU01530101"],
            "BU_NAAM": ["Centrum", "Noord", "Buurland"],
            "WK_CODE": ["WK016800", "WK016800", "WK015301"],
            "GM_CODE": ["GM0168", "GM0168", "GM0153"],
            "GM_NAAM": ["Losser", "Losser", "Enschede"],
            "WATER": ["NEE", "NEE", "NEE"],
            "AANT_INW": [1480, -99999999, 880],
            "AANTAL_HH": [640, -99999997, 390],
            "WONINGEN": [690, 18, 400],
        },
        geometry=[
            box(260_000, 470_000, 261_000, 471_000),
            box(260_000, 471_000, 261_000, 472_000),
            box(258_000, 470_000, 260_000, 472_000),
        ],
        crs=RD,
    )
    wijken = gpd.GeoDataFrame(
        {
            "WK_CODE": ["WK016800", "WK015301"],
            "WK_NAAM": ["Wijk 00 Losser", "Wijk 01 Buurland"],
            "GM_CODE": ["GM0168", "GM0153"],
            "GM_NAAM": ["Losser", "Enschede"],
        },
        geometry=[
            box(260_000, 470_000, 261_000, 472_000),
            box(258_000, 470_000, 260_000, 472_000),
        ],
        crs=RD,
    )
    paths = (folder / "buurt_2018_v1.shp", folder / "wijk_2018_v1.shp")
    buurten.to_file(paths[0])
    wijken.to_file(paths[1])
    return paths


# the BAG fixture: one row per verblijfsobject, and whether the importer keeps it
# (for GM0168): status, gebruiksdoel, postcode, huisnummer, letter, toevoeging,
# address issued, street (index into BAG_STREETS), kept
_VBO = {
    "in": "Verblijfsobject in gebruik",
    "ni": "Verblijfsobject in gebruik (niet ingemeten)",
    "vb": "Verbouwing verblijfsobject",
    "gv": "Verblijfsobject gevormd",
    "bg": "Verblijfsobject buiten gebruik",
    "ng": "Niet gerealiseerd verblijfsobject",
    "it": "Verblijfsobject ingetrokken",
}
_WOON, _WINKEL = "woonfunctie", "winkelfunctie"
_ROWS = [
    ("in", _WOON, "7581AA", 1, "", "", True, 0, True),
    ("in", _WOON, "7581AA", 1, "A", "", True, 0, True),
    ("in", _WOON, "7581AA", 3, "", "2", True, 0, True),
    ("ni", f"{_WOON},{_WINKEL}", "7581AB", 5, "", "", True, 0, True),
    ("vb", _WOON, "7581AB", 7, "", "HS", True, 0, True),
    ("in", _WINKEL, "7581AB", 9, "", "", True, 0, True),
    ("gv", _WOON, "7581AB", 11, "", "", True, 0, False),
    ("bg", _WOON, "7581AB", 13, "", "", True, 0, False),
    ("ng", _WOON, "7581AB", 15, "", "", True, 0, False),
    ("it", _WOON, "7581AB", 17, "", "", False, 0, False),
    ("in", _WOON, "7581AC", 2, "", "", False, 0, False),
    ("in", _WOON, None, 4, "", "", True, 0, False),
    ("in", _WOON, "7587AA", 10, "", "", True, 1, True),
    ("in", _WOON, "7522AA", 20, "", "", True, 2, False),
]
BAG_ROWS = pd.DataFrame(
    [
        (
            _VBO[st],
            use,
            pc,
            nr,
            lt,
            tv,
            "Naamgeving " + ("uitgegeven" if ok else "ingetrokken"),
            street,
            kept,
        )
        for st, use, pc, nr, lt, tv, ok, street, kept in _ROWS
    ],
    columns=[
        "status",
        "gebruiksdoel",
        "postcode",
        "huisnummer",
        "huisletter",
        "toevoeging",
        "address_status",
        "street",
        "kept",
    ],
)
BAG_STREETS = [
    ("0168300000000001", "Proefstraat", "3001"),
    ("0168300000000002", "Toetsweg", "3002"),
    ("0153300000000001", "Buurlandseweg", "3003"),
]
BAG_PLACES = [("3001", "Losser"), ("3002", "De Lutte"), ("3003", "Enschede")]


def bag_row_ids(n: int, street: int) -> tuple[str, str]:
    """(verblijfsobject id, nummeraanduiding id) of fixture row `n`."""
    code = "0153" if street == 2 else "0168"
    return f"{code}01{n + 1:010d}", f"{code}20{n + 1:010d}"


def bag_point(n: int, street: int) -> tuple[float, float]:
    """The fixture point of row `n` (GM0153 to the west of x = 260,000)."""
    return (259_500.0 if street == 2 else 260_100.0 + 50 * n, 471_000.0 + 10 * n)


def write_bag_linked(path: Path, *, crs: str | None = RD) -> Path:
    """A BAG GeoPackage in the linked layout (one layer per BAG object type)."""
    ids = [bag_row_ids(n, r.street) for n, r in enumerate(BAG_ROWS.itertuples())]
    points = [
        shapely.Point(*bag_point(n, r.street))
        for n, r in enumerate(BAG_ROWS.itertuples())
    ]
    verblijfsobject = gpd.GeoDataFrame(
        {
            "identificatie": [i[0] for i in ids],
            "status": BAG_ROWS["status"],
            "gebruiksdoel": BAG_ROWS["gebruiksdoel"],
            "oppervlakte": [60 + 5 * n for n in range(len(BAG_ROWS))],
            "nummeraanduiding_hoofdadres_identificatie": [i[1] for i in ids],
        },
        geometry=points,
        crs=crs,
    )
    nummeraanduiding = pd.DataFrame(
        {
            "identificatie": [i[1] for i in ids] + ["0168200000009999"],
            "postcode": [*BAG_ROWS["postcode"], "7581AZ"],
            "huisnummer": [*BAG_ROWS["huisnummer"], 99],
            "huisletter": [*BAG_ROWS["huisletter"].replace("", None), None],
            "toevoeging": [*BAG_ROWS["toevoeging"].replace("", None), None],
            "status": [*BAG_ROWS["address_status"], "Naamgeving uitgegeven"],
            "openbare_ruimte_identificatie": [
                BAG_STREETS[s][0] for s in BAG_ROWS["street"]
            ]
            + [BAG_STREETS[0][0]],
        }
    )
    ligplaats = gpd.GeoDataFrame(
        {
            "identificatie": ["0168020000000001"],
            "status": ["Plaats aangewezen"],
            "nummeraanduiding_hoofdadres_identificatie": ["0168200000009999"],
        },
        geometry=[box(261_000, 471_000, 261_020, 471_008)],
        crs=crs,
    )
    openbareruimte = pd.DataFrame(
        {
            "identificatie": [s[0] for s in BAG_STREETS],
            "naam": [s[1] for s in BAG_STREETS],
            "woonplaats_identificatie": [s[2] for s in BAG_STREETS],
        }
    )
    woonplaats = gpd.GeoDataFrame(
        {
            "identificatie": [p[0] for p in BAG_PLACES],
            "naam": [p[1] for p in BAG_PLACES],
        },
        geometry=[
            box(260_000, 470_000, 262_000, 472_000),
            box(262_000, 470_000, 264_000, 472_000),
            box(258_000, 470_000, 260_000, 472_000),
        ],
        crs=crs,
    )
    with _no_crs_warning():
        verblijfsobject.to_file(path, layer="verblijfsobject", driver="GPKG")
        ligplaats.to_file(path, layer="ligplaats", driver="GPKG")
        woonplaats.to_file(path, layer="woonplaats", driver="GPKG")
    # the address tables of a BAG GeoPackage are attribute-only (no geometry)
    for name, table in (
        ("nummeraanduiding", nummeraanduiding),
        ("openbareruimte", openbareruimte),
    ):
        pyogrio.write_dataframe(table, path, layer=name, driver="GPKG")
    return path


def write_bag_flat(path: Path) -> Path:
    """A BAG GeoPackage in the flat layout (address fields on verblijfsobject)."""
    streets = {s: (BAG_STREETS[s][1], BAG_PLACES[s][1]) for s in range(3)}
    ids = [bag_row_ids(n, r.street) for n, r in enumerate(BAG_ROWS.itertuples())]
    frame = gpd.GeoDataFrame(
        {
            "identificatie": [i[0] for i in ids],
            "status": BAG_ROWS["status"],
            "gebruiksdoel": BAG_ROWS["gebruiksdoel"],
            "oppervlakte": [60.0 + 5 * n for n in range(len(BAG_ROWS))],
            "hoofdadres_identificatie": [i[1] for i in ids],
            "huisnummer": BAG_ROWS["huisnummer"],
            "huisletter": BAG_ROWS["huisletter"].replace("", None),
            "toevoeging": BAG_ROWS["toevoeging"].replace("", None),
            "postcode": BAG_ROWS["postcode"],
            "hoofdadres_status": BAG_ROWS["address_status"],
            "openbare_ruimte_naam": [streets[s][0] for s in BAG_ROWS["street"]],
            "woonplaats_naam": [streets[s][1] for s in BAG_ROWS["street"]],
            "bronhouder_identificatie": [
                "0153" if s == 2 else "0168" for s in BAG_ROWS["street"]
            ],
        },
        geometry=[
            shapely.Point(*bag_point(n, r.street))
            for n, r in enumerate(BAG_ROWS.itertuples())
        ],
        crs=RD,
    )
    frame.to_file(path, layer="verblijfsobject", driver="GPKG")
    return path


@pytest.fixture(scope="session")
def bag_linked(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The linked-layout BAG GeoPackage, written once (read-only in tests)."""
    return write_bag_linked(tmp_path_factory.mktemp("bag") / "bag-linked.gpkg")


@pytest.fixture(scope="session")
def bag_flat(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The flat-layout BAG GeoPackage, written once (read-only in tests)."""
    return write_bag_flat(tmp_path_factory.mktemp("bag") / "bag-flat.gpkg")


@pytest.fixture(scope="session")
def edition_2023(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2023-style Wijk- en Buurtkaart GeoPackage, written once (read-only)."""
    folder = tmp_path_factory.mktemp("cbs")
    return write_cbs_2023(folder / "wijkenbuurten_2023_v1.gpkg")
