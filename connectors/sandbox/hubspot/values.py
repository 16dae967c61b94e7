"""Property values on the HubSpot wire: validation of writes, formatting of reads."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from connectors.sandbox.hubspot.property_schema import PropertyDef
from connectors.sandbox.search import FilterError, parse_instant
from connectors.sandbox.store import Kind

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class Issue:
    """Why one property value was refused, in HubSpot's terms."""

    name: str
    code: str
    message: str


def iso(ms: int) -> str:
    """Epoch ms as HubSpot writes datetimes: ``2024-01-02T03:04:05.678Z``."""
    d = _EPOCH + timedelta(milliseconds=ms)
    return (
        f"{d.year:04d}-{d.month:02d}-{d.day:02d}T{d.hour:02d}:{d.minute:02d}:{d.second:02d}."
        f"{d.microsecond // 1000:03d}Z"
    )


def format_value(kind: Kind | None, value: Any) -> str | None:
    """A stored value as the API returns it (always a string, or null)."""
    if value is None:
        return None
    if kind == "datetime":
        return iso(value)
    if kind == "date":
        return iso(value)[:10]
    if kind == "number" and isinstance(value, int | float):
        return normalize_number(repr(value)) if isinstance(value, float) else str(value)
    return str(value)


def normalize_number(text: str) -> str:
    """Canonical decimal text: ``"1000.50"`` -> ``"1000.5"``, ``"1e3"`` -> ``"1000"``."""
    value = Decimal(text.strip())
    if not value.is_finite():
        raise InvalidOperation(text)
    out = format(value, "f")
    if "." in out:
        out = out.rstrip("0").rstrip(".")
    return "0" if out in ("-0", "") else out


def parse_datetime_ms(text: str) -> int | None:
    """Epoch ms from epoch-ms digits, ISO-8601 or ``YYYY-MM-DD``; None if unparseable."""
    try:
        return parse_instant(text)
    except FilterError:
        return None


def normalize(prop: PropertyDef, raw: Any, current: Any) -> Any:
    """The stored form of a written value, or an :class:`Issue`.

    ``""`` clears (stored as None). ``current`` is the stored value, needed for
    multi-checkbox appends (a leading ``;`` adds to the existing selection).
    """
    if isinstance(raw, bool):
        text = "true" if raw else "false"
    elif isinstance(raw, int | float | str):
        text = str(raw)
    else:
        return Issue(
            prop.name,
            "INVALID_PROPERTY_VALUE",
            f"{raw!r} is not a valid value for property {prop.name}: values must be strings",
        )
    if text == "":
        return None
    kind = prop.kind
    if kind == "string":
        if prop.name == "email":
            stripped = text.strip()
            if not _EMAIL.fullmatch(stripped):
                return Issue(prop.name, "INVALID_EMAIL", f"Email address {text} is invalid")
            return stripped.lower()
        return text
    if kind == "number":
        try:
            return normalize_number(text)
        except (InvalidOperation, ValueError):
            return Issue(prop.name, "INVALID_DECIMAL", f"{text} was not a valid number.")
    if kind == "datetime":
        ms = parse_datetime_ms(text)
        if ms is None:
            return Issue(
                prop.name,
                "INVALID_DATETIME",
                f"{text} is not a valid date-time: use epoch milliseconds or ISO-8601",
            )
        return ms
    if kind == "date":
        ms = parse_datetime_ms(text)
        if ms is None:
            return Issue(
                prop.name,
                "INVALID_DATE",
                f"{text} is not a valid date: use YYYY-MM-DD or epoch milliseconds at midnight UTC",
            )
        rest = ms % DAY_MS
        if rest:
            h, m, s, milli = rest // 3_600_000, rest // 60_000 % 60, rest // 1000 % 60, rest % 1000
            return Issue(
                prop.name, "INVALID_DATE", f"{text} is at {h}:{m}:{s}.{milli} UTC, not midnight!"
            )
        return ms
    if kind == "bool" or prop.field_type == "booleancheckbox":
        low = text.strip().lower()
        if low not in ("true", "false"):
            return Issue(
                prop.name,
                "INVALID_OPTION",
                f"{text} was not one of the allowed options: [true, false]",
            )
        return low
    return _enumeration(prop, text, current)


def _enumeration(prop: PropertyDef, text: str, current: Any) -> Any:
    allowed = prop.option_values
    allowed_set = set(allowed)
    if prop.field_type != "checkbox":
        if text in allowed_set:
            return text
        return _invalid_option(prop, text, allowed)
    append = text.startswith(";")
    chosen = [t for t in text.split(";") if t != ""]
    for token in chosen:
        if token not in allowed_set:
            return _invalid_option(prop, token, allowed)
    if append and current:
        chosen = str(current).split(";") + chosen
    unique = list(dict.fromkeys(chosen))
    return ";".join(unique) if unique else None


def _invalid_option(prop: PropertyDef, value: str, allowed: list[str]) -> Issue:
    shown = ", ".join(allowed[:50]) + (", ..." if len(allowed) > 50 else "")
    return Issue(
        prop.name, "INVALID_OPTION", f"{value} was not one of the allowed options: [{shown}]"
    )
