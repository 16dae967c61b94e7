"""One event processor per CRM at a time, fenced by the state store, not by Redis.

The defect this guards against: the processing lock lived in Redis. Killed and
restarted mid-storm, Redis forgot it while a worker's write waited out the outage in
its retries; a second worker took the lock anew, planned the same writes against a
state store that did not hold them yet, and both sent them (CI: company segments
written again with the values they held). The lock now lives in the state store,
whose session locks end only with the session that holds them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import sqlalchemy as sa

from tests.deployment import CLI, Deployment
from tests.workers.events.test_leases import (
    hold_requests,
    prepare,
    status_of,
    wait_mid_round,
)
from workers.state import StateStore
from workers.state.locks import LockLost, lock_id

pytestmark = pytest.mark.integration


def test_one_holder_at_a_time_across_stores_and_free_again_after(store_url: str) -> None:
    with StateStore(store_url) as first, StateStore(store_url) as second:
        with first.exclusive("events:hubspot") as held:
            assert held is not None
            with second.exclusive("events:hubspot") as refused:
                assert refused is None
            # Another CRM's processing is not held up.
            with second.exclusive("events:salesforce") as other:
                assert other is not None
            held.check()  # still held
        with second.exclusive("events:hubspot") as taken:
            assert taken is not None


HOLDER = """
import sys, time
from workers.state import StateStore
with StateStore(sys.argv[1]).exclusive("events:hubspot") as hold:
    assert hold is not None
    print("held", flush=True)
    time.sleep(600)
"""


def test_a_killed_holder_holds_nothing(store_url: str) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(HOLDER), store_url],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with StateStore(store_url) as store, store.exclusive("events:hubspot") as hold:
            assert hold is None
        os.killpg(holder.pid, signal.SIGKILL)
        holder.wait(timeout=30)
        with StateStore(store_url) as store:
            # The server notices the closed session at once on a local socket; allow a beat.
            for _ in range(50):
                with store.exclusive("events:hubspot") as hold:
                    if hold is not None:
                        break
                time.sleep(0.1)
            assert hold is not None, "a killed process still holds the lock"
    finally:
        if holder.poll() is None:
            os.killpg(holder.pid, signal.SIGKILL)


def test_a_lost_postgres_session_is_noticed_before_the_next_write(worker_database: str) -> None:
    with StateStore(worker_database) as store, store.exclusive("events:hubspot") as hold:
        assert hold is not None
        key = lock_id("events:hubspot")
        with sa.create_engine(worker_database).connect() as admin:
            # What a database restart does to the session holding the lock.
            ended = admin.scalar(
                sa.text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_locks "
                    "WHERE locktype = 'advisory' AND granted AND objsubid = 1 "
                    "AND classid::text::bigint = :high AND objid::text::bigint = :low "
                    # Advisory locks are per database: another database's holder of the
                    # same name (another suite, a benchmark) is not this test's to end.
                    "AND database = (SELECT oid FROM pg_database "
                    "WHERE datname = current_database())"
                ),
                {"high": (key >> 32) & 0xFFFF_FFFF, "low": key & 0xFFFF_FFFF},
            )
            admin.commit()
        assert ended == 1
        with pytest.raises(LockLost, match="events:hubspot"):
            hold.check()
        # Freed with the session: another processor may go on.
        with StateStore(worker_database) as other, other.exclusive("events:hubspot") as taken:
            assert taken is not None


def test_events_process_refuses_while_another_process_is_mid_round(
    deployment: Deployment,
) -> None:
    d = deployment
    with d.explained():
        prepare(d)
        hold_requests(d)
        first = d.spawn("events", "process", "--crm", "hubspot", "--json")
        wait_mid_round(d)
        second = subprocess.run(
            [sys.executable, "-c", CLI, "events", "process", "--crm", "hubspot"],
            env=d.env(),
            cwd=d.tmp,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert second.returncode == 1, second
        assert "another process is processing hubspot's events now" in second.stderr
        assert second.stderr.count("\n") == 1 and second.stdout == ""
        d.admin("POST", "faults", data="0")
        d.finish(first, timeout=120)
        report = status_of(d)
        assert report["inbox_depth"] == report["dead"] == 0, report
