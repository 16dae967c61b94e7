"""Associations (v3 batch read, v4), deal pipelines and the OAuth token endpoints."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from werkzeug.wrappers import Request, Response

from connectors.sandbox.auth import OAuthFailure
from connectors.sandbox.dialect import CallInfo
from connectors.sandbox.hubspot_defaults import (
    ASSOCIATION_TYPES,
    ERROR_NOUN,
    PIPELINES,
    PORTAL_ID,
    SCHEMA_CREATED_MS,
)
from connectors.sandbox.hubspot_errors import ApiError, batch_response, json_response, no_content
from connectors.sandbox.hubspot_records import HubSpotData, read_json
from connectors.sandbox.hubspot_values import iso

MAX_V4_READ = 1000
SCOPES = [
    "oauth",
    "crm.objects.contacts.read",
    "crm.objects.contacts.write",
    "crm.objects.companies.read",
    "crm.objects.companies.write",
    "crm.objects.deals.read",
    "crm.objects.deals.write",
    "crm.schemas.contacts.read",
    "crm.schemas.contacts.write",
    "crm.schemas.companies.read",
    "crm.schemas.companies.write",
    "crm.schemas.deals.read",
    "crm.schemas.deals.write",
]


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


def pipelines(
    request: Request, obj: str, data: HubSpotData, pipeline_id: str | None = None
) -> Response:
    """GET /crm/v3/pipelines/deals[/{pipelineId}]: stage order, probability and closed flags."""
    object_type = data.object_type(obj)
    if object_type != "deal":
        return (
            json_response(200, {"results": []})
            if pipeline_id is None
            else _no_pipeline(pipeline_id)
        )
    created = iso(SCHEMA_CREATED_MS)
    out = []
    for order, (pid, (label, stages)) in enumerate(PIPELINES.items()):
        out.append(
            {
                "id": pid,
                "label": label,
                "displayOrder": order,
                "archived": False,
                "createdAt": created,
                "updatedAt": created,
                "stages": [
                    {
                        "id": sid,
                        "label": slabel,
                        "displayOrder": i,
                        "archived": False,
                        "createdAt": created,
                        "updatedAt": created,
                        "writePermissions": "CRM_PERMISSIONS_ENFORCEMENT",
                        "metadata": {
                            "isClosed": "true" if closed else "false",
                            "probability": str(p),
                        },
                    }
                    for i, (sid, slabel, p, closed) in enumerate(stages)
                ],
            }
        )
    if pipeline_id is None:
        return json_response(200, {"results": out})
    for pipeline in out:
        if pipeline["id"] == pipeline_id:
            return json_response(200, pipeline)
    return _no_pipeline(pipeline_id)


def _no_pipeline(pipeline_id: str) -> Response:
    raise ApiError(404, f"Unable to find pipeline {pipeline_id}", "OBJECT_NOT_FOUND")


class OAuthApi:
    """``/oauth/v1/...``: refresh-token grant, token introspection, refresh-token revocation."""

    def __init__(self, data: HubSpotData) -> None:
        self.data = data
        self.tokens = data.state.tokens

    def token(self, request: Request, call: CallInfo) -> Response:
        """POST /oauth/v1/token (form-encoded)."""
        form = request.form
        grant = form.get("grant_type")
        if grant == "authorization_code":
            return self._fail("BAD_AUTH_CODE", "missing or unknown auth code", call)
        if grant != "refresh_token":
            return self._fail(
                "BAD_GRANT_TYPE", f"unsupported or missing grant_type: {grant!r}", call
            )
        issued = self.tokens.refresh(
            form.get("client_id"), form.get("client_secret"), form.get("refresh_token")
        )
        if isinstance(issued, OAuthFailure):
            status, message = {
                "client": ("BAD_CLIENT_ID", "missing or unknown client id"),
                "secret": ("BAD_CLIENT_SECRET", "missing or invalid client secret"),
                "refresh_token": ("BAD_REFRESH_TOKEN", "missing or unknown refresh token"),
            }[issued.reason]
            return self._fail(status, message, call)
        return json_response(
            200,
            {
                "token_type": "bearer",
                "refresh_token": issued.refresh_token,
                "access_token": issued.access_token,
                "expires_in": issued.expires_in,
                "token_use": "access_token",
            },
        )

    @staticmethod
    def _fail(status: str, message: str, call: CallInfo) -> Response:
        return json_response(
            400,
            {
                "status": status,
                "message": message,
                "correlationId": call.correlation_id,
                "category": "VALIDATION_ERROR",
                "error": "invalid_grant",
                "error_description": message,
            },
        )

    @staticmethod
    def _missing(message: str, call: CallInfo) -> Response:
        return json_response(
            404,
            {
                "status": "error",
                "message": message,
                "correlationId": call.correlation_id,
                "category": "OBJECT_NOT_FOUND",
            },
        )

    def _info(self, token: str, **extra: Any) -> Response:
        return json_response(
            200,
            {
                "token": token,
                "user": "sandbox-admin@example.com",
                "hub_domain": "sandbox.segsync.test",
                "scopes": SCOPES,
                "hub_id": PORTAL_ID,
                "user_id": 1,
                **extra,
            },
        )

    def access_token_info(self, token: str, call: CallInfo) -> Response:
        """GET /oauth/v1/access-tokens/{token}."""
        left = self.tokens.expires_in(token)
        if left is None or left <= 0:
            return self._missing("Token not found or expired", call)
        return self._info(token, app_id=1, expires_in=left, token_type="access")

    def refresh_token_info(self, token: str, call: CallInfo) -> Response:
        """GET /oauth/v1/refresh-tokens/{token}."""
        if not self.tokens.knows_refresh_token(token):
            return self._missing("Refresh token not found", call)
        return self._info(token, client_id=self.tokens.client_id, token_type="refresh")

    def revoke(self, token: str, call: CallInfo) -> Response:
        """DELETE /oauth/v1/refresh-tokens/{token}: the app is uninstalled; refreshes now fail."""
        if not self.tokens.revoke_refresh_token(token):
            return self._missing("Refresh token not found", call)
        return no_content()
