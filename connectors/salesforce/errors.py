"""Salesforce's errors, translated into the connector error types."""

from __future__ import annotations

from typing import Any

from simple_salesforce.exceptions import SalesforceError

from connectors.base import (
    AuthError,
    BudgetExhaustedError,
    ConnectorError,
    RateLimitedError,
    RejectedError,
    TransientError,
)

# Per-record codes that say "try again later", not "this value is wrong".
RETRYABLE_RECORD_CODES = frozenset(
    {"UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE", "REQUEST_RUNNING_TOO_LONG"}
)


def first_error(content: Any) -> tuple[str, str]:
    """(errorCode, message) of Salesforce's ``[{"message", "errorCode"}]`` body."""
    if isinstance(content, list) and content and isinstance(content[0], dict):
        item = content[0]
        return str(item.get("errorCode") or ""), str(item.get("message") or "")
    if isinstance(content, dict):
        return str(content.get("errorCode") or content.get("error") or ""), str(
            content.get("message") or content.get("error_description") or ""
        )
    return "", str(content or "")[:300]


def translate(what: str, exc: SalesforceError) -> ConnectorError:
    """The connector error for a simple-salesforce exception (no secrets in it)."""
    code, message = first_error(exc.content)
    text = f"{what}: Salesforce answered {exc.status} {code}: {message}".rstrip(": ")
    if exc.status == 401:
        return AuthError(f"{text} (the session expired and could not be re-established)")
    if code == "REQUEST_LIMIT_EXCEEDED" and "TotalRequests" not in message:
        # The same code marks Salesforce's concurrency throttles (e.g. "ConcurrentPerOrgLongTxn
        # Limit exceeded."): those pass in seconds, unlike the daily allocation.
        return RateLimitedError(text, policy=code)
    if code == "REQUEST_LIMIT_EXCEEDED":
        return BudgetExhaustedError(
            f"{text} — the org's daily API allocation is used up; segsync stops and "
            "resumes when the rolling 24-hour usage drops",
            policy=code,
        )
    if exc.status == 403:
        return AuthError(f"{text} (the integration user lacks a permission)")
    if exc.status >= 500:
        return TransientError(text)
    return RejectedError(text, status=exc.status, category=code)
