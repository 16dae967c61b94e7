"""sObject Collections: ``/composite/sobjects`` create, update, retrieve and delete.

Up to 200 records per call; the answer is a result array aligned with the input order and
HTTP 200 even when records failed. With ``allOrNone`` true nothing is saved when any record
fails: the failing records carry their errors and every other one
``ALL_OR_NONE_OPERATION_ROLLED_BACK``. Problems that stop the platform from reading the
request at all (unknown field, value of the wrong JSON type, missing ``attributes.type``)
fail the whole call with 400, as they do in Salesforce.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from werkzeug.wrappers import Request, Response

from connectors.sandbox.salesforce.error_bodies import (
    ROLLED_BACK,
    RecordError,
    SfError,
    json_response,
)
from connectors.sandbox.salesforce.ids import to15
from connectors.sandbox.salesforce.object_schema import FieldDef, ObjectDef
from connectors.sandbox.salesforce.objects import ALREADY_A_MEMBER
from connectors.sandbox.salesforce.record_writes import Writer, member_key
from connectors.sandbox.salesforce.records import SalesforceData
from connectors.sandbox.salesforce.rest import RestApi, read_json

MAX_RECORDS = 200
MAX_RETRIEVE = 2000
LIMIT_MESSAGE = "record limit reached. cannot submit more than 200 records into this call"
Planned = tuple[ObjectDef, int | None, dict[str, Any]]  # object, row (None: create), values


def _bool(raw: Any, name: str) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    raise SfError(
        400,
        "JSON_PARSER_ERROR",
        f"Cannot deserialize instance of boolean from VALUE_STRING value {raw} or request may be "
        f"missing a required field at [line:1, column:1] ({name})",
    )


class CollectionsApi:
    """The ``composite/sobjects`` resource."""

    def __init__(self, data: SalesforceData, writer: Writer, rest: RestApi) -> None:
        self.data = data
        self.writer = writer
        self.rest = rest

    def _records(self, request: Request) -> tuple[bool, list[Mapping[str, Any]], str]:
        body, text = read_json(request)
        if not isinstance(body, dict) or not isinstance(body.get("records"), list):
            raise SfError(
                400, "JSON_PARSER_ERROR", "Cannot deserialize: expected an object with 'records'"
            )
        records = body["records"]
        if len(records) > MAX_RECORDS:
            raise SfError(400, "EXCEEDED_ID_LIMIT", LIMIT_MESSAGE)
        if not records:
            raise SfError(400, "INVALID_FIELD", "At least one record is required")
        for record in records:
            if not isinstance(record, dict):
                raise SfError(
                    400,
                    "JSON_PARSER_ERROR",
                    "Cannot deserialize instance of sobject from VALUE_STRING value [line:1, "
                    "column:1]",
                )
        return _bool(body.get("allOrNone", False), "allOrNone"), records, text

    def _object_of(self, record: Mapping[str, Any]) -> ObjectDef:
        attributes = record.get("attributes")
        kind = attributes.get("type") if isinstance(attributes, dict) else None
        if not kind:
            raise SfError(
                400, "JSON_PARSER_ERROR", "Can not deserialize SObject, no attributes.type found"
            )
        obj = self.data.obj(str(kind))
        if obj is None:
            raise SfError(
                400,
                "INVALID_TYPE",
                f"sObject type '{kind}' is not supported. If you are attempting to use a custom "
                "object, be sure to append the '__c' after the entity name. Please reference "
                "your WSDL or the describe call for the appropriate names.",
            )
        return obj

    def save(self, request: Request, *, creating: bool) -> Response:
        """``POST`` (create) or ``PATCH`` (update) ``composite/sobjects``."""
        all_or_none, records, text = self._records(request)
        with self.data.state.store.lock:
            # Deserialize everything first: a malformed record fails the whole request.
            parsed = []
            for record in records:
                obj = self._object_of(record)
                body = {k: v for k, v in record.items() if k.lower() != "id"}
                raw_id = next((v for k, v in record.items() if k.lower() == "id"), None)
                parsed.append((obj, raw_id, self.writer.parse(obj, body, text)))
            plans: list[Planned | RecordError] = []
            seen: set[int] = set()
            members: set[tuple[str, str]] = set()  # one person once per campaign, batch too
            for obj, raw_id, fields in parsed:
                plan = self._plan(obj, raw_id, fields, creating, seen)
                if not isinstance(plan, RecordError) and obj.name == "CampaignMember":
                    key = member_key(plan[2])
                    if key in members:
                        plan = RecordError("DUPLICATE_VALUE", ALREADY_A_MEMBER)
                    members.add(key)
                plans.append(plan)
            failed = any(isinstance(p, RecordError) for p in plans)
            if all_or_none and failed:
                return json_response(200, [_rolled_back(p) for p in plans])
            now = self.data.now_ms()
            results = []
            for plan in plans:
                if isinstance(plan, RecordError):
                    results.append({"success": False, "errors": [plan.result()]})
                    continue
                obj, row, values = plan
                if row is None:
                    row = self.writer.insert(obj, values, now)
                else:
                    self.writer.update(obj, row, values, now)
                record_id = self.data.record_id(obj, self.data.table(obj).ids[row])
                results.append({"id": record_id, "success": True, "errors": []})
        return json_response(200, results)

    def _plan(
        self,
        obj: ObjectDef,
        raw_id: Any,
        fields: dict[str, tuple[FieldDef, Any]],
        creating: bool,
        seen: set[int],
    ) -> Planned | RecordError:
        if creating:
            if raw_id is not None:
                return RecordError("INVALID_FIELD", "cannot specify Id in an insert call", ("Id",))
            values, error = self.writer.check(obj, None, fields)
            return error if error is not None else (obj, None, values)
        if raw_id in (None, ""):
            return RecordError("MISSING_ARGUMENT", "Id not specified in an update call", ("Id",))
        text = str(raw_id)
        number = self.data.number(obj, text)
        if number is None:
            return RecordError(
                "MALFORMED_ID", f"{obj.name} ID: id value of incorrect type: {text}", ("Id",)
            )
        if number in seen:
            return RecordError("DUPLICATE_VALUE", f"Duplicate id in list: {text}", ("Id",))
        seen.add(number)
        table = self.data.table(obj)
        row = table.row_of.get(number)
        if row is None:
            return RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", ("Id",))
        if table.archived[row]:
            return RecordError("ENTITY_IS_DELETED", "entity is deleted", ("Id",))
        values, error = self.writer.check(obj, row, fields)
        return error if error is not None else (obj, row, values)

    def retrieve(self, request: Request, version: str, sobject: str) -> Response:
        """``GET composite/sobjects/{Type}?ids=…&fields=…``: records (null when not found)."""
        obj = self.rest.object(sobject)
        ids = [i.strip() for i in request.args.get("ids", "").split(",") if i.strip()]
        names = request.args.get("fields")
        if not ids or names is None:
            raise SfError(400, "MISSING_ARGUMENT", "ids and fields are required")
        if len(ids) > MAX_RETRIEVE:
            raise SfError(
                400,
                "EXCEEDED_ID_LIMIT",
                "record limit reached. cannot submit more "
                f"than {MAX_RETRIEVE} records into this call",
            )
        with self.data.state.store.lock:
            fields = self.rest.fields_for(obj, names)
            out: list[dict[str, Any] | None] = []
            for text in ids:
                if self.data.number(obj, text) is None:
                    raise SfError(
                        400, "MALFORMED_ID", f"{obj.name} ID: id value of incorrect type: {text}"
                    )
                row = self.data.live_row(obj, text)
                out.append(
                    None if row is None else self.data.record_json(obj, row, fields, version)
                )
        return json_response(200, out)

    def delete(self, request: Request) -> Response:
        """``DELETE composite/sobjects?ids=…&allOrNone=…``."""
        ids = [i.strip() for i in request.args.get("ids", "").split(",") if i.strip()]
        if not ids:
            raise SfError(400, "MISSING_ARGUMENT", "ids is required")
        if len(ids) > MAX_RECORDS:
            raise SfError(400, "EXCEEDED_ID_LIMIT", LIMIT_MESSAGE)
        all_or_none = _bool(request.args.get("allOrNone", "false"), "allOrNone")
        with self.data.state.store.lock:
            plans: list[tuple[ObjectDef, int] | RecordError] = []
            for text in ids:
                located = self.data.locate(text)
                if located is None:
                    plans.append(
                        RecordError("MALFORMED_ID", f"invalid record id: {text}", ("Id",))
                        if to15(text) is None
                        else RecordError(
                            "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id"
                        )
                    )
                    continue
                obj, row = located
                if self.data.table(obj).archived[row]:
                    plans.append(RecordError("ENTITY_IS_DELETED", "entity is deleted"))
                elif not obj.deletable or (
                    obj.name in ("PermissionSet", "PermissionSetAssignment", "FieldPermissions")
                    and not self.data.state.config.customize_application
                ):
                    plans.append(
                        RecordError(
                            "INSUFFICIENT_ACCESS_OR_READONLY",
                            "insufficient access rights on object id",
                        )
                    )
                else:
                    plans.append((obj, row))
            if all_or_none and any(isinstance(p, RecordError) for p in plans):
                return json_response(200, [_rolled_back(p) for p in plans])
            now = self.data.now_ms()
            results = []
            for text, plan in zip(ids, plans, strict=True):
                if isinstance(plan, RecordError):
                    results.append({"id": text, "success": False, "errors": [plan.result()]})
                    continue
                obj, row = plan
                self.writer.delete(obj, row, now)
                results.append(
                    {
                        "id": self.data.record_id(obj, self.data.table(obj).ids[row]),
                        "success": True,
                        "errors": [],
                    }
                )
        return json_response(200, results)


def _rolled_back(plan: Any) -> dict[str, Any]:
    if isinstance(plan, RecordError):
        return {"success": False, "errors": [plan.result()]}
    return {
        "success": False,
        "errors": [RecordError("ALL_OR_NONE_OPERATION_ROLLED_BACK", ROLLED_BACK).result()],
    }
