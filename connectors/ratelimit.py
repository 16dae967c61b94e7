"""Client-side rate limiting that matches how CRMs count: a rolling window of calls.

HubSpot admits at most N calls in any rolling 10-second window. A classic token bucket
(capacity N, refilled at N per 10 s) would let a full bucket plus its refill through in
one window — up to 2N — and earn 429s. Here every token comes back exactly one window
after it was spent, which is the same rule the CRM enforces, so a process that waits
for a token never exceeds the limit yet can use all of it.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol


class Limiter(Protocol):
    """Anything that can make a caller wait for permission to send one request."""

    def acquire(self) -> float:
        """Block until one call may be sent; return the seconds waited."""
        ...

    def set_limit(self, max_calls: int) -> None:
        """Lower (or raise) the number of calls allowed per window."""
        ...


class RollingWindowLimiter:
    """At most ``max_calls`` in any ``period`` seconds, thread-safe.

    ``margin`` widens the window slightly: the CRM stamps a call when it arrives, a
    little after we sent it, and two calls sent exactly one window apart could land
    inside one of its windows.
    """

    def __init__(
        self,
        max_calls: int,
        period: float = 10.0,
        *,
        margin: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_calls < 1:
            raise ValueError("max_calls must be at least 1")
        if period <= 0:
            raise ValueError("period must be positive")
        self._max_calls = max_calls
        self._window = period + margin
        self._sent: deque[float] = deque()
        self._lock = threading.Lock()
        self._clock = clock
        self._sleep = sleep

    @property
    def max_calls(self) -> int:
        return self._max_calls

    def set_limit(self, max_calls: int) -> None:
        """Adopt a new per-window limit, e.g. the one the CRM reports in its headers."""
        if max_calls >= 1:
            with self._lock:
                self._max_calls = max_calls

    def acquire(self) -> float:
        """Block until a call may be sent within the limit; return the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                while self._sent and now - self._sent[0] >= self._window:
                    self._sent.popleft()
                if len(self._sent) < self._max_calls:
                    self._sent.append(now)
                    return waited
                delay = self._window - (now - self._sent[len(self._sent) - self._max_calls])
            delay = max(delay, 0.001)
            self._sleep(delay)
            waited += delay


class UnlimitedLimiter:
    """A limiter that never waits (for tests of logic that is not about pacing)."""

    def acquire(self) -> float:
        return 0.0

    def set_limit(self, max_calls: int) -> None:
        return None
