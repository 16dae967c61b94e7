"""Change events end to end: sandbox CRM -> signed webhooks -> receiver -> processing -> CRM.

1. The loop (receiver on a thread, in-process processing): echoes of segsync's writes
   die out; real changes cost exactly the writes a full sync would make.
2. 10,000 user events delivered with 20 % duplicates, 10 % reordered and 5 % forged
   batches, to a `segsync webhooks serve` process and two Celery workers on PostgreSQL.
3. The same with the Redis under the workers killed 10 s in and back 30 s later.

The sandbox sends an event for every write, segsync's own included, so these tests show
that the loop closes: segsync's write-backs come back as events and die out (dropped as
echoes, or re-segmented to the same values and not written again), and what is left in
the CRM is what a full sync computes. "What a full sync computes" is taken literally:
a full sync's plan (``segsync sync --full --dry-run``) made in this process against the
state store, and a from-scratch one against an empty store.

The sandbox runs in this process, so every API write it applies is logged with the
values it replaced (``WriteLog``): that is how a write of an unchanged value, which the
sandbox otherwise treats as a silent no-op, would show.
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
import uvicorn
from pydantic import SecretStr

from connectors.base import FieldWrite
from connectors.hubspot.connector import HubSpotConnector
from connectors.hubspot.options import HubSpotConfig
from connectors.sandbox import SandboxServer
from tests.deployment import (
    TOKEN,
    ApiWrite,
    Deployment,
    PrivateRedis,
    WriteLog,
    assert_crm_holds,
    free_port,
    planned,
    recompute,
)
from workers.events.processor import InProcessProcessor, status
from workers.receiver.app import create_app
from workers.settings import Settings
from workers.state import InboxEventRow, StateStore
from workers.sync.crm_schema import apply_schema
from workers.sync.outputs import REASON, is_companion
from workers.sync.plan import load_playbook
from workers.sync.runner import build_connector, run_sync

pytestmark = pytest.mark.integration

SECRET = "e2e-app-secret"
REP_TOKEN = "rep-token"  # a sales rep's own integration, writing through the API
LIFECYCLE = "lifecyclestage"
LIFECYCLE_SEGMENT = "segsync_lifecycle"


# --------------------------------------------------------------------------- helpers


class ThreadedReceiver:
    """The receiver app served by uvicorn on a thread of this process."""

    def __init__(self, app: Any, port: int) -> None:
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="receiver", daemon=True)

    def start(self, timeout: float = 10) -> None:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the receiver did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


class Gate:
    """The receiver's nudge, held back while closed: events are stored, not processed.

    Lets a test put a set of changes into the inbox before any round runs, so what one
    round writes can be compared with one full-sync plan made at the same moment.
    """

    def __init__(self, processor: InProcessProcessor) -> None:
        self.processor = processor
        self.is_open = threading.Event()
        self.is_open.set()

    def __call__(self, crm: str) -> None:
        if self.is_open.is_set():
            self.processor.nudge(crm)

    def close(self) -> None:
        self.is_open.clear()

    def open(self) -> None:
        self.is_open.set()
        self.processor.nudge("hubspot")


def wait_quiet(
    d: Deployment,
    depth: Any,
    *,
    processing: bool = True,
    quiet: float = 1.0,
    timeout: float = 120,
) -> None:
    """Until every change the sandbox recorded was delivered and (``processing``) the
    inbox is empty, with nothing new for ``quiet`` seconds.

    The sandbox counts an event as pending from the moment a write changes a record
    (inside the write request), so a round's write-backs are pending before the round
    marks its events done: an empty inbox with nothing pending cannot be a gap between
    a round and the echoes of its writes.
    """
    assert d.sandbox is not None
    last: tuple[int, ...] | None = None
    since = time.monotonic()

    def settled() -> bool:
        nonlocal last, since
        counters = d.sandbox.events.snapshot()  # type: ignore[union-attr]
        waiting = depth()
        state = (counters["changes_recorded"], counters["requests_acked"], waiting)
        idle = counters["pending"] == 0 and (waiting == 0 or not processing)
        if not idle or state != last:
            last, since = state, time.monotonic()
            return False
        return time.monotonic() - since >= quiet

    d.wait_for("the events to be delivered and processed", settled, timeout, interval=0.1)


def without_companions(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if not is_companion(k)}


def recomputation_mismatches(d: Deployment) -> list[str]:
    """Where the CRM differs from a from-scratch recomputation (no written values; the
    same fitted CLV model and clusters, which runs reuse until the weekly refit).

    Compared: every segment, score and value field, and the lifecycle stage (a stage the
    recomputation would still write is one segsync failed to move). Not compared: the
    run-time companions, and reasons, which segsync rewrites only with their segment
    (a reworded reason alone is not worth a write; see ``workers.sync.diff``). The lifecycle
    segment is forward only, and a recomputation knows no history: the CRM may hold a
    later stage than it, never an earlier one.
    """
    book = load_playbook(d.local_settings().playbook)
    model = book.models["lifecycle"]
    stages = [rule.segment for rule in reversed(model.rules)]
    rank = {segment: i for i, segment in enumerate([model.fallback, *stages])}
    problems = []
    for (object_type, record_id), fields in sorted(recompute(d, fitted=True).items()):
        props = d.record(object_type, record_id)["properties"]
        for name, value in fields.items():
            held = props.get(name) or ""
            if name.endswith(REASON) or held == (value or ""):
                continue
            if name == LIFECYCLE_SEGMENT and rank.get(held, -1) > rank.get(value or "", -1):
                continue
            problems.append(f"{object_type} {record_id} {name}: CRM {held!r}, recomputed {value!r}")
    return problems


def unchanged_writes(
    log: WriteLog, writes: list[ApiWrite], store: StateStore
) -> tuple[list[str], int]:
    """segsync's writes of a value the record already held, and how many of those were
    races with a user (see below).

    Counted: every property but the run-time companions. Those ride along with a real
    change (every write changes at least one other property): an ``updated_at`` or
    ``entered_at`` equal to the one before means two changes in the same second, an
    empty ``previous`` stays empty when a segment first appears.

    A race, not counted: a CRM-owned field (the lifecycle stage) that a user set to this
    very value after segsync last wrote it, while the event saying so still waited in
    the inbox (processed only after the write): segsync planned on the record as it was
    before the user's change, which no event had told it of yet.
    """
    by_users: dict[tuple[str, str, str], list[tuple[float, Any]]] = {}
    for change in log.others:
        for name, (_, after) in change.values.items():
            key = (change.object_type, change.record_id, name)
            by_users.setdefault(key, []).append((change.at, after))
    processed: dict[tuple[str, str, str], list[float]] | None = None
    own: dict[tuple[str, str, str], float] = {}
    problems: list[str] = []
    races = 0
    for w in writes:
        for name, (before, sent) in w.values.items():
            key = (w.object_type, w.record_id, name)
            if before != sent or is_companion(name):
                own[key] = w.at
                continue
            users = [(at, v) for at, v in by_users.get(key, []) if at <= w.at]
            told = users and users[-1][1] == sent and users[-1][0] > own.get(key, 0.0)
            if told and not name.startswith("segsync_"):
                processed = processed if processed is not None else processed_events(store)
                done = processed.get((w.record_id, name, str(sent)), [])
                if any(at > w.at for at in done):
                    races += 1
                    continue
            problems.append(f"{w.object_type} {w.record_id} {name} = {sent!r} again")
    return problems, races


def processed_events(store: StateStore) -> dict[tuple[str, str, str], list[float]]:
    """When each property-change event was processed: (record id, property, value) ->
    epoch seconds."""
    query = sa.select(InboxEventRow.payload, InboxEventRow.processed_at).where(
        InboxEventRow.crm == "hubspot", InboxEventRow.processed_at.is_not(None)
    )
    out: dict[tuple[str, str, str], list[float]] = {}
    with store.engine.connect() as conn:
        for payload, at in conn.execute(query):
            if isinstance(payload, dict) and payload.get("propertyName"):
                key = (
                    str(payload.get("objectId")),
                    str(payload["propertyName"]),
                    str(payload.get("propertyValue")),
                )
                out.setdefault(key, []).append(at.timestamp())
    return out


# --------------------------------------------------------------------------- 1. the loop


@dataclass
class Loop:
    """A sandbox sending every change to a receiver that processes events in-process."""

    d: Deployment
    server: SandboxServer
    log: WriteLog
    settings: Settings
    store: StateStore
    gate: Gate

    def counters(self) -> dict[str, Any]:
        return status(self.store, "hubspot")

    def depth(self) -> int:
        return self.store.inbox_depth("hubspot")


@pytest.fixture
def loop(tmp_path: Path) -> Iterator[Loop]:
    d = Deployment(tmp_path, f"sqlite:///{tmp_path / 'state.db'}", "")
    port = free_port()
    server = d.start_sandbox(
        contacts=400,
        companies=60,
        deals=150,
        tokens=(TOKEN, REP_TOKEN),
        webhook_url=f"http://127.0.0.1:{port}/webhooks/hubspot",
        webhook_secret=SECRET,
    )
    log = WriteLog(server)
    settings = d.local_settings(hubspot_app_secret=SecretStr(SECRET))
    store = StateStore(settings.database_url)
    store.migrate()
    gate = Gate(InProcessProcessor(settings, store))
    receiver = ThreadedReceiver(
        create_app(settings, store=store, nudge=gate, sweep_seconds=0.5), port
    )
    receiver.start()
    try:
        yield Loop(d, server, log, settings, store, gate)
    finally:
        receiver.stop()
        d.close()
        store.close()


def test_echoes_die_out_and_only_records_whose_segments_changed_are_written(loop: Loop) -> None:
    d, log = loop.d, loop.log
    book = load_playbook(loop.settings.playbook)
    connector = build_connector(loop.settings, "hubspot")
    apply_schema(connector, book, ["contact", "company"])

    # A full sync: 460 records written, each write an event per changed property.
    first = run_sync(loop.settings, "hubspot", book, connector=connector, full=True)
    assert first.records_written == 460
    wait_quiet(d, loop.depth)
    after_sync = loop.counters()
    assert after_sync["received"] > 460 and after_sync["echoes"] > 0
    assert after_sync["processed"] + after_sync["echoes"] == after_sync["received"]
    # ... and they died out: the receiver processed them all and wrote nothing.
    assert after_sync["records_written"] == 0
    assert len(log.segsync_since(0)) == first.records_written
    nothing, _ = planned(d, stored_statistics=True)
    assert nothing == {}, f"a full sync would still write {len(nothing)} records"

    # Real changes, held in the inbox until all of them are there: users editing
    # contacts, companies and deals, and a rep's integration setting job titles, one
    # to the value it already had (no change: no event) and one field segsync never
    # reads (an event, but nothing to re-segment).
    mark = log.mark()
    loop.gate.close()
    mutated = {
        object_type: d.admin("POST", "mutate", json={"count": n, "object_type": object_type})
        for object_type, n in (("contacts", 30), ("companies", 5), ("deals", 10))
    }
    touched = {str(i) for i in mutated["contacts"]["ids"]}
    rep = HubSpotConnector(HubSpotConfig(base_url=d.url, token=SecretStr(REP_TOKEN)))
    others = [
        str(r.id)
        for batch in rep.read_all("contact", ["jobtitle"])
        for r in batch.records
        if str(r.id) not in touched
    ][:7]
    current = d.record("contact", others[5])["properties"].get("jobtitle") or ""
    rep.write(
        [
            *(
                FieldWrite("contact", rid, {"jobtitle": title})
                for rid, title in zip(
                    others[:5],
                    (
                        "Chief Financial Officer",
                        "Software Engineer",
                        "VP of Sales",
                        "Marketing Coordinator",
                        "Head of IT",
                    ),
                    strict=True,
                )
            ),
            FieldWrite("contact", others[5], {"jobtitle": current}),
            FieldWrite("contact", others[6], {"firstname": "Renamed"}),
        ]
    )
    wait_quiet(d, loop.depth, processing=False)
    before = loop.counters()
    waiting = loop.depth()
    assert waiting == before["received"] - after_sync["received"] > 45

    # What a full sync would write now, against the same state store: the records whose
    # segment-relevant values changed (and the CLI's dry run agrees on how many).
    expected, _derived = planned(d)
    assert 0 < len(expected) < 460
    dry_run = d.segsync_json("sync", "--crm", "hubspot", "--full", "--dry-run")
    assert dry_run["records_to_write"] == len(expected)

    loop.gate.open()
    wait_quiet(d, loop.depth)
    after = loop.counters()
    writes = log.segsync_since(mark)
    # Exactly those records were written, once each, with exactly the planned fields ...
    per_record = Counter((w.object_type, w.record_id) for w in writes)
    assert set(per_record) == set(expected), (
        f"written but not planned: {sorted(set(per_record) - set(expected))[:5]}; "
        f"planned but not written: {sorted(set(expected) - set(per_record))[:5]}"
    )
    assert max(per_record.values()) == 1, per_record.most_common(3)
    for w in writes:
        assert set(w.values) == set(expected[(w.object_type, w.record_id)]), w
    assert_crm_holds(
        d, {key: without_companions(fields) for key, fields in expected.items()}, written_once=False
    )
    # ... none of them with a value the record already held ...
    redundant, races = unchanged_writes(log, writes, loop.store)
    assert redundant == [] and races == 0
    # ... and their echoes (one event per property they changed) were all dropped: those
    # of segsync's own properties by the receiver, lifecycle stages by the processing.
    echoes = echo_events(writes)
    own = own_echo_events(writes)
    assert after["records_written"] - before["records_written"] == len(expected)
    assert after["received"] - before["received"] == echoes
    assert after["echoes"] - before["echoes"] == own
    assert after["dropped_own"] - before["dropped_own"] == echoes - own
    assert after["processed"] - before["processed"] == waiting + echoes - own
    assert loop.depth() == 0
    # Nothing is left for a full sync, and the CRM holds what a from-scratch run computes.
    left, _ = planned(d, stored_statistics=True)
    assert left == {}, f"a full sync would still write {len(left)} records"
    problems = recomputation_mismatches(d)
    assert not problems, f"{len(problems)} differences, first ones:\n" + "\n".join(problems[:10])
    delivery = d.sandbox.events.snapshot() if d.sandbox else {}
    assert delivery["events_failed"] == delivery["events_dropped"] == 0
    print(
        f"full sync: {first.records_written} records, {after_sync['received']} echo events "
        f"dropped; {waiting} change events -> {len(expected)} records written "
        f"({echoes} fields), whose {echoes} echoes were dropped"
    )


# --------------------------------------------------------------------------- 2-3. the storm

STORM_EVENTS = 10_000
STORM_CONTACTS = 1000  # each changed ~5 times in the storm
STORM_FAULTS = {"duplicate": 0.2, "reorder": 0.1, "forged": 0.05}
# One mutate round: this many records of each type changed by simulated users (~15 events).
STORM_MIX = (("contacts", 8), ("companies", 1), ("deals", 2))
OUTAGE_SECONDS = 30
OUTAGE_AFTER_SECONDS = 10  # into a storm of ~45 s: changes go on arriving all through it


def echo_events(writes: list[Any]) -> int:
    """Events segsync's own writes caused: one per property a write really changed."""
    return sum(1 for w in writes for before, sent in w.values.values() if before != sent)


def own_echo_events(writes: list[Any]) -> int:
    """Those of them about segsync's own properties (the receiver drops these unstored)."""
    return sum(
        1
        for w in writes
        for name, (before, sent) in w.values.items()
        if before != sent and name.startswith("segsync_")
    )


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
