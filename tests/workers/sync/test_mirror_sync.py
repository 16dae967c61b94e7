"""Runs through the mirror: echoes cost nothing, hand edits are repaired, archived records
leave, and the nightly re-segmentation reads nothing from the CRM."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from connectors.base import ObjectType
from tests.harness import Harness, hubspot_harness
from workers.settings import Settings
from workers.state import StateStore
from workers.sync import mirror_pull
from workers.sync import plan as sync_module
from workers.sync.crm_schema import apply_schema
from workers.sync.mirror_pull import fill_mirror, pull_population
from workers.sync.mirroring import crm_copies, load_frames
from workers.sync.outputs import field_specs
from workers.sync.plan import SyncPlan, load_playbook, plan_sync
from workers.sync.runner import run_sync

pytestmark = pytest.mark.integration
BOOK = load_playbook("b2b_saas")


def _synced(database_url: str) -> Iterator[tuple[Harness, Settings]]:
    harness = hubspot_harness(contacts=400, companies=60, deals=150)
    settings = Settings(database_url=database_url, redis_url=None)
    connector = harness.build()
    apply_schema(connector, BOOK, ["contact", "company"])
    run_sync(settings, "hubspot", BOOK, connector=connector, full=True)
    yield harness, settings
    harness.server.stop()


@pytest.fixture
def synced(tmp_path: Path) -> Iterator[tuple[Harness, Settings]]:
    """A sandbox after a full sync (SQLite state)."""
    yield from _synced(f"sqlite:///{tmp_path / 'state.db'}")


@pytest.fixture
def synced_pg(worker_database: str) -> Iterator[tuple[Harness, Settings]]:
    """A sandbox after a full sync (PostgreSQL state: whole types are read ahead)."""
    yield from _synced(worker_database)


def edit_demographic_by_hand(harness: Harness, position: int) -> tuple[str, str]:
    """A rep's edit of the ``position``-th contact's ``segsync_demographic`` (no API
    call, so no webhook); its id and the value it held."""
    table = harness.server.state.store.table("contact")
    edited = str(table.ids[position])
    with harness.server.state.store.lock:
        held = table.get(table.row(edited), "segsync_demographic")
        options = next(s.options for s in field_specs(BOOK, "contact") if s.name == "demographic")
        other = next(o for o in options if o != held)
        now_ms = int(time.time() * 1000)
        table.update(table.row(edited), {"segsync_demographic": other}, now_ms, via_api=False)
    return edited, held


def planned_writes(
    connector: Any, settings: Settings, *, nightly: bool = False
) -> tuple[set[tuple[str, str, tuple[tuple[str, str], ...]]], SyncPlan]:
    """A full (or nightly) plan's writes, without run-time companions, and the plan."""
    with StateStore(settings.database_url) as store:
        pulled = pull_population(
            connector, store, BOOK, full=not nightly, from_mirror=nightly, load=False
        )
        planned = plan_sync(connector, store, pulled, BOOK)
    kept: set[tuple[str, str, tuple[tuple[str, str], ...]]] = {
        (
            w.object_type,
            w.record_id,
            tuple(sorted((k, v) for k, v in w.fields.items() if k not in planned.derived)),
        )
        for w in planned.writes
    }
    return kept, planned


def test_the_echoes_of_a_full_sync_are_read_but_not_resegmented_nor_written(
    synced: tuple[Harness, Settings],
) -> None:
    harness, settings = synced
    before = harness.admin("GET", "stats")["records_written"]
    echoes = run_sync(settings, "hubspot", BOOK, connector=harness.build())
    # The CRM lists every record segsync wrote as changed; none changed what segsync reads.
    assert echoes.records_changed == {"contact": 400, "company": 60, "deal": 0}
    assert echoes.records_changed_by_segsync == echoes.records_changed
    assert echoes.records_segmented == {} and echoes.records_to_write == 0
    quiet = run_sync(settings, "hubspot", BOOK, connector=harness.build())
    assert quiet.records_pulled == {"contact": 0, "company": 0, "deal": 0}
    assert quiet.api_calls <= 3  # one search per object type
    assert harness.admin("GET", "stats")["records_written"] == before


@pytest.mark.parametrize("chunk", [None, 7], ids=["at-once", "in-chunks-of-7"])
def test_hand_edits_of_segsync_fields_are_rewritten_exactly_and_counted_as_drift(
    synced: tuple[Harness, Settings], chunk: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness, settings = synced
    if chunk is not None:  # the echoes and the edits are compared across many chunks
        monkeypatch.setattr(mirror_pull, "DRIFT_CHUNK", chunk)
    run_sync(settings, "hubspot", BOOK, connector=harness.build())  # the echoes
    options = next(s.options for s in field_specs(BOOK, "contact") if s.name == "demographic")
    table = harness.server.state.store.table("contact")
    with StateStore(settings.database_url) as store:
        ids = [str(i) for i in table.ids[:120]]
        written = store.last_written("hubspot", "contact", ids, fields=["segsync_demographic"])
    edited = [rid for rid in ids if written.get(rid, {}).get("segsync_demographic")][:50]
    assert len(edited) == 50
    now_ms = int(time.time() * 1000)
    with harness.server.state.store.lock:
        for rid in edited:
            ours = written[rid]["segsync_demographic"]
            other = next(o for o in options if o != ours)
            table.update(table.row(rid), {"segsync_demographic": other}, now_ms, via_api=False)
    before = harness.admin("GET", "stats")["records_written"]
    report = run_sync(settings, "hubspot", BOOK, connector=harness.build())
    assert report.drift_repaired == 50
    assert report.records_written == 50
    assert harness.admin("GET", "stats")["records_written"] - before == 50
    for rid in edited:
        held = harness.record("contact", rid)["properties"]
        assert held["segsync_demographic"] == written[rid]["segsync_demographic"], rid
    # Repaired, nothing left to repair.
    again = run_sync(settings, "hubspot", BOOK, connector=harness.build())
    assert again.drift_repaired == 0 and again.records_written == 0


def test_a_record_archived_without_any_event_leaves_with_the_next_reconciliation(
    synced: tuple[Harness, Settings],
) -> None:
    harness, settings = synced
    gone = str(harness.server.state.store.table("contact").ids[7])
    with StateStore(settings.database_url) as store:
        assert store.last_written("hubspot", "contact", [gone])
    harness.admin("POST", "delete", json={"object_type": "contacts", "ids": [gone]})
    run_sync(settings, "hubspot", BOOK, connector=harness.build())
    with StateStore(settings.database_url) as store:
        # Incremental reads do not list archived records: still mirrored.
        assert store.mirror.load("hubspot", "contact", [gone]).height == 1
    reconciled = run_sync(settings, "hubspot", BOOK, connector=harness.build(), full=True)
    assert reconciled.records_removed == {"contact": 1}
    with StateStore(settings.database_url) as store:
        assert store.mirror.load("hubspot", "contact", [gone]).height == 0
        assert store.last_written("hubspot", "contact", [gone]) == {}
        assert store.mirror.count("hubspot", "contact") == 399


def test_changes_reach_their_roll_ups_exactly_as_a_run_over_everything_would(
    synced: tuple[Harness, Settings],
) -> None:
    harness, settings = synced
    run_sync(settings, "hubspot", BOOK, connector=harness.build())  # the echoes
    harness.admin("POST", "mutate", json={"count": 60, "object_type": "contacts"})
    harness.admin("POST", "mutate", json={"count": 8, "object_type": "companies"})
    harness.admin("POST", "mutate", json={"count": 20, "object_type": "deals"})
    report = run_sync(settings, "hubspot", BOOK, connector=harness.build())
    assert 0 < report.records_segmented["contact"] < 400
    assert report.records_written > 0
    # Everything read again and segmented with the same stored statistics: nothing left.
    connector = harness.build()
    with StateStore(settings.database_url) as store:
        pulled = pull_population(connector, store, BOOK, full=True)
        pulled.whole = False  # apply the stored statistics, as the incremental run did
        plan = plan_sync(connector, store, pulled, BOOK)
    assert plan.writes == [], plan.writes[:3]


def test_the_nightly_run_reads_nothing_and_refreshes_the_statistics(
    synced: tuple[Harness, Settings],
) -> None:
    harness, settings = synced
    run_sync(settings, "hubspot", BOOK, connector=harness.build())  # the echoes
    harness.admin("POST", "mutate", json={"count": 40, "object_type": "deals"})
    harness.admin("POST", "mutate", json={"count": 40, "object_type": "contacts"})
    run_sync(settings, "hubspot", BOOK, connector=harness.build())  # the stored statistics
    harness.admin("POST", "reset-stats")
    nightly = run_sync(settings, "hubspot", BOOK, connector=harness.build(), from_mirror=True)
    assert nightly.mode == "mirror" and nightly.records_pulled == {
        "contact": 0,
        "company": 0,
        "deal": 0,
    }
    assert nightly.records_segmented == {"contact": 400, "company": 60}
    requests = harness.admin("GET", "stats")["requests"]
    reads = {k: n for k, n in requests.items() if "batch/update" not in k}
    assert reads == {}, reads
    # The statistics are fresh: a full read and segmentation now writes nothing.
    full = run_sync(settings, "hubspot", BOOK, connector=harness.build(), full=True, dry_run=True)
    assert full.records_to_write == 0, full.sample


def test_a_plan_diffed_in_slices_equals_one_diffed_at_once(
    synced: tuple[Harness, Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    harness, settings = synced
    harness.admin("POST", "mutate", json={"count": 60, "object_type": "contacts"})
    connector = harness.build()

    at_once, whole = planned_writes(connector, settings)
    monkeypatch.setattr(sync_module, "DIFF_SLICE", 7)
    sliced, parts = planned_writes(connector, settings)
    assert at_once and sliced == at_once
    for object_type, diff in whole.diffs.items():
        other = parts.diffs[object_type]
        assert (other.compared, other.unchanged) == (diff.compared, diff.unchanged)
        assert (other.per_field, other.transitions) == (diff.per_field, diff.transitions)


@pytest.mark.parametrize("nightly", [False, True], ids=["full", "nightly"])
def test_a_whole_mirror_segmented_in_parts_plans_what_it_would_at_once(
    synced: tuple[Harness, Settings], monkeypatch: pytest.MonkeyPatch, nightly: bool
) -> None:
    """A million contacts are segmented in parts against statistics computed first; the
    plan, its statistics and its report are those of one segmentation of everything."""
    harness, settings = synced
    run_sync(settings, "hubspot", BOOK, connector=harness.build())  # the echoes
    harness.admin("POST", "mutate", json={"count": 40, "object_type": "deals"})
    harness.admin("POST", "mutate", json={"count": 60, "object_type": "contacts"})
    run_sync(settings, "hubspot", BOOK, connector=harness.build())  # read into the mirror
    harness.admin("POST", "mutate", json={"count": 40, "object_type": "deals"})
    connector = harness.build()

    at_once, whole = planned_writes(connector, settings, nightly=nightly)
    monkeypatch.setattr(sync_module, "SEGMENT_PART", 70)  # 400 contacts: 6 parts
    in_parts, parted = planned_writes(connector, settings, nightly=nightly)
    assert at_once, "the moved deals must move some segments"
    assert in_parts == at_once
    assert parted.statistics == whole.statistics and parted.statistics is not None
    assert (parted.clv_fit, parted.clusters) == (whole.clv_fit, whole.clusters)
    assert parted.summary == whole.summary
    assert parted.segmented == whole.segmented == {"contact": 400, "company": 60}
    for object_type, diff in whole.diffs.items():
        other = parted.diffs[object_type]
        assert (other.compared, other.unchanged) == (diff.compared, diff.unchanged)
        assert (other.per_field, other.transitions) == (diff.per_field, diff.transitions)


def test_a_nightly_run_before_the_echoes_are_read_writes_nothing(
    synced: tuple[Harness, Settings],
) -> None:
    """The mirror's copies predate the full sync's writes: they are not taken for hand
    edits (which would write every record again)."""
    harness, settings = synced
    nightly = run_sync(settings, "hubspot", BOOK, connector=harness.build(), from_mirror=True)
    assert nightly.records_to_write == 0 and nightly.drift_repaired == 0


def test_a_nightly_run_looks_up_the_history_only_of_records_the_crm_holds_otherwise(
    synced: tuple[Harness, Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Copies read after segsync's writes say the CRM holds the plan: nothing to write,
    and their written history (a row per field) is not read. A hand-edited record is."""
    harness, settings = synced
    run_sync(settings, "hubspot", BOOK, connector=harness.build())  # the echoes
    looked_up: list[str] = []
    real = StateStore.last_written

    def spy(self: StateStore, crm: str, object_type: str, ids: Any, **kw: Any) -> Any:
        ids = list(ids)
        if "fields" not in kw:  # the diff's look-ups (not the lifecycle stages')
            looked_up.extend(ids)
        return real(self, crm, object_type, ids, **kw)

    monkeypatch.setattr(StateStore, "last_written", spy)
    nightly = run_sync(settings, "hubspot", BOOK, connector=harness.build(), from_mirror=True)
    assert nightly.records_segmented == {"contact": 400, "company": 60}
    assert looked_up == [] and nightly.records_to_write == 0
    # A hand edit the mirror has read (here by a read of everything, no run).
    edited, held = edit_demographic_by_hand(harness, 7)
    with StateStore(settings.database_url) as store:
        fill_mirror(harness.build(), store, BOOK)
    nightly = run_sync(settings, "hubspot", BOOK, connector=harness.build(), from_mirror=True)
    assert looked_up == [edited]
    assert nightly.drift_repaired == 1 and nightly.records_written == 1
    assert harness.record("contact", edited)["properties"]["segsync_demographic"] == held


def test_a_stage_change_on_a_record_segsync_never_set_the_stage_of_is_not_an_echo(
    synced: tuple[Harness, Settings],
) -> None:
    """Only the CRM's lifecycle stage moved, and segsync never wrote that stage: a real
    change (it was taken for the echo of a write that never happened)."""
    harness, settings = synced
    run_sync(settings, "hubspot", BOOK, connector=harness.build())  # the echoes
    table = harness.server.state.store.table("contact")
    ids = [str(i) for i in table.ids]
    with StateStore(settings.database_url) as store:
        written = store.last_written("hubspot", "contact", ids)
    chosen = next(
        rid
        for rid in ids
        if "lifecyclestage" not in written.get(rid, {})
        and written.get(rid, {}).get("segsync_lifecycle") in ("lead", "mql", "sql", "opportunity")
        and table.get(table.row(rid), "lifecyclestage") != "customer"
    )
    with harness.server.state.store.lock:
        now_ms = int(time.time() * 1000)
        table.update(table.row(chosen), {"lifecyclestage": "customer"}, now_ms, via_api=False)
    report = run_sync(settings, "hubspot", BOOK, connector=harness.build())
    assert report.records_changed_by_segsync == {"contact": 0, "company": 0, "deal": 0}
    assert report.records_segmented["contact"] >= 1
    held = harness.record("contact", chosen)["properties"]
    assert held["segsync_lifecycle"] == "customer"


def test_on_postgresql_the_nightly_reads_ahead_what_it_would_read_when_needed(
    synced_pg: tuple[Harness, Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CRM's copies of whole types come with the frames' read, and the last written
    lifecycle stages are read in a thread while the frames load: the plan is the one of
    reading them when needed, and a hand edit is repaired."""
    harness, settings = synced_pg
    monkeypatch.setattr(sync_module, "COPIES_BY_ID", 10)  # whole-type reads at 400
    run_sync(settings, "hubspot", BOOK, connector=harness.build())  # the echoes
    harness.admin("POST", "mutate", json={"count": 40, "object_type": "deals"})
    harness.admin("POST", "mutate", json={"count": 60, "object_type": "contacts"})
    with StateStore(settings.database_url) as store:
        shape, _ = fill_mirror(harness.build(), store, BOOK)
        with_load: dict[ObjectType, pl.DataFrame] = {}
        load_frames(store, shape, "b2b", copies=with_load)
        assert set(with_load) == {"contact", "company"}
        for object_type, copies in with_load.items():
            alone = crm_copies(store, shape, object_type).sort("record_id")
            assert alone.height and copies.sort("record_id").equals(alone), object_type
    connector = harness.build()
    readers: list[str] = []
    alone_reads: list[str] = []
    monkeypatch.setattr(
        sync_module,
        "crm_copies",
        lambda *a, **k: alone_reads.append(a[2]) or crm_copies(*a, **k),
    )
    real = StateStore.written_field

    def spy(self: StateStore, *args: Any, **kw: Any) -> Any:
        readers.append(threading.current_thread().name)
        return real(self, *args, **kw)

    monkeypatch.setattr(StateStore, "written_field", spy)
    ahead, plan = planned_writes(connector, settings, nightly=True)
    assert readers and all(r.startswith("segsync-history") for r in readers), readers
    assert alone_reads == []  # the copies came with the frames
    monkeypatch.setattr(sync_module._PlanReads, "prefetch", lambda *a, **k: None)
    real_load = sync_module.load_frames
    monkeypatch.setattr(sync_module, "load_frames", lambda *a, copies=None, **k: real_load(*a, **k))
    when_needed, plan_when_needed = planned_writes(connector, settings, nightly=True)
    assert ahead and ahead == when_needed
    assert plan.summary == plan_when_needed.summary
    assert sorted(alone_reads) == ["company", "contact"]
    monkeypatch.undo()
    monkeypatch.setattr(sync_module, "COPIES_BY_ID", 10)
    nightly = run_sync(settings, "hubspot", BOOK, connector=harness.build(), from_mirror=True)
    assert nightly.records_written == len(ahead)
    edit_demographic_by_hand(harness, 3)
    with StateStore(settings.database_url) as store:
        fill_mirror(harness.build(), store, BOOK)
    nightly = run_sync(settings, "hubspot", BOOK, connector=harness.build(), from_mirror=True)
    assert (nightly.drift_repaired, nightly.records_written) == (1, 1)


def _retitle(harness: Harness, position: int, title: str) -> str:
    table = harness.server.state.store.table("contact")
    record_id = str(table.ids[position])
    harness.admin(
        "POST", "edit", json={"object_type": "contacts", "ids": [record_id],
                              "properties": {"jobtitle": title}}
    )  # fmt: skip
    return record_id


def _fail_at_the_writes(harness: Harness, settings: Settings, *, full: bool) -> None:
    """A run that reads, plans, and fails as it starts writing."""
    failing = harness.build()

    def refuse(writes: object) -> object:
        raise RuntimeError("the CRM went away mid-run")

    failing.write = refuse  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="went away"):
        run_sync(settings, "hubspot", BOOK, connector=failing, full=full)


def test_a_change_a_dry_run_read_is_still_written_by_the_next_run(
    synced: tuple[Harness, Settings],
) -> None:
    harness, settings = synced
    run_sync(settings, "hubspot", BOOK, connector=harness.build())  # the echoes
    record_id = _retitle(harness, 5, "Chief Executive Officer")
    dry = run_sync(settings, "hubspot", BOOK, connector=harness.build(), dry_run=True)
    assert dry.records_to_write >= 1
    # The dry run put the new title in the mirror; the real run must still segment it.
    real = run_sync(settings, "hubspot", BOOK, connector=harness.build())
    assert real.records_written >= 1
    held = harness.record("contact", record_id)["properties"]["segsync_demographic"]
    assert held == "executive"
    assert run_sync(settings, "hubspot", BOOK, connector=harness.build()).records_written == 0


def test_a_run_that_failed_after_its_read_leaves_its_changes_to_the_next(
    synced: tuple[Harness, Settings],
) -> None:
    harness, settings = synced
    run_sync(settings, "hubspot", BOOK, connector=harness.build())  # the echoes
    record_id = _retitle(harness, 9, "Chief Executive Officer")
    _fail_at_the_writes(harness, settings, full=False)
    again = run_sync(settings, "hubspot", BOOK, connector=harness.build())
    assert again.records_written >= 1
    held = harness.record("contact", record_id)["properties"]["segsync_demographic"]
    assert held == "executive"


def test_a_full_run_that_failed_after_its_read_has_the_next_run_segment_everything(
    synced: tuple[Harness, Settings],
) -> None:
    harness, settings = synced
    record_id = _retitle(harness, 11, "Chief Executive Officer")
    _fail_at_the_writes(harness, settings, full=True)
    again = run_sync(settings, "hubspot", BOOK, connector=harness.build())
    assert again.records_segmented == {"contact": 400, "company": 60}
    held = harness.record("contact", record_id)["properties"]["segsync_demographic"]
    assert held == "executive"
    quiet = run_sync(settings, "hubspot", BOOK, connector=harness.build())
    assert quiet.records_segmented in ({}, {"contact": 0, "company": 0})
