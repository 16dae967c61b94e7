"""Durations ("30 days", {months: 6}) and ISO instants, as operands of date conditions."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal

Unit = Literal["days", "weeks", "months", "years"]

_UNITS: dict[str, Unit] = {
    "d": "days",
    "day": "days",
    "days": "days",
    "w": "weeks",
    "wk": "weeks",
    "week": "weeks",
    "weeks": "weeks",
    "mo": "months",
    "month": "months",
    "months": "months",
    "y": "years",
    "yr": "years",
    "year": "years",
    "years": "years",
}
UNIT_NAMES = ("days", "weeks", "months", "years")
_DURATION = re.compile(r"^\s*(\d+)\s*([A-Za-z]+)\s*$")


@dataclass(frozen=True, slots=True)
class Duration:
    """A whole number of calendar units; months and years follow the calendar."""

    amount: int
    unit: Unit

    def __str__(self) -> str:
        unit = self.unit[:-1] if self.amount == 1 else self.unit
        return f"{self.amount} {unit}"

    def before(self, moment: datetime) -> datetime:
        """``moment`` minus this duration; a month back from Mar 31 is Feb 28 (or 29)."""
        if self.unit == "days":
            return moment - timedelta(days=self.amount)
        if self.unit == "weeks":
            return moment - timedelta(weeks=self.amount)
        months = self.amount * (12 if self.unit == "years" else 1)
        index = moment.year * 12 + (moment.month - 1) - months
        year, month = divmod(index, 12)
        day = min(moment.day, calendar.monthrange(year, month + 1)[1])
        return moment.replace(year=year, month=month + 1, day=day)


def parse_duration(value: Any) -> Duration:
    """``"30 days"``, ``"2w"``, ``"6 months"``, ``"1 year"`` or ``{days: 30}``; else ValueError."""
    understood = 'understood units: days, weeks, months, years — e.g. "30 days" or {days: 30}'
    if isinstance(value, str):
        match = _DURATION.match(value)
        if not match:
            raise ValueError(f"cannot read duration {value!r}; {understood}")
        amount, word = int(match.group(1)), match.group(2).lower()
        if word not in _UNITS:
            raise ValueError(f"unit {match.group(2)!r} not understood; {understood}")
        return Duration(amount, _UNITS[word])
    if isinstance(value, dict):
        if len(value) != 1:
            raise ValueError(f"a duration mapping has exactly one unit; {understood}")
        ((key, amount),) = value.items()
        if str(key).lower() not in _UNITS:
            raise ValueError(f"unit {key!r} not understood; {understood}")
        if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
            raise ValueError(f"{key}: needs a whole number of {_UNITS[str(key).lower()]}")
        return Duration(amount, _UNITS[str(key).lower()])
    if isinstance(value, int) and not isinstance(value, bool):
        raise ValueError(f'{value} what? say the unit, e.g. "{value} days"; {understood}')
    raise ValueError(f"cannot read duration {value!r}; {understood}")


def parse_instant(value: Any) -> date | datetime:
    """An ISO date or datetime (YAML may already have built one); ValueError otherwise."""
    if isinstance(value, date):  # datetime is a date too
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            return date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
        except ValueError:
            pass
    raise ValueError(
        f"expected an ISO date or datetime like 2024-01-31 or 2024-01-31T09:00:00Z, got {value!r}"
    )
