"""Seniority and department from free-text job titles.

The rule tables live in ``title_seniority`` and ``title_departments``; here they are
compiled to one regex per rule row and evaluated as a single ``when/then`` chain over the
distinct titles, then joined back to the rows. Folding (accents, punctuation,
abbreviations) is Python over the distinct titles only.
"""

from __future__ import annotations

from functools import cache

import polars as pl

from segmentation.enrich.normalize import NULL_MARKERS, as_text, first_of, fold
from segmentation.enrich.title_departments import DEPARTMENT_RULES
from segmentation.enrich.title_rules import (
    ABBREVIATIONS,
    DEPARTMENT_DEFAULT,
    NO_SENIORITY,
    SENIORITY_DEFAULT,
)
from segmentation.enrich.title_seniority import SENIORITY_RULES


@cache
def _compiled(table: str) -> tuple[tuple[str, str], ...]:
    rules = SENIORITY_RULES if table == "seniority" else DEPARTMENT_RULES
    # Folded Latin text is ASCII, so an ASCII word boundary reads it the same; it keeps the
    # regex engine on its fast path where a Unicode one falls back to a slow one on CJK, and
    # it sees a boundary where CJK meets Latin ("取締役cfo", "it部長").
    return tuple(
        (value, "(?:" + "|".join(patterns).replace(r"\b", r"(?-u:\b)") + ")")
        for value, patterns in rules
    )


def _classify(folded: pl.Expr, table: str, default: str) -> pl.Expr:
    classified = first_of(
        [(folded.str.contains(pattern), pl.lit(value)) for value, pattern in _compiled(table)],
        pl.lit(default),
    )
    return pl.when(folded == "").then(None).otherwise(classified)


def _spelled_out(folded: str) -> str:
    return " ".join(ABBREVIATIONS.get(word, word) for word in folded.split())


def classify_unique_titles(titles: list[str]) -> pl.DataFrame:
    """``title``, ``seniority``, ``department`` for a list of distinct titles."""
    # Placeholders ("n/a", "none", "-") are no title at all.
    folded = ["" if t.strip().lower() in NULL_MARKERS else _spelled_out(fold(t)) for t in titles]
    frame = pl.DataFrame(
        {"title": titles, "_folded": folded},
        schema={"title": pl.String, "_folded": pl.String},
    )
    return frame.select(
        "title",
        _classify(pl.col("_folded"), "seniority", SENIORITY_DEFAULT)
        .replace(NO_SENIORITY, None)
        .alias("seniority"),
        _classify(pl.col("_folded"), "department", DEPARTMENT_DEFAULT).alias("department"),
    )


def classify_title(title: str) -> tuple[str | None, str | None]:
    """(seniority, department) of one title; the same rules as the columnar path."""
    row = classify_unique_titles([title]).row(0)
    return row[1], row[2]


def title_columns(titles: pl.Series) -> pl.DataFrame:
    """``seniority`` and ``department`` for every row of a job-title column.

    A missing or blank title gives nulls; a title no rule recognises gives
    ``individual_contributor`` / ``other``.
    """
    text = as_text(titles).alias("title")
    uniques = text.drop_nulls().unique().to_list()
    classified = classify_unique_titles(uniques)
    return (
        text.to_frame()
        .join(classified, on="title", how="left", maintain_order="left")
        .select("seniority", "department")
    )
