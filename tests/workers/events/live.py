"""What the end-to-end event tests share: a receiver on a thread, waits for quiet, and the checks
that what is left in the CRM is what a full sync computes (a full sync's plan made in this
process against the state store, and a from-scratch one against an empty store).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import sqlalchemy as sa
import uvicorn

from tests.checks import recompute
from tests.deployment import Deployment
from tests.instruments import ApiWrite, WriteLog
from workers.events.processor import InProcessProcessor
from workers.state import InboxEventRow, StateStore
from workers.sync.outputs import REASON, is_companion
from workers.sync.plan import load_playbook

SECRET = "e2e-app-secret"


REP_TOKEN = "rep-token"  # a sales rep's own integration, writing through the API


LIFECYCLE = "lifecyclestage"


LIFECYCLE_SEGMENT = "segsync_lifecycle"


class ThreadedReceiver:
    """The receiver app served by uvicorn on a thread of this process."""

    def __init__(self, app: Any, port: int) -> None:
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="receiver", daemon=True)

    def start(self, timeout: float = 10) -> None:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the receiver did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


class Gate:
    """The receiver's nudge, held back while closed: events are stored, not processed.

    Lets a test put a set of changes into the inbox before any round runs, so what one
    round writes can be compared with one full-sync plan made at the same moment.
    """

    def __init__(self, processor: InProcessProcessor) -> None:
        self.processor = processor
        self.is_open = threading.Event()
        self.is_open.set()

    def __call__(self, crm: str) -> None:
        if self.is_open.is_set():
            self.processor.nudge(crm)

    def close(self) -> None:
        self.is_open.clear()

    def open(self) -> None:
        self.is_open.set()
        self.processor.nudge("hubspot")


def wait_quiet(
    d: Deployment,
    depth: Any,
    *,
    processing: bool = True,
    quiet: float = 1.0,
    timeout: float = 120,
) -> None:
    """Until every change the sandbox recorded was delivered and (``processing``) the
    inbox is empty, with nothing new for ``quiet`` seconds.

    The sandbox counts an event as pending from the moment a write changes a record
    (inside the write request), so a round's write-backs are pending before the round
    marks its events done: an empty inbox with nothing pending cannot be a gap between
    a round and the echoes of its writes.
    """
    assert d.sandbox is not None
    last: tuple[int, ...] | None = None
    since = time.monotonic()

    def settled() -> bool:
        nonlocal last, since
        counters = d.sandbox.events.snapshot()  # type: ignore[union-attr]
        waiting = depth()
        state = (counters["changes_recorded"], counters["requests_acked"], waiting)
        idle = counters["pending"] == 0 and (waiting == 0 or not processing)
        if not idle or state != last:
            last, since = state, time.monotonic()
            return False
        return time.monotonic() - since >= quiet

    d.wait_for("the events to be delivered and processed", settled, timeout, interval=0.1)


def without_companions(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if not is_companion(k)}


def recomputation_mismatches(d: Deployment) -> list[str]:
    """Where the CRM differs from a from-scratch recomputation (no written values; the
    same fitted CLV model and clusters, which runs reuse until the weekly refit).

    Compared: every segment, score and value field, and the lifecycle stage (a stage the
    recomputation would still write is one segsync failed to move). Not compared: the
    run-time companions, and reasons, which segsync rewrites only with their segment
    (a reworded reason alone is not worth a write; see ``workers.sync.diff``). The lifecycle
    segment is forward only, and a recomputation knows no history: the CRM may hold a
    later stage than it, never an earlier one.
    """
    book = load_playbook(d.local_settings().playbook)
    model = book.models["lifecycle"]
    stages = [rule.segment for rule in reversed(model.rules)]
    rank = {segment: i for i, segment in enumerate([model.fallback, *stages])}
    problems = []
    for (object_type, record_id), fields in sorted(recompute(d, fitted=True).items()):
        props = d.record(object_type, record_id)["properties"]
        for name, value in fields.items():
            held = props.get(name) or ""
            if name.endswith(REASON) or held == (value or ""):
                continue
            if name == LIFECYCLE_SEGMENT and rank.get(held, -1) > rank.get(value or "", -1):
                continue
            problems.append(f"{object_type} {record_id} {name}: CRM {held!r}, recomputed {value!r}")
    return problems


def unchanged_writes(
    log: WriteLog, writes: list[ApiWrite], store: StateStore
) -> tuple[list[str], int]:
    """segsync's writes of a value the record already held, and how many of those were
    races with a user (see below).

    Counted: every property but the run-time companions. Those ride along with a real
    change (every write changes at least one other property): an ``updated_at`` or
    ``entered_at`` equal to the one before means two changes in the same second, an
    empty ``previous`` stays empty when a segment first appears.

    A race, not counted: a CRM-owned field (the lifecycle stage) that a user set to this
    very value after segsync last wrote it, while the event saying so still waited in
    the inbox (processed only after the write): segsync planned on the record as it was
    before the user's change, which no event had told it of yet.
    """
    by_users: dict[tuple[str, str, str], list[tuple[float, Any]]] = {}
    for change in log.others:
        for name, (_, after) in change.values.items():
            key = (change.object_type, change.record_id, name)
            by_users.setdefault(key, []).append((change.at, after))
    processed: dict[tuple[str, str, str], list[float]] | None = None
    own: dict[tuple[str, str, str], float] = {}
    problems: list[str] = []
    races = 0
    for w in writes:
        for name, (before, sent) in w.values.items():
            key = (w.object_type, w.record_id, name)
            if before != sent or is_companion(name):
                own[key] = w.at
                continue
            users = [(at, v) for at, v in by_users.get(key, []) if at <= w.at]
            told = users and users[-1][1] == sent and users[-1][0] > own.get(key, 0.0)
            if told and not name.startswith("segsync_"):
                processed = processed if processed is not None else processed_events(store)
                done = processed.get((w.record_id, name, str(sent)), [])
                if any(at > w.at for at in done):
                    races += 1
                    continue
            problems.append(f"{w.object_type} {w.record_id} {name} = {sent!r} again")
    return problems, races


def processed_events(store: StateStore) -> dict[tuple[str, str, str], list[float]]:
    """When each property-change event was processed: (record id, property, value) ->
    epoch seconds."""
    query = sa.select(InboxEventRow.payload, InboxEventRow.processed_at).where(
        InboxEventRow.crm == "hubspot", InboxEventRow.processed_at.is_not(None)
    )
    out: dict[tuple[str, str, str], list[float]] = {}
    with store.engine.connect() as conn:
        for payload, at in conn.execute(query):
            if isinstance(payload, dict) and payload.get("propertyName"):
                key = (
                    str(payload.get("objectId")),
                    str(payload["propertyName"]),
                    str(payload.get("propertyValue")),
                )
                out.setdefault(key, []).append(at.timestamp())
    return out


def echo_events(writes: list[Any]) -> int:
    """Events segsync's own writes caused: one per property a write really changed."""
    return sum(1 for w in writes for before, sent in w.values.values() if before != sent)


def own_echo_events(writes: list[Any]) -> int:
    """Those of them about segsync's own properties (the receiver drops these unstored)."""
    return sum(
        1
        for w in writes
        for name, (before, sent) in w.values.items()
        if before != sent and name.startswith("segsync_")
    )
