"""The sync pipeline: pull -> mirror -> frames -> segment -> diff -> writes.

Each step is a function so the same code runs in-process (the embedded default) and as
Celery tasks (``workers.tasks``). Pulls feed the mirror (``workers/mirroring.py``, a
minimised copy of the CRM in the state store) page by page; segmentation reads its
frames from the mirror.

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
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

import polars as pl

from connectors.base import Connector, CrmName, Cursor, FieldWrite, ObjectType
from segmentation.engine import SegmentResult, segment
from segmentation.playbook import Playbook, parse_playbook
from segmentation.statistics import StatisticsError
from workers.diff import Diff, diff_values, held_by_crm, same_in_crm, written_frame
from workers.fieldmap import FieldMap, load_field_map
from workers.frames import EngineFrames, playbook_mode
from workers.lifecycle import lifecycle_field, plan_lifecycle
from workers.mirroring import (
    MirrorFeed,
    MirrorShape,
    crm_copies,
    current_outputs,
    load_frames,
    mirror_shape,
)
from workers.offline import playbook_source
from workers.outputs import (
    ENTERED_AT,
    PREVIOUS,
    UPDATED_AT,
    EngineObject,
    field_specs,
    output_values,
    tracked,
    written_object_types,
)
from workers.playbook_check import validate_against
from workers.state import StateStore

log = logging.getLogger("segsync.sync")

CLUSTER_STATE = "clusters"
MIRROR_STATE = "mirror"
# The population statistics of the last run over the whole mirror (segmentation/statistics.py).
STATISTICS_STATE = "statistics"
CLV_STATE = "clv"
CLV_MAX_AGE_DAYS = 8
SAMPLE_SIZE = 10
# Records diffed at a time (see _plan_object).
DIFF_SLICE = 20_000
# Above this many records a plan reads the CRM's copies of a whole object type at once.
COPIES_BY_ID = 20_000


class SchemaMissingError(RuntimeError):
    """A field segsync would write does not exist (or is read-only) in the CRM."""


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
    # A playbook that would not compile on these fields stops the run before any read.
    validate_against(playbook, field_map)
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
    if from_mirror:
        nothing: dict[str, int] = {t: 0 for t in types}
        pulled = Pulled(None, nothing, None, [], started_at, None, shape)
        return _with_frames(store, playbook, pulled, None, load)
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
    changed = {t: feed.inputs_changed.get(t, set()) - feed.deleted.get(t, set()) for t in types}
    for t in types:
        changed[t] |= drifted(store, shape, t, feed.outputs_changed.get(t, set()) - changed[t])
    counts: dict[str, int] = {t: feed.counts.get(t, 0) for t in types}
    echoes = {t: counts[t] - len(changed[t]) for t in types}
    if not any(changed.values()):
        return Pulled(None, counts, changed, saved, started_at, echoes, shape, removed)
    pulled = Pulled(None, counts, changed, saved, started_at, echoes, shape, removed, whole=False)
    return _with_frames(store, playbook, pulled, roll_up_closure(store, crm, changed), load)


def _with_frames(
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
    shape, counts, removed = _read_everything(connector, store, playbook, started_at)
    pulled = Pulled(None, counts, None, snapshots, started_at, None, shape, removed)
    return _with_frames(store, playbook, pulled, None, load)


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
    mark = int(started_at.timestamp())
    feed = MirrorFeed(store, shape, mark=mark)
    for t in types:
        for batch in connector.read_all(t, shape.properties(t)):
            feed(batch)
    unseen = {t: set(store.mirror.unseen(crm, t, mark)) | feed.deleted.get(t, set()) for t in types}
    removed = _forget(store, crm, unseen)
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
    field segsync wrote differs from what it wrote: edited by hand, not echoes."""
    names = list(shape.outputs.get(object_type, ()))
    if not ids or not names:
        return set()
    now = current_outputs(store, shape, object_type, ids)
    written = written_frame(store.last_written(shape.crm, object_type, ids, fields=names))
    differs = now.join(written, on=["record_id", "field"], how="inner").filter(
        ~same_in_crm(pl.col("old"), pl.col("crm"), shape.numeric.get(object_type, ()))
    )
    return set(differs["record_id"].to_list())


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


def count_echoes(
    store: StateStore, crm: str, object_type: ObjectType, modified: dict[str, datetime]
) -> int:
    """How many changed records were last modified no later than segsync last wrote them.

    segsync records a write once the CRM has answered it, so a record whose modification
    time is not after that was last changed by segsync itself. No allowance for clock
    skew: a change made a moment after segsync's write must count as a change, and a CRM
    clock running ahead of this host's only makes echoes count as changes.
    """
    if not modified:
        return 0
    written = store.last_write_times(crm, object_type, modified)
    return sum(1 for rid, at in modified.items() if rid in written and at <= written[rid])


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

    @property
    def writes(self) -> list[FieldWrite]:
        return [w for d in self.diffs.values() for w in d.writes]

    @property
    def repairs(self) -> set[tuple[str, str]]:
        """(object type, id) of the records whose writes repair a hand edit."""
        return {(t, rid) for t, d in self.diffs.items() for rid in d.drift_ids}

    def required_fields(self) -> dict[ObjectType, set[str]]:
        """Native fields each object type's writes touch."""
        need: dict[ObjectType, set[str]] = {}
        for object_type, d in self.diffs.items():
            for w in d.writes:
                need.setdefault(object_type, set()).update(w.fields)
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
) -> SyncPlan:
    """Segment the pulled population and diff it against what was last written.

    The stored cluster centroids keep cluster labels stable; the stored CLV fit is
    reused unless ``refit_clv`` (the weekly refit) or none is stored yet.

    ``affected_history_only`` (the event path, which reports no segment summary) reads
    the last written lifecycle stages of the records to be diffed only: the others'
    values are computed but neither written nor reported, and reading every record's
    history took a fifth of a round on 5,000 contacts.
    """
    crm = connector.crm
    plan = SyncPlan(crm, "full" if pulled.changed is None else "incremental")
    if pulled.deferred and pulled.frames is None:
        _with_frames(store, playbook, pulled, pulled.reach, load=True)
        pulled.deferred = False
    frames = pulled.frames
    if frames is None:
        return plan
    day = run_day(now)
    previous = store.get_model_state(crm, CLUSTER_STATE)
    affected = affected_records(pulled.changed, frames) if pulled.changed is not None else None
    stored = None if pulled.whole else store.get_model_state(crm, STATISTICS_STATE)
    if not pulled.whole and stored is None and pulled.shape is not None:
        # Nothing to apply yet (no run over the whole mirror so far): compute them there.
        frames = load_frames(store, pulled.shape, playbook_mode(playbook))
        pulled.whole = True

    def run(frames: EngineFrames, statistics: dict[str, Any] | None) -> SegmentResult:
        return segment(
            frames.contacts,
            frames.companies,
            frames.deals,
            frames.orders,
            playbook=playbook,
            now=day,
            previous=_previous_lifecycle(
                store, connector, frames, affected if affected_history_only else None
            ),
            previous_clusters=previous,
            previous_clv=None if refit_clv else _current_clv_fit(store, crm, day),
            statistics=statistics,
        )

    try:
        result = run(frames, stored)
    except StatisticsError as exc:
        if pulled.shape is None:
            raise
        # Stored for another playbook or engine: the whole mirror computes them afresh.
        log.info("%s: stored statistics not usable (%s); segmenting the whole mirror", crm, exc)
        frames = load_frames(store, pulled.shape, playbook_mode(playbook))
        pulled.whole = True
        result = run(frames, None)
    if pulled.whole:
        plan.statistics = result.statistics
    if playbook.holdout is not None and playbook.holdout.enabled:
        from segmentation.report import add_holdouts

        result = add_holdouts(result, playbook)
    plan.clusters = result.clusters
    plan.clv_fit = result.clv_fit
    plan.summary = result.summary
    run_at = datetime.now(UTC).replace(microsecond=0)
    for object_type, engine_object, frame in _record_frames(result):
        plan.segmented[object_type] = frame.height
        if affected is not None:
            frame = frame.filter(pl.col("id").is_in(list(affected.get(object_type, set()))))
        if pulled.started_at is not None:
            fresher = store.written_since(crm, object_type, pulled.started_at)
            frame = frame.filter(~pl.col("id").is_in(list(fresher)))
        plan.compared[object_type] = frame.height
        _plan_object(
            plan, connector, store, playbook, object_type, engine_object, frame, run_at, pulled
        )
    return plan


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
        # The whole object type in one columnar read for a big plan (the nightly run);
        # by ids for a small one.
        ids = None if values.height > COPIES_BY_ID else values["id"].to_list()
        copies = crm_copies(store, pulled.shape, object_type, ids)
    # In slices: what segsync wrote comes back as Python values, and the diff unpivots a
    # row per field; a slice at a time keeps both bounded at any population size.
    diff = Diff(object_type)
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
        diff.absorb(
            diff_values(
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
        )
    plan.diffs[object_type] = diff
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


def _previous_lifecycle(
    store: StateStore,
    connector: Connector,
    frames: EngineFrames,
    only: dict[ObjectType, set[str]] | None = None,
) -> pl.DataFrame | None:
    """Last written lifecycle segments, for the forward-only lifecycle model (of the
    ``only`` records, when given)."""
    name = connector.field_name("lifecycle")
    people = frames.contacts["id"].to_list() if "id" in frames.contacts.columns else []
    firms = frames.companies["id"].to_list() if frames.companies is not None else []
    sources: tuple[tuple[ObjectType, str, list[str]], ...] = (
        ("contact", "contact", people),
        ("company", "company", firms),
    )
    if "object_type" in frames.contacts.columns:  # a CRM with leads (as _record_frames)
        sources += (("lead", "contact", people),)
    if only is not None:
        sources = tuple((t, e, sorted(only.get(t, set()))) for t, e, _ in sources)
    schema = pl.Schema(
        {"object_type": pl.String(), "id": pl.String(), "segment_lifecycle": pl.String()}
    )
    parts: list[pl.DataFrame] = []
    for object_type, engine_object, ids in sources:
        if len(ids) > COPIES_BY_ID:  # most of the mirror: one columnar read
            column = store.written_field(connector.crm, object_type, name)
            wanted = pl.DataFrame({"record_id": ids}, schema={"record_id": pl.String})
            found = column.join(wanted, on="record_id", how="semi")
        else:
            known = store.last_written(connector.crm, object_type, ids, fields=[name])
            found = pl.DataFrame(
                [(rid, f.get(name)) for rid, f in known.items()],
                schema={"record_id": pl.String, "value": pl.String},
                orient="row",
            )
        parts.append(
            found.filter(pl.col("value").is_not_null() & (pl.col("value") != "")).select(
                pl.lit(engine_object).alias("object_type"),
                pl.col("record_id").alias("id"),
                pl.col("value").alias("segment_lifecycle"),
            )
        )
    previous = pl.concat(parts).cast(schema) if parts else pl.DataFrame(schema=schema)
    # One row per person: the same id is listed as contact and as lead (leads' CRMs).
    previous = previous.unique(["object_type", "id"], keep="first", maintain_order=True)
    return previous if previous.height else None


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


def check_schema(connector: Connector, plan: SyncPlan, known: MirrorShape | None = None) -> None:
    """Refuse to write to fields that do not exist or are read-only, naming the fix.

    With ``known`` (a run that reads nothing from the CRM), the fields found by the last
    full read are taken as they were instead of asking the CRM again.
    """
    problems = []
    for object_type, fields in plan.required_fields().items():
        if known is not None:
            access = dict.fromkeys(known.present.get(object_type, ()), True)
        else:
            access = connector.field_access(object_type)
        ours = fields - plan.crm_owned
        missing = sorted(f for f in ours if f not in access)
        locked = sorted(f for f in ours if f in access and not access[f])
        if missing:
            problems.append(
                f"{object_type}: missing {', '.join(missing[:8])}"
                + (f" and {len(missing) - 8} more" if len(missing) > 8 else "")
            )
        if locked:
            problems.append(f"{object_type}: not writable {', '.join(locked[:8])}")
    if problems:
        raise SchemaMissingError(
            f"{connector.crm} lacks segsync's fields ({'; '.join(problems)}): "
            f"run `segsync schema apply --crm {connector.crm}` first"
        )


def apply_schema(
    connector: Connector, playbook: Playbook, object_types: Iterable[ObjectType]
) -> list[Any]:
    """Create segsync's fields for ``playbook`` on each object type."""
    changes = []
    for object_type in object_types:
        specs = field_specs(playbook, object_type)
        if specs:
            changes += connector.apply_schema(object_type, specs)
    return changes


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
