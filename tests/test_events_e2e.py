"""Change events end to end: sandbox CRM -> signed webhooks -> receiver -> processing -> CRM.

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
import uvicorn
from pydantic import SecretStr

from connectors.base import FieldWrite
from connectors.hubspot import HubSpotConfig, HubSpotConnector
from connectors.sandbox import SandboxServer
from tests.deployment import (
    TOKEN,
    Deployment,
    WriteLog,
    assert_crm_holds,
    free_port,
    planned,
    recompute,
)
from workers.events import InProcessProcessor, status
from workers.outputs import REASON, is_companion
from workers.runner import build_connector, run_sync
from workers.settings import Settings
from workers.state import StateStore
from workers.sync import apply_schema, load_playbook
from workers.webhooks import create_app

pytestmark = pytest.mark.integration

SECRET = "e2e-app-secret"
REP_TOKEN = "rep-token"  # a sales rep's own integration, writing through the API
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
    (a reworded reason alone is not worth a write; see ``workers.diff``). The lifecycle
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


def unchanged_writes(writes: list[Any]) -> list[str]:
    return [
        f"{w.object_type} {w.record_id}: {', '.join(w.unchanged())}"
        for w in writes
        if w.unchanged()
    ]


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
    assert after_sync["received"] > 460 and after_sync["processed"] == after_sync["received"]
    assert after_sync["dropped_own"] > 0
    # ... and they died out: the receiver processed them all and wrote nothing.
    assert after_sync["records_written"] == 0
    assert len(log.segsync_since(0)) == first.records_written
    nothing, _ = planned(d)
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
    assert unchanged_writes(writes) == []
    # ... and their echoes (one event per property they changed) were all dropped.
    echoes = sum(len(w.values) for w in writes)
    assert after["records_written"] - before["records_written"] == len(expected)
    assert after["dropped_own"] - before["dropped_own"] == echoes
    assert after["processed"] - before["processed"] == waiting + echoes
    assert after["received"] - before["received"] == echoes
    assert loop.depth() == 0
    # Nothing is left for a full sync, and the CRM holds what a from-scratch run computes.
    left, _ = planned(d)
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
