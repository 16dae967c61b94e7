"""The event inbox's storage: change events, event counters (see ``workers/events/inbox.py``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select

from workers.state.base import StoreBase
from workers.state.changes import event_record
from workers.state.records import InboxEvent
from workers.state.schema import EventCounterRow, EventStatus, InboxEventRow, JsonValue


class InboxMixin(StoreBase):
    """Storing change events and reading the inbox's depth and counters."""

    # ------------------------------------------------------------------ inbox

    def add_event(self, crm: str, event_key: str, payload: JsonValue) -> bool:
        """Store a change event; False when ``(crm, event_key)`` was stored before.

        Committed before returning, so the caller may acknowledge the event afterwards.
        The record it is about is stored with it (``workers/state/changes.py``), so
        forgetting the record removes the event too.
        """
        if len(event_key) > 255:
            raise ValueError("event_key longer than 255 characters; hash it first")
        stmt = (
            self._insert(InboxEventRow)
            .values(
                crm=crm,
                event_key=event_key,
                received_at=(now := self._now()),
                payload=payload,
                record=event_record(crm, payload),
                status=EventStatus.PENDING.value,
                attempts=0,
                due_at=now,
            )
            .on_conflict_do_nothing(index_elements=[InboxEventRow.crm, InboxEventRow.event_key])
            # rowcount is unreliable here (-1 on psycopg with RETURNING); a skipped
            # duplicate simply returns no row.
            .returning(InboxEventRow.id)
        )
        with self._write() as conn:
            return conn.execute(stmt).scalar_one_or_none() is not None

    def add_events(self, crm: str, events: Sequence[tuple[str, JsonValue]]) -> int:
        """Store a batch of events in one transaction; returns how many were new.

        Committed before returning. An event whose key was stored before (a redelivery)
        is skipped; so is a key repeated within the batch.
        """
        unique: dict[str, JsonValue] = {}
        for key, payload in events:
            if len(key) > 255:
                raise ValueError("event_key longer than 255 characters; hash it first")
            unique.setdefault(key, payload)
        if not unique:
            return 0
        now = self._now()
        e = InboxEventRow
        stmt = (
            self._insert(InboxEventRow)
            .on_conflict_do_nothing(index_elements=[e.crm, e.event_key])
            .returning(e.id)
        )
        rows = [
            {
                "crm": crm,
                "event_key": key,
                "received_at": now,
                "payload": payload,
                "record": event_record(crm, payload),
                "status": EventStatus.PENDING.value,
                "attempts": 0,
                "due_at": now,
            }
            for key, payload in unique.items()
        ]
        with self._write() as conn:
            stored = 0
            for row in rows:
                stored += conn.execute(stmt, row).scalar_one_or_none() is not None
        return stored

    def bump_counters(self, crm: str, counts: Mapping[str, int]) -> None:
        """Add to named event counters (created at zero)."""
        todo = {k: v for k, v in counts.items() if v}
        if not todo:
            return
        c = EventCounterRow
        ins = self._insert(EventCounterRow)
        stmt = ins.on_conflict_do_update(
            index_elements=[c.crm, c.name], set_={"value": c.value + ins.excluded.value}
        )
        with self._write() as conn:
            for name, value in sorted(todo.items()):
                conn.execute(stmt, {"crm": crm, "name": name, "value": value})

    def counters(self, crm: str) -> dict[str, int]:
        """The event counters of ``crm``."""
        c = EventCounterRow
        with self._read() as session:
            rows = session.execute(select(c.name, c.value).where(c.crm == crm))
            return {name: int(value) for name, value in rows}

    def oldest_pending(self, crm: str | None = None) -> datetime | None:
        """When the oldest unfinished event arrived (None when the inbox is empty)."""
        e = InboxEventRow
        # Ordered select rather than MIN(): keeps the column's type (aware UTC datetimes).
        stmt = (
            select(e.received_at)
            .where(e.status.in_([EventStatus.PENDING.value, EventStatus.LEASED.value]))
            .order_by(e.id)
            .limit(1)
        )
        if crm is not None:
            stmt = stmt.where(e.crm == crm)
        with self._read() as session:
            return session.execute(stmt).scalar_one_or_none()

    def pending_events(self, limit: int = 100, *, crm: str | None = None) -> list[InboxEvent]:
        """The oldest ``limit`` pending events (read only; see :meth:`claim_events`)."""
        e = InboxEventRow
        stmt = select(e).where(e.status == EventStatus.PENDING.value).order_by(e.id).limit(limit)
        if crm is not None:
            stmt = stmt.where(e.crm == crm)
        with self._read() as session:
            return [InboxEvent._from_row(row) for row in session.scalars(stmt)]

    def inbox_depth(self, crm: str | None = None) -> int:
        """Events not finished yet (pending or leased; dead ones are counted apart)."""
        e = InboxEventRow
        stmt = (
            select(func.count())
            .select_from(e)
            .where(e.status.in_([EventStatus.PENDING.value, EventStatus.LEASED.value]))
        )
        if crm is not None:
            stmt = stmt.where(e.crm == crm)
        with self._read() as session:
            return int(session.scalar(stmt) or 0)

    def purge_done_events(self, older_than: timedelta, *, batch: int = 10_000) -> int:
        """Delete events processed more than ``older_than`` ago; returns how many.

        A processed event still holds what it carried (a property's value, personal data
        at times) and the inbox grows by every change the CRM reports, so finished events
        do not stay for ever. Dead events stay (they wait for someone to look at them).
        Deleted ``batch`` rows per transaction, so a long backlog never holds one lock.
        """
        e = InboxEventRow
        before = self._now() - older_than
        deleted = 0
        while True:
            ids = (
                select(e.id)
                .where(e.status == EventStatus.DONE.value, e.processed_at < before)
                .limit(batch)
                .scalar_subquery()
            )
            with self._write() as conn:
                count = conn.execute(delete(e).where(e.id.in_(ids))).rowcount
            deleted += count
            if count < batch:
                return deleted
