"""``/crm/v3/objects/{objectType}``: list, read, create, update, archive and the batch endpoints."""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from werkzeug.wrappers import Request, Response

from connectors.sandbox.dialect import CallInfo
from connectors.sandbox.hubspot.defaults import DEFAULT_PROPERTIES, ERROR_NOUN, OBJECT_NAMES
from connectors.sandbox.hubspot.error_bodies import (
    ApiError,
    batch_response,
    invalid_properties,
    json_response,
    no_content,
    not_found_error,
)
from connectors.sandbox.hubspot.property_writes import Writer
from connectors.sandbox.hubspot.records import HubSpotData, bool_param, list_param, read_json
from connectors.sandbox.hubspot.values import Issue, iso

MAX_LIST = 100
MAX_BATCH = 100


def _limit(request: Request, default: int, maximum: int) -> int:
    raw = request.args.get("limit")
    if raw is None:
        return default
    try:
        limit = int(raw)
    except ValueError:
        raise ApiError(400, f"limit must be an integer, got {raw!r}") from None
    if limit < 1 or limit > maximum:
        raise ApiError(400, f"limit must be between 1 and {maximum}, got {limit}")
    return limit


def _object_body(request: Request) -> dict[str, Any]:
    body = read_json(request)
    if not isinstance(body, dict):
        raise ApiError(400, "Invalid input: expected an object with 'properties'")
    return body


def _not_found() -> ApiError:
    return ApiError(404, "resource not found", "OBJECT_NOT_FOUND")


class ObjectsApi:
    """Handlers for the object endpoints."""

    def __init__(self, data: HubSpotData) -> None:
        self.data = data
        self.writer = Writer(data)
        self.state = data.state

    # -- reads ----------------------------------------------------------------------------------

    def list_page(self, request: Request, obj: str, call: CallInfo) -> Response:
        """GET /crm/v3/objects/{obj}: a page in id order; ``after`` is the next page's first id."""
        object_type = self.data.object_type(obj)
        limit = _limit(request, 10, MAX_LIST)
        archived = bool_param(request, "archived")
        after_raw = request.args.get("after")
        after = 0
        if after_raw not in (None, ""):
            try:
                after = int(after_raw)
            except ValueError:
                raise ApiError(400, f"Invalid paging cursor 'after': {after_raw!r}") from None
        names = self.data.property_names(
            object_type, list_param(request, "properties"), DEFAULT_PROPERTIES[object_type]
        )
        assoc = list_param(request, "associations")
        with self.state.store.lock:
            table = self.data.table(object_type)
            flags = table.archived
            page: list[int] = []
            next_id = None
            for row in range(bisect_left(table.ids, after), len(table.ids)):
                if flags[row] != archived:
                    continue
                if len(page) == limit:
                    next_id = table.ids[row]
                    break
                page.append(row)
            results = [
                self.data.record_json(object_type, r, names, associations=assoc) for r in page
            ]
        body: dict[str, Any] = {"results": results}
        if next_id is not None:
            query = [(k, v) for k, v in request.args.items(multi=True) if k != "after"]
            query.append(("after", str(next_id)))
            link = f"{call.base_url}crm/v3/objects/{OBJECT_NAMES[object_type]}?{urlencode(query)}"
            body["paging"] = {"next": {"after": str(next_id), "link": link}}
        return json_response(200, body)

    def _row_for(
        self, object_type: str, key: str, id_property: str | None, archived: bool = False
    ) -> int | None:
        table = self.data.table(object_type)
        if id_property in (None, "", "hs_object_id"):
            return table.row(key, archived=archived)
        if id_property not in table.unique:
            raise ApiError(400, f"Unable to perform lookup by non-unique property: {id_property}")
        row = table.lookup_unique(id_property, key)
        return None if row is None or table.archived[row] != archived else row

    def get(self, request: Request, obj: str, record_id: str, call: CallInfo) -> Response:
        """GET /crm/v3/objects/{obj}/{id} (``idProperty`` for email or other unique properties)."""
        object_type = self.data.object_type(obj)
        names = self.data.property_names(
            object_type, list_param(request, "properties"), DEFAULT_PROPERTIES[object_type]
        )
        with self.state.store.lock:
            row = self._row_for(
                object_type,
                record_id,
                request.args.get("idProperty"),
                bool_param(request, "archived"),
            )
            if row is None:
                raise _not_found()
            record = self.data.record_json(
                object_type, row, names, associations=list_param(request, "associations")
            )
        return json_response(200, record)

    def batch_read(self, request: Request, obj: str, call: CallInfo) -> Response:
        """POST .../batch/read: unknown ids come back as a 207 OBJECT_NOT_FOUND error."""
        object_type = self.data.object_type(obj)
        body, _, keys = self._keyed_inputs(request)
        requested = body.get("properties")
        names = self.data.property_names(
            object_type,
            requested if isinstance(requested, list) and requested else None,
            DEFAULT_PROPERTIES[object_type],
        )
        history = body.get("propertiesWithHistory") or []
        archived = bool_param(request, "archived")
        results, missing = [], []
        with self.state.store.lock:
            table = self.data.table(object_type)
            for key in keys:
                row = self._row_for(object_type, key, body.get("idProperty"), archived)
                if row is None:
                    missing.append(key)
                    continue
                record = self.data.record_json(object_type, row, names)
                if history:
                    record["propertiesWithHistory"] = self._history(
                        table, row, history, object_type
                    )
                results.append(record)
        return self._batch_response(call, results, object_type, missing)

    def _history(self, table: Any, row: int, names: list[str], object_type: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in names:
            if self.data.schemas[object_type].live(name) is None:
                continue
            value = self.data.properties_json(table, row, [name])[name]
            source = "API" if name in table.changes.get(row, {}) else "CRM_UI"
            out[name] = (
                [{"value": value, "timestamp": iso(table.updated[row]), "sourceType": source}]
                if value is not None
                else []
            )
        return out

    # -- writes ---------------------------------------------------------------------------------

    def create(self, request: Request, obj: str, call: CallInfo) -> Response:
        """POST /crm/v3/objects/{obj}: 201 with the new record."""
        object_type = self.data.object_type(obj)
        body = _object_body(request)
        props = body.get("properties", {})
        with self.state.store.lock:
            values, issues = self.writer.validate(object_type, None, props)
            issues += self.writer.check_required(object_type, values)
            self.writer.raise_if_invalid(issues)
            targets = self.writer.validate_associations(object_type, body.get("associations"))
            self.writer.check_unique(object_type, [(None, values)])
            row = self.writer.create(object_type, values, self.state.now_ms())
            table = self.data.table(object_type)
            self.writer.link(object_type, table.ids[row], targets)
            self.state.stats.written(1)
            record = self.data.record_json(
                object_type, row, self.writer.result_names(object_type, values)
            )
        return json_response(201, record)

    def update(self, request: Request, obj: str, record_id: str, call: CallInfo) -> Response:
        """PATCH /crm/v3/objects/{obj}/{id}."""
        object_type = self.data.object_type(obj)
        body = _object_body(request)
        props = body.get("properties", {})
        with self.state.store.lock:
            row = self._row_for(object_type, record_id, request.args.get("idProperty"))
            if row is None:
                raise _not_found()
            values, issues = self.writer.validate(object_type, row, props)
            self.writer.raise_if_invalid(issues)
            table = self.data.table(object_type)
            self.writer.check_rejects(object_type, [table.ids[row]], [values])
            self.writer.check_unique(object_type, [(row, values)])
            if self.writer.apply(object_type, row, values, self.state.now_ms()):
                self.state.stats.written(1)
            record = self.data.record_json(
                object_type, row, self.writer.result_names(object_type, values)
            )
        return json_response(200, record)

    def archive(self, request: Request, obj: str, record_id: str, call: CallInfo) -> Response:
        """DELETE /crm/v3/objects/{obj}/{id}: 204 (also for ids that do not exist)."""
        object_type = self.data.object_type(obj)
        with self.state.store.lock:
            table = self.data.table(object_type)
            row = table.row(record_id)
            if row is not None:
                self.writer.check_rejects(object_type, [table.ids[row]], [{}])
                table.archive(row, self.state.now_ms())
                self.state.stats.written(1)
        return no_content()

    def batch_update(self, request: Request, obj: str, call: CallInfo) -> Response:
        """POST .../batch/update: all-or-nothing validation, 207 for unknown ids."""
        object_type = self.data.object_type(obj)
        _, inputs, keys = self._keyed_inputs(request)
        with self.state.store.lock:
            table = self.data.table(object_type)
            plan: list[tuple[int, dict[str, Any]]] = []
            missing: list[str] = []
            issues: list[Issue] = []
            for item, key in zip(inputs, keys, strict=True):
                row = self._row_for(object_type, key, item.get("idProperty"))
                values, found = self.writer.validate(object_type, row, item.get("properties", {}))
                issues += found
                if row is None:
                    missing.append(key)
                else:
                    plan.append((row, values))
            self.writer.raise_if_invalid(issues)
            self.writer.check_rejects(
                object_type, [table.ids[r] for r, _ in plan], [v for _, v in plan]
            )
            self.writer.check_unique(object_type, list(plan))
            now = self.state.now_ms()
            written = sum(self.writer.apply(object_type, row, values, now) for row, values in plan)
            self.state.stats.written(written)
            results = [
                self.data.record_json(
                    object_type, row, self.writer.result_names(object_type, values)
                )
                for row, values in plan
            ]
        return self._batch_response(call, results, object_type, missing)

    def batch_create(self, request: Request, obj: str, call: CallInfo) -> Response:
        """POST .../batch/create: 201; with unique trace ids, bad inputs fail alone (207)."""
        object_type = self.data.object_type(obj)
        body = read_json(request)
        inputs = self._inputs(body)
        traces = [item.get("objectWriteTraceId") for item in inputs]
        per_input = all(isinstance(t, str) and t for t in traces) and len(set(traces)) == len(
            traces
        )
        with self.state.store.lock:
            plan: list[tuple[dict[str, Any], Any, list[tuple[str, int]]]] = []
            errors: list[dict[str, Any]] = []
            all_issues: list[Issue] = []
            for item, trace in zip(inputs, traces, strict=True):
                values, issues = self.writer.validate(object_type, None, item.get("properties", {}))
                issues += self.writer.check_required(object_type, values)
                if issues and per_input:
                    err = self._issue_error(issues)
                    err["context"] = {"objectWriteTraceId": [trace]}
                    errors.append(err)
                    continue
                all_issues += issues
                plan.append(
                    (
                        values,
                        trace,
                        self.writer.validate_associations(object_type, item.get("associations")),
                    )
                )
            self.writer.raise_if_invalid(all_issues)
            self.writer.check_unique(object_type, [(None, values) for values, _, _ in plan])
            now = self.state.now_ms()
            table = self.data.table(object_type)
            results = []
            for values, trace, targets in plan:
                row = self.writer.create(object_type, values, now)
                self.writer.link(object_type, table.ids[row], targets)
                record = self.data.record_json(
                    object_type, row, self.writer.result_names(object_type, values)
                )
                if trace:
                    record["objectWriteTraceId"] = trace
                results.append(record)
            self.state.stats.written(len(results))
        return batch_response(call.started_ms, results, errors, ok_status=201)

    def batch_upsert(self, request: Request, obj: str, call: CallInfo) -> Response:
        """POST .../batch/upsert: update by a unique property, create when missing (``new``)."""
        object_type = self.data.object_type(obj)
        _, inputs, keys = self._keyed_inputs(request)
        with self.state.store.lock:
            table = self.data.table(object_type)
            updates: list[tuple[int, dict[str, Any]]] = []
            creates: list[dict[str, Any]] = []
            missing: list[str] = []
            issues: list[Issue] = []
            for item, key in zip(inputs, keys, strict=True):
                id_property = item.get("idProperty")
                if (
                    id_property not in (None, "", "hs_object_id")
                    and id_property not in table.unique
                ):
                    raise ApiError(
                        400, f"Unable to perform upsert by non-unique property: {id_property}"
                    )
                row = self._row_for(object_type, key, id_property)
                props = item.get("properties", {})
                values, found = self.writer.validate(object_type, row, props)
                issues += found
                if row is not None:
                    updates.append((row, values))
                elif id_property in (None, "", "hs_object_id"):
                    missing.append(key)
                else:
                    created, more = self.writer.validate(object_type, None, {id_property: key})
                    values.update(created)
                    issues += more + self.writer.check_required(object_type, values)
                    creates.append(values)
            self.writer.raise_if_invalid(issues)
            self.writer.check_rejects(
                object_type, [table.ids[r] for r, _ in updates], [v for _, v in updates]
            )
            self.writer.check_unique(object_type, [*updates, *((None, v) for v in creates)])
            now = self.state.now_ms()
            written = sum(
                self.writer.apply(object_type, row, values, now) for row, values in updates
            )
            results = []
            for row, values in updates:
                record = self.data.record_json(
                    object_type, row, self.writer.result_names(object_type, values)
                )
                results.append({**record, "new": False})
            for values in creates:
                row = self.writer.create(object_type, values, now)
                record = self.data.record_json(
                    object_type, row, self.writer.result_names(object_type, values)
                )
                results.append({**record, "new": True})
            self.state.stats.written(written + len(creates))
        return self._batch_response(call, results, object_type, missing)

    def batch_archive(self, request: Request, obj: str, call: CallInfo) -> Response:
        """POST .../batch/archive: 204."""
        object_type = self.data.object_type(obj)
        *_, keys = self._keyed_inputs(request)
        with self.state.store.lock:
            table = self.data.table(object_type)
            rows = [r for r in (table.row(k) for k in keys) if r is not None]
            self.writer.check_rejects(object_type, [table.ids[r] for r in rows], [{} for _ in rows])
            now = self.state.now_ms()
            for row in rows:
                table.archive(row, now)
            self.state.stats.written(len(rows))
        return no_content()

    # -- helpers --------------------------------------------------------------------------------

    def _keyed_inputs(
        self, request: Request
    ) -> tuple[dict[str, Any], list[dict[str, Any]], list[str]]:
        """Body, inputs and their ids for id-addressed batches (duplicate ids are a 400)."""
        body = read_json(request)
        inputs = self._inputs(body)
        keys = [self._input_id(item) for item in inputs]
        self._no_duplicates(keys)
        return body, inputs, keys

    @staticmethod
    def _inputs(body: Any) -> list[dict[str, Any]]:
        if not isinstance(body, dict) or not isinstance(body.get("inputs"), list):
            raise ApiError(400, "Invalid input JSON: expected an object with an 'inputs' array")
        inputs = body["inputs"]
        if not inputs:
            raise ApiError(400, "Invalid input: 'inputs' must contain at least one item")
        if len(inputs) > MAX_BATCH:
            raise ApiError(
                400,
                f"Batch input too large: {len(inputs)} inputs were sent, the maximum "
                f"is {MAX_BATCH}",
                context={"inputs": [str(len(inputs))]},
            )
        if not all(isinstance(item, dict) for item in inputs):
            raise ApiError(400, "Invalid input: every item of 'inputs' must be an object")
        return inputs

    @staticmethod
    def _input_id(item: Mapping[str, Any]) -> str:
        raw = item.get("id")
        if raw is None or raw == "":
            raise ApiError(400, "Invalid input: every input needs an 'id'")
        return str(raw)

    @staticmethod
    def _no_duplicates(keys: list[str]) -> None:
        dupes = [k for k, n in Counter(keys).items() if n > 1]
        if dupes:
            raise ApiError(
                400,
                f"Duplicate IDs found in batch input: [{', '.join(dupes)}]. IDs must be unique",
                context={"ids": dupes},
            )

    @staticmethod
    def _issue_error(issues: list[Issue]) -> dict[str, Any]:
        err = invalid_properties(issues)
        return {
            "status": "error",
            "category": err.category,
            "message": err.message,
            "errors": list(err.errors or []),
            "context": {},
            "links": {},
        }

    def _batch_response(
        self, call: CallInfo, results: list[dict[str, Any]], object_type: str, missing: list[str]
    ) -> Response:
        errors = [not_found_error(ERROR_NOUN[object_type], missing)] if missing else None
        return batch_response(call.started_ms, results, errors)
