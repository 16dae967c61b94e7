"""The records event rounds and dead-letter retries segment: the mirror, kept current by id.

Every process (receiver, any number of Celery workers on any machine, the CLI) shares
the one mirror in the state store, so there is no per-process copy to warm up and no
stall on a worker's first round: a round re-reads the changed records by id, upserts
them, and loads from the mirror just what they reach. The first use on a store whose
mirror was never filled reads the CRM in full once (a full sync does the same).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime

import polars as pl

from connectors.base import Connector, ObjectType, Record, RecordBatch
from segmentation.playbook import Playbook
from workers.events.inbox import crm_wide, describe
from workers.fieldmap import load_field_map
from workers.state import StateStore
from workers.sync.frames import EngineFrames, Mode
from workers.sync.mirror_pull import MIRROR_STATE, fill_mirror, numeric_outputs
from workers.sync.mirroring import MirrorFeed, MirrorShape, load_frames, mirror_shape
from workers.sync.plan import affected_records

log = logging.getLogger("segsync.events")


class MirrorView:
    """The mirror as one round sees it: a pull handler, and frames of chosen records."""

    def __init__(self, store: StateStore, shape: MirrorShape) -> None:
        self.store = store
        self.shape = shape

    def __call__(self, batch: RecordBatch) -> None:
        """Upsert a page of fresh records; the deleted among them are forgotten.

        Forgotten entirely, as a sync forgets what the CRM no longer has: leaving the
        mirror alone would keep their written values, dead letters and events for ever
        (a later full read sweeps only what the mirror still holds).
        """
        feed = MirrorFeed(self.store, self.shape)
        feed(batch)
        for object_type, ids in feed.deleted.items():
            self.store.forget_records(self.shape.crm, object_type, ids)

    def frames(
        self, mode: Mode, ids: Mapping[ObjectType, Collection[str]] | None = None
    ) -> EngineFrames:
        """The engine's frames of ``ids`` per object type (everything when None)."""
        return load_frames(self.store, self.shape, mode, ids)


class Population:
    """The CRM's records as the mirror holds them, re-read by id on change."""

    def __init__(
        self,
        connector: Connector,
        store: StateStore,
        playbook: Playbook,
    ) -> None:
        self._connector = connector
        self._store = store
        self._playbook = playbook
        self._view: MirrorView | None = None

    def ensure(self) -> MirrorView:
        """The mirror, filled by one full read if no sync ever filled it."""
        if self._view is None:
            crm = self._connector.crm
            field_map = load_field_map(crm)
            kept = self._store.get_model_state(crm, MIRROR_STATE) or {}
            numbers = numeric_outputs(self._connector, self._playbook, field_map.object_types())
            shape = mirror_shape(field_map, self._playbook, kept.get("outputs", {}), numbers)
            if kept.get("fingerprint") != shape.fingerprint:
                shape, counts = fill_mirror(self._connector, self._store, self._playbook)
                log.info("%s mirror filled: %s", crm, counts)
            self._view = MirrorView(self._store, shape)
        return self._view

    def refresh(
        self, ids: Mapping[ObjectType, Collection[str]], split_reads: int = 0
    ) -> tuple[dict[ObjectType, set[str]], str]:
        """Re-read these records by id into the mirror; those gone from the CRM leave it.

        A read the CRM refuses for some records (not as a whole: see ``crm_wide``) is
        halved, at most ``split_reads`` extra reads, to find them; they keep their old
        copy and are returned, per type, with the CRM's reason.
        """
        view = self.ensure()
        budget = [split_reads]
        unreadable: dict[ObjectType, set[str]] = {}
        reason = ""
        for object_type, wanted in ids.items():
            if not wanted or object_type not in view.shape.object_types():
                continue
            props = view.shape.properties(object_type)
            found, bad, why = self._read(object_type, sorted(wanted), props, budget)
            seen = {r.id for r in found}
            gone = [_tombstone(self._connector, object_type, i) for i in set(wanted) - seen - bad]
            view(RecordBatch(object_type, tuple(found) + tuple(gone)))
            if bad:
                unreadable[object_type] = bad
                reason = reason or why
        return unreadable, reason

    def _read(
        self, object_type: ObjectType, ids: list[str], props: Sequence[str], budget: list[int]
    ) -> tuple[list[Record], set[str], str]:
        try:
            return self._connector.read_ids(object_type, ids, props), set(), ""
        except Exception as exc:
            if crm_wide(exc):
                raise
            if len(ids) == 1:
                return [], set(ids), describe(exc)
            if budget[0] < 2:
                raise
            budget[0] -= 2
        half = len(ids) // 2
        left = self._read(object_type, ids[:half], props, budget)
        right = self._read(object_type, ids[half:], props, budget)
        return left[0] + right[0], left[1] | right[1], left[2] or right[2]


def _tombstone(connector: Connector, object_type: ObjectType, record_id: str) -> Record:
    return Record(connector.crm, object_type, record_id, {}, datetime.now(UTC), deleted=True)


def unread_reach(
    changed: dict[ObjectType, set[str]], frames: EngineFrames
) -> dict[ObjectType, set[str]]:
    """The records the plan will diff besides ``changed`` (re-read already), per type.

    The plan lists people under both ``contact`` and ``lead``; the population's own
    ``object_type`` column says which each one is, so each is read from its own object.
    """
    reach = affected_records(changed, frames)
    out: dict[ObjectType, set[str]] = {}
    companies = reach.get("company", set()) - changed.get("company", set())
    if companies:
        out["company"] = companies
    people = reach.get("contact", set()) | reach.get("lead", set())
    if people and "object_type" in frames.contacts.columns:
        rows = frames.contacts.filter(pl.col("id").is_in(list(people)))
        for kind, ids in rows.group_by("object_type").agg("id").iter_rows():
            unread = set(ids) - changed.get(kind, set())
            if unread:
                out.setdefault(kind, set()).update(unread)
    return out
