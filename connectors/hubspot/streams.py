"""HubSpot streams declared as data: one entry per object type segsync reads and writes."""

from __future__ import annotations

from dataclasses import dataclass

from connectors.base import ObjectType


@dataclass(frozen=True, slots=True)
class HubSpotStream:
    """What segsync needs to know about one HubSpot object type."""

    object_type: ObjectType
    api_name: str
    replication_key: str
    associations: tuple[str, ...] = ()
    primary_key: str = "hs_object_id"
    page_size: int = 100  # list endpoint maximum
    search_page_size: int = 200  # search endpoint maximum
    batch_size: int = 100  # batch update maximum


# Contacts carry their modified time in `lastmodifieddate`; filtering contacts on
# `hs_lastmodifieddate` silently under-returns (see the HubSpot fact sheet, §4).
STREAMS: dict[ObjectType, HubSpotStream] = {
    "contact": HubSpotStream("contact", "contacts", "lastmodifieddate", ("companies",)),
    "company": HubSpotStream("company", "companies", "hs_lastmodifieddate"),
    "deal": HubSpotStream("deal", "deals", "hs_lastmodifieddate", ("companies", "contacts")),
}

# HubSpot's plural object names -> canonical object types, for associations.
CANONICAL_BY_API_NAME: dict[str, ObjectType] = {
    "contacts": "contact",
    "companies": "company",
    "deals": "deal",
}


def stream_for(object_type: str) -> HubSpotStream:
    """The stream for a canonical object type, or a clear error for one HubSpot lacks."""
    try:
        return STREAMS[object_type]  # type: ignore[index]
    except KeyError:
        known = ", ".join(STREAMS)
        raise ValueError(
            f"HubSpot has no object type {object_type!r} in segsync (known: {known})"
        ) from None
