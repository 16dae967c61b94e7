"""Lenient, vectorized parsing of the canonical typed columns (numbers.py, dates.py, flags here).

CRM exports and APIs deliver numbers and dates as text in every shape: employees
"1,200", revenue "$5M" or "1.234,56 €", dates as ISO strings, epoch milliseconds or
"05/01/2024". Each column is parsed in one or two vectorized passes: a fast cast that
handles the common clean shape, then a slower normaliser that only sees the (usually
few, usually repeated) values the fast cast rejected. Unparseable values become null;
``parse_report`` lists them with their row so a run can report bad rows without
failing.
"""

from __future__ import annotations

from typing import Literal

import polars as pl

from segmentation.enrich.dates import DATETIME, datetimes_with_failures, parse_datetime
from segmentation.enrich.normalize import NULL_MARKERS, as_text, failures, falses, nulls
from segmentation.enrich.numbers import numbers_with_failures, parse_number

# The parsing facade: one import for the column kinds, the readers and the report.
__all__ = [
    "CANONICAL_KINDS",
    "DATETIME",
    "NULL_MARKERS",
    "TARGET_DTYPES",
    "Kind",
    "coerce_canonical",
    "parse_bool",
    "parse_datetime",
    "parse_number",
    "parse_report",
]

Kind = Literal["count", "int", "float", "year", "datetime", "bool"]

# Canonical columns (design.md names) and how to read them. Columns not listed here are
# passed through untouched.
CANONICAL_KINDS: dict[str, Kind] = {
    # contacts
    "birth_year": "year",
    "age": "count",
    "date_of_birth": "datetime",
    "income": "float",
    "email_opens": "count",
    "email_clicks": "count",
    "email_delivered": "count",
    "page_views": "count",
    "visits": "count",
    "notes_count": "count",
    "num_orders": "count",
    "total_revenue": "float",
    "last_order_amount": "float",
    "last_activity_at": "datetime",
    "last_contacted_at": "datetime",
    "last_visit_at": "datetime",
    "first_order_at": "datetime",
    "last_order_at": "datetime",
    "created_at": "datetime",
    "updated_at": "datetime",
    # companies
    "employees": "count",
    "annual_revenue": "float",
    "founded_year": "year",
    # deals and orders
    "amount": "float",
    "probability": "float",
    "close_date": "datetime",
    "order_date": "datetime",
    "is_won": "bool",
    "is_closed": "bool",
}

TARGET_DTYPES: dict[Kind, pl.DataType] = {
    "count": pl.Int64(),
    "int": pl.Int64(),
    "year": pl.Int64(),
    "float": pl.Float64(),
    "datetime": DATETIME,
    "bool": pl.Boolean(),
}

_YEAR_RANGE = (1800, 2200)
_AGE_MAX = 130

_TRUE = frozenset(
    {
        "true",
        "t",
        "yes",
        "y",
        "1",
        "1.0",
        "x",
        "won",
        "closed won",
        "closedwon",
        "ja",
        "oui",
        "si",
        "sí",
        "wahr",
        "vrai",
        "verdadero",
        "checked",
        "✓",
    }
)
_FALSE = frozenset(
    {
        "false",
        "f",
        "no",
        "n",
        "0",
        "0.0",
        "lost",
        "closed lost",
        "closedlost",
        "nein",
        "non",
        "falsch",
        "faux",
        "falso",
        "unchecked",
    }
)

PROBLEMS: dict[Kind, str] = {
    "count": "not a number",
    "int": "not a number",
    "float": "not a number",
    "year": "not a year",
    "datetime": "not a date",
    "bool": "not a yes/no value",
}
OUT_OF_RANGE = "out of range"


# ------------------------------------------------------------------------------ bools


def _bool_of(value: str) -> bool | None:
    key = value.strip().lower()
    if key in _TRUE:
        return True
    if key in _FALSE:
        return False
    return None


def parse_bool(series: pl.Series) -> pl.Series:
    """Booleans from true/false, yes/no, 1/0, won/lost in a few languages; junk -> null."""
    return _bool(series)[0]


def _bool(series: pl.Series) -> tuple[pl.Series, pl.Series]:
    n = len(series)
    if series.dtype == pl.Boolean:
        return series, falses(n)
    if series.dtype.is_numeric():
        return (series != 0).alias(series.name), falses(n)
    text = as_text(series)
    uniques = text.drop_nulls().unique()
    mapping = {v: _bool_of(v) for v in uniques.to_list()}
    values = text.replace_strict(mapping, default=None, return_dtype=pl.Boolean)
    return values.alias(series.name), failures(values, text)


# ----------------------------------------------------------------------------- columns


def _parse_column(
    series: pl.Series, kind: Kind, *, problems: bool = True
) -> tuple[pl.Series, pl.Series | None]:
    """(typed values, problem per row or null) for one canonical column.

    ``problems=False`` skips building the problem column (coercion does not need it).
    """
    n = len(series)
    if series.null_count() == n:
        return nulls(n, TARGET_DTYPES[kind]).alias(series.name), None
    if kind == "datetime":
        values, failed = datetimes_with_failures(series)
        out_of_range = ~values.dt.year().is_between(*_YEAR_RANGE).fill_null(True)
    elif kind == "bool":
        values, failed = _bool(series)
        out_of_range = falses(n)
    elif series.dtype.is_integer() and kind != "float":
        # Typed integers (the connectors' shape): only the range needs checking.
        values, failed = series.cast(pl.Int64), falses(n)
        out_of_range = _out_of_range(values, kind, series.name)
    else:
        numbers, failed = numbers_with_failures(series, integer=kind != "float")
        if kind == "year" and failed.any():
            # A year column sometimes holds whole dates: take their year.
            dates, _ = datetimes_with_failures(series.filter(failed))
            numbers = numbers.scatter(failed.arg_true(), dates.dt.year().cast(pl.Float64))
            failed = failed.scatter(failed.arg_true(), dates.is_null())
        if kind != "float":
            numbers = numbers.round(0)
        values = numbers.cast(TARGET_DTYPES[kind], strict=False)
        # Too big for an Int64 ("999...9") is out of range too.
        overflow = values.is_null() & numbers.is_not_null()
        out_of_range = _out_of_range(numbers, kind, series.name) | overflow
    if out_of_range.any():
        values = values.set(out_of_range, None)
    if not problems:
        return values.alias(series.name), None
    problem = nulls(n, pl.String())
    if failed.any():
        problem = problem.set(failed, PROBLEMS[kind])
    if out_of_range.any():
        problem = problem.set(out_of_range & ~failed, OUT_OF_RANGE)
    return values.alias(series.name), problem


def _out_of_range(numbers: pl.Series, kind: Kind, name: str) -> pl.Series:
    if kind == "count":
        bad = numbers < 0
    elif kind == "year":
        bad = ~numbers.is_between(*_YEAR_RANGE)
    else:
        return falses(len(numbers))
    if name == "age":
        bad = bad | (numbers > _AGE_MAX)
    return bad.fill_null(False)


def _needs_parsing(series: pl.Series, kind: Kind) -> bool:
    target = TARGET_DTYPES[kind]
    return series.dtype != target or kind in ("count", "year") or series.name == "age"


def coerce_canonical(df: pl.DataFrame) -> pl.DataFrame:
    """``df`` with every canonical typed column present parsed to its proper dtype.

    Counts, years -> Int64; money, probability -> Float64; timestamps -> Datetime(us,
    UTC); flags -> Boolean. Unparseable and out-of-range values become null (see
    ``parse_report`` for which ones). Other columns are returned as they are.
    """
    updates = [
        _parse_column(df[name], kind, problems=False)[0]
        for name, kind in CANONICAL_KINDS.items()
        if name in df.columns and _needs_parsing(df[name], kind)
    ]
    return df.with_columns(updates) if updates else df


REPORT_SCHEMA = {"row": pl.Int64, "column": pl.String, "value": pl.String, "problem": pl.String}


def parse_report(df: pl.DataFrame) -> pl.DataFrame:
    """Values that were present but could not be read, one row per bad cell.

    Columns: ``row`` (0-based position in ``df``), ``column``, ``value`` (as text) and
    ``problem`` ("not a number", "not a date", "not a year", "not a yes/no value",
    "out of range"). Empty cells and placeholders such as "n/a" are missing, not bad.
    Pass the frame as read, before ``coerce_canonical`` or enrichment replaced the
    values.
    """
    parts: list[pl.DataFrame] = []
    for name, kind in CANONICAL_KINDS.items():
        if name not in df.columns:
            continue
        _, problem = _parse_column(df[name], kind)
        if problem is None or problem.null_count() == len(problem):
            continue
        mask = problem.is_not_null()
        parts.append(
            pl.DataFrame(
                {
                    "row": mask.arg_true().cast(pl.Int64),
                    "column": pl.Series(values=[name] * int(mask.sum()), dtype=pl.String),
                    "value": as_text(df[name]).filter(mask),
                    "problem": problem.filter(mask),
                }
            )
        )
    if not parts:
        return pl.DataFrame(schema=REPORT_SCHEMA)
    return pl.concat(parts).sort("row", "column")
