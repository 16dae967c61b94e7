"""Simulated user activity for Salesforce (``/_sandbox/mutate`` and ``/_sandbox/delete``).

Mutations are user edits: they change fields, stamp ``LastModifiedDate``/``LastModifiedById``
and bump ``SystemModstamp``; a moved opportunity stage resets ``Probability`` to the stage's
default as the UI does. Converted leads are never picked at random (nobody can edit them).
A deletion takes what Salesforce deletes with it (an account's contacts and opportunities,
their contact roles) and can change field-level security (assignments, field permissions).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connectors.sandbox.salesforce.error_bodies import SfError
from connectors.sandbox.salesforce.objects import (
    CONVERTED_STATUS,
    LEAD_STATUSES,
    STAGE_INFO,
    STAGES,
)
from connectors.sandbox.salesforce.record_writes import Writer
from connectors.sandbox.salesforce.records import SalesforceData, audit_values
from connectors.sandbox.salesforce.seed_rows import REPS, day, second
from connectors.sandbox.store import Table

# Canonical seed field -> Salesforce field, per store table.
FIELD_MAP: dict[str, dict[str, str]] = {
    "contact": {
        "job_title": "Title",
        "last_activity_at": "LastActivityDate",
        "email_opens": "Email_Opens__c",
        "email_clicks": "Email_Clicks__c",
        "page_views": "Page_Views__c",
        "country": "MailingCountry",
    },
    "lead": {
        "job_title": "Title",
        "last_activity_at": "LastActivityDate",
        "email_opens": "Email_Opens__c",
        "email_clicks": "Email_Clicks__c",
        "page_views": "Page_Views__c",
        "country": "Country",
        "lifecycle_stage": "Status",
    },
    "company": {
        "employees": "NumberOfEmployees",
        "annual_revenue": "AnnualRevenue",
        "tech_stack": "Tech_Stack__c",
        "last_activity_at": "LastActivityDate",
    },
    "deal": {"stage": "StageName", "amount": "Amount", "close_date": "CloseDate"},
}


class SalesforceMutationHooks:
    """How simulated activity maps onto Salesforce fields."""

    def __init__(self, data: SalesforceData, writer: Writer) -> None:
        self.data = data
        self.writer = writer
        self._reps = [data.id_of("User", i) for i in range(2, 2 + len(REPS))]

    def native(self, object_type: str, field: str) -> str | None:
        """The Salesforce field of a canonical field, None when there is none."""
        return FIELD_MAP.get(object_type, {}).get(field)

    def encode(self, object_type: str, field: str, value: Any) -> Any:
        """Stored form of a canonical value (dates cut to the day, numbers as floats)."""
        native = FIELD_MAP[object_type][field]
        definition = self.data.by_table(object_type).fields[native.lower()]
        if definition.type == "date":
            return day(int(value))
        if definition.type == "datetime":
            return second(int(value))
        if definition.type == "int":
            return int(value)
        if definition.type in ("double", "currency", "percent"):
            return float(value)
        if isinstance(value, str) and definition.length:
            return value[: definition.length]  # a growing tech stack still fits its field
        return value

    def advance(self, object_type: str, field: str, table: Table, row: int) -> Any:
        """The next lead status (never to converted) or the next opportunity stage."""
        if field == "lifecycle_stage" and object_type == "lead":
            order = [s for s in LEAD_STATUSES if s != CONVERTED_STATUS]
            current = table.get(row, "Status")
            position = order.index(current) if current in order else -1
            return order[position + 1] if position + 1 < len(order) else None
        if field == "stage" and object_type == "deal":
            current = table.get(row, "StageName")
            info = STAGE_INFO.get(current or "")
            if info is not None and info[2]:
                return None  # closed opportunities stay closed
            names = [s[0] for s in STAGES]
            position = names.index(current) if current in names else -1
            return names[position + 1] if position + 1 < len(names) else None
        return None

    def after_change(
        self, object_type: str, table: Table, row: int, changed: list[str], now_ms: int
    ) -> None:
        """A user edit: audit fields, and the stage's default probability when it moved."""
        values = audit_values(table, now_ms, self._reps[row % len(self._reps)])
        if object_type == "deal" and "StageName" in changed:
            info = STAGE_INFO.get(table.get(row, "StageName") or "")
            if info is not None:
                values["Probability"] = float(info[1])
        table.update(row, values, now_ms, via_api=False)

    def after_delete(self, object_type: str, table: Table, row: int, now_ms: int) -> None:
        """A user deletion also stamps who deleted the record; field security may change."""
        table.update(
            row,
            audit_values(table, now_ms, self._reps[row % len(self._reps)]),
            now_ms,
            via_api=False,
        )
        if object_type in ("permission_set_assignment", "field_permissions", "permission_set"):
            with self.data.lock:
                self.data.refresh_grants()

    def writable(self, object_type: str, table: Table, row: int) -> bool:
        """Converted leads are read-only."""
        return not (object_type == "lead" and table.get(row, "IsConverted"))

    def user_values(
        self, object_type: str, table: Table, row: int, properties: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Parsed and checked as a REST update would be (unknown fields are refused)."""
        obj = self.data.by_table(object_type)
        try:
            fields = self.writer.parse(obj, properties)
        except SfError as exc:
            raise ValueError(str(exc)) from None
        values, problem = self.writer.check(obj, row, fields)
        if problem is not None:
            raise ValueError(f"{problem.code}: {problem.message}")
        return values

    def shown(self, object_type: str, table: Table, row: int, name: str) -> Any:
        """The REST API's JSON value of a field."""
        obj = self.data.by_table(object_type)
        definition = obj.field(name)
        return None if definition is None else self.data.json_value(obj, table, row, definition)
