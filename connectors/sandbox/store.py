"""Dialect-neutral record store: one column-oriented table per object type, plus links.

Values are held per column (one Python list per property) because 100,000 records
with 40 properties as per-record dicts would cost several hundred MB. Storage by kind:

* ``string``, ``enum``, ``bool``: ``str`` or None
* ``number``: the normalised decimal ``str`` plus a shadow ``float`` column for search
* ``datetime``, ``date``: epoch milliseconds (``int``); dialects format them on output

Empty values are None. Record id, creation and modification time live in their own
lists; a dialect exposes them under its own property names through ``aliases``
(e.g. ``{"hs_object_id": ID, "createdate": CREATED}``).

Every change bumps ``version`` (search caches key on it). With a search index delay,
changed records keep a snapshot of their old values until the new version becomes
visible to search (see :class:`Snapshot`). A listener set with :meth:`Store.listen`
hears of every creation, real value change and deletion (the change events of
``events``). Callers hold ``Store.lock``.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from connectors.sandbox.range_index import RangeIndex

Kind = Literal["string", "number", "datetime", "date", "enum", "bool"]
ChangeKind = Literal["create", "update", "delete"]
# (table, row, kind, changed names or None for "every non-empty column", modification ms);
# called with Store.lock held, so it must only enqueue (see ``events``).
ChangeListener = Callable[["Table", int, ChangeKind, "Sequence[str] | None", int], None]
ID = "@id"
CREATED = "@created"
UPDATED = "@updated"
_ALIAS_KINDS: dict[str, Kind] = {ID: "number", CREATED: "datetime", UPDATED: "datetime"}


@dataclass(slots=True)
class Snapshot:
    """What search still sees of a record changed less than the index delay ago."""

    visible_at: float  # time.monotonic() when the current version becomes searchable
    old: dict[str, Any] | None  # stored values before the change; None = record is new
    old_updated: int


class ChangeCounts:
    """Per record and property, how many API writes changed it (the admin read-back).

    One array of counters per written property rather than a dict per record: a full
    sync writes some 30 fields to every record, and a million per-record dicts would
    cost over a gigabyte.
    """

    def __init__(self) -> None:
        self._cols: dict[str, array[int]] = {}

    def add(self, row: int, names: Iterable[str], rows: int) -> None:
        """Count one change of each of ``names`` on ``row`` (``rows``: the table's size)."""
        for name in names:
            col = self._cols.get(name)
            if col is None:
                col = self._cols[name] = array("I", bytes(4 * rows))
            if row >= len(col):
                col.extend(array("I", bytes(4 * (rows - len(col)))))
            col[row] += 1

    def get(self, row: int, default: dict[str, int] | None = None) -> dict[str, int]:
        """The counts of one record's API-changed properties (``default`` when none)."""
        out = {name: col[row] for name, col in self._cols.items() if row < len(col) and col[row]}
        return out if out else ({} if default is None else default)


def typed(kind: Kind, raw: Any) -> Any:
    """The comparable form of a stored value: floats for numbers, the value otherwise."""
    if raw is None or kind != "number":
        return raw
    return float(raw)


class Table:
    """All records of one object type."""

    def __init__(
        self,
        object_type: str,
        kinds: Mapping[str, Kind],
        *,
        aliases: Mapping[str, str],
        first_id: int,
        id_step: int,
    ) -> None:
        self.object_type = object_type
        self.kinds: dict[str, Kind] = dict(kinds)
        self.aliases = dict(aliases)
        self.ids: list[int] = []
        self.row_of: dict[int, int] = {}
        self.created: list[int] = []
        self.updated: list[int] = []
        self.archived: list[bool] = []
        self.cols: dict[str, list[Any]] = {name: [] for name in self.kinds}
        self.num: dict[str, list[float | None]] = {
            n: [] for n, k in self.kinds.items() if k == "number"
        }
        self.changes = ChangeCounts()
        self.pending: dict[int, Snapshot] = {}
        self.unique: dict[str, dict[str, int]] = {}
        self.version = 0
        self.listener: ChangeListener | None = None
        # Sorted views for range searches, by storage key (column name or alias target).
        self.range_indexes: dict[str, RangeIndex] = {}
        self._next_id = first_id
        self._id_step = id_step

    def __len__(self) -> int:
        return len(self.ids)

    # -- schema ---------------------------------------------------------------------------

    def kind_of(self, name: str) -> Kind | None:
        """Storage kind of a property (aliases included), None when unknown."""
        alias = self.aliases.get(name)
        if alias is not None:
            return _ALIAS_KINDS[alias]
        return self.kinds.get(name)

    def add_property(self, name: str, kind: Kind) -> None:
        """Add an empty column (idempotent when the kind is unchanged)."""
        if self.kinds.get(name) == kind:
            return
        self.kinds[name] = kind
        n = len(self.ids)
        if name not in self.cols:
            self.cols[name] = [None] * n
        if kind == "number":
            self.num[name] = [_float_or_none(v) for v in self.cols[name]]
        else:
            self.num.pop(name, None)
        self.range_indexes.pop(name, None)
        self.version += 1

    def index_unique(self, name: str) -> None:
        """Keep a case-insensitive value -> row index for a unique property (email, custom ids)."""
        index: dict[str, int] = {}
        for row, value in enumerate(self.cols[name]):
            if value is not None and not self.archived[row]:
                index[str(value).lower()] = row
        self.unique[name] = index

    # -- bulk load --------------------------------------------------------------------------

    def load(
        self, created: Sequence[int], updated: Sequence[int], columns: Mapping[str, list[Any]]
    ) -> None:
        """Append seeded rows in creation order; ``columns`` hold already-stored values."""
        n = len(created)
        start = len(self.ids)
        for i in range(n):
            self.ids.append(self._next_id)
            self.row_of[self._next_id] = start + i
            self._next_id += self._id_step
        self.created.extend(created)
        self.updated.extend(updated)
        self.archived.extend([False] * n)
        for name, col in self.cols.items():
            values = columns.get(name)
            col.extend(values if values is not None else [None] * n)
        for name, shadow in self.num.items():
            shadow.extend(_float_or_none(v) for v in self.cols[name][start:])
        for name in self.unique:
            self.index_unique(name)
        self.range_indexes.clear()
        self.version += 1

    # -- reads ----------------------------------------------------------------------------------

    def row(self, record_id: int | str, *, archived: bool = False) -> int | None:
        """Row of a record id (string or int); None when unknown or not in the wanted state."""
        try:
            rid = int(record_id)
        except (TypeError, ValueError):
            return None
        row = self.row_of.get(rid)
        if row is None or self.archived[row] != archived:
            return None
        return row

    def get(self, row: int, name: str) -> Any:
        """Stored value of one property (aliases resolved)."""
        alias = self.aliases.get(name)
        if alias == ID:
            return self.ids[row]
        if alias == CREATED:
            return self.created[row]
        if alias == UPDATED:
            return self.updated[row]
        col = self.cols.get(name)
        return None if col is None else col[row]

    def typed_column(self, name: str) -> Sequence[Any]:
        """Per-row comparable values for search: floats for numbers, ms for dates, str otherwise."""
        alias = self.aliases.get(name)
        if alias == ID:
            return self.ids
        if alias == CREATED:
            return self.created
        if alias == UPDATED:
            return self.updated
        shadow = self.num.get(name)
        return shadow if shadow is not None else self.cols[name]

    def range_index(self, name: str) -> RangeIndex | None:
        """The sorted view of a number, date or datetime property (built on first use).

        None for other kinds. Search calls it with the store lock held.
        """
        kind = self.kind_of(name)
        if kind not in ("number", "date", "datetime"):
            return None
        key = self.aliases.get(name, name)
        index = self.range_indexes.get(key)
        if index is None:
            index = RangeIndex(self.typed_column(name), self.archived)
            self.range_indexes[key] = index
        return index

    def _mark(self, row: int, keys: Iterable[str] | None) -> None:
        """Tell the range indexes of ``keys`` (None: all) that ``row`` changed."""
        indexes = self.range_indexes
        if not indexes:
            return
        for key in list(indexes) if keys is None else keys:
            index = indexes.get(key)
            if index is not None:
                index.dirty.add(row)
                if len(index.dirty) > index.rebuild_after:
                    del indexes[key]  # rebuilt by the next range search

    def searchable_value(self, row: int, name: str, snapshot: Snapshot) -> Any:
        """Comparable value of a record as search still sees it (old version under the delay)."""
        if snapshot.old is not None:
            if self.aliases.get(name) == UPDATED:
                return snapshot.old_updated
            if name in snapshot.old:
                kind = self.kind_of(name)
                return typed(kind, snapshot.old[name]) if kind else None
        return self.typed_column(name)[row]

    def lookup_unique(self, name: str, value: str) -> int | None:
        """Row holding ``value`` in a unique-indexed property (case-insensitive)."""
        index = self.unique.get(name)
        return None if index is None else index.get(value.lower())

    def prune_pending(self, now: float) -> None:
        """Forget snapshots whose new version has become visible to search."""
        if self.pending:
            for row in [r for r, s in self.pending.items() if s.visible_at <= now]:
                del self.pending[row]

    # -- writes ---------------------------------------------------------------------------------

    def insert(self, values: Mapping[str, Any], now_ms: int, *, index_delay: float = 0.0) -> int:
        """Create a record from stored values; returns its row."""
        row = len(self.ids)
        rid = self._next_id
        self._next_id += self._id_step
        self.ids.append(rid)
        self.row_of[rid] = row
        self.created.append(now_ms)
        self.updated.append(now_ms)
        self.archived.append(False)
        for name, col in self.cols.items():
            value = values.get(name)
            col.append(sys.intern(value) if type(value) is str else value)
        for name, shadow in self.num.items():
            shadow.append(_float_or_none(self.cols[name][row]))
        for name, index in self.unique.items():
            value = self.cols[name][row]
            if value is not None:
                index[str(value).lower()] = row
        if index_delay > 0:
            self.pending[row] = Snapshot(time.monotonic() + index_delay, None, 0)
        self._mark(row, None)
        self.version += 1
        if self.listener is not None:
            self.listener(self, row, "create", None, now_ms)
        return row

    def update(
        self,
        row: int,
        values: Mapping[str, Any],
        now_ms: int,
        *,
        via_api: bool,
        index_delay: float = 0.0,
    ) -> list[str]:
        """Apply stored values; returns the names that really changed.

        Writing the current value is a no-op: no modification-time bump. ``via_api``
        counts the change per property (the admin read-back shows these counts).
        """
        changed = [name for name, value in values.items() if self.cols[name][row] != value]
        if not changed:
            return changed
        if index_delay > 0:
            self._snapshot(row, changed, index_delay)
        for name in changed:
            self._set(row, name, values[name])
        self.updated[row] = now_ms
        self._mark(row, (*changed, UPDATED))
        if via_api:
            self.changes.add(row, changed, len(self.ids))
        self.version += 1
        if self.listener is not None:
            self.listener(self, row, "update", changed, now_ms)
        return changed

    def touch(self, row: int, modified_ms: int, *, index_delay: float = 0.0) -> None:
        """Set the modification time without a value change (bulk-import timestamps)."""
        if self.updated[row] == modified_ms:
            return
        if index_delay > 0:
            self._snapshot(row, [], index_delay)
        self.updated[row] = modified_ms
        self._mark(row, (UPDATED,))
        self.version += 1

    def archive(self, row: int, now_ms: int) -> None:
        """Archive a record: gone from lists and search, readable with ``archived=true``."""
        self.archived[row] = True
        self.updated[row] = now_ms
        for name, index in self.unique.items():
            value = self.cols[name][row]
            if value is not None and index.get(str(value).lower()) == row:
                del index[str(value).lower()]
        self.pending.pop(row, None)
        self._mark(row, None)
        self.version += 1
        if self.listener is not None:
            self.listener(self, row, "delete", (), now_ms)

    def _snapshot(self, row: int, changed: Iterable[str], delay: float) -> None:
        now = time.monotonic()
        snap = self.pending.get(row)
        if snap is None or snap.visible_at <= now:
            snap = Snapshot(now + delay, {}, self.updated[row])
            self.pending[row] = snap
        else:
            snap.visible_at = now + delay
        if snap.old is not None:
            for name in changed:
                snap.old.setdefault(name, self.cols[name][row])

    def _set(self, row: int, name: str, value: Any) -> None:
        col = self.cols[name]
        index = self.unique.get(name)
        if index is not None:
            old = col[row]
            if old is not None and index.get(str(old).lower()) == row:
                del index[str(old).lower()]
            if value is not None:
                index[str(value).lower()] = row
        # One string object per distinct value: written segment names and reasons repeat
        # across a million records (CPython drops an interned string with its last use).
        col[row] = sys.intern(value) if type(value) is str else value
        shadow = self.num.get(name)
        if shadow is not None:
            shadow[row] = _float_or_none(value)


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)


class Store:
    """Tables by canonical object type, links between records, and the lock guarding both."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.tables: dict[str, Table] = {}
        self._links: dict[tuple[str, str], dict[int, list[int]]] = {}
        self._listener: ChangeListener | None = None

    def add_table(self, table: Table) -> None:
        """Register a table under its object type."""
        table.listener = self._listener
        self.tables[table.object_type] = table

    def listen(self, listener: ChangeListener | None) -> None:
        """Report every record creation, value change and deletion (None: stop reporting)."""
        with self.lock:
            self._listener = listener
            for table in self.tables.values():
                table.listener = listener

    @contextlib.contextmanager
    def quiet(self) -> Iterator[None]:
        """Changes made inside the block are reported to no listener (no change events).

        Hold ``lock`` around the block: other threads' changes would go unreported too.
        """
        with self.lock:
            for table in self.tables.values():
                table.listener = None
            try:
                yield
            finally:
                for table in self.tables.values():
                    table.listener = self._listener

    def table(self, object_type: str) -> Table:
        """The table of an object type (KeyError when unknown)."""
        return self.tables[object_type]

    def link(self, a_type: str, a_id: int, b_type: str, b_id: int) -> None:
        """Associate two records (both directions; linking twice is a no-op)."""
        forward = self._links.setdefault((a_type, b_type), {}).setdefault(a_id, [])
        if b_id not in forward:
            forward.append(b_id)
            self._links.setdefault((b_type, a_type), {}).setdefault(b_id, []).append(a_id)

    def linked(self, from_type: str, from_id: int, to_type: str) -> list[int]:
        """Ids of ``to_type`` records linked to one record; the first is the primary one."""
        return self._links.get((from_type, to_type), {}).get(from_id, [])

    def link_types(self, from_type: str) -> list[str]:
        """Object types that records of ``from_type`` can have links to."""
        return [to for (frm, to) in self._links if frm == from_type]
