"""RFM: recency, frequency and monetary value per customer, scored 1-5, named by R x F.

B2C customers are contacts with orders; B2B customers are companies with won deals —
either way the input is a transactions frame (customer, date, amount). Scores are
quantile ranks computed on columns, with a tie policy that keeps working when half the
customers bought exactly once: tied customers share one score, the lowest their group
reaches, instead of quantile edges collapsing onto each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

import polars as pl

from segmentation.playbook.render import counted, days_ago_text, number_text


@dataclass(frozen=True, slots=True)
class RfmSegment:
    """A named cell range of the R x F grid (scores inclusive)."""

    name: str
    recency: tuple[int, int]
    frequency: tuple[int, int]


# The widely used 11-segment map on 5 x 5 scores, first match wins; a playbook may
# replace it with its own list.
DEFAULT_SEGMENTS: tuple[RfmSegment, ...] = (
    RfmSegment("champions", (5, 5), (4, 5)),
    RfmSegment("loyal", (3, 4), (4, 5)),
    RfmSegment("potential_loyalist", (4, 5), (2, 3)),
    RfmSegment("new", (5, 5), (1, 1)),
    RfmSegment("promising", (4, 4), (1, 1)),
    RfmSegment("need_attention", (3, 3), (3, 3)),
    RfmSegment("about_to_sleep", (3, 3), (1, 2)),
    RfmSegment("cant_lose_them", (1, 2), (5, 5)),
    RfmSegment("at_risk", (1, 2), (3, 4)),
    RfmSegment("hibernating", (1, 2), (2, 2)),
    RfmSegment("lost", (1, 2), (1, 1)),
)


def rfm_table(
    transactions: pl.DataFrame | pl.LazyFrame,
    customer_col: str,
    date_col: str,
    amount_col: str,
    *,
    now: date | datetime,
    window_days: int | None = 365,
) -> pl.DataFrame:
    """Per customer: ``recency_days`` since the last purchase, ``frequency`` (purchase
    days in the window) and ``monetary`` (spend in the window)."""
    today = now.date() if isinstance(now, datetime) else now
    frame = transactions.lazy().select(
        pl.col(customer_col).alias("customer"),
        pl.col(date_col).cast(pl.Date).alias("day"),
        pl.col(amount_col).cast(pl.Float64).fill_null(0.0).alias("amount"),
    )
    frame = frame.filter(pl.col("day") <= today)
    if window_days is not None:
        frame = frame.filter(pl.col("day") > pl.lit(today) - pl.duration(days=window_days))
    table = frame.group_by("customer").agg(
        (pl.lit(today) - pl.col("day").max()).dt.total_days().alias("recency_days"),
        # Several orders on one day are one purchase occasion.
        pl.col("day").n_unique().alias("frequency"),
        pl.col("amount").sum().alias("monetary"),
    )
    return table.sort("customer").collect().rename({"customer": customer_col})


def quantile_score(values: pl.Expr, bins: int = 5, *, higher_is_better: bool = True) -> pl.Expr:
    """Score 1..bins by rank; ties share the lowest score their group reaches."""
    key = values if higher_is_better else -values
    rank = key.rank(method="min")
    return (((rank - 1) * bins) // pl.len() + 1).clip(1, bins).cast(pl.Int8)


def rfm_scores(table: pl.DataFrame, bins: int = 5) -> pl.DataFrame:
    """Add ``r_score``, ``f_score``, ``m_score`` (1..bins; recency reversed)."""
    return table.with_columns(
        quantile_score(pl.col("recency_days"), bins, higher_is_better=False).alias("r_score"),
        quantile_score(pl.col("frequency"), bins).alias("f_score"),
        quantile_score(pl.col("monetary"), bins).alias("m_score"),
    )


def rfm_segment(
    table: pl.DataFrame,
    segments: Sequence[RfmSegment] = DEFAULT_SEGMENTS,
    *,
    fallback: str = "other",
) -> pl.DataFrame:
    """Add ``segment_rfm`` from the R x F grid and ``reason_rfm`` naming the scores:
    ``loyal: R3 F4 M5 (last purchase 40 days ago, 6 purchases, 1250 spent)``."""
    value: pl.Expr | None = None
    for seg in segments:
        hit = pl.col("r_score").is_between(*seg.recency) & pl.col("f_score").is_between(
            *seg.frequency
        )
        value = (pl.when(hit) if value is None else value.when(hit)).then(pl.lit(seg.name))  # type: ignore[attr-defined]
    name = pl.lit(fallback) if value is None else value.otherwise(pl.lit(fallback))  # type: ignore[attr-defined]
    reason = pl.format(
        "{}: R{} F{} M{} (last purchase {}, {}, {} spent)",
        name,
        "r_score",
        "f_score",
        "m_score",
        days_ago_text(pl.col("recency_days")),
        counted(pl.col("frequency").cast(pl.String), "purchase", "purchases"),
        number_text(pl.col("monetary"), table.schema["monetary"]),
    )
    return table.with_columns(name.alias("segment_rfm"), reason.alias("reason_rfm"))


def rfm(
    transactions: pl.DataFrame | pl.LazyFrame,
    customer_col: str,
    date_col: str,
    amount_col: str,
    *,
    now: date | datetime,
    window_days: int | None = 365,
    bins: int = 5,
    segments: Sequence[RfmSegment] = DEFAULT_SEGMENTS,
) -> pl.DataFrame:
    """The whole RFM model: table, scores, named segment and reason per customer."""
    table = rfm_table(
        transactions, customer_col, date_col, amount_col, now=now, window_days=window_days
    )
    return rfm_segment(rfm_scores(table, bins), segments)
