"""Dialect-neutral search over a :class:`~connectors.sandbox.store.Table`.

Filters are typed: numbers compare numerically, dates and datetimes as epoch ms
(filter values may be epoch-ms strings or ISO-8601), strings case-insensitively,
enumerations case-sensitively and token-wise (multi-select values are ``;``-separated).
Records without a value only match ``NOT_HAS_PROPERTY``.

Results are ordered by the sort property with ties broken by record id ascending, so
offset paging over an unchanged table is deterministic. Sorted results are cached per
table version; a change anywhere in the table invalidates them.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from fnmatch import translate
from typing import Any

from connectors.sandbox.range_index import Interval
from connectors.sandbox.store import CREATED, Kind, Snapshot, Table

OPERATORS = frozenset(
    {
        "EQ",
        "NEQ",
        "LT",
        "LTE",
        "GT",
        "GTE",
        "BETWEEN",
        "IN",
        "NOT_IN",
        "HAS_PROPERTY",
        "NOT_HAS_PROPERTY",
        "CONTAINS_TOKEN",
        "NOT_CONTAINS_TOKEN",
    }
)
_NUMERIC: frozenset[Kind] = frozenset({"number", "datetime", "date"})
_RANGE_OPS = frozenset({"GT", "GTE", "LT", "LTE", "EQ", "BETWEEN"})
_TOKEN_SPLIT = re.compile(r"[^0-9a-z_]+")
_CACHE_SIZE = 32


class FilterError(ValueError):
    """A filter or sort the engine cannot evaluate (unknown property, bad value, bad operator)."""


def parse_instant(raw: str) -> int:
    """Epoch ms from an epoch-ms string, an ISO-8601 datetime or a ``YYYY-MM-DD`` date."""
    text = raw.strip()
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise FilterError(
            f"{raw!r} is neither epoch milliseconds nor an ISO-8601 date/time"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return round(parsed.timestamp() * 1000)


def coerce(kind: Kind, raw: Any) -> Any:
    """A filter value in the comparable form of ``kind``."""
    if raw is None:
        raise FilterError("filter value is missing")
    text = str(raw).lower() if isinstance(raw, bool) else str(raw)
    if kind == "number":
        try:
            return float(text)
        except ValueError:
            raise FilterError(f"{raw!r} is not a number") from None
    if kind in ("datetime", "date"):
        return parse_instant(text)
    return text


def tokens(value: str) -> set[str]:
    """Search tokens of a text value: whitespace-separated words and their alphanumeric parts."""
    low = value.lower()
    result = set(low.split())
    result.update(t for t in _TOKEN_SPLIT.split(low) if t)
    result.add(low)
    return result


@dataclass(frozen=True, slots=True)
class Condition:
    """One filter: ``prop op value`` with typed operands."""

    prop: str
    op: str
    kind: Kind
    value: Any = None
    high: Any = None
    values: tuple[Any, ...] = ()

    @classmethod
    def build(
        cls,
        table: Table,
        prop: str,
        op: str,
        value: Any = None,
        high: Any = None,
        values: Sequence[Any] | None = None,
    ) -> Condition:
        """Validate and type a filter against a table's schema."""
        kind = table.kind_of(prop)
        if kind is None:
            raise FilterError(f"unknown property {prop!r}")
        if op not in OPERATORS:
            raise FilterError(f"unknown operator {op!r}")
        if op in ("HAS_PROPERTY", "NOT_HAS_PROPERTY"):
            return cls(prop, op, kind)
        if op in ("IN", "NOT_IN"):
            if not isinstance(values, list | tuple) or not values:
                raise FilterError(f"operator {op} needs 'values'")
            return cls(prop, op, kind, values=tuple(coerce(kind, v) for v in values))
        if op == "BETWEEN":
            if high is None:
                raise FilterError("operator BETWEEN needs 'value' and 'highValue'")
            return cls(prop, op, kind, coerce(kind, value), coerce(kind, high))
        if op in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
            if value is None:
                raise FilterError(f"operator {op} needs 'value'")
            return cls(prop, op, kind, str(value).lower())
        return cls(prop, op, kind, coerce(kind, value))

    def matcher(self) -> Callable[[Any], bool]:
        """A predicate over one comparable value (None = no value)."""
        op, kind, x = self.op, self.kind, self.value
        if op == "HAS_PROPERTY":
            return lambda v: v is not None and v != ""
        if op == "NOT_HAS_PROPERTY":
            return lambda v: v is None or v == ""
        if op in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
            has = _token_matcher(x)
            if op == "CONTAINS_TOKEN":
                return lambda v: v is not None and has(str(v).lower())
            return lambda v: v is not None and not has(str(v).lower())
        if kind in _NUMERIC:
            return _numeric(op, x, self.high, self.values)
        if kind == "enum":
            return _enum(op, x, self.values)
        return _text(op, x, self.high, self.values)

    def filter_rows(self, rows: list[int], col: Sequence[Any]) -> list[int]:
        """The rows (of ``rows``) whose value in ``col`` matches."""
        if self.kind in _NUMERIC:
            x, op = self.value, self.op
            # Comprehensions without a call per row: the incremental-sync hot path.
            if op == "GTE":
                return [r for r in rows if (v := col[r]) is not None and v >= x]
            if op == "GT":
                return [r for r in rows if (v := col[r]) is not None and v > x]
            if op == "LTE":
                return [r for r in rows if (v := col[r]) is not None and v <= x]
            if op == "LT":
                return [r for r in rows if (v := col[r]) is not None and v < x]
            if op == "EQ":
                return [r for r in rows if col[r] == x]
        match = self.matcher()
        return [r for r in rows if match(col[r])]


def _token_matcher(pattern: str) -> Callable[[str], bool]:
    """Token match with ``*`` wildcards (``*@hubspot.com``) over a lower-cased value.

    A cheap substring test on the pattern's literal parts rejects most values before
    any tokenising happens (this runs over every record of a table).
    """
    literals = [part for part in pattern.split("*") if part]
    if "*" not in pattern:
        return lambda low: pattern in low and pattern in tokens(low)
    rx = re.compile(translate(pattern))

    def has(low: str) -> bool:
        if not all(part in low for part in literals):
            return False
        return rx.match(low) is not None or any(rx.match(t) for t in tokens(low))

    return has


def _numeric(op: str, x: Any, high: Any, values: tuple[Any, ...]) -> Callable[[Any], bool]:
    if op == "EQ":
        return lambda v: v is not None and v == x
    if op == "NEQ":
        return lambda v: v is not None and v != x
    if op == "LT":
        return lambda v: v is not None and v < x
    if op == "LTE":
        return lambda v: v is not None and v <= x
    if op == "GT":
        return lambda v: v is not None and v > x
    if op == "GTE":
        return lambda v: v is not None and v >= x
    if op == "BETWEEN":
        return lambda v: v is not None and x <= v <= high
    wanted = frozenset(values)
    if op == "IN":
        return lambda v: v is not None and v in wanted
    return lambda v: v is not None and v not in wanted


def _enum(op: str, x: Any, values: tuple[Any, ...]) -> Callable[[Any], bool]:
    def parts(v: str) -> list[str]:
        return v.split(";") if ";" in v else [v]

    if op == "EQ":
        return lambda v: v is not None and x in parts(v)
    if op == "NEQ":
        return lambda v: v is not None and x not in parts(v)
    wanted = frozenset(values)
    if op == "IN":
        return lambda v: v is not None and not wanted.isdisjoint(parts(v))
    if op == "NOT_IN":
        return lambda v: v is not None and wanted.isdisjoint(parts(v))
    return _text(op, x, None, values)


def _text(op: str, x: Any, high: Any, values: tuple[Any, ...]) -> Callable[[Any], bool]:
    lx = x.lower() if isinstance(x, str) else x
    lh = high.lower() if isinstance(high, str) else high
    if op == "EQ":
        return lambda v: v is not None and v.lower() == lx
    if op == "NEQ":
        return lambda v: v is not None and v.lower() != lx
    if op == "LT":
        return lambda v: v is not None and v.lower() < lx
    if op == "LTE":
        return lambda v: v is not None and v.lower() <= lx
    if op == "GT":
        return lambda v: v is not None and v.lower() > lx
    if op == "GTE":
        return lambda v: v is not None and v.lower() >= lx
    if op == "BETWEEN":
        return lambda v: v is not None and lx <= v.lower() <= lh
    # String IN/NOT_IN values must be given in lower case (HubSpot's rule): an upper-case
    # value never matches.
    wanted = frozenset(values)
    if op == "IN":
        return lambda v: v is not None and v.lower() in wanted
    return lambda v: v is not None and v.lower() not in wanted


@dataclass(frozen=True, slots=True)
class Sort:
    """Order by one property; ties always by id ascending."""

    prop: str
    descending: bool = False


@dataclass(frozen=True, slots=True)
class Query:
    """Filter groups (OR of ANDs), one sort, optional free text over some properties."""

    groups: tuple[tuple[Condition, ...], ...] = ()
    sort: Sort | None = None
    text: str | None = None
    text_props: tuple[str, ...] = ()


class SearchEngine:
    """Runs queries against tables and caches sorted results per table version."""

    def __init__(self) -> None:
        self._cache: OrderedDict[tuple[Any, ...], list[int]] = OrderedDict()
        self._lock = threading.Lock()

    def run(self, table: Table, query: Query, now: float) -> list[int]:
        """Rows matching ``query`` as search sees them at monotonic time ``now``, sorted.

        Call with the store lock held.
        """
        table.prune_pending(now)
        cacheable = not table.pending
        key = (id(table), table.version, query)
        if cacheable:
            with self._lock:
                hit = self._cache.get(key)
                if hit is not None:
                    self._cache.move_to_end(key)
                    return hit
        rows = self._match(table, query)
        rows = self._sort(table, rows, query.sort)
        if cacheable:
            with self._lock:
                self._cache[key] = rows
                while len(self._cache) > _CACHE_SIZE:
                    self._cache.popitem(last=False)
        return rows

    def page(
        self, table: Table, query: Query, now: float, offset: int, limit: int
    ) -> tuple[int, list[int]]:
        """(how many rows match, the matching rows [offset, offset + limit)) in search order.

        The same answer as slicing :meth:`run`; a query of one filter group with a range
        filter on a number or date property is answered from a sorted index instead of a
        scan of the table (see ``range_index``), in time proportional to its page when
        it is sorted ascending by that property and has no other filter, and to its
        matches otherwise. Call with the store lock held.
        """
        table.prune_pending(now)
        if not table.pending and query.text is None and len(query.groups) == 1:
            answer = _ranged_page(table, query, offset, limit)
            if answer is not None:
                return answer
        rows = self.run(table, query, now)
        return len(rows), rows[offset : offset + limit]

    def _match(self, table: Table, query: Query) -> list[int]:
        archived = table.archived
        pending = table.pending
        base = (
            [r for r in range(len(archived)) if not archived[r] and r not in pending]
            if pending
            else [r for r in range(len(archived)) if not archived[r]]
        )
        if query.text:
            base = _text_filter(table, base, query.text, query.text_props)
        result = base
        if query.groups:
            per_group = []
            for group in query.groups:
                cand = base
                for cond in group:
                    cand = cond.filter_rows(cand, table.typed_column(cond.prop))
                    if not cand:
                        break
                per_group.append(cand)
            # Each group's rows are in row (= id) order already; only a union needs sorting.
            result = per_group[0] if len(per_group) == 1 else sorted(set().union(*per_group))
        if pending:
            extra = [
                row
                for row, snap in pending.items()
                if snap.old is not None
                and not archived[row]
                and _matches_snapshot(table, row, snap, query)
            ]
            if extra:
                result = sorted(set(result).union(extra))
        return result

    @staticmethod
    def _sort(table: Table, rows: list[int], sort: Sort | None) -> list[int]:
        prop = sort.prop if sort else None
        descending = bool(sort and sort.descending)
        if prop is None:
            col: Sequence[Any] = table.created
            kind: Kind | None = "datetime"
        else:
            col = table.typed_column(prop)
            kind = table.kind_of(prop)
        pending = table.pending

        def value(r: int) -> Any:
            snap = pending.get(r)
            if snap is not None:
                return table.searchable_value(r, prop or _created_name(table), snap)
            return col[r]

        getter: Callable[[int], Any] = value if pending else col.__getitem__
        if pending:
            missing = [r for r in rows if getter(r) is None]
        else:
            missing = [r for r in rows if col[r] is None]  # no call per row on the hot path
        present = [r for r in rows if getter(r) is not None] if missing else rows
        if kind in _NUMERIC:
            present = sorted(present, key=getter, reverse=descending)
        else:
            present = sorted(present, key=lambda r: str(getter(r)).lower(), reverse=descending)
        # Records without a value sort as the lowest value; id ascending breaks ties because
        # rows are in id order and Python's sort is stable (also with reverse=True).
        return missing + present if not descending else present + missing


def _ranged_page(
    table: Table, query: Query, offset: int, limit: int
) -> tuple[int, list[int]] | None:
    """A page answered from the range index of the group's most selective range property.

    None when the group has no range filter on an indexable property.
    """
    group = query.groups[0]
    intervals: dict[str, Interval] = {}
    for cond in group:
        if cond.op in _RANGE_OPS and cond.kind in _NUMERIC:
            interval = intervals.get(cond.prop, Interval())
            intervals[cond.prop] = interval.narrowed(cond.op, cond.value, cond.high)
    best: tuple[int, str] | None = None
    for prop, interval in intervals.items():
        index = table.range_index(prop)
        if index is None:
            continue
        start, end = index.bounds(interval)
        if best is None or end - start < best[0]:
            best = (end - start, prop)
    if best is None:
        return None
    prop = best[1]
    index = table.range_index(prop)
    assert index is not None
    interval = intervals[prop]
    current = table.typed_column(prop)
    # Range filters on the chosen property are the interval; everything else is checked.
    rest = [c for c in group if not (c.prop == prop and c.op in _RANGE_OPS)]
    sort = query.sort
    if not rest and sort is not None and sort.prop == prop and not sort.descending:
        return index.page(interval, current, table.archived, offset, limit)
    rows = index.all_rows(interval, current, table.archived)
    for cond in rest:
        rows = cond.filter_rows(rows, table.typed_column(cond.prop))
    rows = SearchEngine._sort(table, rows, sort)
    return len(rows), rows[offset : offset + limit]


def _created_name(table: Table) -> str:
    for name, alias in table.aliases.items():
        if alias == CREATED:
            return name
    raise FilterError("table has no creation-time property")


def _matches_snapshot(table: Table, row: int, snap: Snapshot, query: Query) -> bool:
    if query.text and not _text_filter(table, [row], query.text, query.text_props):
        return False
    if not query.groups:
        return True
    return any(
        all(cond.matcher()(table.searchable_value(row, cond.prop, snap)) for cond in group)
        for group in query.groups
    )


def _text_filter(table: Table, rows: list[int], text: str, props: Sequence[str]) -> list[int]:
    """Rows where every word of ``text`` starts some token of one of ``props``."""
    words = [w.rstrip("*") for w in text.lower().split() if w.rstrip("*")]
    if not words:
        return rows
    cols = [table.cols[p] for p in props if p in table.cols]
    # Substring pre-filter per column (no per-row string building), then exact token checks.
    first = words[0]
    candidates: set[int] = set()
    for col in cols:
        candidates.update(r for r in rows if (v := col[r]) is not None and first in v.lower())
    out = []
    for r in sorted(candidates):
        toks = tokens(" ".join(str(c[r]) for c in cols if c[r] is not None))
        if all(any(t.startswith(w) for t in toks) for w in words):
            out.append(r)
    return out
