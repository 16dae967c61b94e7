"""The Metadata API's CustomField and PermissionSet components over the sandbox org.

Components travel as plain dicts (element name -> text, nested dict or list of those),
exactly as the SOAP layer parsed them, and ``read`` hands back the same shape.

* A created CustomField becomes a column of its object, but field-level security hides it
  from the integration user until a PermissionSet with ``fieldPermissions`` on it is
  assigned to that user (``PermissionSetAssignment``).
* A PermissionSet is a ``PermissionSet`` record plus one ``FieldPermissions`` record per
  field it grants. An update or upsert changes the listed field permissions and leaves the
  others as they are (the behaviour of a deploy); a permission with neither read nor edit
  removes the FieldPermissions record.
"""

from __future__ import annotations

import re
from typing import Any

from connectors.sandbox.salesforce.error_bodies import RecordError
from connectors.sandbox.salesforce.ids import PREFIXES, make_id
from connectors.sandbox.salesforce.object_schema import FieldDef, ObjectDef, PicklistValue
from connectors.sandbox.salesforce.record_writes import Writer
from connectors.sandbox.salesforce.records import SalesforceData
from connectors.sandbox.salesforce.values import iso

Component = dict[str, Any]
FIELD_TYPES = {
    "Text": "string",
    "TextArea": "textarea",
    "LongTextArea": "textarea",
    "Email": "email",
    "Phone": "phone",
    "Url": "url",
    "Number": "double",
    "Currency": "currency",
    "Percent": "percent",
    "Checkbox": "boolean",
    "Date": "date",
    "DateTime": "datetime",
    "Picklist": "picklist",
}
FIXED_LENGTHS = {"TextArea": 255, "Email": 80, "Phone": 40, "Url": 255}
DESCRIBE_TO_METADATA = {
    "string": "Text",
    "textarea": "TextArea",
    "email": "Email",
    "phone": "Phone",
    "url": "Url",
    "double": "Number",
    "int": "Number",
    "currency": "Currency",
    "percent": "Percent",
    "boolean": "Checkbox",
    "date": "Date",
    "datetime": "DateTime",
    "picklist": "Picklist",
    "reference": "Lookup",
}
CUSTOMIZABLE = ("Account", "Contact", "Lead", "Opportunity")
_FIELD_NAME = re.compile(r"^[A-Za-z](?:[A-Za-z0-9]|_(?!_))*(?<!_)$")
_SET_NAME = re.compile(r"^[A-Za-z](?:[A-Za-z0-9]|_(?!_))*(?<!_)$")
NAME_RULES = (
    "The Field Name field can only contain underscores and alphanumeric characters. It must be "
    "unique, begin with a letter, not include spaces, not end with an underscore, and not "
    "contain two consecutive underscores."
)


class MetadataError(Exception):
    """One component failed: its SaveResult error."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.error = RecordError(code, message)


def _bool(value: Any) -> bool:
    return str(value).strip().lower() == "true"


def _int(component: Component, name: str, kind: str) -> int:
    raw = component.get(name)
    if raw in (None, ""):
        raise MetadataError(
            "FIELD_INTEGRITY_EXCEPTION", f"Must specify '{name}' for a CustomField of type {kind}"
        )
    try:
        return int(str(raw))
    except ValueError:
        raise MetadataError(
            "FIELD_INTEGRITY_EXCEPTION", f"{name}: '{raw}' is not a valid integer"
        ) from None


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


class MetadataTypes:
    """Create, read, update, delete and list CustomField and PermissionSet components."""

    def __init__(self, data: SalesforceData, writer: Writer) -> None:
        self.data = data
        self.writer = writer
        self._serial = 0

    # -- CustomField ---------------------------------------------------------------------------

    def _split(self, full_name: str) -> tuple[ObjectDef, str]:
        object_name, dot, name = full_name.partition(".")
        obj = self.data.obj(object_name)
        if not dot or obj is None or obj.name not in CUSTOMIZABLE:
            raise MetadataError(
                "INVALID_CROSS_REFERENCE_KEY",
                f"In field: fullName - no CustomObject named {object_name} found",
            )
        return obj, name

    def read_field(self, full_name: str) -> Component | None:
        """A field's metadata, None when there is no such field."""
        try:
            obj, name = self._split(full_name)
        except MetadataError:
            return None
        definition = obj.field(name)
        if definition is None:
            return None
        if definition.metadata:
            return dict(definition.metadata)
        return self._synthesized(obj, definition)

    def _synthesized(self, obj: ObjectDef, definition: FieldDef) -> Component:
        """Metadata of a standard or seeded field, reconstructed from its definition."""
        kind = DESCRIBE_TO_METADATA.get(definition.type, "Text")
        out: Component = {"fullName": f"{obj.name}.{definition.name}"}
        if definition.custom:
            out.update(
                {
                    "externalId": "false",
                    "label": definition.label,
                    "required": "false",
                    "trackFeedHistory": "false",
                    "trackHistory": "false",
                    "unique": "false",
                }
            )
            if kind == "Text":
                out["length"] = str(definition.length)
            if kind in ("Number", "Currency", "Percent"):
                out["precision"] = str(definition.precision)
                out["scale"] = str(definition.scale)
        out["type"] = kind
        if definition.picklist:
            out["valueSet"] = self._value_set(definition)
        return out

    @staticmethod
    def _value_set(definition: FieldDef) -> Component:
        return {
            "restricted": "true" if definition.restricted else "false",
            "valueSetDefinition": {
                "sorted": "false",
                "value": [
                    {
                        "fullName": p.value,
                        "default": "true" if p.default else "false",
                        "label": p.label,
                    }
                    for p in definition.picklist
                ],
            },
        }

    def save_field(self, component: Component, mode: str) -> bool:
        """Create (``create``), change (``update``) or either (``upsert``); True when created."""
        full_name = str(component.get("fullName") or "")
        obj, name = self._split(full_name)
        if not name.endswith("__c") or not _FIELD_NAME.match(name[:-3]) or len(name) > 43:
            raise MetadataError("FIELD_INTEGRITY_EXCEPTION", NAME_RULES)
        existing = obj.field(name)
        if mode == "create" and existing is not None:
            raise MetadataError(
                "DUPLICATE_DEVELOPER_NAME",
                f"There is already a field named {name[:-3]} on {obj.name}.",
            )
        if mode == "update" and existing is None:
            raise MetadataError(
                "INVALID_CROSS_REFERENCE_KEY",
                f"In field: fullName - no CustomField named {full_name} found",
            )
        definition = self._definition(obj, name, component)
        if existing is not None:
            if existing.type != definition.type:
                raise MetadataError(
                    "FIELD_INTEGRITY_EXCEPTION",
                    f"Cannot change type of {full_name} from "
                    f"{existing.metadata_type or existing.type} to {component.get('type')} "
                    "in the sandbox",
                )
            definition.created_ms = existing.created_ms
            definition.metadata_id = existing.metadata_id
            definition.needs_grant = existing.needs_grant
        else:
            definition.created_ms = self.data.now_ms()
            self._serial += 1
            definition.metadata_id = make_id(PREFIXES["CustomField"], 10_000 + self._serial)
        with self.data.state.store.lock, self.data.lock:
            obj.add(definition)
            self.data.table(obj).add_property(definition.name, definition.kind)
        return existing is None

    def _definition(self, obj: ObjectDef, name: str, component: Component) -> FieldDef:
        kind = str(component.get("type") or "")
        if kind not in FIELD_TYPES:
            raise MetadataError(
                "FIELD_INTEGRITY_EXCEPTION",
                f"Field type {kind or '(none)'} is not supported by the sandbox; use one of "
                f"{', '.join(FIELD_TYPES)}",
            )
        label = str(component.get("label") or "")
        if not label:
            raise MetadataError("REQUIRED_FIELD_MISSING", "Required field is missing: label")
        if len(label) > 40:
            raise MetadataError("FIELD_INTEGRITY_EXCEPTION", "Field Label: data value too large")
        definition = FieldDef(
            name=name,
            type=FIELD_TYPES[kind],
            label=label,
            custom=True,
            needs_grant=True,
            nillable=not _bool(component.get("required")),
            unique=_bool(component.get("unique")),
            external_id=_bool(component.get("externalId")),
            description=component.get("description"),
            metadata_type=kind,
        )
        if kind == "Text":
            definition.length = _int(component, "length", kind)
            if not 1 <= definition.length <= 255:
                raise MetadataError(
                    "FIELD_INTEGRITY_EXCEPTION", "Length: value must be between 1 and 255"
                )
        elif kind == "LongTextArea":
            definition.length = _int(component, "length", kind)
            _int(component, "visibleLines", kind)
            if not 256 <= definition.length <= 131_072:
                raise MetadataError(
                    "FIELD_INTEGRITY_EXCEPTION", "Length: value must be between 256 and 131072"
                )
        elif kind in FIXED_LENGTHS:
            definition.length = FIXED_LENGTHS[kind]
        elif kind in ("Number", "Currency", "Percent"):
            precision, scale = _int(component, "precision", kind), _int(component, "scale", kind)
            if not 1 <= precision <= 18 or not 0 <= scale <= precision:
                raise MetadataError(
                    "FIELD_INTEGRITY_EXCEPTION",
                    "Precision must be between 1 and 18 and scale between 0 and the precision",
                )
            definition.precision, definition.scale = precision, scale
        elif kind == "Checkbox":
            if component.get("defaultValue") in (None, ""):
                raise MetadataError(
                    "FIELD_INTEGRITY_EXCEPTION",
                    "Must specify 'defaultValue' for a CustomField of type Checkbox",
                )
            definition.nillable = False
            definition.default_on_create = True
        elif kind == "Picklist":
            self._picklist(definition, component)
        stored = dict(component)
        stored.setdefault("externalId", "false")
        stored.setdefault("required", "false")
        definition.metadata = stored
        return definition

    @staticmethod
    def _picklist(definition: FieldDef, component: Component) -> None:
        value_set = component.get("valueSet")
        values_def = value_set.get("valueSetDefinition") if isinstance(value_set, dict) else None
        values = _list(values_def.get("value")) if isinstance(values_def, dict) else []
        if not values:
            raise MetadataError(
                "FIELD_INTEGRITY_EXCEPTION", "Picklist: you must specify at least one value"
            )
        entries = []
        seen: set[str] = set()
        for value in values:
            full = str(value.get("fullName") or "") if isinstance(value, dict) else ""
            if not full:
                raise MetadataError("REQUIRED_FIELD_MISSING", "Required field is missing: fullName")
            if full.lower() in seen:
                raise MetadataError("DUPLICATE_VALUE", f"Duplicate picklist value: {full}")
            seen.add(full.lower())
            entries.append(
                PicklistValue(
                    full,
                    str(value.get("label") or full),
                    active=str(value.get("isActive", "true")).lower() != "false",
                    default=_bool(value.get("default")),
                )
            )
        definition.picklist = tuple(entries)
        definition.length = 255
        definition.restricted = isinstance(value_set, dict) and _bool(value_set.get("restricted"))

    def delete_field(self, full_name: str) -> None:
        """Remove a custom field and the permissions that granted it."""
        obj, name = self._split(full_name)
        definition = obj.field(name)
        if definition is None or not definition.custom:
            raise MetadataError(
                "INVALID_CROSS_REFERENCE_KEY",
                f"In field: fullName - no CustomField named {full_name} found",
            )
        perms_obj = self.data.objects["FieldPermissions"]
        with self.data.state.store.lock, self.data.lock:
            del obj.fields[definition.name.lower()]
            perms = self.data.table(perms_obj)
            doomed = [
                r
                for r in range(len(perms))
                if not perms.archived[r]
                and str(perms.get(r, "Field") or "").lower() == full_name.lower()
            ]
            self.writer.delete_rows(perms_obj, doomed, self.data.now_ms())

    def list_fields(self) -> list[Component]:
        """FileProperties of every custom field."""
        out = []
        for name in CUSTOMIZABLE:
            obj = self.data.objects[name]
            for definition in obj.fields.values():
                if definition.custom:
                    out.append(
                        self._file(
                            f"{obj.name}.{definition.name}",
                            f"objects/{obj.name}.object",
                            definition.metadata_id
                            or make_id(PREFIXES["CustomField"], sum(map(ord, definition.name))),
                            definition.created_ms or 0,
                            "CustomField",
                        )
                    )
        return out

    def _file(self, full_name: str, file_name: str, item_id: str, ms: int, kind: str) -> Component:
        stamp = iso(ms).replace(".000+0000", ".000Z")
        return {
            "createdById": self.data.admin_id,
            "createdByName": "Sandbox Admin",
            "createdDate": stamp,
            "fileName": file_name,
            "fullName": full_name,
            "id": item_id,
            "lastModifiedById": self.data.admin_id,
            "lastModifiedByName": "Sandbox Admin",
            "lastModifiedDate": stamp,
            "manageableState": "unmanaged",
            "type": kind,
        }

    # -- PermissionSet ---------------------------------------------------------------------------

    def _set_row(self, name: str) -> int | None:
        table = self.data.table(self.data.objects["PermissionSet"])
        return next(
            (
                r
                for r in range(len(table))
                if not table.archived[r] and table.get(r, "Name") == name
            ),
            None,
        )

    def read_permission_set(self, name: str) -> Component | None:
        """A permission set with its field permissions, None when there is none."""
        obj = self.data.objects["PermissionSet"]
        row = self._set_row(name)
        if row is None:
            return None
        table = self.data.table(obj)
        set_id = self.data.record_id(obj, table.ids[row])
        out: Component = {"fullName": name}
        if table.get(row, "Description"):
            out["description"] = table.get(row, "Description")
        perms = self._permissions(set_id)
        if perms:
            out["fieldPermissions"] = [
                {
                    "editable": "true" if edit else "false",
                    "field": field,
                    "readable": "true" if read else "false",
                }
                for field, (_, read, edit) in sorted(perms.items())
            ]
        out["hasActivationRequired"] = "false"
        out["label"] = table.get(row, "Label")
        return out

    def _permissions(self, set_id: str) -> dict[str, tuple[int, bool, bool]]:
        """Field -> (row, read, edit) of a permission set's live FieldPermissions."""
        table = self.data.table(self.data.objects["FieldPermissions"])
        return {
            str(table.get(r, "Field")): (
                r,
                bool(table.get(r, "PermissionsRead")),
                bool(table.get(r, "PermissionsEdit")),
            )
            for r in range(len(table))
            if not table.archived[r] and table.get(r, "ParentId") == set_id
        }

    def save_permission_set(self, component: Component, mode: str) -> bool:
        """Create/update/upsert a permission set and its field permissions; True when created."""
        name = str(component.get("fullName") or "")
        if not name or len(name) > 80 or not _SET_NAME.match(name):
            raise MetadataError(
                "FIELD_INTEGRITY_EXCEPTION",
                "The API Name field can only contain underscores and alphanumeric characters. "
                "It must be unique, begin with a letter, not include spaces, not end with an "
                "underscore, and not contain two consecutive underscores.",
            )
        grants = self._grants(component)
        obj = self.data.objects["PermissionSet"]
        now = self.data.now_ms()
        with self.data.state.store.lock:
            row = self._set_row(name)
            if mode == "create" and row is not None:
                raise MetadataError(
                    "DUPLICATE_DEVELOPER_NAME", f"A permission set named {name} already exists."
                )
            if mode == "update" and row is None:
                raise MetadataError(
                    "INVALID_CROSS_REFERENCE_KEY",
                    f"In field: fullName - no PermissionSet named {name} found",
                )
            label = str(component.get("label") or "")
            if not label and row is None:
                raise MetadataError("REQUIRED_FIELD_MISSING", "Required field is missing: label")
            values = {"Label": label or None, "Description": component.get("description")}
            if row is None:
                values.update(
                    {
                        "Name": name,
                        "IsOwnedByProfile": False,
                        "IsCustom": True,
                        "PermissionsApiEnabled": False,
                        "PermissionsCustomizeApplication": False,
                    }
                )
                row = self.writer.insert(obj, values, now)
                created = True
            else:
                if not label:
                    del values["Label"]
                self.writer.update(obj, row, values, now)
                created = False
            set_id = self.data.record_id(obj, self.data.table(obj).ids[row])
            self._apply_grants(set_id, grants, now)
        return created

    def _grants(self, component: Component) -> list[tuple[str, str, bool, bool]]:
        """(object, field full name, read, edit) of each listed field permission, validated."""
        out = []
        for perm in _list(component.get("fieldPermissions")):
            field_name = str(perm.get("field") or "") if isinstance(perm, dict) else ""
            object_name, _, name = field_name.partition(".")
            obj = self.data.obj(object_name)
            definition = None if obj is None else obj.field(name)
            if obj is None or definition is None:
                raise MetadataError(
                    "INVALID_CROSS_REFERENCE_KEY",
                    f"In field: field - no CustomField named {field_name} found",
                )
            edit = _bool(perm.get("editable"))
            read = _bool(perm.get("readable")) if perm.get("readable") is not None else edit
            if edit and not read:
                raise MetadataError(
                    "FIELD_INTEGRITY_EXCEPTION",
                    f"Permission Edit {field_name} depends on permission(s): Read {field_name}",
                )
            if not definition.nillable and not definition.custom:
                raise MetadataError(
                    "FIELD_INTEGRITY_EXCEPTION",
                    f"You cannot deploy to a required field: {field_name}",
                )
            out.append((obj.name, f"{obj.name}.{definition.name}", read, edit))
        return out

    def _apply_grants(
        self, set_id: str, grants: list[tuple[str, str, bool, bool]], now: int
    ) -> None:
        perms_obj = self.data.objects["FieldPermissions"]
        current = self._permissions(set_id)
        for object_name, field_name, read, edit in grants:
            existing = current.get(field_name)
            if existing is not None:
                if not read:
                    self.writer.delete_rows(perms_obj, [existing[0]], now)
                else:
                    values = {"PermissionsRead": read, "PermissionsEdit": edit}
                    self.writer.update(perms_obj, existing[0], values, now)
            elif read:
                self.writer.insert(
                    perms_obj,
                    {
                        "ParentId": set_id,
                        "SobjectType": object_name,
                        "Field": field_name,
                        "PermissionsRead": read,
                        "PermissionsEdit": edit,
                    },
                    now,
                )
        with self.data.lock:
            self.data.refresh_grants()

    def delete_permission_set(self, name: str) -> None:
        """Delete a permission set, its field permissions and its assignments."""
        obj = self.data.objects["PermissionSet"]
        with self.data.state.store.lock:
            row = self._set_row(name)
            if row is None:
                raise MetadataError(
                    "INVALID_CROSS_REFERENCE_KEY",
                    f"In field: fullName - no PermissionSet named {name} found",
                )
            self.writer.delete_rows(obj, [row], self.data.now_ms())

    def list_permission_sets(self) -> list[Component]:
        """FileProperties of every permission set."""
        obj = self.data.objects["PermissionSet"]
        table = self.data.table(obj)
        return [
            self._file(
                str(table.get(r, "Name")),
                f"permissionsets/{table.get(r, 'Name')}.permissionset",
                self.data.record_id(obj, table.ids[r]),
                table.created[r],
                "PermissionSet",
            )
            for r in range(len(table))
            if not table.archived[r]
        ]
