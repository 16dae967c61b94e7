"""Change events end to end: sandbox CRM -> signed webhooks -> receiver -> processing -> CRM.

The loop (receiver on a thread, in-process processing): echoes of segsync's writes die out;
real changes cost exactly the writes a full sync would make. The sandbox sends an event for
every write, segsync's own included, so this shows that the loop closes: segsync's write-backs
come back as events and die out (dropped as echoes, or re-segmented to the same values and not
written again). The sandbox runs in this process, so every API write it applies is logged with
the values it replaced (``WriteLog``): a write of an unchanged value would show.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from connectors.base import FieldWrite
from connectors.hubspot.connector import HubSpotConnector
from connectors.hubspot.options import HubSpotConfig
from connectors.sandbox import SandboxServer
from tests.checks import assert_crm_holds, planned
from tests.deployment import TOKEN, Deployment
from tests.instruments import WriteLog, free_port
from tests.workers.events.live import (
    REP_TOKEN,
    SECRET,
    Gate,
    ThreadedReceiver,
    echo_events,
    own_echo_events,
    recomputation_mismatches,
    unchanged_writes,
    wait_quiet,
    without_companions,
)
from workers.events.processor import InProcessProcessor, status
from workers.receiver.app import create_app
from workers.settings import Settings
from workers.state import StateStore
from workers.sync.crm_schema import apply_schema
from workers.sync.plan import load_playbook
from workers.sync.runner import build_connector, run_sync

pytestmark = pytest.mark.integration


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
