"""The values the state store hands out and takes in (frozen dataclasses, no ORM)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from connectors.base import FieldWrite, WriteResult
from workers.state.schema import (
    DeadLetterRow,
    EventStatus,
    InboxEventRow,
    JsonValue,
    RunRow,
    RunStatus,
)


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
