"""Values segsync wrote to the CRM, and writes sent whose outcome is not recorded yet."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import polars as pl
from sqlalchemy import String, Text, case, cast, delete, func, literal, null, select, update
from sqlalchemy.dialects import postgresql, sqlite

from connectors.base import FieldWrite
from workers.state.base import StoreBase
from workers.state.changes import record_key
from workers.state.columnar import read_frame
from workers.state.engine import _IN_CHUNK, _WRITE_CHUNK, _check_object_type, _chunks, _unique
from workers.state.mirror import LINK_COLUMNS, MirrorRow
from workers.state.records import WrittenValue
from workers.state.schema import (
    CampaignMemberRow,
    DeadLetterRow,
    InboxEventRow,
    UTCDateTime,
    WriteInFlightRow,
    WrittenValueRow,
)


def _on_conflict_written(ins: Any) -> Any:
    """The upsert of written values: what moves when a stored field is written again."""
    w = WrittenValueRow
    # NULL-safe: clearing a field (None) and setting it again are both changes.
    unchanged = w.value.is_not_distinct_from(ins.excluded.value)
    return ins.on_conflict_do_update(
        index_elements=[w.crm, w.object_type, w.record_id, w.field],
        # SET expressions see the row as it was before this statement, so the old
        # value moves to previous_value while the new one replaces it.
        set_={
            "previous_value": case((unchanged, w.previous_value), else_=w.value),
            "entered_at": case((unchanged, w.entered_at), else_=ins.excluded.entered_at),
            "value": ins.excluded.value,
            "written_at": ins.excluded.written_at,
        },
    )


def _upsert_written(
    crm: str,
    object_type: str,
    items: Sequence[tuple[tuple[str, str], str | None]],
    now: datetime,
) -> Any:
    """PostgreSQL: ``INSERT ... SELECT FROM unnest(ids, fields, values)`` with the upsert."""
    rows = (
        func.unnest(
            literal([rid for (rid, _), _ in items], postgresql.ARRAY(Text)),
            literal([f for (_, f), _ in items], postgresql.ARRAY(Text)),
            literal([v for _, v in items], postgresql.ARRAY(Text)),
        )
        .table_valued("record_id", "field", "value")
        .render_derived()
    )
    stamp = literal(now, UTCDateTime())
    source = select(
        literal(crm, String()),
        literal(object_type, String()),
        rows.c.record_id,
        rows.c.field,
        rows.c.value,
        null(),
        stamp,
        stamp,
    )
    names = [
        "crm",
        "object_type",
        "record_id",
        "field",
        "value",
        "previous_value",
        "written_at",
        "entered_at",
    ]
    return _on_conflict_written(postgresql.insert(WrittenValueRow).from_select(names, source))


def _written_row(
    crm: str, object_type: str, item: tuple[tuple[str, str], str | None], now: datetime
) -> dict[str, Any]:
    """SQLite: one written value as the upsert's parameters."""
    (record_id, field), value = item
    return {
        "crm": crm,
        "object_type": object_type,
        "record_id": record_id,
        "field": field,
        "value": value,
        "previous_value": None,
        "written_at": now,
        "entered_at": now,
    }


def _stamp_mirror(
    conn: Any, crm: str, object_type: str, record_ids: Collection[str], at: datetime
) -> None:
    """Move the mirrored records' ``written_at`` to ``at`` (never back: an adopted write
    keeps the time it was sent, which may be older than a later one)."""
    m = MirrorRow
    later = case((m.written_at.is_(None) | (m.written_at < at), at), else_=m.written_at)
    for chunk in _chunks(sorted(record_ids), _IN_CHUNK):
        conn.execute(
            update(m)
            .where(m.crm == crm, m.object_type == object_type, m.id.in_(chunk))
            .values(written_at=later)
        )


def _upsert_in_flight(
    crm: str, items: Sequence[tuple[tuple[str, str], dict[str, str]]], now: datetime
) -> Any:
    """PostgreSQL: the in-flight marks as one ``INSERT ... SELECT FROM unnest(...)``."""
    rows = (
        func.unnest(
            literal([t for (t, _), _ in items], postgresql.ARRAY(Text)),
            literal([r for (_, r), _ in items], postgresql.ARRAY(Text)),
            literal([json.dumps(v) for _, v in items], postgresql.ARRAY(Text)),
        )
        .table_valued("object_type", "record_id", "fields")
        .render_derived()
    )
    source = select(
        literal(crm, String()),
        rows.c.object_type,
        rows.c.record_id,
        cast(rows.c.fields, postgresql.JSONB),
        literal(now, UTCDateTime()),
    )
    f = WriteInFlightRow
    ins = postgresql.insert(f).from_select(
        ["crm", "object_type", "record_id", "fields", "sent_at"], source
    )
    return ins.on_conflict_do_update(
        index_elements=[f.crm, f.object_type, f.record_id],
        set_={"fields": ins.excluded.fields, "sent_at": ins.excluded.sent_at},
    )


class WrittenMixin(StoreBase):
    """Written values, writes in flight and the deletion of records (privacy included)."""

    # ------------------------------------------------------------------ written values

    def last_written(
        self,
        crm: str,
        object_type: str,
        record_ids: Iterable[str],
        fields: Collection[str] | None = None,
    ) -> dict[str, dict[str, str | None]]:
        """``{record_id: {field: value}}`` last written for those ids that have any.

        Ids are looked up in chunks, so 100k ids cost ~20 indexed queries; ``fields``
        narrows the answer to those fields.
        """
        w = WrittenValueRow
        result: dict[str, dict[str, str | None]] = {}
        with self._read() as session:
            for chunk in _chunks(_unique(record_ids), _IN_CHUNK):
                stmt = select(w.record_id, w.field, w.value).where(
                    w.crm == crm, w.object_type == object_type, w.record_id.in_(chunk)
                )
                if fields is not None:
                    stmt = stmt.where(w.field.in_(list(fields)))
                for record_id, field, value in session.execute(stmt):
                    result.setdefault(record_id, {})[field] = value
        return result

    def written_details(
        self, crm: str, object_type: str, record_ids: Iterable[str]
    ) -> dict[str, dict[str, WrittenValue]]:
        """Like :meth:`last_written` but with previous value and timestamps per field."""
        w = WrittenValueRow
        result: dict[str, dict[str, WrittenValue]] = {}
        with self._read() as session:
            for chunk in _chunks(_unique(record_ids), _IN_CHUNK):
                stmt = select(w).where(
                    w.crm == crm, w.object_type == object_type, w.record_id.in_(chunk)
                )
                for row in session.scalars(stmt):
                    result.setdefault(row.record_id, {})[row.field] = WrittenValue(
                        value=row.value,
                        previous_value=row.previous_value,
                        written_at=row.written_at,
                        entered_at=row.entered_at,
                    )
        return result

    def record_written(
        self,
        crm: str,
        object_type: str,
        rows: Iterable[tuple[str, str, str | None]],
        *,
        at: datetime | None = None,
    ) -> int:
        """Remember that ``(record_id, field, value)`` rows were written to the CRM.

        A bulk upsert: ``written_at`` always moves; ``previous_value`` and
        ``entered_at`` move only when the value differs from the stored one. When a
        ``(record_id, field)`` repeats within ``rows`` the last value wins. Returns the
        number of distinct fields recorded. ``at`` (default now) is when they were
        written: a write adopted after a crash keeps the time it was sent.
        """
        latest: dict[tuple[str, str], str | None] = {}
        for record_id, field, value in rows:
            # PostgreSQL refuses to upsert one row twice in a statement; keep the last.
            latest[(record_id, field)] = value
        if not latest:
            return 0
        now = self._now() if at is None else at.astimezone(UTC)
        items = list(latest.items())
        with self._write() as conn:
            if self.dialect == "postgresql":
                # One statement per chunk with the rows as arrays. An executemany sends
                # one INSERT per row, which PostgreSQL parses and plans every time
                # (prepared statements are off, see _create_engine): ~1.2 s for the
                # 11,000 fields of one 500-record write task, ~0.2 s this way.
                for part in _chunks(items, _WRITE_CHUNK):
                    conn.execute(_upsert_written(crm, object_type, part, now))
            else:
                stmt = _on_conflict_written(self._insert(WrittenValueRow))
                for part in _chunks(items, _WRITE_CHUNK):
                    conn.execute(stmt, [_written_row(crm, object_type, i, now) for i in part])
            _stamp_mirror(conn, crm, object_type, {rid for rid, _ in latest}, now)
        self._grown(WrittenValueRow.__tablename__, len(items))
        return len(items)

    def written_field(self, crm: str, object_type: str, field: str) -> pl.DataFrame:
        """One field's last written value for every record of a type: ``record_id,
        value``, read columnar (a run over the whole mirror; by ids it is slower)."""
        pg = self.dialect == "postgresql"
        marks = ("%s", "%s", "%s") if pg else ("?", "?", "?")
        sql = (
            "SELECT record_id, value FROM written_values"
            f" WHERE crm = {marks[0]} AND object_type = {marks[1]} AND field = {marks[2]}"
        )
        schema = pl.Schema({"record_id": pl.String(), "value": pl.String()})
        return read_frame(self, sql, (crm, object_type, field), schema, arrow=pg).cast(schema)

    def forget_records(self, crm: str, object_type: str, record_ids: Iterable[str]) -> int:
        """Deletion in the CRM: drop everything stored about these records; rows deleted.

        Removes their mirrored copy, written values, dead letters (open or resolved),
        campaign memberships segsync recorded,
        writes in flight and every inbox event about them, whatever its status: a done
        event still holds what it carried (a property's value), and a leased one is
        simply gone when its round finishes (finishing a missing event changes
        nothing). Other mirrored records' links to them are cleared, as the CRM drops
        those associations with the record. Cursors, run counts, counters and
        population statistics hold no per-record data.
        """
        deleted = 0
        link = LINK_COLUMNS.get(object_type)
        with self._write() as conn:
            for chunk in _chunks(_unique(record_ids), _IN_CHUNK):
                for model in (WrittenValueRow, DeadLetterRow, WriteInFlightRow, CampaignMemberRow):
                    stmt = delete(model).where(
                        model.crm == crm,
                        model.object_type == object_type,
                        model.record_id.in_(chunk),
                    )
                    deleted += conn.execute(stmt).rowcount
                mirrored = delete(MirrorRow).where(
                    MirrorRow.crm == crm,
                    MirrorRow.object_type == object_type,
                    MirrorRow.id.in_(chunk),
                )
                deleted += conn.execute(mirrored).rowcount
                events = delete(InboxEventRow).where(
                    InboxEventRow.crm == crm,
                    InboxEventRow.record.in_([record_key(object_type, i) for i in chunk]),
                )
                deleted += conn.execute(events).rowcount
                if link is not None:
                    # Not counted: the linking records stay, without the link.
                    column = getattr(MirrorRow, link)
                    unlink = (
                        update(MirrorRow)
                        .where(MirrorRow.crm == crm, column.in_(chunk))
                        .values({link: None})
                    )
                    conn.execute(unlink)
        return deleted

    # ------------------------------------------------------------------ writes in flight

    def mark_in_flight(self, crm: str, writes: Sequence[FieldWrite]) -> None:
        """Remember that these writes are about to be sent (one row per record)."""
        latest = {(w.object_type, w.record_id): dict(w.fields) for w in writes}
        if not latest:
            return
        now = self._now()
        f = WriteInFlightRow
        if self.dialect == "postgresql":
            # One INSERT ... SELECT FROM unnest(...) per chunk, as record_written does:
            # an executemany is one parsed and planned statement per row here.
            items = list(latest.items())
            with self._write() as conn:
                for part in _chunks(items, _WRITE_CHUNK):
                    conn.execute(_upsert_in_flight(crm, part, now))
            return
        ins = sqlite.insert(f)
        stmt = ins.on_conflict_do_update(
            index_elements=[f.crm, f.object_type, f.record_id],
            set_={"fields": ins.excluded.fields, "sent_at": ins.excluded.sent_at},
        )
        params = [
            {"crm": crm, "object_type": t, "record_id": r, "fields": v, "sent_at": now}
            for (t, r), v in latest.items()
        ]
        with self._write() as conn:
            for chunk in _chunks(params, _WRITE_CHUNK):
                conn.execute(stmt, list(chunk))

    def clear_in_flight(self, crm: str, keys: Iterable[tuple[str, str]]) -> int:
        """Forget in-flight marks of ``(object_type, record_id)`` whose outcome is recorded."""
        by_type: dict[str, list[str]] = {}
        for object_type, record_id in keys:
            by_type.setdefault(object_type, []).append(record_id)
        f = WriteInFlightRow
        cleared = 0
        with self._write() as conn:
            for object_type, ids in by_type.items():
                for chunk in _chunks(_unique(ids), _IN_CHUNK):
                    stmt = delete(f).where(
                        f.crm == crm, f.object_type == object_type, f.record_id.in_(chunk)
                    )
                    cleared += conn.execute(stmt).rowcount
        return cleared

    def in_flight(self, crm: str) -> list[tuple[FieldWrite, datetime]]:
        """Writes marked in flight and never settled (their process died), oldest first."""
        f = WriteInFlightRow
        stmt = select(f).where(f.crm == crm).order_by(f.sent_at)
        with self._read() as session:
            return [
                (
                    FieldWrite(
                        _check_object_type(row.object_type),
                        row.record_id,
                        {str(k): str(v) for k, v in (row.fields or {}).items()},
                    ),
                    row.sent_at,
                )
                for row in session.scalars(stmt)
            ]
