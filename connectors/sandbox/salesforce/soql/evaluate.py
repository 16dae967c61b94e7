"""SOQL runtime: date-literal ranges, WHERE compiled to closures, ORDER BY keys, REST formatting.

Everything here works on *bound* queries (names resolved, literals type-checked and normalised
by :mod:`connectors.sandbox.salesforce.soql.engine`), so evaluation never looks a name
up or inspects a literal per
row: each comparison becomes one closure specialised for its operator and the field's type family,
and rows are only touched through the caller's ``get(row, path)``.

Semantics (Salesforce's, per the SOQL reference):

* strings compare case-insensitively (``=``, ``IN``, ``LIKE``, ``<``/``>`` and ORDER BY all use the
  upper-cased value, as the English-locale sort does); an empty string is null, as Salesforce never
  stores one;
* ids compare on their case-sensitive 15-character form, so 15- and 18-character ids match;
* a boolean is never null: ``= null`` matches false, ``!= null`` matches true;
* null equals nothing but ``null``: ``!=`` and ``NOT IN`` match null values, ``<``/``>``/
  ``LIKE`` and ``=``/``IN`` with a value never do (a missing parent reads as null, so
  ``Account.Name = null`` matches contacts without an account);
* a relative date literal is a range ``[start, end)`` in UTC: ``=`` means inside, ``!=`` outside,
  ``<`` before the start, ``<=`` before the end, ``>`` at or after the end, ``>=`` at or after the
  start.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from connectors.sandbox.salesforce.soql.grammar import DateLiteral

__all__ = [
    "WEEK_START",
    "BoundAndOr",
    "BoundCmp",
    "BoundCondition",
    "BoundField",
    "BoundNot",
    "BoundOrder",
    "Family",
    "Getter",
    "ProjField",
    "ProjParent",
    "compile_condition",
    "date_literal_takes_n",
    "date_range",
    "family_of",
    "formatter",
    "normalizer",
    "project_row",
    "sort_rows",
]

Getter = Callable[[Any, tuple[str, ...]], Any]
"""``get(row, path)``: the value at a canonical path, None when unset or when a parent is missing.

For a path that ends at a relationship (``("Account",)``) it returns the parent's row handle, or
None without a parent; :func:`project_row` uses that to nest parents and fetch their attributes.
"""

Pred = Callable[[Any], bool]
Family = Literal["string", "id", "boolean", "int", "double", "date", "datetime"]

# First day of the week for THIS_WEEK/LAST_WEEK/...: Salesforce takes it from the user's locale;
# the sandbox's integration user is en_US, whose weeks start on Sunday (Python weekday 6).
WEEK_START = 6

_FAMILIES: dict[str, Family] = {
    "id": "id",
    "reference": "id",
    "boolean": "boolean",
    "int": "int",
    "long": "int",
    "double": "double",
    "currency": "double",
    "percent": "double",
    "date": "date",
    "datetime": "datetime",
}


def family_of(sf_type: str) -> Family:
    """The comparison family of a describe field type; anything textual compares as a string."""
    return _FAMILIES.get(sf_type.lower(), "string")


@dataclass(frozen=True, slots=True)
class BoundField:
    """A resolved field: canonical path (``("Account", "Industry")``) and type."""

    path: tuple[str, ...]
    sf_type: str
    family: Family

    @property
    def name(self) -> str:
        """Canonical dotted name, e.g. ``Account.Industry``."""
        return ".".join(self.path)


@dataclass(frozen=True, slots=True)
class BoundCmp:
    """A type-checked comparison.

    ``values`` are already normalised with :func:`normalizer` for the field's family; None is
    ``null``, a :class:`DateLiteral` a relative range, and for ``LIKE`` the single value is the
    compiled pattern (or None for ``LIKE null``).
    """

    field: BoundField
    op: str
    values: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class BoundNot:
    """``NOT operand``."""

    operand: BoundCondition


@dataclass(frozen=True, slots=True)
class BoundAndOr:
    """An ``AND``/``OR`` chain."""

    op: Literal["AND", "OR"]
    operands: tuple[BoundCondition, ...]


BoundCondition = BoundCmp | BoundNot | BoundAndOr


@dataclass(frozen=True, slots=True)
class BoundOrder:
    """A resolved ORDER BY key with its null placement decided."""

    field: BoundField
    descending: bool
    nulls_first: bool


# --- value normalisation --------------------------------------------------------------------


def _upper(v: Any) -> str:
    return v.upper() if type(v) is str else str(v).upper()


def _id15(v: Any) -> str:
    return v[:15] if type(v) is str else str(v)[:15]


def _identity(v: Any) -> Any:
    return v


_NORMALIZERS: dict[Family, Callable[[Any], Any]] = {
    "string": _upper,
    "id": _id15,
    "boolean": bool,
    "int": _identity,
    "double": _identity,
    "date": _identity,
    "datetime": _identity,
}


def normalizer(family: Family) -> Callable[[Any], Any]:
    """The function that maps a field value (and a literal) to its comparison key."""
    return _NORMALIZERS[family]


def _is_null_string(v: Any) -> bool:
    return v is None or v == ""


def _is_none(v: Any) -> bool:
    return v is None


def _never_null(v: Any) -> bool:
    return False


def _null_test(family: Family) -> Callable[[Any], bool]:
    if family == "string":
        return _is_null_string
    if family == "boolean":
        return _never_null
    return _is_none


# --- date literals --------------------------------------------------------------------------


def _add_months(d: date, months: int) -> date:
    index = d.year * 12 + d.month - 1 + months
    year, month = divmod(index, 12)
    if year < date.min.year:
        return date.min
    if year > date.max.year:
        return date.max
    return date(year, month + 1, 1)


def _add_days(d: date, days: int) -> date:
    try:
        return d + timedelta(days=days)
    except OverflowError:
        return date.min if days < 0 else date.max


_FIXED_LITERALS = frozenset(
    {
        "TODAY",
        "YESTERDAY",
        "TOMORROW",
        "THIS_WEEK",
        "LAST_WEEK",
        "NEXT_WEEK",
        "THIS_MONTH",
        "LAST_MONTH",
        "NEXT_MONTH",
        "THIS_QUARTER",
        "LAST_QUARTER",
        "NEXT_QUARTER",
        "THIS_YEAR",
        "LAST_YEAR",
        "NEXT_YEAR",
        "LAST_90_DAYS",
        "NEXT_90_DAYS",
    }
)
_N_LITERALS = frozenset(
    {
        "LAST_N_DAYS",
        "NEXT_N_DAYS",
        "N_DAYS_AGO",
        "LAST_N_WEEKS",
        "NEXT_N_WEEKS",
        "N_WEEKS_AGO",
        "LAST_N_MONTHS",
        "NEXT_N_MONTHS",
        "N_MONTHS_AGO",
        "LAST_N_QUARTERS",
        "NEXT_N_QUARTERS",
        "N_QUARTERS_AGO",
        "LAST_N_YEARS",
        "NEXT_N_YEARS",
        "N_YEARS_AGO",
    }
)


def _calendar_name(name: str) -> str:
    # An org's fiscal year defaults to the calendar year starting in January, and the sandbox
    # has no fiscal-year settings, so THIS_FISCAL_QUARTER is THIS_QUARTER and so on.
    return name.replace("FISCAL_", "")


def date_literal_takes_n(name: str) -> bool | None:
    """Whether a date literal needs ``:n`` (True), takes none (False) or is unknown (None)."""
    name = _calendar_name(name.upper())
    if name in _FIXED_LITERALS:
        return False
    if name in _N_LITERALS:
        return True
    return None


def date_range(literal: DateLiteral, today: date) -> tuple[date, date]:
    """The ``[start, end)`` days a relative date literal covers on ``today`` (UTC)."""
    name = _calendar_name(literal.name)
    n = literal.n or 0
    week = _add_days(today, -((today.weekday() - WEEK_START) % 7))
    month = today.replace(day=1)
    quarter = date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
    year = date(today.year, 1, 1)
    ranges: dict[str, Callable[[], tuple[date, date]]] = {
        "TODAY": lambda: (today, _add_days(today, 1)),
        "YESTERDAY": lambda: (_add_days(today, -1), today),
        "TOMORROW": lambda: (_add_days(today, 1), _add_days(today, 2)),
        "THIS_WEEK": lambda: (week, _add_days(week, 7)),
        "LAST_WEEK": lambda: (_add_days(week, -7), week),
        "NEXT_WEEK": lambda: (_add_days(week, 7), _add_days(week, 14)),
        "THIS_MONTH": lambda: (month, _add_months(month, 1)),
        "LAST_MONTH": lambda: (_add_months(month, -1), month),
        "NEXT_MONTH": lambda: (_add_months(month, 1), _add_months(month, 2)),
        "THIS_QUARTER": lambda: (quarter, _add_months(quarter, 3)),
        "LAST_QUARTER": lambda: (_add_months(quarter, -3), quarter),
        "NEXT_QUARTER": lambda: (_add_months(quarter, 3), _add_months(quarter, 6)),
        "THIS_YEAR": lambda: (year, _add_months(year, 12)),
        "LAST_YEAR": lambda: (_add_months(year, -12), year),
        "NEXT_YEAR": lambda: (_add_months(year, 12), _add_months(year, 24)),
        # LAST_N_DAYS includes today ("LAST_N_DAYS:1 includes yesterday and today");
        # NEXT_N_DAYS starts tomorrow; N_DAYS_AGO is the single day.
        "LAST_90_DAYS": lambda: (_add_days(today, -90), _add_days(today, 1)),
        "NEXT_90_DAYS": lambda: (_add_days(today, 1), _add_days(today, 91)),
        "LAST_N_DAYS": lambda: (_add_days(today, -n), _add_days(today, 1)),
        "NEXT_N_DAYS": lambda: (_add_days(today, 1), _add_days(today, 1 + n)),
        "N_DAYS_AGO": lambda: (_add_days(today, -n), _add_days(today, 1 - n)),
        "LAST_N_WEEKS": lambda: (_add_days(week, -7 * n), week),
        "NEXT_N_WEEKS": lambda: (_add_days(week, 7), _add_days(week, 7 + 7 * n)),
        "N_WEEKS_AGO": lambda: (_add_days(week, -7 * n), _add_days(week, 7 - 7 * n)),
        "LAST_N_MONTHS": lambda: (_add_months(month, -n), month),
        "NEXT_N_MONTHS": lambda: (_add_months(month, 1), _add_months(month, 1 + n)),
        "N_MONTHS_AGO": lambda: (_add_months(month, -n), _add_months(month, 1 - n)),
        "LAST_N_QUARTERS": lambda: (_add_months(quarter, -3 * n), quarter),
        "NEXT_N_QUARTERS": lambda: (_add_months(quarter, 3), _add_months(quarter, 3 + 3 * n)),
        "N_QUARTERS_AGO": lambda: (_add_months(quarter, -3 * n), _add_months(quarter, 3 - 3 * n)),
        "LAST_N_YEARS": lambda: (_add_months(year, -12 * n), year),
        "NEXT_N_YEARS": lambda: (_add_months(year, 12), _add_months(year, 12 + 12 * n)),
        "N_YEARS_AGO": lambda: (_add_months(year, -12 * n), _add_months(year, 12 - 12 * n)),
    }
    return ranges[name]()


def _range_for(literal: DateLiteral, family: Family, today: date) -> tuple[Any, Any]:
    start, end = date_range(literal, today)
    if family == "datetime":
        return datetime.combine(start, time(), UTC), datetime.combine(end, time(), UTC)
    return start, end


# --- WHERE compilation ----------------------------------------------------------------------

_ORDERING = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _never(row: Any) -> bool:
    return False


def compile_condition(node: BoundCondition, get: Getter, today: date) -> Pred:
    """Compile a bound WHERE tree into one row predicate (date literals relative to ``today``)."""
    if isinstance(node, BoundCmp):
        return _compile_cmp(node, get, today)
    if isinstance(node, BoundNot):
        inner = compile_condition(node.operand, get, today)
        return lambda row: not inner(row)
    preds = [compile_condition(child, get, today) for child in node.operands]
    combined = preds[0]
    # Fold into binary closures: short-circuits like the SOQL engine and avoids a generator
    # per row.
    for nxt in preds[1:]:
        combined = _and(combined, nxt) if node.op == "AND" else _or(combined, nxt)
    return combined


def _and(a: Pred, b: Pred) -> Pred:
    return lambda row: a(row) and b(row)


def _or(a: Pred, b: Pred) -> Pred:
    return lambda row: a(row) or b(row)


def _compile_cmp(node: BoundCmp, get: Getter, today: date) -> Pred:
    path = node.field.path
    family = node.field.family
    key = normalizer(family)
    is_null = _null_test(family)
    op = node.op

    if op == "LIKE":
        pattern: re.Pattern[str] | None = node.values[0]
        if pattern is None:
            return _never
        match = pattern.fullmatch

        def like(row: Any) -> bool:
            v = get(row, path)
            return not is_null(v) and match(v if type(v) is str else str(v)) is not None

        return like

    if op in ("IN", "NOT IN"):
        return _compile_in(node, get, today)

    value = node.values[0]
    if value is None:
        if op == "=":
            return lambda row: is_null(get(row, path))
        if op == "!=":
            return lambda row: not is_null(get(row, path))
        return _never  # ordering against null matches nothing

    if isinstance(value, DateLiteral):
        return _compile_range(op, path, key, is_null, _range_for(value, family, today), get)

    identity = key is _identity
    if op == "=":
        if identity:
            return lambda row: (v := get(row, path)) is not None and v == value
        return lambda row: not is_null(v := get(row, path)) and key(v) == value
    if op == "!=":
        if identity:
            return lambda row: (v := get(row, path)) is None or v != value
        return lambda row: is_null(v := get(row, path)) or key(v) != value
    cmp = _ORDERING[op]
    if identity:
        return lambda row: (v := get(row, path)) is not None and cmp(v, value)
    return lambda row: not is_null(v := get(row, path)) and cmp(key(v), value)


def _compile_range(
    op: str,
    path: tuple[str, ...],
    key: Callable[[Any], Any],
    is_null: Callable[[Any], bool],
    bounds: tuple[Any, Any],
    get: Getter,
) -> Pred:
    lo, hi = bounds
    if op == "=":
        return lambda row: not is_null(v := get(row, path)) and lo <= key(v) < hi
    if op == "!=":
        return lambda row: is_null(v := get(row, path)) or not lo <= key(v) < hi
    if op == "<":
        return lambda row: not is_null(v := get(row, path)) and key(v) < lo
    if op == "<=":
        return lambda row: not is_null(v := get(row, path)) and key(v) < hi
    if op == ">":
        return lambda row: not is_null(v := get(row, path)) and key(v) >= hi
    return lambda row: not is_null(v := get(row, path)) and key(v) >= lo


def _compile_in(node: BoundCmp, get: Getter, today: date) -> Pred:
    path = node.field.path
    key = normalizer(node.field.family)
    is_null = _null_test(node.field.family)
    has_null = any(v is None for v in node.values)
    ranges = [
        _range_for(v, node.field.family, today) for v in node.values if isinstance(v, DateLiteral)
    ]
    plain = frozenset(v for v in node.values if v is not None and not isinstance(v, DateLiteral))

    if ranges:

        def member(row: Any) -> bool:
            v = get(row, path)
            if is_null(v):
                return has_null
            k = key(v)
            return k in plain or any(lo <= k < hi for lo, hi in ranges)

    else:

        def member(row: Any) -> bool:
            v = get(row, path)
            if is_null(v):
                return has_null
            return key(v) in plain

    if node.op == "IN":
        return member
    return lambda row: not member(row)


# --- ORDER BY -------------------------------------------------------------------------------

_LOW: tuple[int] = (0,)
_HIGH: tuple[int] = (2,)


def _sort_key(item: BoundOrder, get: Getter) -> Callable[[Any], tuple[Any, ...]]:
    path = item.field.path
    key = normalizer(item.field.family)
    is_null = _null_test(item.field.family)
    # Nulls sort as a sentinel below or above every value; which one depends on where they must
    # end up after the (possibly reversed) sort.
    null_key = _HIGH if item.descending == item.nulls_first else _LOW

    def sort_key(row: Any) -> tuple[Any, ...]:
        v = get(row, path)
        return null_key if is_null(v) else (1, key(v))

    return sort_key


def sort_rows(rows: list[Any], order: Sequence[BoundOrder], get: Getter) -> None:
    """Sort ``rows`` in place by ``order`` (stable, so ties keep the candidates' order)."""
    if not order:
        return
    keys = [_sort_key(item, get) for item in order]
    if all(item.descending == order[0].descending for item in order):
        if len(keys) == 1:
            rows.sort(key=keys[0], reverse=order[0].descending)
        else:
            rows.sort(key=lambda row: tuple(k(row) for k in keys), reverse=order[0].descending)
        return
    # Mixed directions: one stable pass per key, least significant first.
    for item, k in reversed(list(zip(order, keys, strict=True))):
        rows.sort(key=k, reverse=item.descending)


# --- projection -----------------------------------------------------------------------------


def _format_datetime(v: Any) -> Any:
    if isinstance(v, datetime):
        if v.tzinfo is not None:
            v = v.astimezone(UTC)
        return v.strftime("%Y-%m-%dT%H:%M:%S.") + f"{v.microsecond // 1000:03d}+0000"
    return v


def _format_date(v: Any) -> Any:
    if isinstance(v, datetime):
        return v.date().isoformat()
    if isinstance(v, date):
        return v.isoformat()
    return v


def _format_boolean(v: Any) -> bool:
    return bool(v)


_FORMATTERS: dict[Family, Callable[[Any], Any]] = {
    "datetime": _format_datetime,
    "date": _format_date,
    "boolean": _format_boolean,
}


def formatter(family: Family) -> Callable[[Any], Any]:
    """How a value of the family appears in REST JSON (datetimes as ``...T10:00:00.000+0000``)."""
    return _FORMATTERS.get(family, _identity)


@dataclass(frozen=True, slots=True)
class ProjField:
    """A selected field: its JSON key, canonical path and formatter."""

    key: str
    path: tuple[str, ...]
    fmt: Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class ProjParent:
    """A parent record in the output: JSON key, path to the relationship, its object, its fields."""

    key: str
    path: tuple[str, ...]
    object_name: str
    children: tuple[ProjField | ProjParent, ...]


def project_row(
    plan: Sequence[ProjField | ProjParent],
    object_name: str,
    row: Any,
    handle: Any,
    get: Getter,
    attributes: Callable[[str, Any], dict[str, Any] | None] | None,
) -> dict[str, Any]:
    """One record (or parent) as REST JSON: ``attributes`` first, then fields in SELECT order."""
    out: dict[str, Any] = {}
    if attributes is not None:
        attrs = attributes(object_name, handle)
        if attrs is not None:
            out["attributes"] = attrs
    for entry in plan:
        if isinstance(entry, ProjField):
            out[entry.key] = entry.fmt(get(row, entry.path))
            continue
        parent = get(row, entry.path)
        out[entry.key] = (
            None
            if parent is None
            else project_row(entry.children, entry.object_name, row, parent, get, attributes)
        )
    return out
