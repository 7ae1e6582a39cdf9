"""The HTTP client against a real loopback server: retries, backoff, cache, throttle."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from partition.errors import BuurtgroepenError
from partition.sources._http import RetryPolicy, ServiceError, retry_after_seconds
from tests.sources.conftest import BAG_ITEMS, FREE, FakePdok, Fault

FAST = RetryPolicy(attempts=4, backoff=1.0, max_backoff=3.0, max_retry_after=30.0)


def items_url(pdok: FakePdok) -> str:
    """The BAG items URL of the fixture server."""
    return pdok.url + BAG_ITEMS


def test_429_waits_as_long_as_retry_after_says(pdok, make_client, waits) -> None:
    """A 429 with Retry-After: 7 is retried after exactly 7 s, then succeeds."""
    pdok.faults.append(Fault(BAG_ITEMS, status=429, headers={"Retry-After": "7"}))
    client = make_client(retry=FAST)

    body = client.get_json(items_url(pdok), {"limit": 3})

    assert len(body["features"]) == 3
    assert waits == [7.0]
    assert len(pdok.requests(BAG_ITEMS)) == 2


def test_retry_after_is_capped(pdok, make_client, waits) -> None:
    """A Retry-After longer than `max_retry_after` waits the cap, not an hour."""
    pdok.faults.append(Fault(BAG_ITEMS, status=503, headers={"Retry-After": "3600"}))
    make_client(retry=FAST).get_json(items_url(pdok))
    assert waits == [30.0]


def test_server_errors_back_off_exponentially(pdok, make_client, waits) -> None:
    """Three 500s wait 1, 2 and then the 3 s cap before the fourth try succeeds."""
    pdok.faults.append(Fault(BAG_ITEMS, status=500, times=3))
    body = make_client(retry=FAST).get_json(items_url(pdok))
    assert body["type"] == "FeatureCollection"
    assert waits == [1.0, 2.0, 3.0]


@pytest.mark.parametrize(
    "fault",
    [
        # the connection closes before the announced Content-Length arrived
        Fault(
            BAG_ITEMS, status=200, body=b'{"type": "FeatureCollection"', truncate=True
        ),
        # a complete HTTP message whose JSON is cut off
        Fault(BAG_ITEMS, status=200, body=b'{"type": "FeatureCollection", "feat'),
    ],
    ids=["connection-closed", "json-cut-off"],
)
def test_a_truncated_page_is_fetched_again(pdok, make_client, waits, fault) -> None:
    """A body cut off in transit is retried, not parsed or returned."""
    pdok.faults.append(fault)
    body = make_client(retry=FAST).get_json(items_url(pdok), {"limit": 2})
    assert len(body["features"]) == 2
    assert len(waits) == 1


def test_check_rejects_an_incomplete_page(pdok, make_client, waits) -> None:
    """A page the caller's check rejects counts as cut off and is retried."""
    seen = []

    def check(body: dict) -> str | None:
        seen.append(body)
        return "too short" if len(seen) == 1 else None

    make_client(retry=FAST).get_json(items_url(pdok), check=check)
    assert len(seen) == 2 and len(waits) == 1


def test_gives_up_with_one_clear_error_without_the_query(pdok, make_client) -> None:
    """After the last attempt: one ServiceError naming the path, not the query."""
    pdok.faults.append(Fault(FREE, status=503, times=10))
    client = make_client(retry=RetryPolicy(attempts=3, backoff=0.0))

    with pytest.raises(ServiceError) as error:
        client.get_json(pdok.url + FREE, {"q": "postcode:7581AB AND huisnummer:12"})

    message = str(error.value)
    assert isinstance(error.value, BuurtgroepenError)
    assert "after 3 attempts" in message and "HTTP 503" in message
    assert FREE in message
    assert "7581AB" not in message and "huisnummer" not in message
    assert len(pdok.requests(FREE)) == 3


def test_client_errors_are_not_retried(pdok, make_client, waits) -> None:
    """A 404 or a 400 cannot get better: one request, an error saying why."""
    client = make_client(retry=FAST)
    with pytest.raises(ServiceError, match="HTTP 404"):
        client.get_json(pdok.url + "/no/such/collection/items")
    with pytest.raises(ServiceError, match="HTTP 400.*documented parameters"):
        client.get_json(pdok.url + FREE, {"unknown": "1"})
    assert waits == [] and len(pdok.log) == 2


def test_connection_refused_is_retried_then_reported(make_client, waits) -> None:
    """Nothing listening: every attempt fails fast, then one ServiceError."""
    client = make_client(retry=RetryPolicy(attempts=2, backoff=0.5), timeout=1.0)
    with pytest.raises(ServiceError, match="ConnectError"):
        client.get_json("http://127.0.0.1:9/items")
    assert waits == [0.5]


def test_the_cache_answers_repeated_requests_from_disk(
    pdok, make_client, tmp_path: Path
) -> None:
    """A cached answer survives the client; `max_age` expires it."""
    cache = tmp_path / "cache"
    first = make_client(cache_dir=cache).get_json(items_url(pdok), {"limit": 2})
    again = make_client(cache_dir=cache)
    assert again.get_json(items_url(pdok), {"limit": 2}) == first
    assert again.cache_hits == 1 and len(pdok.log) == 1

    # another query is another entry; an expired entry is fetched again
    again.get_json(items_url(pdok), {"limit": 3})
    make_client(cache_dir=cache, max_age=0.0).get_json(items_url(pdok), {"limit": 2})
    assert len(pdok.log) == 3


def test_failures_are_not_cached(pdok, make_client, tmp_path: Path) -> None:
    """Only complete answers enter the cache."""
    pdok.faults.append(Fault(BAG_ITEMS, status=404))
    cache = tmp_path / "cache"
    with pytest.raises(ServiceError):
        make_client(cache_dir=cache).get_json(items_url(pdok))
    assert not list(cache.rglob("*.json"))
    make_client(cache_dir=cache).get_json(items_url(pdok))
    assert len(list(cache.rglob("*.json"))) == 1


def test_throttle_keeps_the_interval_between_requests(pdok, make_client) -> None:
    """With a clock that only moves while waiting, each request waits 0.25 s."""
    now = [100.0]
    waited: list[float] = []

    def sleep(seconds: float) -> None:
        waited.append(seconds)
        now[0] += seconds

    from partition.sources._http import HttpClient

    with HttpClient(
        service="fixture", min_interval=0.25, sleep=sleep, clock=lambda: now[0]
    ) as client:
        for limit in (1, 2, 3):
            client.get_json(items_url(pdok), {"limit": limit})
    assert waited == pytest.approx([0.25, 0.25])
    assert client.requests == 3


@given(st.integers(min_value=0, max_value=10**7))
def test_retry_after_in_seconds(seconds: int) -> None:
    """The delta-seconds form is read as it is."""
    response = httpx.Response(429, headers={"Retry-After": str(seconds)})
    assert retry_after_seconds(response) == float(seconds)


def test_retry_after_as_http_date() -> None:
    """The HTTP-date form counts from now; a date in the past means no wait."""
    soon = format_datetime(datetime.now(UTC) + timedelta(seconds=90), usegmt=True)
    past = format_datetime(datetime.now(UTC) - timedelta(days=1), usegmt=True)
    assert (
        80
        <= retry_after_seconds(httpx.Response(503, headers={"Retry-After": soon}))
        <= 90
    )
    assert (
        retry_after_seconds(httpx.Response(503, headers={"Retry-After": past})) == 0.0
    )
    assert (
        retry_after_seconds(httpx.Response(503, headers={"Retry-After": "soon"}))
        is None
    )
    assert retry_after_seconds(httpx.Response(503)) is None
