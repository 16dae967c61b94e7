"""Salesforce campaigns per segment, against the Salesforce sandbox: members equal the
segment after a full sync, nothing written the second time, and after 100 contact
changes exactly the people whose segment moved leave one campaign and join another."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from segmentation.playbook import Playbook, parse_playbook
from tests.harness import Harness, salesforce_harness
from workers.activation.run import activate
from workers.offline import playbook_source
from workers.settings import Settings
from workers.state import StateStore
from workers.sync.crm_schema import apply_schema
from workers.sync.plan import load_playbook
from workers.sync.runner import run_sync

pytestmark = pytest.mark.integration
# Syncs that should not activate anything themselves run the playbook unmarked.
PLAIN = load_playbook("b2b_saas")

FIELD = "Segsync_Demographic__c"


def book() -> Playbook:
    """The b2b playbook with the demographic model marked ``activate: [campaigns]``."""
    _, text = playbook_source("b2b_saas")
    text = text.replace("\n  demographic:\n", "\n  demographic:\n    activate: [campaigns]\n", 1)
    return parse_playbook(text, source="b2b_saas.yaml")


@pytest.fixture
def synced(tmp_path: Path) -> Iterator[tuple[Harness, Settings, StateStore]]:
    harness = salesforce_harness(contacts=300, companies=50, deals=100)
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'state.db'}", redis_url=None)
    connector = harness.build()
    apply_schema(connector, book(), ["contact", "lead", "company"])
    run_sync(settings, "salesforce", PLAIN, connector=connector, full=True)
    with StateStore(settings.database_url) as store:
        yield harness, settings, store
    harness.server.stop()


def mutate_contacts(harness: Harness, count: int = 100) -> None:
    """Simulated edits, a whole second past the last sync's cursor (Salesforce's
    modification stamps have whole seconds, and these tests read with no lag)."""
    time.sleep(1.02 - time.time() % 1)
    harness.admin("POST", "mutate", json={"count": count, "object_type": "contacts"})


def segments_in_crm(harness: Harness) -> dict[tuple[str, str], str]:
    """(object type, id) -> the demographic segment the org holds, contacts and leads."""
    data = harness.server.dialect.data  # type: ignore[attr-defined]
    out = {}
    for object_type, name in (("contact", "Contact"), ("lead", "Lead")):
        obj = data.objects[name]
        table = data.table(obj)
        for row in range(len(table)):
            value = table.get(row, FIELD)
            converted = name == "Lead" and table.get(row, "IsConverted")
            if value and not table.archived[row] and not converted:
                out[(object_type, data.record_id(obj, table.ids[row]))] = str(value)
    return out


def members_in_crm(harness: Harness) -> dict[str, set[tuple[str, str]]]:
    """Campaign name -> its members (object type, id), as the org holds them."""
    data = harness.server.dialect.data  # type: ignore[attr-defined]
    campaigns, members = data.objects["Campaign"], data.objects["CampaignMember"]
    names = {
        data.record_id(campaigns, data.table(campaigns).ids[r]): data.table(campaigns).get(
            r, "Name"
        )
        for r in range(len(data.table(campaigns)))
        if not data.table(campaigns).archived[r]
    }
    table = data.table(members)
    out: dict[str, set[tuple[str, str]]] = {name: set() for name in names.values()}
    for r in range(len(table)):
        if table.archived[r]:
            continue
        person = (
            ("contact", table.get(r, "ContactId"))
            if table.get(r, "ContactId")
            else ("lead", table.get(r, "LeadId"))
        )
        out[names[table.get(r, "CampaignId")]].add(person)
    return out


def expected_members(harness: Harness) -> dict[str, set[tuple[str, str]]]:
    spec = book().models["demographic"]
    out: dict[str, set[tuple[str, str]]] = {
        f"segsync · demographic · {s}": set()
        for s in [rule.segment for rule in spec.rules] + [spec.fallback]
    }
    for person, segment in segments_in_crm(harness).items():
        out[f"segsync · demographic · {segment}"].add(person)
    return out


def test_members_equal_the_segments_and_a_second_run_writes_nothing(
    synced: tuple[Harness, Settings, StateStore],
) -> None:
    harness, _, store = synced
    first = activate(harness.build(), store, book())
    assert first["counts"]["create"] == 6 and first["rejected"] == []
    assert members_in_crm(harness) == expected_members(harness)
    assert first["members_added"] == len(segments_in_crm(harness)) > 0
    # Statuses as a new campaign has them; members got the default one.
    data = harness.server.dialect.data  # type: ignore[attr-defined]
    statuses = data.table(data.objects["CampaignMember"])
    assert {statuses.get(r, "Status") for r in range(len(statuses))} == {"Sent"}

    second = activate(harness.build(), store, book())
    assert second["writes"] == 0 and second["members_added"] == second["members_removed"] == 0


def test_after_100_contact_changes_exactly_the_moved_people_change_campaign(
    synced: tuple[Harness, Settings, StateStore],
) -> None:
    harness, settings, store = synced
    activate(harness.build(), store, book())
    before = segments_in_crm(harness)
    mutate_contacts(harness)
    run = run_sync(settings, "salesforce", PLAIN, connector=harness.build())
    after = segments_in_crm(harness)
    moved = {p for p in after if p in before and before[p] != after[p]}
    entered = {p for p in after if p not in before}
    assert run.records_written > 0 and moved  # some titles moved a demographic segment
    sent_before = harness.admin("GET", "stats")["requests"]
    report = activate(harness.build(), store, book())
    assert report["rejected"] == []
    assert report["members_removed"] == len(moved)
    assert report["members_added"] == len(moved) + len(entered)
    assert members_in_crm(harness) == expected_members(harness)
    requests = harness.admin("GET", "stats")["requests"]
    writes = {k: v - sent_before.get(k, 0) for k, v in requests.items() if "composite" in k}
    assert sum(writes.values()) <= 2  # one collection call each way at this size


def test_only_the_people_a_run_changed_are_looked_at_when_given(
    synced: tuple[Harness, Settings, StateStore],
) -> None:
    harness, settings, store = synced
    activate(harness.build(), store, book())
    before = segments_in_crm(harness)
    mutate_contacts(harness)
    run_sync(settings, "salesforce", PLAIN, connector=harness.build())
    after = segments_in_crm(harness)
    moved = {p for p in after if p in before and before[p] != after[p]}
    changed = {"contact": {rid for kind, rid in moved if kind == "contact"}}
    report = activate(harness.build(), store, book(), people=changed)
    assert report["members_removed"] == report["members_added"] == len(changed["contact"])
    assert members_in_crm(harness) == expected_members(harness)


def test_a_scheduled_incremental_run_moves_the_members_itself(
    synced: tuple[Harness, Settings, StateStore],
) -> None:
    harness, settings, store = synced
    activate(harness.build(), store, book())
    before = segments_in_crm(harness)
    mutate_contacts(harness)
    run = run_sync(settings, "salesforce", book(), connector=harness.build())
    after = segments_in_crm(harness)
    moved = {p for p in after if p in before and before[p] != after[p]}
    assert run.activation is not None and run.activation["rejected"] == []
    assert run.activation["members_removed"] == len(moved) > 0
    assert members_in_crm(harness) == expected_members(harness)
    quiet = run_sync(settings, "salesforce", book(), connector=harness.build())
    assert quiet.activation is None  # nothing written, nothing to move


def test_above_the_bulk_threshold_members_go_as_bulk_jobs_and_duplicates_are_adopted(
    synced: tuple[Harness, Settings, StateStore],
) -> None:
    harness, _, store = synced
    connector = harness.build(bulk_threshold=20)
    first = activate(connector, store, book())
    jobs = connector.bulk_jobs  # type: ignore[attr-defined]
    assert len(jobs) == 1 and jobs[0].state == "JobComplete" and jobs[0].failed == 0
    assert first["members_added"] == jobs[0].processed == len(segments_in_crm(harness))
    assert members_in_crm(harness) == expected_members(harness)
    # Records lost (a crash before they were recorded): the next run meets them as
    # DUPLICATE_VALUE rows of its job and adopts them; nothing is duplicated.
    recorded = store.campaign_members(
        "salesforce", [a.remote_id for a in store.activations("salesforce", "campaign")]
    )
    store.remove_campaign_members("salesforce", [m.member_id for m in recorded[:30]])
    again = activate(harness.build(bulk_threshold=20), store, book())
    assert again["rejected"] == [] and again["members_added"] == 30
    assert members_in_crm(harness) == expected_members(harness)
    assert {
        m.member_id
        for m in store.campaign_members(
            "salesforce", [a.remote_id for a in store.activations("salesforce", "campaign")]
        )
    } == {m.member_id for m in recorded}


def test_people_written_between_runs_are_moved_by_the_next_run(
    synced: tuple[Harness, Settings, StateStore],
) -> None:
    """Writes that did not activate (an event round's, here a run of the plain playbook)
    are the next scheduled run's to move, though that run itself writes nothing."""
    harness, settings, store = synced
    activate(harness.build(), store, book())
    before = segments_in_crm(harness)
    mutate_contacts(harness)
    run_sync(settings, "salesforce", PLAIN, connector=harness.build())
    moved = {p for p, s in segments_in_crm(harness).items() if p in before and before[p] != s}
    assert moved and members_in_crm(harness) != expected_members(harness)
    run = run_sync(settings, "salesforce", book(), connector=harness.build())
    assert run.records_written == 0
    assert run.activation is not None and run.activation["members_removed"] == len(moved)
    assert members_in_crm(harness) == expected_members(harness)
