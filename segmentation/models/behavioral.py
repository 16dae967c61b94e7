"""Behavioral model: active / engaged / at-risk / dormant from recency and frequency.

The rules read three derived features: ``last_engaged_at`` (the latest thing the record
itself did: an activity, a site visit, an order), ``days_since_engaged`` and
``activity_per_month`` (engagement events per month of the record's life, so an old record
with many opens is not mistaken for a busy one). With orders, per-contact order recency
and frequency come from :func:`order_rollups`.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from segmentation.enrich.rollups import key_of
from segmentation.models.base import (
    COMPANY,
    CONTACT,
    ModelSpec,
    Schema,
    days_since,
    first_present,
    per_unit,
)
from segmentation.playbook import RuleModel
from segmentation.stable import stable_mean, stable_sum

# The record's own actions. last_contacted_at is deliberately absent: a rep calling a
# contact says nothing about the contact's engagement.
ENGAGED_AT = ("last_activity_at", "last_visit_at", "last_order_at", "last_order_date")
# Countable actions, on contacts (email, web, orders) and on companies (roll-ups).
EVENTS = (
    "email_opens",
    "email_clicks",
    "visits",
    "form_submissions",
    "engaged_contact_count",
    "deal_count",
)
ORDER_COUNTS = ("order_count", "num_orders")  # the export's own roll-up or ours, not both
DAYS_PER_MONTH = 30.4375

FEATURES: dict[str, pl.DataType] = {
    "last_engaged_at": pl.Datetime("us", "UTC"),
    "days_since_engaged": pl.Float64(),
    "activity_count": pl.Int64(),
    "activity_per_month": pl.Float64(),
}
ORDER_FEATURES: dict[str, pl.DataType] = {
    "order_count": pl.Int64(),
    "order_revenue": pl.Float64(),
    "avg_order_value": pl.Float64(),
    "first_order_date": pl.Datetime("us", "UTC"),
    "last_order_date": pl.Datetime("us", "UTC"),
    "days_since_last_order": pl.Float64(),
    "orders_last_90d": pl.Int64(),
    "orders_last_365d": pl.Int64(),
}


def _utc(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """Timestamps in one unit and zone, so max_horizontal compares like with like."""
    if isinstance(dtype, pl.Datetime) and dtype.time_zone is None:
        expr = expr.dt.replace_time_zone("UTC")
    return expr.cast(pl.Datetime("us", "UTC"))


def features(schema: Schema, model: RuleModel | None, now: datetime) -> dict[str, pl.Expr]:
    """Recency and frequency features from whichever activity columns the frame has."""
    out: dict[str, pl.Expr] = {}
    engaged = [
        _utc(pl.col(c), schema[c])
        for c in first_present(schema, *ENGAGED_AT)
        if schema[c].is_temporal()
    ]
    last = pl.max_horizontal(engaged) if engaged else pl.lit(None, pl.Datetime("us", "UTC"))
    out["last_engaged_at"] = last
    out["days_since_engaged"] = days_since(last, now)
    counted = [c for c in first_present(schema, *EVENTS) if schema[c].is_numeric()]
    counted += [c for c in first_present(schema, *ORDER_COUNTS) if schema[c].is_numeric()][:1]
    events = (
        pl.sum_horizontal(pl.col(c).cast(pl.Int64).fill_null(0) for c in counted)
        if counted
        else pl.lit(0, pl.Int64)
    )
    out["activity_count"] = events
    if "created_at" in schema and schema["created_at"].is_temporal():
        months = (
            per_unit(
                days_since(_utc(pl.col("created_at"), schema["created_at"]), now), DAYS_PER_MONTH
            )
        ).clip(lower_bound=1.0)
        out["activity_per_month"] = events / months.fill_null(1.0)
    else:
        out["activity_per_month"] = events.cast(pl.Float64)
    return out


def order_rollups(orders: pl.LazyFrame, now: datetime) -> pl.LazyFrame:
    """Per-contact order recency, frequency and value, keyed by ``contact_id``."""
    schema = orders.collect_schema()
    at = _utc(pl.col("order_date"), schema["order_date"])
    amount = pl.col("amount").cast(pl.Float64)
    day = 86_400_000_000  # microseconds
    age_us = (pl.lit(now).cast(pl.Datetime("us", "UTC")) - at).dt.total_microseconds()
    return (
        orders.filter(pl.col("contact_id").is_not_null())
        .group_by(key_of(pl.col("contact_id")).alias("contact_id"))
        .agg(
            pl.len().cast(pl.Int64).alias("order_count"),
            stable_sum(amount).alias("order_revenue"),
            stable_mean(amount).alias("avg_order_value"),
            at.min().alias("first_order_date"),
            at.max().alias("last_order_date"),
            (age_us <= 90 * day).sum().cast(pl.Int64).alias("orders_last_90d"),
            (age_us <= 365 * day).sum().cast(pl.Int64).alias("orders_last_365d"),
        )
        .with_columns(days_since(pl.col("last_order_date"), now).alias("days_since_last_order"))
    )


SPEC = ModelSpec(
    "behavioral",
    features=features,
    feature_types=FEATURES,
    applies_to=(CONTACT, COMPANY),
)
