"""Processing change events: from the inbox to re-segmented, re-written records.

A round claims the pending events of one CRM, drops what needs no work (echoes of
segsync's own fields, a lifecycle stage equal to what segsync last wrote, repeats of the
same record/property/value), re-reads the changed records by id into the mirror, loads
from the mirror what they reach through roll-ups, and runs the scheduled sync's own
planning on that: the same engine against the stored population statistics, the same
diff against the CRM's copies. A re-segmentation that changes nothing writes nothing,
which is what makes write-back echoes die out instead of looping.

The records a change reaches through roll-ups (a changed company's people) are re-read
too before planning: they may be written, and a write must not carry segments computed
from an old copy of the record it lands on. Their own changes may have sent no event at
all (HubSpot sends none for read-only properties such as the last activity date), so
the mirror's copy can be older than the CRM's record.

The mirror is shared by every process through the state store: no worker keeps a
population of its own, so any number of them, on any machines, plan on the same rows.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from connectors.base import Connector, ObjectType
from segmentation.playbook import Playbook
from workers.events.inbox import (
    Claim,
    Inbox,
    InboxPolicy,
    LeaseKeeper,
    LeaseLost,
    crm_wide,
    describe,
)
from workers.fieldmap import load_field_map
from workers.ops.metrics import observe_events
from workers.settings import Settings
from workers.state import InboxEvent, StateStore
from workers.state.changes import Change, event_change
from workers.state.locks import LockLost
from workers.sync.frames import playbook_mode
from workers.sync.mirror_pull import Pulled, roll_up_closure
from workers.sync.plan import load_playbook, plan_sync
from workers.sync.population import Population, unread_reach
from workers.sync.runner import write_all

log = logging.getLogger("segsync.events")

OWN_PREFIX = {"hubspot": "segsync_", "salesforce": "Segsync_"}
HUBSPOT_LIFECYCLE = "lifecyclestage"


def parse_event(crm: str, event: InboxEvent) -> Change | None:
    """The change an inbox event carries (None when it names nothing segsync reads)."""
    return event_change(crm, event.payload)


@dataclass
class RoundReport:
    """What one processing round did."""

    events: int = 0
    dropped_own: int = 0
    dropped_repeat: int = 0
    records_changed: int = 0
    records_written: int = 0
    fields_written: int = 0
    rejected: int = 0
    api_calls: int = 0
    seconds: float = 0.0
    changed_ids: dict[str, set[str]] = field(default_factory=dict)
    deleted_ids: dict[str, set[str]] = field(default_factory=dict)
    failed: int = 0  # events given back to retry later (or parked as dead)
    released: int = 0  # events handed back untried (CRM-wide failure, lease lost)
    failed_rounds: int = 0
    paused: str | None = None  # why the CRM's processing is paused
    records_reached: int = 0  # changed records and what they roll up into
    phases: dict[str, float] = field(default_factory=dict)  # seconds per step of the round

    @contextmanager
    def timed(self, phase: str) -> Iterator[None]:
        """Add the block's wall time to ``phase`` (where a slow round spends it)."""
        started = time.monotonic()
        try:
            yield
        finally:
            self.phases[phase] = self.phases.get(phase, 0.0) + time.monotonic() - started

    def line(self, crm: str) -> str:
        """One log line: what the round did and where its time went."""
        steps = ", ".join(f"{name} {sec:.3f}" for name, sec in self.phases.items())
        return (
            f"{crm} event round: {self.events} events, {self.records_changed} records "
            f"changed, {self.records_reached} reached, {self.records_written} written, "
            f"{self.api_calls} calls, {self.seconds:.3f} s ({steps})"
        )

    @property
    def more(self) -> bool:
        """Whether another round right away may find work."""
        return bool(self.events) and self.paused is None

    def absorb(self, part: RoundReport, changed: dict[ObjectType, set[str]]) -> None:
        """Add a finished group's counts to the round's."""
        self.dropped_own += part.dropped_own
        self.dropped_repeat += part.dropped_repeat
        self.records_changed += part.records_changed
        self.records_written += part.records_written
        self.fields_written += part.fields_written
        self.rejected += part.rejected
        self.records_reached += part.records_reached
        for phase, seconds in part.phases.items():
            self.phases[phase] = self.phases.get(phase, 0.0) + seconds
        for kind, ids in changed.items():
            self.changed_ids.setdefault(kind, set()).update(ids)
        for name, gone in part.deleted_ids.items():
            self.deleted_ids.setdefault(name, set()).update(gone)


class RecordsFailed(Exception):
    """Records an event round needs and the CRM would not read; their events fail alone."""

    def __init__(self, records: set[tuple[str, str]], reason: str) -> None:
        super().__init__(reason)
        self.records = records
        self.reason = reason


class Processor:
    """Runs processing rounds for one CRM with one connector and population."""

    def __init__(
        self,
        connector: Connector,
        store: StateStore,
        playbook: Playbook,
        *,
        batch_size: int = 1000,
        policy: InboxPolicy | None = None,
    ) -> None:
        self.connector = connector
        self.crm = connector.crm
        self.store = store
        self.inbox = Inbox(store, policy)
        self.playbook = playbook
        self.batch_size = batch_size
        self.population = Population(connector, store, playbook)

    def drain(self) -> list[RoundReport] | None:
        """Rounds until nothing is due, holding this CRM's event lock in the state store;
        None at once when another process (or thread) holds it.

        The lock is the state store's own (``workers/state/locks.py``), not Redis's: a
        lock Redis lost in a restart let a second worker plan the very writes a first
        one still had in flight (waiting out the outage in its retries), so both sent
        them. Every round checks it before writing; a drain that lost it stops.
        """
        with self.store.exclusive(f"events:{self.crm}") as hold:
            if hold is None:
                return None
            reports: list[RoundReport] = []
            while True:
                try:
                    hold.check()
                except LockLost as exc:
                    log.warning("%s event processing stops: %s", self.crm, exc)
                    return reports
                report = self.run_round(guard=hold.check, renew=hold.check)
                reports.append(report)
                if not report.more:
                    return reports

    def run_round(
        self,
        *,
        guard: Callable[[], None] | None = None,
        renew: Callable[[], object] | None = None,
    ) -> RoundReport:
        """Claim due events, re-segment what they reach, write what changed.

        The claim is a lease, renewed (with ``renew``, e.g. checking the state store's
        lock) while the round runs; before writing, the lease is checked and ``guard``
        called: if either fails, nothing is written and the events are left to whoever
        holds them now.

        A round that fails is split in halves (at most ``policy.split_rounds`` extra
        rounds), so the events that fail are told from those that do not; these finish,
        those back off. A failure of the CRM as a whole pauses the CRM instead.
        """
        started = time.monotonic()
        calls = self.connector.usage().calls_made
        report = RoundReport()
        pause = self.inbox.paused(self.crm)
        if pause is not None:
            report.paused = pause.reason
            return report
        with report.timed("claim"):
            claim = self.inbox.claim(self.crm, self.batch_size)
        report.events = len(claim.events)
        if not claim.events:
            return report
        with LeaseKeeper(self.inbox, claim.token, renew) as lease:

            def check() -> None:
                lease.check()
                if guard is not None:
                    try:
                        guard()
                    except Exception as exc:
                        raise LeaseLost(describe(exc)) from exc

            self._run_claim(claim, report, check)
        if not report.paused:
            ended = self.inbox.resume(self.crm)
            if ended is not None:
                log.warning("%s event processing resumed (paused for: %s)", self.crm, ended.reason)
        with report.timed("finish"):
            self.store.bump_counters(
                self.crm,
                {
                    "processed": report.events - report.failed - report.released,
                    "failed_rounds": report.failed_rounds,
                    "dropped_own": report.dropped_own,
                    "dropped_repeat": report.dropped_repeat,
                    "records_written": report.records_written,
                },
            )
        report.api_calls = self.connector.usage().calls_made - calls
        report.seconds = time.monotonic() - started
        log.info("%s", report.line(self.crm))
        return report

    def _run_claim(
        self,
        claim: Claim,
        report: RoundReport,
        check: Callable[[], None],
    ) -> None:
        groups: list[list[InboxEvent]] = [claim.events]
        extra = self.inbox.policy.split_rounds
        while groups:
            group = groups.pop(0)
            try:
                self._attempt(group, report, check)
            except RecordsFailed as exc:
                report.failed_rounds += 1
                # The events naming those records fail; the rest are tried again without.
                bad = [e for e in group if self._names(e, exc.records)]
                self._fail(claim, bad, exc.reason, report)
                others = [e for e in group if e not in bad]
                if others and extra >= 1:
                    extra -= 1
                    groups.insert(0, others)
                elif others:
                    self._fail(claim, others, exc.reason, report)
                continue
            except LeaseLost as exc:
                log.warning("%s event round stopped before writing: %s", self.crm, exc)
                # Token-checked: only events this claim still holds go back.
                rest = [e.id for g in [group, *groups] for e in g]
                self.inbox.release(claim.token, rest)
                report.released += len(rest)
                return
            except Exception as exc:
                if crm_wide(exc):
                    rest = [e.id for g in [group, *groups] for e in g]
                    self.inbox.release(claim.token, rest)
                    report.released += len(rest)
                    pause_crm(self.inbox, self.crm, describe(exc))
                    report.paused = describe(exc)
                    return
                report.failed_rounds += 1
                if len(group) > 1 and extra >= 2:
                    extra -= 2
                    half = len(group) // 2
                    groups[:0] = [group[:half], group[half:]]
                    continue
                self._fail(claim, group, describe(exc), report, exc)
                continue
            except BaseException:
                # Interrupted (Ctrl-C, shutdown): the events go back at once, unpenalised.
                self.inbox.release(claim.token, [e.id for g in [group, *groups] for e in g])
                raise
            # Events about records deleted meanwhile went with them (forget_records):
            # these match no row, and the groups still to try need not re-read them.
            with report.timed("finish"):
                self.inbox.finish(claim.token, [e.id for e in group])
            observe_events(self.crm, [e.received_at for e in group])
            gone = {(t, i) for t, ids in report.deleted_ids.items() for i in ids}
            if gone:
                groups = [
                    kept for g in groups if (kept := [e for e in g if not self._names(e, gone)])
                ]

    def _fail(
        self,
        claim: Claim,
        events: list[InboxEvent],
        reason: str,
        report: RoundReport,
        exc: BaseException | None = None,
    ) -> None:
        outcome = self.inbox.give_back(claim.token, events, reason)
        report.failed += len(events)
        log.warning(
            "%s: %d event(s) failed (%s); %d retry with backoff, %d parked as dead",
            self.crm,
            len(events),
            reason,
            outcome["retrying"],
            outcome["dead"],
            exc_info=exc,
        )

    def _names(self, event: InboxEvent, records: set[tuple[str, str]]) -> bool:
        change = parse_event(self.crm, event)
        return change is not None and (change.object_type, change.record_id) in records

    def _attempt(
        self,
        events: list[InboxEvent],
        report: RoundReport,
        check: Callable[[], None],
    ) -> None:
        """One try at a group of events (the whole claim, or a half of a failed one)."""
        part = RoundReport()
        with part.timed("changes"):
            changed = self._changes(events, part)
        if any(changed.values()):
            with part.timed("read"):
                unreadable, reason = self.population.refresh(
                    changed, self.inbox.policy.split_rounds
                )
            failed: set[tuple[str, str]] = {
                (t, i) for t, ids in unreadable.items() for i in ids if i in changed.get(t, ())
            }
            if failed:
                raise RecordsFailed(failed, reason)
            self._resegment(changed, part, check, unreadable)
        with part.timed("forget"):
            for kind, gone in part.deleted_ids.items():
                # A deletion (or GDPR deletion) in the CRM: nothing about it stays here.
                self.store.forget_records(self.crm, kind, gone)
        report.absorb(part, changed)

    def _changes(self, events: list[InboxEvent], report: RoundReport) -> dict[ObjectType, set[str]]:
        """Changed record ids per type, without our own echoes and repeats."""
        own = OWN_PREFIX[self.crm]
        parsed = [(e, parse_event(self.crm, e)) for e in events]
        lifecycle = [c for _, c in parsed if c is not None and c.prop == HUBSPOT_LIFECYCLE]
        ours = self._last_lifecycle(lifecycle)
        seen: set[tuple[str, str, str | None, str | None, bool]] = set()
        changed: dict[ObjectType, set[str]] = {}
        for _event, change in parsed:
            if change is None:
                report.dropped_own += 1
                continue
            if change.prop is not None and change.prop.startswith(own):
                report.dropped_own += 1
                continue
            key = (change.object_type, change.record_id)
            if change.prop == HUBSPOT_LIFECYCLE and ours.get(key) == (change.value or ""):
                report.dropped_own += 1
                continue
            # A deletion is never a repeat of a change naming no property (a Salesforce
            # notification, a HubSpot creation): dropped as one, it would go unheard.
            identity = (
                change.object_type,
                change.record_id,
                change.prop,
                change.value,
                change.deleted,
            )
            if identity in seen:
                report.dropped_repeat += 1
                continue
            seen.add(identity)
            changed.setdefault(change.object_type, set()).add(change.record_id)
            if change.deleted:
                report.deleted_ids.setdefault(change.object_type, set()).add(change.record_id)
        report.records_changed = sum(len(v) for v in changed.values())
        return changed

    def _last_lifecycle(self, changes: Iterable[Change]) -> dict[tuple[str, str], str]:
        """The lifecycle stage segsync last wrote to each of these records."""
        by_type: dict[str, list[str]] = {}
        for c in changes:
            by_type.setdefault(c.object_type, []).append(c.record_id)
        out: dict[tuple[str, str], str] = {}
        for object_type, ids in by_type.items():
            known = self.store.last_written(self.crm, object_type, ids, fields=[HUBSPOT_LIFECYCLE])
            for record_id, fields in known.items():
                out[(object_type, record_id)] = fields.get(HUBSPOT_LIFECYCLE) or ""
        return out

    def _resegment(
        self,
        changed: dict[ObjectType, set[str]],
        report: RoundReport,
        guard: Callable[[], None] | None = None,
        unreadable: dict[ObjectType, set[str]] | None = None,
    ) -> None:
        with report.timed("reach"):
            view = self.population.ensure()
            mode = playbook_mode(self.playbook)
            reach = roll_up_closure(self.store, self.crm, changed)
            frames = view.frames(mode, reach)
        report.records_reached = sum(len(ids) for ids in reach.values())
        skip = {t: set(ids) for t, ids in (unreadable or {}).items()}
        # The records the plan writes are re-read first: a change that sent no event
        # (a read-only activity field) must not be overwritten from the mirror's copy.
        unread = unread_reach(changed, frames)
        if unread:
            with report.timed("reread"):
                more, _reason = self.population.refresh(unread, self.inbox.policy.split_rounds)
                for object_type, ids in more.items():
                    skip.setdefault(object_type, set()).update(ids)
                frames = view.frames(mode, reach)
        pulled = Pulled(frames, {}, changed, [], shape=view.shape, whole=False)
        with report.timed("plan"):
            plan = plan_sync(
                self.connector, self.store, pulled, self.playbook, affected_history_only=True
            )
        if any(skip.values()):
            # Reached through a roll-up but unreadable now: planned on an old copy, so
            # not written; the record's own next change (or the next sync) writes it.
            people = skip.get("contact", set()) | skip.get("lead", set())
            for kind, diff in plan.diffs.items():
                ids = people if kind in ("contact", "lead") else skip.get(kind, set())
                diff.writes[:] = [w for w in diff.writes if w.record_id not in ids]
            log.info("%s: %s not re-readable, left unwritten this round", self.crm, skip)
        if guard is not None and (plan.writes or plan.lifecycle_clears):
            guard()
        with report.timed("write"):
            outcome = write_all(self.connector, self.store, plan)
        report.records_written += outcome.records_written
        report.fields_written += outcome.fields_written
        report.rejected += outcome.rejected


def build_processor(settings: Settings, store: StateStore, crm: str) -> Processor:
    """A processor for ``crm`` from settings (raises when the CRM is not configured)."""
    from workers.sync.runner import build_connector

    return Processor(
        build_connector(settings, crm),  # type: ignore[arg-type]
        store,
        load_playbook(settings.playbook),
        batch_size=settings.events_batch_size,
        policy=InboxPolicy.from_settings(settings),
    )


def pause_crm(inbox: Inbox, crm: str, reason: str) -> None:
    """Pause a CRM's processing; logged once per new pause or reason, not per attempt."""
    pause, news = inbox.pause(crm, reason)
    if news:
        log.warning(
            "%s event processing paused (%s); events wait and are retried with backoff",
            crm,
            reason,
        )
    else:
        log.info("%s still failing (%s); next try at %s", crm, reason, pause.until.isoformat())


class InProcessProcessor:
    """The embedded default: one thread drains the inbox whenever the receiver nudges."""

    def __init__(self, settings: Settings, store: StateStore) -> None:
        self._settings = settings
        self._store = store
        self._inbox = Inbox(store, InboxPolicy.from_settings(settings))
        self._wake = threading.Event()
        self._crms: set[str] = set()
        self._processors: dict[str, Processor] = {}
        self._last_error: dict[str, str] = {}
        self._thread = threading.Thread(target=self._loop, name="segsync-events", daemon=True)
        self._thread.start()

    def nudge(self, crm: str) -> None:
        """Ask for a round (coalesces: many nudges while a round runs, one more round)."""
        self._crms.add(crm)
        self._wake.set()

    def _loop(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            for crm in sorted(self._crms):
                try:
                    self._drain(crm)
                    self._last_error.pop(crm, None)
                except Exception as exc:
                    # The state store failing, most likely: one traceback per new error.
                    if self._last_error.get(crm) != describe(exc):
                        log.exception("%s event processing failed; events stay in the inbox", crm)
                    self._last_error[crm] = describe(exc)

    def _drain(self, crm: str) -> None:
        if self._inbox.paused(crm) is not None:
            return
        processor = self._processors.get(crm)
        if processor is None:
            try:
                processor = build_processor(self._settings, self._store, crm)
            except Exception as exc:  # not configured (or its login refused): the CRM's failure
                pause_crm(self._inbox, crm, f"cannot connect: {describe(exc)}")
                return
            self._processors[crm] = processor
        processor.drain()  # None: another process is draining; it takes these too


def poll_changes(connector: Connector, store: StateStore) -> int:
    """The fallback: changes since the poll's own cursors become inbox events.

    Catches whatever a lost webhook would have carried; the events' keys carry the
    modification time, so a record polled twice for one change is stored once.
    """
    crm = connector.crm
    field_map = load_field_map(crm)
    cursor_crm = f"{crm}:poll"
    added = 0
    for object_type in field_map.object_types():
        cursor = store.get_cursor(cursor_crm, object_type)
        if cursor.is_initial:
            store.save_cursor(cursor_crm, connector.snapshot_cursor(object_type))
            continue
        props = field_map.native_properties(object_type)
        for batch in connector.read_changed(cursor, props):
            events = [
                (
                    f"poll:{object_type}:{r.id}:{r.updated_at.isoformat()}",
                    {"source": "poll", "object_type": object_type, "id": r.id},
                )
                for r in batch.records
            ]
            added += store.add_events(crm, events)
            if batch.cursor is not None:
                store.save_cursor(cursor_crm, batch.cursor)
    store.bump_counters(crm, {"polled": added})
    return added


def status(store: StateStore, crm: str, now: datetime | None = None) -> dict[str, Any]:
    """Inbox depth, lag of the oldest waiting event, leases, dead events, the counters.

    ``inbox_depth`` counts unfinished events: ``ready`` (due now, an expired lease
    included), ``backing_off`` (failed, waiting to be retried) and ``in_flight`` (leased
    to a running round). ``dead`` ones are apart, with their commonest reasons.
    """
    now = now or datetime.now(UTC)
    oldest = store.oldest_pending(crm)
    counters = store.counters(crm)
    return {
        "crm": crm,
        "inbox_depth": store.inbox_depth(crm),
        "lag_seconds": None if oldest is None else round((now - oldest).total_seconds(), 3),
        **Inbox(store).status(crm),
        **{name: counters.get(name, 0) for name in COUNTERS},
        # Counters named by what was seen (``unsupported.ticket.creation``,
        # ``malformed.too_deep``): every one stored, after the fixed ones.
        **{name: counters[name] for name in sorted(counters) if name not in COUNTERS},
    }


COUNTERS = (
    "received",
    "duplicates",
    "echoes",  # segsync's own property changes, dropped by the receiver unstored
    "forged",
    "stale",
    "malformed",
    "processed",
    "failed_rounds",
    "dropped_own",
    "dropped_repeat",
    "records_written",
    "polled",
)
