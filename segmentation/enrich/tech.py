"""Technographics: tool categories, tool count and a digital-maturity score.

A tech-stack field is a free-text list ("Salesforce; HubSpot; Snowflake, AWS",
"slack | zoom") or a list column. It is split into tools, the distinct tool names are
classified once by the ordered rules in ``tech_rules`` (one regex per rule, evaluated
as a ``when/then`` chain), and the categories are gathered back per row.
"""

from __future__ import annotations

from functools import cache

import polars as pl

from segmentation.enrich.normalize import NULL_MARKERS, as_text, first_of, fold, nulls
from segmentation.enrich.tech_rules import (
    BREADTH_FULL_AT,
    BREADTH_POINTS,
    COUNT_FULL_AT,
    COUNT_POINTS,
    MODERN_SIGNALS,
    SIGNAL_POINTS,
    TOOL_RULES,
)

# Separators between tools; "/" "&" "+" "and" only with spaces around them, since they
# also occur inside names ("S/4HANA", "AT&T", "Google+").
_SEPARATORS = r"\s*(?:[;,|\n\r\t•·]|\s/\s|\s&\s|\s\+\s|\sand\s)\s*"

TECH_DTYPES: dict[str, pl.DataType] = {
    "tech_categories": pl.List(pl.String()),
    "tech_count": pl.Int64(),
    "digital_maturity": pl.Int64(),
}


@cache
def _rule_categories() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "_rule": list(range(len(TOOL_RULES))),
            "_categories": [list(cats) for _, cats in TOOL_RULES],
        },
        schema={"_rule": pl.Int64, "_categories": pl.List(pl.String)},
    )


def classify_tools(tools: list[str]) -> pl.DataFrame:
    """``tool``, ``key`` (folded name) and ``categories`` for distinct tool names."""
    frame = pl.DataFrame(
        {"tool": tools, "key": [fold(t) for t in tools]},
        schema={"tool": pl.String, "key": pl.String},
    )
    key = pl.col("key")
    rule = first_of(
        [
            (key.str.contains(pattern), pl.lit(i, dtype=pl.Int64))
            for i, (pattern, _) in enumerate(TOOL_RULES)
        ],
        pl.lit(None, dtype=pl.Int64),
    )
    return (
        frame.with_columns(rule.alias("_rule"))
        .join(_rule_categories(), on="_rule", how="left")
        .select("tool", "key", pl.col("_categories").alias("categories"))
    )


def _tools_per_row(stack: pl.Series) -> pl.DataFrame:
    """One row per (row index, tool) with blank tools dropped."""
    if isinstance(stack.dtype, pl.List):
        lists = stack.cast(pl.List(pl.String))
    else:
        lists = as_text(stack).str.replace_all(_SEPARATORS, ";").str.split(";")
    return (
        pl.DataFrame({"_row": pl.int_range(len(stack), eager=True), "tool": lists})
        .explode("tool")
        .with_columns(pl.col("tool").str.strip_chars())
        .filter(
            pl.col("tool").is_not_null()
            & ~pl.col("tool").str.to_lowercase().is_in(sorted(NULL_MARKERS))
        )
    )


def maturity(categories: pl.Expr, count: pl.Expr) -> pl.Expr:
    """0-100: category breadth (40) + modern-stack signals (5 x 10) + tool count (10)."""
    breadth = (
        pl.min_horizontal(categories.list.len(), pl.lit(BREADTH_FULL_AT))
        * BREADTH_POINTS
        / BREADTH_FULL_AT
    )
    signals = pl.sum_horizontal(
        [
            pl.any_horizontal([categories.list.contains(c) for c in group]).cast(pl.Int64)
            * SIGNAL_POINTS
            for group in MODERN_SIGNALS
        ]
    )
    tools = pl.min_horizontal(count, pl.lit(COUNT_FULL_AT)) * COUNT_POINTS / COUNT_FULL_AT
    score = (breadth + signals + tools).round(0).cast(pl.Int64)
    return pl.when(count.is_not_null()).then(score)


def tech_columns(stack: pl.Series) -> pl.DataFrame:
    """``tech_categories`` (sorted distinct list), ``tech_count``, ``digital_maturity``.

    A missing or empty stack gives nulls (unknown, not "no tools"); tools that no rule
    knows count in ``tech_count`` but add no category.
    """
    pairs = _tools_per_row(stack)
    classified = classify_tools(pairs["tool"].unique().to_list())
    per_row = (
        pairs.join(classified, on="tool", how="left")
        .group_by("_row")
        .agg(
            pl.col("key").n_unique().cast(pl.Int64).alias("tech_count"),
            pl.col("categories")
            .list.explode(keep_nulls=False, empty_as_null=False)
            .unique()
            .sort()
            .alias("tech_categories"),
        )
    )
    rows = pl.DataFrame({"_row": pl.int_range(len(stack), eager=True)})
    return rows.join(per_row, on="_row", how="left", maintain_order="left").select(
        pl.col("tech_categories").cast(pl.List(pl.String)),
        "tech_count",
        maturity(pl.col("tech_categories"), pl.col("tech_count")).alias("digital_maturity"),
    )


def empty_tech_columns(n: int) -> pl.DataFrame:
    """All-null technographic columns for a frame without a tech-stack field."""
    return pl.DataFrame([nulls(n, dt).alias(name) for name, dt in TECH_DTYPES.items()])
