"""Salesforce's error shapes: REST ``[{message, errorCode, fields}]``, per-record ``statusCode``.

REST answers an error with a JSON *array* of errors; per-record results (sObject
Collections, single creates) carry ``{"statusCode", "message", "fields"}``; Bulk API 2.0
failed rows put ``CODE:message:fields --`` into the ``sf__Error`` column.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from werkzeug.wrappers import Response

JSON_TYPE = "application/json;charset=UTF-8"
SESSION_EXPIRED = "Session expired or invalid"
NOT_FOUND_MESSAGE = "The requested resource does not exist"
ROLLED_BACK = (
    "Record rolled back because not all records were valid and the request was using "
    "AllOrNone header"
)


@dataclass(frozen=True, slots=True)
class RecordError:
    """One error of one record (a SaveResult error)."""

    code: str
    message: str
    fields: tuple[str, ...] = ()

    def result(self) -> dict[str, Any]:
        """The per-record shape: ``statusCode``, ``message``, ``fields``."""
        return {"statusCode": self.code, "message": self.message, "fields": list(self.fields)}

    def rest(self) -> dict[str, Any]:
        """The REST error shape: ``message``, ``errorCode`` (``fields`` when there are some)."""
        body: dict[str, Any] = {"message": self.message, "errorCode": self.code}
        if self.fields:
            body["fields"] = list(self.fields)
        return body

    def bulk(self) -> str:
        """The Bulk API 2.0 ``sf__Error`` text."""
        return f"{self.code}:{self.message}:{','.join(self.fields)} --"


@dataclass(slots=True)
class SfError(Exception):
    """Raised by handlers: answer ``status`` with Salesforce's REST error array."""

    status: int
    code: str
    message: str
    fields: Sequence[str] = field(default_factory=tuple)
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    def response(self) -> Response:
        """The JSON error response."""
        response = json_response(
            self.status, [RecordError(self.code, self.message, tuple(self.fields)).rest()]
        )
        for key, value in self.headers.items():
            response.headers[key] = value
        return response

    @classmethod
    def of(cls, status: int, error: RecordError) -> SfError:
        """A request-level error from a record error (single-record endpoints)."""
        return cls(status, error.code, error.message, error.fields)


def json_response(status: int, body: Any) -> Response:
    """A JSON response as Salesforce sends them (``application/json;charset=UTF-8``)."""
    return Response(orjson.dumps(body), status=status, content_type=JSON_TYPE)


def no_content() -> Response:
    """An empty 204."""
    return Response(b"", status=204)


def not_found() -> SfError:
    """404 NOT_FOUND for a resource or record that does not exist."""
    return SfError(404, "NOT_FOUND", NOT_FOUND_MESSAGE)


def error_id() -> str:
    """An ErrorId like the ones Salesforce puts into UNKNOWN_EXCEPTION messages."""
    return (
        f"{secrets.randbelow(10**10):010d}-{secrets.randbelow(10**6)} ({-secrets.randbelow(10**9)})"
    )


def server_error(status: int) -> Response:
    """An injected server error: 503 SERVER_UNAVAILABLE, otherwise 500 UNKNOWN_EXCEPTION."""
    if status == 503:
        return json_response(
            503,
            [
                {
                    "message": "Server temporarily unavailable. Please try again later.",
                    "errorCode": "SERVER_UNAVAILABLE",
                }
            ],
        )
    return json_response(
        500,
        [
            {
                "message": "An unexpected error occurred. Please include this ErrorId if you "
                f"contact support: {error_id()}",
                "errorCode": "UNKNOWN_EXCEPTION",
            }
        ],
    )
