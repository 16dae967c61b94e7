"""Field mapping between CRM-native property names and segsync's canonical names.

The mapping is configuration, not code: the shipped ``workers/fieldmaps/<crm>.yaml``,
or a file the admin points ``SEGSYNC_FIELD_MAP`` at, so a portal with custom properties
needs no change to installed files. The file has the shipped format (object type ->
canonical field -> native property), or one such block per CRM under ``hubspot:`` and
``salesforce:``. Every mistake is named with its file, line and column.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic_settings import BaseSettings, SettingsConfigDict

from connectors.base import OBJECT_TYPES, ObjectType

CRMS = ("hubspot", "salesforce")
MAX_BYTES = 1024 * 1024  # a field map is a few kilobytes; a larger file is a wrong path


class FieldMapError(ValueError):
    """A field map that cannot be used; the message names file, line and column."""


class FieldMapSettings(BaseSettings):
    """Read apart from the other settings (the field map is read in many places)."""

    model_config = SettingsConfigDict(
        env_prefix="SEGSYNC_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    field_map: Path | None = None


@dataclass(frozen=True)
class FieldMap:
    """Canonical name -> native name, per object type; where each came from."""

    crm: str
    fields: Mapping[ObjectType, Mapping[str, str]]
    source: str = ""
    # (object type, canonical name) -> "file:line:col" of its entry (custom maps)
    places: Mapping[tuple[str, str], str] = field(default_factory=dict)
    custom: bool = False

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

    def place(self, object_type: str, canonical: str) -> str:
        """Where an entry is written (``file:line:col``), or the map's name."""
        return self.places.get((object_type, canonical), self.source)

    @property
    def fingerprint(self) -> str:
        """Changes whenever a mapping does."""
        text = repr(sorted((t, sorted(m.items())) for t, m in self.fields.items()))
        return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def configured_path() -> Path | None:
    """``SEGSYNC_FIELD_MAP``, when set."""
    return FieldMapSettings().field_map


_CACHE: dict[tuple[str, str, float], FieldMap] = {}


def load_field_map(crm: str, path: Path | None = None) -> FieldMap:
    """The field map for ``crm``: ``path``, else ``SEGSYNC_FIELD_MAP``, else the shipped
    one. Raises :class:`FieldMapError` naming the line of any mistake."""
    path = path if path is not None else configured_path()
    if path is None:
        return load_field_map_shipped(crm)
    try:
        stat = path.stat()
    except OSError as exc:
        raise FieldMapError(f"{path}: cannot read the field map ({exc.strerror})") from None
    key = (crm, str(path), stat.st_mtime)
    if key not in _CACHE:
        if stat.st_size > MAX_BYTES:
            raise FieldMapError(f"{path}: {stat.st_size:,} bytes; a field map is a few KB")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise FieldMapError(f"{path}: cannot read the field map ({exc})") from None
        _CACHE[key] = _parse(crm, text, str(path), custom=True)
    return _CACHE[key]


def _parse(crm: str, text: str, source: str, *, custom: bool) -> FieldMap:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        raise FieldMapError(f"{where}: not YAML: {getattr(exc, 'problem', exc)}") from None
    if root is None:
        raise FieldMapError(f"{source}: empty; map object types to fields")
    node = _mapping(root, source, "the file")
    keys = [k.value for k, _ in node.value]
    if keys and all(k in CRMS for k in keys):  # one block per CRM
        blocks = {k.value: v for k, v in node.value}
        if crm not in blocks:
            # No block for this CRM in a per-CRM file: the shipped one applies.
            return load_field_map_shipped(crm)
        node = _mapping(blocks[crm], source, crm)
    fields: dict[ObjectType, dict[str, str]] = {}
    places: dict[tuple[str, str], str] = {}
    for key, value in node.value:
        object_type = key.value
        if object_type not in OBJECT_TYPES:
            raise FieldMapError(
                f"{_at(source, key)}: unknown object type {object_type!r} "
                f"(known: {', '.join(OBJECT_TYPES)})"
            )
        mapping = _mapping(value, source, object_type)
        fields[object_type] = {}
        for name, native in mapping.value:
            if not isinstance(native, yaml.ScalarNode) or not str(native.value).strip():
                raise FieldMapError(
                    f"{_at(source, native)}: {object_type}.{name.value} must name a "
                    "property (a text value)"
                )
            if name.value in fields[object_type]:
                raise FieldMapError(
                    f"{_at(source, name)}: {object_type}.{name.value} is mapped twice"
                )
            fields[object_type][str(name.value)] = str(native.value).strip()
            places[(object_type, str(name.value))] = _at(source, native)
    return FieldMap(crm, fields, source, places, custom)


@cache
def load_field_map_shipped(crm: str) -> FieldMap:
    """The field map shipped with segsync for ``crm``."""
    resource = resources.files("workers") / "fieldmaps" / f"{crm}.yaml"
    text = resource.read_text(encoding="utf-8")
    return _parse(crm, text, f"the shipped {crm} field map", custom=False)


def _mapping(node: Any, source: str, what: str) -> yaml.MappingNode:
    if not isinstance(node, yaml.MappingNode):
        inside = "object types to fields" if what == "the file" else "field names to property names"
        raise FieldMapError(f"{_at(source, node)}: {what} must map {inside}")
    return node


def _at(source: str, node: Any) -> str:
    mark = getattr(node, "start_mark", None)
    return f"{source}:{mark.line + 1}:{mark.column + 1}" if mark is not None else source
