"""Sorted views of numeric columns, so a range search costs its page, not the table.

An incremental read asks "modified after T, sorted by modified time, first 200" again
and again; scanning and sorting a million rows for each page made the sandbox, not
the client, the bottleneck at issue 13's size. A :class:`RangeIndex` holds one
column's live values sorted by (value, row) in numpy arrays, built on first use.

Changes do not rebuild it: the table marks the rows it changes as *dirty*, and a
query reads the sorted arrays without the dirty rows plus the dirty rows' current
values. Past ``rebuild_after`` dirty rows the table drops the index and the next query
builds it afresh, so both the per-query work and the memory held stay bounded.
Row order is id order, so (value, row) order is search order: value, then id ascending.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

MIN_REBUILD = 4096  # dirty rows tolerated before a rebuild, at least
REBUILD_SHARE = 50  # ...or one row in this many


@dataclass(frozen=True, slots=True)
class Interval:
    """Values between ``low`` and ``high`` (None: unbounded), each end open or closed."""

    low: float | None = None
    low_closed: bool = True
    high: float | None = None
    high_closed: bool = True

    def narrowed(self, op: str, value: Any, high: Any = None) -> Interval:
        """This interval intersected with ``op value`` (GT, GTE, LT, LTE, EQ, BETWEEN)."""
        low, low_closed, top, top_closed = self.low, self.low_closed, self.high, self.high_closed
        if op in ("GT", "GTE", "EQ", "BETWEEN"):
            closed = op != "GT"
            if low is None or value > low or (value == low and not closed):
                low, low_closed = value, closed
        if op in ("LT", "LTE", "EQ", "BETWEEN"):
            limit = high if op == "BETWEEN" else value
            closed = op != "LT"
            if top is None or limit < top or (limit == top and not closed):
                top, top_closed = limit, closed
        return Interval(low, low_closed, top, top_closed)

    def contains(self, v: Any) -> bool:
        """Whether a (non-None) value lies in the interval."""
        if self.low is not None and (v < self.low or (v == self.low and not self.low_closed)):
            return False
        return not (
            self.high is not None and (v > self.high or (v == self.high and not self.high_closed))
        )


class RangeIndex:
    """One column's live, non-empty values in (value, row) order, plus the rows changed since."""

    def __init__(self, values: Sequence[Any], archived: Sequence[bool]) -> None:
        self.dirty: set[int] = set()
        self.built_rows = len(values)
        self.rebuild_after = max(MIN_REBUILD, len(values) // REBUILD_SHARE)
        by_row = np.array(values, dtype=np.float64)  # None -> nan
        live = ~np.array(archived, dtype=bool) & ~np.isnan(by_row)
        rows = np.flatnonzero(live)
        order = rows[np.argsort(by_row[rows], kind="stable")]
        self.sorted_values = by_row[order]
        self.sorted_rows = order
        self._position: np.ndarray[Any, np.dtype[np.int64]] | None = None

    def bounds(self, interval: Interval) -> tuple[int, int]:
        """Positions [start, end) of the indexed values inside ``interval``."""
        values = self.sorted_values
        start = 0
        if interval.low is not None:
            side: Literal["left", "right"] = "left" if interval.low_closed else "right"
            start = int(np.searchsorted(values, interval.low, side=side))
        end = len(values)
        if interval.high is not None:
            side = "right" if interval.high_closed else "left"
            end = int(np.searchsorted(values, interval.high, side=side))
        return start, max(start, end)

    def changed_matches(
        self, interval: Interval, current: Sequence[Any], archived: Sequence[bool]
    ) -> list[tuple[Any, int]]:
        """(value, row) of rows changed or added since the build that now lie in ``interval``."""
        out = []
        for row in self.dirty:
            if row < len(current) and not archived[row]:
                v = current[row]
                if v is not None and interval.contains(v):
                    out.append((v, row))
        out.sort()
        return out

    def rows_in(
        self,
        interval: Interval,
        current: Sequence[Any],
        archived: Sequence[bool],
    ) -> tuple[int, list[tuple[Any, int]], int, int]:
        """What a query needs: base matches count, changed matches, and the base slice.

        Returns (base count without dirty rows, changed matches, start, end); rows of
        ``sorted_rows[start:end]`` that are dirty must be skipped by the caller.
        """
        start, end = self.bounds(interval)
        dirty = self.dirty
        stale = 0
        if dirty:
            # Dirty rows still sitting in the base slice are counted out, then re-added
            # with their current values by changed_matches.
            if len(dirty) < end - start:
                positions = self._positions_of(dirty)
                stale = sum(1 for p in positions if start <= p < end)
            else:
                stale = sum(1 for r in self.sorted_rows[start:end].tolist() if r in dirty)
        return end - start - stale, self.changed_matches(interval, current, archived), start, end

    def _positions_of(self, rows: set[int]) -> list[int]:
        """Positions in the sorted arrays of the given rows that were indexed."""
        pos = self._position
        if pos is None:
            pos = np.full(self.built_rows, -1, dtype=np.int64)
            pos[self.sorted_rows] = np.arange(len(self.sorted_rows))
            self._position = pos
        return [int(pos[r]) for r in rows if r < self.built_rows and pos[r] >= 0]

    def page(
        self,
        interval: Interval,
        current: Sequence[Any],
        archived: Sequence[bool],
        offset: int,
        limit: int,
    ) -> tuple[int, list[int]]:
        """(total, rows[offset:offset+limit]) of the rows in ``interval`` in (value, row) order."""
        base_count, changed, start, end = self.rows_in(interval, current, archived)
        wanted = offset + limit
        dirty = self.dirty
        # At most len(dirty) base rows are skipped, so this many cover the wanted ones.
        stop = min(end, start + wanted + len(dirty))
        base = [
            (v, r)
            for v, r in zip(
                self.sorted_values[start:stop].tolist(),
                self.sorted_rows[start:stop].tolist(),
                strict=True,
            )
            if r not in dirty
        ]
        merged = [r for _, r in heapq.merge(base, changed)][:wanted]
        return base_count + len(changed), merged[offset:]

    def all_rows(
        self, interval: Interval, current: Sequence[Any], archived: Sequence[bool]
    ) -> list[int]:
        """Every row in ``interval``, in row (= id) order."""
        start, end = self.bounds(interval)
        dirty = self.dirty
        rows = self.sorted_rows[start:end].tolist()
        if dirty:
            rows = [r for r in rows if r not in dirty]
            rows.extend(r for _, r in self.changed_matches(interval, current, archived))
        rows.sort()
        return rows
