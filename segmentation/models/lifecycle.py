"""Lifecycle stage with stage gates, forward-only by default.

The playbook's rules are the stage gates (evaluated highest stage first, first match
wins). This module adds what the gates read: the CRM's own stage in one spelling
(``crm_stage``) and per-contact deal counts (:func:`deal_rollups`). The forward-only guard
(a record never moves to a lower stage than its previous one unless the playbook sets
``forward_only: false``) is :func:`segmentation.models.base.forward_only`, which the
engine applies to every model with ``forward_only``; for this model it is on by default,
along the order subscriber → lead → mql → sql → opportunity → customer → evangelist.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from segmentation.enrich.rollups import deal_status, key_of
from segmentation.models.base import COMPANY, CONTACT, ModelSpec, Schema
from segmentation.playbook import RuleModel

# CRM spellings (HubSpot internal names and labels, Salesforce-style labels), compared
# after lower-casing and dropping everything but letters.
CRM_STAGES: dict[str, str] = {
    "subscriber": "subscriber",
    "newsletter": "subscriber",
    "lead": "lead",
    "marketingqualifiedlead": "mql",
    "mql": "mql",
    "salesqualifiedlead": "sql",
    "sql": "sql",
    "salesacceptedlead": "sql",
    "opportunity": "opportunity",
    "customer": "customer",
    "closedwon": "customer",
    "evangelist": "evangelist",
    "advocate": "evangelist",
    "other": "other",
}
FEATURES: dict[str, pl.DataType] = {"crm_stage": pl.String()}
DEAL_FEATURES: dict[str, pl.DataType] = {
    "contact_deal_count": pl.Int64(),
    "contact_open_deal_count": pl.Int64(),
    "contact_won_deal_count": pl.Int64(),
}


def features(schema: Schema, model: RuleModel | None, now: datetime) -> dict[str, pl.Expr]:
    """``crm_stage``: the CRM's lifecycle field in the canonical stage names."""
    if "lifecycle_stage" not in schema:
        return {"crm_stage": pl.lit(None, pl.String)}
    key = (
        pl.col("lifecycle_stage").cast(pl.String).str.to_lowercase().str.replace_all(r"[^a-z]", "")
    )
    return {"crm_stage": key.replace_strict(CRM_STAGES, default=None, return_dtype=pl.String)}


def deal_rollups(deals: pl.DataFrame) -> pl.LazyFrame:
    """Per-contact deal counts (all, open, won), keyed by ``contact_id``.

    Won and closed come from ``is_won``/``is_closed`` or else the stage name, exactly as
    enrichment reads them for the company roll-ups.
    """
    won, closed = deal_status(deals)
    # with_columns takes the flags whether enrichment hands them over as series or exprs.
    flagged = deals.select("contact_id").with_columns(_won=won, _closed=closed)
    return (
        flagged.lazy()
        .filter(pl.col("contact_id").is_not_null())
        .group_by(key_of(pl.col("contact_id")).alias("contact_id"))
        .agg(
            pl.len().cast(pl.Int64).alias("contact_deal_count"),
            pl.col("_closed")
            .not_()
            .fill_null(False)
            .sum()
            .cast(pl.Int64)
            .alias("contact_open_deal_count"),
            pl.col("_won").fill_null(False).sum().cast(pl.Int64).alias("contact_won_deal_count"),
        )
    )


SPEC = ModelSpec(
    "lifecycle",
    features=features,
    feature_types=FEATURES,
    applies_to=(CONTACT, COMPANY),
)
