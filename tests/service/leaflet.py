"""Serve a folium map's CDN assets offline, from npm packages, in Playwright.

Folium pages load Leaflet, jQuery and Bootstrap from public CDNs and the map
tiles from OpenStreetMap; the test machines have no internet but do reach the
npm registry. The ``offline_cdn`` fixture fetches the packages once with
``npm pack`` into the pytest cache, and :meth:`OfflineCdn.install` answers every
CDN request of a page from those files with ``page.route``:

========================================================  =====================
URL                                                       answered with
========================================================  =====================
``cdn.jsdelivr.net/npm/leaflet@1.9.3/...``                npm ``leaflet@1.9.3``
``code.jquery.com/jquery-3.7.1.min.js``                   npm ``jquery@3.7.1``
``cdn.jsdelivr.net/npm/bootstrap@5.2.2/...``              npm ``bootstrap@5.2.2``
Font Awesome 6.2.0 CSS, Bootstrap 3 glyphicons CSS,       an empty file (stub)
Leaflet.awesome-markers 2.0.2 JS and CSS, folium's
``leaflet.awesome.rotate.min.css``
``tile.openstreetmap.org/{z}/{x}/{y}.png``                a 1x1 grey PNG
========================================================  =====================

The stubs only style icons (Font Awesome, glyphicons, the rotate CSS) or
define ``L.AwesomeMarkers``, which the coverage map does not use (it draws its
markers with ``L.divIcon``; the map test checks that). Leaflet.awesome-markers
2.0.2 is not on npm at all. Any other request outside the page's own origin is
aborted and recorded in :attr:`OfflineCdn.unexpected`, so a new asset in a
folium upgrade shows up as a test failure rather than a silent gap.

A missing ``npm`` or an unreachable registry skips the tests that use the
fixture, and fails them when ``CI=true``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import shutil
import struct
import subprocess
import tarfile
import tempfile
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest

from tests.service.infra import skip_or_fail

if TYPE_CHECKING:
    from playwright.sync_api import Page, Route

logger = logging.getLogger(__name__)

#: The npm packages the map's CDN URLs point into, as ``name: version``.
NPM_PACKAGES = {"leaflet": "1.9.3", "jquery": "3.7.1", "bootstrap": "5.2.2"}
#: URL prefix -> (package folder, path inside the package; "" keeps the rest).
PACKAGE_URLS = {
    "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/": ("leaflet@1.9.3", ""),
    "https://cdn.jsdelivr.net/npm/bootstrap@5.2.2/": ("bootstrap@5.2.2", ""),
    "https://code.jquery.com/jquery-3.7.1.min.js": (
        "jquery@3.7.1",
        "dist/jquery.min.js",
    ),
}
#: URLs answered with an empty file: icon styles and an unused marker plugin.
STUB_URLS = (
    "https://cdn.jsdelivr.net/npm/@fortawesome/fontawesome-free@6.2.0/css/all.min.css",
    "https://netdna.bootstrapcdn.com/bootstrap/3.0.0/css/bootstrap-glyphicons.css",
    "https://cdnjs.cloudflare.com/ajax/libs/Leaflet.awesome-markers/2.0.2/"
    "leaflet.awesome-markers.css",
    "https://cdnjs.cloudflare.com/ajax/libs/Leaflet.awesome-markers/2.0.2/"
    "leaflet.awesome-markers.js",
    "https://cdn.jsdelivr.net/gh/python-visualization/folium/folium/templates/"
    "leaflet.awesome.rotate.min.css",
)
TILE_URLS = ("https://tile.openstreetmap.org/",)
NPM_TIMEOUT_S = 120
CONTENT_TYPES = {
    ".js": "application/javascript",
    ".css": "text/css",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".map": "application/json",
}
TILE_GREY = 0xDD


def grey_png(level: int = TILE_GREY) -> bytes:
    """A 1x1 grey PNG (8-bit RGB), built by hand: the tile of every request."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(bytes([0, level, level, level]))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", pixels)
        + chunk(b"IEND", b"")
    )


@dataclass
class OfflineCdn:
    """The extracted packages, and what the routed pages asked for.

    Attributes
    ----------
    root
        Folder holding one ``<name>@<version>`` folder per npm package.
    served
        CDN and tile URLs answered, in order.
    unexpected
        Requests outside the page's origin that no rule answers (aborted).
    """

    root: Path
    served: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)

    def install(
        self, page: Page, origin: str, headers: Mapping[str, str] | None = None
    ) -> None:
        """Route every request of ``page``: its origin through, the CDNs offline.

        Parameters
        ----------
        page
            The Playwright page.
        origin
            The page's own server (``http://127.0.0.1:PORT``); its requests go
            through, with ``headers`` added (e.g. the bearer token, which so
            never reaches a third party).
        headers
            Extra request headers for ``origin`` only.
        """
        page.route("**/*", self._handler(origin.rstrip("/"), dict(headers or {})))

    def lookup(self, url: str) -> tuple[bytes, str] | None:
        """The body and content type for a CDN or tile URL, or None."""
        parts = urlsplit(url)
        bare = f"{parts.scheme}://{parts.netloc}{parts.path}"
        if bare.startswith(TILE_URLS):
            return grey_png(), "image/png"
        if bare in STUB_URLS:
            return b"", _content_type(bare)
        for prefix, (package, inner) in PACKAGE_URLS.items():
            if bare.startswith(prefix):
                relative = inner or bare.removeprefix(prefix)
                path = self._inside(self.root / package, relative)
                if path is not None and path.is_file():
                    return path.read_bytes(), _content_type(relative)
        return None

    def _handler(self, origin: str, headers: dict[str, str]) -> Callable[[Route], None]:
        """The route handler of :meth:`install`."""

        def handle(route: Route) -> None:
            url = route.request.url
            if url == origin or url.startswith(f"{origin}/"):
                route.continue_(headers={**route.request.headers, **headers})
                return
            found = self.lookup(url)
            if found is None:
                self.unexpected.append(url)
                route.abort()
                return
            self.served.append(url)
            body, content_type = found
            route.fulfill(
                status=200,
                body=body,
                content_type=content_type,
                headers={"access-control-allow-origin": "*"},
            )

        return handle

    @staticmethod
    def _inside(root: Path, relative: str) -> Path | None:
        """``root / relative`` when it stays inside ``root``, else None."""
        pure = PurePosixPath(relative)
        if pure.is_absolute() or ".." in pure.parts:
            return None
        return root.joinpath(*pure.parts)


def _content_type(path: str) -> str:
    """The content type of a file by its suffix."""
    return CONTENT_TYPES.get(PurePosixPath(path).suffix, "application/octet-stream")


def fetch_packages(cache: Path) -> Path:
    """Fetch and extract :data:`NPM_PACKAGES` into ``cache`` (once); its path.

    Each package is fetched with ``npm pack NAME@VERSION`` (npm checks the
    tarball against the registry's integrity hash; the hash npm reports is
    checked again here) and extracted to ``cache/NAME@VERSION``. Skips (fails
    with ``CI=true``) when npm is missing or a download fails.
    """
    npm = shutil.which("npm")
    if npm is None:
        skip_or_fail(
            "npm not found (apt-get install npm): the map test serves Leaflet "
            "from npm packages because the CDNs are not reachable"
        )
    cache.mkdir(parents=True, exist_ok=True)
    for name, version in NPM_PACKAGES.items():
        target = cache / f"{name}@{version}"
        if not (target / "package.json").is_file():
            _fetch_one(npm, name, version, cache, target)
    return cache


def _fetch_one(npm: str, name: str, version: str, cache: Path, target: Path) -> None:
    """``npm pack`` one package, check its hash, extract it to ``target``."""
    started = time.perf_counter()
    spec = f"{name}@{version}"
    env = {
        **os.environ,
        "npm_config_cache": str(cache / "npm-cache"),
        "npm_config_update_notifier": "false",
        "npm_config_fund": "false",
        "npm_config_audit": "false",
    }
    with tempfile.TemporaryDirectory(dir=cache) as scratch:
        try:
            result = subprocess.run(
                [npm, "pack", spec, "--json", "--pack-destination", scratch],
                check=True,
                capture_output=True,
                text=True,
                timeout=NPM_TIMEOUT_S,
                env=env,
                cwd=scratch,
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
            skip_or_fail(
                f"`npm pack {spec}` failed ({type(error).__name__}); the npm "
                "registry is needed once to cache the map's scripts"
            )
        (packed,) = json.loads(result.stdout)
        tarball = Path(scratch) / packed["filename"]
        _check_integrity(tarball, str(packed["integrity"]), spec)

        unpacked = Path(scratch) / "unpacked"
        with tarfile.open(tarball) as archive:
            _check_members(archive, spec)
            archive.extractall(unpacked, filter="data")
        if not target.exists():
            (unpacked / "package").rename(target)
    logger.info("fetched %s from npm in %.1f s", spec, time.perf_counter() - started)


def _check_integrity(tarball: Path, integrity: str, spec: str) -> None:
    """Fail unless the tarball has the SHA-512 npm reported (``sha512-BASE64``)."""
    algorithm, _, expected = integrity.partition("-")
    digest = hashlib.new(algorithm, tarball.read_bytes()).digest()
    if base64.b64encode(digest).decode() != expected:
        pytest.fail(f"{spec}: the tarball does not match its {algorithm} integrity")


def _check_members(archive: tarfile.TarFile, spec: str) -> None:
    """Fail unless every member of an npm tarball lies under ``package/``."""
    for member in archive.getmembers():
        parts = PurePosixPath(member.name).parts
        if not parts or parts[0] != "package" or ".." in parts:
            pytest.fail(f"{spec}: unexpected tarball member {member.name!r}")


@pytest.fixture(scope="session")
def offline_cdn(request: pytest.FixtureRequest) -> OfflineCdn:
    """The map's CDN assets from npm, cached under the pytest cache folder."""
    cache: Any = getattr(request.config, "cache", None)
    if cache is not None:
        folder = Path(cache.mkdir("buurtgroepen-cdn"))
    else:  # pytest run with -p no:cacheprovider
        folder = request.getfixturevalue("tmp_path_factory").mktemp("cdn")
    return OfflineCdn(fetch_packages(folder))
