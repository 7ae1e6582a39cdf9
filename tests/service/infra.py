"""Service test infrastructure: a throwaway PostgreSQL, a live server, a browser.

The fixtures in ``tests/service/conftest.py`` are thin wrappers around the helpers
here, so that ``test_infra.py`` can also drive the helpers directly (start, stop,
start-up failure) where a fixture would hide the teardown.

Nothing here imports the ``service`` package, and the optional test dependencies
(psycopg, uvicorn, Playwright) are imported where they are used, so that a missing
one turns into a skip of the tests that need it rather than a collection error.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import logging
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import urlsplit

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Playwright

logger = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
PG_SUPERUSER = "postgres"
PG_START_TIMEOUT = 30.0
PG_STOP_TIMEOUT = 15.0
SERVER_START_TIMEOUT = 10.0
SERVER_STOP_TIMEOUT = 10.0
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # containers often mount a 64 MB /dev/shm, too small for renderers
    "--disable-dev-shm-usage",
)
BROWSER_TIMEOUT_MS = 10_000
BROWSER_LAUNCH_TIMEOUT_MS = 30_000

# the users a root test run hands the cluster to, in order of preference: the
# Debian package creates `postgres`; `nobody` exists everywhere
UNPRIVILEGED_USERS = ("postgres", "nobody")


class InfraError(RuntimeError):
    """The test infrastructure could not start or stop a helper process."""


def in_ci() -> bool:
    """Tell whether the tests run in CI, where a missing dependency is a failure."""
    return os.environ.get("CI", "").strip().lower() == "true"


def skip_or_fail(reason: str) -> NoReturn:
    """Skip the test on a developer's machine, fail it in CI (``CI=true``).

    Parameters
    ----------
    reason
        What is missing and how to install it.
    """
    if in_ci():
        pytest.fail(f"{reason} [CI=true: a missing dependency is a failure]")
    pytest.skip(reason)


def free_port() -> int:
    """Return a TCP port on the loopback interface that was free a moment ago.

    Notes
    -----
    Another process may take the port between this call and its use; callers
    that start a server on it retry with a new port (see `start_postgres`).
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


# --------------------------------------------------------------------- PostgreSQL


def find_pg_bindir() -> Path | None:
    """Find the folder holding PostgreSQL's ``initdb`` and ``postgres``.

    Returns
    -------
    Path or None
        ``$PG_BINDIR`` when set, else the folder of ``initdb`` on ``PATH``, else the
        newest ``/usr/lib/postgresql/<major>/bin`` (Debian keeps the server binaries
        off ``PATH``), else ``/usr/pgsql-<major>/bin`` (PGDG RPMs); None when no
        folder has both binaries.
    """
    candidates: list[Path] = []
    if os.environ.get("PG_BINDIR"):
        candidates.append(Path(os.environ["PG_BINDIR"]))
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).resolve().parent)

    # newest major first; sorted numerically, so that 10 comes after 9
    for pattern in ("/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin"):
        found = [Path(p) for p in glob.glob(pattern)]
        candidates += sorted(found, key=_major_version, reverse=True)

    for bindir in candidates:
        if all(os.access(bindir / name, os.X_OK) for name in ("initdb", "postgres")):
            return bindir
    return None


def _major_version(bindir: Path) -> int:
    """The major version in a path such as ``/usr/lib/postgresql/15/bin``."""
    match = re.search(r"(\d+)", str(bindir.parent.name))
    return int(match.group(1)) if match else -1


@dataclass
class PostgresCluster:
    """A running throwaway PostgreSQL cluster on the loopback interface.

    Attributes
    ----------
    root
        Temporary folder holding ``data/`` (the cluster), ``socket/`` (the unix
        socket) and ``server.log``; deleted by `stop`.
    port
        TCP port on 127.0.0.1.
    process
        The ``postgres`` server process.
    started_in
        Seconds from ``initdb`` to the first accepted connection.
    user
        The database superuser, trusted without a password.
    """

    root: Path
    port: int
    process: subprocess.Popen[bytes]
    started_in: float
    user: str = PG_SUPERUSER

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the ``postgres`` maintenance database."""
        return self.database_url("postgres")

    def database_url(self, name: str) -> str:
        """SQLAlchemy URL (psycopg 3 driver) of database ``name`` in this cluster."""
        return f"postgresql+psycopg://{self.user}@{LOOPBACK}:{self.port}/{name}"

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the server log, for error messages."""
        return _tail(self.root / "server.log", lines)

    def stop(self) -> None:
        """Stop the server (fast shutdown, then kill) and delete its folder."""
        start = time.perf_counter()
        _stop_process(self.process, signal.SIGINT, PG_STOP_TIMEOUT)
        shutil.rmtree(self.root, ignore_errors=True)
        logger.info(
            "stopped PostgreSQL on port %d in %.2f s",
            self.port,
            time.perf_counter() - start,
        )


def start_postgres(bindir: Path, *, attempts: int = 3) -> PostgresCluster:
    """Create a cluster with ``initdb`` in a temporary folder and start it.

    The cluster trusts connections on the unix socket (inside the folder) and on
    127.0.0.1 only, without a password, for the superuser ``postgres``; it
    listens on a free loopback port. Durability is switched off (``fsync``,
    ``synchronous_commit``, ``full_page_writes``) since the data are thrown away.

    Parameters
    ----------
    bindir
        Folder with ``initdb`` and ``postgres``, see `find_pg_bindir`.
    attempts
        How often to retry with a new port when another process took the port
        between picking and binding it.

    Returns
    -------
    PostgresCluster
        The running cluster; call ``stop()`` to end it and delete its folder.

    Raises
    ------
    InfraError
        When ``initdb`` fails or the server does not accept connections within
        30 s; the message carries the tail of the log.

    Notes
    -----
    PostgreSQL refuses to run as root. When the tests run as root (as in CI), the
    folder is handed to the ``postgres`` system user (or ``nobody``) and
    ``initdb`` and ``postgres`` run as that user; the test process itself, root,
    can still signal and delete them.

    Known limits: the unix socket path must stay under 107 bytes, so a very long
    ``$TMPDIR`` breaks the start; a test process killed with SIGKILL leaves the
    server running and its folder behind (``/tmp/buurtgroepen-pg-*``).
    """
    start = time.perf_counter()
    owner = _unprivileged_owner()
    root = _make_root(owner)
    try:
        _initdb(bindir, root, owner)
        port, process = _start_server(bindir, root, owner, attempts)
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise

    cluster = PostgresCluster(root, port, process, time.perf_counter() - start)
    logger.info(
        "started PostgreSQL %s on %s:%d in %.2f s (server user %s)",
        bindir.parent.name,
        LOOPBACK,
        port,
        cluster.started_in,
        owner.pw_name if owner else "current",
    )
    return cluster


def _start_server(
    bindir: Path, root: Path, owner: pwd.struct_passwd | None, attempts: int
) -> tuple[int, subprocess.Popen[bytes]]:
    """Start the server on a free port, retrying when the port was taken."""
    for attempt in range(1, attempts + 1):
        port = free_port()
        process = _spawn_server(bindir, root, owner, port)
        try:
            if _wait_until_ready(process, root, port):
                return port, process
        except BaseException:
            _stop_process(process, signal.SIGINT, PG_STOP_TIMEOUT)
            raise

        # the server exited: retry only when another process took the port
        if attempt == attempts or "already in use" not in _tail(root / "server.log"):
            break
    raise InfraError(
        f"PostgreSQL exited right after its start on port {port}; server log:\n"
        f"{_tail(root / 'server.log')}"
    )


def _unprivileged_owner() -> pwd.struct_passwd | None:
    """The user to run PostgreSQL as when we are root; None when we are not."""
    if os.geteuid() != 0:
        return None
    for name in UNPRIVILEGED_USERS:
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise InfraError(
        "the tests run as root and PostgreSQL refuses to; none of the users "
        f"{', '.join(UNPRIVILEGED_USERS)} exists to run it as: create one "
        "(`useradd --system postgres`) or run the tests as a normal user"
    )


def _make_root(owner: pwd.struct_passwd | None) -> Path:
    """A fresh temporary folder, owned by ``owner`` when we are root."""
    # as root the server user must be able to reach the folder: $TMPDIR may sit
    # under a private home directory, /tmp never does
    parent = tempfile.gettempdir()
    if owner is not None and not _world_traversable(Path(parent)):
        parent = "/tmp"
    root = Path(tempfile.mkdtemp(prefix="buurtgroepen-pg-", dir=parent))
    (root / "socket").mkdir(mode=0o700)
    (root / "server.log").touch(mode=0o600)
    if owner is not None:
        for path in (root, root / "socket", root / "server.log"):
            os.chown(path, owner.pw_uid, owner.pw_gid)
    return root


def _world_traversable(path: Path) -> bool:
    """Whether every folder from ``/`` down to ``path`` lets others pass (o+x)."""
    folders = [path.resolve(), *path.resolve().parents]
    return all(p.stat().st_mode & stat.S_IXOTH for p in folders)


def _run_as(owner: pwd.struct_passwd | None) -> dict[str, Any]:
    """``subprocess`` keyword arguments that drop root to ``owner``."""
    # PG* variables of the developer's shell (PGDATA, PGPORT...) must not leak in
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env |= {"LC_ALL": "C", "TZ": "UTC"}
    if owner is None:
        return {"env": env}
    env |= {"HOME": owner.pw_dir, "USER": owner.pw_name, "LOGNAME": owner.pw_name}
    return {
        "env": env,
        "user": owner.pw_uid,
        "group": owner.pw_gid,
        "extra_groups": [],
    }


def _initdb(bindir: Path, root: Path, owner: pwd.struct_passwd | None) -> None:
    """Run ``initdb`` and restrict authentication to the socket and 127.0.0.1."""
    command = [
        str(bindir / "initdb"),
        "--pgdata",
        str(root / "data"),
        "--username",
        PG_SUPERUSER,
        "--auth",
        "trust",
        "--encoding",
        "UTF8",
        "--no-locale",
        "--no-sync",
    ]
    result = subprocess.run(
        command,
        cwd=root,
        capture_output=True,
        text=True,
        timeout=PG_START_TIMEOUT,
        check=False,
        **_run_as(owner),
    )
    if result.returncode != 0:
        raise InfraError(
            f"initdb failed with exit code {result.returncode}:\n"
            f"{result.stderr[-2000:]}"
        )

    # initdb's trust lines also cover ::1 and replication; keep loopback IPv4 only.
    # Writing into the existing file keeps its owner (the server user).
    hba = "local all all trust\nhost all all 127.0.0.1/32 trust\n"
    (root / "data" / "pg_hba.conf").write_text(hba)


def _spawn_server(
    bindir: Path, root: Path, owner: pwd.struct_passwd | None, port: int
) -> subprocess.Popen[bytes]:
    """Start ``postgres`` in the foreground of a child process, logging to a file."""
    settings = {
        "listen_addresses": LOOPBACK,
        "port": str(port),
        "unix_socket_directories": str(root / "socket"),
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
        "max_connections": "200",
    }
    command = [str(bindir / "postgres"), "-D", str(root / "data")]
    for name, value in settings.items():
        command += ["-c", f"{name}={value}"]
    with open(root / "server.log", "ab") as log:
        return subprocess.Popen(
            command,
            cwd=root,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            **_run_as(owner),
        )


def _wait_until_ready(process: subprocess.Popen[bytes], root: Path, port: int) -> bool:
    """Poll until the server accepts a connection; False when it exited early."""
    import psycopg

    deadline = time.monotonic() + PG_START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with psycopg.connect(**_conninfo(port, "postgres"), connect_timeout=2):
                return True
        except psycopg.OperationalError:
            time.sleep(0.05)

    _stop_process(process, signal.SIGINT, PG_STOP_TIMEOUT)
    raise InfraError(
        f"PostgreSQL did not accept connections on port {port} within "
        f"{PG_START_TIMEOUT:.0f} s; server log:\n{_tail(root / 'server.log')}"
    )


def _conninfo(port: int, dbname: str) -> dict[str, Any]:
    """psycopg connection keywords for the cluster on ``port``."""
    return {"host": LOOPBACK, "port": port, "user": PG_SUPERUSER, "dbname": dbname}


def create_database(cluster: PostgresCluster) -> str:
    """Create an empty database with a unique name and return its name."""
    import psycopg

    name = f"test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(**_conninfo(cluster.port, "postgres"), autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    return name


def drop_database(cluster: PostgresCluster, name: str) -> None:
    """Drop database ``name``, first ending the sessions still connected to it.

    Notes
    -----
    A test may leave an SQLAlchemy pool or a server thread connected; those
    sessions are terminated, so the next query on them fails.
    """
    import psycopg

    with psycopg.connect(**_conninfo(cluster.port, "postgres"), autocommit=True) as c:
        c.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _stop_process(process: subprocess.Popen[bytes], sig: int, timeout: float) -> None:
    """Send ``sig``, wait up to ``timeout`` seconds, then kill and reap."""
    if process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout)


def _tail(path: Path, lines: int = 20) -> str:
    """The last ``lines`` lines of a text file, or a note that it is missing."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as error:
        return f"(no log: {error})"


# -------------------------------------------------------------------- live server


class LiveServer:
    """Serve an ASGI app with uvicorn in a background thread on a loopback port.

    Parameters
    ----------
    app
        The ASGI application; its lifespan runs (``lifespan="on"``).

    Notes
    -----
    The listening socket is bound before the thread starts, so there is no race
    for the port. Uvicorn installs no signal handlers outside the main thread, so
    Ctrl+C still reaches pytest.
    """

    def __init__(self, app: Callable[..., Any]) -> None:
        import uvicorn

        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind((LOOPBACK, 0))
        self.port = int(self._socket.getsockname()[1])
        self.url = f"http://{LOOPBACK}:{self.port}"

        # log_config=None: leave the test process's logging alone (caplog)
        config = uvicorn.Config(
            app,
            host=LOOPBACK,
            port=self.port,
            lifespan="on",
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=5,
        )
        self.server = uvicorn.Server(config)
        self.exit_code: int | str | None = None
        self._thread = threading.Thread(
            target=self._run, name=f"live-server-{self.port}", daemon=True
        )

    def _run(self) -> None:
        """The thread's body: serve until told to exit."""
        # uvicorn ends a failed lifespan start-up with sys.exit(3); in a thread
        # that is an unhandled exception (an error under pytest), so keep the code
        try:
            self.server.run(sockets=[self._socket])
        except SystemExit as exit_:
            self.exit_code = exit_.code

    def start(self) -> str:
        """Start serving and wait until the app's start-up has finished.

        Returns
        -------
        str
            The base URL, ``http://127.0.0.1:PORT`` (no trailing slash).

        Raises
        ------
        InfraError
            When the app's lifespan start-up fails or takes longer than 10 s.
        """
        start = time.perf_counter()
        self._thread.start()
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while not self.server.started:
            if not self._thread.is_alive():
                self.stop()
                raise InfraError(
                    f"the live server on port {self.port} did not start: the app's "
                    f"lifespan start-up failed (exit code {self.exit_code}); see the "
                    "captured log of `uvicorn.error` for its traceback"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise InfraError(
                    f"the live server on port {self.port} did not start within "
                    f"{SERVER_START_TIMEOUT:.0f} s: the app's lifespan start-up hangs"
                )
            time.sleep(0.01)
        logger.info(
            "live server on port %d up in %.2f s",
            self.port,
            time.perf_counter() - start,
        )
        return self.url

    def stop(self) -> None:
        """Ask the server to exit, then force it; join the thread (bounded)."""
        self.server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(SERVER_STOP_TIMEOUT)
        if self._thread.is_alive():
            self.server.force_exit = True
            self._thread.join(SERVER_STOP_TIMEOUT)
        self._socket.close()
        if self._thread.is_alive():
            raise InfraError(
                f"the live server on port {self.port} did not stop within "
                f"{2 * SERVER_STOP_TIMEOUT:.0f} s (a request handler blocks?)"
            )


# ------------------------------------------------------------------------ browser


@dataclass
class BrowserSession:
    """One headless Chromium for the test session, driven by Playwright's sync API.

    Notes
    -----
    Playwright's sync API marks its event loop as the running loop of the main
    thread after every call, which makes ``asyncio.run()`` fail
    ("cannot be called from a running event loop") in every later test of the
    session. The session clears that mark between tests and sets it again for
    the tests that use a page (`page`); inside such a test, ``asyncio.run()``
    in the main thread still fails.
    """

    playwright: Playwright
    browser: Browser
    loop: asyncio.AbstractEventLoop | None

    @classmethod
    def launch(cls) -> BrowserSession:
        """Start Playwright and Debian's Chromium (headless, no sandbox)."""
        from playwright.sync_api import sync_playwright

        start = time.perf_counter()
        playwright = sync_playwright().start()
        try:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM),
                headless=True,
                args=list(CHROMIUM_ARGS),
                timeout=BROWSER_LAUNCH_TIMEOUT_MS,
            )
        except BaseException:
            playwright.stop()
            raise

        # the last sync call left Playwright's loop marked as running
        version = browser.version
        session = cls(playwright, browser, asyncio._get_running_loop())
        session._release_loop()
        logger.info(
            "launched Chromium %s in %.2f s", version, time.perf_counter() - start
        )
        return session

    @contextlib.contextmanager
    def page(self) -> Iterator[Page]:
        """A page in a fresh browser context, with ``console_errors`` attached.

        ``page.console_errors`` collects, in order, the text of every
        ``console.error`` call, every failed resource load (with its URL) and
        every uncaught exception (prefixed ``"uncaught: "``).
        """
        self._claim_loop()
        context = self.browser.new_context()
        try:
            context.set_default_timeout(BROWSER_TIMEOUT_MS)
            context.set_default_navigation_timeout(BROWSER_TIMEOUT_MS)
            page = context.new_page()
            errors: list[str] = []
            page.console_errors = errors  # type: ignore[attr-defined]
            page.on("console", _collect_console_error(errors))
            page.on("pageerror", lambda error: errors.append(f"uncaught: {error}"))
            yield page
        finally:
            self._claim_loop()
            context.close()
            self._release_loop()

    def close(self) -> None:
        """Close the browser and stop Playwright's driver."""
        self._claim_loop()
        try:
            self.browser.close()
        finally:
            self.playwright.stop()
            self._release_loop()

    def _claim_loop(self) -> None:
        """Mark Playwright's loop as running again, as its sync calls expect."""
        if self.loop is not None:
            asyncio._set_running_loop(self.loop)

    def _release_loop(self) -> None:
        """Clear the running-loop mark Playwright leaves on the main thread."""
        if asyncio._get_running_loop() is self.loop:
            asyncio._set_running_loop(None)


def _collect_console_error(errors: list[str]) -> Callable[[Any], None]:
    """A ``console`` event handler appending the text of error messages.

    Chromium reports a failed resource load as a console error without its URL;
    the URL is appended, and the 404 of the ``/favicon.ico`` that the browser
    requests on its own (the page did not ask for it) is left out.
    """

    def on_console(message: Any) -> None:
        if message.type != "error":
            return
        text = message.text
        if text.startswith("Failed to load resource"):
            url = str(message.location.get("url", ""))
            if urlsplit(url).path == "/favicon.ico":
                return
            text = f"{text} ({url})"
        errors.append(text)

    return on_console
