"""Validating and applying record writes the way Salesforce does.

Two stages, as in the platform: *deserialization* turns a JSON body into typed values and
fails the whole request (``INVALID_FIELD`` for a column the user cannot see,
``JSON_PARSER_ERROR`` for a value that does not convert); *save* checks each record
(read-only fields, lengths, restricted picklists, references, required fields, converted
leads, validation rules) and fails only that record.

Every successful update stamps ``LastModifiedDate``/``LastModifiedById`` and bumps
``SystemModstamp``, even when no value changed — Salesforce saves the record either way.
Only real value changes count in the admin read-back (``changes``) and in
``records_written``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from connectors.sandbox.salesforce.error_bodies import RecordError, SfError
from connectors.sandbox.salesforce.ids import canonical, parse_id
from connectors.sandbox.salesforce.object_schema import FieldDef, ObjectDef
from connectors.sandbox.salesforce.objects import (
    ALREADY_A_MEMBER,
    DEFAULT_MEMBER_STATUSES,
    STAGE_INFO,
)
from connectors.sandbox.salesforce.records import SalesforceData, audit_values
from connectors.sandbox.salesforce.values import (
    JSON_KIND,
    Unconvertible,
    coerce,
    fits_number,
    valid_email,
)

SECURITY_OBJECTS = frozenset({"PermissionSet", "PermissionSetAssignment", "FieldPermissions"})
DUPLICATE_MESSAGE = "duplicate value found: <unknown> duplicates value on record with id: <unknown>"
# Accounts take their contacts and opportunities with them; both take their contact roles.
CASCADES: dict[str, tuple[tuple[str, str], ...]] = {
    "Account": (("Contact", "AccountId"), ("Opportunity", "AccountId")),
    "Contact": (("OpportunityContactRole", "ContactId"), ("CampaignMember", "ContactId")),
    "Lead": (("CampaignMember", "LeadId"),),
    "Opportunity": (("OpportunityContactRole", "OpportunityId"),),
    "Campaign": (("CampaignMember", "CampaignId"), ("CampaignMemberStatus", "CampaignId")),
    "PermissionSet": (
        ("PermissionSetAssignment", "PermissionSetId"),
        ("FieldPermissions", "ParentId"),
    ),
}


def no_such_column(obj: ObjectDef, name: str) -> SfError:
    """400 INVALID_FIELD for a field the user cannot see (or that does not exist)."""
    return SfError(400, "INVALID_FIELD", f"No such column '{name}' on sobject of type {obj.name}")


def parser_error(definition: FieldDef, problem: Unconvertible, column: int) -> SfError:
    """400 JSON_PARSER_ERROR, worded like the platform's JSON deserializer."""
    kind = JSON_KIND.get(definition.type, "string")
    value = "" if problem.token.startswith("START_") else f" value {problem.raw}"
    return SfError(
        400,
        "JSON_PARSER_ERROR",
        f"Cannot deserialize instance of {kind} from {problem.token}{value} or request may be "
        f"missing a required field at [line:1, column:{column}]",
    )


class Writer:
    """Turns request bodies into stored values and applies them."""

    def __init__(self, data: SalesforceData) -> None:
        self.data = data
        self.state = data.state
        self._members: dict[tuple[str, str], int] | None = None  # (campaign, person) -> row

    # -- deserialization --------------------------------------------------------------------

    def parse(
        self, obj: ObjectDef, body: Mapping[str, Any], text: str = ""
    ) -> dict[str, tuple[FieldDef, Any]]:
        """Typed values by field name; raises SfError (the whole request fails)."""
        out: dict[str, tuple[FieldDef, Any]] = {}
        for name, raw in body.items():
            if name == "attributes":
                continue
            definition = self.data.field(obj, name)
            if definition is None:
                raise no_such_column(obj, name)
            try:
                value = coerce(definition, raw)
            except Unconvertible as problem:
                column = max(1, text.find(f'"{name}"') + len(name) + 4) if text else 1
                raise parser_error(definition, problem, column) from None
            out[definition.name] = (definition, value)
        return out

    # -- save-time validation ---------------------------------------------------------------

    def check(
        self, obj: ObjectDef, row: int | None, fields: Mapping[str, tuple[FieldDef, Any]]
    ) -> tuple[dict[str, Any], RecordError | None]:
        """Stored values for a create (``row`` None) or an update, or the record's error."""
        creating = row is None
        if obj.name in SECURITY_OBJECTS and not self.state.config.customize_application:
            return {}, _insufficient(obj)
        if not (obj.createable if creating else obj.updateable):
            return {}, RecordError(
                "INSUFFICIENT_ACCESS_OR_READONLY", "insufficient access rights on object id"
            )
        table = self.data.table(obj)
        if obj.name == "Lead" and row is not None and table.get(row, "IsConverted"):
            return {}, RecordError(
                "CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead"
            )
        locked = [
            name
            for name, (definition, _) in fields.items()
            if not (definition.createable if creating else definition.updateable)
            or not self.data.editable(obj, definition)
        ]
        if locked:
            joined = ", ".join(locked)
            return {}, RecordError(
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to create/update fields: {joined}. Please check the security settings "
                "of this field and verify that it is read/write for your profile or permission "
                "set.",
                tuple(locked),
            )
        values: dict[str, Any] = {}
        for name, (definition, value) in fields.items():
            problem = self._check_value(definition, value)
            if problem is not None:
                return {}, problem
            if definition.type == "reference" and value is not None:
                value = canonical(value)
            values[name] = value
        if creating:
            missing = [
                f.name
                for f in obj.fields.values()
                if f.required_on_create and values.get(f.name) is None
            ]
            if missing:
                return {}, RecordError(
                    "REQUIRED_FIELD_MISSING",
                    f"Required fields are missing: [{', '.join(missing)}]",
                    tuple(missing),
                )
        problem = self._check_object(obj, row, values)
        if problem is not None:
            return {}, problem
        if row is not None and self.state.faults.rejects(obj.table, table.ids[row]):
            self.state.stats.fault("reject")
            return {}, RecordError(
                "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                "The value failed a validation rule set up in this org",
            )
        return values, None

    def _check_value(self, definition: FieldDef, value: Any) -> RecordError | None:
        label, name = definition.label, definition.name
        if value is None:
            if not definition.nillable and definition.type != "boolean":
                return RecordError(
                    "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{name}]", (name,)
                )
            return None
        kind = definition.type
        if kind == "reference":
            return self._check_reference(definition, str(value))
        if isinstance(value, str):
            if definition.length and len(value) > definition.length:
                return RecordError(
                    "STRING_TOO_LONG",
                    f"{label}: data value too large: {value} (max length={definition.length})",
                    (name,),
                )
            if kind == "email" and not valid_email(value):
                return RecordError(
                    "INVALID_EMAIL_ADDRESS", f"{label}: invalid email address: {value}", (name,)
                )
            if (
                kind == "picklist"
                and definition.restricted
                and value not in (definition.picklist_values())
            ):
                return RecordError(
                    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                    f"bad value for restricted picklist field: {value}",
                    (name,),
                )
        if (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and not fits_number(definition, float(value))
        ):
            return RecordError(
                "NUMBER_OUTSIDE_VALID_RANGE",
                f"{label}: value outside of valid range on numeric field: {value}",
                (name,),
            )
        return None

    def _check_reference(self, definition: FieldDef, text: str) -> RecordError | None:
        targets = [self.data.objects[t] for t in definition.reference_to if t in self.data.objects]
        parsed = parse_id(text)
        target = next((t for t in targets if parsed is not None and parsed[0] == t.prefix), None)
        if target is None or parsed is None:
            if not targets:  # e.g. ProfileId: any well-formed id will do
                return None if canonical(text) else _malformed(definition, text)
            return _malformed(definition, text)
        table = self.data.table(target)
        row = table.row_of.get(parsed[1])
        if row is None:
            return RecordError(
                "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", (definition.name,)
            )
        if table.archived[row]:
            return RecordError("ENTITY_IS_DELETED", "entity is deleted", (definition.name,))
        return None

    def _check_object(
        self, obj: ObjectDef, row: int | None, values: Mapping[str, Any]
    ) -> RecordError | None:
        """Uniqueness rules of the security objects and of campaign members."""
        table = self.data.table(obj)
        if obj.name == "CampaignMember" and row is None:
            return self._check_member(values)
        if obj.name == "PermissionSetAssignment" and row is None:
            key = (values.get("AssigneeId"), values.get("PermissionSetId"))
            if self._exists(obj, ("AssigneeId", "PermissionSetId"), key):
                return RecordError("DUPLICATE_VALUE", DUPLICATE_MESSAGE)
        if obj.name == "FieldPermissions":
            merged = {**_current(table, row, ("ParentId", "Field", "SobjectType")), **values}
            problem = self._check_field_permission(merged)
            if problem is not None:
                return problem
            if row is None and self._exists(
                obj, ("ParentId", "Field"), (merged.get("ParentId"), merged.get("Field"))
            ):
                return RecordError("DUPLICATE_VALUE", DUPLICATE_MESSAGE)
        if (
            obj.name == "PermissionSet"
            and "Name" in values
            and any(
                r != row and not table.archived[r] and table.get(r, "Name") == values["Name"]
                for r in range(len(table))
            )
        ):
            return RecordError("DUPLICATE_DEVELOPER_NAME", "Duplicate Developer Name")
        return None

    def _check_member(self, values: Mapping[str, Any]) -> RecordError | None:
        """One contact or one lead, not yet a member; a status the campaign has."""
        people = [values.get("ContactId"), values.get("LeadId")]
        if not any(people):
            return RecordError(
                "REQUIRED_FIELD_MISSING", "Required fields are missing: [ContactId, LeadId]"
            )
        if all(people):
            return RecordError(
                "FIELD_INTEGRITY_EXCEPTION",
                "A campaign member is a contact or a lead, not both",
                ("ContactId", "LeadId"),
            )
        campaign = str(values["CampaignId"])
        if member_key(values) in self._member_rows():
            return RecordError("DUPLICATE_VALUE", ALREADY_A_MEMBER)
        status = values.get("Status")
        if status is not None and status not in self._statuses(campaign):
            return RecordError(
                "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                f"Status: bad value for restricted picklist field: {status}",
                ("Status",),
            )
        return None

    def _member_rows(self) -> dict[tuple[str, str], int]:
        """Live members by (campaign, contact or lead), kept as rows are added and deleted."""
        if self._members is None:
            table = self.data.table(self.data.objects["CampaignMember"])
            names = ("CampaignId", "ContactId", "LeadId")
            self._members = {
                member_key({n: table.get(r, n) for n in names}): r
                for r in range(len(table))
                if not table.archived[r]
            }
        return self._members

    def _statuses(self, campaign: str) -> dict[str, tuple[bool, bool]]:
        """The campaign's member statuses: label -> (is default, has responded)."""
        table = self.data.table(self.data.objects["CampaignMemberStatus"])
        return {
            str(table.get(r, "Label")): (
                bool(table.get(r, "IsDefault")),
                bool(table.get(r, "HasResponded")),
            )
            for r in range(len(table))
            if not table.archived[r] and table.get(r, "CampaignId") == campaign
        }

    def _check_field_permission(self, values: Mapping[str, Any]) -> RecordError | None:
        field_name = str(values.get("Field") or "")
        object_name, _, name = field_name.partition(".")
        target = self.data.obj(object_name)
        definition = None if target is None else target.field(name)
        if target is None or definition is None or object_name != values.get("SobjectType"):
            return RecordError(
                "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                f"Field Name: bad value for restricted picklist field: {field_name}",
                ("Field",),
            )
        if not definition.custom and not definition.nillable:
            return RecordError(
                "FIELD_INTEGRITY_EXCEPTION",
                f"Permission Read {field_name} depends on permission(s): is required field",
                ("Field",),
            )
        if values.get("PermissionsEdit") and not values.get("PermissionsRead"):
            return RecordError(
                "FIELD_INTEGRITY_EXCEPTION",
                f"Permission Edit {field_name} depends on permission(s): Read {field_name}",
                ("PermissionsEdit",),
            )
        return None

    def _exists(self, obj: ObjectDef, names: tuple[str, ...], key: tuple[Any, ...]) -> bool:
        table = self.data.table(obj)
        return any(
            not table.archived[r] and tuple(table.get(r, n) for n in names) == key
            for r in range(len(table))
        )

    # -- applying ---------------------------------------------------------------------------------

    def insert(self, obj: ObjectDef, values: Mapping[str, Any], now_ms: int) -> int:
        """Create a record (defaults filled in); returns its row."""
        table = self.data.table(obj)
        stored = dict(values)
        user = self.data.user_id
        stored.update(audit_values(table, now_ms, user))
        if "CreatedById" in table.kinds:
            stored["CreatedById"] = user
        if obj.has_owner and stored.get("OwnerId") is None:
            stored["OwnerId"] = user
        for definition in obj.fields.values():
            if (
                definition.stored
                and definition.type == "boolean"
                and stored.get(definition.name) is None
            ):
                stored[definition.name] = False
        if obj.name == "Lead" and stored.get("Status") is None:
            stored["Status"] = obj.fields["status"].picklist[0].value
        if obj.name == "Opportunity" and stored.get("Probability") is None:
            stage = STAGE_INFO.get(stored.get("StageName") or "")
            stored["Probability"] = float(stage[1]) if stage else None
        if obj.name == "CampaignMember":
            statuses = self._statuses(str(stored["CampaignId"]))
            if stored.get("Status") is None:
                stored["Status"] = next((k for k, (d, _) in statuses.items() if d), None)
            stored["HasResponded"] = statuses.get(stored.get("Status") or "", (False, False))[1]
        row = table.insert(stored, now_ms)
        self.state.stats.written(1)
        if obj.name == "CampaignMember":
            self._member_rows()[member_key(stored)] = row
        if obj.name == "Campaign":
            self._default_statuses(self.data.record_id(obj, table.ids[row]), now_ms)
        self._after(obj)
        return row

    def _default_statuses(self, campaign: str, now_ms: int) -> None:
        """A new campaign's member statuses, as Salesforce gives it: Sent and Responded."""
        statuses = self.data.objects["CampaignMemberStatus"]
        table = self.data.table(statuses)
        for order, (label, default, responded) in enumerate(DEFAULT_MEMBER_STATUSES, 1):
            values = {
                "CampaignId": campaign,
                "Label": label,
                "IsDefault": default,
                "HasResponded": responded,
                "SortOrder": order,
                **audit_values(table, now_ms, self.data.user_id),
                "CreatedById": self.data.user_id,
            }
            table.insert(values, now_ms)

    def update(self, obj: ObjectDef, row: int, values: Mapping[str, Any], now_ms: int) -> bool:
        """Apply an update; the record is saved (and stamped) even when nothing changed."""
        table = self.data.table(obj)
        stored = dict(values)
        if obj.name == "Opportunity" and "StageName" in stored and "Probability" not in stored:
            stage = STAGE_INFO.get(stored["StageName"] or "")
            if stage is not None and stored["StageName"] != table.get(row, "StageName"):
                stored["Probability"] = float(stage[1])
        changed = table.update(row, stored, now_ms, via_api=True)
        table.update(row, audit_values(table, now_ms, self.data.user_id), now_ms, via_api=False)
        table.touch(row, now_ms)
        self.state.stats.written(1 if changed else 0)
        self._after(obj)
        return bool(changed)

    def delete(self, obj: ObjectDef, row: int, now_ms: int) -> None:
        """Soft-delete a record (and what Salesforce deletes with it)."""
        self.delete_rows(obj, [row], now_ms)
        self.state.stats.written(1)

    def delete_rows(self, obj: ObjectDef, rows: Iterable[int], now_ms: int) -> None:
        """Soft-delete rows and cascade to their children (lock held)."""
        table = self.data.table(obj)
        ids = set()
        for row in rows:
            if table.archived[row]:
                continue
            table.archive(row, now_ms)
            if obj.name == "CampaignMember":
                self._members = None  # rebuilt on next use
            table.update(row, audit_values(table, now_ms, self.data.user_id), now_ms, via_api=False)
            ids.add(self.data.record_id(obj, table.ids[row]))
        self.cascade(obj, ids, now_ms)

    def cascade(self, obj: ObjectDef, ids: set[str], now_ms: int) -> None:
        """Delete the children Salesforce deletes with these (deleted) records (lock held)."""
        for child_name, field_name in CASCADES.get(obj.name, ()):
            if not ids:
                break
            child = self.data.objects[child_name]
            child_table = self.data.table(child)
            column = child_table.cols[field_name]
            doomed = [
                r for r, value in enumerate(column) if value in ids and not child_table.archived[r]
            ]
            self.delete_rows(child, doomed, now_ms)
        self._after(obj)

    def _after(self, obj: ObjectDef) -> None:
        if obj.name in SECURITY_OBJECTS:
            with self.data.lock:
                self.data.refresh_grants()


def member_key(values: Mapping[str, Any]) -> tuple[str, str]:
    """A campaign member's identity: (campaign, contact or lead)."""
    return str(values.get("CampaignId")), str(values.get("ContactId") or values.get("LeadId"))


def _malformed(definition: FieldDef, text: str) -> RecordError:
    label = definition.label.removesuffix(" ID")
    return RecordError(
        "MALFORMED_ID", f"{label} ID: id value of incorrect type: {text}", (definition.name,)
    )


def _insufficient(obj: ObjectDef) -> RecordError:
    if obj.name == "PermissionSetAssignment":
        return RecordError(
            "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY",
            "insufficient access rights on cross-reference id",
        )
    return RecordError("INSUFFICIENT_ACCESS_OR_READONLY", "insufficient access rights on object id")


def _current(table: Any, row: int | None, names: tuple[str, ...]) -> dict[str, Any]:
    if row is None:
        return {}
    return {n: table.get(row, n) for n in names}
