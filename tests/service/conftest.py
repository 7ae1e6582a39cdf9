"""Fixtures of the service tests: PostgreSQL, databases, a live server, a browser.

Fixture API (names are fixed; the service tests use them):

``postgres_url`` (session)
    ``postgresql+psycopg://postgres@127.0.0.1:PORT/postgres`` of a throwaway
    cluster started for the session (see `infra.start_postgres`).
``database_url`` (function, ids ``sqlite`` and ``postgresql``)
    URL of an empty database: a SQLite file in ``tmp_path``, or a database with a
    unique name in the session cluster, dropped after the test.
``live_server`` (function)
    Factory ``live_server(app) -> "http://127.0.0.1:PORT"`` serving an ASGI app
    in a background thread until the end of the test.
``browser_page`` (function)
    A Playwright ``Page`` of headless Chromium in a fresh context, with
    ``page.console_errors``, a list of the console errors and uncaught exceptions.

Missing PostgreSQL or Chromium skips the tests that need them, and fails them
when ``CI=true``. Nothing here imports the ``service`` package.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.service.infra import (
    CHROMIUM,
    BrowserSession,
    LiveServer,
    PostgresCluster,
    create_database,
    drop_database,
    find_pg_bindir,
    skip_or_fail,
    start_postgres,
)

if TYPE_CHECKING:
    from playwright.sync_api import Page


def _require_module(name: str, extra: str) -> None:
    """Skip (fail in CI) when the Python package ``name`` is not installed."""
    if importlib.util.find_spec(name) is None:
        skip_or_fail(f"Python package {name} not installed (pip install -e '{extra}')")


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """A throwaway PostgreSQL cluster on 127.0.0.1 for the whole session."""
    bindir = find_pg_bindir()
    if bindir is None:
        skip_or_fail(
            "PostgreSQL server binaries not found (apt-get install postgresql)"
        )
    _require_module("psycopg", ".[test]")

    cluster = start_postgres(bindir)
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def postgres_url(postgres_cluster: PostgresCluster) -> str:
    """SQLAlchemy URL of the session cluster's ``postgres`` database."""
    return postgres_cluster.url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of an empty database, once per backend (ids ``sqlite``, ``postgresql``)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'buurtgroepen.db'}"
        return

    # only the postgresql case needs (and may skip on) the cluster
    cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
    name = create_database(cluster)
    yield cluster.database_url(name)
    drop_database(cluster, name)


@pytest.fixture
def live_server() -> Iterator[Callable[[Any], str]]:
    """Factory serving an ASGI app on a free loopback port until the test ends."""
    _require_module("uvicorn", ".")
    servers: list[LiveServer] = []

    def serve(app: Any) -> str:
        server = LiveServer(app)
        servers.append(server)
        return server.start()

    yield serve
    for server in reversed(servers):
        server.stop()


@pytest.fixture(scope="session")
def browser_session() -> Iterator[BrowserSession]:
    """Headless Debian Chromium, launched once per session, closed at its end."""
    if not CHROMIUM.is_file():
        skip_or_fail(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    _require_module("playwright", ".[test]")

    session = BrowserSession.launch()
    yield session
    session.close()


@pytest.fixture
def browser_page(browser_session: BrowserSession) -> Iterator[Page]:
    """A page in a fresh browser context; ``page.console_errors`` lists errors."""
    with browser_session.page() as page:
        yield page
