"""Field mapping between CRM-native property names and segsync's canonical names.

The mapping is configuration (``workers/fieldmaps/<crm>.yaml``, or a file the admin
points at), not code, so a portal with custom property names needs no change here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from connectors.base import OBJECT_TYPES, ObjectType


@dataclass(frozen=True)
class FieldMap:
    """Canonical name -> native name, per object type."""

    crm: str
    fields: Mapping[ObjectType, Mapping[str, str]]

    def native_properties(self, object_type: ObjectType) -> list[str]:
        """The CRM properties to request for ``object_type``."""
        return list(dict.fromkeys(self.fields.get(object_type, {}).values()))

    def object_types(self) -> list[ObjectType]:
        return list(self.fields)

    def to_canonical(
        self, object_type: ObjectType, properties: Mapping[str, str | None]
    ) -> dict[str, str | None]:
        """Rename one record's native properties to canonical names."""
        return {
            canonical: properties.get(native)
            for canonical, native in self.fields.get(object_type, {}).items()
        }


def load_field_map(crm: str, path: Path | None = None) -> FieldMap:
    """The field map for ``crm``: ``path`` when given, else the packaged default."""
    if path is not None:
        text, source = path.read_text(encoding="utf-8"), str(path)
    else:
        resource = resources.files("workers") / "fieldmaps" / f"{crm}.yaml"
        text, source = resource.read_text(encoding="utf-8"), f"default {crm} field map"
    data = yaml.safe_load(text) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{source}: expected a mapping of object types")
    fields: dict[ObjectType, dict[str, str]] = {}
    for object_type, mapping in data.items():
        if object_type not in OBJECT_TYPES:
            raise ValueError(
                f"{source}: unknown object type {object_type!r} (known: {', '.join(OBJECT_TYPES)})"
            )
        if not isinstance(mapping, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()
        ):
            raise ValueError(f"{source}: {object_type} must map field names to property names")
        fields[object_type] = dict(mapping)
    return FieldMap(crm=crm, fields=fields)
