"""Column types as the rule language sees them, and literals checked against them.

The engine hands the compiler a typed frame schema; a literal in a rule must fit
its column (a number for a numeric column, a date for a date column, ...). Catching
this at compile time — with the model, rule and field named — beats a polars
SchemaError halfway through a million-row run, or worse, a silent non-match.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, Literal

import polars as pl

from segmentation.playbook.dates import parse_instant

Kind = Literal["numeric", "string", "boolean", "date", "datetime", "list", "null", "other"]

_EXPECTED: dict[Kind, str] = {
    "numeric": "a number",
    "string": "text",
    "boolean": "true or false",
    "date": "a date like 2024-01-31",
    "datetime": "a date or datetime like 2024-01-31T09:00:00Z",
}


class LiteralMismatch(ValueError):
    """A literal that does not fit its column; the message says what was expected."""


def normalize(dtype: Any) -> pl.DataType:
    """A dtype instance: schemas may hold classes such as ``pl.Int64``."""
    if isinstance(dtype, type):
        try:
            return dtype()
        except TypeError:  # e.g. bare pl.List, which needs an inner type
            return dtype  # type: ignore[return-value]
    return dtype


def kind_of(dtype: pl.DataType) -> Kind:
    """The rule language's view of a polars dtype."""
    base = dtype.base_type()
    if dtype.is_numeric():
        return "numeric"
    if base in (pl.String, pl.Categorical, pl.Enum):
        return "string"
    if base == pl.Boolean:
        return "boolean"
    if base == pl.Date:
        return "date"
    if base == pl.Datetime:
        return "datetime"
    if base in (pl.List, pl.Array):
        return "list"
    if base == pl.Null:
        return "null"
    return "other"


def inner_of(dtype: pl.DataType) -> pl.DataType:
    """A list column's element type (String when unknown)."""
    inner = getattr(dtype, "inner", None)
    return normalize(inner) if inner is not None else pl.String()


def type_name(dtype: pl.DataType) -> str:
    """'integer', 'text', 'list of text', ... for error messages."""
    kind = kind_of(dtype)
    if kind == "numeric":
        return "integer" if dtype.is_integer() else "number"
    if kind == "list":
        return f"list of {type_name(inner_of(dtype))}"
    names = {
        "string": "text",
        "boolean": "true/false",
        "date": "date",
        "datetime": "datetime",
        "null": "empty (all null)",
    }
    return names.get(kind, str(dtype))


def expected_for(dtype: pl.DataType) -> str:
    """What a literal compared with this column must be."""
    kind = kind_of(dtype)
    if kind == "list":
        return expected_for(inner_of(dtype))
    return _EXPECTED.get(kind, f"a {dtype} value")


def fit(value: Any, dtype: pl.DataType, *, whole: bool = True) -> Any:
    """``value`` as a literal for a ``dtype`` column, or :class:`LiteralMismatch`.

    ISO text becomes a date or datetime for date columns; everything else must
    already be of the column's kind (no silent "1000" -> 1000). ``whole`` says the
    literal is compared with whole values (eq, in), so it must be one of an Enum's
    values; a substring (contains) need not be.
    """
    kind = kind_of(dtype)
    if kind == "null":
        return value
    if kind == "numeric":
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
    elif kind == "string":
        if isinstance(value, str):
            if whole:
                _check_category(value, dtype)
            return value
    elif kind == "boolean":
        if isinstance(value, bool):
            return value
    elif kind == "date":
        return _fit_date(value)
    elif kind == "datetime":
        try:
            return parse_instant(value)
        except ValueError:
            pass
    elif kind == "list":
        return fit(value, inner_of(dtype), whole=whole)
    raise LiteralMismatch(f"needs {expected_for(dtype)}, got {show(value)}")


def _fit_date(value: Any) -> date:
    if isinstance(value, datetime):
        raise LiteralMismatch(f"needs a date like 2024-01-31, not a datetime ({value.isoformat()})")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise LiteralMismatch(f"needs a date like 2024-01-31, got {show(value)}")


def _check_category(value: str, dtype: pl.DataType) -> None:
    # An Enum declares its values: a literal outside them is a typo, never a match.
    categories = getattr(dtype, "categories", None)
    if isinstance(dtype, pl.Enum) and categories is not None:
        allowed = categories.to_list()
        if value not in allowed:
            raise LiteralMismatch(
                f"needs one of its values ({', '.join(allowed)}), got {show(value)}"
            )


def show(value: Any) -> str:
    """A literal as an error message shows it, type included."""
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"text {value!r}"
    if isinstance(value, datetime):
        return f"the datetime {value.isoformat()}"
    if isinstance(value, date):
        return f"the date {value.isoformat()}"
    return f"the number {value}" if isinstance(value, int | float) else repr(value)


def datetime_literal(value: datetime, dtype: pl.DataType) -> pl.Expr:
    """A datetime literal comparable with a ``dtype`` column.

    polars refuses to compare tz-aware with naive datetimes. Naive literals are
    taken as UTC for a tz-aware column; aware ones are converted to UTC and made
    naive for a naive column (naive columns are assumed to hold UTC).
    """
    zone = getattr(dtype, "time_zone", None)
    if zone:
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return pl.lit(aware.astimezone(UTC)).dt.convert_time_zone(zone)
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return pl.lit(value)
