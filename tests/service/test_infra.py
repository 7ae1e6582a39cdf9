"""The service test fixtures themselves: PostgreSQL, databases, live server, browser."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from tests.service.infra import (
    InfraError,
    LiveServer,
    PostgresCluster,
    create_database,
    drop_database,
    find_pg_bindir,
    skip_or_fail,
)

PAGE = """<!doctype html>
<html lang="nl"><head><meta charset="utf-8"><title>Aanmelden</title>
<link rel="icon" href="data:,"></head>
<body><h1>Buurtpreventie</h1><p id="status">klaar</p>{script}</body></html>
"""


def make_app(events: list[str] | None = None) -> FastAPI:
    """A tiny app: ``/health``, a quiet page and a page that logs a console error."""
    events = [] if events is None else events

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        events.append("startup")
        yield
        events.append("shutdown")

    app = FastAPI(lifespan=lifespan)

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/quiet", response_class=HTMLResponse)
    def quiet() -> str:
        return PAGE.format(script="")

    @app.get("/broken-image", response_class=HTMLResponse)
    def broken_image() -> str:
        # no icon link: the browser asks for /favicon.ico (a 404) on its own
        return "<!doctype html><title>x</title><img src='/missing.png' alt=''>"

    @app.get("/noisy", response_class=HTMLResponse)
    def noisy() -> str:
        return PAGE.format(script="<script>console.error('kapot: 42')</script>")

    return app


def table_names(url: str) -> list[str]:
    """The tables in the database at ``url``."""
    engine = sa.create_engine(url)
    try:
        return sa.inspect(engine).get_table_names()
    finally:
        engine.dispose()


# ------------------------------------------------------------ missing dependencies


def test_missing_dependency_skips_locally_and_fails_in_ci(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reason = "PostgreSQL server binaries not found (apt-get install postgresql)"
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception) as skipped:
        skip_or_fail(reason)
    assert str(skipped.value) == reason

    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"apt-get install postgresql"):
        skip_or_fail(reason)


def test_find_pg_bindir_needs_both_server_binaries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for folder, names in {"full": ("initdb", "postgres"), "half": ("initdb",)}.items():
        (tmp_path / folder).mkdir()
        for name in names:
            (tmp_path / folder / name).write_text("#!/bin/sh\n")
            (tmp_path / folder / name).chmod(0o755)

    monkeypatch.setenv("PG_BINDIR", str(tmp_path / "full"))
    assert find_pg_bindir() == tmp_path / "full"
    monkeypatch.setenv("PG_BINDIR", str(tmp_path / "half"))
    assert find_pg_bindir() != tmp_path / "half"


# --------------------------------------------------------------------- PostgreSQL


def test_postgres_cluster_answers_select_1_on_loopback(postgres_url: str) -> None:
    engine = sa.create_engine(postgres_url)
    try:
        with engine.connect() as connection:
            one = connection.execute(sa.text("select 1")).scalar_one()
            address = connection.execute(sa.text("select inet_server_addr()"))
            user = connection.execute(sa.text("select current_user")).scalar_one()
            host = address.scalar_one()
    finally:
        engine.dispose()

    assert one == 1
    assert str(host) == "127.0.0.1"
    assert user == "postgres"
    assert postgres_url.startswith("postgresql+psycopg://postgres@127.0.0.1:")


def test_postgres_server_does_not_run_as_root(
    postgres_cluster: PostgresCluster,
) -> None:
    status = Path(f"/proc/{postgres_cluster.process.pid}/status").read_text()
    uid_line = next(line for line in status.splitlines() if line.startswith("Uid:"))
    real, effective = (int(u) for u in uid_line.split()[1:3])

    assert postgres_cluster.process.poll() is None
    assert real != 0 and effective != 0
    assert (postgres_cluster.root / "socket").is_dir()


def test_drop_database_ends_open_sessions(postgres_cluster: PostgresCluster) -> None:
    name = create_database(postgres_cluster)
    url = postgres_cluster.database_url(name)
    engine = sa.create_engine(url)
    try:
        # a session left open, as a forgotten pool or server thread would
        connection = engine.connect()
        connection.execute(sa.text("create table t (id int)"))
        connection.commit()
        drop_database(postgres_cluster, name)

        with pytest.raises(sa.exc.OperationalError):
            connection.execute(sa.text("select 1"))
        connection.invalidate()
    finally:
        engine.dispose()

    admin = sa.create_engine(postgres_cluster.url)
    try:
        with admin.connect() as c:
            query = sa.text("select count(*) from pg_database where datname = :n")
            assert c.execute(query, {"n": name}).scalar_one() == 0
    finally:
        admin.dispose()


# ----------------------------------------------------------------------- database


@pytest.mark.parametrize("round_", [1, 2])
def test_database_url_is_empty_and_writable(
    database_url: str, request: pytest.FixtureRequest, round_: int
) -> None:
    # a table left by the other round would show here
    backend = request.node.callspec.params["database_url"]
    assert sa.make_url(database_url).get_backend_name() == backend
    assert table_names(database_url) == []

    engine = sa.create_engine(database_url)
    try:
        with engine.begin() as connection:
            connection.execute(sa.text("create table leftover (id integer)"))
            connection.execute(
                sa.text("insert into leftover values (:r)"), {"r": round_}
            )
    finally:
        engine.dispose()
    assert table_names(database_url) == ["leftover"]


# -------------------------------------------------------------------- live server


def test_live_server_serves_app_on_loopback(
    live_server: Callable[[Any], str],
) -> None:
    events: list[str] = []
    url = live_server(make_app(events))

    response = httpx.get(f"{url}/health", timeout=5)

    assert url.startswith("http://127.0.0.1:")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert events == ["startup"]


def test_live_server_factory_serves_two_apps_at_once(
    live_server: Callable[[Any], str],
) -> None:
    first, second = live_server(make_app()), live_server(make_app())

    assert first != second
    for url in (first, second):
        assert httpx.get(f"{url}/health", timeout=5).status_code == 200


def test_live_server_stop_runs_shutdown_and_frees_port() -> None:
    events: list[str] = []
    server = LiveServer(make_app(events))
    url = server.start()
    assert httpx.get(f"{url}/health", timeout=5).status_code == 200

    server.stop()

    assert events == ["startup", "shutdown"]
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/health", timeout=2)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", server.port))


def test_live_server_reports_failed_startup_quickly() -> None:
    @asynccontextmanager
    async def broken(_: FastAPI) -> AsyncIterator[None]:
        raise RuntimeError("database unreachable")
        yield

    server = LiveServer(FastAPI(lifespan=broken))

    with pytest.raises(InfraError, match="lifespan start-up failed"):
        server.start()


# ------------------------------------------------------------------------ browser


def test_browser_page_reads_text_without_console_errors(
    live_server: Callable[[Any], str], browser_page: Any
) -> None:
    url = live_server(make_app())

    browser_page.goto(f"{url}/quiet")

    assert browser_page.title() == "Aanmelden"
    assert browser_page.locator("#status").inner_text() == "klaar"
    assert browser_page.console_errors == []


def test_browser_page_collects_console_errors(
    live_server: Callable[[Any], str], browser_page: Any
) -> None:
    url = live_server(make_app())

    browser_page.goto(f"{url}/noisy")
    with browser_page.expect_event("pageerror"):
        browser_page.evaluate("() => setTimeout(() => { throw new Error('oeps'); })")

    assert browser_page.locator("h1").inner_text() == "Buurtpreventie"
    assert browser_page.console_errors[0] == "kapot: 42"
    assert browser_page.console_errors[1].startswith("uncaught: ")
    assert "oeps" in browser_page.console_errors[1]


def test_browser_page_reports_failed_loads_but_not_the_implicit_favicon(
    live_server: Callable[[Any], str], browser_page: Any
) -> None:
    url = live_server(make_app())

    browser_page.goto(f"{url}/broken-image")
    browser_page.wait_for_load_state("load")

    assert len(browser_page.console_errors) == 1
    assert browser_page.console_errors[0].startswith("Failed to load resource")
    assert browser_page.console_errors[0].endswith(f"({url}/missing.png)")


def test_browser_pages_do_not_share_state(
    live_server: Callable[[Any], str], browser_page: Any
) -> None:
    # the previous test's cookies and errors belong to its own context
    url = live_server(make_app())
    browser_page.goto(f"{url}/quiet")

    assert browser_page.context.cookies() == []
    assert browser_page.console_errors == []
    assert len(browser_page.context.pages) == 1


def test_asyncio_run_works_between_browser_tests(browser_session: Any) -> None:
    # Playwright's sync API leaves its loop marked as running on the main thread
    async def answer() -> int:
        await asyncio.sleep(0)
        return 42

    assert asyncio.run(answer()) == 42
