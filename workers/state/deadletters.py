"""Dead letters: writes the CRM rejected, kept until resolved or retried."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select, update

from workers.state.base import StoreBase
from workers.state.engine import _IN_CHUNK, _WRITE_CHUNK, _chunks, _unique
from workers.state.records import DeadLetter, DeadLetterEntry
from workers.state.schema import DeadLetterRow


class DeadLettersMixin(StoreBase):
    """Adding, listing, stamping and resolving dead letters."""

    # ------------------------------------------------------------------ dead letters

    def add_dead_letters(self, crm: str, entries: Iterable[DeadLetterEntry]) -> int:
        """Record rejected writes; returns the number of distinct records touched.

        A record that already has an unresolved letter gets ``attempts`` increased and
        its fields/reason/code replaced by the newest failure, instead of a second row.
        """
        merged: dict[tuple[str, str], tuple[DeadLetterEntry, int]] = {}
        for entry in entries:
            key = (entry.object_type, entry.record_id)
            seen = merged.get(key)
            # Several failures of one record in one call: the newest wins, all count.
            merged[key] = (entry, 1 if seen is None else seen[1] + 1)
        if not merged:
            return 0
        now = self._now()
        d = DeadLetterRow
        ins = self._insert(DeadLetterRow)
        stmt = ins.on_conflict_do_update(
            index_elements=[d.crm, d.object_type, d.record_id],
            # Matches the partial unique index: only an open letter absorbs the retry.
            index_where=d.resolved_at.is_(None),
            set_={
                "attempts": d.attempts + ins.excluded.attempts,
                "fields": ins.excluded.fields,
                "reason": ins.excluded.reason,
                "code": ins.excluded.code,
                "last_failed_at": ins.excluded.last_failed_at,
                "kind": ins.excluded.kind,
                "inputs_fingerprint": ins.excluded.inputs_fingerprint,
                "playbook_fingerprint": ins.excluded.playbook_fingerprint,
            },
        )
        params = [
            {
                "crm": crm,
                "object_type": entry.object_type,
                "record_id": entry.record_id,
                "fields": dict(entry.fields),
                "reason": entry.reason,
                "code": entry.code,
                "attempts": attempts,
                "first_failed_at": now,
                "last_failed_at": now,
                "resolved_at": None,
                "kind": entry.kind,
                "inputs_fingerprint": entry.inputs_fingerprint,
                "playbook_fingerprint": entry.playbook_fingerprint,
                "resolution": None,
            }
            for entry, attempts in merged.values()
        ]
        with self._write() as conn:
            for chunk in _chunks(params, _WRITE_CHUNK):
                conn.execute(stmt, list(chunk))
        return len(params)

    def list_dead_letters(
        self,
        crm: str | None = None,
        include_resolved: bool = False,
        *,
        object_type: str | None = None,
        limit: int | None = None,
    ) -> list[DeadLetter]:
        """Dead letters, oldest first; unresolved only unless ``include_resolved``."""
        d = DeadLetterRow
        stmt = select(d).order_by(d.id)
        if crm is not None:
            stmt = stmt.where(d.crm == crm)
        if object_type is not None:
            stmt = stmt.where(d.object_type == object_type)
        if not include_resolved:
            stmt = stmt.where(d.resolved_at.is_(None))
        if limit is not None:
            stmt = stmt.limit(limit)
        with self._read() as session:
            return [DeadLetter._from_row(row) for row in session.scalars(stmt)]

    def open_letters_for(
        self, crm: str, object_type: str, record_ids: Iterable[str]
    ) -> dict[str, DeadLetter]:
        """The open letter of each of these records that has one (by record id)."""
        d = DeadLetterRow
        out: dict[str, DeadLetter] = {}
        with self._read() as session:
            for chunk in _chunks(_unique(record_ids), _IN_CHUNK):
                stmt = select(d).where(
                    d.crm == crm,
                    d.object_type == object_type,
                    d.record_id.in_(chunk),
                    d.resolved_at.is_(None),
                )
                out.update(
                    (row.record_id, DeadLetter._from_row(row)) for row in session.scalars(stmt)
                )
        return out

    def resolve_dead_letters(self, ids: Iterable[int], resolution: str = "dismissed") -> int:
        """Mark letters resolved (``resolution`` says how: landed, superseded, gone,
        dismissed); returns how many were open. Resolved ones stay as history."""
        now = self._now()
        resolved = 0
        with self._write() as conn:
            for chunk in _chunks(_unique(ids), _IN_CHUNK):
                stmt = (
                    update(DeadLetterRow)
                    .where(DeadLetterRow.id.in_(chunk), DeadLetterRow.resolved_at.is_(None))
                    .values(resolved_at=now, resolution=resolution)
                )
                resolved += conn.execute(stmt).rowcount
        return resolved

    def resolve_record_letters(self, crm: str, object_type: str, record_ids: Iterable[str]) -> int:
        """Resolve the open letters of records whose write has now landed."""
        now = self._now()
        d = DeadLetterRow
        resolved = 0
        with self._write() as conn:
            for chunk in _chunks(_unique(record_ids), _IN_CHUNK):
                stmt = (
                    update(d)
                    .where(
                        d.crm == crm,
                        d.object_type == object_type,
                        d.record_id.in_(chunk),
                        d.resolved_at.is_(None),
                    )
                    .values(resolved_at=now, resolution="landed")
                )
                resolved += conn.execute(stmt).rowcount
        return resolved

    def stamp_dead_letters(self, stamps: Iterable[tuple[int, str | None, str | None]]) -> int:
        """Record ``(id, inputs_fingerprint, playbook_fingerprint)`` on open letters: what
        a permanent rejection waits on before it is sent again."""
        d = DeadLetterRow
        stamped = 0
        with self._write() as conn:
            for letter_id, inputs, playbook in stamps:
                stmt = (
                    update(d)
                    .where(d.id == letter_id, d.resolved_at.is_(None))
                    .values(inputs_fingerprint=inputs, playbook_fingerprint=playbook)
                )
                stamped += conn.execute(stmt).rowcount
        return stamped
