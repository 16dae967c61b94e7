"""Event processing in-process against the sandbox: changes reach the CRM, echoes die out."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connectors.base import FieldWrite
from tests.harness import Harness, hubspot_harness
from workers.events.processor import Processor, poll_changes, status
from workers.settings import Settings
from workers.state import StateStore
from workers.sync.crm_schema import apply_schema
from workers.sync.plan import load_playbook
from workers.sync.runner import run_sync

pytestmark = pytest.mark.integration
BOOK = load_playbook("b2b_saas")


@pytest.fixture
def synced(tmp_path: Path) -> Iterator[tuple[Harness, StateStore, Settings]]:
    harness = hubspot_harness(contacts=400, companies=60, deals=150)
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'state.db'}", redis_url=None)
    connector = harness.build()
    apply_schema(connector, BOOK, ["contact", "company"])
    run_sync(settings, "hubspot", BOOK, connector=connector, full=True)
    with StateStore(settings.database_url) as store:
        yield harness, store, settings
    harness.server.stop()


def webhook(
    n: int, object_id: str, prop: str, value: str | None, object_type: str = "contact"
) -> tuple[str, dict[str, Any]]:
    event = {
        "eventId": n,
        "subscriptionId": 1,
        "occurredAt": 1_700_000_000_000 + n,
        "subscriptionType": f"{object_type}.propertyChange",
        "objectId": int(object_id),
        "propertyName": prop,
        "propertyValue": value,
    }
    return f"1:{n}:{event['occurredAt']}", event


def test_changes_are_resegmented_and_only_what_moved_is_written(
    synced: tuple[Harness, StateStore, Settings],
) -> None:
    harness, store, settings = synced
    mutated = harness.admin("POST", "mutate", json={"count": 40, "object_type": "contacts"})
    ids = [str(i) for i in mutated["ids"]]
    store.add_events("hubspot", [webhook(i, rid, "jobtitle", "x") for i, rid in enumerate(ids)])
    before = harness.admin("GET", "stats")["records_written"]
    processor = Processor(harness.build(), store, BOOK)
    report = processor.run_round()
    assert report.events == 40 and report.records_changed == 40
    assert 0 < report.records_written <= report.records_changed + 60 * 20
    assert harness.admin("GET", "stats")["records_written"] == before + report.records_written
    assert store.inbox_depth("hubspot") == 0
    # What the event path wrote is what a full sync computes: nothing is left to write.
    again = run_sync(settings, "hubspot", BOOK, connector=harness.build(), full=True, dry_run=True)
    assert again.records_to_write == 0, again.sample


def test_echoes_of_our_own_writes_and_repeats_cost_nothing(
    synced: tuple[Harness, StateStore, Settings],
) -> None:
    harness, store, _settings = synced
    first = next(iter(harness.build().read_all("contact", [])))
    written = store.last_written("hubspot", "contact", [r.id for r in first.records[:3]])
    assert len(written) == 3
    events = []
    n = 0
    for record_id, fields in written.items():
        for name, value in fields.items():
            n += 1
            events.append(webhook(n, record_id, name, value))
    store.add_events("hubspot", events)
    connector = harness.build()
    processor = Processor(connector, store, BOOK)
    report = processor.run_round()
    assert report.events == n and report.dropped_own == n
    assert report.records_written == 0 and report.api_calls == 0
    # The same real change three times: processed once, written at most once.
    some = next(iter(written))
    store.add_events("hubspot", [webhook(1000 + i, some, "jobtitle", "CEO") for i in range(3)])
    report = processor.run_round()
    assert report.dropped_repeat == 2 and report.records_changed == 1
    counts = status(store, "hubspot")
    assert counts["dropped_own"] == n and counts["dropped_repeat"] == 2


def test_a_record_reached_through_its_company_is_planned_on_its_current_data(
    synced: tuple[Harness, StateStore, Settings],
) -> None:
    """A contact logs an activity (a read-only property: HubSpot sends no event for it),
    then a user edits the contact's company. The round re-segments the company's people
    for the company's change; what it writes to the contact must be computed from the
    contact as the CRM holds it now, not from the worker's copy read before the activity
    (that wrote the new company segments next to a stale "dormant")."""
    harness, store, settings = synced
    connector = harness.build()
    contacts = [r for b in connector.read_all("contact", ["jobtitle"]) for r in b.records]
    written = store.last_written("hubspot", "contact", [r.id for r in contacts])
    contact = next(
        r
        for r in contacts
        if r.associations.get("company")
        and written[r.id].get("segsync_behavioral") == "dormant"
        and written[r.id].get("segsync_firmographic") != "enterprise"
    )
    company = contact.associations["company"][0]
    elsewhere = next(r for r in contacts if r.associations.get("company", [company]) != [company])
    # The worker processed a change before: its copy of the population was read then.
    processor = Processor(connector, store, BOOK)
    store.add_events("hubspot", [webhook(1, elsewhere.id, "jobtitle", "CEO")])
    processor.run_round()

    table = harness.server.state.store.table("contact")
    now_ms = int(time.time() * 1000)
    table.update(table.row(contact.id), {"notes_last_updated": now_ms}, now_ms, via_api=False)
    connector.write([FieldWrite("company", company, {"numberofemployees": "5000"})])
    store.add_events("hubspot", [webhook(2, company, "numberofemployees", "5000", "company")])
    processor.run_round()

    held = harness.record("contact", contact.id)["properties"]
    assert held["segsync_firmographic"] == "enterprise"  # the company's change reached it
    assert held["segsync_behavioral"] in ("active", "engaged"), held["segsync_behavioral_reason"]
    again = run_sync(settings, "hubspot", BOOK, connector=harness.build(), full=True, dry_run=True)
    assert again.records_to_write == 0, again.sample


def test_the_fallback_poll_turns_missed_changes_into_events(
    synced: tuple[Harness, StateStore, Settings],
) -> None:
    harness, store, _settings = synced
    connector = harness.build()
    assert poll_changes(connector, store) == 0  # first call only places the cursors
    mutated = harness.admin("POST", "mutate", json={"count": 15, "object_type": "contacts"})
    assert poll_changes(connector, store) >= 15
    assert poll_changes(connector, store) == 0  # the same changes are not added twice
    report = Processor(connector, store, BOOK).run_round()
    assert {str(i) for i in mutated["ids"]} <= report.changed_ids["contact"]
    assert store.inbox_depth("hubspot") == 0


def test_a_deletion_event_leaves_nothing_about_the_record_behind(
    synced: tuple[Harness, StateStore, Settings],
) -> None:
    harness, store, _settings = synced
    page = next(iter(harness.build().read_all("contact", [])))
    gone = page.records[0].id
    assert store.last_written("hubspot", "contact", [gone])
    harness.admin("POST", "delete", json={"object_type": "contacts", "ids": [gone]})
    event = {
        "eventId": 1,
        "subscriptionId": 2,
        "occurredAt": 1_700_000_000_001,
        "subscriptionType": "contact.privacyDeletion",
        "objectId": int(gone),
    }
    store.add_events("hubspot", [("2:1:1700000000001", event)])
    report = Processor(harness.build(), store, BOOK).run_round()
    assert report.deleted_ids == {"contact": {gone}}
    assert store.last_written("hubspot", "contact", [gone]) == {}
