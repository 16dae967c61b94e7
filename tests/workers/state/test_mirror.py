"""The mirror's storage: upserts that say what changed, columnar loads, links, sweeps."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from alembic import command
from click.testing import CliRunner
from sqlalchemy import column, insert, table, text

from tests.stores import PgSchemas
from workers.cli.main import main
from workers.state import StateStore, base
from workers.state.mirror import ROW_SCHEMA, Mirror
from workers.state.schema import WrittenValueRow

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def mirror(backend_url: str) -> Iterator[Mirror]:
    """The mirror of an empty, migrated store (SQLite and PostgreSQL)."""
    with StateStore(backend_url) as store:
        yield store.mirror


def rows(*items: tuple[str, str | None, dict[str, str | None], dict[str, str]]) -> pl.DataFrame:
    """Mirror rows: (id, company_id, inputs, outputs)."""
    return pl.DataFrame(
        [
            (rid, T0, company, None, json.dumps(inputs), json.dumps(outputs))
            for rid, company, inputs, outputs in items
        ],
        schema=ROW_SCHEMA,
        orient="row",
    )


def test_an_upsert_tells_new_and_changed_inputs_from_changed_outputs(mirror: Mirror) -> None:
    first = mirror.upsert(
        "hubspot",
        "contact",
        rows(
            ("1", "c1", {"job_title": "CTO"}, {}),
            ("2", None, {"job_title": "Intern"}, {}),
        ),
    )
    assert sorted(first.inputs) == ["1", "2"] and first.outputs == []
    again = mirror.upsert(
        "hubspot",
        "contact",
        rows(
            ("1", "c1", {"job_title": "CTO"}, {"segsync_demographic": "exec"}),  # an echo
            ("2", "c2", {"job_title": "Intern"}, {}),  # linked to a company now
        ),
    )
    assert again.inputs == ["2"] and again.outputs == ["1"]
    loaded = mirror.load("hubspot", "contact", columns=("id", "company_id", "inputs", "outputs"))
    assert loaded.sort("id").rows() == [
        ("1", "c1", '{"job_title": "CTO"}', '{"segsync_demographic": "exec"}'),
        ("2", "c2", '{"job_title": "Intern"}', "{}"),
    ]
    assert mirror.load("hubspot", "contact", ["2", "404"])["id"].to_list() == ["2"]
    assert mirror.load("salesforce", "contact").height == 0
    assert sorted(mirror.linked("hubspot", "contact", "company_id", ["c1", "c2"])) == ["1", "2"]


def test_a_write_stamps_the_mirrored_record_and_never_moves_the_stamp_back(
    mirror: Mirror,
) -> None:
    store = mirror.store
    assert isinstance(store, StateStore)
    mirror.upsert("hubspot", "company", rows(("9", None, {}, {}), ("8", None, {}, {})))
    late, early = datetime(2026, 5, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC)
    store.record_written("hubspot", "company", [("9", "segsync_tier", "smb")], at=late)
    # A write adopted after a crash keeps its older send time: the stamp stays.
    store.record_written("hubspot", "company", [("9", "segsync_tier", "smb")], at=early)
    mirror.upsert("hubspot", "company", rows(("9", None, {"a": "1"}, {})))  # a read keeps it
    stamps = dict(mirror.load("hubspot", "company", columns=("id", "written_at")).rows())
    assert stamps == {"9": late, "8": None}
    # What a run started at ``early`` must leave alone: written after it began.
    assert mirror.written_since("hubspot", "company", early) == {"9"}
    assert mirror.written_since("hubspot", "company", late) == set()


def test_a_full_read_sweeps_what_it_did_not_see(mirror: Mirror) -> None:
    mirror.upsert("hubspot", "deal", rows(("1", None, {}, {}), ("2", None, {}, {})), mark=1)
    mirror.upsert("hubspot", "deal", rows(("3", None, {}, {})))  # incremental: no mark
    mirror.upsert("hubspot", "deal", rows(("1", None, {}, {}), ("3", None, {}, {})), mark=2)
    assert mirror.unseen("hubspot", "deal", 2) == ["2"]
    assert mirror.delete("hubspot", "deal", ["2", "404"]) == 1
    assert mirror.count("hubspot", "deal") == 2
    assert mirror.purge("hubspot") == 2 and mirror.count("hubspot") == 0


def test_loads_are_columnar_and_typed(mirror: Mirror) -> None:
    many = pl.DataFrame(
        {
            "id": [str(i) for i in range(12_000)],
            "modified_at": [T0] * 12_000,
            "company_id": [str(i % 7) for i in range(12_000)],
            "contact_id": [None] * 12_000,
            "inputs": ['{"country": "DE"}'] * 12_000,
            "outputs": ["{}"] * 12_000,
        },
        schema=ROW_SCHEMA,
    )
    assert len(mirror.upsert("hubspot", "contact", many).inputs) == 12_000
    everything = mirror.load("hubspot", "contact", columns=tuple(ROW_SCHEMA))
    assert everything.schema == ROW_SCHEMA and everything.height == 12_000
    assert everything["modified_at"].unique().to_list() == [T0]
    some = mirror.load("hubspot", "contact", [str(i) for i in range(0, 12_000, 2)])
    assert some.height == 6_000
    with pytest.raises(ValueError, match="no column email"):
        mirror.load("hubspot", "contact", columns=("email",))


def test_ids_with_quotes_and_placeholders_load_exactly_through_the_columnar_path(
    mirror: Mirror,
) -> None:
    """Ids come from the CRM: PostgreSQL's Arrow reads quote them into the statement
    (bound parameters made the driver return one batch of everything), so a quote, a
    backslash or a placeholder in an id must stay part of the id."""
    odd = ["o'brien", "a\\b", "$1", "%s", "x'); DROP TABLE mirror_records; --", "ü-ß"]
    ids = odd + [f"plain-{i}" for i in range(6_000)]  # past one IN chunk: the Arrow path
    frame = pl.DataFrame(
        {
            "id": ids,
            "modified_at": [T0] * len(ids),
            "company_id": ids,
            "contact_id": [None] * len(ids),
            "inputs": ["{}"] * len(ids),
            "outputs": ["{}"] * len(ids),
        },
        schema=ROW_SCHEMA,
    )
    mirror.upsert("hubspot", "contact", frame)
    wanted = odd + [f"plain-{i}" for i in range(0, 6_000, 3)]
    loaded = mirror.load("hubspot", "contact", wanted, columns=("id", "company_id"))
    assert sorted(loaded["id"].to_list()) == sorted(wanted)
    assert (loaded["id"] == loaded["company_id"]).all()
    assert mirror.load("hubspot", "contact").height == len(ids)


def test_purge_asks_and_without_an_answer_keeps_the_mirror_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    monkeypatch.setenv("SEGSYNC_DATABASE_URL", url)
    with StateStore(url) as store:
        store.migrate()
        store.mirror.upsert("hubspot", "contact", rows(("1", None, {}, {})))
    kept = CliRunner().invoke(main, ["mirror", "purge"], input="")
    assert kept.exit_code == 2 and "pass --yes" in kept.output
    assert "Traceback" not in kept.output
    purged = CliRunner().invoke(main, ["mirror", "purge", "--yes"])
    assert purged.exit_code == 0 and "removed 1 mirrored records" in purged.output
    with StateStore(url) as store:
        assert store.mirror.count("hubspot") == 0


def test_the_upgrade_stamps_mirrored_records_with_their_latest_write(
    fresh_url: tuple[str, str | None],
) -> None:
    url, _schema = fresh_url
    with StateStore(url) as store:
        with store._write() as conn:
            command.upgrade(store._alembic_config(conn), "0008")
        later = datetime(2026, 2, 1, tzinfo=UTC)
        # The mirror as revision 0008 made it: no ``written_at`` yet.
        mirrored = table(
            "mirror_records",
            *(column(c) for c in ("crm", "object_type", "id", "inputs", "outputs", "read_mark")),
        )
        with store.engine.begin() as conn:
            for object_type, field, at in (
                ("contact", "a", T0),
                ("contact", "b", later),
                ("company", "a", T0),  # another type's record of the same id
            ):
                row = {"record_id": "1", "field": field, "value": "x", "entered_at": at}
                conn.execute(
                    insert(WrittenValueRow).values(
                        crm="hubspot", object_type=object_type, written_at=at, **row
                    )
                )
            for rid in ("1", "2"):
                values = {"inputs": "{}", "outputs": "{}", "read_mark": 0}
                conn.execute(
                    insert(mirrored).values(crm="hubspot", object_type="contact", id=rid, **values)
                )
        store.migrate()
        stamps = dict(store.mirror.load("hubspot", "contact", columns=("id", "written_at")).rows())
    assert stamps == {"1": later, "2": None}


def test_a_bulk_load_keeps_postgresql_planning_look_ups_by_id(
    pg_schemas: PgSchemas,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A full pull fills the mirror page by page, and each page looks its records up
    by id first. Planned on a never-analyzed table (autovacuum off, as on this
    machine), each look-up scanned every record mirrored so far: 0.3 s per page at
    760,000 contacts. The store analyzes the tables it grows as they double."""
    monkeypatch.setattr(base, "GROWTH_BEFORE_ANALYZE", 2_000)
    url, _schema = pg_schemas.new("_growth")
    with StateStore(url) as store:
        store.migrate()
        for page in range(30):
            store.mirror.upsert(
                "hubspot",
                "contact",
                rows(*((str(page * 200 + i), None, {"job_title": "CTO"}, {}) for i in range(200))),
            )
        with store.engine.connect() as conn:
            estimated = conn.scalar(
                text("SELECT reltuples FROM pg_class WHERE oid = 'mirror_records'::regclass")
            )

    # Analyzed at 2,000, 4,000 rows (never at all without the refresh: -1).
    # What the planner goes by: with it, a look-up of 100 ids among 760,000 rows is an
    # index scan again (0.3 s -> ~1 ms, measured on the 1M benchmark's database).
    assert estimated is not None and estimated >= 4000


def test_two_full_reads_in_one_second_still_tell_what_the_second_did_not_see(
    mirror: Mirror,
) -> None:
    first = mirror.next_mark("hubspot", T0)
    assert first == int(T0.timestamp())
    mirror.upsert("hubspot", "deal", rows(("1", None, {}, {}), ("2", None, {}, {})), mark=first)
    second = mirror.next_mark("hubspot", T0)  # the same second
    assert second > first
    mirror.upsert("hubspot", "deal", rows(("1", None, {}, {})), mark=second)
    assert mirror.unseen("hubspot", "deal", second) == ["2"]
    # Each CRM counts its own reads.
    assert mirror.next_mark("salesforce", T0) == first
