"""Lifecycle stage goes to the CRM's own field, forward only.

The lifecycle model's segments map to the CRM's stage values (HubSpot
``lifecyclestage``; Salesforce lead ``Status``); a move to an earlier stage is skipped
and counted, unless the playbook lets the lifecycle model move backwards — HubSpot then
needs the field cleared before an earlier stage is accepted.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from connectors.base import CrmName, ObjectType

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
