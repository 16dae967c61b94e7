"""RFM, predicted CLV and value tiers on segmented frames, when transactions are given.

B2C: customers are contacts with orders (``contact_id``, ``order_date``, ``amount``).
B2B: customers are companies with won deals (``company_id``, ``close_date``, ``amount``);
their contacts inherit the company's value columns. Pure: frames in, frames out.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import polars as pl

from segmentation.clv import ClvError
from segmentation.enrich.rollups import deal_status
from segmentation.rfm import rfm
from segmentation.value import clv_quantile_tiers, predict_clv, value_tiers

VALUE_COLUMNS = (
    "recency_days",
    "frequency",
    "monetary",
    "r_score",
    "f_score",
    "m_score",
    "segment_rfm",
    "reason_rfm",
    "clv_12m",
    "p_alive",
    "expected_purchases_12m",
    "segment_value_tier",
    "reason_value_tier",
)


def customer_values(
    transactions: pl.DataFrame, customer_col: str, date_col: str, amount_col: str, now: datetime
) -> tuple[pl.DataFrame, str | None]:
    """Per customer: RFM, predicted CLV and a value tier; plus why CLV was skipped, if it was."""
    tx = transactions.filter(
        pl.col(customer_col).is_not_null() & pl.col(date_col).is_not_null()
    ).with_columns(pl.col(date_col).cast(pl.Date))
    values = rfm(tx, customer_col, date_col, amount_col, now=now)
    try:
        clv = predict_clv(tx, customer_col, date_col, amount_col, now=now)
    except ClvError as exc:
        return values, f"CLV not predicted: {exc}"
    return values.join(clv, on=customer_col, how="left"), None


def add_value_models(
    contacts: pl.DataFrame,
    companies: pl.DataFrame | None,
    deals: pl.DataFrame | None,
    orders: pl.DataFrame | None,
    now: datetime,
) -> tuple[pl.DataFrame, pl.DataFrame | None, dict[str, Any]]:
    """Join value columns onto contacts (B2C orders) and companies (B2B won deals)."""
    notes: dict[str, Any] = {}
    if orders is not None and {"contact_id", "order_date", "amount"} <= set(orders.columns):
        values, note = customer_values(orders, "contact_id", "order_date", "amount", now)
        if note:
            notes["contacts"] = note
        if "clv_12m" in values.columns:
            values = clv_quantile_tiers(values)
        contacts = _join(contacts, values.rename({"contact_id": "id"}))
    if deals is not None and {"company_id", "close_date", "amount"} <= set(deals.columns):
        won, _closed = deal_status(deals)
        won_deals = deals.filter(won.fill_null(False))
        values, note = customer_values(won_deals, "company_id", "close_date", "amount", now)
        if note:
            notes["companies"] = note
        values = value_tiers(values.with_columns(pl.col("monetary").alias("won_acv")), "won_acv")
        values = values.drop("won_acv").rename({"company_id": "id"})
        if companies is not None:
            companies = _join(companies, values)
            companies = companies.with_columns(
                pl.col("segment_value_tier").fill_null("long_tail"),
                pl.col("segment_rfm").fill_null("no_purchase"),
            )
        if "company_id" in contacts.columns:
            contacts = _join(contacts, values.rename({"id": "company_id"}), on="company_id")
    return contacts, companies, notes


def _join(frame: pl.DataFrame, values: pl.DataFrame, on: str = "id") -> pl.DataFrame:
    if on not in frame.columns:
        return frame
    keep = [c for c in values.columns if c == on or c not in frame.columns]
    values = values.select(keep).with_columns(pl.col(on).cast(frame.schema[on]))
    return frame.join(values, on=on, how="left")
