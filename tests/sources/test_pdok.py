"""The PDOK OGC API client: paging, tiles, resuming, the CBS filter, the download."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from partition.errors import BuurtgroepenError
from partition.register import prepare_register
from partition.sources import pdok as ogcapi
from partition.sources._http import RetryPolicy, ServiceError
from tests.sources.conftest import (
    BAG_ITEMS,
    GEMEENTE_BUURTEN,
    RD_URI,
    FakePdok,
    Fault,
    expected_bag_ids,
)

AREA = (260_000.0, 470_000.0, 264_000.0, 472_000.0)


def ids_in(features: list[dict], tile: tuple[float, ...]) -> set[str]:
    """Feature ids inside a tile (edges included), as the server selects them."""
    x0, y0, x1, y1 = tile
    return {
        f["id"]
        for f in features
        if x0 <= f["geometry"]["coordinates"][0] <= x1
        and y0 <= f["geometry"]["coordinates"][1] <= y1
    }


def test_pages_follow_next_links_until_the_last(pdok: FakePdok, make_client) -> None:
    """Every feature of the box once, in ceil(n / limit) requests."""
    pdok.max_limit = 7
    params = {"limit": 1000, "bbox": ",".join(map(str, AREA)), "bbox-crs": RD_URI}
    pages = list(ogcapi.iter_pages(make_client(), pdok.url + BAG_ITEMS, params))
    ids = [f["id"] for features, _ in pages for f in features]
    expected = ids_in(pdok.bag, AREA)
    assert len(ids) == len(set(ids)) and set(ids) == expected
    assert len(pages) == math.ceil(len(expected) / 7)
    assert pages[-1][1] is None and all(nxt for _, nxt in pages[:-1])


@given(
    st.tuples(
        st.floats(0, 280_000),
        st.floats(300_000, 620_000),
        st.floats(0, 9_000),
        st.floats(0, 9_000),
    ),
    st.floats(100, 5_000),
)
def test_tiles_cover_the_box_and_share_edges(corner, size) -> None:
    """The tiles cover the widened box exactly, in ceil(w/s) x ceil(h/s) tiles."""
    x, y, w, h = corner
    grid = ogcapi.tiles((x, y, x + w, y + h), size)
    xmin, ymin, xmax, ymax = (
        math.floor(x),
        math.floor(y),
        math.ceil(x + w),
        math.ceil(y + h),
    )
    columns = max(1, math.ceil((xmax - xmin) / size))
    rows = max(1, math.ceil((ymax - ymin) / size))
    assert len(grid) == columns * rows
    assert min(t[0] for t in grid) == xmin and max(t[2] for t in grid) == xmax
    assert min(t[1] for t in grid) == ymin and max(t[3] for t in grid) == ymax
    area = sum((t[2] - t[0]) * (t[3] - t[1]) for t in grid)
    assert area == pytest.approx((xmax - xmin) * (ymax - ymin), rel=1e-9, abs=1e-6)


def test_features_on_tile_edges_are_kept_once(
    pdok: FakePdok, make_client, tmp_path: Path
) -> None:
    """Points on x = 262,000 come with two tiles and are kept once."""
    pdok.max_limit = 5
    grid = two_tiles()
    on_edge = ids_in(pdok.bag, grid[0]) & ids_in(pdok.bag, grid[1])
    assert on_edge, "the fixture must have points on a shared tile edge"

    frame = fetch(make_client(), pdok, grid, tmp_path)
    expected = set().union(*(ids_in(pdok.bag, t) for t in grid))
    assert frame["identificatie"].is_unique
    assert len(frame) == len(expected)


def two_tiles() -> list[tuple[float, float, float, float]]:
    """Two 2 km tiles over the fixture gemeente, sharing the edge x = 262,000."""
    return ogcapi.tiles(AREA, 2_000.0)


def fetch(client, fake: FakePdok, grid, folder: Path, progress=None):
    """`fetch_bag_features` against the fixture server."""
    return ogcapi.fetch_bag_features(
        client,
        grid,
        folder / "journal.jsonl",
        base_url=fake.url,
        page_size=50,
        progress=progress,
    )


def test_an_interrupted_download_resumes_without_fetching_twice(
    pdok: FakePdok, make_client, tmp_path: Path
) -> None:
    """Ctrl-C after the first tile: the rerun fetches only the second tile."""
    pdok.max_limit = 6
    grid = ogcapi.tiles(AREA, 1_000.0)

    def stop_after_first(done: int, total: int) -> None:
        if done == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fetch(make_client(), pdok, grid, tmp_path, progress=stop_after_first)
    first_run = list(pdok.log)

    frame = fetch(make_client(), pdok, grid, tmp_path)
    second_run = pdok.log[len(first_run) :]
    assert not set(first_run) & set(second_run)
    assert len(first_run) == math.ceil(len(ids_in(pdok.bag, grid[0])) / 6)
    assert frame["identificatie"].is_unique
    assert len(frame) == len(set().union(*(ids_in(pdok.bag, t) for t in grid)))


def test_a_failure_mid_tile_resumes_from_the_last_next_link(
    pdok: FakePdok, make_client, tmp_path: Path
) -> None:
    """The service fails from the 4th page on; the rerun starts at that page."""
    pdok.max_limit = 4
    grid = two_tiles()
    pdok.faults.append(Fault(BAG_ITEMS, status=503, times=100, after=3))
    with pytest.raises(ServiceError):
        fetch(
            make_client(retry=RetryPolicy(attempts=2, backoff=0.0)),
            pdok,
            grid,
            tmp_path,
        )
    fetched = pdok.log[:3]

    pdok.faults.clear()
    start = len(pdok.log)
    frame = fetch(make_client(), pdok, grid, tmp_path)
    rerun = pdok.log[start:]
    assert rerun[0] == pdok.log[3]  # the page that failed comes first
    assert not set(fetched) & set(rerun)
    assert frame["identificatie"].is_unique
    assert len(frame) == len(set().union(*(ids_in(pdok.bag, t) for t in grid)))


def test_a_line_cut_off_by_a_crash_is_fetched_again(
    pdok: FakePdok, make_client, tmp_path: Path
) -> None:
    """A half-written journal line is dropped and its page fetched again."""
    pdok.max_limit = 10
    grid = two_tiles()
    full = fetch(make_client(), pdok, grid, tmp_path / "a")

    # keep the header and the first page, then half of the second page's line
    journal = tmp_path / "b" / "journal.jsonl"
    journal.parent.mkdir()
    lines = (tmp_path / "a" / "journal.jsonl").read_text().splitlines(keepends=True)
    journal.write_text(lines[0] + lines[1] + lines[2][: len(lines[2]) // 2])
    start = len(pdok.log)

    resumed = fetch(make_client(), pdok, grid, tmp_path / "b")
    assert sorted(resumed["identificatie"]) == sorted(full["identificatie"])
    assert len(pdok.log) - start == len(lines) - 2  # all pages but the first
    assert all(json.loads(line) for line in journal.read_text().splitlines())


def test_a_journal_of_another_request_is_started_anew(
    pdok: FakePdok, make_client, tmp_path: Path
) -> None:
    """A journal written for other tiles is not mixed into this download."""
    journal = tmp_path / "journal.jsonl"
    journal.write_text(
        json.dumps({"header": {"url": "elsewhere"}})
        + "\n"
        + json.dumps({"tile": 0, "page": 0, "next": None, "features": []})
        + "\n"
    )
    frame = fetch(make_client(), pdok, two_tiles(), tmp_path)
    assert len(frame) == len(set().union(*(ids_in(pdok.bag, t) for t in two_tiles())))


def test_cbs_boundaries_are_filtered_on_the_gemeentecode(
    pdok: FakePdok, make_client
) -> None:
    """Only GM0168's two buurten and one wijk come back, as import_cbs layers."""
    layers = ogcapi.fetch_cbs_layers(make_client(), "GM0168", base_url=pdok.url)
    assert [len(frame) for _, frame in layers] == [2, 1]
    assert set(layers[0][1]["buurtcode"]) == {code for code, _, _ in GEMEENTE_BUURTEN}
    assert all("gemeentecode=GM0168" in r for r in pdok.log)


def test_a_service_that_ignores_the_filter_stops_the_download(
    pdok: FakePdok, make_client
) -> None:
    """Features of other gemeenten mean the filter was ignored: stop, say why."""
    pdok.ignore_gemeente_filter = True
    with pytest.raises(
        ServiceError, match="ignored the `gemeentecode` filter.*import-cbs"
    ):
        ogcapi.fetch_cbs_layers(make_client(), "GM0168", base_url=pdok.url)


def test_download_municipality_end_to_end(
    pdok: FakePdok, make_client, tmp_path: Path
) -> None:
    """Boundaries and the in-use addresses inside the gemeente, as a register."""
    pdok.max_limit = 9
    done: list[tuple[int, int]] = []
    result = ogcapi.download_municipality(
        "GM0168",
        tmp_path / "work",
        base_url=pdok.url,
        client=make_client(),
        tile_size=1_000.0,
        progress=lambda d, t: done.append((d, t)),
    )
    assert set(result.addresses["nummeraanduiding_id"]) == expected_bag_ids(pdok.bag)
    assert result.addresses["address_key"].is_unique
    assert result.addresses.crs.to_epsg() == 28992
    assert len(result.boundaries.buurten) == 2 and result.boundaries.jaar == 2024
    assert done[-1] == (8, 8) and [d for d, _ in done] == list(range(1, 9))
    # the register passes its own contract again, as the partition reader does
    assert len(prepare_register(result.addresses)) == len(result.addresses)


def test_a_wrong_code_writes_nothing(
    pdok: FakePdok, make_client, tmp_path: Path
) -> None:
    """An unknown gemeentecode fails on the boundaries, before any file is made."""
    work = tmp_path / "work"
    with pytest.raises(BuurtgroepenError, match="GM9999.*no buurten"):
        ogcapi.download_municipality(
            "GM9999", work, base_url=pdok.url, client=make_client()
        )
    with pytest.raises(BuurtgroepenError, match="gemeentecode such as GM0168"):
        ogcapi.download_municipality(
            "Losser", work, base_url=pdok.url, client=make_client()
        )
    assert not work.exists()
    assert not pdok.requests(BAG_ITEMS)
