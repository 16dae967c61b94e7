"""A field map checked against the CRM: every mapped property exists, with a type the
canonical field can be read from. Each problem names the file line it comes from.

Run by ``segsync fieldmap check``, by ``segsync check``, and before a run's first read
whenever a custom map is new or changed (its fingerprint is kept in the state store),
so a map naming a property the portal lacks stops the run before any write.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping

from connectors.base import Connector, DescribesProperties
from segmentation.enrich.parse import CANONICAL_KINDS
from workers.cli.text import plural_of
from workers.fieldmap import FieldMap, FieldMapError
from workers.state import StateStore

VERIFIED_STATE = "field_map_verified"
NATIVE_KINDS: dict[str, dict[str, str]] = {
    "hubspot": {
        "string": "text",
        "phone_number": "text",
        "json": "text",
        "object_coordinates": "text",
        "number": "number",
        "date": "date",
        "datetime": "datetime",
        "enumeration": "enum",
        "bool": "bool",
    },
    "salesforce": {
        "double": "number",
        "currency": "number",
        "int": "number",
        "long": "number",
        "percent": "number",
        "date": "date",
        "datetime": "datetime",
        "boolean": "bool",
        "picklist": "enum",
        "multipicklist": "enum",
    },
}
# What each kind of canonical field can be read from (text is parsed, as CRMs hold it).
READS_FROM: dict[str, set[str]] = {
    "count": {"number", "text", "enum"},
    "int": {"number", "text", "enum"},
    "year": {"number", "text", "enum", "date"},
    "float": {"number", "text", "enum"},
    "datetime": {"date", "datetime", "text"},
    "bool": {"bool", "text", "enum", "number"},
}


def problems(connector: Connector, field_map: FieldMap) -> list[str]:
    """Every mapped property the CRM lacks or holds with an unreadable type (one per line)."""
    if not isinstance(connector, DescribesProperties):
        return []
    found: list[str] = []
    names = {"hubspot": "HubSpot", "salesforce": "Salesforce"}.get(field_map.crm, field_map.crm)
    for object_type in field_map.object_types():
        kinds = connector.property_kinds(object_type)
        for canonical, native in field_map.fields[object_type].items():
            where = field_map.place(object_type, canonical)
            if native not in kinds:
                near = difflib.get_close_matches(native, list(kinds), n=1)
                hint = f" (did you mean {near[0]!r}?)" if near else ""
                found.append(
                    f"{where}: {object_type}.{canonical} -> {native}: {names} has no property "
                    f"{native!r} on {plural_of(object_type)}{hint}"
                )
                continue
            needs = CANONICAL_KINDS.get(canonical)
            kind = _kind(field_map.crm, kinds[native])
            if needs is not None and kind not in READS_FROM.get(needs, {kind}):
                readable = ", ".join(sorted(READS_FROM[needs]))
                found.append(
                    f"{where}: {object_type}.{canonical} -> {native}: a {kinds[native]} "
                    f"property; {canonical} needs a {needs} ({readable})"
                )
    return found


def ensure_checked(connector: Connector, store: StateStore, field_map: FieldMap) -> None:
    """Check a custom map the first time it is used (and after each change); raise
    :class:`FieldMapError` with every problem before the run reads or writes anything."""
    if not field_map.custom:
        return
    verified: Mapping[str, object] = store.get_model_state(connector.crm, VERIFIED_STATE) or {}
    if verified.get("fingerprint") == field_map.fingerprint:
        return
    found = problems(connector, field_map)
    if found:
        raise FieldMapError(
            f"the field map does not fit {connector.crm}; nothing was read or written:\n  "
            + "\n  ".join(found)
        )
    store.save_model_state(connector.crm, VERIFIED_STATE, {"fingerprint": field_map.fingerprint})


def _kind(crm: str, native_type: str) -> str:
    return NATIVE_KINDS.get(crm, {}).get(native_type, "text")
