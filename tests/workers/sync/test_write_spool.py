"""The write spool: a plan's writes go to Redis in chunks as they are planned, and come
back whole, with the repairs of hand edits in the chunk of their record."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

from connectors.base import FieldWrite
from workers.sync.write_spool import WriteSpool, drop_chunks, fetch_chunk


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(redis_url)
    yield connection
    connection.close()


def writes(object_type: str, *ids: int) -> list[FieldWrite]:
    return [FieldWrite(object_type, str(i), {"segsync_tier": f"t{i}", "x": "é"}) for i in ids]


def test_writes_delivered_slice_by_slice_come_back_in_chunks_with_their_repairs(
    client: redis.Redis,
) -> None:
    crm = f"test-{uuid.uuid4().hex[:8]}"
    spool = WriteSpool(client, crm, run_id=7, size=3)
    spool("contact", writes("contact", 1, 2, 3, 4), {"4"})
    assert len(spool.keys) == 1  # a full chunk is spooled as soon as it is there
    spool("company", writes("company", 9, 8), {"9"})
    keys = spool.close()
    assert len(keys) == 2 and all(client.ttl(k) > 24 * 3600 for k in keys)
    chunks = [fetch_chunk(client, k) for k in keys]
    assert [[(w.object_type, w.record_id) for w in c.writes] for c in chunks if c] == [
        [("contact", "1"), ("contact", "2"), ("contact", "3")],
        [("contact", "4"), ("company", "9"), ("company", "8")],
    ]
    first, second = chunks
    assert first is not None and second is not None
    assert first.repairs == set() and second.repairs == {("contact", "4"), ("company", "9")}
    assert second.writes[0].fields == {"segsync_tier": "t4", "x": "é"}
    drop_chunks(client, keys)
    assert [fetch_chunk(client, k) for k in keys] == [None, None]


def test_a_run_that_stops_before_queuing_leaves_no_chunk(client: redis.Redis) -> None:
    spool = WriteSpool(client, f"test-{uuid.uuid4().hex[:8]}", run_id=1, size=2)
    spool("contact", writes("contact", 1, 2, 3), set())
    keys = list(spool.keys)
    spool.discard()
    assert keys and all(client.exists(k) == 0 for k in keys)
    assert spool.close() == []
