"""RFM, predicted CLV and value tiers on segmented frames, when transactions are given.

B2C: customers are contacts with orders (``contact_id``, ``order_date``, ``amount``).
B2B: customers are companies with won deals (``company_id``, ``close_date``, ``amount``);
their contacts inherit the company's value columns. Pure: frames in, frames out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, cast

import polars as pl

from segmentation.cluster_ids import configured_k
from segmentation.clv import ClvError, ClvFit, ClvFitError
from segmentation.enrich.rollups import deal_status
from segmentation.playbook import Playbook
from segmentation.playbook.model import RfmSection
from segmentation.rfm import DEFAULT_SEGMENTS, MEASURES, RfmSegment, rfm, rfm_bounds, score_bounds
from segmentation.statistics import StatisticsError, mismatch, stored_bounds
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
    stored: Mapping[str, Any] | None = None,
    population: str = "customers",
) -> tuple[pl.DataFrame, str | None, ClvFit | None, dict[str, Any]]:
    """Per customer: RFM and predicted CLV; why CLV was skipped, if it was; the CLV fit
    used; and the population statistics used (the ``populations`` entry of
    :mod:`segmentation.statistics`, without CLV tiers).

    ``fitted`` is a stored fit to apply instead of fitting afresh. ``stored`` is a stored
    population entry: its RFM bounds score the customers instead of their ranks among
    each other, and its CLV fit (or its note on why there was none) replaces fitting.
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
    bounds = _stored_rfm(stored, section, population) if stored is not None else None
    values = rfm(
        tx,
        customer_col,
        date_col,
        amount_col,
        now=now,
        window_days=section.window_days,
        bins=section.bins,
        segments=cells,
        bounds=bounds,
    )
    if bounds is None:
        bounds = rfm_bounds(values, section.bins)
    stats: dict[str, Any] = {
        "rfm": {
            "bins": section.bins,
            "window_days": section.window_days,
            **{
                measure: {"higher_is_better": higher, "bounds": list(bounds[measure])}
                for measure, higher in MEASURES
            },
        }
    }
    clv_config = playbook.clv if playbook is not None and playbook.clv is not None else None
    if clv_config is not None and not clv_config.enabled:
        stats["clv"] = {"fit": None, "note": None}
        return values, None, None, stats
    if stored is not None:
        fitted, skipped = _stored_clv(stored, population)
        if fitted is None:
            stats["clv"] = {"fit": None, "note": skipped}
            return values, skipped, None, stats
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
        note = f"CLV not predicted: {exc}"
        stats["clv"] = {"fit": None, "note": note}
        return values, note, None, stats
    stats["clv"] = {"fit": fit.to_dict(), "note": None}
    return values.join(clv, on=customer_col, how="left"), None, fit, stats


def _stored_rfm(
    stored: Mapping[str, Any], section: RfmSection, population: str
) -> dict[str, list[float | None]]:
    """The stored RFM bounds by measure, refused when made for other RFM settings."""
    data = stored["rfm"]
    if data.get("bins") != section.bins:
        raise mismatch(f"{population} RFM bins", data.get("bins"), section.bins)
    if data.get("window_days") != section.window_days:
        raise mismatch(
            f"{population} RFM window_days", data.get("window_days"), section.window_days
        )
    bounds = {}
    for measure, _higher in MEASURES:
        entry = data.get(measure)
        if not isinstance(entry, Mapping):
            raise StatisticsError(f"population statistics: {population} RFM lacks {measure}")
        bounds[measure] = stored_bounds(entry, f"{population} RFM {measure}", section.bins - 1)
    return bounds


def _stored_clv(stored: Mapping[str, Any], population: str) -> tuple[ClvFit | None, str]:
    """The stored CLV fit, or None and why the run the statistics came from had none."""
    data = stored.get("clv")
    if not isinstance(data, Mapping):
        raise StatisticsError(f"population statistics: {population} lacks its CLV entry")
    if data.get("fit") is None:
        if data.get("note") is None:
            # CLV was switched off then and is on now: there is nothing to apply.
            raise mismatch(f"{population} CLV", "disabled", "enabled")
        return None, str(data["note"])
    try:
        return ClvFit.from_dict(data["fit"]), ""
    except ClvFitError as exc:
        raise StatisticsError(f"population statistics: {population} CLV: {exc}") from exc


def _discount(playbook: Playbook | None) -> float:
    """The monthly discount rate CLVs are computed with (it moves every CLV)."""
    clv = playbook.clv if playbook is not None else None
    return 0.01 if clv is None else clv.monthly_discount_rate


def _stored_tier_bounds(
    stored: Mapping[str, Any] | None, column: str, labels: tuple[str, ...], discount: float
) -> list[float | None] | None:
    """The stored CLV tier bounds, refused when made for other tiers, another horizon or
    another discount rate (CLVs would then be ranked against bounds of other CLVs)."""
    if stored is None:
        return None
    data = stored.get("clv_tiers")
    if not isinstance(data, Mapping):
        raise StatisticsError("population statistics: contacts lack CLV tier bounds")
    if data.get("labels") != list(labels):
        raise mismatch("CLV tier labels", data.get("labels"), list(labels))
    if data.get("column") != column:
        raise mismatch("CLV column", data.get("column"), column)
    if data.get("monthly_discount_rate") != discount:
        raise mismatch("CLV monthly_discount_rate", data.get("monthly_discount_rate"), discount)
    return stored_bounds(data, "contacts CLV tiers", len(labels) - 1)


def add_value_models(
    contacts: pl.DataFrame,
    companies: pl.DataFrame | None,
    deals: pl.DataFrame | None,
    orders: pl.DataFrame | None,
    now: datetime,
    playbook: Playbook | None = None,
    previous_clv: Mapping[str, Any] | None = None,
    statistics: Mapping[str, Any] | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame | None, dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Join value columns onto contacts (B2C orders) and companies (B2B won deals).

    ``previous_clv`` holds stored fits by population (``{"contacts": ClvFit.to_dict(),
    "companies": ...}``) to apply instead of refitting; a population without one is
    fitted. ``statistics`` is the ``populations`` part of stored population statistics
    (:mod:`segmentation.statistics`, already version-checked): with it, RFM scores and
    CLV tiers come from its bounds and CLV from its fits, nothing is ranked or fitted on
    these frames, and ``previous_clv`` is not read. Returns the frames, notes, the fits
    used and the population statistics used, the last two keyed by population.

    Population-wide here: the RFM scores (quantile ranks among the population's
    customers), the CLV fit and the CLV tiers (quantiles of predicted CLV). ACV tiers
    have fixed cut-offs and need nothing stored.
    """
    stored = _stored_fits(previous_clv if statistics is None else None)
    notes: dict[str, Any] = {}
    fits: dict[str, Any] = {}
    used: dict[str, Any] = {}
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
        kept = _population(statistics, "contacts")
        values, note, fit, stats = customer_values(
            orders,
            "contact_id",
            "order_date",
            "amount",
            now,
            playbook,
            stored("contacts"),
            kept,
            "contacts",
        )
        if note:
            notes["contacts"] = note
        if fit is not None:
            fits["contacts"] = fit.to_dict()
        clv_column = next((c for c in values.columns if c.startswith("clv_")), None)
        if clv_column is not None:
            bounds = _stored_tier_bounds(kept, clv_column, clv_labels, _discount(playbook))
            values = clv_quantile_tiers(values, clv_column, clv_labels, bounds)
            if bounds is None:
                bounds = score_bounds(values[clv_column], len(clv_labels))
            stats["clv_tiers"] = {
                "column": clv_column,
                "labels": list(clv_labels),
                "monthly_discount_rate": _discount(playbook),
                "bounds": bounds,
            }
        else:
            stats["clv_tiers"] = None
        used["contacts"] = stats
        contacts = _join(contacts, values.rename({"contact_id": "id"}))
        # Shoppers without an order in the window are a segment too, not a blank.
        contacts = _no_purchase(contacts, NO_PURCHASE, f"no order {_window(playbook)}")
    if deals is not None and {"company_id", "close_date", "amount"} <= set(deals.columns):
        won, _closed = deal_status(deals)
        won_deals = deals.filter(won.fill_null(False))
        values, note, fit, stats = customer_values(
            won_deals,
            "company_id",
            "close_date",
            "amount",
            now,
            playbook,
            stored("companies"),
            _population(statistics, "companies"),
            "companies",
        )
        used["companies"] = stats
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
    return contacts, companies, notes, fits, used


def _population(statistics: Mapping[str, Any] | None, name: str) -> Mapping[str, Any] | None:
    """The stored statistics of one population, or None when there are none to apply.

    Statistics without the population are refused: the run they came from had no such
    customers (no orders, or no deals), so this run has nothing to rank its ones by.
    """
    if statistics is None:
        return None
    entry = statistics.get(name)
    if entry is None:
        raise StatisticsError(
            f"population statistics hold nothing for {name} (the run they came from had "
            f"no {'orders' if name == 'contacts' else 'deals'}): run a full segmentation"
        )
    return cast(Mapping[str, Any], entry)


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


def apply_stored_clusters(
    contacts: pl.DataFrame, playbook: Playbook | None, stored: Mapping[str, Any] | None
) -> tuple[pl.DataFrame, dict[str, Any] | None, str | None]:
    """:func:`add_clusters` with a stored model: every row goes to its nearest stored
    centroid, in the stored scaling and encodings; nothing is fitted, however few rows.

    ``stored`` is the ``clusters`` entry of population statistics
    (``{"model": ClusterModel.to_dict() | None, "note": ...}``); a stored note (the run
    it came from skipped clustering) skips clustering here too.
    """
    section = playbook.clustering if playbook is not None else None
    if section is None or not section.enabled:
        return contacts, None, None
    if stored is None:
        raise mismatch("clustering", "disabled", "enabled")
    data = stored.get("model")
    if data is None:
        note = stored.get("note")
        if note is None:
            raise StatisticsError("population statistics: clusters hold neither model nor note")
        return contacts, None, str(note)
    from segmentation.cluster import ClusterModel, assign_clusters

    try:
        model = ClusterModel.from_dict(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise StatisticsError(f"population statistics: bad cluster model ({exc})") from exc
    extra = section.model_extra or {}
    wanted = [
        c
        for c in (*extra.get("numeric", []), *extra.get("categorical", []))
        if c in contacts.columns
    ]
    features = [f.name for f in model.numeric] + [c.name for c in model.categorical]
    if sorted(features) != sorted(wanted):
        raise mismatch("cluster features", sorted(features), sorted(wanted))
    k = configured_k(extra)
    if k is not None and k != model.k:
        raise mismatch("cluster k", model.k, k)
    return assign_clusters(contacts, model), model.to_dict(), None
