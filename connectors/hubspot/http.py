"""Every HubSpot call goes through here: pacing, budget, auth, timeouts, errors, retries.

The generated SDK methods are called in their ``*_with_http_info`` form so the
``X-HubSpot-RateLimit-*`` headers can be read, always with a timeout (the SDK has none
by default) and with urllib3's own retries off: all retries are ours, so each HTTP
attempt is paced by the limiter and counted against the budget.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

import orjson
import requests
from urllib3.exceptions import HTTPError as Urllib3Error

from connectors.base import (
    ApiUsage,
    AuthError,
    BudgetExhaustedError,
    ConnectorError,
    RateLimitedError,
    RejectedError,
    TransientError,
)
from connectors.budget import DailyBudget
from connectors.hubspot.auth import TokenProvider
from connectors.hubspot.errors import HubSpotError
from connectors.ratelimit import Limiter
from connectors.retrying import RetryPolicy, call_with_retries

log = logging.getLogger(__name__)
T = TypeVar("T")

_TRANSIENT_STATUSES = frozenset({0, 423, 477, 500, 502, 503, 504, 521, 523, 524})


class HubSpotTransport:
    """Sends SDK calls with pacing, auth refresh, error translation and retries."""

    def __init__(
        self,
        *,
        tokens: TokenProvider,
        limiter: Limiter,
        search_limiter: Limiter,
        budget: DailyBudget,
        retry: RetryPolicy,
        timeout: tuple[float, float],
        configured_limit: int,
        base_url: str,
    ) -> None:
        self._tokens = tokens
        self._limiter = limiter
        self._search_limiter = search_limiter
        self._budget = budget
        self._retry = retry
        self._timeout = timeout
        self._configured_limit = configured_limit
        self._base_url = base_url
        self._api_clients: list[Any] = []
        self.interval_max: int | None = None
        self.interval_remaining: int | None = None

    def register(self, api: T) -> T:
        """Remember an SDK API object so its bearer token can be kept current."""
        self._api_clients.append(api.api_client)  # type: ignore[attr-defined]
        return api

    def usage(self) -> ApiUsage:
        return ApiUsage(
            interval_max=self.interval_max,
            interval_remaining=self.interval_remaining,
            daily_max=self._budget.daily_max,
            daily_remaining=self._budget.daily_remaining,
            calls_made=self._budget.calls,
        )

    def call(
        self,
        what: str,
        fn: Callable[..., Any],
        *args: Any,
        search: bool = False,
        retry: RetryPolicy | None = None,
        raw: bool = False,
        **kwargs: Any,
    ) -> Any:
        """Call an SDK ``*_with_http_info`` method; return its deserialised data, or with
        ``raw`` the answer's JSON as plain dicts and lists.

        Reads take ``raw``: the SDK builds a model object per record, property map and
        association, each with its own copy of the client configuration, and parses
        every timestamp with dateutil, several times the cost of the request itself.
        """
        return call_with_retries(
            retry or self._retry, lambda: self._attempt(what, fn, args, kwargs, search, raw)
        )

    def _attempt(
        self,
        what: str,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        search: bool,
        raw: bool = False,
    ) -> Any:
        refreshed = False
        while True:
            self._budget.check()
            self._limiter.acquire()
            if search:
                self._search_limiter.acquire()
            self._set_token(self._tokens.access_token())
            started = time.monotonic()
            self._budget.count_call()
            try:
                if raw:
                    answer = fn(
                        *args, _request_timeout=self._timeout, _preload_content=False, **kwargs
                    )
                    data, status, headers = _json(what, answer), answer.status, answer.getheaders()
                else:
                    data, status, headers = fn(*args, _request_timeout=self._timeout, **kwargs)
            except (requests.RequestException, Urllib3Error) as exc:
                raise TransientError(
                    f"{what}: no answer from {self._base_url} ({type(exc).__name__}: "
                    f"{_reason(exc)})"
                ) from None
            except ConnectorError:
                raise
            except Exception as exc:
                status = getattr(exc, "status", None)
                if status is None:
                    raise
                if status == 401 and not refreshed and self._tokens.invalidate():
                    refreshed = True  # an OAuth token expired early: refresh once, resend
                    continue
                self._observe(getattr(exc, "headers", None))
                raise self._translate(what, status, exc) from None
            log.debug("%s -> %s in %.0f ms", what, status, 1000 * (time.monotonic() - started))
            self._observe(headers)
            return data

    def _set_token(self, token: str) -> None:
        for api_client in self._api_clients:
            api_client.configuration.access_token = token

    def _observe(self, headers: Any) -> None:
        if not headers:
            return
        interval_max = _int_header(headers, "X-HubSpot-RateLimit-Max")
        if interval_max is not None:
            self.interval_max = interval_max
            # The account may allow less than configured (e.g. a Starter portal).
            self._limiter.set_limit(min(self._configured_limit, interval_max))
        remaining = _int_header(headers, "X-HubSpot-RateLimit-Remaining")
        if remaining is not None:
            self.interval_remaining = remaining
        self._budget.observe(
            _int_header(headers, "X-HubSpot-RateLimit-Daily"),
            _int_header(headers, "X-HubSpot-RateLimit-Daily-Remaining"),
        )

    def _translate(self, what: str, status: int, exc: Exception) -> ConnectorError:
        error = HubSpotError.parse(status, getattr(exc, "body", None))
        headers = getattr(exc, "headers", None) or {}
        text = f"{what}: HubSpot answered {status}"
        if error.category:
            text += f" {error.category}"
        text += f": {error.message}"
        if status == 429:
            if error.policy == "DAILY":
                return BudgetExhaustedError(text, policy=error.policy)
            return RateLimitedError(
                text, retry_after=_float_header(headers, "Retry-After"), policy=error.policy
            )
        if status == 401:
            return AuthError(f"{text} (check SEGSYNC_HUBSPOT_TOKEN or the OAuth settings)")
        if status == 403:
            needs = f"; this call needs {', '.join(error.scopes)}" if error.scopes else ""
            return AuthError(f"{text} (the token lacks a scope segsync needs{needs})")
        if status in _TRANSIENT_STATUSES or status >= 500:
            return TransientError(text)
        return RejectedError(text, status=status, category=error.category)


def _json(what: str, answer: Any) -> Any:
    """A 2xx answer's JSON body; a body that is not JSON is HubSpot misbehaving: retried."""
    try:
        return orjson.loads(answer.data)
    except orjson.JSONDecodeError:
        raise TransientError(
            f"{what}: HubSpot answered {answer.status} with a body that is not JSON"
        ) from None


def _reason(exc: Exception) -> str:
    reason = getattr(exc, "reason", None)
    return type(reason).__name__ if reason is not None else str(exc).split(":")[0]


def _int_header(headers: Any, name: str) -> int | None:
    value = headers.get(name)
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _float_header(headers: Any, name: str) -> float | None:
    value = headers.get(name)
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None
