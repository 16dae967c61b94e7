"""The Salesforce view of the shared store: objects, ids, field-level security, record values.

Store ids are integers; the API shows them as 18-character ids built from the object's key
prefix (see ``ids``). ``Id``, ``CreatedDate`` and ``SystemModstamp`` are the
store's own id/creation/modification columns and ``IsDeleted`` is its archived flag, so a
soft-deleted record keeps its row (``queryAll`` still sees it).

Field visibility follows field-level security for the one API user there is, the
integration user: standard and seeded custom fields are granted by its profile; a field
created through the Metadata API needs a FieldPermissions row (read, optionally edit) in a
permission set assigned to that user.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterable
from typing import Any

from connectors.sandbox.salesforce.ids import PREFIXES, make_id, parse_id
from connectors.sandbox.salesforce.object_schema import FieldDef, ObjectDef
from connectors.sandbox.salesforce.objects import STAGE_INFO, standard_objects
from connectors.sandbox.salesforce.values import to_json, to_python
from connectors.sandbox.state import SandboxState
from connectors.sandbox.store import CREATED, ID, UPDATED, Table

ALIASES = {"Id": ID, "CreatedDate": CREATED, "SystemModstamp": UPDATED}
PERSON_OBJECTS = frozenset({"Contact", "Lead", "User"})


def first_id(object_name: str) -> int:
    """Where an object's record numbers start: a stable, realistic-looking offset."""
    digest = hashlib.blake2b(object_name.encode(), digest_size=8).digest()
    h = int.from_bytes(digest, "big")
    return 62**6 * (5 + h % 40) + (h >> 16) % 62**5


class SalesforceData:
    """Objects, tables and values of the Salesforce dialect."""

    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self.objects: dict[str, ObjectDef] = standard_objects()
        self._lower = {name.lower(): o for name, o in self.objects.items()}
        self._by_table = {o.table: o for o in self.objects.values()}
        self._by_prefix = {o.prefix: o for o in self.objects.values()}
        self.org_id = make_id(PREFIXES["Organization"], first_id("Organization"))
        self.admin_id = self.id_of("User", 0)
        self.user_id = self.id_of("User", 1)  # the integration user every API call runs as
        self.grants: dict[tuple[str, str], bool] = {}  # (object, field lower) -> editable
        self.lock = threading.RLock()  # guards schema changes (fields, grants)

    # -- objects and ids ------------------------------------------------------------------------

    def obj(self, name: str) -> ObjectDef | None:
        """An object by (case-insensitive) API name."""
        return self._lower.get(name.lower())

    def by_table(self, canonical: str) -> ObjectDef:
        """The object stored in a table (canonical object type)."""
        return self._by_table[canonical]

    def by_prefix(self, prefix: str) -> ObjectDef | None:
        """The object whose ids start with a key prefix."""
        return self._by_prefix.get(prefix)

    def table(self, obj: ObjectDef) -> Table:
        """The store table of an object."""
        return self.state.store.table(obj.table)

    def id_of(self, object_name: str, row: int) -> str:
        """The id the record in ``row`` of an object gets (rows are loaded in id order)."""
        return make_id(self.objects[object_name].prefix, first_id(object_name) + row)

    def record_id(self, obj: ObjectDef, number: int) -> str:
        """The 18-character id of a store id."""
        return make_id(obj.prefix, number)

    def number(self, obj: ObjectDef, text: str) -> int | None:
        """The store id of an id of this object, None if malformed or another object's."""
        parsed = parse_id(text, obj.prefix)
        return None if parsed is None else parsed[1]

    def locate(self, text: str) -> tuple[ObjectDef, int] | None:
        """The object and row of any record id (deleted records included)."""
        parsed = parse_id(text)
        if parsed is None:
            return None
        obj = self._by_prefix.get(parsed[0])
        if obj is None:
            return None
        row = self.table(obj).row_of.get(parsed[1])
        return None if row is None else (obj, row)

    def now_ms(self) -> int:
        """Now, in whole seconds (the precision of Salesforce datetimes)."""
        return int(time.time()) * 1000

    # -- field-level security -----------------------------------------------------------------

    def visible(self, obj: ObjectDef, definition: FieldDef) -> bool:
        """Whether the integration user can see a field."""
        return not definition.needs_grant or (obj.name, definition.name.lower()) in self.grants

    def editable(self, obj: ObjectDef, definition: FieldDef) -> bool:
        """Whether field-level security lets the integration user write a field."""
        if not definition.needs_grant:
            return True
        return self.grants.get((obj.name, definition.name.lower()), False)

    def field(self, obj: ObjectDef, name: str) -> FieldDef | None:
        """A field the integration user can see, by (case-insensitive) name."""
        definition = obj.field(name)
        if definition is None or not self.visible(obj, definition):
            return None
        return definition

    def fields(self, obj: ObjectDef) -> list[FieldDef]:
        """Every field the integration user can see, in definition order."""
        return [f for f in obj.fields.values() if self.visible(obj, f)]

    def refresh_grants(self) -> None:
        """Recompute field-level security from assignments and field permissions (lock held)."""
        sets_obj, assign_obj = (
            self.objects["PermissionSet"],
            self.objects["PermissionSetAssignment"],
        )
        perms_obj = self.objects["FieldPermissions"]
        assignments = self.table(assign_obj)
        held = {
            assignments.get(row, "PermissionSetId")
            for row in range(len(assignments))
            if not assignments.archived[row] and assignments.get(row, "AssigneeId") == self.user_id
        }
        sets = self.table(sets_obj)
        live_sets = {
            self.record_id(sets_obj, sets.ids[row])
            for row in range(len(sets))
            if not sets.archived[row]
        }
        held &= live_sets
        grants: dict[tuple[str, str], bool] = {}
        perms = self.table(perms_obj)
        for row in range(len(perms)):
            if perms.archived[row] or perms.get(row, "ParentId") not in held:
                continue
            if not perms.get(row, "PermissionsRead"):
                continue
            object_name, _, field_name = str(perms.get(row, "Field") or "").partition(".")
            key = (object_name, field_name.lower())
            grants[key] = grants.get(key, False) or bool(perms.get(row, "PermissionsEdit"))
        self.grants = grants

    # -- values --------------------------------------------------------------------------------

    def stored(self, obj: ObjectDef, table: Table, row: int, definition: FieldDef) -> Any:
        """The stored form of a field (virtual fields computed; ids as 18-character text)."""
        name = definition.name
        if name == "Id":
            return self.record_id(obj, table.ids[row])
        if name == "IsDeleted":
            return table.archived[row]
        if definition.stored or name in ALIASES:
            return table.get(row, name)
        return self._virtual(obj, table, row, name)

    def _virtual(self, obj: ObjectDef, table: Table, row: int, name: str) -> Any:
        if name == "Name" and obj.name in PERSON_OBJECTS:
            parts = [table.get(row, "FirstName"), table.get(row, "LastName")]
            return " ".join(p for p in parts if p) or None
        if obj.name == "Opportunity":
            stage = STAGE_INFO.get(table.get(row, "StageName") or "")
            if name == "IsClosed":
                return bool(stage and stage[2])
            if name == "IsWon":
                return bool(stage and stage[3])
            if name == "ForecastCategoryName":
                return stage[4] if stage else "Pipeline"
            if name == "ExpectedRevenue":
                amount, probability = table.get(row, "Amount"), table.get(row, "Probability")
                if amount is None or probability is None:
                    return None
                return round(float(amount) * float(probability) / 100.0, 2)
        return None

    def value(self, obj: ObjectDef, table: Table, row: int, definition: FieldDef) -> Any:
        """The Python value of a field (what SOQL compares and sorts)."""
        return to_python(definition, self.stored(obj, table, row, definition))

    def json_value(self, obj: ObjectDef, table: Table, row: int, definition: FieldDef) -> Any:
        """The JSON value of a field."""
        return to_json(definition, self.stored(obj, table, row, definition))

    def attributes(self, obj: ObjectDef, table: Table, row: int, version: str) -> dict[str, str]:
        """A record's ``attributes``: its type and REST URL."""
        return {
            "type": obj.name,
            "url": f"/services/data/{version}/sobjects/{obj.name}/"
            f"{self.record_id(obj, table.ids[row])}",
        }

    def record_json(
        self, obj: ObjectDef, row: int, fields: Iterable[FieldDef], version: str
    ) -> dict[str, Any]:
        """A record as the REST API shows it: ``attributes`` then the given fields."""
        table = self.table(obj)
        out: dict[str, Any] = {"attributes": self.attributes(obj, table, row, version)}
        for definition in fields:
            out[definition.name] = self.json_value(obj, table, row, definition)
        return out

    def live_row(self, obj: ObjectDef, text: str) -> int | None:
        """The row of a live (not deleted) record of this object."""
        number = self.number(obj, text)
        return None if number is None else self.table(obj).row(number)


def audit_values(table: Table, now_ms: int, user_id: str) -> dict[str, Any]:
    """LastModifiedDate/LastModifiedById for a change, where the object has them."""
    values: dict[str, Any] = {}
    if "LastModifiedDate" in table.kinds:
        values["LastModifiedDate"] = now_ms
        values["LastModifiedById"] = user_id
    return values
