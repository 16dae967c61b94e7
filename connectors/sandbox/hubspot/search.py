"""``POST /crm/v3/objects/{objectType}/search`` with HubSpot's limits and paging rules."""

from __future__ import annotations

import time
from typing import Any

from werkzeug.wrappers import Request, Response

from connectors.sandbox.hubspot.defaults import (
    ASSOCIATION_TYPES,
    DEFAULT_PROPERTIES,
    PATH_OBJECTS,
    QUERY_PROPERTIES,
)
from connectors.sandbox.hubspot.error_bodies import ApiError, json_response
from connectors.sandbox.hubspot.records import HubSpotData, read_json
from connectors.sandbox.search import Condition, FilterError, Query, Sort

MAX_GROUPS = 5
MAX_FILTERS_PER_GROUP = 6
MAX_FILTERS = 18
MAX_LIMIT = 200
MAX_RESULTS = 10_000
MAX_QUERY_CHARS = 3000


class SearchApi:
    """The search endpoint."""

    def __init__(self, data: HubSpotData) -> None:
        self.data = data
        self.state = data.state

    def search(self, request: Request, obj: str) -> Response:
        """Filter, sort and page; ``after`` is an integer offset, capped at 10,000 results."""
        object_type = self.data.object_type(obj)
        body = read_json(request)
        if not isinstance(body, dict):
            raise ApiError(400, "Invalid input JSON: expected a search request object")
        limit = self._int(body.get("limit", 10), "limit")
        if limit < 1 or limit > MAX_LIMIT:
            raise ApiError(400, f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
        offset = self._int(body.get("after") or 0, "after")
        if offset < 0:
            raise ApiError(400, f"Invalid paging cursor 'after': {body.get('after')!r}")
        if offset >= MAX_RESULTS:
            raise ApiError(
                400,
                f"Search results are limited to {MAX_RESULTS} per query; the requested "
                f"offset {offset} is past that limit. Narrow the query instead.",
            )
        requested = body.get("properties")
        if requested is not None and not isinstance(requested, list):
            raise ApiError(400, "properties must be an array of property names")
        names = self.data.property_names(
            object_type, requested or None, DEFAULT_PROPERTIES[object_type]
        )
        with self.state.store.lock:
            table = self.data.table(object_type)
            query = self._query(body, table, object_type)
            size = min(offset + limit, MAX_RESULTS) - offset
            total, page = self.state.search.page(table, query, time.monotonic(), offset, size)
            end = offset + len(page)
            results = [self.data.record_json(object_type, r, names) for r in page]
        out: dict[str, Any] = {"total": total, "results": results}
        if end < total:
            # May point at 10000: asking for it is then refused, as HubSpot does.
            out["paging"] = {"next": {"after": str(end)}}
        return json_response(200, out)

    @staticmethod
    def _int(raw: Any, name: str) -> int:
        if isinstance(raw, bool):
            raise ApiError(400, f"{name} must be an integer")
        try:
            return int(raw)
        except (TypeError, ValueError):
            raise ApiError(400, f"{name} must be an integer, got {raw!r}") from None

    def _query(self, body: dict[str, Any], table: Any, object_type: str) -> Query:
        groups_raw = body.get("filterGroups") or []
        if not isinstance(groups_raw, list):
            raise ApiError(400, "filterGroups must be an array")
        if len(groups_raw) > MAX_GROUPS:
            raise ApiError(
                400, f"Too many filter groups: {len(groups_raw)}; the maximum is {MAX_GROUPS}"
            )
        groups = []
        total = 0
        try:
            for group in groups_raw:
                filters = group.get("filters") if isinstance(group, dict) else None
                if not isinstance(filters, list):
                    raise ApiError(400, "each filter group needs a 'filters' array")
                if len(filters) > MAX_FILTERS_PER_GROUP:
                    raise ApiError(
                        400,
                        f"Too many filters in a group: {len(filters)}; the maximum is "
                        f"{MAX_FILTERS_PER_GROUP}",
                    )
                total += len(filters)
                if total > MAX_FILTERS:
                    raise ApiError(
                        400, f"Too many filters: the maximum is {MAX_FILTERS} across all groups"
                    )
                conds = []
                for f in filters:
                    if not isinstance(f, dict):
                        raise ApiError(400, "each filter must be an object")
                    conds.append(self._condition(f, table, object_type))
                if conds:
                    groups.append(tuple(conds))
            sort = self._sort(body.get("sorts"), table)
        except FilterError as exc:
            raise ApiError(400, f"Invalid search request: {exc}") from None
        text = body.get("query")
        if text is not None:
            if not isinstance(text, str):
                raise ApiError(400, "query must be a string")
            if len(text) > MAX_QUERY_CHARS:
                raise ApiError(400, f"query is longer than {MAX_QUERY_CHARS} characters")
        return Query(tuple(groups), sort, text or None, QUERY_PROPERTIES[object_type])

    def _condition(self, f: dict[str, Any], table: Any, object_type: str) -> Condition:
        prop, op = str(f.get("propertyName")), str(f.get("operator"))
        if not prop.startswith("associations."):
            return Condition.build(
                table, prop, op, f.get("value"), f.get("highValue"), f.get("values")
            )
        # The pseudo-property ``associations.{objectType}`` with EQ: records linked to one record.
        other = PATH_OBJECTS.get(prop.partition(".")[2].lower())
        if other is None or op != "EQ" or (other, object_type) not in ASSOCIATION_TYPES:
            raise FilterError(f"unsupported association filter {prop} {op}")
        other_table = self.data.table(other)
        row = other_table.row(str(f.get("value")))
        linked = (
            [] if row is None else self.data.live_links(other, other_table.ids[row], object_type)
        )
        if not linked:
            return Condition.build(table, "hs_object_id", "EQ", "-1")
        return Condition.build(table, "hs_object_id", "IN", values=[str(i) for i in linked])

    @staticmethod
    def _sort(raw: Any, table: Any) -> Sort | None:
        if not raw:
            return None
        if not isinstance(raw, list):
            raise FilterError("sorts must be an array")
        first = raw[0]  # HubSpot honours only the first sort
        if isinstance(first, str):
            prop, descending = first.lstrip("-"), first.startswith("-")
        elif isinstance(first, dict):
            prop = str(first.get("propertyName"))
            direction = str(first.get("direction", "ASCENDING")).upper()
            if direction not in ("ASCENDING", "DESCENDING"):
                raise FilterError(
                    f"sort direction must be ASCENDING or DESCENDING, not {direction!r}"
                )
            descending = direction == "DESCENDING"
        else:
            raise FilterError("each sort must be an object or a property name")
        if table.kind_of(prop) is None:
            raise FilterError(f"cannot sort by unknown property {prop!r}")
        return Sort(prop, descending)
