"""Change events: the sandbox tells a receiver about every change, as the real CRMs do.

HubSpot sends webhook batches (``hubspot.webhooks``), Salesforce sends outbound messages
(``salesforce.outbound_messages``); this module is the dialect-neutral machinery both share:

1. The store calls :meth:`EventEmitter.record` for every creation, value change and
   deletion, in the thread that made it and with the store lock held. It only copies the
   changed values and enqueues them, so an API request is never slowed by a receiver.
2. A collector thread turns changes into dialect events and batches them: at most
   ``batch_size`` events, or whatever arrived within ``linger_seconds`` of the first one.
   Here the *duplicate* and *reorder* faults are applied.
3. Sender threads POST each batch once it is due (``delay_seconds`` fault), and retry a
   batch that was not acknowledged with backoff, up to ``max_attempts`` attempts.
   A *forged* batch (a copy with a wrong signature or organization id) is sent at most
   once and counted on its own: it exists to see whether a receiver refuses it.

Which source a change is attributed to (``CRM_UI`` for simulated users, ``INTEGRATION``
for API clients) is set per thread with :func:`change_source` by the request pipeline.
"""

from __future__ import annotations

import contextlib
import dataclasses
import heapq
import itertools
import logging
import queue
import random
import threading
import time
import zlib
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import urllib3

from connectors.sandbox.config import WebhookSettings
from connectors.sandbox.store import ChangeKind, Table

log = logging.getLogger("segsync.sandbox.events")

DEFAULT_SOURCE = "INTEGRATION"  # changes made outside any request (e.g. Bulk API jobs)
UI_SOURCE = "CRM_UI"
LOG_SIZE = 100_000  # delivery records kept for latency measurements
_IDLE_POLL = 0.2  # seconds the collector sleeps between stop checks when nothing happens

_local = threading.local()


@contextlib.contextmanager
def change_source(source: str) -> Iterator[None]:
    """Attribute the changes this thread makes inside the block to ``source``."""
    previous = getattr(_local, "source", None)
    _local.source = source
    try:
        yield
    finally:
        _local.source = previous


def current_source() -> str:
    """The source changes made by this thread are attributed to."""
    return getattr(_local, "source", None) or DEFAULT_SOURCE


# -- what flows through the pipeline -------------------------------------------------------------


@dataclass(slots=True)
class Change:
    """One record change as the store reported it, with the values after the change."""

    object_type: str
    row: int
    record_id: int
    kind: ChangeKind
    values: dict[str, Any]
    modified_ms: int
    occurred_ms: int  # wall clock when it happened; latency is measured from here
    source: str

    def absorb(self, later: Change) -> bool:
        """Fold a follow-up update of the same save into this change; False if unrelated.

        One save reaches the store as several updates (values, then calculated and audit
        fields, all stamped with the same time); the CRMs report it as one change.
        """
        if (
            later.kind != "update"
            or later.row != self.row
            or later.object_type != self.object_type
            or later.modified_ms != self.modified_ms
            or later.source != self.source
        ):
            return False
        self.values.update(later.values)
        return True


@dataclass(slots=True)
class Event:
    """One event (HubSpot) or notification (Salesforce); a duplicate keeps the ``key``."""

    key: str
    object_type: str
    record_id: str
    occurred_ms: int
    body: Any  # the dialect's rendering, completed per request (e.g. attemptNumber)
    copy: bool = False


@dataclass(slots=True)
class Delivery:
    """One request to send (again): a batch of rendered events and its attempt number.

    Kept as the dialect's rendering, compressed, and the events' keys: while a receiver
    falls behind a full sync's writes, millions of events wait here (at 400,000 contacts
    ~10 million; as dicts, ~860 bytes each), and that backlog bounded the sandbox's size.
    """

    payload: bytes  # zlib of ``EventFormat.render`` of the batch
    keys: tuple[str, ...]  # every event's key, copies included
    copies: frozenset[int] = frozenset()  # positions of duplicates' copies
    attempt: int = 0
    forged: bool = False

    @classmethod
    def of(cls, fmt: EventFormat, events: Sequence[Event], *, forged: bool = False) -> Delivery:
        """The delivery of ``events``, rendered once for every attempt."""
        return cls(
            zlib.compress(fmt.render(events), 1),
            tuple(e.key for e in events),
            frozenset(i for i, e in enumerate(events) if e.copy),
            forged=forged,
        )

    @property
    def size(self) -> int:
        """Event copies it carries (each counts as pending until delivered or given up)."""
        return len(self.keys)


class EventFormat(Protocol):
    """How a dialect phrases changes and requests."""

    objects: frozenset[str]  # store tables whose changes are reported
    base_url: str  # the sandbox's own URL (Salesforce names it in every message)

    def events(self, change: Change) -> list[Event]:
        """The events one change produces (possibly none)."""
        ...

    def render(self, events: Sequence[Event]) -> bytes:
        """The part of a request's body the events make, the same for every attempt."""
        ...

    def request(
        self, rendered: bytes, attempt: int, url: str, secret: str, *, forged: bool
    ) -> tuple[bytes, dict[str, str]]:
        """Body and headers of one delivery attempt of ``render``'s output."""
        ...

    def acknowledged(self, status: int, body: bytes) -> bool:
        """Whether the receiver's answer counts as an acknowledgement."""
        ...


_COUNTERS = (
    "changes_recorded",
    "events_emitted",
    "events_acked",
    "events_failed",
    "events_dropped",
    "requests_sent",
    "requests_acked",
    "requests_failed",
    "retries",
    "duplicates_sent",
    "reordered",
    "forged_sent",
    "forged_accepted",
)


@dataclass(slots=True)
class _Collecting:
    """The collector thread's open batch."""

    events: list[Event] = field(default_factory=list)
    late: list[Event] = field(default_factory=list)  # go at the end of the next batch
    started: float = 0.0  # monotonic time the open batch got its first event
    last: Change | None = None  # the change the batch ends with (can still absorb updates)
    last_start: int = 0


class EventEmitter:
    """Records changes, batches them into events and delivers them in the background."""

    def __init__(
        self, fmt: EventFormat, settings: WebhookSettings, *, seed: int = 0, concurrency: int = 4
    ) -> None:
        self.format = fmt
        self._settings = settings
        self._concurrency = max(1, concurrency)
        self._rng = random.Random(f"{seed}:webhooks")  # collector thread only
        self._jitter = random.Random(f"{seed}:webhook-retries")  # under self._lock
        self._queue: queue.SimpleQueue[Change | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._counts = dict.fromkeys(_COUNTERS, 0)
        self._pending = 0  # event copies (and unformatted changes) not yet delivered or given up
        self._pending_peak = 0  # the most ``_pending`` was since the counters were reset
        self._log: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._due = threading.Condition()
        self._heap: list[tuple[float, int, Delivery]] = []
        self._seq = itertools.count()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._http = urllib3.PoolManager(num_pools=4, maxsize=self._concurrency, retries=False)

    # -- control ----------------------------------------------------------------------------

    @property
    def settings(self) -> WebhookSettings:
        """The settings in force."""
        return self._settings

    def configure(self, changes: Mapping[str, Any]) -> WebhookSettings:
        """Change settings at run time; ``url=None`` stops recording new changes."""
        with self._lock:
            self._settings = self._settings.updated(changes)
            return self._settings

    def start(self) -> EventEmitter:
        """Start the collector and sender threads (idempotent)."""
        if self._threads:
            return self
        self._stopping.clear()
        self._threads = [
            threading.Thread(target=self._collect, name="segsync-sandbox-events", daemon=True)
        ]
        self._threads += [
            threading.Thread(
                target=self._send_loop, name=f"segsync-sandbox-webhook-{i}", daemon=True
            )
            for i in range(self._concurrency)
        ]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the threads; events not yet delivered are dropped (and counted)."""
        if not self._threads:
            return
        self._stopping.set()
        self._queue.put(None)
        with self._due:
            self._due.notify_all()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._threads = []
        with self._due:
            left, self._heap = self._heap, []
        for _, _, delivery in left:
            if not delivery.forged:
                self._finish(delivery, "events_dropped")
        while True:  # changes recorded after the collector stopped
            try:
                change = self._queue.get_nowait()
            except queue.Empty:
                break
            if change is not None:
                self._settle(-1, "events_dropped", 1)
        self._http.clear()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until every recorded change was delivered or given up; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._pending > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def snapshot(self) -> dict[str, Any]:
        """Counters, including ``pending`` (event copies not yet delivered or given up)
        and ``pending_peak`` (its highest since the counters were reset: a backlog)."""
        with self._lock:
            out: dict[str, Any] = dict(self._counts)
            out["pending"] = self._pending
            out["pending_peak"] = self._pending_peak
        with self._due:
            out["scheduled_requests"] = len(self._heap)
        return out

    def reset_counters(self) -> None:
        """Zero the counters and forget the delivery log (``pending`` is kept)."""
        with self._lock:
            self._counts = dict.fromkeys(_COUNTERS, 0)
            self._pending_peak = self._pending
            self._log.clear()

    def recent(self, limit: int = 1000) -> list[dict[str, Any]]:
        """The latest emitted events: key, record, occurred/first-sent/acknowledged times."""
        with self._lock:
            items = list(self._log.values())[-limit:] if limit > 0 else []
            return [dict(item) for item in items]

    # -- recording (request threads, store lock held) ----------------------------------------

    def record(
        self,
        table: Table,
        row: int,
        kind: ChangeKind,
        names: Sequence[str] | None,
        modified_ms: int,
    ) -> None:
        """The store's change listener: copy what changed and enqueue it."""
        if (
            self._settings.url is None
            or table.object_type not in self.format.objects
            or self._stopping.is_set()
        ):
            return
        if kind == "create":
            values = {n: col[row] for n, col in table.cols.items() if col[row] is not None}
        elif kind == "update" and names:
            values = {n: table.get(row, n) for n in names}
        else:
            values = {}
        change = Change(
            table.object_type,
            row,
            table.ids[row],
            kind,
            values,
            modified_ms,
            int(time.time() * 1000),
            current_source(),
        )
        with self._lock:
            self._pending += 1
            self._pending_peak = max(self._pending_peak, self._pending)
            self._counts["changes_recorded"] += 1
        self._queue.put(change)

    # -- collecting ---------------------------------------------------------------------------

    def _collect(self) -> None:
        state = _Collecting()
        while True:
            settings = self._settings
            waiting = state.events or state.late
            timeout = (
                max(0.0, state.started + settings.linger_seconds - time.monotonic())
                if waiting
                else _IDLE_POLL
            )
            try:
                change: Change | bool | None = self._queue.get(timeout=timeout)
            except queue.Empty:
                change = False
            if change is None or self._stopping.is_set():
                dropped = len(state.events) + len(state.late) + isinstance(change, Change)
                self._settle(-dropped, "events_dropped", dropped)
                return
            if isinstance(change, Change):
                try:
                    self._add(state, change, settings)
                except Exception:
                    log.exception("sandbox events: cannot format a %s change", change.object_type)
                    self._settle(-1, "events_dropped", 1)
            if not (state.events or state.late):
                continue
            while state.events or state.late:
                full = len(state.events) >= settings.batch_size
                lingered = time.monotonic() >= state.started + settings.linger_seconds
                if not (full or lingered):
                    break
                self._flush(state, settings)

    def _add(self, state: _Collecting, change: Change, settings: WebhookSettings) -> None:
        """Format a change into the open batch (merging it into the previous one if it can)."""
        if state.last is not None and state.last.absorb(change):
            old = len(state.events) - state.last_start
            del state.events[state.last_start :]
            fresh = self.format.events(state.last)
            state.events.extend(fresh)
            self._settle(len(fresh) - old - 1)
            return
        fresh = self.format.events(change)
        if not (state.events or state.late):
            state.started = time.monotonic()
        state.last, state.last_start = change, len(state.events)
        state.events.extend(fresh)
        self._settle(len(fresh) - 1)

    def _flush(self, state: _Collecting, settings: WebhookSettings) -> None:
        """Send the open batch: apply the reorder and duplicate faults, schedule delivery."""
        rng = self._rng
        size = settings.batch_size
        late, state.late = state.late[:size], state.late[size:]
        room = size - len(late)
        batch, state.events = state.events[:room], state.events[room:]
        state.last = None
        state.started = time.monotonic()
        moved = 0
        if settings.reorder > 0:
            for event in [e for e in batch if rng.random() < settings.reorder]:
                i = batch.index(event)
                batch.pop(i)
                moved += 1
                if i > 0 and rng.random() < 0.5:
                    batch.insert(rng.randrange(i), event)  # ahead of events that happened first
                else:
                    state.late.append(event)  # after events that happen later
        batch += late
        copies = 0
        if settings.duplicate > 0:
            for event in [e for e in batch if not e.copy and rng.random() < settings.duplicate]:
                copy = dataclasses.replace(event, copy=True)
                copies += 1
                if len(batch) < size and rng.random() < 0.5:
                    batch.insert(rng.randrange(batch.index(event) + 1, len(batch) + 1), copy)
                else:
                    state.late.append(copy)
        self._settle(copies)
        if moved:
            self._count("reordered", moved)
        if not batch:
            return
        forged = settings.forged > 0 and rng.random() < settings.forged
        self._emit(batch, settings.delay_seconds * rng.random())
        if forged:
            self._schedule(
                Delivery.of(self.format, batch, forged=True), settings.delay_seconds * rng.random()
            )

    def _emit(self, batch: list[Event], delay: float) -> None:
        now_ms = int(time.time() * 1000)
        with self._lock:
            for event in batch:
                if event.copy:
                    self._counts["duplicates_sent"] += 1
                    continue
                self._counts["events_emitted"] += 1
                self._log[event.key] = {
                    "key": event.key,
                    "object_type": event.object_type,
                    "id": event.record_id,
                    "occurred_ms": event.occurred_ms,
                    "emitted_ms": now_ms,
                    "first_sent_ms": None,
                    "acked_ms": None,
                    "attempts": 0,
                }
                if len(self._log) > LOG_SIZE:
                    self._log.popitem(last=False)
        self._schedule(Delivery.of(self.format, batch), delay)

    def _schedule(self, delivery: Delivery, delay: float) -> None:
        with self._due:
            heapq.heappush(self._heap, (time.monotonic() + delay, next(self._seq), delivery))
            self._due.notify()

    # -- sending --------------------------------------------------------------------------------

    def _send_loop(self) -> None:
        while True:
            with self._due:
                while True:
                    if self._stopping.is_set():
                        return
                    now = time.monotonic()
                    if self._heap and self._heap[0][0] <= now:
                        delivery = heapq.heappop(self._heap)[2]
                        break
                    self._due.wait(self._heap[0][0] - now if self._heap else None)
            try:
                self._deliver(delivery)
            except Exception:
                log.exception("sandbox events: delivery failed unexpectedly")
                if not delivery.forged:
                    self._finish(delivery, "events_failed")

    def _deliver(self, delivery: Delivery) -> None:
        settings = self._settings
        if settings.url is None:
            if not delivery.forged:
                self._finish(delivery, "events_dropped")
            return
        body, headers = self.format.request(
            zlib.decompress(delivery.payload),
            delivery.attempt,
            settings.url,
            settings.secret,
            forged=delivery.forged,
        )
        if delivery.forged:
            self._count("forged_sent")
        else:
            self._sent(delivery)
        try:
            response = self._http.request(
                "POST",
                settings.url,
                body=body,
                headers=headers,
                timeout=urllib3.Timeout(total=settings.timeout_seconds),
                retries=False,
                redirect=False,
            )
            ok = self.format.acknowledged(response.status, response.data)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            log.debug("sandbox events: POST %s failed: %s", settings.url, type(exc).__name__)
            ok = False
        if delivery.forged:
            if ok:
                self._count("forged_accepted")
            return
        if ok:
            self._acked(delivery)
            return
        if self._stopping.is_set():
            self._finish(delivery, "events_dropped")
            return
        if delivery.attempt + 1 >= settings.max_attempts:
            self._count("requests_failed")
            self._finish(delivery, "events_failed")
            return
        with self._lock:
            backoff = min(settings.retry_max_seconds, settings.retry_seconds * 2**delivery.attempt)
            backoff *= self._jitter.uniform(0.5, 1.0)
        self._schedule(dataclasses.replace(delivery, attempt=delivery.attempt + 1), backoff)

    def _sent(self, delivery: Delivery) -> None:
        now_ms = int(time.time() * 1000)
        with self._lock:
            self._counts["requests_sent"] += 1
            if delivery.attempt:
                self._counts["retries"] += 1
            for i, key in enumerate(delivery.keys):
                entry = self._log.get(key)
                if entry is not None and i not in delivery.copies:
                    entry["attempts"] += 1
                    if entry["first_sent_ms"] is None:
                        entry["first_sent_ms"] = now_ms

    def _acked(self, delivery: Delivery) -> None:
        now_ms = int(time.time() * 1000)
        with self._lock:
            self._counts["requests_acked"] += 1
            for key in delivery.keys:
                entry = self._log.get(key)
                if entry is not None and entry["acked_ms"] is None:
                    entry["acked_ms"] = now_ms
        self._finish(delivery, "events_acked")

    # -- bookkeeping ------------------------------------------------------------------------------

    def _count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counts[name] += n

    def _finish(self, delivery: Delivery, outcome: str) -> None:
        self._settle(-delivery.size, outcome, delivery.size)

    def _settle(self, delta: int, counter: str | None = None, n: int = 0) -> None:
        """Adjust ``pending`` (and a counter); wakes :meth:`wait_idle` at zero."""
        with self._lock:
            self._pending += delta
            self._pending_peak = max(self._pending_peak, self._pending)
            if counter is not None and n:
                self._counts[counter] += n
            if self._pending <= 0:
                self._idle.notify_all()
