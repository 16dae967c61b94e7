"""Associations: the v3 batch read and the v4 reads."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from werkzeug.wrappers import Request, Response

from connectors.sandbox.dialect import CallInfo
from connectors.sandbox.hubspot.defaults import ASSOCIATION_TYPES, ERROR_NOUN
from connectors.sandbox.hubspot.error_bodies import ApiError, batch_response, json_response
from connectors.sandbox.hubspot.records import HubSpotData, read_json

MAX_V4_READ = 1000


class AssociationsApi:
    """Association reads."""

    def __init__(self, data: HubSpotData) -> None:
        self.data = data
        self.state = data.state

    def _pair(self, from_obj: str, to_obj: str) -> tuple[str, str]:
        pair = (self.data.object_type(from_obj), self.data.object_type(to_obj))
        if pair not in ASSOCIATION_TYPES:
            raise ApiError(400, f"Association between {from_obj} and {to_obj} is not supported")
        return pair

    def _inputs(self, request: Request, maximum: int) -> list[str]:
        body = read_json(request)
        inputs = body.get("inputs") if isinstance(body, dict) else None
        if not isinstance(inputs, list) or not inputs:
            raise ApiError(
                400, "Invalid input JSON: expected an object with a non-empty 'inputs' array"
            )
        if len(inputs) > maximum:
            raise ApiError(
                400,
                f"Batch input too large: {len(inputs)} inputs were sent, the maximum is {maximum}",
            )
        ids = []
        for item in inputs:
            if not isinstance(item, dict) or item.get("id") in (None, ""):
                raise ApiError(400, "Invalid input: every input needs an 'id'")
            ids.append(str(item["id"]))
        return ids

    def _no_links(self, from_type: str, to_type: str, record_id: str) -> dict[str, Any]:
        return {
            "status": "error",
            "category": "OBJECT_NOT_FOUND",
            "message": f"No {to_type} is associated with {from_type} {record_id}.",
            "context": {
                "fromObjectId": [record_id],
                "fromObjectType": [from_type],
                "toObjectType": [to_type],
            },
            "errors": [],
            "links": {},
        }

    def batch_read_v4(
        self, request: Request, from_obj: str, to_obj: str, call: CallInfo
    ) -> Response:
        """POST /crm/v4/associations/{from}/{to}/batch/read.

        Records without links are reported as 207 errors (NO_ASSOCIATIONS_FOUND).
        """
        return self._batch_read(request, from_obj, to_obj, call, self.data.v4_targets)

    def batch_read_v3(
        self, request: Request, from_obj: str, to_obj: str, call: CallInfo
    ) -> Response:
        """POST /crm/v3/associations/{from}/{to}/batch/read (the older shape)."""

        def targets(from_type: str, from_id: int, to_type: str) -> list[dict[str, Any]]:
            kind = f"{from_type}_to_{to_type}"
            return [
                {"id": str(i), "type": kind}
                for i in self.data.live_links(from_type, from_id, to_type)
            ]

        return self._batch_read(request, from_obj, to_obj, call, targets)

    def _batch_read(
        self,
        request: Request,
        from_obj: str,
        to_obj: str,
        call: CallInfo,
        render: Callable[[str, int, str], list[dict[str, Any]]],
    ) -> Response:
        from_type, to_type = self._pair(from_obj, to_obj)
        ids = self._inputs(request, MAX_V4_READ)
        results, errors = [], []
        with self.state.store.lock:
            table = self.data.table(from_type)
            for record_id in dict.fromkeys(ids):
                row = table.row(record_id)
                to = render(from_type, table.ids[row], to_type) if row is not None else []
                if to:
                    results.append({"from": {"id": record_id}, "to": to})
                else:
                    errors.append(self._no_links(from_type, to_type, record_id))
        return batch_response(call.started_ms, results, errors)

    def list_v4(self, request: Request, from_obj: str, record_id: str, to_obj: str) -> Response:
        """GET /crm/v4/objects/{from}/{id}/associations/{to}, paged by ``after`` (limit ≤ 500)."""
        from_type, to_type = self._pair(from_obj, to_obj)
        try:
            limit = int(request.args.get("limit", 500))
            offset = int(request.args.get("after") or 0)
        except ValueError:
            raise ApiError(400, "limit and after must be integers") from None
        if not 1 <= limit <= 500:
            raise ApiError(400, f"limit must be between 1 and 500, got {limit}")
        with self.state.store.lock:
            row = self.data.table(from_type).row(record_id)
            if row is None:
                raise ApiError(
                    404,
                    f"Could not get some {ERROR_NOUN[from_type]} objects, they may be deleted "
                    "or not exist.",
                    "OBJECT_NOT_FOUND",
                )
            targets = self.data.v4_targets(from_type, self.data.table(from_type).ids[row], to_type)
        page = targets[offset : offset + limit]
        body: dict[str, Any] = {"results": page}
        if offset + limit < len(targets):
            body["paging"] = {"next": {"after": str(offset + limit)}}
        return json_response(200, body)
