"""One CRM API quota shared by every Celery worker, kept in Redis.

Each worker process has its own connector, so per-process limiters and budgets would let
N workers send N times the allowed rate and spend N times segsync's daily share. These
classes satisfy the same protocols as ``connectors.ratelimit`` and ``connectors.budget``
but keep the state in Redis, so all workers together stay within one quota.

Keys: ``segsync:quota:<crm>:<account>:window`` (sorted set, the calls of the rolling
window) and ``segsync:quota:<crm>:<account>:day:<YYYY-MM-DD>`` (hash: ``calls`` made
today, last observed ``daily_max`` and ``daily_remaining``).
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import redis

from connectors.base import BudgetExhaustedError, TransientError
from connectors.budget import DailyBudget
from connectors.ratelimit import Limiter

if TYPE_CHECKING:
    from connectors.hubspot.options import HubSpotConfig
    from connectors.salesforce.connector import SalesforceConfig

log = logging.getLogger(__name__)
DAY_KEY_TTL = int(timedelta(days=2).total_seconds())
# How much wider than the CRM's window the shared limiter keeps its own. The CRM counts a
# call when it arrives, and the time from taking a slot to arriving (request encoding,
# scheduling, network) differs between worker processes and hosts far more than within
# one process (whose limiter uses 0.05 s): with 4 workers on a loaded 2-CPU host, calls
# taken 10.05 s apart arrived 9.996 s apart and got real 429s. Costs 2.4% of the rate.
SHARED_WINDOW_MARGIN = 0.25
# Calls this process counted, per budget key: the shared count adds up every worker's
# calls, so the difference of it over a task also counts what other workers sent meanwhile.
_SENT_HERE: Counter[str] = Counter()

# Redis server time stamps every call, so skew between worker clocks cannot let two
# workers both believe a slot is free. Returns 0 when the call is granted, otherwise the
# microseconds until enough old calls leave the window for one more to fit.
_ACQUIRE = """
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local max_calls = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if count < max_calls then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000))
  return 0
end
local blocking = redis.call('ZRANGE', KEYS[1], count - max_calls, count - max_calls, 'WITHSCORES')
return math.max(tonumber(blocking[2]) + window - now, 1)
"""

# Check and count in one step: otherwise every worker could pass the check at the last
# call of the share and all of them would send. Returns -1 when the share is spent.
_TAKE = """
local daily_max = tonumber(redis.call('HGET', KEYS[1], 'daily_max'))
local calls = tonumber(redis.call('HGET', KEYS[1], 'calls')) or 0
if daily_max and calls >= math.floor(daily_max * tonumber(ARGV[1])) then
  return -1
end
calls = redis.call('HINCRBY', KEYS[1], 'calls', 1)
redis.call('EXPIRE', KEYS[1], ARGV[2])
return calls
"""


@contextmanager
def _redis_errors(what: str) -> Iterator[None]:
    # A Redis outage is retried like a CRM outage rather than failing the run outright.
    try:
        yield
    except redis.RedisError as exc:
        raise TransientError(f"{what}: Redis unavailable ({type(exc).__name__}: {exc})") from None


class RedisRollingWindowLimiter:
    """At most ``max_calls`` in any ``period`` seconds across all processes sharing ``key``.

    ``margin`` widens the window like :class:`connectors.ratelimit.RollingWindowLimiter`.
    """

    def __init__(
        self,
        redis_client: redis.Redis,
        key: str,
        max_calls: int,
        period: float = 10.0,
        *,
        margin: float = 0.05,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_calls < 1:
            raise ValueError("max_calls must be at least 1")
        if period <= 0:
            raise ValueError("period must be positive")
        self.key = key
        self._max_calls = max_calls
        self._window_us = round((period + margin) * 1_000_000)
        self._script = redis_client.register_script(_ACQUIRE)
        self._sleep = sleep

    @property
    def max_calls(self) -> int:
        return self._max_calls

    def set_limit(self, max_calls: int) -> None:
        """Adopt a new per-window limit for this process's calls (others keep theirs)."""
        if max_calls >= 1:
            self._max_calls = max_calls

    def acquire(self) -> float:
        """Block until a call may be sent within the shared limit; return the seconds waited."""
        waited = 0.0
        while True:
            with _redis_errors("shared rate limit"):
                wait_us = int(
                    self._script(
                        keys=[self.key], args=[self._max_calls, self._window_us, uuid.uuid4().hex]
                    )
                )
            if wait_us <= 0:
                return waited
            delay = max(wait_us / 1_000_000, 0.001)
            self._sleep(delay)
            waited += delay


class RedisDailyBudget(DailyBudget):
    """segsync's share of the daily API limit, counted once for all workers.

    ``key`` is a prefix; the UTC date is appended, so the count starts over at midnight
    UTC and old days expire on their own.
    """

    def __init__(
        self,
        redis_client: redis.Redis,
        key: str,
        share: float,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        # Not DailyBudget.__init__: its attribute defaults would overwrite the shared state.
        if not 0 < share <= 1:
            raise ValueError("daily budget share must be in (0, 1]")
        self.share = share
        self.key = key
        self._redis = redis_client
        self._now = now
        self._take = redis_client.register_script(_TAKE)

    def day_key(self) -> str:
        """The Redis key holding today's (UTC) counts."""
        return f"{self.key}:{self._now().date().isoformat()}"

    @property
    def daily_max(self) -> int | None:
        return self._state()[1]

    @daily_max.setter
    def daily_max(self, value: int | None) -> None:
        self._store(daily_max=value)

    @property
    def daily_remaining(self) -> int | None:
        return self._state()[2]

    @daily_remaining.setter
    def daily_remaining(self, value: int | None) -> None:
        self._store(daily_remaining=value)

    @property
    def calls(self) -> int:
        return self._state()[0]

    @calls.setter
    def calls(self, value: int) -> None:
        self._store(calls=value)

    def check(self) -> None:
        """Raise BudgetExhaustedError when all workers together have spent segsync's share."""
        calls, daily_max, remaining = self._state()
        if daily_max is None:
            return
        allowed = int(daily_max * self.share)
        spent_account = remaining is not None and remaining <= daily_max - allowed
        if calls >= allowed or spent_account:
            raise self._exhausted(calls, daily_max, remaining)

    def count_call(self) -> None:
        """Count one call; raise BudgetExhaustedError if other workers took the last one."""
        with _redis_errors("shared daily budget"):
            taken = int(self._take(keys=[self.day_key()], args=[repr(self.share), DAY_KEY_TTL]))
        if taken < 0:
            raise self._exhausted(*self._state())
        _SENT_HERE[self.key] += 1

    def observe(self, daily_max: int | None, daily_remaining: int | None) -> None:
        """Keep the CRM's own daily figures, if Redis is there to take them.

        They come with an answer already in hand: a write has landed. Failing the call
        for them (Redis down) made the retries send the write again and, once they gave
        up, left it landed but unrecorded, so it was planned and sent once more (the
        Redis-outage storm test). The next answer reports them again.
        """
        try:
            self._store(daily_max=daily_max, daily_remaining=daily_remaining)
        except TransientError as exc:
            log.warning("%s; the CRM's daily figures are taken from its next answer", exc)

    def _store(self, **fields: int | None) -> None:
        given = {name: value for name, value in fields.items() if value is not None}
        if not given:
            return
        key = self.day_key()
        with _redis_errors("shared daily budget"):
            pipe = self._redis.pipeline()
            for name, value in given.items():
                pipe.hset(key, name, value)
            pipe.expire(key, DAY_KEY_TTL)
            pipe.execute()

    def _state(self) -> tuple[int, int | None, int | None]:
        with _redis_errors("shared daily budget"):
            calls, daily_max, remaining = self._redis.hmget(
                self.day_key(), ["calls", "daily_max", "daily_remaining"]
            )
        return int(calls or 0), _int_or_none(daily_max), _int_or_none(remaining)

    def _exhausted(
        self, calls: int, daily_max: int | None, remaining: int | None
    ) -> BudgetExhaustedError:
        reserve = daily_max - int(daily_max * self.share) if daily_max is not None else 0
        left = "unknown" if remaining is None else str(remaining)
        resets = datetime.combine(self._now().date() + timedelta(days=1), datetime.min.time())
        return BudgetExhaustedError(
            f"segsync stops here: its share ({self.share:.0%}) of the CRM's daily API limit "
            f"({daily_max} calls) is spent by all workers together ({calls} calls today, "
            f"{left} left for the account, {reserve} kept for other integrations); "
            f"the count resets at {resets:%Y-%m-%d %H:%M} UTC",
            policy="DAILY_BUDGET_SHARE",
        )


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def calls_sent_here(crm: str) -> int:
    """Calls this process has sent to ``crm`` under shared quotas (every account)."""
    prefix = quota_key(crm, "")
    return sum(n for key, n in _SENT_HERE.items() if key.startswith(prefix))


def quota_key(crm: str, account: str) -> str:
    """The Redis key prefix of one CRM account's shared quota."""
    return f"segsync:quota:{crm}:{account}"


def hubspot_account(config: HubSpotConfig) -> str:
    """Identify a HubSpot account by host and a token fingerprint (never the token)."""
    secret = config.token or config.refresh_token
    digest = hashlib.sha256(secret.get_secret_value().encode() if secret else b"").hexdigest()
    return f"{_host(config.base_url)}/{digest[:12]}"


def salesforce_account(config: SalesforceConfig) -> str:
    """Identify a Salesforce org by instance (or login domain) and integration user or app."""
    auth = config.auth
    where = _host(auth.instance_url) if auth.instance_url else f"{auth.domain}.salesforce.com"
    who = auth.username or auth.consumer_key
    return f"{where}/{who}" if who else where


def _host(url: str) -> str:
    parts = urlsplit(url)
    return (parts.netloc + parts.path).rstrip("/") or url


def shared_quota(
    redis_url: str, crm: str, account: str, requests_per_10s: int, budget_share: float
) -> tuple[Limiter, DailyBudget]:
    """A limiter and a daily budget that every worker using the same Redis and account shares."""
    client = redis.Redis.from_url(redis_url)
    key = quota_key(crm, account)
    return (
        RedisRollingWindowLimiter(
            client, f"{key}:window", requests_per_10s, 10.0, margin=SHARED_WINDOW_MARGIN
        ),
        RedisDailyBudget(client, f"{key}:day", budget_share),
    )
