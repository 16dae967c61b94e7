"""The event inbox under faults: leases outlive a killed processor, a refused token costs
no event, one failing record does not fail the others (issue 12, defects 1, 2 and 8).

Each test reproduces a defect of the inbox as it was (states instead of leases):
events claimed by a killed processor stayed ``enqueued`` for ever; five failed rounds
(10 s of a refused token) turned every waiting event ``failed`` for good; one record
that could not be processed failed the whole claimed batch.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from pydantic import SecretStr

from connectors.base import FieldWrite, ObjectType, Record, RejectedError, WriteResult
from connectors.hubspot.connector import HubSpotConnector
from tests.checks import planned
from tests.deployment import TOKEN, Deployment
from tests.instruments import free_port
from tests.workers.events.live import ThreadedReceiver
from workers.events.inbox import Inbox, InboxPolicy
from workers.events.processor import Processor, status
from workers.receiver.app import create_app
from workers.state import EventStatus, StateStore
from workers.sync.crm_schema import apply_schema
from workers.sync.plan import load_playbook
from workers.sync.runner import build_connector, run_sync

pytestmark = pytest.mark.integration
BOOK = load_playbook("b2b_saas")
LEASE = 2.0  # seconds: short, so an expired lease is seconds away
T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def webhook(n: int, object_id: str, kind: str = "propertyChange", **extra: Any) -> tuple[str, Any]:
    event = {
        "eventId": n,
        "subscriptionId": 7,
        "occurredAt": 1_700_000_000_000 + n,
        "subscriptionType": f"contact.{kind}",
        "objectId": int(object_id),
        **extra,
    }
    return f"7:{n}:{event['occurredAt']}", event


# --------------------------------------------------------------------------- the store


def test_an_expired_lease_goes_to_the_next_claimer_and_the_stale_one_cannot_touch_it(
    store_url: str,
) -> None:
    clock = Clock()
    with StateStore(store_url, clock=clock) as store:
        store.migrate()
        inbox = Inbox(store, InboxPolicy(lease_seconds=30))
        store.add_events("hubspot", [(f"k{i}", {"i": i}) for i in range(5)])
        first = inbox.claim("hubspot", 10)
        assert len(first.events) == 5
        clock.advance(20)
        assert inbox.renew(first.token)  # renewed: runs until T0 + 50 s now
        clock.advance(25)
        assert inbox.claim("hubspot", 10).events == []
        clock.advance(10)  # the holder stopped renewing (killed): its lease expired
        second = inbox.claim("hubspot", 10)
        assert [e.id for e in second.events] == [e.id for e in first.events]
        assert all(e.attempts == 2 for e in second.events)
        # The first holder wakes up: it can neither finish, renew nor fail the events.
        assert inbox.finish(first.token, [e.id for e in first.events]) == 0
        assert not inbox.renew(first.token)
        inbox.give_back(first.token, first.events, "stale")
        assert status(store, "hubspot")["in_flight"] == 5
        assert inbox.finish(second.token, [e.id for e in second.events]) == 5
        assert store.inbox_depth("hubspot") == 0


def test_failures_back_off_exponentially_then_park_as_dead_and_retry_revives(
    store_url: str,
) -> None:
    clock = Clock()
    policy = InboxPolicy(retry_seconds=5, retry_max_seconds=40, dead_after_seconds=120)
    with StateStore(store_url, clock=clock) as store:
        store.migrate()
        inbox = Inbox(store, policy)
        store.add_events("hubspot", [("bad", {"x": 1})])
        waits: list[int] = []
        while True:
            claim = inbox.claim("hubspot", 10)
            if not claim.events:  # failing for 120 s by now: parked instead of claimed
                break
            inbox.give_back(claim.token, claim.events, "RejectedError: 207 INTERNAL_ERROR")
            report = status(store, "hubspot")
            assert report["backing_off"] == 1 and report["ready"] == 0
            waited = 0
            while not inbox.due("hubspot"):
                clock.advance(1)
                waited += 1
            waits.append(waited)
        assert waits == [5, 10, 20, 40, 40, 40], waits  # doubling, capped at 40 s
        report = status(store, "hubspot")
        assert report["dead_reasons"] == {"RejectedError: 207 INTERNAL_ERROR": 1}
        assert report["inbox_depth"] == 0
        assert inbox.retry_dead("hubspot") == 1
        again = inbox.claim("hubspot", 10).events
        assert [e.event_key for e in again] == ["bad"] and again[0].attempts == 1


def test_processed_events_leave_the_inbox_once_older_than_kept_and_nothing_else_does(
    store_url: str,
) -> None:
    clock = Clock()
    policy = InboxPolicy(retry_seconds=5, retry_max_seconds=5, dead_after_seconds=10)
    with StateStore(store_url, clock=clock) as store:
        store.migrate()
        inbox = Inbox(store, policy)
        store.add_events("hubspot", [(f"old-{n}", {"n": n}) for n in range(25)])
        store.add_events("hubspot", [("dead", {"x": 1})])
        claim = inbox.claim("hubspot", 100)
        old = [e for e in claim.events if e.event_key.startswith("old-")]
        inbox.finish(claim.token, [e.id for e in old])
        dead = [e for e in claim.events if e.event_key == "dead"]
        while dead:  # fails until parked as dead
            inbox.give_back(claim.token, dead, "RejectedError: 207 INTERNAL_ERROR")
            clock.advance(6)
            claim = inbox.claim("hubspot", 100)
            dead = claim.events
        clock.advance(3600)
        store.add_events("hubspot", [("recent", {"x": 2}), ("waiting", {"x": 3})])
        claim = inbox.claim("hubspot", 1)
        inbox.finish(claim.token, [e.id for e in claim.events])  # "recent": done just now
        # Kept 30 minutes: the 25 processed an hour ago go (10 per transaction), the one
        # processed now, the one still waiting and the dead one stay.
        assert store.purge_done_events(timedelta(minutes=30), batch=10) == 25
        with store.engine.connect() as conn:
            left = dict(conn.execute(sa.text("SELECT event_key, status FROM event_inbox")).all())
        assert left == {"recent": "done", "waiting": "pending", "dead": "dead"}
        assert store.purge_done_events(timedelta(minutes=30)) == 0
        # A redelivery of a purged event is stored (and processed) once more.
        assert store.add_events("hubspot", [("old-3", {"n": 3})]) == 1


def test_old_enqueued_and_failed_events_are_pending_after_the_migration(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    with StateStore(url) as store:
        with store._write() as conn:
            command.upgrade(store._alembic_config(conn), "0003")
        with store.engine.begin() as conn:
            for n, old in enumerate(["pending", "enqueued", "failed", "done"]):
                conn.execute(
                    sa.text(
                        "INSERT INTO event_inbox (crm, event_key, received_at, payload, status, "
                        "attempts) VALUES ('hubspot', :k, :t, '{}', :s, 5)"
                    ),
                    {"k": f"k{n}", "t": T0.replace(tzinfo=None), "s": old},
                )
        store.migrate()
        claimed = Inbox(store).claim("hubspot", 10).events
        assert sorted(e.event_key for e in claimed) == ["k0", "k1", "k2"]
        assert all(e.status is EventStatus.LEASED for e in claimed)


# --------------------------------------------------------------------------- kill -9


def prepare(d: Deployment) -> tuple[str, str, dict[str, str | None]]:
    """A synced CRM; a contact deleted for privacy (its written values still stored) and
    another contact changed, both only told as events in the inbox."""
    d.start_sandbox(contacts=300, companies=40, deals=80)
    settings = d.local_settings()
    connector = build_connector(settings, "hubspot")
    apply_schema(connector, BOOK, ["contact", "company"])
    run_sync(settings, "hubspot", BOOK, connector=connector, full=True)
    people = sorted((i for t, i in d.written() if t == "contact"), key=int)
    gone, changed = people[0], people[1]
    with d.store() as store:
        held = store.last_written("hubspot", "contact", [gone])[gone]
        assert held
        d.admin("POST", "delete", json={"object_type": "contacts", "ids": [gone]})
        d.admin("POST", "mutate", json={"object_type": "contacts", "ids": [changed]})
        store.add_events(
            "hubspot",
            [webhook(1, gone, "privacyDeletion"), webhook(2, changed, propertyName="jobtitle")],
        )
    d.settings.update(
        {"SEGSYNC_EVENTS_LEASE_SECONDS": str(LEASE), "SEGSYNC_EVENTS_RETRY_SECONDS": "0.5"}
    )
    return gone, changed, held


def hold_requests(d: Deployment) -> None:
    d.admin("POST", "faults", data="slow=1,slow_seconds=2")


def wait_mid_round(d: Deployment) -> None:
    """Until events are leased and one of the round's CRM calls is held in the sandbox."""
    d.wait_for(
        "a round holding events and a request in flight",
        lambda: status_of(d)["in_flight"] == 2 and d.stats()["faults"].get("slow", 0) > 0,
        60,
        0.05,
    )


def status_of(d: Deployment) -> dict[str, Any]:
    with d.store() as store:
        return status(store, "hubspot")


def assert_processed(d: Deployment, gone: str) -> None:
    report = status_of(d)
    assert report["inbox_depth"] == report["dead"] == 0, report
    with d.store() as store:
        # The privacy-deleted contact: nothing segsync wrote about it is kept.
        assert store.last_written("hubspot", "contact", [gone]) == {}


def test_a_local_processor_killed_mid_round_leaves_its_events_to_the_next_one(
    deployment: Deployment,
) -> None:
    d = deployment
    with d.explained():
        gone, _changed, _held = prepare(d)
        hold_requests(d)
        proc = d.spawn("events", "process", "--crm", "hubspot", "--json")
        wait_mid_round(d)
        d.background.remove(proc)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
        d.admin("POST", "faults", data="0")
        killed_at = time.monotonic()
        assert status_of(d)["in_flight"] == 2  # still claimed by the dead process ...

        # ... until its lease expires; then `events process` takes them.
        time.sleep(max(0.0, LEASE - (time.monotonic() - killed_at)) + 0.2)
        out = json.loads(d.segsync("events", "process", "--crm", "hubspot", "--json"))
        assert out["events"] == 2 and out["failed"] == 0, out
        assert_processed(d, gone)


def test_a_celery_worker_killed_mid_round_leaves_its_events_to_the_next_one(
    deployment: Deployment,
) -> None:
    d = deployment
    with d.explained():
        gone, _changed, _held = prepare(d)
        hold_requests(d)
        worker = d.start_worker()
        # The receiver's sweeper nudges the workers whenever events are due.
        d.start_receiver(free_port())
        wait_mid_round(d)
        worker.kill()
        d.admin("POST", "faults", data="0")
        assert status_of(d)["in_flight"] == 2
        d.wait_ready(d.start_worker())
        d.wait_for(
            "the events to be processed by the fresh worker",
            lambda: status_of(d)["inbox_depth"] == 0,
            60,
        )
        assert_processed(d, gone)


# --------------------------------------------------------------------------- faults


def test_ten_seconds_of_a_refused_token_then_every_event_is_processed(
    deployment: Deployment, caplog: pytest.LogCaptureFixture
) -> None:
    d = deployment
    with d.explained():
        d.start_sandbox(contacts=300, companies=40, deals=80)
        settings = d.local_settings(
            events_retry_seconds=0.5,
            events_retry_max_seconds=2,
            hubspot_app_secret=SecretStr("secret"),
        )
        connector = build_connector(settings, "hubspot")
        apply_schema(connector, BOOK, ["contact", "company"])
        run_sync(settings, "hubspot", BOOK, connector=connector, full=True)
        mutated = d.admin("POST", "mutate", json={"count": 30, "object_type": "contacts"})
        ids = [str(i) for i in mutated["ids"]]

        d.admin("POST", "tokens/revoke", json={"token": TOKEN})
        store = StateStore(settings.database_url)
        # The local path: the receiver processes in its own process, its sweeper nudging
        # far more often than the real one (every 0.1 s) to press on the backoff.
        receiver = ThreadedReceiver(
            create_app(settings, store=store, sweep_seconds=0.1), free_port()
        )
        caplog.set_level(logging.INFO, logger="segsync")
        receiver.start()
        try:
            store.add_events(
                "hubspot", [webhook(i, rid, propertyName="jobtitle") for i, rid in enumerate(ids)]
            )
            time.sleep(10)
            during = status_of(d)
            refused = d.stats()["statuses"].get("401", 0)
            d.admin("POST", "tokens/restore", json={"token": TOKEN})
            d.wait_for("every event processed", lambda: status_of(d)["inbox_depth"] == 0, 30)
        finally:
            receiver.stop()
            store.close()
        after = status_of(d)
        print(f"during the outage: {during}; {refused} calls refused")
        assert during["inbox_depth"] == 30 and during["dead"] == 0
        assert during["pause_reason"] and "AuthError" in during["pause_reason"]
        # Backing off (0.5, 1, 2, 2, ... s), not a call per nudge (100 nudges).
        assert 0 < refused <= 12, refused
        assert after["dead"] == 0 and after["processed"] == 30 and after["paused_until"] is None
        tracebacks = [r for r in caplog.records if r.exc_info]
        assert tracebacks == []
        paused = [r for r in caplog.records if "processing paused" in r.getMessage()]
        assert len(paused) == 1, [r.getMessage() for r in paused]
        again = run_sync(settings, "hubspot", BOOK, connector=connector, full=True, dry_run=True)
        assert again.records_to_write == 0, again.sample


class OneUnreadable(HubSpotConnector):
    """The CRM refuses to read one record (a 207 with an error other than not-found)."""

    bad: str = ""

    def read_ids(
        self, object_type: ObjectType, ids: Sequence[str], properties: Sequence[str]
    ) -> list[Record]:
        if self.bad in ids:
            raise RejectedError(
                "POST /crm/v3/objects/contacts/batch/read: HubSpot answered 207 "
                f"INTERNAL_ERROR: record {self.bad}",
                status=207,
                category="INTERNAL_ERROR",
            )
        return super().read_ids(object_type, ids, properties)


def test_one_record_that_fails_does_not_fail_the_others(deployment: Deployment) -> None:
    d = deployment
    with d.explained():
        d.start_sandbox(contacts=300, companies=40, deals=80)
        settings = d.local_settings()
        connector = build_connector(settings, "hubspot")
        apply_schema(connector, BOOK, ["contact", "company"])
        run_sync(settings, "hubspot", BOOK, connector=connector, full=True)
        mutated = d.admin("POST", "mutate", json={"count": 40, "object_type": "contacts"})
        ids = [str(i) for i in mutated["ids"]]
        flaky = OneUnreadable(settings.hubspot())
        flaky.bad = ids[17]
        with d.store() as store:
            store.add_events(
                "hubspot", [webhook(i, rid, propertyName="jobtitle") for i, rid in enumerate(ids)]
            )
            processor = Processor(
                flaky, store, BOOK, policy=InboxPolicy(split_rounds=16, retry_seconds=60)
            )
            report = processor.run_round()
            after = status(store, "hubspot")
        print(f"{report.failed_rounds} failed rounds to isolate the record")
        assert report.events == 40 and report.failed == 1
        assert report.changed_ids["contact"] == set(ids) - {ids[17]}
        assert report.records_written > 0
        assert report.failed_rounds == 1  # the record was named: no halving of the events
        assert after["backing_off"] == 1 and after["processed"] == 39
        # The others' segments are current: a full sync would rewrite none of them, but
        # for colleagues of the failing contact (its change reaches them via the company).
        bad = ids[17]
        colleagues = {
            p
            for c in d.record("contact", bad)["associations"].get("companies", [])
            for p in d.record("company", c)["associations"].get("contacts", [])
        }
        writes, _derived = planned(d, stored_statistics=True)
        stale = {i for t, i in writes if t == "contact"} & (set(ids) - {bad} - colleagues)
        assert stale == set(), sorted(stale)


class OneUnwritable(HubSpotConnector):
    """Writes of one record fail with an error the CRM gives no record for (unexpected
    answer): only halving the round's events can tell which events it takes down."""

    bad: str = ""

    def write(
        self, writes: Sequence[FieldWrite], *, id_property: str | None = None
    ) -> list[WriteResult]:
        if any(w.record_id == self.bad for w in writes):
            raise ValueError(f"unexpected batch answer while writing contact {self.bad}")
        return super().write(writes, id_property=id_property)


def test_a_round_failing_for_no_named_record_is_halved_until_the_others_go_through(
    deployment: Deployment,
) -> None:
    d = deployment
    with d.explained():
        d.start_sandbox(contacts=300, companies=40, deals=80)
        settings = d.local_settings()
        connector = build_connector(settings, "hubspot")
        apply_schema(connector, BOOK, ["contact", "company"])
        run_sync(settings, "hubspot", BOOK, connector=connector, full=True)
        mutated = d.admin("POST", "mutate", json={"count": 16, "object_type": "contacts"})
        ids = [str(i) for i in mutated["ids"]]
        flaky = OneUnwritable(settings.hubspot())
        with d.store() as store:
            planned_now, _ = planned(d, stored_statistics=True)
            # A changed contact that the plan writes, alone in its company among the changed.
            flaky.bad = next(i for i in ids if ("contact", i) in planned_now)
            store.add_events(
                "hubspot", [webhook(i, rid, propertyName="jobtitle") for i, rid in enumerate(ids)]
            )
            processor = Processor(
                flaky, store, BOOK, policy=InboxPolicy(split_rounds=16, retry_seconds=60)
            )
            report = processor.run_round()
            after = status(store, "hubspot")
        print(f"{report.failed_rounds} failed rounds, {report.failed} events failed")
        # The failing record's event and those whose round also writes it (colleagues
        # reached through a roll-up) fail; every other event went through.
        assert report.events == 16 and 1 <= report.failed <= 4, report
        assert flaky.bad not in report.changed_ids["contact"]
        # Bounded: at most 8 halvings (16 extra rounds' worth) and the failing leaves.
        assert report.failed_rounds <= 16 + 1
        assert after["backing_off"] == report.failed and after["processed"] == 16 - report.failed
