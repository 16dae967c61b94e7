"""Salesforce streams declared as data: the sObjects segsync reads and writes."""

from __future__ import annotations

from dataclasses import dataclass

from connectors.base import ObjectType


@dataclass(frozen=True, slots=True)
class SalesforceStream:
    """What segsync needs to know about one sObject."""

    object_type: ObjectType
    sobject: str
    # Lookup fields whose value links the record to another canonical object type.
    lookups: tuple[tuple[str, ObjectType], ...] = ()
    # Extra WHERE clause for full reads (converted leads are read-only history).
    full_read_filter: str | None = None
    primary_key: str = "Id"
    # SystemModstamp moves on user *and* automation changes; LastModifiedDate does not.
    replication_key: str = "SystemModstamp"


STREAMS: dict[ObjectType, SalesforceStream] = {
    "contact": SalesforceStream("contact", "Contact", (("AccountId", "company"),)),
    "lead": SalesforceStream("lead", "Lead", (), full_read_filter="IsConverted = false"),
    "company": SalesforceStream("company", "Account"),
    "deal": SalesforceStream("deal", "Opportunity", (("AccountId", "company"),)),
}

CANONICAL_BY_SOBJECT: dict[str, ObjectType] = {s.sobject: t for t, s in STREAMS.items()}


def stream_for(object_type: str) -> SalesforceStream:
    """The stream for a canonical object type, or a clear error."""
    try:
        return STREAMS[object_type]  # type: ignore[index]
    except KeyError:
        known = ", ".join(STREAMS)
        raise ValueError(
            f"Salesforce has no object type {object_type!r} in segsync (known: {known})"
        ) from None
