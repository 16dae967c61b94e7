"""Salesforce field values: stored form <-> Python (SOQL) <-> JSON/CSV, and input coercion.

Datetimes go out as ``2024-01-31T10:00:00.000+0000`` (always whole seconds), dates as
``2024-01-31``. Input coercion follows the REST API's JSON deserializer: numeric strings
are accepted for number fields, ``"true"``/``"false"`` for checkboxes, and anything that
does not convert is a request-level ``JSON_PARSER_ERROR``; Bulk API CSV cells that do not
convert fail their row instead.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

from connectors.sandbox.salesforce.object_schema import FieldDef

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_DATETIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:?\d{2})?$"
)
_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
JSON_KIND = {  # how the JSON deserializer names a field type in its messages
    "int": "int",
    "double": "double",
    "currency": "double",
    "percent": "double",
    "boolean": "boolean",
    "date": "date",
    "datetime": "datetime",
    "multipicklist": "multipicklist",
}


class Unconvertible(ValueError):
    """A raw value that does not convert to the field's type (``token`` names its JSON kind)."""

    def __init__(self, token: str, raw: Any) -> None:
        super().__init__(f"{token} {raw!r}")
        self.token = token
        self.raw = raw


def iso(ms: int) -> str:
    """``2024-01-31T10:00:00.000+0000`` for epoch ms (sub-second part dropped)."""
    return (EPOCH + timedelta(seconds=ms // 1000)).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def iso_date(ms: int) -> str:
    """``2024-01-31`` for the epoch ms of a UTC midnight."""
    return (EPOCH + timedelta(milliseconds=ms)).strftime("%Y-%m-%d")


def to_python(definition: FieldDef, stored: Any) -> Any:
    """The Python value SOQL compares: aware datetime, date, int, float, bool or str."""
    if stored is None:
        return False if definition.type == "boolean" else None
    kind = definition.type
    if kind == "datetime":
        return EPOCH + timedelta(seconds=stored // 1000)
    if kind == "date":
        return (EPOCH + timedelta(milliseconds=stored)).date()
    if kind == "int":
        return int(stored)
    if kind in ("double", "currency", "percent"):
        return float(stored)
    return stored


def to_json(definition: FieldDef, stored: Any) -> Any:
    """The JSON value of a stored value."""
    if stored is None:
        return False if definition.type == "boolean" else None
    kind = definition.type
    if kind == "datetime":
        return iso(stored)
    if kind == "date":
        return iso_date(stored)
    if kind == "int":
        return int(stored)
    if kind in ("double", "currency", "percent"):
        return float(stored)
    return stored


def python_json(value: Any) -> Any:
    """orjson ``default`` for Python values coming out of the SOQL engine."""
    if isinstance(value, datetime):
        return iso(int(value.timestamp() * 1000))
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def to_csv(definition: FieldDef, stored: Any) -> str:
    """A CSV cell (empty for null)."""
    value = to_json(definition, stored)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and definition.scale == 0:
        return str(int(value))
    return str(value)


def parse_datetime(text: str) -> int | None:
    """Epoch ms (whole seconds) of an ISO-8601 datetime Salesforce accepts; None if not one."""
    m = _DATETIME.match(text.strip())
    if not m:
        return None
    year, month, day_, hour, minute, sec = (int(m.group(i)) for i in range(1, 7))
    zone = m.group(8)
    try:
        value = datetime(year, month, day_, hour, minute, sec, tzinfo=UTC)
    except ValueError:
        return None
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        value -= sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return int(value.timestamp()) * 1000


def parse_date(text: str) -> int | None:
    """Epoch ms of the UTC midnight of a ``YYYY-MM-DD`` date; None if not one."""
    m = _DATE.match(text.strip())
    if not m:
        return None
    try:
        value = datetime(int(m.group(1)), int(m.group(2)), int(m.group(3)), tzinfo=UTC)
    except ValueError:
        return None
    return int(value.timestamp()) * 1000


def coerce(definition: FieldDef, raw: Any) -> Any:
    """The stored value for a raw JSON/CSV value (None clears); raises Unconvertible."""
    kind = definition.type
    if raw is None:
        return None
    if isinstance(raw, dict | list):
        token = "START_OBJECT" if isinstance(raw, dict) else "START_ARRAY"
        raise Unconvertible(token, raw)
    if kind == "boolean":
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.strip().lower() in ("true", "false"):
            return raw.strip().lower() == "true"
        raise Unconvertible(_token(raw), raw)
    if kind in ("int", "double", "currency", "percent"):
        return _number(kind, raw)
    if kind in ("date", "datetime"):
        # Strict formats: yyyy-MM-dd for dates, yyyy-MM-ddTHH:mm:ss[.SSS][zone] for
        # datetimes; "2024-01-31 10:00:00" or a datetime in a date field do not deserialize.
        if isinstance(raw, str):
            if raw == "":
                return None
            ms = parse_date(raw) if kind == "date" else parse_datetime(raw)
            if ms is not None:
                return ms
        raise Unconvertible(_token(raw), raw)
    # Text-like fields take any scalar as its text; "" is the same as null.
    text = ("true" if raw else "false") if isinstance(raw, bool) else str(raw)
    return text if text != "" else None


def _number(kind: str, raw: Any) -> int | float | None:
    if isinstance(raw, bool):
        raise Unconvertible("VALUE_" + str(raw).upper(), raw)
    if isinstance(raw, str):
        text = raw.strip()
        if text == "":
            return None
        try:
            value = float(text)
        except ValueError:
            raise Unconvertible("VALUE_STRING", raw) from None
    elif isinstance(raw, int | float):
        value = float(raw)
    else:
        raise Unconvertible(_token(raw), raw)
    if math.isnan(value) or math.isinf(value):
        raise Unconvertible("VALUE_STRING", raw)
    if kind == "int":
        if not value.is_integer():
            raise Unconvertible("VALUE_NUMBER_FLOAT", raw)
        return int(value)
    return value


def _token(raw: Any) -> str:
    if isinstance(raw, bool):
        return "VALUE_TRUE" if raw else "VALUE_FALSE"
    if isinstance(raw, int):
        return "VALUE_NUMBER_INT"
    if isinstance(raw, float):
        return "VALUE_NUMBER_FLOAT"
    return "VALUE_STRING"


def valid_email(text: str) -> bool:
    """Whether Salesforce would accept the text in an email field."""
    return bool(_EMAIL.match(text))


def fits_number(definition: FieldDef, value: float) -> bool:
    """Whether a number fits the field's precision (digits left of the decimal point)."""
    if definition.type == "int":
        return abs(value) < 10 ** (definition.digits or 9)
    left = (definition.precision or 18) - definition.scale
    return abs(value) < 10**left
