"""The event inbox's leases: claim, renew, finish, give back, park as dead, pause a CRM.

A claimed event is ``leased`` until ``due_at``; the processor renews the lease while its
round runs. A processor that dies (kill -9, OOM, a lost host) stops renewing, and once
the lease has expired any claimer takes the event again: the receiver's sweeper, a
Celery worker, the beat's poll or ``segsync events process``. That is what SQS's
visibility timeout and Celery's acks_late do for messages.

Every change of a claimed event names the claim's token, so a processor whose lease
expired (it was paused, or slow) can neither finish nor give back events another
processor has claimed since.

A failed event waits ``retry * 2**(attempts-1)`` seconds (capped) and, once it has kept
failing for ``dead_after`` seconds, is parked as ``dead`` with its reason; nothing is
dropped silently and ``segsync events retry`` puts dead events back. A failure of the
CRM as a whole (token refused, CRM down, not configured) is not the events' fault: it
pauses the CRM's processing with the same backoff and costs the events no attempt.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, case, delete, func, select, update
from sqlalchemy.sql.elements import ColumnElement

from connectors.base import AuthError, RateLimitedError, TransientError
from workers.settings import Settings
from workers.state import (
    EventPauseRow,
    EventStatus,
    InboxEvent,
    InboxEventRow,
    StateStore,
    UTCDateTime,
)

WAITING = (EventStatus.PENDING.value, EventStatus.LEASED.value)
LEASE_EXPIRED = "lease expired: its processor stopped mid-round (killed?)"
_REASON_CHARS = 500


@dataclass(frozen=True, slots=True)
class InboxPolicy:
    """Lease length, backoff and when a failing event is parked (from settings)."""

    lease_seconds: float = 300.0
    retry_seconds: float = 5.0
    retry_max_seconds: float = 300.0
    dead_after_seconds: float = 86400.0
    split_rounds: int = 16

    @classmethod
    def from_settings(cls, settings: Settings) -> InboxPolicy:
        return cls(
            lease_seconds=settings.events_lease_seconds,
            retry_seconds=settings.events_retry_seconds,
            retry_max_seconds=settings.events_retry_max_seconds,
            dead_after_seconds=settings.events_dead_after_seconds,
            split_rounds=settings.events_split_rounds,
        )

    def backoff(self, failures: int) -> float:
        """Seconds to wait after the ``failures``-th failure in a row (1, 2, ...)."""
        exponent = min(max(failures - 1, 0), 32)
        return float(min(self.retry_max_seconds, self.retry_seconds * 2**exponent))


def crm_wide(exc: BaseException) -> bool:
    """Whether a failure is the CRM's as a whole rather than the events' own.

    Refused credentials, rate limits and budgets, and faults that outlived the
    connector's retries fail every event alike: retrying event by event would only
    burn their attempts (and API calls).
    """
    return isinstance(exc, AuthError | RateLimitedError | TransientError | ConnectionError)


def describe(exc: BaseException) -> str:
    """One line naming a failure (type and message, bounded)."""
    text = " ".join(str(exc).split()) or repr(exc)
    return f"{type(exc).__name__}: {text}"[:_REASON_CHARS]


@dataclass(frozen=True, slots=True)
class Claim:
    """Events claimed together under one lease token."""

    token: str
    events: list[InboxEvent]


@dataclass(frozen=True, slots=True)
class Pause:
    """A CRM whose processing waits after failing as a whole."""

    until: datetime
    failures: int
    since: datetime
    reason: str


class Inbox:
    """Lease operations on the state store's ``event_inbox`` (one short transaction each)."""

    def __init__(self, store: StateStore, policy: InboxPolicy | None = None) -> None:
        self.store = store
        self.policy = policy or InboxPolicy()

    def _lease_end(self, now: datetime) -> datetime:
        return now + timedelta(seconds=self.policy.lease_seconds)

    # ------------------------------------------------------------------ claiming

    def claim(self, crm: str, limit: int) -> Claim:
        """Lease up to ``limit`` events of ``crm`` that are due (pending, or lease expired).

        Safe with concurrent claimers on PostgreSQL (``FOR UPDATE SKIP LOCKED``) and on
        SQLite (one writer at a time). Events that kept failing past ``dead_after`` are
        parked as dead instead of claimed (a processor killed by the same event every
        time must not loop for ever).
        """
        e = InboxEventRow
        now = self.store._now()
        token = uuid.uuid4().hex
        due = and_(e.crm == crm, e.status.in_(WAITING), e.due_at <= now)
        cutoff = now - timedelta(seconds=self.policy.dead_after_seconds)
        park = (
            update(e)
            .where(due, e.failing_since <= cutoff)
            .values(
                status=EventStatus.DEAD.value,
                lease_token=None,
                due_at=None,
                last_error=case(
                    (e.status == EventStatus.LEASED.value, LEASE_EXPIRED), else_=e.last_error
                ),
            )
        )
        oldest = (
            select(e.id)
            .where(due)
            .order_by(e.due_at, e.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .cte("claimable")
            # Evaluated once: as an IN-subquery PostgreSQL may re-run the LIMIT per row.
            .prefix_with("MATERIALIZED")
        )
        expired = e.status == EventStatus.LEASED.value
        stmt = (
            update(e)
            # The CTE's rows are locked (PostgreSQL) or the store's writer lock is held
            # (SQLite): nothing changed them since. No re-check of ``due`` here: with it,
            # PostgreSQL may join the CTE by a nested loop (1,000 x 1,000 comparisons).
            .where(e.id.in_(select(oldest.c.id)))
            .values(
                status=EventStatus.LEASED.value,
                lease_token=token,
                due_at=self._lease_end(now),
                attempts=e.attempts + 1,
                # A lease that expired was a failed attempt too (the processor died).
                failing_since=case(
                    (expired, func.coalesce(e.failing_since, e.due_at)), else_=e.failing_since
                ),
                last_error=case((expired, LEASE_EXPIRED), else_=e.last_error),
            )
            # Plain rows, not ORM objects: building 1,000 of those cost more than the SQL.
            .returning(*InboxEventRow.__table__.c)
        )
        with self.store._write() as conn:
            conn.execute(park)
            rows = conn.execute(stmt).all()
            events = [InboxEvent._from_row(row) for row in rows]  # type: ignore[arg-type]
        return Claim(token, sorted(events, key=lambda event: event.id))

    def renew(self, token: str) -> bool:
        """Push the lease's expiry out again; False when the lease is no longer held."""
        e = InboxEventRow
        now = self.store._now()
        stmt = update(e).where(*_held_by(token)).values(due_at=self._lease_end(now))
        with self.store._write() as conn:
            return bool(conn.execute(stmt).rowcount)

    # ------------------------------------------------------------------ outcomes

    def finish(self, token: str, ids: Sequence[int]) -> int:
        """Mark claimed events done; returns how many this claim still held."""
        e = InboxEventRow
        stmt = (
            update(e)
            .where(e.id.in_(bindparam("ids", expanding=True)), *_held_by(token))
            .values(
                status=EventStatus.DONE.value,
                processed_at=self.store._now(),
                lease_token=None,
                due_at=None,
                failing_since=None,
                last_error=None,
            )
        )
        return self._by_chunks(stmt, ids)

    def release(self, token: str, ids: Sequence[int]) -> int:
        """Give events back without counting an attempt (the CRM failed, not they)."""
        e = InboxEventRow
        stmt = (
            update(e)
            .where(e.id.in_(bindparam("ids", expanding=True)), *_held_by(token))
            .values(
                status=EventStatus.PENDING.value,
                lease_token=None,
                due_at=self.store._now(),
                attempts=func.max(e.attempts - 1, 0)
                if self.store.dialect == "sqlite"
                else func.greatest(e.attempts - 1, 0),
            )
        )
        return self._by_chunks(stmt, ids)

    def give_back(self, token: str, events: Sequence[InboxEvent], reason: str) -> dict[str, int]:
        """Failed events wait with exponential backoff; those failing too long go dead."""
        now = self.store._now()
        e = InboxEventRow
        rows: list[dict[str, Any]] = []
        counts = {"retrying": 0, "dead": 0}
        for event in events:
            since = event.failing_since or now
            dead = (now - since).total_seconds() >= self.policy.dead_after_seconds
            counts["dead" if dead else "retrying"] += 1
            wait = timedelta(seconds=self.policy.backoff(event.attempts))
            rows.append(
                {
                    "b_id": event.id,
                    "b_status": (EventStatus.DEAD if dead else EventStatus.PENDING).value,
                    "b_due": None if dead else now + wait,
                    "b_since": since,
                }
            )
        stmt = (
            update(e)
            .where(e.id == bindparam("b_id"), *_held_by(token))
            .values(
                status=bindparam("b_status"),
                due_at=bindparam("b_due", type_=UTCDateTime()),
                failing_since=bindparam("b_since", type_=UTCDateTime()),
                lease_token=None,
                last_error=reason[:_REASON_CHARS],
            )
        )
        if rows:
            with self.store._write() as conn:
                conn.execute(stmt, rows)
        return counts

    def retry_dead(self, crm: str | None = None) -> int:
        """Put dead events back in line, due now, with a fresh failure history."""
        e = InboxEventRow
        stmt = (
            update(e)
            .where(e.status == EventStatus.DEAD.value)
            .values(
                status=EventStatus.PENDING.value,
                due_at=self.store._now(),
                attempts=0,
                failing_since=None,
                last_error=None,
            )
        )
        if crm is not None:
            stmt = stmt.where(e.crm == crm)
        with self.store._write() as conn:
            return int(conn.execute(stmt).rowcount)

    def _by_chunks(self, stmt: Any, ids: Sequence[int]) -> int:
        changed = 0
        unique = list(dict.fromkeys(ids))
        with self.store._write() as conn:
            for start in range(0, len(unique), 5000):
                changed += conn.execute(stmt, {"ids": unique[start : start + 5000]}).rowcount
        return changed

    # ------------------------------------------------------------------ CRM pauses

    def pause(self, crm: str, reason: str) -> tuple[Pause, bool]:
        """Pause ``crm``'s processing after a CRM-wide failure, backing off.

        Returns the pause and whether it is news (a new pause or a new reason): the
        caller logs news once, not a line per failed attempt.
        """
        p = EventPauseRow
        now = self.store._now()
        reason = reason[:_REASON_CHARS]
        first = self.store._insert(EventPauseRow).values(
            crm=crm, paused_until=now, failures=0, since=now, reason=reason
        )
        with self.store._write() as conn:
            conn.execute(first.on_conflict_do_nothing(index_elements=[p.crm]))
            row = conn.execute(select(p).where(p.crm == crm).with_for_update()).one()
            failures = row.failures + 1
            until = now + timedelta(seconds=self.policy.backoff(failures))
            since = row.since
            conn.execute(
                update(p)
                .where(p.crm == crm)
                .values(paused_until=until, failures=failures, reason=reason)
            )
        news = row.failures == 0 or row.reason != reason
        return Pause(until, failures, since, reason), news

    def pause_of(self, crm: str) -> Pause | None:
        """The CRM's pause, if one was recorded and not resumed (it may have run out)."""
        p = EventPauseRow
        with self.store._read() as session:
            row = session.get(p, crm)
            if row is None:
                return None
            return Pause(row.paused_until, row.failures, row.since, row.reason)

    def paused(self, crm: str) -> Pause | None:
        """The CRM's pause while it lasts (None once it ran out: the next round probes)."""
        pause = self.pause_of(crm)
        return pause if pause is not None and pause.until > self.store._now() else None

    def resume(self, crm: str) -> Pause | None:
        """End a pause after a round went through; returns the pause that ended."""
        pause = self.pause_of(crm)
        if pause is not None:
            with self.store._write() as conn:
                conn.execute(delete(EventPauseRow).where(EventPauseRow.crm == crm))
        return pause

    # ------------------------------------------------------------------ reading

    def due(self, crm: str) -> bool:
        """Whether a round would find work now (events due, CRM not paused)."""
        e = InboxEventRow
        now = self.store._now()
        stmt = select(e.id).where(e.crm == crm, e.status.in_(WAITING), e.due_at <= now).limit(1)
        with self.store._read() as session:
            found = session.execute(stmt).first() is not None
        return found and self.paused(crm) is None

    def status(self, crm: str, reasons: int = 5) -> dict[str, Any]:
        """Waiting, backing off, in flight and dead events; the dead's commonest reasons."""
        e = InboxEventRow
        now = self.store._now()
        leased = e.status == EventStatus.LEASED.value
        pending = e.status == EventStatus.PENDING.value
        waiting = e.status.in_(WAITING)
        counts = select(
            func.count().filter(waiting, e.due_at <= now),
            func.count().filter(pending, e.due_at > now),
            func.count().filter(leased, e.due_at > now),
        ).where(e.crm == crm, waiting)
        dead = (
            select(e.last_error, func.count())
            .where(e.crm == crm, e.status == EventStatus.DEAD.value)
            .group_by(e.last_error)
            .order_by(func.count().desc())
        )
        with self.store._read() as session:
            ready, backing_off, in_flight = session.execute(counts).one()
            dead_rows = session.execute(dead).all()
        pause = self.pause_of(crm)
        return {
            "ready": int(ready),
            "backing_off": int(backing_off),
            "in_flight": int(in_flight),
            "dead": sum(int(n) for _, n in dead_rows),
            "dead_reasons": {str(r): int(n) for r, n in dead_rows[:reasons]},
            "paused_until": None if pause is None else pause.until.isoformat(),
            "pause_reason": None if pause is None else pause.reason,
        }


class LeaseLost(Exception):
    """The round's lease ran out and may be another processor's now: stop, write nothing."""


class LeaseKeeper:
    """Renews a claim's lease on a thread while a round runs.

    ``also`` (e.g. checking a state store lock) runs with every renewal; if it raises, or the
    lease is gone, :meth:`check` raises :class:`LeaseLost` from then on.
    """

    def __init__(self, inbox: Inbox, token: str, also: Callable[[], object] | None = None) -> None:
        self._inbox = inbox
        self._token = token
        self._also = also
        self._stop = threading.Event()
        self._lost: str | None = None
        self._thread = threading.Thread(target=self._run, name="segsync-lease", daemon=True)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _renew(self) -> None:
        try:
            if self._also is not None:
                self._also()
            if not self._inbox.renew(self._token):
                self._lost = "the lease expired and was taken over"
        except Exception as exc:
            self._lost = describe(exc)

    def _run(self) -> None:
        interval = self._inbox.policy.lease_seconds / 3
        while not self._stop.wait(interval):
            self._renew()

    def check(self) -> None:
        """Renew now and raise :class:`LeaseLost` unless the lease is still this round's."""
        if self._lost is None:
            self._renew()
        if self._lost is not None:
            raise LeaseLost(self._lost)


def _held_by(token: str) -> tuple[ColumnElement[bool], ...]:
    """Rows still leased under this claim: a stale worker's token matches none."""
    return (InboxEventRow.lease_token == token, InboxEventRow.status == EventStatus.LEASED.value)
