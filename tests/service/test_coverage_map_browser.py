"""The steering group's coverage map, opened in headless Chromium.

``GET /maps/coverage`` is served by a live server; the page's CDN assets come
from npm packages through ``page.route`` (see ``tests/service/leaflet.py``).
Set ``BUURTGROEPEN_SCREENSHOT=path.png`` to keep the screenshot (the README
image is made that way).
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from partition.maps import (
    LAYER_COVERAGE,
    LAYER_GAPS,
    LAYER_GROUPS,
    LAYER_STREETS,
    LAYER_TARGETS,
)
from service.app import create_app
from tests.service.helpers_service import TestClient, bearer, seed

pytest_plugins = ["tests.service.fixtures_service", "tests.service.leaflet"]

LAYERS = [LAYER_COVERAGE, LAYER_STREETS, LAYER_GROUPS, LAYER_GAPS, LAYER_TARGETS]
# a rendered map has hundreds of colours (choropleth, lines, labels,
# anti-aliasing); an empty page has one
MIN_COLOURS = 50
VIEWPORT = {"width": 1280, "height": 800}
# counts the distinct RGBA values of a PNG, decoded by the browser itself
COUNT_COLOURS_JS = """async (data) => {
    const image = new Image();
    image.src = "data:image/png;base64," + data;
    await image.decode();
    const canvas = document.createElement("canvas");
    canvas.width = image.width;
    canvas.height = image.height;
    const context = canvas.getContext("2d");
    context.drawImage(image, 0, 0);
    const pixels = context.getImageData(0, 0, image.width, image.height).data;
    return new Set(new Uint32Array(pixels.buffer)).size;
}"""


def _colours(page, png: bytes) -> int:
    """The number of distinct colours in a PNG screenshot."""
    return int(page.evaluate(COUNT_COLOURS_JS, base64.b64encode(png).decode()))


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_coverage_map_renders_with_every_layer_and_no_errors(
    make_settings, live_server, browser_page, offline_cdn, seed_rows, seed_plan
):
    app = create_app(make_settings())
    base = live_server(app)
    # the live server ran the start-up; this client only talks to the same app
    seeded = seed(TestClient(app), seed_rows, seed_plan)
    page = browser_page
    page.set_viewport_size(VIEWPORT)
    offline_cdn.install(page, base, bearer(seeded.steering))

    response = page.goto(f"{base}/maps/coverage", wait_until="load")
    page.wait_for_function(
        "document.querySelectorAll('img.leaflet-tile-loaded').length > 0"
    )
    page.wait_for_timeout(300)  # let the vector layers settle after the tiles
    shot = page.screenshot()

    assert response is not None and response.status == 200
    html = response.text()
    assert page.console_errors == []
    assert offline_cdn.unexpected == []
    # the stubbed marker plugin is loaded but never used
    assert "L.AwesomeMarkers" not in html
    assert any("leaflet@1.9.3/dist/leaflet.js" in url for url in offline_cdn.served)
    overlays = page.locator(".leaflet-control-layers-overlays label")
    assert [text.strip() for text in overlays.all_inner_texts()] == LAYERS
    assert page.locator("path.leaflet-interactive").count() > 0
    assert page.locator(".buurtgroepen-target-icon").count() > 0

    # not blank: many more colours than an empty page of the same size
    blank = page.context.new_page()
    blank.set_viewport_size(VIEWPORT)
    empty = blank.screenshot()
    assert _colours(blank, empty) == 1
    assert _colours(blank, shot) > MIN_COLOURS
    target = os.environ.get("BUURTGROEPEN_SCREENSHOT")
    if target:
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        Path(target).write_bytes(shot)
