"""The pull side of a sync: the CRM's changes into the mirror, the mirror into frames.

A full read (the first run, the weekly reconciliation, or a mirror kept for another
playbook) streams every record into the mirror page by page and forgets what it did
not see; an incremental read fetches what changed since the cursors and tells apart
records whose inputs moved from echoes of segsync's own writes and from hand edits of
its fields; the nightly run reads nothing. What is then segmented comes back from the
mirror, columnar: everything, or the changed records with what they roll up into.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import polars as pl

from connectors.base import Connector, Cursor, ObjectType
from segmentation.playbook import Playbook
from workers.fieldmap import FieldMap, load_field_map
from workers.fieldmap_check import ensure_checked
from workers.playbook_check import validate_against
from workers.state import StateStore
from workers.sync.diff import same_in_crm, written_frame
from workers.sync.frames import EngineFrames, playbook_mode
from workers.sync.mirroring import (
    MirrorFeed,
    MirrorShape,
    current_outputs,
    load_frames,
    mirror_shape,
)
from workers.sync.outputs import field_specs, written_object_types

log = logging.getLogger("segsync.sync")
# Records whose written values are compared with the CRM's at a time (see drifted).
DRIFT_CHUNK = 20_000

# The mirror's shape of the last full read (its fingerprint and the fields found).
MIRROR_STATE = "mirror"
# Records read into the mirror whose run has not finished planning and queuing their
# writes: {"whole": bool, "ids": {object type: [ids]}}. The mirror holds their new
# inputs, so a later read finds nothing changed about them; without this, a run that
# failed after its read (or a dry run) would leave their change unsegmented until the
# nightly. Cleared by finish_pull once a run's writes are safe.
PENDING_STATE = "pending_segmentation"


@dataclass
class Pulled:
    """What a pull produced: the records to segment, the changed ids and the cursors to store."""

    frames: EngineFrames | None  # None: nothing changed, nothing to segment
    counts: dict[str, int]
    changed: dict[ObjectType, set[str]] | None  # None: a full run, everything counts
    cursors: list[Cursor]
    # When reading began: a record written after it (by the event path) was planned on
    # fresher data than this run's, so this run leaves it alone.
    started_at: datetime | None = None
    # Of the records read, those whose segmentation inputs did not change (mostly the
    # echoes of segsync's own writes): read, but neither re-segmented nor written.
    echoes: dict[ObjectType, int] | None = None
    # The mirror's shape: which output fields the CRM was read for (for the drift diff).
    shape: MirrorShape | None = None
    # Records the CRM no longer has (deleted or archived), forgotten by this pull.
    removed: dict[ObjectType, int] = field(default_factory=dict)
    # The frames hold the whole mirror: the run computes the population statistics;
    # otherwise it applies the stored ones.
    whole: bool = True
    # Frames left to load from the mirror where they are used (the Celery segment task):
    # the ids per object type, or None for the whole mirror.
    deferred: bool = False
    reach: dict[ObjectType, set[str]] | None = None


def pull_population(
    connector: Connector,
    store: StateStore,
    playbook: Playbook,
    *,
    full: bool,
    from_mirror: bool = False,
    load: bool = True,
) -> Pulled:
    """Bring the mirror up to date and load what the run segments from it.

    A full read (first run, ``full``, or a mirror kept for another shape) streams every
    record into the mirror page by page, forgets what it did not see, and loads the whole
    mirror. An incremental read fetches only what changed since the cursors; records
    whose inputs changed (or whose segsync fields were edited by hand) are loaded with
    what they roll up into, and nothing else is read. ``from_mirror`` (the nightly run)
    reads nothing: the whole mirror is segmented and the population statistics
    refreshed; cursors stay where they are. Without ``load`` the frames are left for
    :func:`plan_sync` to load (``deferred``): the Celery pull task hands ids, not data.
    """
    crm = connector.crm
    started_at = datetime.now(UTC)
    field_map = load_field_map(crm)
    # A playbook that would not compile on these fields, or a custom field map naming
    # properties the CRM lacks, stops the run before any read.
    validate_against(playbook, field_map)
    ensure_checked(connector, store, field_map)
    types = field_map.object_types()
    cursors = {t: store.get_cursor(crm, t) for t in types}
    kept = store.get_model_state(crm, MIRROR_STATE) or {}
    if full or any(c.is_initial for c in cursors.values()):
        return _pull_everything(connector, store, playbook, field_map, started_at, load)
    numbers = numeric_outputs(connector, playbook, types)
    shape = mirror_shape(field_map, playbook, kept.get("outputs", {}), numbers)
    if kept.get("fingerprint") != shape.fingerprint:
        # The playbook now reads fields the mirror does not keep: read everything again.
        log.info("%s: the mirror keeps other fields than this playbook reads; full read", crm)
        return _pull_everything(connector, store, playbook, field_map, started_at, load)
    pending = store.get_model_state(crm, PENDING_STATE) or {}
    if from_mirror:
        nothing: dict[str, int] = {t: 0 for t in types}
        pulled = Pulled(None, nothing, None, [], started_at, None, shape)
        return with_frames(store, playbook, pulled, None, load)
    feed = MirrorFeed(store, shape)
    saved: list[Cursor] = []
    for t in types:
        latest = cursors[t]
        for batch in connector.read_changed(cursors[t], shape.properties(t)):
            feed(batch)
            if batch.cursor is not None:
                latest = batch.cursor
        if latest != cursors[t]:
            saved.append(latest)
    removed = _forget(store, crm, feed.deleted)
    counts: dict[str, int] = {t: feed.counts.get(t, 0) for t in types}
    if pending.get("whole"):
        # A run over everything read its records and stopped before its writes were
        # safe: this one segments the whole mirror instead.
        log.info("%s: an earlier full run did not finish; segmenting the whole mirror", crm)
        pulled = Pulled(None, counts, None, saved, started_at, None, shape, removed)
        return with_frames(store, playbook, pulled, None, load)
    changed = {t: feed.inputs_changed.get(t, set()) - feed.deleted.get(t, set()) for t in types}
    for t in types:
        changed[t] |= drifted(store, shape, t, feed.outputs_changed.get(t, set()) - changed[t])
    echoes = {t: counts[t] - len(changed[t]) for t in types}
    for t, ids in (pending.get("ids") or {}).items():
        if t in changed:
            changed[t] |= set(ids) - feed.deleted.get(t, set())
    _keep_pending(store, crm, {"ids": {t: sorted(ids) for t, ids in changed.items() if ids}})
    if not any(changed.values()):
        return Pulled(None, counts, changed, saved, started_at, echoes, shape, removed)
    pulled = Pulled(None, counts, changed, saved, started_at, echoes, shape, removed, whole=False)
    return with_frames(store, playbook, pulled, roll_up_closure(store, crm, changed), load)


def with_frames(
    store: StateStore,
    playbook: Playbook,
    pulled: Pulled,
    reach: dict[ObjectType, set[str]] | None,
    load: bool,
) -> Pulled:
    """``pulled`` with its frames loaded from the mirror, or marked to be loaded later."""
    pulled.reach = reach
    if not load:
        pulled.deferred = True
    elif pulled.shape is not None:
        pulled.frames = load_frames(store, pulled.shape, playbook_mode(playbook), reach)
    return pulled


def _pull_everything(
    connector: Connector,
    store: StateStore,
    playbook: Playbook,
    field_map: FieldMap,
    started_at: datetime,
    load: bool = True,
) -> Pulled:
    """Read every record into the mirror, forget the unseen, load the whole mirror."""
    types = field_map.object_types()
    # Cursors taken before a full read: what changes during it is read again next time.
    snapshots = [connector.snapshot_cursor(t) for t in types]
    _keep_pending(store, connector.crm, {"whole": True})
    shape, counts, removed = _read_everything(connector, store, playbook, started_at)
    pulled = Pulled(None, counts, None, snapshots, started_at, None, shape, removed)
    return with_frames(store, playbook, pulled, None, load)


def _keep_pending(store: StateStore, crm: str, pending: dict[str, object]) -> None:
    """Record what this run must segment before anything can fail (see PENDING_STATE)."""
    if pending.get("whole") or pending.get("ids"):
        store.save_model_state(crm, PENDING_STATE, pending)


def settle_pending(store: StateStore, crm: str) -> None:
    """The run's writes are safe: nothing it read waits to be segmented any more."""
    if store.get_model_state(crm, PENDING_STATE):
        store.save_model_state(crm, PENDING_STATE, {})


def fill_mirror(
    connector: Connector, store: StateStore, playbook: Playbook
) -> tuple[MirrorShape, dict[str, int]]:
    """Read every record into the mirror (nothing segmented); the shape and the counts."""
    shape, counts, _removed = _read_everything(connector, store, playbook, datetime.now(UTC))
    return shape, counts


def _read_everything(
    connector: Connector, store: StateStore, playbook: Playbook, started_at: datetime
) -> tuple[MirrorShape, dict[str, int], dict[ObjectType, int]]:
    crm = connector.crm
    field_map = load_field_map(crm)
    types = field_map.object_types()
    outputs = {t: list(connector.field_access(t)) for t in written_object_types(types)}
    shape = mirror_shape(field_map, playbook, outputs, numeric_outputs(connector, playbook, types))
    mark = store.mirror.next_mark(crm, started_at)
    feed = MirrorFeed(store, shape, mark=mark)
    for t in types:
        for batch in connector.read_all(t, shape.properties(t)):
            feed(batch)
    unseen = {t: set(store.mirror.unseen(crm, t, mark)) | feed.deleted.get(t, set()) for t in types}
    removed = _forget(store, crm, unseen)
    store.analyze()  # the mirror may have grown from nothing: plan its look-ups afresh
    store.save_model_state(
        crm,
        MIRROR_STATE,
        {
            "fingerprint": shape.fingerprint,
            "outputs": {t: list(v) for t, v in shape.present.items()},
        },
    )
    counts: dict[str, int] = {t: feed.counts.get(t, 0) for t in types}
    return shape, counts, removed


def numeric_outputs(
    connector: Connector, playbook: Playbook, types: Iterable[ObjectType]
) -> dict[ObjectType, list[str]]:
    """segsync's number fields per object type, by their native names."""
    return {
        t: [connector.field_name(s.name) for s in field_specs(playbook, t) if s.type == "number"]
        for t in types
    }


def _forget(
    store: StateStore, crm: str, gone: Mapping[ObjectType, Collection[str]]
) -> dict[ObjectType, int]:
    """Drop records the CRM no longer has from the mirror and everything segsync keeps."""
    removed: dict[ObjectType, int] = {}
    for object_type, ids in gone.items():
        if ids:
            store.forget_records(crm, object_type, ids)
            removed[object_type] = len(ids)
    return removed


def drifted(
    store: StateStore, shape: MirrorShape, object_type: ObjectType, ids: Collection[str]
) -> set[str]:
    """Of ``ids`` (records whose segsync fields the CRM now holds otherwise), those where a
    field segsync wrote differs from what it wrote: edited by hand, not echoes.

    Looked at ``DRIFT_CHUNK`` records at a time: the run after a full sync of 1,000,000
    contacts hands over every record (the echoes), and their written values at once,
    as Python objects, took the process past 3.3 GB.
    """
    names = list(shape.outputs.get(object_type, ()))
    if not ids or not names:
        return set()
    numeric = shape.numeric.get(object_type, ())
    ordered = list(ids)
    found: set[str] = set()
    for start in range(0, len(ordered), DRIFT_CHUNK):
        chunk = ordered[start : start + DRIFT_CHUNK]
        now = current_outputs(store, shape, object_type, chunk)
        written = written_frame(store.last_written(shape.crm, object_type, chunk, fields=names))
        differs = now.join(written, on=["record_id", "field"], how="inner").filter(
            ~same_in_crm(pl.col("old"), pl.col("crm"), numeric)
        )
        found.update(differs["record_id"].to_list())
    return found


def roll_up_closure(
    store: StateStore, crm: str, changed: Mapping[ObjectType, Collection[str]]
) -> dict[ObjectType, set[str]]:
    """The records an incremental run must load to segment ``changed`` exactly.

    The changed people and companies, the companies of changed people and deals, every
    person of those companies (they inherit company facts), and every deal of those
    people and companies (roll-ups). Found through the mirror's link indexes.
    """
    mirror = store.mirror
    people: set[str] = set(changed.get("contact", ())) | set(changed.get("lead", ()))
    companies: set[str] = set(changed.get("company", ()))
    changed_deals = list(changed.get("deal", ()))
    for object_type in ("contact", "lead", "deal"):
        ids = list(changed.get(object_type, ())) if object_type != "deal" else changed_deals
        if not ids:
            continue
        links = mirror.load(crm, object_type, ids, columns=("id", "company_id", "contact_id"))
        companies |= set(links["company_id"].drop_nulls().to_list())
        if object_type == "deal":
            people |= set(links["contact_id"].drop_nulls().to_list())
    people |= set(mirror.linked(crm, "contact", "company_id", companies))
    leads = set(mirror.linked(crm, "lead", "company_id", companies))
    deals = set(changed_deals)
    deals |= set(mirror.linked(crm, "deal", "contact_id", people))
    deals |= set(mirror.linked(crm, "deal", "company_id", companies))
    return {
        "contact": people,
        "lead": people | leads,
        "company": companies,
        "deal": deals,
    }
