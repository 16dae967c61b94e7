"""Opening the state database: URL parsing, engine creation, SQLite set-up, small helpers.

SQLite needs to be 3.35 or newer (RETURNING, materialized CTEs).

On PostgreSQL the store uses the connection's ``search_path``; to keep it in its own
schema, put ``?options=-csearch_path%3Dsegsync`` on the URL (Alembic's version table
follows it there too).
"""

from __future__ import annotations

import os
import socket
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool

from connectors.base import OBJECT_TYPES, ObjectType

DEFAULT_URL = "sqlite:///.segsync/state.db"
"""Where state lives when nothing else is configured (relative to the working directory)."""

# RETURNING, "AS MATERIALIZED" CTEs and upserts onto partial indexes all need 3.35.
_SQLITE_MIN_VERSION = (3, 35)
# SQLite (>= 3.32) caps a statement at 32766 bound parameters, PostgreSQL at 65535.
# Chunks this size stay well inside both while needing only ~20 round trips for 100k ids.
_IN_CHUNK = 5000
# Rows per executemany batch for bulk upserts: bounds memory of one batch, not correctness.
_WRITE_CHUNK = 5000
# Several processes (beat, workers, webhook receiver) share one SQLite file; a writer
# waits this long for the lock instead of failing with "database is locked".
_SQLITE_BUSY_TIMEOUT_S = 30.0
# Execution option marking a connection whose transaction will write (see _sqlite_begin).
_WRITE_OPTION = "segsync_write"

_T = TypeVar("_T")


def normalize_url(url: str | URL) -> URL:
    """Parse ``url``; a bare ``postgresql://`` / ``postgres://`` gets the psycopg 3 driver.

    Only psycopg 3 is a dependency, and SQLAlchemy would otherwise pick psycopg2.
    """
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def _sqlite_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    # Take transaction control away from the sqlite3 module (its legacy mode never
    # BEGINs before SELECT or DDL); _sqlite_begin emits BEGIN itself. This is the
    # recipe from SQLAlchemy's SQLite dialect documentation.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {int(_SQLITE_BUSY_TIMEOUT_S * 1000)}")
        # WAL lets readers proceed while one process writes; it is persistent in the
        # file, so re-issuing it is cheap. In-memory databases answer "memory".
        cursor.execute("PRAGMA journal_mode = WAL")
        # With WAL, NORMAL is still crash-safe for the database (only the last commits
        # may roll back on power loss) and avoids an fsync per transaction.
        cursor.execute("PRAGMA synchronous = NORMAL")
    finally:
        cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    # A deferred transaction that reads and then writes cannot wait for the lock (SQLite
    # reports SQLITE_BUSY at once if another writer got in first); writers therefore
    # take the write lock up front, where busy_timeout applies.
    if conn.get_execution_options().get(_WRITE_OPTION):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.exec_driver_sql("BEGIN")


def _create_engine(url: URL) -> Engine:
    backend = url.get_backend_name()
    if backend == "postgresql":
        return create_engine(
            url,
            # Long-lived workers outlive server restarts and idle timeouts.
            pool_pre_ping=True,
            # No server-side prepared statements: psycopg prepares a query after 5 runs
            # and PostgreSQL then switches to a generic plan, which turns each chunked
            # IN-list lookup from ~50 ms into seconds (measured: 100k ids, 2 s -> 105 s).
            # It also keeps the store usable behind PgBouncer in transaction mode.
            connect_args={"prepare_threshold": None},
        )
    if backend != "sqlite":
        raise ValueError(f"unsupported state database {backend!r}; use sqlite or postgresql")
    if sqlite3.sqlite_version_info < _SQLITE_MIN_VERSION:
        raise RuntimeError(
            f"the state store needs SQLite >= 3.35, this Python links {sqlite3.sqlite_version}; "
            "use a newer Python build or PostgreSQL"
        )
    database = url.database or ""
    in_memory = database in ("", ":memory:") or "mode=memory" in database
    connect_args: dict[str, Any] = {"timeout": _SQLITE_BUSY_TIMEOUT_S}
    kwargs: dict[str, Any] = {}
    if in_memory:
        # One shared connection, or every checkout would see its own empty database.
        kwargs["poolclass"] = StaticPool
        connect_args["check_same_thread"] = False
    elif not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args=connect_args, **kwargs)
    event.listen(engine, "connect", _sqlite_connect)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def process_owner() -> str:
    """``host:pid`` of this process: what a run records as its owner."""
    return f"{socket.gethostname()}:{os.getpid()}"


def owner_alive(owner: str) -> bool | None:
    """Whether the ``host:pid`` process still runs; None when it is on another host."""
    host, _, pid_text = owner.rpartition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return None
    pid = int(pid_text)
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, under another user
        return True
    return True


def _chunks(items: Sequence[_T], size: int) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _unique(values: Iterable[_T]) -> list[_T]:
    # Order-preserving de-duplication: repeated ids would only waste IN-list slots.
    return list(dict.fromkeys(values))


def _check_object_type(object_type: str) -> ObjectType:
    if object_type not in OBJECT_TYPES:
        raise ValueError(f"unknown object_type {object_type!r}; expected one of {OBJECT_TYPES}")
    return object_type
