"""Sync cursors and run history."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import insert, select, update

from connectors.base import Cursor, ObjectType
from workers.state.base import StoreBase
from workers.state.engine import _check_object_type, owner_alive
from workers.state.records import Run
from workers.state.schema import RunRow, RunStatus, SyncCursorRow


class RunsMixin(StoreBase):
    """Incremental read positions and the runs table."""

    # ------------------------------------------------------------------ cursors

    def get_cursor(self, crm: str, object_type: ObjectType) -> Cursor:
        """The stored cursor for ``(crm, object_type)``, or an initial one if none is stored."""
        object_type = _check_object_type(object_type)
        with self._read() as session:
            row = session.get(SyncCursorRow, (crm, object_type))
            if row is None:
                return Cursor(object_type=object_type)
            return Cursor(object_type=object_type, modified_at=row.modified_at, last_id=row.last_id)

    def save_cursor(self, crm: str, cursor: Cursor) -> None:
        """Store ``cursor`` as the position for ``(crm, cursor.object_type)`` (upsert).

        Raises ValueError for a naive ``modified_at``: its zone would be a guess.
        """
        _check_object_type(cursor.object_type)
        if cursor.modified_at is not None and cursor.modified_at.utcoffset() is None:
            raise ValueError("cursor.modified_at is a naive datetime; use an aware one")
        stmt = self._insert(SyncCursorRow).values(
            crm=crm,
            object_type=cursor.object_type,
            modified_at=cursor.modified_at,
            last_id=cursor.last_id,
            updated_at=self._now(),
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[SyncCursorRow.crm, SyncCursorRow.object_type],
            set_={
                "modified_at": stmt.excluded.modified_at,
                "last_id": stmt.excluded.last_id,
                "updated_at": stmt.excluded.updated_at,
            },
        )
        with self._write() as conn:
            conn.execute(stmt)

    # ------------------------------------------------------------------ runs

    def start_run(self, crm: str, kind: str, *, owner: str | None = None) -> int:
        """Record that a run of ``kind`` ("pull", "sync", "demo", ...) started; returns its id.

        ``owner`` (``host:pid``, see :func:`process_owner`) names the process that will
        finish it; without one (a run spread over Celery tasks) only a stale heartbeat
        says it died.
        """
        now = self._now()
        stmt = insert(RunRow).values(
            crm=crm,
            kind=kind,
            status=RunStatus.RUNNING.value,
            started_at=now,
            counts={},
            owner=owner,
            heartbeat_at=now,
        )
        with self._write() as conn:
            key = conn.execute(stmt).inserted_primary_key
        assert key is not None  # an INSERT always reports its primary key
        return int(key[0])

    def heartbeat(self, run_id: int | None = None, *, crm: str | None = None) -> int:
        """Say run ``run_id`` is still alive; with ``crm`` instead, every owner-less running
        run of that CRM (a Celery run: its tasks know the CRM, not the run)."""
        stmt = update(RunRow).where(RunRow.status == RunStatus.RUNNING.value)
        if run_id is not None:
            stmt = stmt.where(RunRow.id == run_id)
        if crm is not None:
            stmt = stmt.where(RunRow.crm == crm, RunRow.owner.is_(None))
        with self._write() as conn:
            return int(conn.execute(stmt.values(heartbeat_at=self._now())).rowcount)

    def reap_runs(
        self, stale_after: timedelta, *, alive: Callable[[str], bool | None] | None = None
    ) -> list[Run]:
        """Mark failed the running runs whose process is gone; returns them, reaped.

        A run is reaped when ``alive(owner)`` says False (its process is gone from this
        host), or when its heartbeat is older than ``stale_after`` (a process elsewhere,
        or none). ``alive`` answers None when it cannot tell (another host).
        """
        alive = alive or owner_alive
        now = self._now()
        reaped: list[Run] = []
        with self._read() as session:
            rows = session.scalars(select(RunRow).where(RunRow.status == RunStatus.RUNNING.value))
            running = [Run._from_row(r) for r in rows]
            beats = {r.id: r.heartbeat_at or r.started_at for r in running}
            owners = {r.id: r.owner for r in running}
        for run in running:
            owner, beat = owners[run.id], beats[run.id]
            verdict = alive(owner) if owner else None
            if verdict is False:
                reason = f"reaped: its process {owner} is gone (it died or was killed)"
            elif verdict is None and now - beat > stale_after:
                reason = (
                    f"reaped: no heartbeat since {beat:%Y-%m-%d %H:%M:%S} UTC "
                    f"(older than {int(stale_after.total_seconds())} s)"
                    + (f" from {owner}" if owner else "")
                )
            else:
                continue
            stmt = (
                update(RunRow)
                .where(RunRow.id == run.id, RunRow.status == RunStatus.RUNNING.value)
                .values(status=RunStatus.FAILED.value, finished_at=now, error=reason)
            )
            with self._write() as conn:
                done = conn.execute(stmt).rowcount
            if done:  # read after the commit: another connection sees the reaped row
                reaped.append(self.get_run(run.id) or run)
        return reaped

    def finish_run(
        self,
        run_id: int,
        status: RunStatus | str,
        counts: Mapping[str, Any],
        error: str | None = None,
    ) -> None:
        """Close run ``run_id`` with a final ``status``, its ``counts`` and an optional error.

        Raises ValueError for a non-final status and LookupError for an unknown run.
        """
        final = RunStatus(status)
        if final is RunStatus.RUNNING:
            raise ValueError("finish_run needs a final status, not 'running'")
        stmt = (
            update(RunRow)
            .where(RunRow.id == run_id)
            .values(status=final.value, finished_at=self._now(), counts=dict(counts), error=error)
        )
        with self._write() as conn:
            if conn.execute(stmt).rowcount == 0:
                raise LookupError(f"no run with id {run_id}")

    def get_run(self, run_id: int) -> Run | None:
        """Run ``run_id``, or None."""
        with self._read() as session:
            row = session.get(RunRow, run_id)
            return None if row is None else Run._from_row(row)

    def list_runs(
        self, limit: int = 20, *, crm: str | None = None, kind: str | None = None
    ) -> list[Run]:
        """The newest ``limit`` runs, newest first, optionally for one crm and/or kind."""
        stmt = select(RunRow).order_by(RunRow.started_at.desc(), RunRow.id.desc()).limit(limit)
        if crm is not None:
            stmt = stmt.where(RunRow.crm == crm)
        if kind is not None:
            stmt = stmt.where(RunRow.kind == kind)
        with self._read() as session:
            return [Run._from_row(row) for row in session.scalars(stmt)]
