"""The condition operators: names, what they take, and how they read in reasons.

One table shared by the pydantic model (field descriptions), the JSON Schema, the
compiler and the describer, so an operator is added in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Operand = Literal[
    "scalar", "scalars", "pair", "text", "texts", "regex", "flag", "duration", "instant"
]


@dataclass(frozen=True, slots=True)
class Operator:
    """One leaf operator: its YAML key, operand kind, reason wording and help text."""

    name: str
    operand: Operand
    symbol: str
    help: str


OPERATORS: dict[str, Operator] = {
    op.name: op
    for op in (
        Operator("eq", "scalar", "==", "Equal to this value (exact; text is case-sensitive)."),
        Operator("neq", "scalar", "!=", "Present and not equal to this value."),
        Operator("in", "scalars", "in", "Equal to one of these values."),
        Operator("not_in", "scalars", "not in", "Present and equal to none of these values."),
        Operator("gt", "scalar", ">", "Greater than (numbers, dates, datetimes)."),
        Operator("gte", "scalar", ">=", "Greater than or equal to."),
        Operator("lt", "scalar", "<", "Less than."),
        Operator("lte", "scalar", "<=", "Less than or equal to."),
        Operator("between", "pair", "between", "Within [low, high], both ends included."),
        Operator(
            "contains",
            "scalar",
            "contains",
            "Text: contains this substring, ignoring case. List: has this element "
            "(text elements compared ignoring case).",
        ),
        Operator(
            "contains_any",
            "texts",
            "contains any of",
            "Text: contains at least one of these substrings, ignoring case. "
            "List: has at least one of these elements.",
        ),
        Operator(
            "contains_all",
            "texts",
            "contains all of",
            "Text: contains every one of these substrings, ignoring case. "
            "List: has every one of these elements.",
        ),
        Operator(
            "matches",
            "regex",
            "matches",
            "Matches this regular expression anywhere in the text (Rust regex syntax; "
            "prefix (?i) to ignore case). On a list, any element matches.",
        ),
        Operator(
            "exists",
            "flag",
            "exists",
            "true: the field has a value (not null, not blank text, not an empty list). "
            "false: the same as missing: true.",
        ),
        Operator(
            "missing",
            "flag",
            "missing",
            "true: the field is null, blank text or an empty list. "
            "false: the same as exists: true.",
        ),
        Operator(
            "within_last",
            "duration",
            "within last",
            'A date/datetime from this long ago up to now, e.g. "30 days", "2 weeks", '
            '"6 months", "1 year" or {days: 30}.',
        ),
        Operator(
            "more_than_ago",
            "duration",
            "more than",
            'A date/datetime earlier than this long ago, e.g. "90 days" or {months: 3}.',
        ),
        Operator("before", "instant", "before", "Earlier than this ISO date or datetime."),
        Operator("after", "instant", "after", "Later than this ISO date or datetime."),
    )
}

COMBINATORS = ("all", "any", "not")
CONDITION_KEYS = ("field", *OPERATORS, *COMBINATORS)
