"""One retry policy for every connector call (tenacity).

Retried: rate limiting (except a spent daily budget) and transient failures — 5xx,
timeouts, dropped connections. Never retried: authentication problems and requests the
CRM rejected as invalid, because sending them again cannot succeed and only burns quota.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)

from connectors.base import BudgetExhaustedError, RateLimitedError, TransientError

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard to try before giving a call up."""

    max_attempts: int = 8
    max_elapsed: float = 300.0
    initial_wait: float = 0.5
    max_wait: float = 30.0


def is_retryable(exc: BaseException) -> bool:
    """True for errors that may go away by themselves."""
    if isinstance(exc, BudgetExhaustedError):
        return False
    return isinstance(exc, RateLimitedError | TransientError)


class _WaitRetryAfterOrBackoff:
    """Honour the CRM's Retry-After when it sent one, else exponential backoff with jitter."""

    def __init__(self, policy: RetryPolicy) -> None:
        self._backoff = wait_random_exponential(multiplier=policy.initial_wait, max=policy.max_wait)
        self._max_wait = policy.max_wait

    def __call__(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RateLimitedError) and exc.retry_after is not None:
            return min(max(exc.retry_after, 0.0), self._max_wait)
        return float(self._backoff(state))


def _log_retry(state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome else None
    log.warning(
        "retrying after %s (attempt %d): %s",
        type(exc).__name__,
        state.attempt_number,
        exc,
    )


def call_with_retries(policy: RetryPolicy, fn: Callable[[], T]) -> T:
    """Run ``fn`` under ``policy``; the last error is re-raised unchanged when it gives up."""
    retrying = Retrying(
        retry=retry_if_exception(is_retryable),
        stop=stop_after_attempt(policy.max_attempts) | stop_after_delay(policy.max_elapsed),
        wait=_WaitRetryAfterOrBackoff(policy),
        before_sleep=_log_retry,
        reraise=True,
    )
    return retrying(fn)
