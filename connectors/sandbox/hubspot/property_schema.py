"""HubSpot property and property-group definitions, and the rules for creating/changing them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

from connectors.sandbox.store import Kind

# type -> allowed fieldType values (HubSpot's properties guide).
FIELD_TYPES: dict[str, frozenset[str]] = {
    "string": frozenset(
        {"text", "textarea", "html", "phonenumber", "file", "calculation_equation"}
    ),
    "number": frozenset({"number", "calculation_equation"}),
    "bool": frozenset({"booleancheckbox", "calculation_equation"}),
    "enumeration": frozenset(
        {"select", "radio", "checkbox", "booleancheckbox", "calculation_equation"}
    ),
    "date": frozenset({"date"}),
    "datetime": frozenset({"date"}),
}
NAME_RULE = re.compile(r"[a-z][a-z0-9_]*")
MAX_NAME = 100
MAX_OPTIONS = 5000
MAX_OPTION_CHARS = 3000


class SchemaError(ValueError):
    """A property or group definition HubSpot would refuse (400)."""


@dataclass(slots=True)
class Option:
    """One enumeration option; records hold ``value``."""

    label: str
    value: str
    display_order: int = 0
    hidden: bool = False
    description: str = ""

    def to_json(self) -> dict[str, Any]:
        """HubSpot's option shape."""
        data: dict[str, Any] = {
            "label": self.label,
            "value": self.value,
            "displayOrder": self.display_order,
            "hidden": self.hidden,
        }
        if self.description:
            data["description"] = self.description
        return data


@dataclass(slots=True)
class PropertyDef:
    """A property as the properties API describes it."""

    name: str
    label: str
    type: str
    field_type: str
    group_name: str
    description: str = ""
    options: list[Option] = field(default_factory=list)
    display_order: int = -1
    calculated: bool = False
    external_options: bool = False
    has_unique_value: bool = False
    hidden: bool = False
    hubspot_defined: bool = True
    read_only_value: bool = False
    read_only_definition: bool = True
    form_field: bool = False
    show_currency_symbol: bool = False
    archived: bool = False
    created_at: int = 0
    updated_at: int = 0

    @property
    def kind(self) -> Kind:
        """How the store holds this property's values."""
        if self.type == "enumeration":
            return "enum"
        if self.type in ("string", "number", "datetime", "date", "bool"):
            return self.type  # type: ignore[return-value]
        return "string"

    @property
    def option_values(self) -> list[str]:
        """Option values in display order."""
        return [o.value for o in sorted(self.options, key=lambda o: o.display_order)]

    def to_json(self, iso: Any) -> dict[str, Any]:
        """HubSpot's property shape; ``iso`` formats epoch ms."""
        data: dict[str, Any] = {
            "updatedAt": iso(self.updated_at),
            "createdAt": iso(self.created_at),
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "fieldType": self.field_type,
            "description": self.description,
            "groupName": self.group_name,
            "options": [] if self.external_options else [o.to_json() for o in self.options],
            "displayOrder": self.display_order,
            "calculated": self.calculated,
            "externalOptions": self.external_options,
            "hasUniqueValue": self.has_unique_value,
            "hidden": self.hidden,
            "hubspotDefined": self.hubspot_defined,
            "showCurrencySymbol": self.show_currency_symbol,
            "modificationMetadata": {
                "archivable": not self.hubspot_defined,
                "readOnlyDefinition": self.read_only_definition,
                "readOnlyValue": self.read_only_value,
            },
            "formField": self.form_field,
            "dataSensitivity": "non_sensitive",
            "archived": self.archived,
        }
        return data


@dataclass(slots=True)
class PropertyGroup:
    """A property group."""

    name: str
    label: str
    display_order: int = -1
    archived: bool = False

    def to_json(self) -> dict[str, Any]:
        """HubSpot's group shape."""
        return {
            "name": self.name,
            "label": self.label,
            "displayOrder": self.display_order,
            "archived": self.archived,
        }


@dataclass(slots=True)
class ObjectSchema:
    """Properties and groups of one object type."""

    object_type: str
    properties: dict[str, PropertyDef] = field(default_factory=dict)
    groups: dict[str, PropertyGroup] = field(default_factory=dict)

    def live(self, name: str) -> PropertyDef | None:
        """A property that exists and is not archived."""
        prop = self.properties.get(name)
        return prop if prop is not None and not prop.archived else None


def check_name(name: Any, what: str = "property") -> str:
    """Validate an internal name: lower-case letters, digits and ``_``, starting with a letter."""
    if not isinstance(name, str) or not name:
        raise SchemaError(f"{what} name is required")
    if len(name) > MAX_NAME:
        raise SchemaError(f"{what} name '{name}' is longer than {MAX_NAME} characters")
    if not NAME_RULE.fullmatch(name):
        raise SchemaError(
            f"{what} name '{name}' is invalid: use lower-case letters, digits and "
            "underscores, starting with a letter"
        )
    return name


def parse_options(raw: Any) -> list[Option]:
    """Validate an ``options`` array from a create/update body."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise SchemaError("options must be an array")
    if len(raw) > MAX_OPTIONS:
        raise SchemaError(f"A property can have at most {MAX_OPTIONS} options; got {len(raw)}")
    options: list[Option] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise SchemaError(f"options[{i}] must be an object")
        label, value = item.get("label"), item.get("value")
        if not isinstance(label, str) or not label or not isinstance(value, str) or value == "":
            raise SchemaError(f"options[{i}] needs a non-empty 'label' and 'value'")
        if "hidden" in item and not isinstance(item["hidden"], bool):
            raise SchemaError(f"options[{i}].hidden must be a boolean")
        description = item.get("description") or ""
        if len(label) + len(value) + len(str(description)) > MAX_OPTION_CHARS:
            raise SchemaError(f"options[{i}] is longer than {MAX_OPTION_CHARS} characters")
        if value in seen:
            raise SchemaError(f"options contain the value '{value}' more than once")
        seen.add(value)
        order = item.get("displayOrder", i)
        options.append(
            Option(
                label,
                value,
                int(order) if isinstance(order, int) else i,
                bool(item.get("hidden", False)),
                str(description),
            )
        )
    return options


def _display_order(raw: Any) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise SchemaError(f"displayOrder must be an integer, got {raw!r}")
    return raw


def check_type(type_: Any, field_type: Any) -> tuple[str, str]:
    """Validate a type/fieldType pair."""
    if type_ not in FIELD_TYPES:
        raise SchemaError(f"type '{type_}' is not one of {sorted(FIELD_TYPES)}")
    if field_type not in FIELD_TYPES[type_]:
        allowed = ", ".join(sorted(FIELD_TYPES[type_]))
        raise SchemaError(
            f"fieldType '{field_type}' is not valid for type '{type_}'; use one of: {allowed}"
        )
    return type_, field_type


def property_from_create(body: Any, schema: ObjectSchema, now_ms: int) -> PropertyDef:
    """A new custom property from a create body (the caller checks the name is free)."""
    if not isinstance(body, dict):
        raise SchemaError("request body must be a JSON object")
    missing = [
        k for k in ("name", "label", "type", "fieldType", "groupName") if body.get(k) in (None, "")
    ]
    if missing:
        raise SchemaError(f"missing required field(s): {', '.join(missing)}")
    name = check_name(body["name"])
    type_, field_type = check_type(body["type"], body["fieldType"])
    group = body["groupName"]
    if group not in schema.groups or schema.groups[group].archived:
        raise SchemaError(f"property group '{group}' does not exist")
    options = parse_options(body.get("options"))
    if type_ == "bool" and not options:
        options = [Option("Yes", "true", 0), Option("No", "false", 1)]
    if type_ not in ("enumeration", "bool") and options:
        raise SchemaError(f"options are only allowed for enumeration properties, not '{type_}'")
    unique = body.get("hasUniqueValue", False)
    if not isinstance(unique, bool):
        raise SchemaError("hasUniqueValue must be a boolean")
    return PropertyDef(
        name=name,
        label=str(body["label"]),
        type=type_,
        field_type=field_type,
        group_name=group,
        description=str(body.get("description") or ""),
        options=options,
        display_order=_display_order(body.get("displayOrder", -1)),
        has_unique_value=unique,
        hidden=bool(body.get("hidden", False)),
        hubspot_defined=False,
        read_only_definition=False,
        form_field=bool(body.get("formField", False)),
        created_at=now_ms,
        updated_at=now_ms,
        external_options=bool(body.get("externalOptions", False)),
    )


def property_from_update(
    prop: PropertyDef, body: Any, schema: ObjectSchema, now_ms: int
) -> PropertyDef:
    """The property after a PATCH (options are replaced wholesale, as HubSpot does)."""
    if not isinstance(body, dict):
        raise SchemaError("request body must be a JSON object")
    if "name" in body and body["name"] != prop.name:
        raise SchemaError("a property's internal name cannot be changed")
    if "hasUniqueValue" in body and body["hasUniqueValue"] != prop.has_unique_value:
        raise SchemaError("hasUniqueValue cannot be changed after creation")
    changes: dict[str, Any] = {}
    locked = [k for k in ("type", "fieldType", "options", "groupName") if k in body]
    if prop.read_only_definition and locked:
        raise SchemaError(
            f"the definition of '{prop.name}' is read-only; cannot change {', '.join(locked)}"
        )
    if "type" in body or "fieldType" in body:
        type_, field_type = check_type(
            body.get("type", prop.type), body.get("fieldType", prop.field_type)
        )
        if type_ != prop.type and type_ not in ("string", "enumeration"):
            raise SchemaError(
                f"cannot change type of '{prop.name}' from '{prop.type}' to '{type_}'"
            )
        changes["type"], changes["field_type"] = type_, field_type
    if "groupName" in body:
        group = body["groupName"]
        if group not in schema.groups or schema.groups[group].archived:
            raise SchemaError(f"property group '{group}' does not exist")
        changes["group_name"] = group
    if "options" in body:
        if changes.get("type", prop.type) not in ("enumeration", "bool"):
            raise SchemaError("options are only allowed for enumeration properties")
        changes["options"] = parse_options(body["options"])
    for key, attr in (("label", "label"), ("description", "description")):
        if key in body:
            changes[attr] = str(body[key] or "")
    if "displayOrder" in body:
        changes["display_order"] = _display_order(body["displayOrder"])
    for key, attr in (("hidden", "hidden"), ("formField", "form_field")):
        if key in body:
            changes[attr] = bool(body[key])
    return replace(prop, updated_at=now_ms, **changes)


def group_from_create(body: Any) -> PropertyGroup:
    """A new group from a create body."""
    if not isinstance(body, dict):
        raise SchemaError("request body must be a JSON object")
    if not body.get("label"):
        raise SchemaError("missing required field(s): label")
    name = check_name(body.get("name"), "property group")
    order = body.get("displayOrder", -1)
    if not isinstance(order, int):
        raise SchemaError("displayOrder must be an integer")
    return PropertyGroup(name, str(body["label"]), order)
