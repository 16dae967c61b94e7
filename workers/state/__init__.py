"""The state store: sync cursors, run history, written values, dead letters, event inbox.

One relational database — a SQLite file by default, PostgreSQL in production — that
holds cursors, the minimised mirror of the CRM, the values segsync itself wrote, dead
letters and the inbox of change events. A deletion (or privacy deletion) in the CRM
plus :meth:`StateStore.forget_records` removes every row about the record, its events
included (each stored event names its record).

The schema is owned by the Alembic migrations in ``workers/migrations``; the ORM models
in :mod:`workers.state.schema` mirror them (a test checks that the two agree) and are
used to build statements. Every timestamp goes in and comes out timezone-aware UTC, on
both backends. SQLite needs to be 3.35 or newer (RETURNING, materialized CTEs).

On PostgreSQL the store uses the connection's ``search_path``; to keep it in its own
schema, put ``?options=-csearch_path%3Dsegsync`` on the URL (Alembic's version table
follows it there too).

Layout, one module per concept; everything is re-exported here, so callers import
from ``workers.state``:

- ``schema``: the tables (ORM models), column types, ``RunStatus``/``EventStatus``;
- ``records``: the values handed out and taken in (``Run``, ``DeadLetter``, ...);
- ``engine``: URL parsing, engine creation, SQLite set-up, process owners, helpers;
- ``base``: ``StoreBase``, the engine, clock, transactions and migrations;
- ``runs``, ``written``, ``deadletters``, ``models``, ``inbox``, ``locks``: one mixin each;
- ``mirror``: the mirror's table and reads/writes; ``changes``: what an event's payload
  names (pure, shared with ``workers/events/processor.py``);
- ``store``: ``StateStore``, the mixins put together.
"""

from workers.state.base import MIGRATIONS_DIR, StoreBase
from workers.state.engine import (
    _IN_CHUNK,
    _WRITE_CHUNK,
    DEFAULT_URL,
    normalize_url,
    owner_alive,
    process_owner,
)
from workers.state.records import DeadLetter, DeadLetterEntry, InboxEvent, Run, WrittenValue
from workers.state.schema import (
    Base,
    BigId,
    DeadLetterRow,
    EventCounterRow,
    EventPauseRow,
    EventStatus,
    InboxEventRow,
    JsonType,
    JsonValue,
    ModelStateRow,
    RunRow,
    RunStatus,
    SyncCursorRow,
    UTCDateTime,
    WriteInFlightRow,
    WrittenValueRow,
    utcnow,
)
from workers.state.store import StateStore

__all__ = [
    "DEFAULT_URL",
    "MIGRATIONS_DIR",
    "_IN_CHUNK",
    "_WRITE_CHUNK",
    "Base",
    "BigId",
    "DeadLetter",
    "DeadLetterEntry",
    "DeadLetterRow",
    "EventCounterRow",
    "EventPauseRow",
    "EventStatus",
    "InboxEvent",
    "InboxEventRow",
    "JsonType",
    "JsonValue",
    "ModelStateRow",
    "Run",
    "RunRow",
    "RunStatus",
    "StateStore",
    "StoreBase",
    "SyncCursorRow",
    "UTCDateTime",
    "WriteInFlightRow",
    "WrittenValue",
    "WrittenValueRow",
    "normalize_url",
    "owner_alive",
    "process_owner",
    "utcnow",
]
