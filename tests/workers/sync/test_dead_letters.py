"""Dead letters are re-planned from current data, permanent ones wait for a change, and
isolating the bad rows of a refused HubSpot batch keeps to its call allowance (issue 12)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.base import Connector, FieldWrite
from tests.harness import Harness, hubspot_harness, salesforce_harness
from workers.settings import Settings
from workers.state import StateStore
from workers.sync.crm_schema import apply_schema
from workers.sync.plan import load_playbook
from workers.sync.runner import retry_dead_letters, run_sync

pytestmark = pytest.mark.integration
BOOK = load_playbook("b2b_saas")
DEMOGRAPHIC = "segsync_demographic"


def _settings(tmp_path: Path) -> Settings:
    return Settings(database_url=f"sqlite:///{tmp_path / 'state.db'}", redis_url=None)


@pytest.fixture
def hubspot() -> Iterator[Harness]:
    harness = hubspot_harness(contacts=400, companies=60, deals=150)
    yield harness
    harness.server.stop()


def _ready(harness: Harness) -> Connector:
    connector = harness.build()
    apply_schema(connector, BOOK, ["contact", "company"])
    return connector


def _contact_ids(connector: Connector) -> list[str]:
    return [r.id for b in connector.read_all("contact", []) for r in b.records]


def _set_titles(connector: Connector, ids: list[str], title: str) -> None:
    results = connector.write([FieldWrite("contact", i, {"jobtitle": title}) for i in ids])
    assert all(r.ok for r in results)


def _write_calls(harness: Harness) -> int:
    """Batch update calls the sandbox answered (any status)."""
    stats = harness.admin("GET", "stats")
    return sum(
        n for route, n in stats["requests"].items() if "batch/update" in route or "PATCH" in route
    )


def test_a_retry_writes_the_current_segment_and_closes_the_stale_letter_as_superseded(
    hubspot: Harness, tmp_path: Path
) -> None:
    settings = _settings(tmp_path)
    connector = _ready(hubspot)
    ids = _contact_ids(connector)[:120]
    _set_titles(connector, ids, "Marketing Manager")
    run_sync(settings, "hubspot", BOOK, connector=connector, full=True)
    assert hubspot.record("contact", ids[0])["properties"][DEMOGRAPHIC] == "manager"

    # The titles move to CEO while the CRM refuses writes to some records.
    _set_titles(connector, ids, "Chief Executive Officer")
    hubspot.admin("POST", "faults", data="reject=0.3")
    refused = run_sync(settings, "hubspot", BOOK, connector=connector, full=True)
    assert refused.dead_lettered > 0
    with StateStore(settings.database_url) as store:
        letters = [d for d in store.list_dead_letters("hubspot") if d.object_type == "contact"]
    stale = [d for d in letters if d.fields.get(DEMOGRAPHIC) == "executive"]
    assert stale, "some CEO writes were refused"

    # The fault clears and the titles go back to VP Sales before the hourly retry.
    hubspot.admin("POST", "faults", data="0")
    _set_titles(connector, [d.record_id for d in stale], "VP Sales")
    summary = retry_dead_letters(settings, connector)

    for letter in stale:
        held = hubspot.record("contact", letter.record_id)["properties"]
        assert held[DEMOGRAPHIC] == "vice_president", letter.record_id
    assert summary["superseded"] >= len(stale)
    with StateStore(settings.database_url) as store:
        closed = {d.id: d for d in store.list_dead_letters("hubspot", include_resolved=True)}
        assert all(closed[d.id].resolution == "superseded" for d in stale)
        assert store.list_dead_letters("hubspot") == []
        written = store.last_written("hubspot", "contact", [d.record_id for d in stale])
    assert {f[DEMOGRAPHIC] for f in written.values()} == {"vice_president"}


def test_a_letter_whose_record_is_gone_is_counted_and_forgotten(
    hubspot: Harness, tmp_path: Path
) -> None:
    """Deleted in the CRM: the retry says so, and keeps nothing about the record."""
    settings = _settings(tmp_path)
    connector = _ready(hubspot)
    hubspot.admin("POST", "faults", data="reject=0.1")
    run_sync(settings, "hubspot", BOOK, connector=connector, full=True)
    with StateStore(settings.database_url) as store:
        victim = next(d for d in store.list_dead_letters("hubspot") if d.object_type == "contact")
    hubspot.admin("POST", "delete", json={"object_type": "contacts", "ids": [victim.record_id]})
    summary = retry_dead_letters(settings, connector)
    assert summary["gone"] == 1
    with StateStore(settings.database_url) as store:
        letters = store.list_dead_letters("hubspot", True)
        assert [d for d in letters if d.record_id == victim.record_id] == []
        assert store.last_written("hubspot", "contact", [victim.record_id]) == {}


def test_permanent_rejections_are_not_sent_again_until_the_record_changes(
    hubspot: Harness, tmp_path: Path
) -> None:
    settings = _settings(tmp_path)
    connector = _ready(hubspot)
    hubspot.admin("POST", "faults", data="reject=0.03")
    run_sync(settings, "hubspot", BOOK, connector=connector, full=True)
    # Rows the call allowance left unisolated are isolated by the next retries.
    for _ in range(8):
        summary = retry_dead_letters(settings, connector)
        if summary.get("deferred", 0) == 0:
            break

    before = _write_calls(hubspot)
    again = retry_dead_letters(settings, connector)
    assert _write_calls(hubspot) == before  # no re-isolation, no replay
    with StateStore(settings.database_url) as store:
        letters = store.list_dead_letters("hubspot")
    assert letters and {d.kind for d in letters} == {"permanent"}
    assert again["skipped_permanent"] == len(letters) and again["write_calls"] == 0
    # A scheduled sync does not send the refused values again either.
    rerun = run_sync(settings, "hubspot", BOOK, connector=connector, full=True)
    assert _write_calls(hubspot) == before and rerun.held == len(letters)

    # The record changes: its letter is due again (and, fault cleared, lands).
    hubspot.admin("POST", "faults", data="0")
    changed = next(d for d in letters if d.object_type == "contact")
    _set_titles(connector, [changed.record_id], "Head of Data")
    after = retry_dead_letters(settings, connector)
    assert after["skipped_permanent"] == len(letters) - 1
    assert after["landed"] + after["superseded"] == 1
    # --force sends the rest although nothing changed.
    forced = retry_dead_letters(settings, connector, force=True)
    # (the changed record's write may also land a letter of a record it rolls up into)
    assert forced["retried"] == after["still_failing"] >= len(letters) - 2
    assert forced["still_failing"] == 0
    assert forced["landed"] + forced["superseded"] == forced["retried"] and forced["landed"] > 0


def test_isolating_rejected_rows_costs_at_most_the_clean_calls_again(
    hubspot: Harness,
) -> None:
    connector = _ready(hubspot)
    ids = _contact_ids(connector)
    name = connector.field_name("rfm_score")
    clean_calls = -(-len(ids) // 100)
    hubspot.admin("POST", "faults", data="reject=0.01")
    before = connector.usage().calls_made
    results = connector.write([FieldWrite("contact", i, {name: "555"}) for i in ids])
    calls = connector.usage().calls_made - before

    assert calls <= 2 * clean_calls
    assert len(results) == len(ids)
    landed = sum(r.ok for r in results)
    assert landed >= len(ids) * 0.5
    unresolved = {r.status for r in results if not r.ok}
    assert unresolved <= {"rejected", "deferred"}


def test_salesforce_collections_are_never_bisected() -> None:
    harness = salesforce_harness(contacts=250, companies=20, deals=20)
    try:
        connector = harness.build()
        ids = [r.id for b in connector.read_all("contact", []) for r in b.records]
        harness.admin("POST", "faults", data="reject=0.05")
        before = connector.usage().calls_made
        results = connector.write([FieldWrite("contact", i, {"Title": "VP Sales"}) for i in ids])
        calls = connector.usage().calls_made - before
    finally:
        harness.server.stop()
    assert calls == -(-len(ids) // 200)  # one sObject Collections call per 200 records
    assert 0 < sum(not r.ok for r in results) < len(ids)
