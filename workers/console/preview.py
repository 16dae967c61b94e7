"""Dry runs started from the console: every planned change, kept to page through.

A preview plans what the next sync would write (incremental, or over everything) and
writes nothing; its changes — record, field, the value segsync last knew, the new one
— stay in this process for paging, filtering and download. The records it read stay
pending, so the next real run still writes them (workers/sync/mirror_pull.py).
"""

from __future__ import annotations

import csv
import io
import itertools
import logging
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import polars as pl

from workers.settings import Settings

log = logging.getLogger(__name__)
KEPT = 3  # previews kept per console; older ones are dropped
PAGE = 100
COLUMNS = ("object_type", "record_id", "field", "old", "new")
# "old -> new" as the run history writes moves ("(none)": no value).
MOVE = pl.concat_str(
    [pl.col("old").fill_null("(none)"), pl.lit(" -> "), pl.col("new").fill_null("(none)")]
)


@dataclass
class Preview:
    """One dry run: running, done (its changes) or failed (why)."""

    id: int
    crm: str
    full: bool
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    status: str = "running"
    error: str | None = None
    changes: pl.DataFrame | None = None

    def rows(self, model: str | None = None, transition: str | None = None) -> pl.DataFrame:
        """The changes, filtered by model (its field and companions) and transition."""
        frame = self.changes if self.changes is not None else _empty()
        if model:
            frame = frame.filter(
                (pl.col("field") == model) | pl.col("field").str.starts_with(model + "_")
            )
        if transition:
            frame = frame.filter(MOVE.eq(transition))
        return frame

    def models(self) -> list[str]:
        """The segment fields among the changes (those with a transition to filter by)."""
        if self.changes is None:
            return []
        names = set(self.changes["field"].unique().to_list())
        return sorted(n for n in names if not any(n.startswith(m + "_") for m in names))

    def transitions(self, model: str) -> list[str]:
        """The distinct moves of one model's field, most records first."""
        frame = self.rows(model).filter(pl.col("field") == model)
        moves = frame.select(MOVE.alias("move"))
        counted = moves.group_by("move").len().sort(["len", "move"], descending=[True, False])
        return [str(m) for m in counted["move"].to_list()]


class Previews:
    """The console's previews (thread-safe); each runs in a thread of its own."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._items: dict[int, Preview] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def start(self, crm: str, full: bool) -> Preview:
        preview = Preview(next(self._ids), crm, full)
        with self._lock:
            self._items[preview.id] = preview
            for old in sorted(self._items)[:-KEPT]:
                del self._items[old]
        threading.Thread(target=self._run, args=(preview,), daemon=True).start()
        return preview

    def get(self, preview_id: int) -> Preview | None:
        with self._lock:
            return self._items.get(preview_id)

    def all(self) -> list[Preview]:
        with self._lock:
            return sorted(self._items.values(), key=lambda p: -p.id)

    def _run(self, preview: Preview) -> None:
        try:
            preview.changes = planned_changes(self.settings, preview.crm, preview.full)
            preview.status = "done"
        except Exception as exc:  # shown on the page
            from workers.cli.errors import describe

            preview.error = describe(exc, self.settings).message
            preview.status = "failed"
            log.warning("console: preview #%d failed: %s", preview.id, preview.error)


def planned_changes(settings: Settings, crm: str, full: bool) -> pl.DataFrame:
    """Every change a sync would write now, as rows of COLUMNS (writes nothing)."""
    from workers.state import StateStore
    from workers.sync.mirror_pull import pull_population
    from workers.sync.plan import load_playbook, plan_sync
    from workers.sync.runner import build_connector

    book = load_playbook(settings.playbook)
    connector = build_connector(settings, crm)  # type: ignore[arg-type]
    with StateStore(settings.database_url) as store:
        store.migrate()
        pulled = pull_population(connector, store, book, full=full, load=False)
        plan = plan_sync(connector, store, pulled, book)
    parts = [
        d.changes.select(
            pl.lit(object_type).alias("object_type"),
            pl.col("record_id").cast(pl.String),
            pl.col("field").cast(pl.String),
            pl.col("old").cast(pl.String),
            pl.col("new").cast(pl.String),
        )
        for object_type, d in plan.diffs.items()
        if d.changes is not None and d.changes.height
    ]
    if not parts:
        return _empty()
    return pl.concat(parts).sort(["object_type", "record_id", "field"])


def as_csv(frame: pl.DataFrame) -> str:
    """The rows as CSV with a header, every value quoted as text."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for row in frame.select(COLUMNS).iter_rows():
        writer.writerow([_cell(v) for v in row])
    return out.getvalue()


def _cell(value: str | None) -> str:
    # A CRM value such as "=HYPERLINK(...)" must stay text when the file is opened in
    # a spreadsheet.
    if value is None:
        return ""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _empty() -> pl.DataFrame:
    return pl.DataFrame(schema={c: pl.String for c in COLUMNS})


def page_of(frame: pl.DataFrame, number: int) -> tuple[list[dict[str, Any]], int]:
    """One page of rows and the number of pages."""
    pages = max(1, -(-frame.height // PAGE))
    number = min(max(1, number), pages)
    return frame.slice((number - 1) * PAGE, PAGE).to_dicts(), pages
