"""The state store against SQLite files and the real PostgreSQL server.

Every behavioural test runs twice: on a fresh SQLite file in ``tmp_path`` and on
PostgreSQL. The PostgreSQL database ``test`` is shared with other suites, so this
session works in its own freshly created schema (``search_path`` set through the
connection's ``options``, which also puts Alembic's version table there) and drops
it at the end; tests empty the tables instead of re-creating the schema.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from connectors.base import Cursor, FieldWrite, WriteResult, WriteStatus
from tests.stores import TABLES
from workers import state as state_module
from workers.events.inbox import Inbox, InboxPolicy
from workers.state import (
    Base,
    DeadLetterEntry,
    EventStatus,
    InboxEventRow,
    RunStatus,
    StateStore,
)

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


class FakeClock:
    """A controllable "now" so timestamp semantics can be asserted exactly."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float = 60) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(backend_url: str, clock: FakeClock) -> Iterator[StateStore]:
    with StateStore(backend_url, clock=clock) as opened:
        yield opened


class StatementLog:
    """Records every SQL statement an engine sends, with its parameters."""

    def __init__(self, engine: Engine) -> None:
        self.statements: list[tuple[str, Any]] = []
        self._engine = engine
        event.listen(engine, "before_cursor_execute", self._record)

    def _record(self, _conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        self.statements.append((statement, params))

    def close(self) -> None:
        event.remove(self._engine, "before_cursor_execute", self._record)


# ----------------------------------------------------------------------------- schema


def test_migrate_creates_schema_then_leaves_it_alone(
    fresh_url: tuple[str, str | None],
) -> None:
    url, schema = fresh_url
    with StateStore(url) as store:
        assert store.current_revision() is None
        store.migrate()
        assert store.current_revision() == StateStore.head_revision() is not None
        assert set(inspect(store.engine).get_table_names()) >= TABLES
        run_id = store.start_run("hubspot", "pull")

        log = StatementLog(store.engine)
        store.migrate()  # already at head: no DDL, no data touched
        log.close()
        ddl = [s for s, _ in log.statements if s.lstrip().upper().startswith(("CREATE", "ALTER"))]
        assert ddl == []
        assert store.get_run(run_id) is not None
        assert store.current_revision() == StateStore.head_revision()

    if schema is not None:
        # Tables and Alembic's version table live in the test schema, not in public.
        admin = create_engine(make_url(url).difference_update_query(["options"]))
        with admin.connect() as conn:
            found = set(
                conn.execute(
                    text(
                        "SELECT table_name FROM information_schema.tables WHERE table_schema = :s"
                    ),
                    {"s": schema},
                ).scalars()
            )
        admin.dispose()
        assert TABLES | {"alembic_version"} <= found


def test_models_match_migrations(backend_url: str) -> None:
    with StateStore(backend_url) as store, store.engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
        )
    assert diff == []


def test_default_url_creates_folder_and_uses_wal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with StateStore() as store:
        assert (tmp_path / ".segsync").is_dir()
        store.migrate()
        assert (tmp_path / ".segsync" / "state.db").is_file()
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert int(conn.exec_driver_sql("PRAGMA busy_timeout").scalar() or 0) >= 5000


def test_url_handling_never_shows_the_password() -> None:
    store = StateStore("postgresql://segsync:s3cret-pw@db.internal:5432/segsync")
    assert store.url.drivername == "postgresql+psycopg"
    assert "s3cret-pw" not in repr(store)
    with pytest.raises(ValueError, match="unsupported"):
        StateStore("mysql://u@localhost/db")


def test_sqlite_write_transaction_rolls_back(tmp_path: Path) -> None:
    # Guards the BEGIN-handling recipe: with sqlite3's own transaction control off, a
    # failed write must still leave nothing behind.
    with StateStore(f"sqlite:///{tmp_path / 's.db'}") as store:
        store.migrate()
        with pytest.raises(RuntimeError), store._write() as conn:
            conn.execute(
                text(
                    "INSERT INTO runs (crm, kind, status, started_at, counts) "
                    "VALUES ('hubspot', 'pull', 'running', '2024-01-01', '{}')"
                )
            )
            raise RuntimeError("boom")
        assert store.list_runs() == []


def test_sqlite_file_is_shared_by_concurrent_writers(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    with StateStore(url) as first:
        first.migrate()
    errors: list[BaseException] = []

    def work(n: int) -> None:
        # A store per thread: separate engines and connections, like separate processes.
        try:
            with StateStore(url) as mine:
                for i in range(15):
                    run_id = mine.start_run("hubspot", "sync")
                    mine.record_written("hubspot", "contact", [(f"{n}-{i}", "segsync_tier", "a")])
                    mine.finish_run(run_id, "succeeded", {"contact": 1})
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with StateStore(url) as store:
        assert len(store.list_runs(limit=100)) == 60


# ----------------------------------------------------------------------------- cursors


def test_cursor_round_trip_keeps_the_instant_in_utc(store: StateStore, clock: FakeClock) -> None:
    initial = store.get_cursor("hubspot", "contact")
    assert initial == Cursor(object_type="contact") and initial.is_initial

    plus_two = timezone(timedelta(hours=2))
    moved = initial.advanced_to(datetime(2024, 3, 1, 10, 30, 15, 123456, tzinfo=plus_two), "987")
    store.save_cursor("hubspot", moved)
    loaded = store.get_cursor("hubspot", "contact")
    assert loaded == moved  # same instant
    assert loaded.modified_at == datetime(2024, 3, 1, 8, 30, 15, 123456, tzinfo=UTC)
    assert loaded.modified_at is not None and loaded.modified_at.utcoffset() == timedelta(0)
    assert loaded.last_id == "987"
    assert Cursor.from_dict(loaded.to_dict()) == loaded

    # Upsert: the same key moves on; other CRMs and object types are independent.
    clock.advance()
    later = loaded.advanced_to(datetime(2024, 3, 2, tzinfo=UTC), "1000")
    store.save_cursor("hubspot", later)
    assert store.get_cursor("hubspot", "contact") == later
    assert store.get_cursor("salesforce", "contact").is_initial
    assert store.get_cursor("hubspot", "deal").is_initial

    with pytest.raises(ValueError, match="naive"):
        store.save_cursor("hubspot", later.advanced_to(datetime(2024, 3, 3), "1"))
    with pytest.raises(ValueError, match="object_type"):
        store.get_cursor("hubspot", "ticket")  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- runs


def test_run_lifecycle(store: StateStore, clock: FakeClock) -> None:
    first = store.start_run("hubspot", "pull")
    run = store.get_run(first)
    assert run is not None
    assert (run.crm, run.kind, run.status) == ("hubspot", "pull", RunStatus.RUNNING)
    assert run.started_at == T0 and run.finished_at is None and run.counts == {}

    clock.advance(90)
    counts = {"contact": 1000, "company": 12, "writes": {"ok": 990, "rejected": 10}}
    store.finish_run(first, "succeeded", counts)
    run = store.get_run(first)
    assert run is not None
    assert run.status is RunStatus.SUCCEEDED and run.counts == counts
    assert run.finished_at == T0 + timedelta(seconds=90)
    assert run.duration == timedelta(seconds=90)

    clock.advance()
    second = store.start_run("salesforce", "sync")
    clock.advance()
    store.finish_run(second, RunStatus.FAILED, {}, error="TransientError: 503 after retries")
    clock.advance()
    third = store.start_run("hubspot", "demo")

    assert [r.id for r in store.list_runs()] == [third, second, first]
    assert [r.id for r in store.list_runs(limit=2)] == [third, second]
    assert [r.id for r in store.list_runs(crm="hubspot")] == [third, first]
    failed = store.get_run(second)
    assert failed is not None and failed.error == "TransientError: 503 after retries"
    assert store.get_run(9999) is None

    with pytest.raises(ValueError):
        store.finish_run(third, "running", {})
    with pytest.raises(ValueError):
        store.finish_run(third, "exploded", {})
    with pytest.raises(LookupError):
        store.finish_run(9999, "stopped", {})


# ----------------------------------------------------------------------------- written values


def test_written_values_move_only_on_change(store: StateStore, clock: FakeClock) -> None:
    assert store.record_written("hubspot", "contact", []) == 0
    store.record_written(
        "hubspot", "contact", [("1", "segsync_tier", "smb"), ("1", "segsync_score", "40")]
    )
    first = store.written_details("hubspot", "contact", ["1"])["1"]["segsync_tier"]
    assert (first.value, first.previous_value, first.written_at, first.entered_at) == (
        "smb",
        None,
        T0,
        T0,
    )

    # Same value again: only written_at moves.
    t1 = clock.advance()
    store.record_written("hubspot", "contact", [("1", "segsync_tier", "smb")])
    same = store.written_details("hubspot", "contact", ["1"])["1"]["segsync_tier"]
    assert (same.value, same.previous_value, same.written_at, same.entered_at) == (
        "smb",
        None,
        t1,
        T0,
    )

    # A change: the old value becomes previous_value and entered_at restarts.
    t2 = clock.advance()
    store.record_written("hubspot", "contact", [("1", "segsync_tier", "enterprise")])
    changed = store.written_details("hubspot", "contact", ["1"])["1"]["segsync_tier"]
    assert (changed.value, changed.previous_value, changed.entered_at) == ("enterprise", "smb", t2)

    # Rewriting the new value keeps its previous_value and entered_at.
    clock.advance()
    store.record_written("hubspot", "contact", [("1", "segsync_tier", "enterprise")])
    kept = store.written_details("hubspot", "contact", ["1"])["1"]["segsync_tier"]
    assert (kept.previous_value, kept.entered_at) == ("smb", t2)

    # Clearing (None) is a change too, and so is setting it again.
    t4 = clock.advance()
    store.record_written("hubspot", "contact", [("1", "segsync_tier", None)])
    cleared = store.written_details("hubspot", "contact", ["1"])["1"]["segsync_tier"]
    assert (cleared.value, cleared.previous_value, cleared.entered_at) == (None, "enterprise", t4)
    t5 = clock.advance()
    store.record_written("hubspot", "contact", [("1", "segsync_tier", "mid")])
    reset = store.written_details("hubspot", "contact", ["1"])["1"]["segsync_tier"]
    assert (reset.value, reset.previous_value, reset.entered_at) == ("mid", None, t5)

    # Repeats within one call: the last one wins.
    assert (
        store.record_written(
            "hubspot", "contact", [("2", "segsync_tier", "a"), ("2", "segsync_tier", "b")]
        )
        == 1
    )

    assert store.last_written("hubspot", "contact", ["1", "2", "3"]) == {
        "1": {"segsync_tier": "mid", "segsync_score": "40"},
        "2": {"segsync_tier": "b"},
    }
    # Scoped by crm and object type.
    assert store.last_written("salesforce", "contact", ["1"]) == {}
    assert store.last_written("hubspot", "deal", ["1"]) == {}


def test_forget_records_removes_everything_about_them(store: StateStore) -> None:
    store.record_written("hubspot", "contact", [("1", "f", "a"), ("1", "g", "b"), ("2", "f", "c")])
    store.record_written("hubspot", "company", [("1", "f", "a")])
    store.add_dead_letters("hubspot", [DeadLetterEntry("contact", "1", {"f": "a"}, "bad")])
    assert store.forget_records("hubspot", "contact", ["1"]) == 3
    assert store.last_written("hubspot", "contact", ["1", "2"]) == {"2": {"f": "c"}}
    assert store.last_written("hubspot", "company", ["1"]) == {"1": {"f": "a"}}
    assert store.list_dead_letters(include_resolved=True) == []


def test_last_written_for_100k_ids_is_chunked(store: StateStore) -> None:
    ids = [str(n) for n in range(100_000)]
    # Every tenth id has values; the rest were never written.
    written = ids[::10]
    store.record_written(
        "hubspot",
        "contact",
        [(i, "segsync_tier", f"t{i}") for i in written]
        + [(i, "segsync_rfm", "r") for i in written],
    )
    log = StatementLog(store.engine)
    try:
        found = store.last_written("hubspot", "contact", ids + ids[:500])  # repeats are fine
    finally:
        log.close()
    assert len(found) == len(written)
    assert found["12340"] == {"segsync_tier": "t12340", "segsync_rfm": "r"}
    assert "12341" not in found

    selects = [(s, p) for s, p in log.statements if "written_values" in s and "SELECT" in s]
    chunk = state_module._IN_CHUNK
    assert len(selects) == -(-len(ids) // chunk)  # ceil: duplicates were dropped first
    assert all(len(params) <= chunk + 2 for _, params in selects)


# ----------------------------------------------------------------------------- dead letters


def test_dead_letters_dedupe_count_and_resolve(store: StateStore, clock: FakeClock) -> None:
    write = FieldWrite("contact", "7", {"segsync_tier": "smb"})
    result = WriteResult("contact", "7", WriteStatus.REJECTED, "INVALID_OPTION", "400")
    store.add_dead_letters(
        "hubspot",
        [
            DeadLetterEntry.from_write(write, result),
            DeadLetterEntry("company", "8", {"segsync_tier": "x"}, "field missing", "PROPERTY"),
        ],
    )
    t1 = clock.advance()
    store.add_dead_letters(
        "hubspot", [DeadLetterEntry("contact", "7", {"segsync_tier": "mid"}, "still invalid")]
    )
    letters = store.list_dead_letters()
    assert [(d.object_type, d.record_id) for d in letters] == [("contact", "7"), ("company", "8")]
    seven = letters[0]
    assert seven.attempts == 2 and seven.fields == {"segsync_tier": "mid"}
    assert (seven.reason, seven.code) == ("still invalid", None)
    assert (seven.first_failed_at, seven.last_failed_at) == (T0, t1)
    assert letters[1].attempts == 1 and letters[1].code == "PROPERTY"

    # Several failures of one record in one call count as several attempts.
    store.add_dead_letters(
        "hubspot",
        [DeadLetterEntry("contact", "7", {}, "again"), DeadLetterEntry("contact", "7", {}, "last")],
    )
    again = store.list_dead_letters(object_type="contact")
    assert len(again) == 1 and again[0].attempts == 4 and again[0].reason == "last"

    # Other CRMs are separate rows and filterable.
    store.add_dead_letters("salesforce", [DeadLetterEntry("contact", "7", {}, "nope")])
    assert [d.crm for d in store.list_dead_letters(crm="salesforce")] == ["salesforce"]
    assert len(store.list_dead_letters()) == 3

    t2 = clock.advance()
    assert store.resolve_dead_letters([seven.id, seven.id]) == 1
    assert store.resolve_dead_letters([seven.id]) == 0  # already resolved
    assert seven.id not in {d.id for d in store.list_dead_letters()}
    resolved = [d for d in store.list_dead_letters(include_resolved=True) if d.id == seven.id]
    assert resolved[0].resolved and resolved[0].resolved_at == t2

    # A new failure after resolution opens a new letter; history stays.
    store.add_dead_letters("hubspot", [DeadLetterEntry("contact", "7", {"a": "b"}, "new")])
    open_sevens = [d for d in store.list_dead_letters(crm="hubspot") if d.record_id == "7"]
    assert len(open_sevens) == 1 and open_sevens[0].id != seven.id
    assert open_sevens[0].attempts == 1
    assert len(store.list_dead_letters(crm="hubspot", include_resolved=True)) == 3


# ----------------------------------------------------------------------------- inbox


def test_event_inbox_dedupes_and_tracks_status(store: StateStore, clock: FakeClock) -> None:
    payload = {"objectId": 42, "subscriptionType": "contact.propertyChange"}
    assert store.add_event("hubspot", "evt-1", payload) is True
    assert store.add_event("hubspot", "evt-1", {"other": True}) is False  # duplicate
    assert store.add_event("salesforce", "evt-1", payload) is True  # unique per crm only
    assert store.add_event("hubspot", "evt-2", ["list", "payload"]) is True
    assert store.add_event("hubspot", "evt-3", "raw text") is True
    assert store.inbox_depth() == 4
    assert store.inbox_depth(crm="hubspot") == 3

    pending = store.pending_events(limit=10)
    assert [e.event_key for e in pending] == ["evt-1", "evt-1", "evt-2", "evt-3"]
    assert pending[0].payload == payload and pending[0].received_at == T0
    assert pending[2].payload == ["list", "payload"] and pending[3].payload == "raw text"
    assert all(e.status is EventStatus.PENDING and e.attempts == 0 for e in pending)
    assert [e.crm for e in store.pending_events(limit=10, crm="salesforce")] == ["salesforce"]
    assert len(store.pending_events(limit=2)) == 2

    inbox = Inbox(store, InboxPolicy(lease_seconds=30))
    first = inbox.claim("hubspot", 2)
    assert [e.event_key for e in first.events] == ["evt-1", "evt-2"]
    assert all(e.status is EventStatus.LEASED and e.attempts == 1 for e in first.events)
    assert [e.event_key for e in store.pending_events()] == ["evt-1", "evt-3"]
    assert store.inbox_depth() == 4  # leased is not finished yet

    t1 = clock.advance(10)
    assert inbox.finish(first.token, [first.events[0].id]) == 1
    assert inbox.finish("someone-else", [first.events[1].id]) == 0  # not this claim's
    assert store.inbox_depth() == 3

    second = inbox.claim("hubspot", 10)
    assert [e.event_key for e in second.events] == ["evt-3"]
    assert inbox.claim("hubspot", 10).events == []  # evt-2's lease runs until T0 + 30 s

    with Session(store.engine) as session:
        finished = session.get(InboxEventRow, first.events[0].id)
        assert finished is not None
        assert (finished.status, finished.processed_at, finished.attempts) == ("done", t1, 1)

    clock.advance(25)  # evt-2's lease has expired: claimable again, evt-3's has not
    again = inbox.claim("hubspot", 10)
    assert [e.event_key for e in again.events] == ["evt-2"] and again.events[0].attempts == 2
    assert first.events[0].id not in {e.id for e in inbox.claim("hubspot", 10).events}


def test_concurrent_claimers_never_share_an_event(backend_url: str) -> None:
    with StateStore(backend_url) as store:
        for n in range(120):
            store.add_event("hubspot", f"evt-{n}", {"n": n})
    claimed: list[list[int]] = [[] for _ in range(4)]
    errors: list[BaseException] = []

    def work(slot: int) -> None:
        # Its own store per thread: separate connections, as in separate workers.
        try:
            with StateStore(backend_url) as mine:
                while batch := Inbox(mine).claim("hubspot", 7).events:
                    claimed[slot].extend(event.id for event in batch)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(slot,)) for slot in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    every = [event_id for ids in claimed for event_id in ids]
    assert len(every) == 120 and len(set(every)) == 120


# ----------------------------------------------------------------------------- in flight


def test_in_flight_marks_round_trip_and_clear(store: StateStore, clock: FakeClock) -> None:
    writes = [
        FieldWrite("contact", "1", {"segsync_tier": "smb", "segsync_tier_reason": "r"}),
        FieldWrite("company", "9", {"segsync_size": "large"}),
    ]
    store.mark_in_flight("hubspot", writes)
    store.mark_in_flight("hubspot", [FieldWrite("contact", "1", {"segsync_tier": "mid"})])
    marks = {(w.object_type, w.record_id): (w.fields, at) for w, at in store.in_flight("hubspot")}
    assert marks == {
        ("contact", "1"): ({"segsync_tier": "mid"}, T0),  # marked again: the newest wins
        ("company", "9"): ({"segsync_size": "large"}, T0),
    }
    assert store.in_flight("salesforce") == []
    assert store.clear_in_flight("hubspot", [("contact", "1"), ("contact", "2")]) == 1
    assert [w.record_id for w, _ in store.in_flight("hubspot")] == ["9"]


def test_a_transaction_block_commits_all_or_nothing(store: StateStore) -> None:
    with pytest.raises(RuntimeError), store.transaction():
        store.record_written("hubspot", "contact", [("1", "segsync_tier", "smb")])
        store.mark_in_flight("hubspot", [FieldWrite("contact", "1", {"segsync_tier": "smb"})])
        raise RuntimeError("crash between two writes")
    assert store.last_written("hubspot", "contact", ["1"]) == {}
    assert store.in_flight("hubspot") == []
    with store.transaction():
        store.record_written("hubspot", "contact", [("1", "segsync_tier", "smb")])
    assert store.last_written("hubspot", "contact", ["1"]) == {"1": {"segsync_tier": "smb"}}


def test_record_written_at_keeps_the_time_an_adopted_write_was_sent(
    store: StateStore, clock: FakeClock
) -> None:
    sent = T0 - timedelta(hours=1)
    store.record_written("hubspot", "contact", [("1", "segsync_tier", "smb")], at=sent)
    detail = store.written_details("hubspot", "contact", ["1"])["1"]["segsync_tier"]
    assert detail.entered_at == sent and detail.written_at == sent


def test_after_a_bulk_load_the_planner_looks_records_up_by_id(store: StateStore) -> None:
    """Analyzed after a full run's writes, a look-up of a few records' written values
    is an index range on their ids, not a filter over every record of the type."""
    rows = [(str(i), f"f{j}", "v") for i in range(20_000) for j in range(5)]
    store.record_written("hubspot", "contact", rows)
    store.analyze()
    if store.dialect != "postgresql":
        return  # SQLite's planner picks the primary key anyway; PRAGMA optimize just runs
    ids = [str(i) for i in range(100, 4000, 130)]  # 30 ids, as an event round asks
    query = (
        "EXPLAIN SELECT record_id, field, value FROM written_values WHERE crm = 'hubspot' "
        f"AND object_type = 'contact' AND record_id IN ({', '.join(repr(i) for i in ids)})"
    )
    with store.engine.connect() as conn:
        plan = "\n".join(r[0] for r in conn.exec_driver_sql(query))
    assert "record_id" in plan.split("Index Cond", 1)[-1].split("\n", 1)[0], plan
