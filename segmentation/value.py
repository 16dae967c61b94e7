"""Value-based segments: tiers by won revenue (ACV) or by predicted 12-month CLV.

Thresholds and labels are playbook configuration; these defaults are the common B2B
cut-offs (Enterprise/Strategic >= $50k, Mid-market $10-50k, SMB below, and a long tail
that has not bought yet).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import polars as pl

from segmentation.clv import (
    ClvError,
    ClvFit,
    ClvFitError,
    check_bgnbd_data,
    customer_lifetime_value,
    expected_purchases,
    fit_bgnbd,
    fit_gamma_gamma,
    probability_alive,
    summarize_transactions,
)
from segmentation.playbook.phrases import phrase_of
from segmentation.playbook.render import number_text
from segmentation.rfm import bounded_score, quantile_score


@dataclass(frozen=True, slots=True)
class ValueTier:
    """Records whose value is at least ``minimum`` (checked highest first)."""

    name: str
    minimum: float


DEFAULT_ACV_TIERS: tuple[ValueTier, ...] = (
    ValueTier("enterprise", 50_000),
    ValueTier("mid_market", 10_000),
    ValueTier("smb", 0.01),
)


def value_tiers(
    df: pl.DataFrame,
    value_col: str,
    tiers: Sequence[ValueTier] = DEFAULT_ACV_TIERS,
    *,
    fallback: str = "long_tail",
) -> pl.DataFrame:
    """Add ``segment_value_tier`` and ``reason_value_tier`` from ``value_col``:
    ``enterprise: won revenue 64000 >= 50000``."""
    ordered = sorted(tiers, key=lambda t: t.minimum, reverse=True)
    value = pl.col(value_col).cast(pl.Float64)
    name: pl.Expr = pl.lit(fallback)
    minimum: pl.Expr = pl.lit(None, dtype=pl.Float64)
    for tier in reversed(ordered):  # build inside-out so the highest tier is tested first
        hit = value >= tier.minimum
        name = pl.when(hit).then(pl.lit(tier.name)).otherwise(name)
        minimum = pl.when(hit).then(pl.lit(tier.minimum)).otherwise(minimum)
    label = phrase_of(value_col).label
    shown = number_text(value, pl.Float64, [t.minimum for t in tiers])
    minimum_text = minimum.cast(pl.String).str.strip_suffix(".0")
    reason = (
        pl.when(minimum.is_not_null())
        .then(pl.format("{}: {} {} >= {}", name, pl.lit(label), shown, minimum_text))
        .otherwise(pl.format("{}: {} {}, below every tier", name, pl.lit(label), shown))
    )
    return df.with_columns(name.alias("segment_value_tier"), reason.alias("reason_value_tier"))


def clv_quantile_tiers(
    df: pl.DataFrame,
    clv_col: str = "clv_12m",
    labels: Sequence[str] = ("low", "medium", "high", "top"),
    bounds: Sequence[float | None] | None = None,
) -> pl.DataFrame:
    """Add ``segment_value_tier`` by predicted-CLV quantiles (ties share a tier) and its
    reason: ``top: predicted 12-month value 1250, quantile 4 of 4``.

    The quantiles are of the customers in ``df``, or, given ``bounds`` (one per tier
    above the lowest, from :func:`~segmentation.rfm.score_bounds` of some population),
    of that population: then a customer's tier depends on its own value only.
    """
    bins = len(labels)
    score = (
        quantile_score(pl.col(clv_col), bins)
        if bounds is None
        else bounded_score(pl.col(clv_col), bounds)
    )
    index = score.cast(pl.Int64) - 1
    mapping = dict(enumerate(labels))
    tier = index.replace_strict(mapping, return_dtype=pl.String)
    shown = number_text(pl.col(clv_col), df.schema[clv_col])
    reason = pl.format(
        "{}: {} {}, quantile {} of {}",
        tier,
        pl.lit(phrase_of(clv_col).label),
        shown,
        index + 1,
        bins,
    )
    return df.with_columns(tier.alias("segment_value_tier"), reason.alias("reason_value_tier"))


def predict_clv(
    transactions: pl.DataFrame,
    customer_col: str,
    date_col: str,
    amount_col: str,
    *,
    now: date | datetime,
    months: int = 12,
    monthly_discount_rate: float = 0.01,
    fitted: ClvFit | Mapping[str, Any] | None = None,
) -> pl.DataFrame:
    """Per customer: ``clv_12m`` (or ``clv_<months>m``), ``p_alive``, expected purchases.

    Fits BG/NBD and Gamma-Gamma on the customers' history up to ``now``, unless
    ``fitted`` holds a stored fit (:meth:`ClvFit.to_dict`) to apply instead. With too
    little repeat behaviour to fit, raises :class:`ClvError` saying so instead of
    inventing values; a stored fit with a bad parameter raises :class:`ClvFitError`.
    """
    values, _fit = predict_clv_with_fit(
        transactions,
        customer_col,
        date_col,
        amount_col,
        now=now,
        months=months,
        monthly_discount_rate=monthly_discount_rate,
        fitted=fitted,
    )
    return values


def predict_clv_with_fit(
    transactions: pl.DataFrame,
    customer_col: str,
    date_col: str,
    amount_col: str,
    *,
    now: date | datetime,
    months: int = 12,
    monthly_discount_rate: float = 0.01,
    fitted: ClvFit | Mapping[str, Any] | None = None,
) -> tuple[pl.DataFrame, ClvFit]:
    """:func:`predict_clv` and the fit it used: ``fitted`` itself, or the one just made."""
    # A bad stored fit is refused before any work is done on the transactions.
    fit = ClvFit.from_dict(fitted) if isinstance(fitted, Mapping) else fitted
    summary = summarize_transactions(
        transactions,
        customer_col,
        date_col,
        amount_col,
        now,
        time_unit="W" if fit is None else fit.time_unit,
    )
    x, t_x, big_t, m = (
        summary[c].to_numpy() for c in ("frequency", "recency", "T", "monetary_value")
    )
    if fit is None:
        # Gamma-Gamma first (after BG/NBD's own data checks): it is quick and refuses
        # spend data the slow BG/NBD fit would otherwise be made for in vain (200,000
        # companies: 2.5 s of every nightly run, then "not predicted").
        check_bgnbd_data(x, t_x, big_t)
        spend = fit_gamma_gamma(x, m)
        fit = ClvFit(
            fit_bgnbd(x, t_x, big_t),
            spend,
            fitted_at=now.date() if isinstance(now, datetime) else now,
            customers=summary.height,
        )
    clv = customer_lifetime_value(
        fit.purchases,
        fit.spend,
        x,
        t_x,
        big_t,
        m,
        months=months,
        monthly_discount_rate=monthly_discount_rate,
        units_per_month=fit.units_per_month,
    )
    horizon = months * fit.units_per_month
    values = summary.select(customer_col).with_columns(
        pl.Series(f"clv_{months}m", clv),
        pl.Series("p_alive", probability_alive(fit.purchases, x, t_x, big_t)),
        pl.Series(
            f"expected_purchases_{months}m",
            expected_purchases(fit.purchases, horizon, x, t_x, big_t),
        ),
    )
    return values, fit


__all__ = [
    "DEFAULT_ACV_TIERS",
    "ClvError",
    "ClvFit",
    "ClvFitError",
    "ValueTier",
    "clv_quantile_tiers",
    "predict_clv",
    "predict_clv_with_fit",
    "value_tiers",
]
