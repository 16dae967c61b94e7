"""The state store's tables, as SQLAlchemy ORM models, and the column types they use.

The schema is owned by the Alembic migrations in ``workers/migrations``; the ORM models
here mirror them (a test checks that the two agree) and are used to build statements.
Every timestamp goes in and comes out timezone-aware UTC, on both backends.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any, TypeAlias

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Dialect,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from workers.state.changes import RECORD_KEY_LENGTH

JsonValue: TypeAlias = dict[str, Any] | list[Any] | str | int | float | bool | None


class RunStatus(enum.StrEnum):
    """Lifecycle of a run row."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    STOPPED = "stopped"


class EventStatus(enum.StrEnum):
    """Lifecycle of an inbox event (see ``workers/events/inbox.py``)."""

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

    # Every run asks for a CRM's rows oldest first; the table is nearly always empty but
    # each write inserts and deletes rows, so without the index a database that is not
    # vacuumed often scans every dead row (4 s after a 240,000-record full sync).
    __table_args__ = (Index("ix_writes_in_flight_crm_sent_at", "crm", "sent_at"),)


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
        # Forgetting a record deletes every event about it, whatever its status.
        Index("ix_event_inbox_crm_record", "crm", "record"),
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
    # The record the event is about, "<object_type>:<id>" (workers/state/changes.py);
    # None when it names none segsync reads, or was stored before revision 0008.
    record: Mapped[str | None] = mapped_column(String(RECORD_KEY_LENGTH))


class EventPauseRow(Base):
    """A CRM whose event processing failed as a whole (auth refused, down, unconfigured)."""

    __tablename__ = "event_pauses"

    crm: Mapped[str] = mapped_column(String(32), primary_key=True)
    paused_until: Mapped[datetime] = mapped_column(UTCDateTime())
    failures: Mapped[int] = mapped_column(Integer)
    since: Mapped[datetime] = mapped_column(UTCDateTime())
    reason: Mapped[str] = mapped_column(Text)


class AlertStateRow(Base):
    """The last notified status of one alert condition of one CRM (workers/alerts/)."""

    __tablename__ = "alert_states"

    crm: Mapped[str] = mapped_column(String(32), primary_key=True)
    condition: Mapped[str] = mapped_column(String(32), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str] = mapped_column(Text)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ActivationRow(Base):
    """A CRM object segsync keeps for one segment: a HubSpot list, a Salesforce campaign."""

    __tablename__ = "activations"

    crm: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)  # "list" or "campaign"
    model: Mapped[str] = mapped_column(String(64), primary_key=True)
    object_type: Mapped[str] = mapped_column(String(16), primary_key=True)
    segment: Mapped[str] = mapped_column(String(255), primary_key=True)
    remote_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(255))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CampaignMemberRow(Base):
    """A person segsync made a member of one of its campaigns, and the member row's id."""

    __tablename__ = "campaign_members"

    crm: Mapped[str] = mapped_column(String(32), primary_key=True)
    campaign_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    object_type: Mapped[str] = mapped_column(String(16), primary_key=True)
    record_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    member_id: Mapped[str] = mapped_column(String(64))
