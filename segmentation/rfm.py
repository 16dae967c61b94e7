"""RFM: recency, frequency and monetary value per customer, scored 1-5, named by R x F.

B2C customers are contacts with orders; B2B customers are companies with won deals —
either way the input is a transactions frame (customer, date, amount). Scores are
quantile ranks computed on columns, with a tie policy that keeps working when half the
customers bought exactly once: tied customers share one score, the lowest their group
reaches, instead of quantile edges collapsing onto each other.

The scores are the model's only population-wide quantity: a customer's score depends on
every other customer. :func:`rfm_bounds` turns a population's ranks into value
thresholds and ``rfm_scores(..., bounds=)`` scores by them, so a partial run scores a
customer exactly as the population the bounds came from did
(:mod:`segmentation.statistics`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

import polars as pl

from segmentation.playbook.render import counted, days_ago_text, number_text
from segmentation.stable import stable_sum

# The scored measures and whether a higher value scores higher (recency is reversed).
MEASURES = (("recency_days", False), ("frequency", True), ("monetary", True))
SCORES = {"recency_days": "r_score", "frequency": "f_score", "monetary": "m_score"}


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
        stable_sum(pl.col("amount")).alias("monetary"),
    )
    return table.sort("customer").collect().rename({"customer": customer_col})


def quantile_score(values: pl.Expr, bins: int = 5, *, higher_is_better: bool = True) -> pl.Expr:
    """Score 1..bins by rank; ties share the lowest score their group reaches."""
    key = values if higher_is_better else -values
    rank = key.rank(method="min")
    return (((rank - 1) * bins) // pl.len() + 1).clip(1, bins).cast(pl.Int8)


def score_bounds(
    values: pl.Series, bins: int, *, higher_is_better: bool = True
) -> list[float | None]:
    """Thresholds that reproduce :func:`quantile_score` on ``values`` exactly.

    One per score 2..bins: the lowest value scoring at least that (the highest, where
    lower is better), or None where no value does. Computed with one group-by over the
    scores, not per value.
    """
    frame = values.to_frame("v")
    scored = frame.with_columns(
        quantile_score(pl.col("v"), bins, higher_is_better=higher_is_better).alias("s")
    ).drop_nulls("s")
    # Bounds are plain JSON numbers: a NaN (which ranks above every number) sets none.
    finite = pl.col("v").cast(pl.Float64).fill_nan(None)
    edge = finite.min() if higher_is_better else finite.max()
    edges = dict(scored.group_by("s").agg(edge).drop_nulls().iter_rows())
    bounds: list[float | None] = []
    for score in range(2, bins + 1):
        reached = [float(v) for s, v in edges.items() if s >= score]
        if not reached:
            bounds.append(None)
        else:
            bounds.append(min(reached) if higher_is_better else max(reached))
    return bounds


def bounded_score(
    values: pl.Expr, bounds: Sequence[float | None], *, higher_is_better: bool = True
) -> pl.Expr:
    """Score 1..len(bounds)+1 by stored ``bounds`` (see :func:`score_bounds`); null stays null.

    A handful of column comparisons summed: vectorized, and independent of the other
    rows, so a record scores the same alone as in its whole population.
    """
    hits = [(values >= b) if higher_is_better else (values <= b) for b in bounds if b is not None]
    score = pl.sum_horizontal(hits) + 1 if hits else pl.lit(1)
    return pl.when(values.is_null()).then(None).otherwise(score).cast(pl.Int8)


def rfm_scores(
    table: pl.DataFrame, bins: int = 5, bounds: Mapping[str, Sequence[float | None]] | None = None
) -> pl.DataFrame:
    """Add ``r_score``, ``f_score``, ``m_score`` (1..bins; recency reversed).

    By rank within ``table``, or, given ``bounds`` (:func:`rfm_bounds` of some
    population, by measure), by those thresholds: then a customer's score depends on
    its own values only.
    """
    exprs = []
    for measure, higher in MEASURES:
        values = pl.col(measure)
        score = (
            quantile_score(values, bins, higher_is_better=higher)
            if bounds is None
            else bounded_score(values, bounds[measure], higher_is_better=higher)
        )
        exprs.append(score.alias(SCORES[measure]))
    return table.with_columns(exprs)


def rfm_bounds(table: pl.DataFrame, bins: int = 5) -> dict[str, list[float | None]]:
    """Per measure, the thresholds (:func:`score_bounds`) of the population in ``table``."""
    return {
        measure: score_bounds(table[measure], bins, higher_is_better=higher)
        for measure, higher in MEASURES
    }


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
    bounds: Mapping[str, Sequence[float | None]] | None = None,
) -> pl.DataFrame:
    """The whole RFM model: table, scores, named segment and reason per customer.

    ``bounds`` scores by stored thresholds instead of ranks (see :func:`rfm_scores`).
    """
    table = rfm_table(
        transactions, customer_col, date_col, amount_col, now=now, window_days=window_days
    )
    return rfm_segment(rfm_scores(table, bins, bounds), segments)
