"""Planned writes spooled to Redis a chunk at a time, for the write tasks to fetch.

A full run plans a write for every record. Handed to the spool as each slice of the
diff is planned, they are packed into chunks of ``size`` records, compressed and kept
under a key of their own; the write tasks carry the key. So neither the segment task
nor the chord's messages hold every write of a million-record run at once.

A chunk outlives its run's longest wait (a write task held back to the next UTC day by
the daily API budget) and is dropped when the run is recorded. One that is gone when
its task runs (expired) loses nothing: its records were not recorded as written, so the
next run plans them again.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import redis

from connectors.base import FieldWrite, ObjectType

SPOOL_TTL_SECONDS = 3 * 24 * 3600


@dataclass
class WriteChunk:
    """One spooled chunk: its writes and which of them repair a hand edit."""

    writes: list[FieldWrite]
    repairs: set[tuple[str, str]]


@dataclass
class WriteSpool:
    """A plan's ``deliver``: packs writes into chunks of ``size`` records in Redis."""

    client: redis.Redis
    crm: str
    run_id: int
    size: int
    ttl: int = SPOOL_TTL_SECONDS
    keys: list[str] = field(default_factory=list)
    _pending: list[FieldWrite] = field(default_factory=list)
    _repairs: set[tuple[str, str]] = field(default_factory=set)

    def __call__(
        self, object_type: ObjectType, writes: list[FieldWrite], repairs: set[str]
    ) -> None:
        self._pending += writes
        self._repairs |= {(object_type, rid) for rid in repairs}
        while len(self._pending) >= self.size:
            self._flush(self.size)

    def close(self) -> list[str]:
        """Spool what is left; the keys of every chunk, in order."""
        while self._pending:
            self._flush(self.size)
        return self.keys

    def discard(self) -> None:
        """Drop every chunk spooled so far (the run stopped before queuing them)."""
        drop_chunks(self.client, self.keys)
        self.keys, self._pending, self._repairs = [], [], set()

    def _flush(self, count: int) -> None:
        chunk, self._pending = self._pending[:count], self._pending[count:]
        keys = {(w.object_type, w.record_id) for w in chunk}
        repairs, self._repairs = self._repairs & keys, self._repairs - keys
        body = {
            "writes": [[w.object_type, w.record_id, w.fields] for w in chunk],
            "repairs": sorted(repairs),
        }
        key = f"segsync:writes:{self.crm}:{self.run_id}:{len(self.keys)}"
        self.client.set(key, zlib.compress(json.dumps(body).encode(), 3), ex=self.ttl)
        self.keys.append(key)


def fetch_chunk(client: redis.Redis, key: str) -> WriteChunk | None:
    """A spooled chunk, or None when it is gone."""
    raw = client.get(key)
    if raw is None:
        return None
    body = json.loads(zlib.decompress(raw))  # type: ignore[arg-type]
    writes = [unpack_write(packed) for packed in body["writes"]]
    return WriteChunk(writes, {(t, rid) for t, rid in body["repairs"]})


def unpack_write(packed: list[Any]) -> FieldWrite:
    """A write from its JSON form ``[object type, record id, {field: value}]``."""
    object_type, record_id, fields = packed
    return FieldWrite(object_type, str(record_id), {str(k): str(v) for k, v in fields.items()})


def drop_chunks(client: redis.Redis, keys: Iterable[str]) -> None:
    """Delete spooled chunks (the run that planned them is recorded)."""
    keys = list(keys)
    for start in range(0, len(keys), 1000):
        client.delete(*keys[start : start + 1000])
