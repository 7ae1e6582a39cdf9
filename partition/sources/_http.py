"""The one place that speaks HTTP: retries, backoff, throttle and an on-disk cache.

:class:`HttpClient` wraps an ``httpx.Client`` for JSON GET requests to the PDOK
services:

- **retries** on connection errors, timeouts, a body cut off in transit, a body
  that is not the JSON it should be, and the statuses 429, 500, 502, 503 and
  504; other statuses fail at once (a 400 or 404 will not get better);
- **backoff**: ``backoff * 2**attempt`` seconds, at most ``max_backoff``; a
  ``Retry-After`` header (seconds or an HTTP date) on 429 and 503 is honoured
  instead, up to ``max_retry_after``;
- **throttle**: at least ``min_interval`` seconds between the starts of two
  requests, so that a geocoding run stays within PDOK's fair use;
- **cache**: successful JSON answers are kept as files under ``cache_dir``
  (keyed by the SHA-256 of the full URL), optionally for ``max_age`` seconds.

Logs and error messages name the service and the URL *path* only, never the
query string: geocoding queries carry postcodes and house numbers. For the same
reason a filter on the ``httpx`` logger removes query strings from httpx's own
INFO line per request.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from partition.errors import BuurtgroepenError

logger = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
USER_AGENT = "buurtgroepen/0.1 (neighbourhood-watch groups; open data import)"

Params = Mapping[str, str | int | float] | Sequence[tuple[str, str | int | float]]
Check = Callable[[Any], str | None]


class _RedactQuery(logging.Filter):
    """Drop query strings from the URLs in ``httpx``'s own request log lines.

    httpx logs every request at INFO with its full URL; a geocoding URL carries
    a postcode and house number (personal data by the project's rules).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's URL arguments; never drop the record."""
        if isinstance(record.args, tuple):
            record.args = tuple(
                arg.copy_with(query=None) if isinstance(arg, httpx.URL) else arg
                for arg in record.args
            )
        return True


logging.getLogger("httpx").addFilter(_RedactQuery())


class ServiceError(BuurtgroepenError):
    """A web service that keeps failing or answers outside its documented format."""


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry.

    Attributes
    ----------
    attempts
        Total tries per request, the first included.
    backoff
        Seconds before the first retry; doubled for each further one.
    max_backoff
        Upper bound of one backoff wait, in seconds.
    max_retry_after
        Upper bound of a wait asked for by ``Retry-After``, in seconds.
    """

    attempts: int = 5
    backoff: float = 1.0
    max_backoff: float = 60.0
    max_retry_after: float = 300.0


class HttpClient:
    """JSON over HTTP GET with retries, backoff, throttle and a disk cache.

    Parameters
    ----------
    service
        Name of the service in messages (``"PDOK Locatieserver"``).
    timeout
        Seconds to wait for connecting and for each read.
    min_interval
        Least seconds between the starts of two requests (0: no throttle).
    retry
        The retry policy.
    cache_dir
        Folder for cached answers; ``None`` disables the cache.
    max_age
        Seconds a cached answer stays valid; ``None`` keeps it forever.
    sleep, clock
        Injected for tests: the wait function and a monotonic clock.
    transport
        Injected for tests: an ``httpx`` transport.

    Notes
    -----
    Use as a context manager, or call :meth:`close`. Not thread-safe.
    """

    def __init__(
        self,
        *,
        service: str,
        timeout: float = 30.0,
        min_interval: float = 0.0,
        retry: RetryPolicy | None = None,
        cache_dir: str | Path | None = None,
        max_age: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.service = service
        self.min_interval = min_interval
        self.retry = retry or RetryPolicy()
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.max_age = max_age
        self.requests = 0
        self.retries = 0
        self.cache_hits = 0
        self._sleep = sleep
        self._clock = clock
        self._last_start: float | None = None
        self._client = httpx.Client(
            timeout=timeout,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            follow_redirects=True,
            transport=transport,
        )

    def __enter__(self) -> HttpClient:
        """Return the client itself."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Close the connections."""
        self.close()

    def close(self) -> None:
        """Close the underlying connections."""
        self._client.close()

    def get_json(
        self,
        url: str,
        params: Params | None = None,
        *,
        cache: bool = True,
        check: Check | None = None,
    ) -> Any:
        """GET a URL and return its JSON body, retrying what can be retried.

        Parameters
        ----------
        url
            Absolute URL, possibly with a query string already.
        params
            Query parameters to add; a sequence of pairs repeats a name
            (``[("fq", "a"), ("fq", "b")]``).
        cache
            Read and write the on-disk cache for this request.
        check
            Validates the decoded body; returns a description of what is
            wrong (the body is then treated as cut off and retried) or ``None``.

        Returns
        -------
        body
            The decoded JSON.

        Raises
        ------
        ServiceError
            When every attempt failed, or the service answered with a status
            that retrying cannot fix.
        """
        full = httpx.URL(url)
        if params:
            full = full.copy_merge_params(params)
        cached = self._cached(full) if cache else None
        if cached is not None:
            self.cache_hits += 1
            return cached

        body = self._fetch(full, check)
        if cache:
            self._store(full, body)
        return body

    # --- attempts -------------------------------------------------------------

    def _fetch(self, url: httpx.URL, check: Check | None) -> Any:
        """Try the request until it succeeds or the policy is used up."""
        problem = ""
        for attempt in range(self.retry.attempts):
            if attempt:
                self.retries += 1
            self._wait_turn()
            try:
                response = self._client.get(url)
            except httpx.TransportError as exc:
                problem = f"{type(exc).__name__}"
                self._back_off(attempt, None, problem, url)
                continue

            if response.status_code in RETRY_STATUSES:
                problem = f"HTTP {response.status_code}"
                self._back_off(attempt, response, problem, url)
                continue
            if response.status_code != 200:
                raise self._refused(url, response)

            body, problem = _decode(response, check)
            if not problem:
                logger.debug("%s %s: 200", self.service, url.path)
                return body
            self._back_off(attempt, None, problem, url)

        msg = (
            f"{self.service} did not answer {url.path} after "
            f"{self.retry.attempts} attempts (last: {problem}); try again later "
            "(an interrupted download resumes where it stopped)"
        )
        raise ServiceError(msg)

    def _wait_turn(self) -> None:
        """Throttle: keep ``min_interval`` between the starts of requests."""
        now = self._clock()
        if self._last_start is not None and self.min_interval > 0:
            wait = self._last_start + self.min_interval - now
            if wait > 0:
                self._sleep(wait)
                now = self._clock()
        self._last_start = now
        self.requests += 1

    def _back_off(
        self,
        attempt: int,
        response: httpx.Response | None,
        problem: str,
        url: httpx.URL,
    ) -> None:
        """Wait before the next attempt (none after the last one)."""
        if attempt + 1 >= self.retry.attempts:
            return
        wait = min(self.retry.backoff * 2**attempt, self.retry.max_backoff)
        asked = retry_after_seconds(response) if response is not None else None
        if asked is not None:
            wait = min(asked, self.retry.max_retry_after)
        logger.warning(
            "%s %s: %s; retry %d of %d in %.1f s",
            self.service,
            url.path,
            problem,
            attempt + 1,
            self.retry.attempts - 1,
            wait,
        )
        self._sleep(wait)

    def _refused(self, url: httpx.URL, response: httpx.Response) -> ServiceError:
        """The error for a status that retrying cannot fix."""
        hint = {
            400: "the request does not follow the service's documented parameters",
            404: "the collection or endpoint does not exist at this base URL",
        }.get(response.status_code, "see the service's documentation")
        msg = (
            f"{self.service} refused {url.path} with HTTP {response.status_code}: "
            f"{hint}; check the base URL and the service version"
        )
        return ServiceError(msg)

    # --- cache ----------------------------------------------------------------

    def _cache_file(self, url: httpx.URL) -> Path | None:
        """Where the answer to ``url`` is cached (``None`` without a cache)."""
        if self.cache_dir is None:
            return None
        key = hashlib.sha256(str(url).encode()).hexdigest()
        return self.cache_dir / key[:2] / f"{key}.json"

    def _cached(self, url: httpx.URL) -> Any:
        """The cached body of ``url``, or ``None`` when absent or too old."""
        path = self._cache_file(url)
        if path is None or not path.is_file():
            return None
        if self.max_age is not None and time.time() - path.stat().st_mtime > (
            self.max_age
        ):
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def _store(self, url: httpx.URL, body: Any) -> None:
        """Write a body to the cache atomically (a crash leaves no half file)."""
        path = self._cache_file(url)
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(body, stream, ensure_ascii=False)
        os.replace(tmp, path)


def retry_after_seconds(response: httpx.Response | None) -> float | None:
    """Seconds a ``Retry-After`` header asks to wait (RFC 9110), else ``None``.

    Both forms are read: a number of seconds (``"120"``) and an HTTP date
    (``"Wed, 21 Oct 2015 07:28:00 GMT"``, counted from now, at least 0).
    """
    value = response.headers.get("Retry-After") if response is not None else None
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _decode(response: httpx.Response, check: Check | None) -> tuple[Any, str]:
    """The JSON body and ``""``, or ``None`` and what is wrong with it."""
    try:
        body = response.json()
    except ValueError:
        return None, "a body that is not complete JSON"
    problem = check(body) if check is not None else None
    return body, problem or ""
