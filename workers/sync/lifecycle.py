"""Lifecycle stage goes to the CRM's own field, forward only.

The lifecycle model's segments map to the CRM's stage values (HubSpot
``lifecyclestage``; Salesforce lead ``Status``); a move to an earlier stage is skipped
and counted, unless the playbook lets the lifecycle model move backwards — HubSpot then
needs the field cleared before an earlier stage is accepted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from connectors.base import Connector, CrmName, ObjectType
from workers.state import StateStore
from workers.sync.frames import EngineFrames

# Stage order per CRM field, earliest first (HubSpot's default lifecycle stages).
HUBSPOT_STAGES = (
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
    "evangelist",
)
SALESFORCE_LEAD_STATUSES = ("Open - Not Contacted", "Working - Contacted")
SEGMENT_TO_STAGE: dict[CrmName, dict[str, str]] = {
    "hubspot": {
        "subscriber": "subscriber",
        "lead": "lead",
        "mql": "marketingqualifiedlead",
        "engaged_prospect": "marketingqualifiedlead",
        "sql": "salesqualifiedlead",
        "opportunity": "opportunity",
        "customer": "customer",
        "repeat_customer": "customer",
        "evangelist": "evangelist",
    },
    # Qualified and later stages are Salesforce's lead conversion, which is a sales
    # rep's decision, not a field segsync should set.
    "salesforce": {
        "subscriber": "Open - Not Contacted",
        "lead": "Open - Not Contacted",
        "mql": "Working - Contacted",
        "engaged_prospect": "Working - Contacted",
    },
}


@dataclass(frozen=True, slots=True)
class LifecycleField:
    """Where one object type keeps its stage: native field, canonical input, stage order."""

    native: str
    current: str
    order: tuple[str, ...]


def lifecycle_field(crm: CrmName, object_type: ObjectType) -> LifecycleField | None:
    """The CRM field the lifecycle stage is written to, or None when there is none."""
    if crm == "hubspot" and object_type in ("contact", "company"):
        return LifecycleField("lifecyclestage", "lifecycle_stage", HUBSPOT_STAGES)
    if crm == "salesforce" and object_type == "lead":
        return LifecycleField("Status", "lead_status", SALESFORCE_LEAD_STATUSES)
    return None


@dataclass
class LifecyclePlan:
    """Stage values to write (``id``, native field) and the backward moves found."""

    values: pl.DataFrame
    backward: list[str]
    skipped_backward: int


def plan_lifecycle(
    frame: pl.DataFrame, crm: CrmName, target: LifecycleField, *, allow_backward: bool
) -> LifecyclePlan:
    """Mapped stages that differ from the CRM's; backward ones skipped unless allowed."""
    mapping = SEGMENT_TO_STAGE[crm]
    rank = {stage: i for i, stage in enumerate(target.order)}
    current = pl.col(target.current) if target.current in frame.columns else pl.lit(None)
    planned = frame.select(
        pl.col("id").cast(pl.String),
        pl.col("segment_lifecycle")
        .cast(pl.String)
        .replace_strict(mapping, default=None)
        .alias("new"),
        current.cast(pl.String).alias("current"),
    ).filter(pl.col("new").is_not_null() & (pl.col("new") != pl.col("current").fill_null("")))
    new_rank = pl.col("new").replace_strict(rank, default=None, return_dtype=pl.Int64)
    # A current value outside the known order (a custom stage, "other") is not moved from.
    cur_rank = pl.col("current").replace_strict(rank, default=None, return_dtype=pl.Int64)
    unknown = pl.col("current").is_not_null() & cur_rank.is_null()
    planned = planned.filter(~unknown)
    is_back = cur_rank.is_not_null() & (new_rank < cur_rank)
    backward = planned.filter(is_back)
    keep = planned if allow_backward else planned.filter(~is_back)
    return LifecyclePlan(
        keep.select("id", pl.col("new").alias(target.native)),
        backward["id"].to_list() if allow_backward else [],
        0 if allow_backward else backward.height,
    )


# Above this many records a plan reads the CRM's copies of a whole object type at once.
COPIES_BY_ID = 20_000


def previous_lifecycle(
    store: StateStore,
    connector: Connector,
    frames: EngineFrames,
    only: dict[ObjectType, set[str]] | None = None,
    written_field: Callable[[StateStore, str, ObjectType, str], pl.DataFrame] | None = None,
) -> pl.DataFrame | None:
    """Last written lifecycle segments, for the forward-only lifecycle model (of the
    ``only`` records, when given); ``written_field`` reads one field of every record's
    written history (``store.written_field`` unless given)."""
    whole_column = written_field or (lambda s, crm, t, n: s.written_field(crm, t, n))
    name = connector.field_name("lifecycle")
    nobody = pl.Series("id", [], pl.String)
    people = frames.contacts["id"] if "id" in frames.contacts.columns else nobody
    firms = frames.companies["id"] if frames.companies is not None else nobody
    sources: tuple[tuple[ObjectType, str, pl.Series], ...] = (
        ("contact", "contact", people),
        ("company", "company", firms),
    )
    if "object_type" in frames.contacts.columns:  # a CRM with leads (as _record_frames)
        sources += (("lead", "contact", people),)
    if only is not None:
        sources = tuple(
            (t, e, pl.Series("id", sorted(only.get(t, set())), pl.String)) for t, e, _ in sources
        )
    schema = pl.Schema(
        {"object_type": pl.String(), "id": pl.String(), "segment_lifecycle": pl.String()}
    )
    parts: list[pl.DataFrame] = []
    for object_type, engine_object, ids in sources:
        if ids.len() > COPIES_BY_ID:  # most of the mirror: one columnar read
            column = whole_column(store, connector.crm, object_type, name)
            found = column.join(ids.alias("record_id").to_frame(), on="record_id", how="semi")
        else:
            known = store.last_written(connector.crm, object_type, ids.to_list(), fields=[name])
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
