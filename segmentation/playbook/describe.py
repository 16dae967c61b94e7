"""Conditions as one line of text, e.g. ``company_employees >= 1000 and region in [NA, EMEA]``."""

from __future__ import annotations

from segmentation.playbook.condition import Condition
from segmentation.playbook.render import operator_text


def describe_condition(condition: Condition) -> str:
    """A condition as readable text; groups inside groups get parentheses."""
    if condition.kind == "leaf":
        return describe_leaf(condition)
    if condition.kind == "not":
        return f"not ({describe_condition(condition.children[0])})"
    joiner = " and " if condition.kind == "all" else " or "
    return joiner.join(_nested(child) for child in condition.children)


def describe_leaf(condition: Condition) -> str:
    """``field op operand [and op operand ...]`` for a field test."""
    return f"{condition.field} " + " and ".join(
        operator_text(op, operand) for op, operand in condition.operators
    )


def _nested(condition: Condition) -> str:
    text = describe_condition(condition)
    multi = condition.kind in ("all", "any") and len(condition.children) > 1
    return f"({text})" if multi else text
