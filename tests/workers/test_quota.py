"""Integration: the Redis-backed quota shared by worker processes, against real Redis."""

from __future__ import annotations

import multiprocessing
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import redis
from pydantic import SecretStr

from connectors.base import BudgetExhaustedError, TransientError
from connectors.hubspot.connector import HubSpotConnector
from connectors.hubspot.options import HubSpotConfig
from connectors.retrying import RetryPolicy
from connectors.salesforce.connector import SalesforceConfig, SalesforceConnector
from connectors.salesforce.session import SalesforceAuth
from connectors.sandbox import SandboxConfig, SandboxServer
from tests.instruments import free_port
from workers.quota import (
    RedisDailyBudget,
    RedisRollingWindowLimiter,
    calls_sent_here,
    hubspot_account,
    quota_key,
    salesforce_account,
    shared_quota,
)

pytestmark = pytest.mark.integration

TOKEN = "sandbox-token"
FAST_RETRY = RetryPolicy(max_attempts=8, max_elapsed=60, initial_wait=0.01, max_wait=0.2)


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(redis_url)
    yield connection
    connection.close()


@pytest.fixture
def account(client: redis.Redis) -> Iterator[str]:
    """A CRM account name no other test uses; its keys are deleted afterwards."""
    name = f"test-{uuid.uuid4().hex}"
    yield name
    for key in client.scan_iter(match=f"segsync:quota:*{name}*"):
        client.delete(key)


def _grab(redis_url: str, key: str, start: Any, grants: Any, calls: int) -> None:
    limiter = RedisRollingWindowLimiter(redis.Redis.from_url(redis_url), key, 20, 1.0)
    grants.put("ready")
    start.wait()
    times = []
    for _ in range(calls):
        limiter.acquire()
        times.append(time.time())
    grants.put(times)


def test_processes_together_never_exceed_the_window(redis_url: str, account: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    start, grants = ctx.Event(), ctx.Queue()
    key = f"{quota_key('hubspot', account)}:window"
    workers = [
        ctx.Process(target=_grab, args=(redis_url, key, start, grants, 30)) for _ in range(4)
    ]
    for worker in workers:
        worker.start()
    # Spawned interpreters take a while to import; the clock starts once all are ready.
    assert [grants.get(timeout=60) for _ in workers] == ["ready"] * len(workers)
    began = time.time()
    start.set()
    times = sorted(t for _ in workers for t in grants.get(timeout=60))
    for worker in workers:
        worker.join(timeout=10)
        assert worker.exitcode == 0

    assert len(times) == 120
    crowded = [(a, b) for a, b in zip(times, times[20:], strict=False) if b - a < 1.0]
    assert not crowded, f"more than 20 grants within 1 s: {crowded[:3]}"
    ideal = (120 - 20) / 20
    wall = times[-1] - began
    assert ideal <= wall < 1.5 * ideal + 1, wall


def test_set_limit_lowers_this_process_view(client: redis.Redis, account: str) -> None:
    key = f"{quota_key('hubspot', account)}:window"
    limiter = RedisRollingWindowLimiter(client, key, 5, 0.3, margin=0.0)
    limiter.set_limit(2)
    limiter.set_limit(0)  # ignored, like the in-process limiter
    assert limiter.max_calls == 2
    assert limiter.acquire() == limiter.acquire() == 0.0
    assert 0.2 < limiter.acquire() < 0.6
    assert 0 < client.pttl(key) <= 300


def test_daily_budget_is_shared_and_stops_every_instance(client: redis.Redis, account: str) -> None:
    key = f"{quota_key('hubspot', account)}:day"
    first, second = RedisDailyBudget(client, key, 0.5), RedisDailyBudget(client, key, 0.5)
    first.check()  # nothing observed yet: no limit known, nothing to stop
    first.observe(10, 10)
    assert (second.daily_max, second.daily_remaining) == (10, 10)
    for budget in (first, second, first, second, first):
        budget.check()
        budget.count_call()
    assert first.calls == second.calls == 5

    tomorrow = datetime.now(UTC).date().toordinal() + 1
    for budget in (first, second):
        with pytest.raises(BudgetExhaustedError) as caught:
            budget.check()
        message = str(caught.value)
        assert "share (50%)" in message and "is spent" in message
        assert f"resets at {datetime.fromordinal(tomorrow):%Y-%m-%d} 00:00 UTC" in message
        with pytest.raises(BudgetExhaustedError):
            budget.count_call()
    assert second.calls == 5
    assert 0 < client.ttl(first.day_key()) <= 2 * 86_400


def test_account_reserve_observed_by_one_stops_the_other(client: redis.Redis, account: str) -> None:
    key = f"{quota_key('salesforce', account)}:day"
    first, second = RedisDailyBudget(client, key, 0.5), RedisDailyBudget(client, key, 0.5)
    first.observe(1000, 600)
    second.check()
    first.observe(None, 500)  # other integrations used the rest: only the reserve is left
    with pytest.raises(BudgetExhaustedError):
        second.check()


def test_racing_workers_stop_exactly_at_the_share(client: redis.Redis, account: str) -> None:
    key = f"{quota_key('hubspot', account)}:day"
    RedisDailyBudget(client, key, 0.25).observe(200, 200)
    sent: list[int] = []

    def work() -> None:
        budget = RedisDailyBudget(client, key, 0.25)
        while True:
            try:
                budget.check()
                budget.count_call()
            except BudgetExhaustedError:
                return
            sent.append(1)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(sent) == RedisDailyBudget(client, key, 0.25).calls == 50


def test_a_new_utc_day_starts_a_new_count(client: redis.Redis, account: str) -> None:
    key = f"{quota_key('hubspot', account)}:day"
    today = RedisDailyBudget(client, key, 1.0, now=lambda: datetime(2030, 1, 1, 23, 59, tzinfo=UTC))
    tomorrow = RedisDailyBudget(client, key, 1.0, now=lambda: datetime(2030, 1, 2, tzinfo=UTC))
    today.observe(1, 1)
    today.count_call()
    with pytest.raises(BudgetExhaustedError, match="resets at 2030-01-02 00:00 UTC"):
        today.check()
    tomorrow.check()
    assert today.day_key().endswith(":day:2030-01-01")
    assert (tomorrow.calls, tomorrow.daily_max) == (0, None)


def test_hubspot_connector_calls_go_through_the_shared_quota(
    redis_url: str, client: redis.Redis, account: str
) -> None:
    server = SandboxServer(
        SandboxConfig(
            dialect="hubspot",
            seed=7,
            contacts=250,
            companies=20,
            deals=20,
            rate_limit=10_000,
            search_rate_per_second=1_000,
            tokens=(TOKEN,),
            port=0,
        )
    )
    server.start()
    try:
        config = HubSpotConfig(
            base_url=server.url,
            token=SecretStr(TOKEN),
            requests_per_10s=10_000,
            search_requests_per_second=1_000,
            search_lag_seconds=0.0,
            retry=FAST_RETRY,
        )
        crm_account = f"{account}/{hubspot_account(config)}"
        assert TOKEN not in crm_account
        limiter, budget = shared_quota(redis_url, "hubspot", crm_account, 10_000, 0.5)
        connector = HubSpotConnector(config, limiter=limiter, budget=budget)
        connector.check()
        records = sum(len(b.records) for b in connector.read_all("contact", ["email"]))
        assert records == 250

        other = RedisDailyBudget(client, f"{quota_key('hubspot', crm_account)}:day", 0.5)
        calls = connector.usage().calls_made
        assert calls == other.calls == 4  # check + three pages of 100
        assert other.daily_max == 250_000
        assert client.zcard(f"{quota_key('hubspot', crm_account)}:window") == calls

        other.observe(None, 0)  # another worker saw the account run dry
        with pytest.raises(BudgetExhaustedError):
            connector.check()
        assert other.calls == calls
    finally:
        server.stop()


def test_salesforce_connector_calls_go_through_the_shared_quota(
    redis_url: str, client: redis.Redis, account: str
) -> None:
    server = SandboxServer(
        SandboxConfig(
            dialect="salesforce", seed=11, contacts=40, companies=5, deals=5, tokens=(TOKEN,)
        )
    ).start()
    try:
        config = SalesforceConfig(
            auth=SalesforceAuth(instance_url=server.url, session_id=SecretStr(TOKEN)),
            lag_seconds=0.0,
            retry=FAST_RETRY,
        )
        crm_account = f"{account}/{salesforce_account(config)}"
        limiter, budget = shared_quota(redis_url, "salesforce", crm_account, 1_000, 0.5)
        connector = SalesforceConnector(config, limiter=limiter, budget=budget)
        assert connector.budget is budget
        usage = connector.check()

        other = RedisDailyBudget(client, f"{quota_key('salesforce', crm_account)}:day", 0.5)
        assert usage.calls_made == other.calls > 0
        assert other.daily_max == 250_000
        window = client.zcard(f"{quota_key('salesforce', crm_account)}:window")
        assert window == other.calls
    finally:
        server.stop()


def test_a_process_counts_its_own_calls_apart_from_the_shared_count(
    client: redis.Redis, account: str
) -> None:
    """A task's API calls are this process's, not what other workers sent meanwhile."""
    budget = RedisDailyBudget(client, f"{quota_key('hubspot', account)}:day", 0.5)
    before = calls_sent_here("hubspot")
    for _ in range(3):
        budget.count_call()
    client.hincrby(budget.day_key(), "calls", 5)  # another worker's calls
    assert budget.calls == 8
    assert calls_sent_here("hubspot") - before == 3


def test_the_crms_daily_figures_never_fail_an_answered_call_when_redis_is_gone(
    account: str,
) -> None:
    """They arrive with an answer already in hand (a write that landed): failing the
    call for them resent the write and, once the retries gave up, left it landed but
    unrecorded, so it was planned and sent again (the Redis-outage storm test)."""
    gone = redis.Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.5)
    budget = RedisDailyBudget(gone, f"{quota_key('hubspot', account)}:day", 0.5)
    budget.observe(250_000, 249_000)  # kept for the next answer: no error
    # A call not sent yet still waits for Redis (retried as a CRM outage would be).
    with pytest.raises(TransientError, match="shared daily budget: Redis unavailable"):
        budget.check()
