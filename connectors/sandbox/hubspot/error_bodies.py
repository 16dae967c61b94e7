"""HubSpot's error bodies and the JSON responses that carry them."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson
from werkzeug.wrappers import Response

from connectors.sandbox.hubspot.defaults import PORTAL_ID
from connectors.sandbox.hubspot.values import Issue, iso

INVALID_AUTH_MESSAGE = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can "
    "find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)


class ApiError(Exception):
    """Raised by handlers to answer with a HubSpot error body."""

    def __init__(
        self,
        status: int,
        message: str,
        category: str = "VALIDATION_ERROR",
        *,
        context: Mapping[str, Sequence[str]] | None = None,
        errors: Sequence[Mapping[str, Any]] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.category = category
        self.context = context
        self.errors = errors
        self.extra = extra

    def body(self, correlation_id: str) -> dict[str, Any]:
        """The JSON body (``status``, ``message``, ``correlationId``, ``category``, …)."""
        data: dict[str, Any] = {
            "status": "error",
            "message": self.message,
            "correlationId": correlation_id,
            "category": self.category,
        }
        if self.errors is not None:
            data["errors"] = list(self.errors)
        if self.context is not None:
            data["context"] = {k: list(v) for k, v in self.context.items()}
        data.update(self.extra)
        return data


def json_response(status: int, body: Any) -> Response:
    """A JSON response (``application/json;charset=utf-8``, like HubSpot's)."""
    return Response(
        orjson.dumps(body), status=status, content_type="application/json;charset=utf-8"
    )


def batch_response(
    started_ms: int, results: list[Any], errors: list[Any] | None = None, *, ok_status: int = 200
) -> Response:
    """HubSpot's batch envelope: 200/201 when complete, else 207 with ``numErrors``/``errors``."""
    body: dict[str, Any] = {"status": "COMPLETE", "results": results}
    if errors:
        body["numErrors"] = len(errors)
        body["errors"] = errors
    body["startedAt"] = iso(started_ms)
    body["completedAt"] = iso(int(time.time() * 1000))
    return json_response(207 if errors else ok_status, body)


def no_content() -> Response:
    """An empty 204."""
    return Response(b"", status=204)


def invalid_properties(issues: Iterable[Issue]) -> ApiError:
    """HubSpot's 'Property values were not valid' error; it never names the batch input."""
    issues = list(issues)
    results = [
        {
            "isValid": False,
            "message": i.message,
            "error": i.code,
            "name": i.name,
            "localizedErrorMessage": i.message,
            "portalId": PORTAL_ID,
        }
        for i in issues
    ]
    message = "Property values were not valid: " + orjson.dumps(results).decode()
    errors = [
        {"message": i.message, "code": i.code, "context": {"propertyName": [i.name]}}
        for i in issues
    ]
    return ApiError(400, message, "VALIDATION_ERROR", errors=errors)


def not_found_error(noun: str, ids: Sequence[str]) -> dict[str, Any]:
    """The 207 error entry for unknown ids in a batch (a StandardError)."""
    return {
        "status": "error",
        "category": "OBJECT_NOT_FOUND",
        "message": f"Could not get some {noun} objects, they may be deleted or not exist. "
        "Check that ids are valid.",
        "context": {"ids": list(ids)},
        "errors": [],
        "links": {},
    }


def rate_limit_body(policy: str, correlation_id: str) -> dict[str, Any]:
    """The 429 body for a limit policy (``TEN_SECONDLY_ROLLING``, ``DAILY``, ``SECONDLY``)."""
    message = {
        "TEN_SECONDLY_ROLLING": "You have reached your ten_secondly_rolling limit.",
        "DAILY": "You have reached your daily limit.",
        "SECONDLY": "You have reached your secondly limit.",
    }[policy]
    return {
        "status": "error",
        "message": message,
        "errorType": "RATE_LIMIT",
        "category": "RATE_LIMITS",
        "correlationId": correlation_id,
        "policyName": policy,
        "requestId": correlation_id,
    }


GATEWAY_PAGES = {
    502: b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway"
    b"</h1></center>\r\n<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n",
    504: b"<html>\r\n<head><title>504 Gateway Time-out</title></head>\r\n<body>\r\n<center><h1>504 "
    b"Gateway Time-out</h1></center>\r\n<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n",
}


def gateway_error(status: int, correlation_id: str) -> Response:
    """A 5xx as HubSpot's edge produces them: HTML for 502/504, JSON for 503."""
    page = GATEWAY_PAGES.get(status)
    if page is not None:
        return Response(page, status=status, content_type="text/html")
    return json_response(
        status,
        {
            "status": "error",
            "message": "Service Unavailable",
            "correlationId": correlation_id,
            "category": "SERVICE_UNAVAILABLE",
        },
    )
