"""Request quotas: a rolling window per app token, a daily pool per account, a search limiter.

Only admitted requests are counted: a request refused with a real 429 does not use up
quota (otherwise a client hammering the API would lock itself out forever). Requests
that are admitted and then get an injected fault do count.

The daily pool resets at UTC midnight (HubSpot) or is a rolling 24 hours (Salesforce:
calls stay blocked until the usage of the last 24 h drops below the allocation); the
per-token window can be switched off for CRMs that have none.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

TEN_SECONDLY = "TEN_SECONDLY_ROLLING"
DAILY = "DAILY"
SECONDLY = "SECONDLY"
DAY_S = 86_400.0
BUCKET_S = 60.0  # rolling-day usage is kept per minute: 1,440 buckets at most


@dataclass(frozen=True, slots=True)
class Usage:
    """Quota state after a request, as the rate-limit headers report it."""

    interval_max: int
    interval_remaining: int
    interval_ms: int
    daily_max: int
    daily_remaining: int


@dataclass(frozen=True, slots=True)
class Decision:
    """Outcome of :meth:`RateLimiter.admit`: ``policy`` names the limit hit, None if admitted."""

    policy: str | None
    usage: Usage


class RateLimiter:
    """Rolling window per key, daily pool, per-second search limit.

    ``window=False`` disables the per-key window; ``rolling_day=True`` makes the daily
    pool a rolling 24 hours instead of a UTC calendar day.
    """

    def __init__(
        self,
        rate_limit: int,
        daily_limit: int,
        search_per_second: int,
        *,
        window_s: float = 10.0,
        window: bool = True,
        rolling_day: bool = False,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.rate_limit = rate_limit
        self.daily_limit = daily_limit
        self.search_per_second = search_per_second
        self.window_s = window_s
        self.window_enabled = window
        self.rolling_day = rolling_day
        self._clock = clock
        self._wall = wall
        self._lock = threading.Lock()
        self._windows: dict[str, deque[float]] = {}
        self._search: deque[float] = deque()
        self._day = self._today()
        self._daily_used = 0
        self._buckets: deque[list[float]] = deque()  # [minute start (wall s), count]
        self._max_in_window: dict[str, int] = {}

    def _today(self) -> int:
        return int(self._wall() // 86_400)

    def _roll_day(self) -> None:
        """Forget usage older than the daily period (lock held)."""
        if not self.rolling_day:
            today = self._today()
            if today != self._day:
                self._day, self._daily_used = today, 0
            return
        horizon = self._wall() - DAY_S
        while self._buckets and self._buckets[0][0] + BUCKET_S <= horizon:
            self._daily_used -= int(self._buckets.popleft()[1])

    def _count_day(self) -> None:
        self._daily_used += 1
        if self.rolling_day:
            minute = self._wall() // BUCKET_S * BUCKET_S
            if self._buckets and self._buckets[-1][0] == minute:
                self._buckets[-1][1] += 1
            else:
                self._buckets.append([minute, 1])

    def admit(self, key: str, *, search: bool = False) -> Decision:
        """Count a request for ``key`` if every applicable limit allows it."""
        with self._lock:
            now = self._clock()
            self._roll_day()
            window = self._windows.setdefault(key, deque())
            horizon = now - self.window_s
            while window and window[0] <= horizon:
                window.popleft()
            while self._search and self._search[0] <= now - 1.0:
                self._search.popleft()
            policy = None
            if self._daily_used >= self.daily_limit:
                policy = DAILY
            elif self.window_enabled and len(window) >= self.rate_limit:
                policy = TEN_SECONDLY
            elif search and len(self._search) >= self.search_per_second:
                policy = SECONDLY
            if policy is None:
                window.append(now)
                self._count_day()
                if search:
                    self._search.append(now)
                if len(window) > self._max_in_window.get(key, 0):
                    self._max_in_window[key] = len(window)
            usage = Usage(
                self.rate_limit,
                max(0, self.rate_limit - len(window)),
                int(self.window_s * 1000),
                self.daily_limit,
                max(0, self.daily_limit - self._daily_used),
            )
            return Decision(policy, usage)

    def max_in_window(self) -> dict[str, int]:
        """Per key: the most requests admitted within any rolling window so far."""
        with self._lock:
            return dict(self._max_in_window)

    def daily_used(self) -> int:
        """Requests counted against the current daily pool."""
        with self._lock:
            self._roll_day()
            return self._daily_used

    def reset_stats(self) -> None:
        """Forget the window maxima (the windows themselves keep counting)."""
        with self._lock:
            self._max_in_window.clear()
            # Windows are trimmed only when a request arrives: drop what has expired since,
            # or requests older than the window would count towards the new maximum.
            horizon = self._clock() - self.window_s
            for key, window in self._windows.items():
                while window and window[0] <= horizon:
                    window.popleft()
                if window:
                    self._max_in_window[key] = len(window)
