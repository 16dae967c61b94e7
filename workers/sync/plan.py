"""The sync pipeline: pull -> mirror -> frames -> segment -> diff -> writes.

Each step is a function so the same code runs in-process (the embedded default) and as
Celery tasks (``workers.tasks``). Pulls (``workers/sync/mirror_pull.py``) feed the mirror
(``workers/sync/mirroring.py``, a minimised copy of the CRM in the state store) page by
page; segmentation reads its frames from the mirror; this module plans the writes.

A full run (the first, or the weekly reconciliation) reads everything and segments the
whole mirror, computing the population statistics (RFM and value-tier bounds, the CLV
fit, centroids); the nightly run does the same from the mirror without reading the CRM.
Incremental runs read only what changed since the stored cursors and segment the
records whose inputs changed, with what they roll up into, against the stored
statistics: each gets exactly what a run over everything with those statistics gives
it, and population drift waits for the nightly run. The diff compares with what segsync
last wrote and with what the CRM holds (a hand edit is written back). Segmentation uses
the run's UTC day as "now", so a re-run on the same day computes the same values and
writes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal, TypeVar, cast

import polars as pl

from connectors.base import Connector, CrmName, FieldWrite, ObjectType
from segmentation.engine import SegmentResult, population_statistics, segment
from segmentation.insights import RunInsights
from segmentation.parts import Part, merged_summary, parts_of
from segmentation.playbook import Playbook, parse_playbook
from segmentation.statistics import StatisticsError
from workers.offline import playbook_source
from workers.state import StateStore
from workers.sync.diff import Diff, diff_values, held_by_crm, written_frame
from workers.sync.frames import EngineFrames, playbook_mode
from workers.sync.lifecycle import (
    COPIES_BY_ID,
    lifecycle_field,
    plan_lifecycle,
    previous_lifecycle,
)
from workers.sync.mirror_pull import Pulled, with_frames
from workers.sync.mirroring import MirrorShape, crm_copies, load_frames
from workers.sync.outputs import (
    ENTERED_AT,
    PREVIOUS,
    UPDATED_AT,
    EngineObject,
    output_values,
    segment_outputs,
    tracked,
)

log = logging.getLogger("segsync.sync")

CLUSTER_STATE = "clusters"
# The population statistics of the last run over the whole mirror (segmentation/statistics.py).
STATISTICS_STATE = "statistics"
CLV_STATE = "clv"
CLV_MAX_AGE_DAYS = 8
SAMPLE_SIZE = 10
# Records diffed at a time (see _plan_object).
DIFF_SLICE = 20_000
# People segmented at once by a run over the whole mirror; more are segmented in parts of
# about this many (segmentation/parts.py) against statistics computed first. A nightly
# plan of 1,000,000 contacts peaked at 4.1 GB at once, 2.7 GB in parts of 200,000 and
# 2.3 GB in parts of 100,000 (50,000: 2.1 GB, 4 s slower).
SEGMENT_PART = 100_000


T = TypeVar("T")
# Takes a slice's planned writes as they come: (object type, writes, ids of those
# that repair a hand edit).
Deliver = Callable[[ObjectType, list[FieldWrite], set[str]], None]


def load_playbook(spec: str) -> Playbook:
    """A playbook by shipped name or path."""
    source, text = playbook_source(spec)
    return parse_playbook(text, source=source)


def run_day(moment: datetime | None = None) -> datetime:
    """The run's "now" for segmentation: the end of the run's UTC day (the next midnight).

    The end, not the start: rules treat times after "now" as the future ("within the
    last 30 days" excludes them), so with the day's first instant every record active
    earlier today counted as never engaged until tomorrow.
    """
    moment = moment or datetime.now(UTC)
    start = moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return start + timedelta(days=1)


@dataclass
class SyncPlan:
    """Everything a run decided: per object type the diff, plus counts for the summary."""

    crm: CrmName
    mode: Literal["full", "incremental"]
    diffs: dict[ObjectType, Diff] = field(default_factory=dict)
    derived: set[str] = field(default_factory=set)
    crm_owned: set[str] = field(default_factory=set)  # the CRM's own fields (lifecycle)
    segmented: dict[str, int] = field(default_factory=dict)
    # Records whose values were diffed against the state store: all segmented ones on a
    # full run; the changed ones and what they roll up into on an incremental one.
    compared: dict[str, int] = field(default_factory=dict)
    lifecycle_backward_skipped: int = 0
    lifecycle_clears: list[FieldWrite] = field(default_factory=list)
    clusters: dict[str, Any] | None = None
    clv_fit: dict[str, Any] | None = None
    # Computed over the whole mirror by this run (None: it applied the stored ones).
    statistics: dict[str, Any] | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    # Grid, CLV bands, value tiers and profiles (segmentation/insights.py): whole runs.
    insights: dict[str, Any] | None = None

    @property
    def writes(self) -> list[FieldWrite]:
        """The planned writes kept in the plan (none of those handed to a ``deliver``)."""
        return [w for d in self.diffs.values() for w in d.writes]

    @property
    def records_to_write(self) -> int:
        """Records with something to write, kept or handed on."""
        return sum(d.records for d in self.diffs.values())

    @property
    def repairs(self) -> set[tuple[str, str]]:
        """(object type, id) of the records whose writes repair a hand edit."""
        return {(t, rid) for t, d in self.diffs.items() for rid in d.drift_ids}

    def required_fields(self) -> dict[ObjectType, set[str]]:
        """Native fields each object type's writes touch."""
        need: dict[ObjectType, set[str]] = {}
        for object_type, d in self.diffs.items():
            fields = set(d.touched)
            for w in d.writes:  # diffs trimmed after planning (the event path) keep these
                fields.update(w.fields)
            if fields:
                need[object_type] = fields
        return need


def plan_sync(
    connector: Connector,
    store: StateStore,
    pulled: Pulled,
    playbook: Playbook,
    *,
    now: datetime | None = None,
    refit_clv: bool = False,
    affected_history_only: bool = False,
    deliver: Deliver | None = None,
) -> SyncPlan:
    """Segment the pulled population and diff it against what was last written.

    With ``deliver``, each slice's writes are handed to it as they are planned (with
    the ids among them that repair a hand edit) and the plan keeps only their counts:
    a full run over a million records never holds every write at once.

    The stored cluster centroids keep cluster labels stable; the stored CLV fit is
    reused unless ``refit_clv`` (the weekly refit) or none is stored yet.

    ``affected_history_only`` (the event path, which reports no segment summary) reads
    the last written lifecycle stages of the records to be diffed only: the others'
    values are computed but neither written nor reported, and reading every record's
    history took a fifth of a round on 5,000 contacts.
    """
    crm = connector.crm
    plan = SyncPlan(crm, "full" if pulled.changed is None else "incremental")
    # A run over the whole mirror reads the CRM's copies of whole types: with the
    # frames when it loads them (one read of the mirror's text), else from now on in a
    # thread, so that loading and the first part's segmenting overlap that read (1M
    # contacts: 8 s, which the first diff otherwise waited for).
    reads = _PlanReads(pulled.whole)
    lifecycle = connector.field_name("lifecycle")
    load_whole = pulled.whole and pulled.deferred and pulled.frames is None and pulled.reach is None
    if pulled.whole and pulled.shape is not None:
        reads.prefetch(store, pulled.shape, lifecycle, copies=not load_whole)
    if pulled.deferred and pulled.frames is None:
        if load_whole and pulled.shape is not None:
            mode = playbook_mode(playbook)
            pulled.frames = load_frames(store, pulled.shape, mode, copies=reads.copies)
        else:
            with_frames(store, playbook, pulled, pulled.reach, load=True)
        pulled.deferred = False
    frames = pulled.frames
    if frames is None:
        return plan
    day = run_day(now)
    previous_clusters = store.get_model_state(crm, CLUSTER_STATE)
    previous_clv = None if refit_clv else _current_clv_fit(store, crm, day)
    affected = affected_records(pulled.changed, frames) if pulled.changed is not None else None

    def history(frames: EngineFrames) -> pl.DataFrame | None:
        only = affected if affected_history_only else None
        return previous_lifecycle(store, connector, frames, only, reads.written_field)

    def run(
        part: EngineFrames | Part, statistics: dict[str, Any] | None, previous: pl.DataFrame | None
    ) -> SegmentResult:
        return segment(
            part.contacts,
            part.companies,
            part.deals,
            part.orders,
            playbook=playbook,
            now=day,
            previous=previous,
            previous_clusters=previous_clusters,
            previous_clv=previous_clv,
            statistics=statistics,
        )

    results: Iterable[SegmentResult] = ()
    if not pulled.whole:
        stored = store.get_model_state(crm, STATISTICS_STATE)
        try:
            if stored is None:
                # Nothing to apply yet (no run over the whole mirror so far).
                raise StatisticsError("no population statistics stored yet")
            results = [run(frames, stored, history(frames))]
        except StatisticsError as exc:
            if pulled.shape is None:
                raise
            # None stored, or stored for another playbook or engine: the whole mirror
            # computes them afresh.
            log.info("%s: stored statistics not usable (%s); segmenting the whole mirror", crm, exc)
            frames = load_frames(store, pulled.shape, playbook_mode(playbook))
            pulled.whole = True
    if pulled.whole and not reads.whole:  # no statistics to apply: the whole mirror after all
        reads = _PlanReads(True)
        if pulled.shape is not None:
            reads.prefetch(store, pulled.shape, lifecycle)
    parted = pulled.whole and frames.contacts.height > SEGMENT_PART
    if pulled.whole:
        previous = history(frames)
        if parted:
            found = population_statistics(
                frames.contacts,
                frames.companies,
                frames.deals,
                frames.orders,
                playbook=playbook,
                now=day,
                previous=previous,
                previous_clusters=previous_clusters,
                previous_clv=previous_clv,
            )
            plan.statistics = found.statistics
            plan.clusters, plan.clv_fit = found.clusters, found.clv_fit
            count = -(-frames.contacts.height // SEGMENT_PART)
            parts = parts_of(frames.contacts, frames.companies, frames.deals, frames.orders, count)
            # The next part is segmented in a thread while this one is diffed (reads
            # of the state store, mostly): at 1M, ten parts of ~2 s and ~1 s each.
            results = one_ahead(run(part, found.statistics, previous) for part in parts)
        else:
            results = [run(frames, None, previous)]
    summaries: list[dict[str, Any]] = []
    run_at = datetime.now(UTC).replace(microsecond=0)
    insights = RunInsights(playbook, _populations(frames)) if pulled.whole else None
    for result in results:
        if not parted:
            if pulled.whole:
                plan.statistics = result.statistics
            plan.clusters, plan.clv_fit = result.clusters, result.clv_fit
        if playbook.holdout is not None and playbook.holdout.enabled:
            from segmentation.report import add_holdouts

            result = add_holdouts(result, playbook)
        summaries.append(result.summary)
        if insights is not None:
            insights.add(result)
        for object_type, engine_object, frame in _record_frames(_slimmed(result, playbook, crm)):
            plan.segmented[object_type] = plan.segmented.get(object_type, 0) + frame.height
            if affected is not None:
                frame = frame.filter(pl.col("id").is_in(list(affected.get(object_type, set()))))
            if pulled.started_at is not None:
                fresher = reads.written_since(store, crm, object_type, pulled.started_at)
                frame = frame.filter(~pl.col("id").is_in(fresher))
            plan.compared[object_type] = plan.compared.get(object_type, 0) + frame.height
            _plan_object(
                plan,
                connector,
                store,
                playbook,
                object_type,
                engine_object,
                frame,
                run_at,
                pulled,
                deliver,
                reads,
            )
    plan.summary = summaries[0] if len(summaries) == 1 else merged_summary(summaries)
    if insights is not None:
        try:
            plan.insights = insights.as_dict()
        except Exception:
            # A report of the segments, not the segments: the run's writes go ahead.
            log.exception("%s: segment insights not computed", crm)
    return plan


def _populations(frames: EngineFrames) -> dict[str, int]:
    """Records per engine object type of a whole run (for the profiles' sample)."""
    companies = frames.companies.height if frames.companies is not None else 0
    return {"contacts": frames.contacts.height, "companies": companies}


_END = object()


def one_ahead(items: Iterator[T]) -> Iterator[T]:
    """``items``, each next one computed in a thread while the caller uses this one."""
    pool = ThreadPoolExecutor(1, thread_name_prefix="segsync-ahead")
    try:
        coming = pool.submit(next, items, _END)
        while (item := coming.result()) is not _END:
            coming = pool.submit(next, items, _END)
            yield cast(T, item)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


@dataclass
class _PlanReads:
    """State-store reads a plan makes once per object type, however many parts it has."""

    whole: bool  # a plan over the whole mirror: the CRM's copies are read by whole type
    since: dict[ObjectType, list[str]] = field(default_factory=dict)
    copies: dict[ObjectType, pl.DataFrame] = field(default_factory=dict)
    coming: dict[ObjectType, Future[pl.DataFrame]] = field(default_factory=dict)
    history: dict[tuple[ObjectType, str], Future[pl.DataFrame]] = field(default_factory=dict)

    def prefetch(
        self, store: StateStore, shape: MirrorShape, lifecycle: str, *, copies: bool = True
    ) -> None:
        """Start reading the whole types' last written lifecycle stages (and ``copies``,
        their CRM's copies) while the frames load and the parts are segmented: reads the
        database and the Arrow driver do mostly off the interpreter (1M contacts: 4 s
        and 8 s of thread time; the main thread waited for the first after the load)."""
        written: tuple[ObjectType, ...] = ("contact", "lead", "company")
        types = [t for t in written if shape.outputs.get(t)]
        # On SQLite a second thread would share the one connection of an in-memory
        # database (StaticPool): the copies are then read when first needed.
        if not self.whole or not types or store.dialect != "postgresql":
            return
        if copies:
            reader = ThreadPoolExecutor(1, thread_name_prefix="segsync-copies")
            for object_type in types:
                self.coming[object_type] = reader.submit(
                    crm_copies, store, shape, object_type, None
                )
            reader.shutdown(wait=False)
        history = ThreadPoolExecutor(1, thread_name_prefix="segsync-history")
        for object_type in written:  # as _previous_lifecycle reads them (leads: people)
            key = (object_type, lifecycle)
            self.history[key] = history.submit(store.written_field, shape.crm, *key)
        history.shutdown(wait=False)

    def written_field(
        self, store: StateStore, crm: str, object_type: ObjectType, name: str
    ) -> pl.DataFrame:
        """``store.written_field``, prefetched when it was."""
        coming = self.history.pop((object_type, name), None)
        if coming is not None:
            return coming.result()
        return store.written_field(crm, object_type, name)

    def written_since(
        self, store: StateStore, crm: str, object_type: ObjectType, moment: datetime
    ) -> list[str]:
        if object_type not in self.since:
            self.since[object_type] = list(store.mirror.written_since(crm, object_type, moment))
        return self.since[object_type]

    def crm_copies(
        self, store: StateStore, shape: MirrorShape, object_type: ObjectType, ids: pl.Series
    ) -> pl.DataFrame:
        if self.whole:
            if object_type in self.coming:
                self.copies[object_type] = self.coming.pop(object_type).result()
            elif object_type not in self.copies:
                self.copies[object_type] = crm_copies(store, shape, object_type, None)
            return self.copies[object_type]
        # The whole object type in one columnar read for a big plan; by ids for a small one.
        return crm_copies(
            store, shape, object_type, None if ids.len() > COPIES_BY_ID else ids.to_list()
        )


def _plan_object(
    plan: SyncPlan,
    connector: Connector,
    store: StateStore,
    playbook: Playbook,
    object_type: ObjectType,
    engine_object: EngineObject,
    frame: pl.DataFrame,
    run_at: datetime,
    pulled: Pulled,
    deliver: Deliver | None,
    reads: _PlanReads,
) -> None:
    values = output_values(frame, playbook, engine_object)
    moved = tracked(values, playbook, engine_object)
    crm_owned: set[str] = set()
    target = lifecycle_field(plan.crm, object_type)
    lifecycle = playbook.models.get("lifecycle")
    if target is not None and lifecycle is not None and "segment_lifecycle" in frame.columns:
        allow_back = lifecycle.forward_only is False
        stages = plan_lifecycle(frame, plan.crm, target, allow_backward=allow_back)
        plan.lifecycle_backward_skipped += stages.skipped_backward
        values = values.join(stages.values, on="id", how="left")
        crm_owned.add(target.native)
        plan.crm_owned.add(target.native)
        plan.lifecycle_clears += [
            FieldWrite(object_type, rid, {target.native: ""}) for rid in stages.backward
        ]

    def native(name: str) -> str:
        return name if name in crm_owned else connector.field_name(name)

    numeric = pulled.shape.numeric.get(object_type, ()) if pulled.shape else ()
    copies = None
    if pulled.shape is not None and values.height:
        copies = reads.crm_copies(store, pulled.shape, object_type, values["id"])
        if copies.height > values.height:  # a whole type's copies: this frame's, once
            copies = copies.join(
                values.select(pl.col("id").alias("record_id")), on="record_id", how="semi"
            )
    # In slices: what segsync wrote comes back as Python values, and the diff unpivots a
    # row per field; a slice at a time keeps both bounded at any population size.
    diff = plan.diffs.setdefault(object_type, Diff(object_type))
    for start in range(0, values.height, DIFF_SLICE):
        part = values.slice(start, DIFF_SLICE)
        current = None
        if copies is not None:
            mine = copies.join(part.select(pl.col("id").alias("record_id")), on="record_id")
            # What the CRM already holds needs no write: its history is not looked at.
            held, fields = held_by_crm(
                part, mine, native=native, numeric=numeric, keep_when_null=crm_owned
            )
            diff.compared += fields
            diff.unchanged += fields
            part = part.filter(~pl.col("id").is_in(held))
            current = (
                mine.filter(~pl.col("record_id").is_in(held))
                .drop([c for c in mine.columns if c in crm_owned])
                .unpivot(index="record_id", variable_name="field", value_name="crm")
            )
        if part.height == 0:
            continue
        written = written_frame(store.last_written(plan.crm, object_type, part["id"].to_list()))
        planned = diff_values(
            object_type,
            part,
            written,
            native=native,
            tracked=moved,
            run_at=run_at,
            keep_when_null=crm_owned,
            current=current,
            numeric=numeric,
        )
        if deliver is not None and planned.writes:
            deliver(object_type, planned.writes, planned.drift_ids)
            planned.delivered, planned.writes = len(planned.writes), []
        diff.absorb(planned)
    plan.derived |= {native(m + s) for m in moved for s in (ENTERED_AT, PREVIOUS)}
    plan.derived.add(native(UPDATED_AT))


def _current_clv_fit(store: StateStore, crm: str, day: datetime) -> dict[str, Any] | None:
    """The stored CLV fit, unless a population's fit is older than the refit period.

    The weekly beat task refits; this catches a missed one (beat down for a week).
    """
    stored = store.get_model_state(crm, CLV_STATE)
    if not isinstance(stored, dict):
        return None
    for fit in stored.values():
        fitted = fit.get("fitted_at") if isinstance(fit, dict) else None
        if not fitted or (day.date() - date.fromisoformat(str(fitted))).days > CLV_MAX_AGE_DAYS:
            return None
    return stored


# Engine columns the plan reads besides each model's segment and reason columns.
_PLANNED = (
    "id",
    "object_type",
    "segment_lifecycle",
    "clv_12m",
    "r_score",
    "f_score",
    "m_score",
    "segment_holdout",
)


def _slimmed(result: SegmentResult, playbook: Playbook, crm: CrmName) -> SegmentResult:
    """``result`` with only the columns the plan reads: the engine's frames carry every
    input, enrichment and feature (a million contacts: 101 columns, 1 GB), and only
    the outputs are diffed."""

    def slim(frame: pl.DataFrame, engine_object: EngineObject) -> pl.DataFrame:
        keep = set(_PLANNED)
        for out in segment_outputs(playbook, engine_object):
            keep |= {out.column, out.reason_column}
        people_and_firms: tuple[ObjectType, ...] = ("contact", "lead", "company")
        for object_type in people_and_firms:
            target = lifecycle_field(crm, object_type)
            if target is not None:
                keep.add(target.current)
        return frame.select(c for c in frame.columns if c in keep)

    companies = None if result.companies is None else slim(result.companies, "company")
    return replace(result, contacts=slim(result.contacts, "contact"), companies=companies)


def _record_frames(
    result: SegmentResult,
) -> Iterable[tuple[ObjectType, EngineObject, pl.DataFrame]]:
    contacts = result.contacts
    if "object_type" in contacts.columns:
        people: tuple[ObjectType, ...] = ("contact", "lead")
        for object_type in people:
            part = contacts.filter(pl.col("object_type") == object_type)
            if part.height:
                yield object_type, "contact", part
    else:
        yield "contact", "contact", contacts
    if result.companies is not None:
        yield "company", "company", result.companies


def affected_records(
    changed: dict[ObjectType, set[str]], frames: Any
) -> dict[ObjectType, set[str]]:
    """Changed records plus what they roll up into (companies) and what inherits from them
    (the companies' people): the records an incremental plan diffs. People ids are listed
    under both ``contact`` and ``lead``, as the engine keeps them in one frame."""
    contacts, deals = frames.contacts, frames.deals if frames.deals is not None else frames.orders
    people = changed.get("contact", set()) | changed.get("lead", set())
    companies = set(changed.get("company", set()))
    if "company_id" in contacts.columns:
        linked = contacts.filter(pl.col("id").is_in(list(people)))["company_id"].drop_nulls()
        companies |= set(linked.to_list())
    changed_deals = changed.get("deal", set())
    if deals is not None and changed_deals:
        id_col = "id" if "id" in deals.columns else "order_id"
        rows = deals.filter(pl.col(id_col).is_in(list(changed_deals)))
        if "company_id" in rows.columns:
            companies |= set(rows["company_id"].drop_nulls().to_list())
        if "contact_id" in rows.columns:
            people |= set(rows["contact_id"].drop_nulls().to_list())
    if "company_id" in contacts.columns and companies:
        members = contacts.filter(pl.col("company_id").is_in(list(companies)))["id"]
        people |= set(members.to_list())
    return {"contact": people, "lead": people, "company": companies}


def sample_changes(plan: SyncPlan, size: int = SAMPLE_SIZE) -> list[dict[str, Any]]:
    """A few records with old -> new per changed field, for the dry run."""
    out: list[dict[str, Any]] = []
    for object_type, d in plan.diffs.items():
        if d.changes is None:
            continue
        ids = d.changes["record_id"].unique(maintain_order=True).head(size).to_list()
        part = d.changes.filter(pl.col("record_id").is_in(ids))
        for rid in ids:
            rows = part.filter(pl.col("record_id") == rid)
            out.append(
                {
                    "object_type": object_type,
                    "record_id": rid,
                    "changes": {
                        f: {"old": o, "new": n}
                        for f, o, n in rows.select("field", "old", "new").iter_rows()
                    },
                }
            )
        if len(out) >= size:
            break
    return out[:size]
