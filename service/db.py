"""Database engine, sessions and migrations.

SQLite (the embedded default) runs in WAL mode with a busy timeout, foreign keys
on and ``secure_delete`` on, so erased values are overwritten in the file rather
than left in free pages. Every transaction starts with ``BEGIN IMMEDIATE``: a
deferred transaction that reads and then writes can fail at once with
``SQLITE_BUSY`` under concurrent writers, whatever the busy timeout, while an
immediate one waits its turn. PostgreSQL needs none of this.

The schema is created and upgraded with Alembic at start-up
(:func:`migrate`), from a configuration built in code.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.orm import Session, sessionmaker

logger = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_S = 30.0
CHECKPOINT_WAIT_S = 2.0


def make_engine(url: str) -> Engine:
    """Create the engine for a database URL, with the SQLite settings above.

    Parameters
    ----------
    url
        SQLAlchemy URL, e.g. ``sqlite:///var/buurtgroepen/buurtgroepen.db`` or
        ``postgresql+psycopg://user@127.0.0.1/buurtgroepen``.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)

    engine = create_engine(
        url,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S},
        pool_size=8,
        max_overflow=16,
    )
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def _sqlite_on_connect(dbapi_connection: object, _record: object) -> None:
    """Per connection: driver transactions off, WAL, busy timeout, secure delete."""
    dbapi_connection.isolation_level = None  # type: ignore[attr-defined]
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    for pragma in (
        "PRAGMA journal_mode=WAL",
        f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}",
        "PRAGMA foreign_keys=ON",
        "PRAGMA secure_delete=ON",
        "PRAGMA synchronous=NORMAL",
    ):
        cursor.execute(pragma)
    cursor.close()


def _sqlite_on_begin(connection: object) -> None:
    """Take the write lock at the start of every transaction (see module notes)."""
    connection.exec_driver_sql("BEGIN IMMEDIATE")  # type: ignore[attr-defined]


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded values readable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(engine: Engine) -> Config:
    """An Alembic configuration built in code (no alembic.ini)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration (safe to run on every start)."""
    started = time.perf_counter()
    command.upgrade(alembic_config(engine), "head")
    logger.info(
        "database schema up to date (%s) in %.2f s",
        engine.dialect.name,
        time.perf_counter() - started,
    )


def checkpoint(engine: Engine) -> bool:
    """Fold SQLite's write-ahead log into the file and truncate it.

    After an erasure this removes the old page images from the ``-wal`` file,
    so the erased values are gone from disk, not only from the tables. A
    reader still on an older snapshot blocks the truncation; the checkpoint
    then waits up to ``CHECKPOINT_WAIT_S`` and gives up with a warning (the
    next checkpoint, at the next erasure or start, folds the log). A no-op on
    PostgreSQL, whose dead rows go with autovacuum.

    Returns
    -------
    bool
        Whether the log is folded and empty (always True on PostgreSQL).
    """
    if engine.dialect.name != "sqlite":
        return True
    # on the driver connection: a checkpoint cannot run inside a transaction
    raw = engine.raw_connection()
    try:
        driver = raw.driver_connection
        driver.execute(f"PRAGMA busy_timeout={int(CHECKPOINT_WAIT_S * 1000)}")
        busy, _, _ = driver.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        driver.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
    finally:
        raw.close()
    if busy:
        logger.warning(
            "write-ahead log not truncated: a reader holds an older snapshot; "
            "erased values stay in the -wal file until the next checkpoint"
        )
    return not busy
