"""Salesforce object and field definitions: what describe shows and what writes are checked against.

Field names are case-insensitive in the API (SOQL, REST bodies, CSV headers); an object
keeps its fields keyed by the lower-cased name and answers with the canonical spelling.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from connectors.sandbox.salesforce.ids import PREFIXES
from connectors.sandbox.store import Kind

# Describe types -> store kinds. Numbers are kept as Python int/float, dates and datetimes
# as epoch ms (whole seconds for datetimes), booleans as bool, everything else as str.
STORE_KINDS: dict[str, Kind] = {
    "id": "string",
    "string": "string",
    "picklist": "enum",
    "multipicklist": "enum",
    "email": "string",
    "phone": "string",
    "url": "string",
    "textarea": "string",
    "reference": "string",
    "boolean": "bool",
    "int": "number",
    "double": "number",
    "currency": "number",
    "percent": "number",
    "date": "date",
    "datetime": "datetime",
}
SOAP_TYPES = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "boolean": "xsd:boolean",
    "int": "xsd:int",
    "double": "xsd:double",
    "currency": "xsd:double",
    "percent": "xsd:double",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
}
TEXT_TYPES = frozenset(
    {"string", "picklist", "multipicklist", "email", "phone", "url", "textarea", "id"}
)
NUMBER_TYPES = frozenset({"int", "double", "currency", "percent"})


@dataclass(frozen=True, slots=True)
class PicklistValue:
    """One picklist entry as describe shows it."""

    value: str
    label: str
    active: bool = True
    default: bool = False

    def to_json(self) -> dict[str, Any]:
        """describe's ``picklistValues`` entry."""
        return {
            "active": self.active,
            "defaultValue": self.default,
            "label": self.label,
            "validFor": None,
            "value": self.value,
        }


@dataclass(slots=True)
class FieldDef:
    """One field of an sObject.

    ``stored`` is False for values the store keeps elsewhere (Id, IsDeleted, CreatedDate,
    SystemModstamp) or computes (Name of a person, IsWon of an opportunity).
    ``needs_grant`` marks fields created through the Metadata API: invisible to the
    integration user until a permission set grants field-level security.
    """

    name: str
    type: str
    label: str
    length: int = 0
    precision: int = 0
    scale: int = 0
    digits: int = 0
    createable: bool = True
    updateable: bool = True
    nillable: bool = True
    picklist: tuple[PicklistValue, ...] = ()
    restricted: bool = False
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    custom: bool = False
    calculated: bool = False
    stored: bool = True
    needs_grant: bool = False
    default_on_create: bool = False  # the platform fills it when missing (Status, OwnerId…)
    name_field: bool = False
    id_lookup: bool = False
    external_id: bool = False
    unique: bool = False
    case_sensitive: bool = False
    description: str | None = None
    metadata_type: str | None = None  # Metadata API type of a custom field (Text, Picklist…)
    metadata: dict[str, Any] = field(default_factory=dict)  # what readMetadata returns
    created_ms: int = 0
    metadata_id: str | None = None

    @property
    def kind(self) -> Kind:
        """How the store keeps this field's values."""
        return STORE_KINDS[self.type]

    @property
    def required_on_create(self) -> bool:
        """Whether a create without a value fails with REQUIRED_FIELD_MISSING."""
        return (
            self.createable
            and not self.nillable
            and not self.default_on_create
            and self.type != "boolean"
        )

    def picklist_values(self) -> list[str]:
        """Active picklist values in order."""
        return [p.value for p in self.picklist if p.active]


@dataclass(slots=True)
class ObjectDef:
    """One sObject type and its fields."""

    name: str
    table: str  # store table (canonical object type)
    prefix: str
    label: str
    label_plural: str
    fields: dict[str, FieldDef]
    createable: bool = True
    updateable: bool = True
    deletable: bool = True
    custom_setting: bool = False
    has_owner: bool = False

    def field(self, name: str) -> FieldDef | None:
        """A field by (case-insensitive) name."""
        return self.fields.get(name.lower())

    def add(self, definition: FieldDef) -> None:
        """Add or replace a field."""
        self.fields[definition.name.lower()] = definition

    def relationship(self, name: str) -> FieldDef | None:
        """The reference field behind a relationship name (``Account`` -> ``AccountId``)."""
        low = name.lower()
        for definition in self.fields.values():
            if definition.relationship_name and definition.relationship_name.lower() == low:
                return definition
        return None


# -- building definitions -------------------------------------------------------------


def _label(name: str) -> str:
    """``NumberOfEmployees`` -> ``Number Of Employees``; ``Tech_Stack__c`` -> ``Tech Stack``."""
    base = name[:-3] if name.endswith("__c") else name
    if base.endswith("Id") and len(base) > 2:
        base = base[:-2] + " ID"
    out = []
    for i, ch in enumerate(base.replace("_", " ")):
        if ch.isupper() and i and base[i - 1].islower():
            out.append(" ")
        out.append(ch)
    return "".join(out)


def _values(values: tuple[str, ...], default: str | None = None) -> tuple[PicklistValue, ...]:
    return tuple(PicklistValue(v, v, default=v == default) for v in values)


def text(name: str, length: int, **kw: Any) -> FieldDef:
    """A text field (``type`` string unless given)."""
    kw.setdefault("type", "string")
    return FieldDef(name=name, label=kw.pop("label", _label(name)), length=length, **kw)


def number(name: str, type_: str, precision: int = 18, scale: int = 0, **kw: Any) -> FieldDef:
    """An int/double/currency/percent field."""
    digits = precision if type_ == "int" else 0
    return FieldDef(
        name=name,
        type=type_,
        label=kw.pop("label", _label(name)),
        precision=0 if type_ == "int" else precision,
        scale=0 if type_ == "int" else scale,
        digits=digits,
        **kw,
    )


def plain(name: str, type_: str, **kw: Any) -> FieldDef:
    """A date, datetime or boolean field."""
    if type_ == "boolean":
        kw.setdefault("nillable", False)
        kw.setdefault("default_on_create", True)
    return FieldDef(name=name, type=type_, label=kw.pop("label", _label(name)), **kw)


def pick(name: str, values: tuple[str, ...], default: str | None = None, **kw: Any) -> FieldDef:
    """A picklist field (standard picklists are not restricted)."""
    return FieldDef(
        name=name,
        type="picklist",
        label=kw.pop("label", _label(name)),
        length=255,
        picklist=_values(values, default),
        **kw,
    )


def ref(name: str, target: str, relationship: str, **kw: Any) -> FieldDef:
    """A lookup to another object."""
    return FieldDef(
        name=name,
        type="reference",
        label=kw.pop("label", _label(name)),
        length=18,
        reference_to=(target,),
        relationship_name=relationship,
        **kw,
    )


def read_only(definition: FieldDef) -> FieldDef:
    """The field with createable/updateable off (system-maintained)."""
    definition.createable = False
    definition.updateable = False
    return definition


def system_fields(*, owner: bool, audit: bool = True, deletable: bool = True) -> list[FieldDef]:
    """Id and the audit fields every object has (OwnerId where records have owners)."""
    fields = [
        FieldDef(
            "Id",
            "id",
            "Record ID",
            length=18,
            createable=False,
            updateable=False,
            nillable=False,
            stored=False,
            id_lookup=True,
        )
    ]
    if deletable:
        fields.append(read_only(plain("IsDeleted", "boolean", label="Deleted", stored=False)))
    if owner:
        fields.append(
            ref(
                "OwnerId",
                "User",
                "Owner",
                label="Owner ID",
                nillable=False,
                default_on_create=True,
            )
        )
    if audit:
        fields += [
            read_only(
                plain("CreatedDate", "datetime", label="Created Date", nillable=False, stored=False)
            ),
            read_only(ref("CreatedById", "User", "CreatedBy", label="Created By ID")),
            read_only(plain("LastModifiedDate", "datetime", label="Last Modified Date")),
            read_only(
                ref("LastModifiedById", "User", "LastModifiedBy", label="Last Modified By ID")
            ),
        ]
    fields.append(
        read_only(
            plain(
                "SystemModstamp", "datetime", label="System Modstamp", nillable=False, stored=False
            )
        )
    )
    return fields


def sobject(
    name: str,
    table: str,
    label_plural: str,
    fields: list[FieldDef],
    **kw: Any,
) -> ObjectDef:
    return ObjectDef(
        name=name,
        table=table,
        prefix=PREFIXES[name],
        label=kw.pop("label", _label(name)),
        label_plural=label_plural,
        fields={f.name.lower(): f for f in fields},
        **kw,
    )
