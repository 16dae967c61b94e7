"""The state store: sync cursors, run history, written values, dead letters, event inbox.

One relational database — a SQLite file by default, PostgreSQL in production — that
holds only record ids, cursors and the values segsync itself wrote. Nothing personal
copied from the CRM lands here, so a privacy deletion in the CRM plus
:meth:`StateStore.forget_records` leaves nothing behind.

The schema is owned by the Alembic migrations in ``workers/migrations``; the ORM models
below mirror them (a test checks that the two agree) and are used to build statements.
Every timestamp goes in and comes out timezone-aware UTC, on both backends.
SQLite needs to be 3.35 or newer (RETURNING, materialized CTEs).

On PostgreSQL the store uses the connection's ``search_path``; to keep it in its own
schema, put ``?options=-csearch_path%3Dsegsync`` on the URL (Alembic's version table
follows it there too).
"""

from __future__ import annotations

import enum
import json
import os
import socket
import sqlite3
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Self, TypeAlias, TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Dialect,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    case,
    cast,
    create_engine,
    delete,
    event,
    func,
    insert,
    literal,
    null,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool
from sqlalchemy.types import TypeDecorator

from connectors.base import OBJECT_TYPES, Cursor, FieldWrite, ObjectType, WriteResult

DEFAULT_URL = "sqlite:///.segsync/state.db"
"""Where state lives when nothing else is configured (relative to the working directory)."""

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

JsonValue: TypeAlias = dict[str, Any] | list[Any] | str | int | float | bool | None

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
# Key for pg_advisory_xact_lock so concurrently starting processes migrate one at a time.
_MIGRATION_LOCK_KEY = 0x5E65_9C0C
# Execution option marking a connection whose transaction will write (see _sqlite_begin).
_WRITE_OPTION = "segsync_write"

_T = TypeVar("_T")


class RunStatus(enum.StrEnum):
    """Lifecycle of a run row."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    STOPPED = "stopped"


class EventStatus(enum.StrEnum):
    """Lifecycle of an inbox event (see ``workers/inbox.py``)."""

    PENDING = "pending"  # waiting; claimable once ``due_at`` has passed
    LEASED = "leased"  # claimed until ``due_at`` (the lease's expiry), then claimable again
    DONE = "done"
    DEAD = "dead"  # kept failing for SEGSYNC_EVENTS_DEAD_AFTER_SECONDS; `events retry` revives


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


# --------------------------------------------------------------------------- types


class UTCDateTime(TypeDecorator[datetime]):
    """``DateTime(timezone=True)`` that only accepts aware datetimes and returns UTC.

    PostgreSQL keeps the instant in ``timestamptz``; SQLite has no time zones, so
    values are normalised to UTC before storing and tagged UTC when read back.
    Naive datetimes are refused: guessing their zone would silently shift cursors.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Aware datetime in, UTC out (naive UTC for SQLite, which drops the offset)."""
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} given; use an aware one")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Whatever the driver returns, as an aware UTC datetime."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# JSONB on PostgreSQL (compact, comparable); plain JSON text elsewhere.
JsonType = JSON().with_variant(postgresql.JSONB(), "postgresql")
# SQLite only auto-increments an "INTEGER PRIMARY KEY"; BIGINT would not alias rowid.
BigId = BigInteger().with_variant(Integer(), "sqlite")


# --------------------------------------------------------------------------- models


class Base(DeclarativeBase):
    """Declarative base; its metadata is the target of the Alembic migrations."""

    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class SyncCursorRow(Base):
    """Incremental read position per ``(crm, object_type)``."""

    __tablename__ = "sync_cursors"

    crm: Mapped[str] = mapped_column(String(32), primary_key=True)
    object_type: Mapped[str] = mapped_column(String(32), primary_key=True)
    modified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_id: Mapped[str | None] = mapped_column(String(255))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class RunRow(Base):
    """One pull/sync/demo run and what it did."""

    __tablename__ = "runs"
    __table_args__ = (Index("ix_runs_started_at", "started_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    crm: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    counts: Mapped[dict[str, Any]] = mapped_column(JsonType)
    error: Mapped[str | None] = mapped_column(Text)
    # host:pid of the process running it, and when that process last said it was alive:
    # what reaping a run whose process died goes by.
    owner: Mapped[str | None] = mapped_column(String(255))
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class WrittenValueRow(Base):
    """The last value segsync wrote to one field of one record."""

    __tablename__ = "written_values"

    crm: Mapped[str] = mapped_column(String(32), primary_key=True)
    object_type: Mapped[str] = mapped_column(String(32), primary_key=True)
    record_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    field: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[str | None] = mapped_column(Text)
    previous_value: Mapped[str | None] = mapped_column(Text)
    written_at: Mapped[datetime] = mapped_column(UTCDateTime())
    entered_at: Mapped[datetime] = mapped_column(UTCDateTime())


class WriteInFlightRow(Base):
    """A record's write sent to the CRM whose answer has not been recorded yet.

    Marked before the batch goes out and dropped once its outcome is recorded; a row
    left behind belongs to a process that died mid-batch, and the next run reads the
    record back to adopt what the CRM holds instead of sending it again.
    """

    __tablename__ = "writes_in_flight"

    crm: Mapped[str] = mapped_column(String(32), primary_key=True)
    object_type: Mapped[str] = mapped_column(String(32), primary_key=True)
    record_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    fields: Mapped[dict[str, Any]] = mapped_column(JsonType)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime())


class DeadLetterRow(Base):
    """A write the CRM rejected, kept visible until someone resolves or retries it."""

    __tablename__ = "dead_letters"
    __table_args__ = (
        # At most one open letter per record: repeated failures bump `attempts` instead.
        Index(
            "uq_dead_letters_open_record",
            "crm",
            "object_type",
            "record_id",
            unique=True,
            sqlite_where=text("resolved_at IS NULL"),
            postgresql_where=text("resolved_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    crm: Mapped[str] = mapped_column(String(32))
    object_type: Mapped[str] = mapped_column(String(32))
    record_id: Mapped[str] = mapped_column(String(64))
    fields: Mapped[dict[str, Any]] = mapped_column(JsonType)
    reason: Mapped[str] = mapped_column(Text)
    code: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer)
    first_failed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_failed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # permanent | deferred | transient | rejected (None: written before revision 0005).
    kind: Mapped[str | None] = mapped_column(String(16))
    # What a permanent letter waits on: the record's inputs and the playbook it was
    # planned with; a retry sends it again only when either changed.
    inputs_fingerprint: Mapped[str | None] = mapped_column(String(64))
    playbook_fingerprint: Mapped[str | None] = mapped_column(String(64))
    # landed | superseded | gone | dismissed, once resolved.
    resolution: Mapped[str | None] = mapped_column(String(16))


class ModelStateRow(Base):
    """Fitted parameters a later run reuses (cluster centroids): aggregates, no records."""

    __tablename__ = "model_state"

    crm: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[Any] = mapped_column(JsonType)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class EventCounterRow(Base):
    """A running count about change events (forged, duplicates, echoes of our writes)."""

    __tablename__ = "event_counters"

    crm: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)


class InboxEventRow(Base):
    """A CRM change event, stored before it is acknowledged."""

    __tablename__ = "event_inbox"
    __table_args__ = (
        UniqueConstraint("crm", "event_key", name="uq_event_inbox_crm_event_key"),
        Index("ix_event_inbox_status_id", "status", "id"),
        # Claiming and status read only waiting rows: done ones (millions) are never scanned.
        Index("ix_event_inbox_crm_status_due_at", "crm", "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    crm: Mapped[str] = mapped_column(String(32))
    event_key: Mapped[str] = mapped_column(String(255))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    payload: Mapped[Any] = mapped_column(JsonType)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Pending: not before (backoff); leased: when the lease expires.
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    lease_token: Mapped[str | None] = mapped_column(String(32))
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)


class EventPauseRow(Base):
    """A CRM whose event processing failed as a whole (auth refused, down, unconfigured)."""

    __tablename__ = "event_pauses"

    crm: Mapped[str] = mapped_column(String(32), primary_key=True)
    paused_until: Mapped[datetime] = mapped_column(UTCDateTime())
    failures: Mapped[int] = mapped_column(Integer)
    since: Mapped[datetime] = mapped_column(UTCDateTime())
    reason: Mapped[str] = mapped_column(Text)


# --------------------------------------------------------------------------- values


@dataclass(frozen=True, slots=True)
class Run:
    """One row of run history."""

    id: int
    crm: str
    kind: str
    status: RunStatus
    started_at: datetime
    finished_at: datetime | None
    counts: dict[str, Any]
    error: str | None
    owner: str | None = None
    heartbeat_at: datetime | None = None

    @property
    def duration(self) -> timedelta | None:
        """Wall time of a finished run."""
        return None if self.finished_at is None else self.finished_at - self.started_at

    @classmethod
    def _from_row(cls, row: RunRow) -> Run:
        return cls(
            id=row.id,
            crm=row.crm,
            kind=row.kind,
            status=RunStatus(row.status),
            started_at=row.started_at,
            finished_at=row.finished_at,
            counts=dict(row.counts or {}),
            error=row.error,
            owner=row.owner,
            heartbeat_at=row.heartbeat_at,
        )


@dataclass(frozen=True, slots=True)
class WrittenValue:
    """What segsync last wrote to one field, and since when the value has held."""

    value: str | None
    previous_value: str | None  # the value before the latest change; None if never changed
    written_at: datetime  # the latest write, changed or not
    entered_at: datetime  # when ``value`` was first written (e.g. "entered segment at")


@dataclass(frozen=True, slots=True)
class DeadLetterEntry:
    """A rejected write to dead-letter (input of :meth:`StateStore.add_dead_letters`)."""

    object_type: str
    record_id: str
    fields: Mapping[str, Any]
    reason: str
    code: str | None = None
    kind: str | None = None
    inputs_fingerprint: str | None = None
    playbook_fingerprint: str | None = None

    @classmethod
    def from_write(
        cls, write: FieldWrite, result: WriteResult, kind: str | None = None
    ) -> DeadLetterEntry:
        """The entry for a write the CRM answered with a failed ``result``."""
        return cls(
            object_type=write.object_type,
            record_id=write.record_id,
            fields=dict(write.fields),
            reason=result.reason or str(result.status),
            code=result.code,
            kind=kind,
        )


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One dead-letter row."""

    id: int
    crm: str
    object_type: str
    record_id: str
    fields: dict[str, Any]
    reason: str
    code: str | None
    attempts: int
    first_failed_at: datetime
    last_failed_at: datetime
    resolved_at: datetime | None
    kind: str | None = None
    inputs_fingerprint: str | None = None
    playbook_fingerprint: str | None = None
    resolution: str | None = None

    @property
    def resolved(self) -> bool:
        """True once someone resolved (retried successfully or dismissed) the letter."""
        return self.resolved_at is not None

    @classmethod
    def _from_row(cls, row: DeadLetterRow) -> DeadLetter:
        return cls(
            id=row.id,
            crm=row.crm,
            object_type=row.object_type,
            record_id=row.record_id,
            fields=dict(row.fields or {}),
            reason=row.reason,
            code=row.code,
            attempts=row.attempts,
            first_failed_at=row.first_failed_at,
            last_failed_at=row.last_failed_at,
            resolved_at=row.resolved_at,
            kind=row.kind,
            inputs_fingerprint=row.inputs_fingerprint,
            playbook_fingerprint=row.playbook_fingerprint,
            resolution=row.resolution,
        )


@dataclass(frozen=True, slots=True)
class InboxEvent:
    """One stored change event."""

    id: int
    crm: str
    event_key: str
    payload: JsonValue
    status: EventStatus
    attempts: int
    received_at: datetime
    processed_at: datetime | None
    lease_token: str | None = None
    failing_since: datetime | None = None

    @classmethod
    def _from_row(cls, row: InboxEventRow) -> InboxEvent:
        return cls(
            id=row.id,
            crm=row.crm,
            event_key=row.event_key,
            payload=row.payload,
            status=EventStatus(row.status),
            attempts=row.attempts,
            received_at=row.received_at,
            processed_at=row.processed_at,
            lease_token=row.lease_token,
            failing_since=row.failing_since,
        )


# --------------------------------------------------------------------------- engine


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


def _on_conflict_written(ins: Any) -> Any:
    """The upsert of written values: what moves when a stored field is written again."""
    w = WrittenValueRow
    # NULL-safe: clearing a field (None) and setting it again are both changes.
    unchanged = w.value.is_not_distinct_from(ins.excluded.value)
    return ins.on_conflict_do_update(
        index_elements=[w.crm, w.object_type, w.record_id, w.field],
        # SET expressions see the row as it was before this statement, so the old
        # value moves to previous_value while the new one replaces it.
        set_={
            "previous_value": case((unchanged, w.previous_value), else_=w.value),
            "entered_at": case((unchanged, w.entered_at), else_=ins.excluded.entered_at),
            "value": ins.excluded.value,
            "written_at": ins.excluded.written_at,
        },
    )


def _upsert_written(
    crm: str,
    object_type: str,
    items: Sequence[tuple[tuple[str, str], str | None]],
    now: datetime,
) -> Any:
    """PostgreSQL: ``INSERT ... SELECT FROM unnest(ids, fields, values)`` with the upsert."""
    rows = (
        func.unnest(
            literal([rid for (rid, _), _ in items], postgresql.ARRAY(Text)),
            literal([f for (_, f), _ in items], postgresql.ARRAY(Text)),
            literal([v for _, v in items], postgresql.ARRAY(Text)),
        )
        .table_valued("record_id", "field", "value")
        .render_derived()
    )
    stamp = literal(now, UTCDateTime())
    source = select(
        literal(crm, String()),
        literal(object_type, String()),
        rows.c.record_id,
        rows.c.field,
        rows.c.value,
        null(),
        stamp,
        stamp,
    )
    names = [
        "crm",
        "object_type",
        "record_id",
        "field",
        "value",
        "previous_value",
        "written_at",
        "entered_at",
    ]
    return _on_conflict_written(postgresql.insert(WrittenValueRow).from_select(names, source))


def _upsert_in_flight(
    crm: str, items: Sequence[tuple[tuple[str, str], dict[str, str]]], now: datetime
) -> Any:
    """PostgreSQL: the in-flight marks as one ``INSERT ... SELECT FROM unnest(...)``."""
    rows = (
        func.unnest(
            literal([t for (t, _), _ in items], postgresql.ARRAY(Text)),
            literal([r for (_, r), _ in items], postgresql.ARRAY(Text)),
            literal([json.dumps(v) for _, v in items], postgresql.ARRAY(Text)),
        )
        .table_valued("object_type", "record_id", "fields")
        .render_derived()
    )
    source = select(
        literal(crm, String()),
        rows.c.object_type,
        rows.c.record_id,
        cast(rows.c.fields, postgresql.JSONB),
        literal(now, UTCDateTime()),
    )
    f = WriteInFlightRow
    ins = postgresql.insert(f).from_select(
        ["crm", "object_type", "record_id", "fields", "sent_at"], source
    )
    return ins.on_conflict_do_update(
        index_elements=[f.crm, f.object_type, f.record_id],
        set_={"fields": ins.excluded.fields, "sent_at": ins.excluded.sent_at},
    )


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


# --------------------------------------------------------------------------- store


class StateStore:
    """segsync's relational state, on SQLite or PostgreSQL.

    Every method runs in its own short transaction and commits before returning, so
    callers can rely on "returned means stored" (the inbox depends on that). Call
    :meth:`migrate` once at start-up before using the other methods.
    """

    def __init__(self, url: str | URL = DEFAULT_URL, *, clock: Callable[[], datetime] = utcnow):
        """Open (lazily) the database at ``url``; creates a SQLite file's parent folder.

        ``clock`` supplies "now" for every timestamp the store sets; tests pass a fake.
        """
        self.url = normalize_url(url)
        self._clock = clock
        self.engine: Engine = _create_engine(self.url)
        self.dialect: str = self.engine.dialect.name
        # The connection of this thread's open transaction() block, if any.
        self._shared = threading.local()

    def __repr__(self) -> str:
        # Safe for logs and error messages: the password is masked.
        return f"StateStore({self.url.render_as_string(hide_password=True)!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release pooled connections."""
        self.engine.dispose()

    # ------------------------------------------------------------------ plumbing

    def _now(self) -> datetime:
        now = self._clock()
        if now.tzinfo is None:
            raise ValueError("the state store clock must return aware datetimes")
        return now.astimezone(UTC)

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """A connection inside a write transaction, committed on success (or at the end of
        the enclosing :meth:`transaction` block)."""
        shared: Connection | None = getattr(self._shared, "conn", None)
        if shared is not None:
            yield shared
            return
        with self.engine.connect() as conn:
            conn.execution_options(**{_WRITE_OPTION: True})
            with conn.begin():
                yield conn

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Run this thread's store writes inside the block as one transaction: all or none
        of them, and one commit (a commit is a disk flush on PostgreSQL)."""
        if getattr(self._shared, "conn", None) is not None:
            yield
            return
        with self._write() as conn:
            self._shared.conn = conn
            try:
                yield
            finally:
                self._shared.conn = None

    @contextmanager
    def _read(self) -> Iterator[Session]:
        """A session for reads; one transaction so multi-chunk reads are consistent."""
        with Session(self.engine) as session, session.begin():
            yield session

    def _insert(self, model: type[Base]) -> sqlite.Insert | postgresql.Insert:
        # ON CONFLICT is spelled the same on both, but SQLAlchemy builds it per dialect.
        if self.dialect == "postgresql":
            return postgresql.insert(model)
        return sqlite.insert(model)

    # ------------------------------------------------------------------ schema

    def _alembic_config(self, connection: Connection) -> Config:
        # The ini sits next to env.py inside the package and names its own folder as the
        # script location, so this works from a wheel and from any working directory.
        config = Config(str(MIGRATIONS_DIR / "alembic.ini"))
        # env.py uses this connection instead of building an engine from a URL string:
        # the store's URL (with its password) never passes through configparser.
        config.attributes["connection"] = connection
        return config

    def migrate(self) -> None:
        """Bring the schema to the latest revision (Alembic ``upgrade head``).

        A fresh database gets every table; an up-to-date one is left untouched.
        """
        with self._write() as conn:
            if self.dialect == "postgresql":
                # Several processes may start at once; only one may run the DDL.
                conn.execute(select(func.pg_advisory_xact_lock(_MIGRATION_LOCK_KEY)))
            command.upgrade(self._alembic_config(conn), "head")

    def current_revision(self) -> str | None:
        """The Alembic revision the database is at (None before the first migrate)."""
        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    @staticmethod
    def head_revision() -> str | None:
        """The newest revision shipped with this version of segsync."""
        return ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()

    # ------------------------------------------------------------------ cursors

    def get_cursor(self, crm: str, object_type: ObjectType) -> Cursor:
        """The stored cursor for ``(crm, object_type)``, or an initial one if none is stored."""
        object_type = _check_object_type(object_type)
        with self._read() as session:
            row = session.get(SyncCursorRow, (crm, object_type))
            if row is None:
                return Cursor(object_type=object_type)
            return Cursor(object_type=object_type, modified_at=row.modified_at, last_id=row.last_id)

    def save_cursor(self, crm: str, cursor: Cursor) -> None:
        """Store ``cursor`` as the position for ``(crm, cursor.object_type)`` (upsert).

        Raises ValueError for a naive ``modified_at``: its zone would be a guess.
        """
        _check_object_type(cursor.object_type)
        if cursor.modified_at is not None and cursor.modified_at.utcoffset() is None:
            raise ValueError("cursor.modified_at is a naive datetime; use an aware one")
        stmt = self._insert(SyncCursorRow).values(
            crm=crm,
            object_type=cursor.object_type,
            modified_at=cursor.modified_at,
            last_id=cursor.last_id,
            updated_at=self._now(),
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[SyncCursorRow.crm, SyncCursorRow.object_type],
            set_={
                "modified_at": stmt.excluded.modified_at,
                "last_id": stmt.excluded.last_id,
                "updated_at": stmt.excluded.updated_at,
            },
        )
        with self._write() as conn:
            conn.execute(stmt)

    # ------------------------------------------------------------------ runs

    def start_run(self, crm: str, kind: str, *, owner: str | None = None) -> int:
        """Record that a run of ``kind`` ("pull", "sync", "demo", ...) started; returns its id.

        ``owner`` (``host:pid``, see :func:`process_owner`) names the process that will
        finish it; without one (a run spread over Celery tasks) only a stale heartbeat
        says it died.
        """
        now = self._now()
        stmt = insert(RunRow).values(
            crm=crm,
            kind=kind,
            status=RunStatus.RUNNING.value,
            started_at=now,
            counts={},
            owner=owner,
            heartbeat_at=now,
        )
        with self._write() as conn:
            key = conn.execute(stmt).inserted_primary_key
        assert key is not None  # an INSERT always reports its primary key
        return int(key[0])

    def heartbeat(self, run_id: int | None = None, *, crm: str | None = None) -> int:
        """Say run ``run_id`` is still alive; with ``crm`` instead, every owner-less running
        run of that CRM (a Celery run: its tasks know the CRM, not the run)."""
        stmt = update(RunRow).where(RunRow.status == RunStatus.RUNNING.value)
        if run_id is not None:
            stmt = stmt.where(RunRow.id == run_id)
        if crm is not None:
            stmt = stmt.where(RunRow.crm == crm, RunRow.owner.is_(None))
        with self._write() as conn:
            return int(conn.execute(stmt.values(heartbeat_at=self._now())).rowcount)

    def reap_runs(
        self, stale_after: timedelta, *, alive: Callable[[str], bool | None] | None = None
    ) -> list[Run]:
        """Mark failed the running runs whose process is gone; returns them, reaped.

        A run is reaped when ``alive(owner)`` says False (its process is gone from this
        host), or when its heartbeat is older than ``stale_after`` (a process elsewhere,
        or none). ``alive`` answers None when it cannot tell (another host).
        """
        alive = alive or owner_alive
        now = self._now()
        reaped: list[Run] = []
        with self._read() as session:
            rows = session.scalars(select(RunRow).where(RunRow.status == RunStatus.RUNNING.value))
            running = [Run._from_row(r) for r in rows]
            beats = {r.id: r.heartbeat_at or r.started_at for r in running}
            owners = {r.id: r.owner for r in running}
        for run in running:
            owner, beat = owners[run.id], beats[run.id]
            verdict = alive(owner) if owner else None
            if verdict is False:
                reason = f"reaped: its process {owner} is gone (it died or was killed)"
            elif verdict is None and now - beat > stale_after:
                reason = (
                    f"reaped: no heartbeat since {beat:%Y-%m-%d %H:%M:%S} UTC "
                    f"(older than {int(stale_after.total_seconds())} s)"
                    + (f" from {owner}" if owner else "")
                )
            else:
                continue
            stmt = (
                update(RunRow)
                .where(RunRow.id == run.id, RunRow.status == RunStatus.RUNNING.value)
                .values(status=RunStatus.FAILED.value, finished_at=now, error=reason)
            )
            with self._write() as conn:
                done = conn.execute(stmt).rowcount
            if done:  # read after the commit: another connection sees the reaped row
                reaped.append(self.get_run(run.id) or run)
        return reaped

    def finish_run(
        self,
        run_id: int,
        status: RunStatus | str,
        counts: Mapping[str, Any],
        error: str | None = None,
    ) -> None:
        """Close run ``run_id`` with a final ``status``, its ``counts`` and an optional error.

        Raises ValueError for a non-final status and LookupError for an unknown run.
        """
        final = RunStatus(status)
        if final is RunStatus.RUNNING:
            raise ValueError("finish_run needs a final status, not 'running'")
        stmt = (
            update(RunRow)
            .where(RunRow.id == run_id)
            .values(status=final.value, finished_at=self._now(), counts=dict(counts), error=error)
        )
        with self._write() as conn:
            if conn.execute(stmt).rowcount == 0:
                raise LookupError(f"no run with id {run_id}")

    def get_run(self, run_id: int) -> Run | None:
        """Run ``run_id``, or None."""
        with self._read() as session:
            row = session.get(RunRow, run_id)
            return None if row is None else Run._from_row(row)

    def list_runs(
        self, limit: int = 20, *, crm: str | None = None, kind: str | None = None
    ) -> list[Run]:
        """The newest ``limit`` runs, newest first, optionally for one crm and/or kind."""
        stmt = select(RunRow).order_by(RunRow.started_at.desc(), RunRow.id.desc()).limit(limit)
        if crm is not None:
            stmt = stmt.where(RunRow.crm == crm)
        if kind is not None:
            stmt = stmt.where(RunRow.kind == kind)
        with self._read() as session:
            return [Run._from_row(row) for row in session.scalars(stmt)]

    # ------------------------------------------------------------------ written values

    def last_written(
        self,
        crm: str,
        object_type: str,
        record_ids: Iterable[str],
        fields: Collection[str] | None = None,
    ) -> dict[str, dict[str, str | None]]:
        """``{record_id: {field: value}}`` last written for those ids that have any.

        Ids are looked up in chunks, so 100k ids cost ~20 indexed queries; ``fields``
        narrows the answer to those fields.
        """
        w = WrittenValueRow
        result: dict[str, dict[str, str | None]] = {}
        with self._read() as session:
            for chunk in _chunks(_unique(record_ids), _IN_CHUNK):
                stmt = select(w.record_id, w.field, w.value).where(
                    w.crm == crm, w.object_type == object_type, w.record_id.in_(chunk)
                )
                if fields is not None:
                    stmt = stmt.where(w.field.in_(list(fields)))
                for record_id, field, value in session.execute(stmt):
                    result.setdefault(record_id, {})[field] = value
        return result

    def written_details(
        self, crm: str, object_type: str, record_ids: Iterable[str]
    ) -> dict[str, dict[str, WrittenValue]]:
        """Like :meth:`last_written` but with previous value and timestamps per field."""
        w = WrittenValueRow
        result: dict[str, dict[str, WrittenValue]] = {}
        with self._read() as session:
            for chunk in _chunks(_unique(record_ids), _IN_CHUNK):
                stmt = select(w).where(
                    w.crm == crm, w.object_type == object_type, w.record_id.in_(chunk)
                )
                for row in session.scalars(stmt):
                    result.setdefault(row.record_id, {})[row.field] = WrittenValue(
                        value=row.value,
                        previous_value=row.previous_value,
                        written_at=row.written_at,
                        entered_at=row.entered_at,
                    )
        return result

    def record_written(
        self,
        crm: str,
        object_type: str,
        rows: Iterable[tuple[str, str, str | None]],
        *,
        at: datetime | None = None,
    ) -> int:
        """Remember that ``(record_id, field, value)`` rows were written to the CRM.

        A bulk upsert: ``written_at`` always moves; ``previous_value`` and
        ``entered_at`` move only when the value differs from the stored one. When a
        ``(record_id, field)`` repeats within ``rows`` the last value wins. Returns the
        number of distinct fields recorded. ``at`` (default now) is when they were
        written: a write adopted after a crash keeps the time it was sent.
        """
        latest: dict[tuple[str, str], str | None] = {}
        for record_id, field, value in rows:
            # PostgreSQL refuses to upsert one row twice in a statement; keep the last.
            latest[(record_id, field)] = value
        if not latest:
            return 0
        now = self._now() if at is None else at.astimezone(UTC)
        if self.dialect == "postgresql":
            # One statement per chunk with the rows as arrays. An executemany sends one
            # INSERT per row, which PostgreSQL parses and plans every time (prepared
            # statements are off, see _create_engine): ~1.2 s for the 11,000 fields of
            # one 500-record write task, ~0.2 s this way.
            items = list(latest.items())
            with self._write() as conn:
                for part in _chunks(items, _WRITE_CHUNK):
                    conn.execute(_upsert_written(crm, object_type, part, now))
            return len(items)
        stmt = _on_conflict_written(self._insert(WrittenValueRow))
        params = [
            {
                "crm": crm,
                "object_type": object_type,
                "record_id": record_id,
                "field": field,
                "value": value,
                "previous_value": None,
                "written_at": now,
                "entered_at": now,
            }
            for (record_id, field), value in latest.items()
        ]
        with self._write() as conn:
            for chunk in _chunks(params, _WRITE_CHUNK):
                conn.execute(stmt, list(chunk))
        return len(params)

    def written_since(self, crm: str, object_type: str, since: datetime) -> set[str]:
        """Records segsync wrote any field of after ``since``."""
        w = WrittenValueRow
        stmt = (
            select(w.record_id)
            .where(w.crm == crm, w.object_type == object_type, w.written_at > since)
            .distinct()
        )
        with self._read() as session:
            return set(session.scalars(stmt))

    def last_write_times(
        self, crm: str, object_type: str, record_ids: Iterable[str]
    ) -> dict[str, datetime]:
        """When segsync last wrote any field of each of these records (unwritten: absent)."""
        w = WrittenValueRow
        result: dict[str, datetime] = {}
        with self._read() as session:
            for chunk in _chunks(_unique(record_ids), _IN_CHUNK):
                stmt = (
                    select(w.record_id, func.max(w.written_at))
                    .where(w.crm == crm, w.object_type == object_type, w.record_id.in_(chunk))
                    .group_by(w.record_id)
                )
                for record_id, written_at in session.execute(stmt):
                    result[record_id] = written_at
        return result

    def forget_records(self, crm: str, object_type: str, record_ids: Iterable[str]) -> int:
        """Privacy deletion: drop everything stored about these records; returns rows deleted.

        Removes their written values and dead letters. Cursors and run counts hold no
        per-record data; inbox payloads are expected to carry ids only.
        """
        deleted = 0
        with self._write() as conn:
            for chunk in _chunks(_unique(record_ids), _IN_CHUNK):
                for model in (WrittenValueRow, DeadLetterRow, WriteInFlightRow):
                    stmt = delete(model).where(
                        model.crm == crm,
                        model.object_type == object_type,
                        model.record_id.in_(chunk),
                    )
                    deleted += conn.execute(stmt).rowcount
        return deleted

    # ------------------------------------------------------------------ writes in flight

    def mark_in_flight(self, crm: str, writes: Sequence[FieldWrite]) -> None:
        """Remember that these writes are about to be sent (one row per record)."""
        latest = {(w.object_type, w.record_id): dict(w.fields) for w in writes}
        if not latest:
            return
        now = self._now()
        f = WriteInFlightRow
        if self.dialect == "postgresql":
            # One INSERT ... SELECT FROM unnest(...) per chunk, as record_written does:
            # an executemany is one parsed and planned statement per row here.
            items = list(latest.items())
            with self._write() as conn:
                for part in _chunks(items, _WRITE_CHUNK):
                    conn.execute(_upsert_in_flight(crm, part, now))
            return
        ins = sqlite.insert(f)
        stmt = ins.on_conflict_do_update(
            index_elements=[f.crm, f.object_type, f.record_id],
            set_={"fields": ins.excluded.fields, "sent_at": ins.excluded.sent_at},
        )
        params = [
            {"crm": crm, "object_type": t, "record_id": r, "fields": v, "sent_at": now}
            for (t, r), v in latest.items()
        ]
        with self._write() as conn:
            for chunk in _chunks(params, _WRITE_CHUNK):
                conn.execute(stmt, list(chunk))

    def clear_in_flight(self, crm: str, keys: Iterable[tuple[str, str]]) -> int:
        """Forget in-flight marks of ``(object_type, record_id)`` whose outcome is recorded."""
        by_type: dict[str, list[str]] = {}
        for object_type, record_id in keys:
            by_type.setdefault(object_type, []).append(record_id)
        f = WriteInFlightRow
        cleared = 0
        with self._write() as conn:
            for object_type, ids in by_type.items():
                for chunk in _chunks(_unique(ids), _IN_CHUNK):
                    stmt = delete(f).where(
                        f.crm == crm, f.object_type == object_type, f.record_id.in_(chunk)
                    )
                    cleared += conn.execute(stmt).rowcount
        return cleared

    def in_flight(self, crm: str) -> list[tuple[FieldWrite, datetime]]:
        """Writes marked in flight and never settled (their process died), oldest first."""
        f = WriteInFlightRow
        stmt = select(f).where(f.crm == crm).order_by(f.sent_at)
        with self._read() as session:
            return [
                (
                    FieldWrite(
                        _check_object_type(row.object_type),
                        row.record_id,
                        {str(k): str(v) for k, v in (row.fields or {}).items()},
                    ),
                    row.sent_at,
                )
                for row in session.scalars(stmt)
            ]

    # ------------------------------------------------------------------ dead letters

    def add_dead_letters(self, crm: str, entries: Iterable[DeadLetterEntry]) -> int:
        """Record rejected writes; returns the number of distinct records touched.

        A record that already has an unresolved letter gets ``attempts`` increased and
        its fields/reason/code replaced by the newest failure, instead of a second row.
        """
        merged: dict[tuple[str, str], tuple[DeadLetterEntry, int]] = {}
        for entry in entries:
            key = (entry.object_type, entry.record_id)
            seen = merged.get(key)
            # Several failures of one record in one call: the newest wins, all count.
            merged[key] = (entry, 1 if seen is None else seen[1] + 1)
        if not merged:
            return 0
        now = self._now()
        d = DeadLetterRow
        ins = self._insert(DeadLetterRow)
        stmt = ins.on_conflict_do_update(
            index_elements=[d.crm, d.object_type, d.record_id],
            # Matches the partial unique index: only an open letter absorbs the retry.
            index_where=d.resolved_at.is_(None),
            set_={
                "attempts": d.attempts + ins.excluded.attempts,
                "fields": ins.excluded.fields,
                "reason": ins.excluded.reason,
                "code": ins.excluded.code,
                "last_failed_at": ins.excluded.last_failed_at,
                "kind": ins.excluded.kind,
                "inputs_fingerprint": ins.excluded.inputs_fingerprint,
                "playbook_fingerprint": ins.excluded.playbook_fingerprint,
            },
        )
        params = [
            {
                "crm": crm,
                "object_type": entry.object_type,
                "record_id": entry.record_id,
                "fields": dict(entry.fields),
                "reason": entry.reason,
                "code": entry.code,
                "attempts": attempts,
                "first_failed_at": now,
                "last_failed_at": now,
                "resolved_at": None,
                "kind": entry.kind,
                "inputs_fingerprint": entry.inputs_fingerprint,
                "playbook_fingerprint": entry.playbook_fingerprint,
                "resolution": None,
            }
            for entry, attempts in merged.values()
        ]
        with self._write() as conn:
            for chunk in _chunks(params, _WRITE_CHUNK):
                conn.execute(stmt, list(chunk))
        return len(params)

    def list_dead_letters(
        self,
        crm: str | None = None,
        include_resolved: bool = False,
        *,
        object_type: str | None = None,
        limit: int | None = None,
    ) -> list[DeadLetter]:
        """Dead letters, oldest first; unresolved only unless ``include_resolved``."""
        d = DeadLetterRow
        stmt = select(d).order_by(d.id)
        if crm is not None:
            stmt = stmt.where(d.crm == crm)
        if object_type is not None:
            stmt = stmt.where(d.object_type == object_type)
        if not include_resolved:
            stmt = stmt.where(d.resolved_at.is_(None))
        if limit is not None:
            stmt = stmt.limit(limit)
        with self._read() as session:
            return [DeadLetter._from_row(row) for row in session.scalars(stmt)]

    def open_letters_for(
        self, crm: str, object_type: str, record_ids: Iterable[str]
    ) -> dict[str, DeadLetter]:
        """The open letter of each of these records that has one (by record id)."""
        d = DeadLetterRow
        out: dict[str, DeadLetter] = {}
        with self._read() as session:
            for chunk in _chunks(_unique(record_ids), _IN_CHUNK):
                stmt = select(d).where(
                    d.crm == crm,
                    d.object_type == object_type,
                    d.record_id.in_(chunk),
                    d.resolved_at.is_(None),
                )
                out.update(
                    (row.record_id, DeadLetter._from_row(row)) for row in session.scalars(stmt)
                )
        return out

    def resolve_dead_letters(self, ids: Iterable[int], resolution: str = "dismissed") -> int:
        """Mark letters resolved (``resolution`` says how: landed, superseded, gone,
        dismissed); returns how many were open. Resolved ones stay as history."""
        now = self._now()
        resolved = 0
        with self._write() as conn:
            for chunk in _chunks(_unique(ids), _IN_CHUNK):
                stmt = (
                    update(DeadLetterRow)
                    .where(DeadLetterRow.id.in_(chunk), DeadLetterRow.resolved_at.is_(None))
                    .values(resolved_at=now, resolution=resolution)
                )
                resolved += conn.execute(stmt).rowcount
        return resolved

    def resolve_record_letters(self, crm: str, object_type: str, record_ids: Iterable[str]) -> int:
        """Resolve the open letters of records whose write has now landed."""
        now = self._now()
        d = DeadLetterRow
        resolved = 0
        with self._write() as conn:
            for chunk in _chunks(_unique(record_ids), _IN_CHUNK):
                stmt = (
                    update(d)
                    .where(
                        d.crm == crm,
                        d.object_type == object_type,
                        d.record_id.in_(chunk),
                        d.resolved_at.is_(None),
                    )
                    .values(resolved_at=now, resolution="landed")
                )
                resolved += conn.execute(stmt).rowcount
        return resolved

    def stamp_dead_letters(self, stamps: Iterable[tuple[int, str | None, str | None]]) -> int:
        """Record ``(id, inputs_fingerprint, playbook_fingerprint)`` on open letters: what
        a permanent rejection waits on before it is sent again."""
        d = DeadLetterRow
        stamped = 0
        with self._write() as conn:
            for letter_id, inputs, playbook in stamps:
                stmt = (
                    update(d)
                    .where(d.id == letter_id, d.resolved_at.is_(None))
                    .values(inputs_fingerprint=inputs, playbook_fingerprint=playbook)
                )
                stamped += conn.execute(stmt).rowcount
        return stamped

    # ------------------------------------------------------------------ model state

    def get_model_state(self, crm: str, name: str) -> Any:
        """The stored value of a fitted model (None before the first fit)."""
        with self._read() as session:
            row = session.get(ModelStateRow, (crm, name))
            return None if row is None else row.value

    def save_model_state(self, crm: str, name: str, value: Any) -> None:
        """Replace a fitted model's stored value (JSON-serialisable)."""
        ins = self._insert(ModelStateRow)
        stmt = ins.on_conflict_do_update(
            index_elements=[ModelStateRow.crm, ModelStateRow.name],
            set_={"value": ins.excluded.value, "updated_at": ins.excluded.updated_at},
        )
        with self._write() as conn:
            row = {"crm": crm, "name": name, "value": value, "updated_at": self._now()}
            conn.execute(stmt, row)

    # ------------------------------------------------------------------ inbox

    def add_event(self, crm: str, event_key: str, payload: JsonValue) -> bool:
        """Store a change event; False when ``(crm, event_key)`` was stored before.

        Committed before returning, so the caller may acknowledge the event afterwards.
        """
        if len(event_key) > 255:
            raise ValueError("event_key longer than 255 characters; hash it first")
        stmt = (
            self._insert(InboxEventRow)
            .values(
                crm=crm,
                event_key=event_key,
                received_at=(now := self._now()),
                payload=payload,
                status=EventStatus.PENDING.value,
                attempts=0,
                due_at=now,
            )
            .on_conflict_do_nothing(index_elements=[InboxEventRow.crm, InboxEventRow.event_key])
            # rowcount is unreliable here (-1 on psycopg with RETURNING); a skipped
            # duplicate simply returns no row.
            .returning(InboxEventRow.id)
        )
        with self._write() as conn:
            return conn.execute(stmt).scalar_one_or_none() is not None

    def add_events(self, crm: str, events: Sequence[tuple[str, JsonValue]]) -> int:
        """Store a batch of events in one transaction; returns how many were new.

        Committed before returning. An event whose key was stored before (a redelivery)
        is skipped; so is a key repeated within the batch.
        """
        unique: dict[str, JsonValue] = {}
        for key, payload in events:
            if len(key) > 255:
                raise ValueError("event_key longer than 255 characters; hash it first")
            unique.setdefault(key, payload)
        if not unique:
            return 0
        now = self._now()
        e = InboxEventRow
        stmt = (
            self._insert(InboxEventRow)
            .on_conflict_do_nothing(index_elements=[e.crm, e.event_key])
            .returning(e.id)
        )
        rows = [
            {
                "crm": crm,
                "event_key": key,
                "received_at": now,
                "payload": payload,
                "status": EventStatus.PENDING.value,
                "attempts": 0,
                "due_at": now,
            }
            for key, payload in unique.items()
        ]
        with self._write() as conn:
            stored = 0
            for row in rows:
                stored += conn.execute(stmt, row).scalar_one_or_none() is not None
        return stored

    def bump_counters(self, crm: str, counts: Mapping[str, int]) -> None:
        """Add to named event counters (created at zero)."""
        todo = {k: v for k, v in counts.items() if v}
        if not todo:
            return
        c = EventCounterRow
        ins = self._insert(EventCounterRow)
        stmt = ins.on_conflict_do_update(
            index_elements=[c.crm, c.name], set_={"value": c.value + ins.excluded.value}
        )
        with self._write() as conn:
            for name, value in sorted(todo.items()):
                conn.execute(stmt, {"crm": crm, "name": name, "value": value})

    def counters(self, crm: str) -> dict[str, int]:
        """The event counters of ``crm``."""
        c = EventCounterRow
        with self._read() as session:
            rows = session.execute(select(c.name, c.value).where(c.crm == crm))
            return {name: int(value) for name, value in rows}

    def oldest_pending(self, crm: str | None = None) -> datetime | None:
        """When the oldest unfinished event arrived (None when the inbox is empty)."""
        e = InboxEventRow
        # Ordered select rather than MIN(): keeps the column's type (aware UTC datetimes).
        stmt = (
            select(e.received_at)
            .where(e.status.in_([EventStatus.PENDING.value, EventStatus.LEASED.value]))
            .order_by(e.id)
            .limit(1)
        )
        if crm is not None:
            stmt = stmt.where(e.crm == crm)
        with self._read() as session:
            return session.execute(stmt).scalar_one_or_none()

    def pending_events(self, limit: int = 100, *, crm: str | None = None) -> list[InboxEvent]:
        """The oldest ``limit`` pending events (read only; see :meth:`claim_events`)."""
        e = InboxEventRow
        stmt = select(e).where(e.status == EventStatus.PENDING.value).order_by(e.id).limit(limit)
        if crm is not None:
            stmt = stmt.where(e.crm == crm)
        with self._read() as session:
            return [InboxEvent._from_row(row) for row in session.scalars(stmt)]

    def inbox_depth(self, crm: str | None = None) -> int:
        """Events not finished yet (pending or leased; dead ones are counted apart)."""
        e = InboxEventRow
        stmt = (
            select(func.count())
            .select_from(e)
            .where(e.status.in_([EventStatus.PENDING.value, EventStatus.LEASED.value]))
        )
        if crm is not None:
            stmt = stmt.where(e.crm == crm)
        with self._read() as session:
            return int(session.scalar(stmt) or 0)
