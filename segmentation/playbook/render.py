"""Text for reasons: literals (once, in Python) and column values (vectorized, in polars)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime
from typing import Any

import polars as pl

from segmentation.playbook.literals import kind_of, normalize

# Reasons are written to CRM text fields (Salesforce text is 255 characters) and
# read by sales reps: one long free-text value must not crowd out the rest. It is
# cut without an ellipsis: marking the cut needs the text twice, and polars does not
# share work inside when/then, so that would render every value twice.
MAX_VALUE_CHARS = 60
REDACTED = "<redacted>"
NULL_TEXT = "empty"

# Personal data never goes into a reason: reasons are written to the CRM and kept
# in segsync's state store, which by design holds no personal data (design.md).
PERSONAL_FIELDS = frozenset(
    {
        "email",
        "first_name",
        "last_name",
        "full_name",
        "name",
        "phone",
        "mobile_phone",
        "street",
        "address",
        "postal_code",
        "zip",
        "birth_date",
        "date_of_birth",
        "ip_address",
    }
)


def literal_text(value: Any) -> str:
    """A literal as it reads in a reason: 1000, true, 2024-01-31, Software, [a, b]."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="minutes" if not value.second else "seconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return "[" + ", ".join(literal_text(v) for v in value) + "]"
    return str(value)


def operator_text(op: str, operand: Any) -> str:
    """The operator and its operand, e.g. '>= 1000', "contains 'sales'", 'within last 30 days'."""
    if op == "eq":
        return f"== {literal_text(operand)}"
    if op == "neq":
        return f"!= {literal_text(operand)}"
    if op in ("in", "not_in"):
        return f"{'in' if op == 'in' else 'not in'} {literal_text(operand)}"
    if op in ("gt", "gte", "lt", "lte"):
        return {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}[op] + f" {literal_text(operand)}"
    if op == "between":
        return f"between {literal_text(operand[0])} and {literal_text(operand[1])}"
    if op == "contains":
        return f"contains '{literal_text(operand)}'"
    if op == "contains_any":
        return f"contains any of {literal_text(operand)}"
    if op == "contains_all":
        return f"contains all of {literal_text(operand)}"
    if op == "matches":
        return f"matches /{operand}/"
    if op == "exists":
        return "exists" if operand else "missing"
    if op == "missing":
        return "missing" if operand else "exists"
    if op == "within_last":
        return f"within last {operand}"
    if op == "more_than_ago":
        return f"more than {operand} ago"
    if op in ("before", "after"):
        return f"{op} {literal_text(operand)}"
    raise ValueError(f"unknown operator {op!r}")


def number_text(column: pl.Expr, dtype: Any, avoid: Collection[float] = ()) -> pl.Expr:
    """A number as a reason shows it: integers whole; other numbers rounded to 0
    decimals from 100 up, 1 decimal from 1 up, 2 significant digits below (3.4,
    0.035, 1250), without a trailing ``.0``.

    ``avoid`` holds the operands the value was compared with: where rounding would
    land on one the value is not equal to ("1.5 > 1.5" for 1.52), 6 significant
    digits are shown instead.
    """
    if not normalize(dtype).is_float():
        return column.cast(pl.String)
    x = column.cast(pl.Float64)
    size = x.abs()
    rounded = (
        pl.when(size >= 100)
        .then(x.round(0))
        .when(size >= 1)
        .then(x.round(1))
        .otherwise(x.round_sig_figs(2))
    )
    if avoid:
        near = [float(a) for a in avoid]
        rounded = (
            pl.when(rounded.is_in(near) & ~x.is_in(near))
            .then(x.round_sig_figs(6))
            .otherwise(rounded)
        )
    return rounded.cast(pl.String).str.strip_suffix(".0")


def counted(number: pl.Expr, one: str, many: str) -> pl.Expr:
    """``1 order``, ``3 orders``, ``2.5 orders``: the unit agrees with the number's text."""
    unit = pl.when(number == "1").then(pl.lit(f" {one}")).otherwise(pl.lit(f" {many}"))
    return pl.concat_str(number, unit)


def days_ago_text(days: pl.Expr) -> pl.Expr:
    """Whole days before now as words: ``today``, ``1 day ago``, ``12 days ago``, ``in 3 days``."""
    ahead = -days
    return (
        pl.when(days == 0)
        .then(pl.lit("today"))
        .when(days == 1)
        .then(pl.lit("1 day ago"))
        .when(days > 1)
        .then(pl.format("{} days ago", days))
        .when(ahead == 1)
        .then(pl.lit("in 1 day"))
        .otherwise(pl.format("in {} days", ahead))
    )


def value_text(
    field: str,
    dtype: Any,
    *,
    redact: bool = False,
    mask: pl.Expr | None = None,
    null_text: bool = True,
    avoid: Collection[float] = (),
) -> pl.Expr:
    """The column's value per row as short text, for reasons.

    With ``mask``, rows outside it come out null without being rendered: building
    text is the costly part of a reason, and only the rows a rule decides need it.
    A null value reads 'empty' only with ``null_text`` — the caller skips that work
    where a null can never reach a reason (a field test never matches on null).
    Numbers are rounded (:func:`number_text`, with ``avoid``).
    """
    if redact:
        return pl.lit(REDACTED)
    column = pl.col(field) if mask is None else pl.when(mask).then(pl.col(field))
    dtype = normalize(dtype)
    kind = kind_of(dtype)
    if kind == "null":
        return pl.lit(NULL_TEXT)
    if kind == "numeric":
        text = number_text(column, dtype, avoid)
    elif kind == "datetime":
        text = column.dt.to_string("%Y-%m-%d %H:%M")
    elif kind == "list":
        # JSON-encoding a one-field struct is several times faster than list.join
        # and renders nested nulls and non-text elements too: {"v":[...]} -> [...].
        # (A null list encodes as the text "null" either way.)
        encoded = pl.struct(column.alias("v")).struct.json_encode()
        return encoded.str.slice(5).str.strip_suffix("}").str.slice(0, MAX_VALUE_CHARS)
    else:
        text = column.cast(pl.String)
        if kind == "string":
            text = text.str.slice(0, MAX_VALUE_CHARS)
    return text.fill_null(NULL_TEXT) if null_text else text


def as_list(column: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """A List or fixed-size Array column as a List, so one set of list operations serves both."""
    return column.arr.to_list() if dtype.base_type() == pl.Array else column
