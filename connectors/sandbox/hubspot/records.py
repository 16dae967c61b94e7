"""Shared HubSpot plumbing: object-type names, request parsing, record and association JSON."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import orjson
from werkzeug.wrappers import Request

from connectors.sandbox.hubspot.defaults import (
    ALWAYS,
    ASSOCIATION_TYPES,
    OBJECT_NAMES,
    PATH_OBJECTS,
    default_schemas,
)
from connectors.sandbox.hubspot.error_bodies import ApiError
from connectors.sandbox.hubspot.property_schema import ObjectSchema
from connectors.sandbox.hubspot.values import format_value, iso
from connectors.sandbox.state import SandboxState
from connectors.sandbox.store import Table

# v3 inline association type names: (from, to) -> (unlabeled name, primary name or None).
V3_TYPE_NAMES = {
    ("contact", "company"): ("contact_to_company_unlabeled", "contact_to_company"),
    ("company", "contact"): ("company_to_contact_unlabeled", "company_to_contact"),
    ("deal", "contact"): ("deal_to_contact", None),
    ("contact", "deal"): ("contact_to_deal", None),
    ("deal", "company"): ("deal_to_company_unlabeled", "deal_to_company"),
    ("company", "deal"): ("company_to_deal_unlabeled", "company_to_deal"),
}


def read_json(request: Request) -> Any:
    """The request body as JSON, or a 400 in HubSpot's words."""
    data = request.get_data(cache=True)
    if not data:
        raise ApiError(400, "Invalid input JSON: request body is empty")
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ApiError(
            400, f"Invalid input JSON on line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None


def list_param(request: Request, name: str) -> list[str] | None:
    """A list query parameter given as repeated keys, comma-separated, or both."""
    raw = request.args.getlist(name)
    if not raw:
        return None
    return [part.strip() for item in raw for part in item.split(",") if part.strip()]


def bool_param(request: Request, name: str) -> bool:
    """A boolean query parameter (default false)."""
    value = request.args.get(name, "false").strip().lower()
    if value not in ("true", "false"):
        raise ApiError(400, f"Invalid value for query parameter {name}: {value!r}")
    return value == "true"


class HubSpotData:
    """The HubSpot view of the shared store: schemas plus record/association rendering."""

    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self.schemas: dict[str, ObjectSchema] = default_schemas()

    def object_type(self, segment: str) -> str:
        """Canonical object type of a path segment (``contacts``, ``0-1``, …) or a 400."""
        canon = PATH_OBJECTS.get(segment.lower())
        if canon is None:
            raise ApiError(400, f"Unable to infer object type from: {segment}")
        return canon

    def table(self, object_type: str) -> Table:
        """The store table of an object type."""
        return self.state.store.table(object_type)

    def property_names(
        self, object_type: str, requested: Iterable[str] | None, defaults: Sequence[str]
    ) -> list[str]:
        """Requested properties that exist (unknown ones are dropped) plus the always-on ones."""
        schema = self.schemas[object_type]
        names = defaults if requested is None else requested
        out = [n for n in dict.fromkeys(names) if schema.live(n) is not None]
        for n in ALWAYS[object_type]:
            if n not in out:
                out.append(n)
        return out

    def properties_json(
        self, table: Table, row: int, names: Iterable[str]
    ) -> dict[str, str | None]:
        """Property values of one record as strings (null when empty)."""
        return {n: format_value(table.kind_of(n), table.get(row, n)) for n in names}

    def record_json(
        self,
        object_type: str,
        row: int,
        names: Iterable[str],
        *,
        associations: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        """A SimplePublicObject (with associations when asked for)."""
        table = self.table(object_type)
        record: dict[str, Any] = {
            "id": str(table.ids[row]),
            "properties": self.properties_json(table, row, names),
            "createdAt": iso(table.created[row]),
            "updatedAt": iso(table.updated[row]),
            "archived": table.archived[row],
        }
        if table.archived[row]:
            record["archivedAt"] = iso(table.updated[row])
        if associations:
            inline = self.inline_associations(object_type, table.ids[row], associations)
            if inline:
                record["associations"] = inline
        return record

    def is_primary(self, from_type: str, from_id: int, to_type: str, to_id: int) -> bool:
        """Whether a link is the primary company link (contact/deal <-> company)."""
        if to_type == "company" and from_type in ("contact", "deal"):
            linked = self.state.store.linked(from_type, from_id, "company")
            return bool(linked) and linked[0] == to_id
        if from_type == "company" and to_type in ("contact", "deal"):
            linked = self.state.store.linked(to_type, to_id, "company")
            return bool(linked) and linked[0] == from_id
        return False

    def live_links(self, from_type: str, from_id: int, to_type: str) -> list[int]:
        """Linked ids of records that still exist (not archived)."""
        table = self.table(to_type)
        return [
            i
            for i in self.state.store.linked(from_type, from_id, to_type)
            if table.row(i) is not None
        ]

    def inline_associations(
        self, object_type: str, record_id: int, to_types: Sequence[str]
    ) -> dict[str, Any]:
        """The v3 ``associations`` member: ``{companies: {results: [{id, type}]}}``."""
        out: dict[str, Any] = {}
        for segment in to_types:
            to_type = PATH_OBJECTS.get(segment.lower())
            if to_type is None or (object_type, to_type) not in V3_TYPE_NAMES:
                continue  # unknown association types are ignored, as documented
            unlabeled, primary = V3_TYPE_NAMES[(object_type, to_type)]
            results = []
            for other in self.live_links(object_type, record_id, to_type):
                if primary and self.is_primary(object_type, record_id, to_type, other):
                    results.append({"id": str(other), "type": primary})
                results.append({"id": str(other), "type": unlabeled})
            if results:
                out[OBJECT_NAMES[to_type]] = {"results": results}
        return out

    def v4_targets(self, from_type: str, from_id: int, to_type: str) -> list[dict[str, Any]]:
        """v4 ``MultiAssociatedObjectWithLabel`` entries for one record."""
        unlabeled, primary = ASSOCIATION_TYPES[(from_type, to_type)]
        out = []
        for other in self.live_links(from_type, from_id, to_type):
            types = []
            if primary is not None and self.is_primary(from_type, from_id, to_type, other):
                types.append({"category": "HUBSPOT_DEFINED", "typeId": primary, "label": "Primary"})
            # The spec types `label` as a non-nullable string: unlabeled types omit it.
            types.append({"category": "HUBSPOT_DEFINED", "typeId": unlabeled})
            out.append({"toObjectId": str(other), "associationTypes": types})
        return out
