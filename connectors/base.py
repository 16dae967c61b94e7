"""The contract every CRM connector implements, and the canonical shapes it speaks.

A connector turns one CRM's API into streams of :class:`Record` batches and turns
:class:`FieldWrite` lists into per-record :class:`WriteResult` values. Everything
CRM-specific (paths, paging, auth, error bodies) stays inside the connector.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal, Protocol, runtime_checkable

CrmName = Literal["hubspot", "salesforce"]
ObjectType = Literal["contact", "lead", "company", "deal"]
OBJECT_TYPES: tuple[ObjectType, ...] = ("contact", "lead", "company", "deal")


@dataclass(frozen=True, slots=True)
class Record:
    """One CRM record in canonical form, addressed by ``(crm, object_type, id)``.

    ``properties`` holds CRM-native property names and their values as the CRM
    returned them (strings or None); field mapping to canonical names happens later.
    ``associations`` maps a related object type to the ids it is linked to.
    """

    crm: CrmName
    object_type: ObjectType
    id: str
    properties: Mapping[str, str | None]
    updated_at: datetime
    associations: Mapping[ObjectType, tuple[str, ...]] = field(default_factory=dict)
    deleted: bool = False


@dataclass(frozen=True, slots=True)
class Cursor:
    """Position of an incremental read: everything up to ``(modified_at, last_id)`` was handed on.

    Ordering is by modified time, then by record id (numerically when both ids are
    digits), so thousands of records sharing one timestamp are still read exactly once.
    A cursor only moves when a batch is handed to the consumer; the consumer stores
    ``RecordBatch.cursor`` once it has processed that batch.
    """

    object_type: ObjectType
    modified_at: datetime | None = None
    last_id: str | None = None

    @property
    def is_initial(self) -> bool:
        """True before the first completed read."""
        return self.modified_at is None

    def advanced_to(self, modified_at: datetime, last_id: str) -> Cursor:
        """A new cursor positioned after ``(modified_at, last_id)``."""
        return replace(self, modified_at=modified_at, last_id=last_id)

    def to_dict(self) -> dict[str, str | None]:
        """Serialisable form for the state store."""
        return {
            "object_type": self.object_type,
            "modified_at": self.modified_at.isoformat() if self.modified_at else None,
            "last_id": self.last_id,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, str | None]) -> Cursor:
        """Inverse of :meth:`to_dict`."""
        modified = data.get("modified_at")
        object_type = data["object_type"]
        if object_type not in OBJECT_TYPES:
            raise ValueError(f"cursor has unknown object_type {object_type!r}")
        return cls(
            object_type=object_type,
            modified_at=datetime.fromisoformat(modified) if modified else None,
            last_id=data.get("last_id"),
        )


@dataclass(frozen=True, slots=True)
class RecordBatch:
    """A page of records plus the cursor to store once the page has been processed.

    ``cursor`` is None for full reads that carry no incremental position.
    """

    object_type: ObjectType
    records: tuple[Record, ...]
    cursor: Cursor | None = None

    def __len__(self) -> int:
        return len(self.records)


@dataclass(frozen=True, slots=True)
class FieldWrite:
    """The field values to set on one record; values are strings as CRMs store them."""

    object_type: ObjectType
    record_id: str
    fields: Mapping[str, str]


class WriteStatus(enum.StrEnum):
    """Outcome of one record's write."""

    OK = "ok"
    REJECTED = "rejected"  # the CRM refused this record; retrying unchanged will fail again
    RETRYABLE = "retryable"  # transient: the write may succeed later
    # In a batch the CRM refused as a whole, not isolated within the call allowance:
    # possibly fine, kept for the next retry (connectors/isolate.py).
    DEFERRED = "deferred"


@dataclass(frozen=True, slots=True)
class WriteResult:
    """Per-record outcome of a write, with the CRM's own reason when it failed."""

    object_type: ObjectType
    record_id: str
    status: WriteStatus
    reason: str | None = None
    code: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is WriteStatus.OK


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """A custom field segsync owns in the CRM (``segsync_<name>`` / ``Segsync_<Name>__c``)."""

    name: str
    label: str
    type: Literal["string", "number", "enumeration", "datetime", "date", "bool"]
    description: str = ""
    options: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SchemaChange:
    """What applying field specs did: created, updated (options added) or left alone.

    ``kept_as_text``: a text field from an earlier segsync where a dropdown is now
    wanted; it takes every option's value, so it is left as it is (changing a field's
    type is refused by the CRMs' APIs or loses data)."""

    object_type: ObjectType
    name: str
    action: Literal["created", "options_added", "unchanged", "group_created", "kept_as_text"]
    detail: str = ""


@dataclass(frozen=True, slots=True)
class ApiUsage:
    """What the CRM says about the caller's quota after the latest response."""

    interval_max: int | None = None
    interval_remaining: int | None = None
    daily_max: int | None = None
    daily_remaining: int | None = None
    calls_made: int = 0


class ConnectorError(Exception):
    """Base of every error a connector raises; messages never contain secrets."""


class AuthError(ConnectorError):
    """Credentials missing, invalid, expired beyond refresh, or revoked."""


class RateLimitedError(ConnectorError):
    """The CRM refused the call for quota reasons (after retries were exhausted)."""

    def __init__(self, message: str, *, retry_after: float | None = None, policy: str = ""):
        super().__init__(message)
        self.retry_after = retry_after
        self.policy = policy


class BudgetExhaustedError(RateLimitedError):
    """segsync's share of the CRM's daily API budget is spent; resume next window."""


class RejectedError(ConnectorError):
    """The CRM rejected the request as invalid; retrying it unchanged cannot succeed."""

    def __init__(self, message: str, *, status: int | None = None, category: str = ""):
        super().__init__(message)
        self.status = status
        self.category = category


class TransientError(ConnectorError):
    """A timeout, dropped connection or 5xx that outlived its retries."""


@runtime_checkable
class Connector(Protocol):
    """What every CRM connector offers the workers."""

    crm: CrmName

    def check(self) -> ApiUsage:
        """Make one cheap authenticated call; raise AuthError/TransientError saying why."""
        ...

    def read_all(self, object_type: ObjectType, properties: Sequence[str]) -> Iterator[RecordBatch]:
        """Stream every record of ``object_type`` with the given properties."""
        ...

    def read_changed(self, cursor: Cursor, properties: Sequence[str]) -> Iterator[RecordBatch]:
        """Stream records modified after ``cursor``; each batch carries the next cursor."""
        ...

    def read_ids(
        self, object_type: ObjectType, ids: Sequence[str], properties: Sequence[str]
    ) -> list[Record]:
        """The current version of each of ``ids``, in input order, in as few calls as the
        CRM's batch limits allow (for re-segmenting records named by change events).

        Records are shaped exactly as :meth:`read_all` shapes them, associations included.
        Ids with no live record (never existed, malformed, archived or deleted, or not a
        record :meth:`read_all` would return) are left out silently, and a repeated id is
        returned once: the caller learns which are gone by comparing ``Record.id`` with
        what it asked for. CRM failures raise as for any other read.
        """
        ...

    def field_name(self, name: str) -> str:
        """The CRM's own name for segsync field ``name`` (e.g. ``segsync_tier``)."""
        ...

    def snapshot_cursor(self, object_type: ObjectType) -> Cursor:
        """The cursor to store after a full read that starts now (later changes read next)."""
        ...

    def field_access(self, object_type: ObjectType) -> dict[str, bool]:
        """segsync's fields present on ``object_type``, and whether each is writable."""
        ...

    def write(self, writes: Sequence[FieldWrite]) -> list[WriteResult]:
        """Apply field writes in CRM-sized batches; one result per input record."""
        ...

    def apply_schema(
        self, object_type: ObjectType, specs: Sequence[FieldSpec]
    ) -> list[SchemaChange]:
        """Create segsync's fields idempotently; never remove options still in use."""
        ...

    def usage(self) -> ApiUsage:
        """API usage as last reported by the CRM."""
        ...


@runtime_checkable
class DescribesProperties(Protocol):
    """A connector that can list an object's properties (``segsync fieldmap check``)."""

    def property_kinds(self, object_type: ObjectType) -> dict[str, str]:
        """Every property of ``object_type``: its native name and the CRM's type for it
        (HubSpot: string, number, datetime...; Salesforce: string, double, picklist...)."""
        ...


@runtime_checkable
class FindsByEmail(Protocol):
    """A connector that can find people by email address (the console's record lookup:
    the mirror keeps an email's domain only)."""

    def ids_by_email(self, object_type: ObjectType, email: str) -> list[str]:
        """Ids of the live ``object_type`` records whose email is ``email`` (at most 10)."""
        ...
