"""Naming places in a playbook: "rule enterprise of model firmographic".

Validation errors come with a location path such as
``('models', 'firmographic', 'rules', 0, 'when', 'all', 1, 'gtee')``; people want
the rule's name, not its index. These helpers read the path against the raw data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

Loc = tuple[str | int, ...]
Place = Literal["top", "model", "rule", "condition", "field_spec", "section", "other"]


@dataclass(frozen=True, slots=True)
class Where:
    """What a location path points into."""

    place: Place
    model: str | None = None
    rule: str | None = None
    field_spec: str | None = None
    section: str | None = None

    def describe(self) -> str:
        """'rule enterprise of model firmographic', 'model lifecycle', ... ('' at top level)."""
        if self.rule is not None:
            return f"rule {self.rule} of model {self.model}"
        if self.model is not None:
            return f"model {self.model}"
        if self.field_spec is not None:
            return f"field declaration '{self.field_spec}'"
        if self.section is not None:
            return f"section '{self.section}'"
        return ""


SECTIONS = ("rfm", "clv", "value_tiers", "clustering", "holdout")


def where_of(loc: Sequence[str | int], data: Any) -> Where:
    """Classify the *container* at ``loc`` (the mapping a key sits in)."""
    if not loc:
        return Where("top")
    head = loc[0]
    if head == "models" and len(loc) >= 2:
        model = str(loc[1])
        if len(loc) >= 4 and loc[2] == "rules" and isinstance(loc[3], int):
            rule = rule_label(data, model, loc[3])
            place: Place = "condition" if len(loc) >= 5 and loc[4] == "when" else "rule"
            return Where(place, model=model, rule=rule)
        return Where("model", model=model)
    if head == "fields" and len(loc) >= 2:
        return Where("field_spec", field_spec=str(loc[1]))
    if head in SECTIONS:
        return Where("section", section=str(head))
    return Where("other")


def rule_label(data: Any, model: str, index: int) -> str:
    """The rule's name as written, or '#N' (1-based) when it has none."""
    try:
        name = data["models"][model]["rules"][index].get("name")
    except (KeyError, IndexError, TypeError, AttributeError):
        name = None
    readable = isinstance(name, str | int) and not isinstance(name, bool) and str(name)
    return str(name) if readable else f"#{index + 1}"


def compose_message(problem: str, where: Where, hint: str | None = None) -> str:
    """``problem in <where> — hint``, leaving out the parts that are empty."""
    text = problem
    place = where.describe()
    if place:
        text += f" in {place}"
    if hint:
        text += f" — {hint}"
    return text
