"""Coverage endpoints for the steering group: numbers, recruitment list, map.

All three serve aggregates only (counts per street, buurt and group, the
streets to canvass): the registrations enter the coverage job as a set of
registered addresses and never leave it. One coverage run serves all three
and is kept until the data changes (:func:`service.store.data_version`), so
opening the map after reading the numbers costs nothing.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import threading
import time
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import geopandas as gpd
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from partition import io
from partition.register import source_label
from service import store
from service.auth import ServicesDep, SessionDep, require_user
from service.coverage_job import (
    CoverageRun,
    aggregates_only,
    coverage_geojson,
    coverage_map,
    run_coverage,
    targets_table,
)
from service.models import STEERING
from service.routes import AUTH_RESPONSES

logger = logging.getLogger(__name__)

router = APIRouter(
    responses=AUTH_RESPONSES,
    tags=["steering"],
    dependencies=[Depends(require_user(STEERING))],
)
MAX_TARGETS = 500
DEFAULT_TARGETS = 20
NONE = "'none'"
# one coverage run at a time: a second request for the same data waits for it
_LOCK = threading.Lock()


@router.get("/coverage")
def read_coverage(
    request: Request, services: ServicesDep, session: SessionDep
) -> dict[str, Any]:
    """Coverage per street and per buurt as GeoJSON (EPSG:4326), with a summary.

    Properties are the columns of ``coverage.csv`` and
    ``coverage_buurten.csv``: addresses, registered addresses, coverage,
    radius coverage and class. ``buurten`` is empty without buurt polygons.
    """
    run = _coverage_run(request, services, session)
    return {**coverage_geojson(run), "summary": run.summary}


@router.get("/recruitment/targets")
def read_recruitment_targets(
    request: Request,
    services: ServicesDep,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=MAX_TARGETS)] = DEFAULT_TARGETS,
) -> list[dict[str, Any]]:
    """The first ``limit`` streets to canvass, best first (``recruitment.csv``)."""
    run = _coverage_run(request, services, session)
    table = targets_table(run, limit)
    return json.loads(table.to_json(orient="records", force_ascii=False))


@router.get(
    "/maps/coverage",
    response_class=HTMLResponse,
    responses={200: {"content": {"text/html": {}}, "description": "Folium map"}},
)
def read_coverage_map(
    request: Request, services: ServicesDep, session: SessionDep
) -> HTMLResponse:
    """The steering group's coverage map: buurten, streets, groups, gaps, targets.

    The page loads Leaflet and its styles from public CDNs and the map tiles
    from OpenStreetMap; its content security policy allows exactly those
    hosts, and inline scripts (folium writes the map as one).
    """
    run = _coverage_run(request, services, session)
    subtitle = source_label(services.book.register)
    html = coverage_map(run, subtitle=subtitle).get_root().render()
    return HTMLResponse(html, headers={"content-security-policy": map_policy(html)})


def map_policy(html: str) -> str:
    """The content security policy of a folium page: its own CDN hosts only.

    Script hosts are those of the page's ``<script src>``, style and font hosts
    those of its ``<link href>``, image hosts those plus the tile servers
    named in the page (Leaflet's CSS loads its control icons from its CDN).
    """
    scripts = _hosts(re.findall(r'<script[^>]*\ssrc="(https://[^"]+)"', html))
    styles = _hosts(re.findall(r'<link[^>]*\shref="(https://[^"]+)"', html))
    tiles = _hosts(re.findall(r'"(https://[^"]*\{z\}[^"]*)"', html))
    return "; ".join(
        [
            "default-src 'none'",
            f"script-src 'unsafe-inline' {' '.join(scripts)}".strip(),
            f"style-src 'unsafe-inline' {' '.join(styles)}".strip(),
            f"font-src {' '.join(styles) or NONE}",
            f"img-src data: {' '.join(sorted(set(styles) | set(tiles)))}".strip(),
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )


def _hosts(urls: list[str]) -> list[str]:
    """The distinct ``https://host`` origins of some URLs, sorted."""
    return sorted({f"https://{urlsplit(url).netloc}" for url in urls})


def _coverage_run(
    request: Request, services: ServicesDep, session: SessionDep
) -> CoverageRun:
    """The coverage run of the current data, computed once per data version."""
    version = store.data_version(session)
    with _LOCK:
        cached = getattr(request.app.state, "coverage_run", None)
        if cached is not None and cached[0] == version:
            return cached[1]

        started = time.perf_counter()
        book = services.book
        registrations = store.coverage_registrations(session)
        assignments = store.current_assignments(session)
        run = run_coverage(
            book.register,
            registrations,
            buurten=book.buurten,
            wijken=_wijken(services.settings.boundaries),
            assignments=assignments if len(assignments) else None,
        )
        run = aggregates_only(run)
        request.app.state.coverage_run = (version, run)
        logger.info(
            "coverage of %d registrations in %d groups computed in %.2f s",
            len(registrations),
            assignments["group_id"].nunique(),
            time.perf_counter() - started,
        )
        return run


@functools.lru_cache(maxsize=4)
def _wijken(boundaries: Path | None) -> gpd.GeoDataFrame | None:
    """The wijk polygons of the boundaries file, if it has any (read once)."""
    if boundaries is None:
        return None
    return io.read_boundaries(boundaries).get("wijk")
