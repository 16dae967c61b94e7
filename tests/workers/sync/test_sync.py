"""The sync pipeline in-process against the sandbox CRM: diff-based write-back end to end."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from connectors.base import Connector
from tests.harness import Harness, hubspot_harness, salesforce_harness
from workers.cli.text import format_report
from workers.settings import Settings
from workers.state import StateStore
from workers.sync.crm_schema import SchemaMissingError, apply_schema
from workers.sync.outputs import is_companion
from workers.sync.plan import load_playbook
from workers.sync.runner import retry_dead_letters, run_sync

pytestmark = pytest.mark.integration
BOOK = load_playbook("b2b_saas")


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


def test_sync_refuses_to_write_to_missing_fields_and_names_the_command(
    hubspot: Harness, tmp_path: Path
) -> None:
    with pytest.raises(SchemaMissingError, match="segsync schema apply --crm hubspot"):
        run_sync(_settings(tmp_path), "hubspot", BOOK, connector=hubspot.build())
    assert hubspot.admin("GET", "stats")["records_written"] == 0


def test_full_sync_writes_segments_and_a_second_run_writes_nothing(
    hubspot: Harness, tmp_path: Path
) -> None:
    settings = _settings(tmp_path)
    connector = _ready(hubspot)
    first = run_sync(settings, "hubspot", BOOK, connector=connector, full=True)
    assert first.records_segmented == {"contact": 400, "company": 60}
    assert first.records_written == first.records_to_write > 400
    assert first.rejected == 0
    # What the CRM holds is what the state store says segsync wrote.
    page = next(iter(connector.read_all("contact", [])))
    with StateStore(settings.database_url) as store:
        written = store.last_written("hubspot", "contact", [r.id for r in page.records[:3]])
    assert len(written) == 3
    # The time-stamped companions are derived from that history, not kept in it.
    assert not [n for fields in written.values() for n in fields if is_companion(n)]
    for record_id, fields in written.items():
        crm_values = hubspot.record("contact", record_id)["properties"]
        for name, value in fields.items():
            assert (crm_values.get(name) or "") == (value or ""), (record_id, name)
        assert crm_values["segsync_updated_at"]
    before = hubspot.admin("GET", "stats")["records_written"]
    again = run_sync(settings, "hubspot", BOOK, connector=connector)
    full_again = run_sync(settings, "hubspot", BOOK, connector=connector, full=True)
    assert again.records_to_write == full_again.records_to_write == 0
    assert hubspot.admin("GET", "stats")["records_written"] == before


def test_incremental_sync_rewrites_only_what_the_changes_reach(
    hubspot: Harness, tmp_path: Path
) -> None:
    settings = _settings(tmp_path)
    connector = _ready(hubspot)
    run_sync(settings, "hubspot", BOOK, connector=connector, full=True)
    mutated = hubspot.admin("POST", "mutate", json={"count": 100, "object_type": "contact"})
    changed_ids = {str(i) for i in mutated.get("ids", [])}
    report = run_sync(settings, "hubspot", BOOK, connector=connector)
    assert report.mode == "incremental"
    assert 0 < report.records_written <= report.records_to_write
    assert report.fields_written > 0 and report.fields_unchanged > 0
    with StateStore(settings.database_url) as store:
        runs = store.list_runs(limit=1)
    assert runs[0].counts["written"] == report.records_written
    if changed_ids:
        # Each written contact changed, or shares a company with one that did.
        assert report.records_written <= 100 + report.records_segmented["company"] * 20


def test_incremental_summary_says_what_changed_what_was_read_and_why(
    hubspot: Harness, tmp_path: Path
) -> None:
    """The 100 edits are told apart from segsync's own writes of the full sync (which the
    CRM lists as changes too), and only what changed is read."""
    settings = _settings(tmp_path)
    connector = _ready(hubspot)
    full = run_sync(settings, "hubspot", BOOK, connector=connector, full=True)
    assert full.records_changed is None and full.population_read
    assert full.records_compared == {"contact": 400, "company": 60}
    mutated = hubspot.admin("POST", "mutate", json={"count": 100, "object_type": "contact"})
    edited = len(set(mutated["ids"]))
    report = run_sync(settings, "hubspot", BOOK, connector=connector)
    assert report.records_changed is not None and report.records_changed_by_segsync is not None
    # Every record was written by the full sync; the edited ones changed after that.
    assert report.records_changed == {"contact": 400, "company": 60, "deal": 0}
    assert report.records_changed_by_segsync == {"contact": 400 - edited, "company": 60, "deal": 0}
    # Only what the CRM lists as changed is read: no deal, no second pass over everything.
    assert report.records_pulled == {"contact": 400, "company": 60, "deal": 0}
    assert not report.population_read and report.change_lag_seconds == 0.0
    assert edited <= report.records_compared["contact"] <= 400
    text = " ".join(format_report(report.as_dict()).split())
    assert (
        f"changed in HubSpot since the last sync: {edited} contacts, 0 companies, 0 deals; "
        f"and {400 - edited + 60} records whose change touched nothing segsync reads"
    ) in text
    assert "read: 400 contacts, 60 companies, 0 deals: only what changed" in text
    assert f"written: {report.records_written} records / " in text
    assert "None" not in text
    payload = json.loads(json.dumps(report.as_dict()))
    for key in ("records_changed", "records_changed_by_segsync", "records_compared"):
        assert key in payload
    with StateStore(settings.database_url) as store:
        counts = store.list_runs(limit=1)[0].counts
    assert counts["changed"]["contact"] - counts["changed_by_segsync"]["contact"] == edited
    # Nothing but segsync's own writes changed since: compared again, nothing written.
    again = run_sync(settings, "hubspot", BOOK, connector=connector)
    assert again.records_changed == again.records_changed_by_segsync
    assert again.records_written == 0
    assert "since the last sync: 0 contacts, 0 companies, 0 deals; and " in " ".join(
        format_report(again.as_dict()).split()
    )


def test_incremental_that_reads_nothing_names_the_search_lag(
    hubspot: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A change younger than the search lag is left for the next sync; the text says so."""
    from workers.cli.main import main

    env = {
        "SEGSYNC_HUBSPOT_BASE_URL": hubspot.server.url,
        "SEGSYNC_HUBSPOT_TOKEN": "sandbox-token",
        "SEGSYNC_HUBSPOT_SEARCH_LAG_SECONDS": "300",
        "SEGSYNC_DATABASE_URL": f"sqlite:///{tmp_path / 'state.db'}",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("SEGSYNC_REDIS_URL", raising=False)
    runner = CliRunner()
    assert runner.invoke(main, ["schema", "apply", "--crm", "hubspot"]).exit_code == 0
    full = runner.invoke(main, ["sync", "--crm", "hubspot", "--full"])
    assert full.exit_code == 0, full.output
    assert "a full sync reads and compares every record" in " ".join(full.output.split())
    hubspot.admin("POST", "mutate", json={"count": 5, "object_type": "contact"})
    result = runner.invoke(main, ["sync", "--crm", "hubspot"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "changed in HubSpot since the last sync: none, so nothing was read" in text
    assert (
        "HubSpot lists changes up to 300 s late: changes younger than that are read by the "
        "next sync (SEGSYNC_HUBSPOT_SEARCH_LAG_SECONDS)"
    ) in text
    runs = runner.invoke(main, ["runs", "--limit", "2"])
    assert runs.exit_code == 0, runs.output
    latest, first = runs.output.splitlines()
    assert ": 0 records changed, 0 read, 0 records / 0 fields written, 0 rejected, " in latest
    assert "hubspot sync-full succeeded" in first and "610 records read, 460 records / " in first
    assert "{" not in runs.output


def test_activity_earlier_today_is_recent_engagement(hubspot: Harness, tmp_path: Path) -> None:
    """The run's "now" is the end of its UTC day: what a contact did earlier today is
    recent activity (with the day's first instant it lay "in the future", and the
    contact fell through every behavioral rule to "dormant")."""
    settings = _settings(tmp_path)
    connector = _ready(hubspot)
    run_sync(settings, "hubspot", BOOK, connector=connector, full=True)
    now_ms = int(time.time() * 1000)
    store = hubspot.server.state.store
    with store.lock:  # a read-only activity date: set the way the CRM sets it
        table = store.table("contact")
        row = next(r for r in range(len(table)) if not table.archived[r])
        table.update(row, {"notes_last_updated": now_ms}, now_ms, via_api=False)
        record_id = str(table.ids[row])
    run_sync(settings, "hubspot", BOOK, connector=connector)
    props = hubspot.admin("GET", f"records/contacts/{record_id}")["properties"]
    assert props["segsync_behavioral"] in ("engaged", "active"), props["segsync_behavioral_reason"]


def test_dry_run_shows_transitions_and_writes_nothing(hubspot: Harness, tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    connector = _ready(hubspot)
    report = run_sync(settings, "hubspot", BOOK, connector=connector, full=True, dry_run=True)
    assert report.records_to_write > 0 and report.records_written == 0
    assert report.fields_changed["demographic"] > 0
    assert any(m.startswith("(none) -> ") for m in report.transitions["demographic"])
    assert report.sample and all(item["changes"] for item in report.sample)
    assert hubspot.admin("GET", "stats")["records_written"] == 0
    with StateStore(settings.database_url) as store:
        assert store.last_written("hubspot", "contact", ["1"]) == {}


def test_rejected_writes_are_dead_lettered_and_replayed(hubspot: Harness, tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    connector = _ready(hubspot)
    hubspot.admin("POST", "faults", data="reject=0.05")
    report = run_sync(settings, "hubspot", BOOK, connector=connector, full=True)
    # Rows of refused batches are rejected once isolated, or deferred when the call
    # allowance ran out first: both are dead letters.
    assert report.rejected + report.deferred > 0
    assert report.dead_lettered == report.rejected + report.deferred
    with StateStore(settings.database_url) as store:
        letters = store.list_dead_letters("hubspot")
    assert len(letters) == report.dead_lettered
    assert all(d.reason and d.fields for d in letters)
    still = retry_dead_letters(settings, connector)
    assert still["still_failing"] > 0  # the CRM still refuses the bad rows
    hubspot.admin("POST", "faults", data="0")
    waiting = retry_dead_letters(settings, connector)
    with StateStore(settings.database_url) as store:
        kinds = {d.kind for d in store.list_dead_letters("hubspot")}
    # Permanent rejections wait for a change to the record or the playbook...
    # (a deferred record's write may also land the letter of a company it rolls up into)
    assert kinds <= {"permanent"} and waiting["still_failing"] <= waiting["skipped_permanent"]
    # ...or for --force.
    done = retry_dead_letters(settings, connector, force=True)
    assert done["still_failing"] == 0
    assert done["landed"] == done["retried"] == waiting["still_failing"]
    letter = letters[0]
    crm_values = hubspot.record(letter.object_type, letter.record_id)["properties"]  # type: ignore[arg-type]
    for name, value in letter.fields.items():
        if not is_companion(name):  # datetimes come back in the CRM's own format
            assert (crm_values.get(name) or "") == (value or ""), name
    # Once replayed, a sync has nothing left to write.
    assert run_sync(settings, "hubspot", BOOK, connector=connector).records_to_write == 0


def test_salesforce_full_sync_then_nothing(tmp_path: Path) -> None:
    harness = salesforce_harness(contacts=300, companies=50, deals=100)
    try:
        settings = _settings(tmp_path)
        connector = _ready(harness)
        apply_schema(connector, BOOK, ["lead"])
        first = run_sync(settings, "salesforce", BOOK, connector=connector, full=True)
        assert first.records_written == first.records_to_write > 0 and first.rejected == 0
        assert run_sync(settings, "salesforce", BOOK, connector=connector).records_to_write == 0
    finally:
        harness.server.stop()


def test_cli_sync_json_and_dry_run(
    hubspot: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from workers.cli.main import main

    env: dict[str, Any] = {
        "SEGSYNC_HUBSPOT_BASE_URL": hubspot.server.url,
        "SEGSYNC_HUBSPOT_TOKEN": "sandbox-token",
        "SEGSYNC_HUBSPOT_SEARCH_LAG_SECONDS": "0",
        "SEGSYNC_DATABASE_URL": f"sqlite:///{tmp_path / 'state.db'}",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("SEGSYNC_REDIS_URL", raising=False)
    runner = CliRunner()
    missing = runner.invoke(main, ["sync", "--crm", "hubspot", "--full"])
    # Fields not yet created is setup to do, like check reports it: exit 2.
    assert missing.exit_code == 2 and "segsync schema apply --crm hubspot" in missing.output
    applied = runner.invoke(main, ["schema", "apply", "--crm", "hubspot"])
    assert applied.exit_code == 0, applied.output
    dry = runner.invoke(main, ["sync", "--crm", "hubspot", "--full", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "(dry run)" in dry.output and "demographic: (none) -> " in dry.output

    done = runner.invoke(main, ["sync", "--crm", "hubspot", "--full", "--json"])
    assert done.exit_code == 0, done.output
    summary = json.loads(done.output)
    assert summary["records_written"] == summary["records_to_write"] > 0
    for key in ("records_pulled", "records_segmented", "fields_written", "fields_unchanged"):
        assert key in summary
    assert summary["api_calls"] > 0 and summary["seconds"] > 0


def test_b2c_sync_keeps_cluster_centroids_and_the_clv_fit_for_the_next_run(
    tmp_path: Path,
) -> None:
    book = load_playbook("b2c_retail")
    harness = hubspot_harness(contacts=1500, companies=30, deals=2500, mode="b2c")
    try:
        settings = _settings(tmp_path)
        connector = harness.build()
        apply_schema(connector, book, ["contact", "company"])
        first = run_sync(settings, "hubspot", book, connector=connector, full=True)
        assert first.fields_changed["cluster"] > 0 and first.fields_changed["holdout"] > 0
        assert first.fields_changed["clv_12m"] > 0
        with StateStore(settings.database_url) as store:
            clusters = store.get_model_state("hubspot", "clusters")
            clv = store.get_model_state("hubspot", "clv")
        assert clusters and clv and set(clv) == {"contacts"}
        # Same day, same data, stored centroids and fit: nothing moves.
        again = run_sync(settings, "hubspot", book, connector=connector, full=True)
        assert again.records_to_write == 0
        with StateStore(settings.database_url) as store:
            assert store.get_model_state("hubspot", "clv") == clv
    finally:
        harness.server.stop()
