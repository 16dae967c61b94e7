"""REST resources: versions, resource list, limits, describe, and single-record sObject rows."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import orjson
from werkzeug.wrappers import Request, Response

from connectors.sandbox.salesforce.describe import describe, global_describe, object_summary
from connectors.sandbox.salesforce.error_bodies import SfError, json_response, no_content, not_found
from connectors.sandbox.salesforce.ids import to15
from connectors.sandbox.salesforce.object_schema import FieldDef, ObjectDef
from connectors.sandbox.salesforce.record_writes import Writer, no_such_column
from connectors.sandbox.salesforce.records import SalesforceData
from connectors.sandbox.salesforce.values import iso, parse_datetime

MIN_VERSION, MAX_VERSION = 31, 64
_VERSION = re.compile(r"^v(\d{2})\.0$")
SEASONS = ("Winter", "Spring", "Summer")
REPLICATION_WINDOW_MS = 30 * 86_400_000  # getUpdated/getDeleted look back 30 days
MAX_REPLICATION_IDS = 600_000
RESOURCES = (
    "tooling",
    "metadata",
    "folders",
    "tabs",
    "appMenu",
    "quickActions",
    "queryAll",
    "analytics",
    "search",
    "identity",
    "composite",
    "parameterizedSearch",
    "theme",
    "nouns",
    "event",
    "recent",
    "connect",
    "licensing",
    "limits",
    "process",
    "async-queries",
    "query",
    "jobs",
    "match",
    "localizedvalue",
    "mobile",
    "consent",
    "compactLayouts",
    "sobjects",
    "actions",
    "support",
)


def check_version(raw: str) -> str:
    """``v59.0`` when it names an API version the org serves, else 404 NOT_FOUND."""
    m = _VERSION.match(raw)
    if m is None or not MIN_VERSION <= int(m.group(1)) <= MAX_VERSION:
        raise not_found()
    return raw


def release_label(version: int) -> str:
    """``59`` -> ``Winter '24`` (three releases a year; Winter '24 shipped as API 59.0)."""
    k = version - 59
    return f"{SEASONS[k % 3]} '{24 + math.floor(k / 3):02d}"


def read_json(request: Request) -> tuple[Any, str]:
    """The body as JSON and as text, or 400 JSON_PARSER_ERROR."""
    data = request.get_data(cache=True)
    text = data.decode("utf-8", "replace")
    try:
        return orjson.loads(data), text
    except orjson.JSONDecodeError as exc:
        raise SfError(
            400,
            "JSON_PARSER_ERROR",
            f"Unexpected character ('{text[exc.pos : exc.pos + 1] or 'EOF'}' (code "
            f"{ord(text[exc.pos]) if exc.pos < len(text) else -1})): was expecting a JSON value "
            f"at [line:{exc.lineno}, column:{exc.colno}]",
        ) from None


def sobject_body(request: Request) -> tuple[dict[str, Any], str]:
    """One record's JSON object (create, update); anything else is Salesforce's parse error."""
    body, text = read_json(request)
    if not isinstance(body, dict):
        raise SfError(
            400,
            "JSON_PARSER_ERROR",
            "Cannot deserialize instance of sobject from START_ARRAY value [line:1, column:1]",
        )
    return body, text


class RestApi:
    """Everything under ``/services/data`` except query, collections and Bulk API 2.0."""

    def __init__(
        self, data: SalesforceData, writer: Writer, bulk_batches: Callable[[], int]
    ) -> None:
        self.data = data
        self.writer = writer
        self.bulk_batches = bulk_batches  # Bulk API batches used in the last 24 h

    # -- discovery -------------------------------------------------------------------------------

    def versions(self) -> Response:
        """``GET /services/data/``: every served version (no authentication needed)."""
        return json_response(
            200,
            [
                {"label": release_label(v), "url": f"/services/data/v{v}.0", "version": f"{v}.0"}
                for v in range(MIN_VERSION, MAX_VERSION + 1)
            ],
        )

    def resources(self, version: str, base_url: str) -> Response:
        """``GET /services/data/vXX.X/``."""
        body = {name: f"/services/data/{version}/{name}" for name in RESOURCES}
        body["identity"] = f"{base_url.rstrip('/')}/id/{self.data.org_id}/{self.data.user_id}"
        return json_response(200, body)

    def limits(self) -> Response:
        """``GET limits/``: the org's allocations and what is left of them."""
        state = self.data.state
        used = state.limiter.daily_used()
        daily = state.config.daily_limit
        records = sum(len(t) for t in state.store.tables.values())
        storage_max = 1024 + 20 * 20  # MB: edition allowance plus 20 MB per licence
        batches = int(self.bulk_batches())

        def pair(maximum: int, remaining: int) -> dict[str, int]:
            return {"Max": maximum, "Remaining": max(0, remaining)}

        return json_response(
            200,
            {
                "ConcurrentAsyncGetReportInstances": pair(200, 200),
                "ConcurrentSyncReportRuns": pair(20, 20),
                "DailyApiRequests": pair(daily, daily - used),
                "DailyAsyncApexExecutions": pair(250_000, 250_000),
                "DailyBulkApiBatches": pair(15_000, 15_000 - batches),
                "DailyBulkV2QueryFileStorageMB": pair(976_562, 976_562),
                "DailyBulkV2QueryJobs": pair(10_000, 10_000),
                "DailyGenericStreamingApiEvents": pair(10_000, 10_000),
                "DailyStreamingApiEvents": pair(1_000_000, 1_000_000),
                "DataStorageMB": pair(storage_max, storage_max - math.ceil(records * 2 / 1024)),
                "FileStorageMB": pair(10_240, 10_240),
                "HourlyTimeBasedWorkflow": pair(1_000, 1_000),
                "MassEmail": pair(5_000, 5_000),
                "SingleEmail": pair(5_000, 5_000),
                "StreamingApiConcurrentClients": pair(2_000, 2_000),
            },
        )

    def sobjects(self, version: str) -> Response:
        """``GET sobjects/``."""
        return json_response(200, global_describe(self.data, version))

    def describe(self, version: str, sobject: str) -> Response:
        """``GET sobjects/{Type}/describe``."""
        obj = self.object(sobject)
        with self.data.lock:
            return json_response(200, describe(obj, self.data, version))

    def sobject_info(self, version: str, sobject: str) -> Response:
        """``GET sobjects/{Type}``: basic information and recently viewed records (none)."""
        obj = self.object(sobject)
        return json_response(
            200, {"objectDescribe": object_summary(obj, version), "recentItems": []}
        )

    def replicated(self, request: Request, sobject: str, *, deleted: bool) -> Response:
        """``GET sobjects/{Type}/updated/`` or ``…/deleted/?start=&end=`` (SystemModstamp window).

        Both look back at most 30 days; the window ends at the last whole minute before
        ``end`` (and before now); at most 600,000 ids.
        """
        obj = self.object(sobject)
        start = parse_datetime(request.args.get("start", ""))
        end = parse_datetime(request.args.get("end", ""))
        now = self.data.now_ms()
        if start is None or end is None:
            raise SfError(
                400, "INVALID_REPLICATION_DATE", "start and end must be valid dateTime values"
            )
        if start < now - REPLICATION_WINDOW_MS:
            raise SfError(
                400, "INVALID_REPLICATION_DATE", "startDate cannot be more than 30 days ago"
            )
        if end <= start:
            raise SfError(400, "INVALID_REPLICATION_DATE", "EndDate before startDate")
        covered = min(end, now) // 60_000 * 60_000
        with self.data.state.store.lock:
            table = self.data.table(obj)
            rows = [
                r
                for r in range(len(table))
                if table.archived[r] == deleted and start <= table.updated[r] < covered
            ]
            if len(rows) > MAX_REPLICATION_IDS:
                raise SfError(
                    400,
                    "EXCEEDED_ID_LIMIT",
                    f"too many ids: more than {MAX_REPLICATION_IDS} records in the window",
                )
            if not deleted:
                ids = [self.data.record_id(obj, table.ids[r]) for r in rows]
                return json_response(200, {"ids": ids, "latestDateCovered": iso(covered)})
            records = [
                {
                    "id": self.data.record_id(obj, table.ids[r]),
                    "deletedDate": iso(table.updated[r]),
                }
                for r in rows
            ]
        earliest = (now - REPLICATION_WINDOW_MS) // 60_000 * 60_000
        return json_response(
            200,
            {
                "deletedRecords": records,
                "earliestDateAvailable": iso(earliest),
                "latestDateCovered": iso(covered),
            },
        )

    # -- rows ----------------------------------------------------------------------------------

    def object(self, name: str) -> ObjectDef:
        """The object a path names, or 404 NOT_FOUND."""
        obj = self.data.obj(name)
        if obj is None:
            raise not_found()
        return obj

    def get(self, request: Request, version: str, sobject: str, record_id: str) -> Response:
        """``GET sobjects/{Type}/{Id}[?fields=a,b]``."""
        obj = self.object(sobject)
        if to15(record_id) is None:
            raise SfError(
                404,
                "NOT_FOUND",
                f"Provided external ID field does not exist or is not accessible: {record_id}",
            )
        with self.data.state.store.lock:
            row = self.data.live_row(obj, record_id)
            if row is None:
                raise not_found()
            fields = self.fields_for(obj, request.args.get("fields"))
            return json_response(200, self.data.record_json(obj, row, fields, version))

    def fields_for(self, obj: ObjectDef, raw: str | None) -> list[FieldDef]:
        """The visible fields a ``fields=a,b`` parameter names (all of them when absent)."""
        if raw is None:
            return self.data.fields(obj)
        out = []
        for name in (n.strip() for n in raw.split(",") if n.strip()):
            definition = self.data.field(obj, name)
            if definition is None:
                raise no_such_column(obj, name)
            out.append(definition)
        return out

    def create(self, request: Request, sobject: str) -> Response:
        """``POST sobjects/{Type}/``: 201 ``{id, success, errors}``."""
        obj = self.object(sobject)
        body, text = sobject_body(request)
        with self.data.state.store.lock:
            fields = self.writer.parse(obj, body, text)
            if "Id" in fields:
                raise SfError(400, "INVALID_FIELD", "Cannot specify Id in an insert call", ("Id",))
            values, error = self.writer.check(obj, None, fields)
            if error is not None:
                raise SfError.of(400, error)
            row = self.writer.insert(obj, values, self.data.now_ms())
            new_id = self.data.record_id(obj, self.data.table(obj).ids[row])
        return json_response(201, {"id": new_id, "success": True, "errors": []})

    def update(self, request: Request, sobject: str, record_id: str) -> Response:
        """``PATCH sobjects/{Type}/{Id}``: 204."""
        obj = self.object(sobject)
        body, text = sobject_body(request)
        with self.data.state.store.lock:
            row = self._existing(obj, record_id)
            fields = self.writer.parse(obj, body, text)
            values, error = self.writer.check(obj, row, fields)
            if error is not None:
                raise SfError.of(400, error)
            self.writer.update(obj, row, values, self.data.now_ms())
        return no_content()

    def delete(self, sobject: str, record_id: str) -> Response:
        """``DELETE sobjects/{Type}/{Id}``: 204 (a soft delete: ``queryAll`` still sees it)."""
        obj = self.object(sobject)
        if not obj.deletable:
            raise SfError(
                400, "INSUFFICIENT_ACCESS_OR_READONLY", "insufficient access rights on object id"
            )
        with self.data.state.store.lock:
            row = self._existing(obj, record_id)
            if obj.name in ("PermissionSet", "PermissionSetAssignment", "FieldPermissions") and (
                not self.data.state.config.customize_application
            ):
                raise SfError(
                    400,
                    "INSUFFICIENT_ACCESS_OR_READONLY",
                    "insufficient access rights on object id",
                )
            self.writer.delete(obj, row, self.data.now_ms())
        return no_content()

    def _existing(self, obj: ObjectDef, record_id: str) -> int:
        """The row of a live record, 404 ENTITY_IS_DELETED or NOT_FOUND otherwise (lock held)."""
        number = self.data.number(obj, record_id)
        if number is None:
            raise SfError(
                404,
                "NOT_FOUND",
                f"Provided external ID field does not exist or is not accessible: {record_id}",
            )
        table = self.data.table(obj)
        row = table.row_of.get(number)
        if row is None:
            raise not_found()
        if table.archived[row]:
            raise SfError(404, "ENTITY_IS_DELETED", "entity is deleted")
        return row
