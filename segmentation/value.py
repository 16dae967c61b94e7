"""Value-based segments: tiers by won revenue (ACV) or by predicted 12-month CLV.

Thresholds and labels are playbook configuration; these defaults are the common B2B
cut-offs (Enterprise/Strategic >= $50k, Mid-market $10-50k, SMB below, and a long tail
that has not bought yet).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

import polars as pl

from segmentation.clv import (
    ClvError,
    customer_lifetime_value,
    expected_purchases,
    fit_bgnbd,
    fit_gamma_gamma,
    probability_alive,
    summarize_transactions,
)
from segmentation.rfm import quantile_score


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
    """Add ``segment_value_tier`` and ``reason_value_tier`` from ``value_col``."""
    ordered = sorted(tiers, key=lambda t: t.minimum, reverse=True)
    value = pl.col(value_col).cast(pl.Float64)
    name: pl.Expr = pl.lit(fallback)
    minimum: pl.Expr = pl.lit(None, dtype=pl.Float64)
    for tier in reversed(ordered):  # build inside-out so the highest tier is tested first
        hit = value >= tier.minimum
        name = pl.when(hit).then(pl.lit(tier.name)).otherwise(name)
        minimum = pl.when(hit).then(pl.lit(tier.minimum)).otherwise(minimum)
    reason = (
        pl.when(minimum.is_not_null())
        .then(pl.format("{}={} >= {}", pl.lit(value_col), value.round(2), minimum))
        .otherwise(pl.format("{}={} below every tier", pl.lit(value_col), value.round(2)))
    )
    return df.with_columns(name.alias("segment_value_tier"), reason.alias("reason_value_tier"))


def clv_quantile_tiers(
    df: pl.DataFrame,
    clv_col: str = "clv_12m",
    labels: Sequence[str] = ("low", "medium", "high", "top"),
) -> pl.DataFrame:
    """Add ``segment_value_tier`` by predicted-CLV quantiles (ties share a tier)."""
    bins = len(labels)
    index = quantile_score(pl.col(clv_col), bins).cast(pl.Int64) - 1
    mapping = dict(enumerate(labels))
    return df.with_columns(
        index.replace_strict(mapping, return_dtype=pl.String).alias("segment_value_tier"),
        pl.format("{} in quantile {} of {}", pl.col(clv_col).round(2), index + 1, bins).alias(
            "reason_value_tier"
        ),
    )


def predict_clv(
    transactions: pl.DataFrame,
    customer_col: str,
    date_col: str,
    amount_col: str,
    *,
    now: date | datetime,
    months: int = 12,
    monthly_discount_rate: float = 0.01,
) -> pl.DataFrame:
    """Per customer: ``clv_12m`` (or ``clv_<months>m``), ``p_alive``, expected purchases.

    Fits BG/NBD and Gamma-Gamma on the customers' history up to ``now``. With too little
    repeat behaviour to fit, raises :class:`ClvError` saying so instead of inventing values.
    """
    summary = summarize_transactions(transactions, customer_col, date_col, amount_col, now)
    x, t_x, big_t, m = (
        summary[c].to_numpy() for c in ("frequency", "recency", "T", "monetary_value")
    )
    purchases = fit_bgnbd(x, t_x, big_t)
    spend = fit_gamma_gamma(x, m)
    clv = customer_lifetime_value(
        purchases,
        spend,
        x,
        t_x,
        big_t,
        m,
        months=months,
        monthly_discount_rate=monthly_discount_rate,
    )
    horizon = months * 365.25 / 12 / 7
    return summary.select(customer_col).with_columns(
        pl.Series(f"clv_{months}m", clv),
        pl.Series("p_alive", probability_alive(purchases, x, t_x, big_t)),
        pl.Series(
            f"expected_purchases_{months}m",
            expected_purchases(purchases, horizon, x, t_x, big_t),
        ),
    )


__all__ = [
    "DEFAULT_ACV_TIERS",
    "ClvError",
    "ValueTier",
    "clv_quantile_tiers",
    "predict_clv",
    "value_tiers",
]
