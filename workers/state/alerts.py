"""Alert conditions' statuses: what makes an alert go out once per change, not once per run."""

from __future__ import annotations

from sqlalchemy import func, select, update

from workers.state.base import StoreBase
from workers.state.schema import AlertStateRow, DeadLetterRow

OK = "ok"


class AlertsMixin(StoreBase):
    """The alert states table, and the counts alerts watch that no other part asks for."""

    def change_alert(self, crm: str, condition: str, status: str, detail: str) -> str | None:
        """Set a condition's status; the status it had when this call changed it, ``""``
        for a condition seen for the first time, None when nothing changed.

        Exactly one of several processes seeing the same change gets a non-None answer
        (the update is conditional on the old status), so one notification goes out.
        """
        row = AlertStateRow
        now = self._now()
        first = (
            self._insert(row)
            .values(crm=crm, condition=condition, status=status, detail=detail, changed_at=now)
            .on_conflict_do_nothing(index_elements=[row.crm, row.condition])
        )
        with self._write() as conn:
            if conn.execute(first).rowcount:
                return ""
            before = conn.execute(
                select(row.status).where(row.crm == crm, row.condition == condition)
            ).scalar_one()
            moved = conn.execute(
                update(row)
                .where(row.crm == crm, row.condition == condition, row.status == before)
                .where(row.status != status)
                .values(status=status, detail=detail, changed_at=now)
            ).rowcount
        return before if moved else None

    def alert_states(self, crm: str | None = None) -> dict[tuple[str, str], tuple[str, str]]:
        """``(crm, condition) -> (status, detail)`` of every condition seen."""
        row = AlertStateRow
        stmt = select(row.crm, row.condition, row.status, row.detail)
        if crm is not None:
            stmt = stmt.where(row.crm == crm)
        with self._read() as session:
            return {(c, k): (s, d) for c, k, s, d in session.execute(stmt)}

    def open_dead_letter_count(self, crm: str) -> int:
        """Rows the CRM rejected that are neither written since nor dismissed."""
        d = DeadLetterRow
        stmt = select(func.count()).select_from(d).where(d.crm == crm, d.resolved_at.is_(None))
        with self._read() as session:
            return int(session.scalar(stmt) or 0)
