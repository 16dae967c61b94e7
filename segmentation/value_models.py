"""RFM, predicted CLV and value tiers on segmented frames, when transactions are given.

B2C: customers are contacts with orders (``contact_id``, ``order_date``, ``amount``).
B2B: customers are companies with won deals (``company_id``, ``close_date``, ``amount``);
their contacts inherit the company's value columns. Pure: frames in, frames out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import polars as pl

from segmentation.cluster_ids import configured_k
from segmentation.clv import ClvError, ClvFit, ClvFitError
from segmentation.enrich.rollups import deal_status
from segmentation.playbook import Playbook
from segmentation.playbook.model import RfmSection
from segmentation.rfm import DEFAULT_SEGMENTS, RfmSegment, rfm
from segmentation.value import (
    DEFAULT_ACV_TIERS,
    ValueTier,
    clv_quantile_tiers,
    predict_clv_with_fit,
    value_tiers,
)

MIN_ROWS_PER_CLUSTER = 10
# The RFM and value-tier segment of a customer with no purchase in the window (a B2C
# shopper without orders; a B2B company without won deals takes the tier fallback).
NO_PURCHASE = "no_purchase"
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
# The populations a CLV is fitted on, and the keys of a run's stored fits.
CLV_POPULATIONS = ("contacts", "companies")


def customer_values(
    transactions: pl.DataFrame,
    customer_col: str,
    date_col: str,
    amount_col: str,
    now: datetime,
    playbook: Playbook | None = None,
    fitted: ClvFit | None = None,
) -> tuple[pl.DataFrame, str | None, ClvFit | None]:
    """Per customer: RFM and predicted CLV; why CLV was skipped, if it was; the CLV fit used.

    ``fitted`` is a stored fit to apply instead of fitting afresh.
    """
    tx = transactions.filter(
        pl.col(customer_col).is_not_null() & pl.col(date_col).is_not_null()
    ).with_columns(pl.col(date_col).cast(pl.Date))
    section = playbook.rfm if playbook is not None else None
    if section is None:
        section = RfmSection.model_validate({})
    cells = (
        [RfmSegment(c.name, c.recency, c.frequency) for c in section.segments]
        if section.segments
        else DEFAULT_SEGMENTS
    )
    values = rfm(
        tx,
        customer_col,
        date_col,
        amount_col,
        now=now,
        window_days=section.window_days,
        bins=section.bins,
        segments=cells,
    )
    clv_config = playbook.clv if playbook is not None and playbook.clv is not None else None
    if clv_config is not None and not clv_config.enabled:
        return values, None, None
    try:
        clv, fit = predict_clv_with_fit(
            tx,
            customer_col,
            date_col,
            amount_col,
            now=now,
            months=12 if clv_config is None else clv_config.months,
            monthly_discount_rate=0.01 if clv_config is None else clv_config.monthly_discount_rate,
            fitted=fitted,
        )
    except ClvError as exc:
        return values, f"CLV not predicted: {exc}", None
    return values.join(clv, on=customer_col, how="left"), None, fit


def add_value_models(
    contacts: pl.DataFrame,
    companies: pl.DataFrame | None,
    deals: pl.DataFrame | None,
    orders: pl.DataFrame | None,
    now: datetime,
    playbook: Playbook | None = None,
    previous_clv: Mapping[str, Any] | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame | None, dict[str, Any], dict[str, Any]]:
    """Join value columns onto contacts (B2C orders) and companies (B2B won deals).

    ``previous_clv`` holds stored fits by population (``{"contacts": ClvFit.to_dict(),
    "companies": ...}``) to apply instead of refitting; a population without one is
    fitted. Returns the frames, notes and the fits used, keyed the same way.
    """
    stored = _stored_fits(previous_clv)
    notes: dict[str, Any] = {}
    fits: dict[str, Any] = {}
    tiers_config = playbook.value_tiers if playbook is not None else None
    acv_tiers = (
        [ValueTier(t.name, t.minimum) for t in tiers_config.tiers]
        if tiers_config is not None and tiers_config.tiers
        else DEFAULT_ACV_TIERS
    )
    fallback = tiers_config.fallback if tiers_config is not None else "long_tail"
    clv_labels = (
        tuple(tiers_config.clv_labels)
        if tiers_config is not None and tiers_config.clv_labels
        else ("low", "medium", "high", "top")
    )
    if orders is not None and {"contact_id", "order_date", "amount"} <= set(orders.columns):
        values, note, fit = customer_values(
            orders, "contact_id", "order_date", "amount", now, playbook, stored("contacts")
        )
        if note:
            notes["contacts"] = note
        if fit is not None:
            fits["contacts"] = fit.to_dict()
        clv_column = next((c for c in values.columns if c.startswith("clv_")), None)
        if clv_column is not None:
            values = clv_quantile_tiers(values, clv_column, clv_labels)
        contacts = _join(contacts, values.rename({"contact_id": "id"}))
        # Shoppers without an order in the window are a segment too, not a blank.
        contacts = _no_purchase(contacts, NO_PURCHASE, f"no order {_window(playbook)}")
    if deals is not None and {"company_id", "close_date", "amount"} <= set(deals.columns):
        won, _closed = deal_status(deals)
        won_deals = deals.filter(won.fill_null(False))
        values, note, fit = customer_values(
            won_deals, "company_id", "close_date", "amount", now, playbook, stored("companies")
        )
        if note:
            notes["companies"] = note
        if fit is not None:
            fits["companies"] = fit.to_dict()
        values = value_tiers(
            values.with_columns(pl.col("monetary").alias("won_acv")),
            "won_acv",
            acv_tiers,
            fallback=fallback,
        )
        values = values.drop("won_acv").rename({"company_id": "id"})
        # A company without a won deal in the window, and so each of its contacts (they
        # inherit their company's values) and a contact with no company at all, gets
        # the same named segments: never a blank that reads as "None".
        none_won = f"no won deal {_window(playbook)}"
        if companies is not None:
            companies = _no_purchase(_join(companies, values), fallback, none_won)
        if "company_id" in contacts.columns:
            contacts = _join(contacts, values.rename({"id": "company_id"}), on="company_id")
            contacts = _no_purchase(contacts, fallback, none_won)
    return contacts, companies, notes, fits


def _window(playbook: Playbook | None) -> str:
    """The RFM look-back as a reason says it: ``in the last 365 days`` (or ``ever``)."""
    section = playbook.rfm if playbook is not None and playbook.rfm is not None else None
    days = (section or RfmSection.model_validate({})).window_days
    return "ever" if days is None else f"in the last {days} days"


def _no_purchase(frame: pl.DataFrame, tier: str, why: str) -> pl.DataFrame:
    """RFM ``no_purchase`` and value tier ``tier``, with their reasons, where they are empty."""
    exprs: list[pl.Expr] = []
    for column, name in (("segment_rfm", NO_PURCHASE), ("segment_value_tier", tier)):
        if column not in frame.columns:
            continue
        reason = column.replace("segment_", "reason_", 1)
        empty = pl.col(column).is_null()
        exprs.append(pl.col(column).fill_null(name))
        exprs.append(
            pl.when(empty).then(pl.lit(f"{name}: {why}")).otherwise(pl.col(reason)).alias(reason)
        )
    return frame.with_columns(exprs) if exprs else frame


def _stored_fits(previous: Mapping[str, Any] | None) -> Callable[[str], ClvFit | None]:
    """A look-up of the stored fit per population, each parsed only when a run uses it.

    Unknown keys are refused: a bare fit passed where fits by population belong would
    otherwise be ignored, and every run would quietly refit.
    """
    by_population = previous or {}
    unknown = sorted(str(k) for k in by_population if k not in CLV_POPULATIONS)
    if unknown:
        raise ClvFitError(
            f"previous_clv is keyed by {' or '.join(CLV_POPULATIONS)}, not {', '.join(unknown)}"
        )

    def stored(population: str) -> ClvFit | None:
        data = by_population.get(population)
        if data is None:
            return None
        try:
            return ClvFit.from_dict(data)
        except ClvFitError as exc:
            raise ClvFitError(f"previous_clv[{population!r}]: {exc}") from exc

    return stored


def _join(frame: pl.DataFrame, values: pl.DataFrame, on: str = "id") -> pl.DataFrame:
    if on not in frame.columns:
        return frame
    keep = [c for c in values.columns if c == on or c not in frame.columns]
    values = values.select(keep).with_columns(pl.col(on).cast(frame.schema[on]))
    return frame.join(values, on=on, how="left")


def add_clusters(
    contacts: pl.DataFrame, playbook: Playbook | None, previous: dict[str, Any] | None
) -> tuple[pl.DataFrame, dict[str, Any] | None, str | None]:
    """k-means clusters on contacts per the playbook's ``clustering`` section.

    The section names ``numeric`` and ``categorical`` features (columns the frame
    lacks are skipped) and optionally a fixed ``k``; ``previous`` is the last run's
    model (``ClusterModel.to_dict()``) so cluster ids, the values written, stay stable.
    Returns the frame, the fitted model and, when clustering was skipped, why.
    """
    section = playbook.clustering if playbook is not None else None
    if section is None or not section.enabled:
        return contacts, None, None
    # scikit-learn takes about a second to import: only runs that cluster pay for it.
    from segmentation.cluster import ClusterModel, assign_clusters, fit_clusters

    extra = section.model_extra or {}
    numeric = [c for c in extra.get("numeric", []) if c in contacts.columns]
    categorical = [c for c in extra.get("categorical", []) if c in contacts.columns]
    if not numeric and not categorical:
        return contacts, None, "clustering skipped: none of its features are in the data"
    k = configured_k(extra)
    # A handful of rows per cluster at least, or the centroids describe noise.
    needed = MIN_ROWS_PER_CLUSTER * (k if k is not None else 8)
    if contacts.height < needed:
        return contacts, None, f"clustering skipped: {contacts.height} rows, needs {needed}"
    model = fit_clusters(
        contacts,
        numeric,
        categorical,
        k=k,
        previous=ClusterModel.from_dict(previous) if previous else None,
    )
    return assign_clusters(contacts, model), model.to_dict(), None
