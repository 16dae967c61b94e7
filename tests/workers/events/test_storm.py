"""Event storms: 10,000 user events delivered with 20 % duplicates, 10 % reordered and 5 %
forged batches, to a `segsync webhooks serve` process and two Celery workers on PostgreSQL; then
the same with the Redis under the workers killed 10 s in and back 30 s later. What is left in
the CRM is what a full sync computes, every event processed exactly once.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.checks import planned
from tests.deployment import Deployment
from tests.instruments import PrivateRedis, WriteLog, free_port
from tests.workers.events.live import (
    LIFECYCLE,
    SECRET,
    echo_events,
    own_echo_events,
    recomputation_mismatches,
    unchanged_writes,
    wait_quiet,
)
from workers.events.processor import status

pytestmark = pytest.mark.integration


# --------------------------------------------------------------------------- 2-3. the storm

STORM_EVENTS = 10_000
STORM_CONTACTS = 1000  # each changed ~5 times in the storm
STORM_FAULTS = {"duplicate": 0.2, "reorder": 0.1, "forged": 0.05}
# One mutate round: this many records of each type changed by simulated users (~15 events).
STORM_MIX = (("contacts", 8), ("companies", 1), ("deals", 2))
OUTAGE_SECONDS = 30
OUTAGE_AFTER_SECONDS = 10  # into a storm of ~45 s: changes go on arriving all through it


@dataclass
class Storm:
    """Simulated users changing records (``/_sandbox/mutate``) at a steady pace until their
    changes have produced ``target`` events (segsync's write-backs not counted)."""

    d: Deployment
    log: WriteLog
    mark: int
    target: int
    rounds_per_second: float
    rounds: int = 0
    records: int = 0
    error: BaseException | None = None

    def user_events(self) -> int:
        assert self.d.sandbox is not None
        emitted = int(self.d.sandbox.events.snapshot()["events_emitted"])
        return emitted - echo_events(self.log.segsync_since(self.mark))

    def run(self) -> None:
        try:
            due = time.monotonic()
            while self.user_events() < self.target:
                for object_type, n in STORM_MIX:
                    done = self.d.admin(
                        "POST", "mutate", json={"count": n, "object_type": object_type}
                    )
                    self.records += int(done["count"])
                self.rounds += 1
                due += 1 / self.rounds_per_second
                time.sleep(max(0.0, due - time.monotonic()))
        except BaseException as exc:  # reported by the test thread
            self.error = exc


def inbox_statuses(d: Deployment) -> dict[str, int]:
    query = sa.text("SELECT status, count(*) FROM event_inbox WHERE crm = 'hubspot' GROUP BY 1")
    with d.store() as store, store.engine.connect() as conn:
        return {status: int(n) for status, n in conn.execute(query)}


def counters(d: Deployment) -> dict[str, Any]:
    with d.store() as store:
        return status(store, "hubspot")


def depth(d: Deployment) -> int:
    with d.store() as store:
        return store.inbox_depth("hubspot")


def final_state_problems(d: Deployment, log: WriteLog) -> list[str]:
    """Everything that is not as one full sync at the end would leave it, reading each
    record from the sandbox once: the CRM holds what the state store says segsync wrote;
    every property's API change count is what the write log saw (so the log missed no
    write); and the CRM agrees with a from-scratch recomputation."""
    problems: list[str] = []
    written = d.written()
    changed: Counter[tuple[str, str, str]] = Counter()
    for w in log.writes:
        for name, (before, sent) in w.values.items():
            if before != sent:
                changed[(w.object_type, w.record_id, name)] += 1
    for (object_type, record_id), fields in sorted(written.items()):
        record = d.record(object_type, record_id)
        props = record["properties"]
        for name, value in fields.items():
            # The lifecycle stage is the CRM's own field: users move it on after segsync.
            if name != LIFECYCLE and (props.get(name) or "") != (value or ""):
                problems.append(
                    f"{object_type} {record_id} {name}: CRM {props.get(name)!r}, "
                    f"state store {value!r}"
                )
        for name, n in record["changes"].items():
            if changed[(object_type, record_id, name)] != n:
                problems.append(
                    f"{object_type} {record_id} {name}: {n} API changes, "
                    f"{changed[(object_type, record_id, name)]} in the write log"
                )
    return problems + recomputation_mismatches(d)


def event_storm(d: Deployment, *, rounds_per_second: float, outage: PrivateRedis | None) -> None:
    """A full sync, then a storm of user changes delivered with duplicates, reordering and
    forged copies to a `segsync webhooks serve` process, processed by two workers; with
    ``outage``, that Redis is killed 10 s in and restarted 30 s later."""
    port = free_port()
    hook = f"http://127.0.0.1:{port}/webhooks/hubspot"
    d.settings["SEGSYNC_HUBSPOT_APP_SECRET"] = SECRET
    server = d.start_sandbox(
        contacts=STORM_CONTACTS,
        companies=150,
        deals=300,
        webhook_secret=SECRET,
        webhook_retry_seconds=0.5,
        webhook_retry_max_seconds=4.0,
    )
    log = WriteLog(server)
    with d.explained():
        d.segsync("schema", "apply", "--crm", "hubspot")
        workers = [d.start_worker(), d.start_worker()]
        d.wait_ready(*workers)
        receiver = d.start_receiver(port)
        # Webhooks are switched on after the full sync: its ~35,000 echoes are the loop
        # test's subject; here they would only make the run longer.
        full = d.segsync_json("sync", "--crm", "hubspot", "--full")
        assert full["records_written"] == STORM_CONTACTS + 150
        d.segsync("events", "poll", "--crm", "hubspot")  # the fallback poll's first cursors
        mark = log.mark()
        d.admin("POST", "webhooks", json={"url": hook, **STORM_FAULTS, "reset": True})

        storm = Storm(d, log, mark, STORM_EVENTS, rounds_per_second)
        driver = threading.Thread(target=storm.run, name="storm", daemon=True)
        started = time.monotonic()
        driver.start()
        waiting_in_outage = 0
        if outage is not None:
            time.sleep(OUTAGE_AFTER_SECONDS)
            outage.kill()
            down_at = time.monotonic() - started
            time.sleep(OUTAGE_SECONDS)
            # Events went on arriving and waited in the inbox (nothing processed them).
            waiting_in_outage = depth(d)
            outage.start()
            print(
                f"Redis down from {down_at:.1f} s to {time.monotonic() - started:.1f} s; "
                f"{waiting_in_outage} events waiting when it came back"
            )
        driver.join(timeout=300)
        assert storm.error is None, storm.error
        storm_seconds = time.monotonic() - started
        wait_quiet(d, lambda: depth(d), quiet=2.0, timeout=180)
        drained_seconds = time.monotonic() - started

        delivery = d.admin("GET", "webhooks")["counters"]
        after = counters(d)
        writes = log.segsync_since(mark)
        echoes = echo_events(writes)
        own = own_echo_events(writes)
        user_events = int(delivery["events_emitted"]) - echoes
        with d.store() as store:
            redundant, races = unchanged_writes(log, writes, store)
        print(
            f"storm: {storm.records} record changes in {storm.rounds} rounds, {user_events} "
            f"user events + {echoes} echo events in {storm_seconds:.1f} s "
            f"(drained at {drained_seconds:.1f} s); sent {delivery['duplicates_sent']} "
            f"duplicates, {delivery['reordered']} reordered, {delivery['forged_sent']} forged "
            f"requests, {delivery['retries']} retries; receiver counters {after}; "
            f"{len(writes)} record writes by segsync, {races} of them raced a user's change of "
            "the lifecycle stage to the value segsync then wrote"
        )
        assert user_events >= STORM_EVENTS
        assert delivery["duplicates_sent"] >= 0.15 * user_events
        assert delivery["reordered"] >= 0.05 * user_events
        # Every forged request refused (and counted), none accepted ...
        assert delivery["forged_sent"] > 0
        assert after["forged"] == delivery["forged_sent"] and delivery["forged_accepted"] == 0
        # ... every real event delivered, stored exactly once and processed: the inbox
        # holds one row per event the sandbox emitted (but the echoes of segsync's own
        # properties, dropped by the receiver), all done, none waiting or failed.
        assert delivery["events_failed"] == delivery["events_dropped"] == 0
        assert delivery["pending"] == 0
        stored = int(delivery["events_emitted"]) - own
        assert inbox_statuses(d) == {"done": stored}
        assert after["received"] == stored + after["duplicates"] + after["echoes"]
        assert after["processed"] == stored
        assert after["echoes"] >= own
        assert after["duplicates"] + after["echoes"] - own >= delivery["duplicates_sent"]
        # No write of a value the record already held, so no property was written twice
        # with the same value ...
        assert redundant == [], redundant[:10]
        assert races <= len(writes) / 100
        # Some changes never become webhooks: HubSpot lets apps subscribe to neither
        # read-only nor calculated properties (last activity date, email and analytics
        # counters), so a user change of only those is told by nobody. The fallback poll
        # (beat, every few minutes) is what catches them; run it once now.
        d.segsync("events", "poll", "--crm", "hubspot")
        wait_quiet(d, lambda: depth(d), quiet=2.0, timeout=120)
        polled = counters(d)
        late = log.segsync_since(mark)[len(writes) :]
        print(
            f"fallback poll: {polled['polled']} records changed since the storm began, "
            f"{len(late)} of them written (changes no webhook reported)"
        )
        assert polled["polled"] > 0
        emitted = int(d.admin("GET", "webhooks")["counters"]["events_emitted"])
        own = own_echo_events(log.segsync_since(mark))
        assert inbox_statuses(d) == {"done": emitted - own + polled["polled"]}
        with d.store() as store:
            redundant, _ = unchanged_writes(log, log.segsync_since(mark), store)
        assert redundant == [], redundant[:10]
        # ... and the end state is what one full sync would leave: nothing left to write,
        # the CRM holds what the state store says, and a from-scratch recomputation agrees.
        left, _ = planned(d, stored_statistics=True)
        assert left == {}, f"a full sync would still write {len(left)} records"
        problems = final_state_problems(d, log)
        assert not problems, f"{len(problems)} problems, first ones:\n" + "\n".join(problems[:12])
        if outage is not None:
            assert waiting_in_outage > 0
            assert "events wait in the inbox" in receiver.log()


def test_10000_events_with_duplicates_reordering_and_forgeries_land_exactly_once(
    deployment: Deployment,
) -> None:
    event_storm(deployment, rounds_per_second=20, outage=None)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.kill()


def test_redis_down_for_30_seconds_mid_storm_loses_no_event(
    tmp_path: Path, worker_database: str, private_redis: PrivateRedis
) -> None:
    d = Deployment(tmp_path, worker_database, private_redis.url)
    try:
        event_storm(d, rounds_per_second=15, outage=private_redis)
    finally:
        d.close()
