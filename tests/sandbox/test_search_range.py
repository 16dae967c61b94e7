"""Range searches answered from the sorted index give exactly what a full scan gives.

An incremental read pages "modified after T, sorted by modified time" while records keep
changing, are archived and created; the index must never lose, repeat or misorder one.
"""

from __future__ import annotations

import random

import pytest

from connectors.sandbox.range_index import MIN_REBUILD
from connectors.sandbox.search import Condition, Query, SearchEngine, Sort
from connectors.sandbox.store import CREATED, ID, UPDATED, Table


def _table(n: int, rng: random.Random) -> Table:
    table = Table(
        "contact",
        {"score": "number", "seen": "datetime", "title": "string"},
        aliases={"hs_object_id": ID, "createdate": CREATED, "lastmodifieddate": UPDATED},
        first_id=1,
        id_step=1,
    )
    created = sorted(rng.randrange(1_000, 2_000) for _ in range(n))
    # Few distinct modification times: many records share one, as after a batch write.
    updated = [c + rng.randrange(0, 40) * 50 for c in created]
    table.load(
        created,
        updated,
        {
            "score": [None if rng.random() < 0.1 else str(rng.randrange(100)) for _ in range(n)],
            "seen": [None if rng.random() < 0.2 else rng.randrange(0, 5_000) for _ in range(n)],
            "title": [rng.choice(["ceo", "cto", None]) for _ in range(n)],
        },
    )
    return table


def _queries(table: Table, rng: random.Random) -> list[tuple[Query, int, int]]:
    t = rng.randrange(1_000, 4_000)
    queries = [
        # The incremental read: modified after a cursor, up to a horizon, by modified time.
        Query(
            (
                (
                    Condition.build(table, "lastmodifieddate", "GT", t),
                    Condition.build(table, "lastmodifieddate", "LTE", t + rng.randrange(0, 3_000)),
                ),
            ),
            Sort("lastmodifieddate"),
        ),
        # The tie read: one modification time, ids after a given one, by id.
        Query(
            (
                (
                    Condition.build(table, "lastmodifieddate", "EQ", rng.choice(table.updated)),
                    Condition.build(table, "hs_object_id", "GT", rng.randrange(0, len(table))),
                ),
            ),
            Sort("hs_object_id"),
        ),
        Query(((Condition.build(table, "score", "BETWEEN", "10", "60"),),), Sort("score", True)),
        Query(
            (
                (
                    Condition.build(table, "seen", "GTE", t),
                    Condition.build(table, "title", "EQ", "ceo"),
                ),
            ),
            Sort("seen"),
        ),
        Query(((Condition.build(table, "score", "LT", "30"),),), None),
    ]
    return [(q, rng.randrange(0, 50), rng.choice([1, 7, 200])) for q in queries]


def _change(table: Table, rng: random.Random, now: int) -> None:
    pick = rng.random()
    row = rng.randrange(len(table))
    if pick < 0.1:
        table.insert({"score": str(rng.randrange(100)), "seen": now}, now)
    elif pick < 0.2:
        if not table.archived[row]:
            table.archive(row, now)
    elif pick < 0.6:
        table.update(row, {"score": str(rng.randrange(100))}, now, via_api=True)
    elif pick < 0.8:
        table.update(row, {"seen": rng.randrange(0, 5_000)}, now, via_api=True)
    else:
        table.touch(row, now)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_range_pages_equal_a_full_scan_while_records_change(seed: int) -> None:
    rng = random.Random(seed)
    table = _table(3_000, rng)
    engine = SearchEngine()
    now = 3_000
    for step in range(60):
        for query, offset, limit in _queries(table, rng):
            full = engine.run(table, query, 0.0)
            total, page = engine.page(table, query, 0.0, offset, limit)
            assert (total, page) == (len(full), full[offset : offset + limit]), (step, query)
        for _ in range(rng.choice([1, 5, 40])):
            now += rng.choice([0, 0, 1, 10])
            _change(table, rng, now)


def test_many_changes_drop_the_index_and_the_next_search_rebuilds_it() -> None:
    rng = random.Random(9)
    table = _table(MIN_REBUILD + 100, rng)
    engine = SearchEngine()
    query = Query(
        ((Condition.build(table, "lastmodifieddate", "GT", 0),),), Sort("lastmodifieddate")
    )
    engine.page(table, query, 0.0, 0, 10)
    assert UPDATED in table.range_indexes
    for i in range(MIN_REBUILD + 1):
        table.touch(i, 10_000 + i)
    assert UPDATED not in table.range_indexes  # bounded: no ever-growing dirty set
    full = engine.run(table, query, 0.0)
    assert engine.page(table, query, 0.0, 0, 10) == (len(full), full[:10])
