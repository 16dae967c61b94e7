"""Send writes, remember what landed, dead-letter what the CRM refused.

Idempotent by construction: before sending, each write is compared again with the
written-values table, so a task that runs twice (a killed worker's task redelivered)
sends only what is not yet recorded. A write the CRM applied but whose answer was lost
is sent again with the same value, which the CRM treats as no change.

Writes go out one CRM batch at a time and each batch's outcome is recorded as soon as
the CRM confirms it, so a crash leaves at most one batch unrecorded. That batch is
marked in flight before it is sent (``writes_in_flight``); the next run reads those
records back and adopts what the CRM holds (``workers.sync.inflight``) instead of sending
them again with a new entry time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from connectors.base import Connector, FieldWrite, WriteResult, WriteStatus
from workers.state import DeadLetterEntry, StateStore

# Rejections that say the value or the field itself is wrong: sending the same value
# again fails again, so such a letter waits for its record's inputs or the playbook to
# change (workers/sync/deadletters.py) instead of being replayed, and re-isolated, every hour.
PERMANENT_CODES = frozenset(
    {
        # HubSpot
        "INVALID_OPTION",
        "INVALID_PROPERTY_VALUE",
        "PROPERTY_DOESNT_EXIST",
        "READ_ONLY_VALUE",
        "INVALID_EMAIL_ADDRESS",
        "INVALID_LIFECYCLE_STAGE",
        # Salesforce
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        "FIELD_CUSTOM_VALIDATION_EXCEPTION",
        "FIELD_INTEGRITY_EXCEPTION",
        "STRING_TOO_LONG",
        "NUMBER_OUTSIDE_VALID_RANGE",
        "INVALID_FIELD",
        "INVALID_FIELD_FOR_INSERT_UPDATE",
        "REQUIRED_FIELD_MISSING",
    }
)

# Rounds of retrying transient per-record failures before they are dead-lettered
# (still retryable from there: nothing is dropped).
RETRY_ROUNDS = 3
RETRY_PAUSE_SECONDS = 2.0
# Records per confirmed batch when the connector does not say: HubSpot's batch maximum.
DEFAULT_BATCH = 100


@dataclass
class WriteOutcome:
    """What one write step did, per record."""

    records_written: int = 0
    fields_written: int = 0
    already_written: int = 0
    rejected: int = 0
    dead_lettered: int = 0
    # Rows of refused batches not isolated within the allowance: dead-lettered as
    # deferred, sent again by the next retry or run.
    deferred: int = 0
    # Writes not sent: they repeat a value the CRM refused for good (an open permanent letter).
    held: int = 0
    rejections: list[WriteResult] = field(default_factory=list)

    def add(self, other: WriteOutcome) -> None:
        """Fold another step's counts into this one."""
        self.records_written += other.records_written
        self.fields_written += other.fields_written
        self.already_written += other.already_written
        self.rejected += other.rejected
        self.dead_lettered += other.dead_lettered
        self.deferred += other.deferred
        self.held += other.held
        self.rejections += other.rejections


def pending(
    store: StateStore,
    crm: str,
    writes: Sequence[FieldWrite],
    derived: Collection[str],
    repairs: Collection[tuple[str, str]] = (),
) -> tuple[list[FieldWrite], int]:
    """The writes whose remembered fields are not all recorded yet; and how many were.

    ``repairs`` (object type, record id) rewrite what segsync recorded on purpose: the
    CRM holds something else (a hand edit), so they are always sent.
    """
    todo: list[FieldWrite] = []
    done = 0
    by_type: dict[str, list[FieldWrite]] = {}
    for w in writes:
        if (w.object_type, w.record_id) in repairs:
            todo.append(w)
            continue
        by_type.setdefault(w.object_type, []).append(w)
    for object_type, group in by_type.items():
        known = store.last_written(crm, object_type, [w.record_id for w in group])
        for w in group:
            stored = known.get(w.record_id, {})
            remembered = {k: v for k, v in w.fields.items() if k not in derived}
            if remembered and all(stored.get(k, "") == v for k, v in remembered.items()):
                done += 1
            else:
                todo.append(w)
    return todo, done


def write_batch_size(connector: Connector) -> int:
    """Records the connector sends in one CRM call (not part of the Connector protocol:
    test doubles have none, hence the lookup)."""
    size = getattr(connector, "write_batch_size", None)
    return size if isinstance(size, int) and size > 0 else DEFAULT_BATCH


def letter_kind(result: WriteResult) -> str:
    """Why a write is a dead letter: permanent, deferred, transient or rejected."""
    if result.status is WriteStatus.DEFERRED:
        return "deferred"
    if result.status is WriteStatus.RETRYABLE:
        return "transient"
    return "permanent" if (result.code or "").upper() in PERMANENT_CODES else "rejected"


def hold_refused(
    store: StateStore, crm: str, writes: Sequence[FieldWrite], derived: Collection[str]
) -> tuple[list[FieldWrite], int]:
    """Drop writes that repeat the values of an open permanent letter of their record.

    The CRM refused exactly these values for good; `deadletter retry` sends them again
    once the record's inputs or the playbook change (or with ``--force``).
    """
    by_type: dict[str, list[FieldWrite]] = {}
    for w in writes:
        by_type.setdefault(w.object_type, []).append(w)
    kept: list[FieldWrite] = []
    held = 0
    for object_type, group in by_type.items():
        letters = store.open_letters_for(crm, object_type, [w.record_id for w in group])
        for w in group:
            letter = letters.get(w.record_id)
            if (
                letter is not None
                and letter.kind == "permanent"
                and _same_values(letter.fields, w.fields, derived)
            ):
                held += 1
            else:
                kept.append(w)
    return kept, held


def _same_values(
    refused: Mapping[str, object], fields: Mapping[str, str], derived: Collection[str]
) -> bool:
    wanted = {k: v for k, v in fields.items() if k not in derived}
    return bool(wanted) and all(str(refused.get(k, "")) == v for k, v in wanted.items())


def apply_writes(
    connector: Connector,
    store: StateStore,
    writes: Sequence[FieldWrite],
    *,
    derived: Collection[str],
    sleep: Callable[[float], None] = time.sleep,
    hold: bool = True,
    repairs: Collection[tuple[str, str]] = (),
) -> WriteOutcome:
    """Write what is still pending, one CRM batch at a time; record each batch's
    successes as soon as it is confirmed, dead-letter refusals.

    Transient per-record failures are retried a few rounds; whatever still fails is
    dead-lettered with the CRM's reason so ``segsync deadletter retry`` can replay it.
    Unless ``hold`` is False (the retry's own decision), writes repeating a permanently
    refused value are not sent again (:func:`hold_refused`). ``repairs`` name records
    whose writes restore what segsync recorded (see :func:`pending`).
    """
    outcome = WriteOutcome()
    todo, outcome.already_written = pending(store, connector.crm, writes, derived, repairs)
    if hold and todo:
        todo, outcome.held = hold_refused(store, connector.crm, todo, derived)
    size = write_batch_size(connector)
    for attempt in range(RETRY_ROUNDS + 1):
        if not todo:
            break
        if attempt:
            sleep(RETRY_PAUSE_SECONDS * attempt)
        retry: list[FieldWrite] = []
        for start in range(0, len(todo), size):
            batch = todo[start : start + size]
            retry += _send_batch(
                connector, store, batch, derived, outcome, last_round=attempt == RETRY_ROUNDS
            )
        todo = retry
    return outcome


def _send_batch(
    connector: Connector,
    store: StateStore,
    batch: Sequence[FieldWrite],
    derived: Collection[str],
    outcome: WriteOutcome,
    *,
    last_round: bool,
) -> list[FieldWrite]:
    """Send one batch, marked in flight until its outcome is recorded; the writes to retry."""
    crm = connector.crm
    # Recorded as the write's time: a copy the CRM modified at or after it holds it.
    sent_at = datetime.now(UTC)
    store.mark_in_flight(crm, [_remembered(w, derived) for w in batch])
    results = connector.write(batch)
    by_key = {(w.object_type, w.record_id): w for w in batch}
    retry: list[FieldWrite] = []
    landed: list[FieldWrite] = []
    letters: list[DeadLetterEntry] = []
    for result in results:
        write = by_key.get((result.object_type, result.record_id))
        if write is None:
            continue
        if result.ok:
            landed.append(write)
        elif result.status is WriteStatus.RETRYABLE and not last_round:
            retry.append(write)
        else:
            outcome.rejected += result.status is WriteStatus.REJECTED
            outcome.deferred += result.status is WriteStatus.DEFERRED
            outcome.rejections.append(result)
            letters.append(DeadLetterEntry.from_write(write, result, letter_kind(result)))
    # A retryable write may have landed with its answer lost: it stays marked until
    # its retry settles it, so a crash in between still reads it back.
    settled: set[tuple[str, str]] = {(w.object_type, w.record_id) for w in landed}
    settled |= {(e.object_type, e.record_id) for e in letters}
    with store.transaction():  # the batch's outcome is recorded whole, in one commit
        _remember(store, crm, landed, derived, sent_at)
        outcome.dead_lettered += store.add_dead_letters(crm, letters)
        store.clear_in_flight(crm, settled)
    outcome.records_written += len(landed)
    outcome.fields_written += sum(len(w.fields) for w in landed)
    return retry


def _remembered(write: FieldWrite, derived: Collection[str]) -> FieldWrite:
    fields = {k: v for k, v in write.fields.items() if k not in derived}
    return FieldWrite(write.object_type, write.record_id, fields)


def _remember(
    store: StateStore,
    crm: str,
    writes: Sequence[FieldWrite],
    derived: Collection[str],
    sent_at: datetime,
) -> None:
    """Record landed values (one statement per object type) and close their letters."""
    by_type: dict[str, list[FieldWrite]] = {}
    for w in writes:
        by_type.setdefault(w.object_type, []).append(w)
    for object_type, group in by_type.items():
        rows = [(w.record_id, k, v) for w in group for k, v in w.fields.items() if k not in derived]
        store.record_written(crm, object_type, rows, at=sent_at)
        store.resolve_record_letters(crm, object_type, [w.record_id for w in group])
