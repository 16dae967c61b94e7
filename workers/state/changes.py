"""What a change event says: the record it is about, read from its stored payload.

One reading of the payload shapes serves two callers: the inbox, which stores each
event's record (``"<object_type>:<id>"``) next to its payload so that deleting a record
can find every event about it (``StateStore.forget_records``), and the processor
(``workers/events/processor.py``), which turns the events it claims into changes. Pure functions
on JSON values; no I/O.

The payloads are the receiver's (``workers/receiver/app.py``) and the poll's:

- a HubSpot webhook event: ``subscriptionType`` (``contact.propertyChange``, ...),
  ``objectId``, and ``propertyName``/``propertyValue`` for a property change;
- a Salesforce outbound notification: ``{"object_type", "id", "fields"}``, the fields
  the save changed as text (``IsDeleted`` is ``"true"`` for a deletion);
- a poll event (either CRM): ``{"source": "poll", "object_type", "id"}``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from connectors.base import OBJECT_TYPES, ObjectType

# Wide enough for any object type (32) and mirrored id (64): a longer key cannot name
# a record the store keeps, and is hashed rather than refused (see ``record_key``).
RECORD_KEY_LENGTH = 128
# HubSpot's webhooks subscribe to these (no leads: HubSpot has none).
_HUBSPOT_TYPES = frozenset({"contact", "company", "deal"})
_DELETIONS = frozenset({"deletion", "privacyDeletion"})


@dataclass
class Change:
    """What one event says changed."""

    object_type: ObjectType
    record_id: str
    prop: str | None = None
    value: str | None = None
    deleted: bool = False


def event_change(crm: str, payload: Any) -> Change | None:
    """The change an event's payload carries (None when it names nothing segsync reads)."""
    if not isinstance(payload, dict):
        return None
    if payload.get("source") == "poll" or crm == "salesforce":
        object_type = payload.get("object_type")
        if object_type not in OBJECT_TYPES:
            return None
        fields = payload.get("fields")
        deleted = isinstance(fields, dict) and str(fields.get("IsDeleted")).lower() == "true"
        return Change(object_type, str(payload.get("id")), deleted=deleted)
    if crm == "hubspot":
        kind = str(payload.get("subscriptionType") or payload.get("eventType") or "")
        object_type, _, action = kind.partition(".")
        if object_type not in _HUBSPOT_TYPES:
            return None
        value = payload.get("propertyValue")
        return Change(
            object_type,  # type: ignore[arg-type]
            str(payload.get("objectId")),
            payload.get("propertyName"),
            None if value is None else str(value),
            deleted=action in _DELETIONS,
        )
    return None


def record_key(object_type: str, record_id: str) -> str:
    """The inbox's name for a record: ``"<object_type>:<id>"`` (hashed when too long)."""
    key = f"{object_type}:{record_id}"
    if len(key) <= RECORD_KEY_LENGTH:
        return key
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def event_record(crm: str, payload: Any) -> str | None:
    """The record an event is about, as :func:`record_key` names it (None: none)."""
    change = event_change(crm, payload)
    return None if change is None else record_key(change.object_type, change.record_id)
