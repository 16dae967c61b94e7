"""Retrying dead letters by re-planning them, not by replaying stored payloads.

A letter holds the values a write carried when the CRM refused it; by the time it is
retried the record may have changed, and replaying the stored values would write stale
segments (a title back from "Chief Executive Officer" to "VP Sales" must not get
``executive`` written over ``vice_president``). So a retry:

1. re-reads the letters' records by id (the id reads follow the letters, not the CRM's
   size); a record gone from the CRM is counted ``gone`` and forgotten, its letters
   with it (a deletion in the CRM leaves nothing about the record here);
2. leaves a *permanent* rejection (the value or the field itself is wrong) alone while
   the record's inputs and the playbook are what they were when it was refused
   (fingerprints stored on the letter); ``force`` sends it anyway;
3. re-segments the remaining letters' records with the event path's planning (the same
   engine, diff and roll-ups; this process's population, read once per process, kept
   current by id re-reads) and writes the current diff;
4. closes a letter whose refused values are no longer wanted as ``superseded``.

Cost: with nothing due (every letter permanent and unchanged), a retry makes the id
reads only and no write call.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from connectors.base import Connector, FieldWrite, ObjectType, Record, RecordBatch
from segmentation.playbook import Playbook
from workers.fieldmap import FieldMap, load_field_map
from workers.state import DeadLetter, StateStore
from workers.sync.frames import playbook_mode
from workers.sync.mirror_pull import Pulled, roll_up_closure
from workers.sync.mirroring import MirrorShape
from workers.sync.plan import plan_sync
from workers.sync.population import Population, unread_reach
from workers.sync.writeback import WriteOutcome, apply_writes

WRITE_CHUNK = 500


@dataclass
class RetrySummary:
    """What one retry did with the open letters (``--json``)."""

    retried: int = 0  # open letters considered
    resolved: int = 0  # landed + superseded + gone
    landed: int = 0
    superseded: int = 0
    gone: int = 0
    skipped_permanent: int = 0  # permanent, record and playbook unchanged: not sent
    still_failing: int = 0  # open letters after the retry
    deferred: int = 0  # of those, rows not isolated within the allowance
    written: int = 0  # records written (letters' and those their change reaches)
    write_calls: int = 0  # API calls spent writing

    def as_dict(self) -> dict[str, int]:
        """Plain JSON types."""
        return asdict(self)


def playbook_fingerprint(playbook: Playbook) -> str:
    """A digest of everything the playbook decides."""
    return _digest(playbook.model_dump_json())


def inputs_fingerprint(record: Record, field_map: FieldMap) -> str:
    """A digest of what segsync reads from a record: its mapped properties and links."""
    names = set(field_map.native_properties(record.object_type))
    read = sorted((k, v) for k, v in record.properties.items() if k in names)
    return _digest(json.dumps([read, sorted(record.associations.items())], default=str))


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def retry_letters(
    connector: Connector,
    store: StateStore,
    playbook: Playbook,
    *,
    population: Population | None = None,
    force: bool = False,
) -> RetrySummary:
    """Re-plan every open dead letter of the connector's CRM; see the module docstring.

    ``population`` is this process's copy of the CRM's records (the Celery worker's,
    shared with event processing); without one the population is read once, and only
    when some letter needs re-planning.
    """
    crm = connector.crm
    summary = RetrySummary()
    letters = store.list_dead_letters(crm)
    summary.retried = len(letters)
    if not letters:
        return summary
    field_map = load_field_map(crm)
    book_fp = playbook_fingerprint(playbook)
    population = population or Population(connector, store, playbook)
    records = _read_letters(connector, population.ensure().shape, letters)
    gone = [d for d in letters if (d.object_type, d.record_id) not in records]
    summary.gone = store.resolve_dead_letters([d.id for d in gone], "gone")
    for object_type in {d.object_type for d in gone}:
        store.forget_records(
            crm, object_type, [d.record_id for d in gone if d.object_type == object_type]
        )
    due: list[DeadLetter] = []
    for letter in letters:
        record = records.get((letter.object_type, letter.record_id))
        if record is None:
            continue
        unchanged = (
            letter.inputs_fingerprint == inputs_fingerprint(record, field_map)
            and letter.playbook_fingerprint == book_fp
        )
        if letter.kind == "permanent" and unchanged and not force:
            summary.skipped_permanent += 1
        else:
            due.append(letter)
    if due:
        _replan(connector, store, playbook, population, field_map, records, due, force, summary)
        _stamp_permanent(store, crm, records, book_fp, due, field_map)
    still = store.list_dead_letters(crm)
    summary.still_failing = len(still)
    summary.deferred = sum(1 for d in still if d.kind == "deferred")
    summary.resolved = summary.landed + summary.superseded + summary.gone
    return summary


def _read_letters(
    connector: Connector, shape: MirrorShape, letters: Iterable[DeadLetter]
) -> dict[tuple[str, str], Record]:
    """The letters' records as the CRM holds them now (absent: gone)."""
    wanted: dict[ObjectType, set[str]] = {}
    for d in letters:
        wanted.setdefault(d.object_type, set()).add(d.record_id)  # type: ignore[arg-type]
    found: dict[tuple[str, str], Record] = {}
    for object_type, ids in wanted.items():
        if object_type not in shape.object_types():
            continue
        props = shape.properties(object_type)
        for record in connector.read_ids(object_type, sorted(ids), props):
            found[(object_type, record.id)] = record
    return found


def _replan(
    connector: Connector,
    store: StateStore,
    playbook: Playbook,
    population: Population,
    field_map: FieldMap,
    records: dict[tuple[str, str], Record],
    due: list[DeadLetter],
    force: bool,
    summary: RetrySummary,
) -> None:
    """Re-segment the due letters' records and write the current diff."""
    view = population.ensure()
    changed: dict[ObjectType, set[str]] = {}
    fresh: dict[ObjectType, list[Record]] = {}
    for d in due:
        object_type: ObjectType = d.object_type  # type: ignore[assignment]
        changed.setdefault(object_type, set()).add(d.record_id)
        fresh.setdefault(object_type, []).append(records[(d.object_type, d.record_id)])
    for object_type, found in fresh.items():
        view(RecordBatch(object_type, tuple(found)))
    mode = playbook_mode(playbook)
    reach = roll_up_closure(store, connector.crm, changed)
    frames = view.frames(mode, reach)
    # What the letters roll up into is re-read too: its write must not carry segments
    # computed from an old copy of it (as the event path does).
    unread = unread_reach(changed, frames)
    if unread:
        population.refresh(unread)
        frames = view.frames(mode, reach)
    plan = plan_sync(
        connector,
        store,
        Pulled(frames, {}, changed, [], shape=view.shape, whole=False),
        playbook,
        affected_history_only=True,
    )
    wanted: dict[tuple[str, str], FieldWrite] = {
        (w.object_type, w.record_id): w for w in plan.writes
    }
    superseded: list[int] = []
    held: set[tuple[str, str]] = set()
    for d in due:
        key = (d.object_type, d.record_id)
        write = wanted.get(key)
        if write is None or not _still_wanted(d, write, plan.derived):
            superseded.append(d.id)
        elif d.kind == "permanent" and d.inputs_fingerprint is None and not force:
            # Refused for good by the write that made it and planned the same again: the
            # first retry only records what the letter now waits on.
            held.add(key)
    summary.superseded = store.resolve_dead_letters(superseded, "superseded")
    summary.skipped_permanent += len(held)
    writes = [w for key, w in wanted.items() if key not in held]
    calls = connector.usage().calls_made
    outcome = WriteOutcome()
    if plan.lifecycle_clears:
        connector.write(plan.lifecycle_clears)
    # Only the due letters' own records are sent past their permanent letters: what the
    # re-plan also reaches (a company's contacts) keeps its refused values held, as a sync
    # would, or every retry that re-plans a neighbour sends them again.
    due_keys = {(d.object_type, d.record_id) for d in due}
    own = [w for w in writes if force or (w.object_type, w.record_id) in due_keys]
    reached = [w for w in writes if not force and (w.object_type, w.record_id) not in due_keys]
    for group, hold in ((own, False), (reached, True)):
        for start in range(0, len(group), WRITE_CHUNK):
            chunk = group[start : start + WRITE_CHUNK]
            outcome.add(apply_writes(connector, store, chunk, derived=plan.derived, hold=hold))
    summary.write_calls = connector.usage().calls_made - calls
    summary.written = outcome.records_written
    # Letters still wanted as they were, sent, and closed by the write that landed.
    sent = {(w.object_type, w.record_id) for w in writes}
    closed = set(superseded)
    tried = [d for d in due if d.id not in closed and (d.object_type, d.record_id) in sent]
    by_type: dict[str, list[str]] = {}
    for d in tried:
        by_type.setdefault(d.object_type, []).append(d.record_id)
    still = sum(len(store.open_letters_for(connector.crm, t, ids)) for t, ids in by_type.items())
    summary.landed = len(tried) - still


def _still_wanted(letter: DeadLetter, write: FieldWrite, derived: set[str]) -> bool:
    """Whether the current plan still writes the values the CRM refused."""
    refused = {k: v for k, v in letter.fields.items() if k not in derived}
    return all(write.fields.get(k) == str(v) for k, v in refused.items())


def _stamp_permanent(
    store: StateStore,
    crm: str,
    records: dict[tuple[str, str], Record],
    book_fp: str,
    due: list[DeadLetter],
    field_map: FieldMap,
) -> None:
    """Record on each open permanent letter of these records what it now waits on."""
    by_type: dict[str, list[str]] = {}
    for d in due:
        by_type.setdefault(d.object_type, []).append(d.record_id)
    stamps = []
    for object_type, ids in by_type.items():
        for record_id, letter in store.open_letters_for(crm, object_type, ids).items():
            if letter.kind == "permanent":
                record = records[(object_type, record_id)]
                stamps.append((letter.id, inputs_fingerprint(record, field_map), book_fp))
    store.stamp_dead_letters(stamps)
