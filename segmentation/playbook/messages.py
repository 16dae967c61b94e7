"""Pydantic validation errors, rephrased for a RevOps admin and placed on a line.

Pydantic says "Extra inputs are not permitted" at ``('models', 'x', 'rules', 0,
'when', 'gtee')``; the admin should read ``unknown operator 'gtee' in rule
enterprise of model firmographic — did you mean 'gte'?`` at the line of ``gtee``.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import yaml
from pydantic_core import ErrorDetails

from segmentation.playbook.errors import PlaybookIssue, did_you_mean
from segmentation.playbook.locations import Where, compose_message, where_of
from segmentation.playbook.model import FieldSpec, Playbook, Rule, RuleModel
from segmentation.playbook.operators import COMBINATORS, OPERATORS
from segmentation.playbook.yaml_marks import MarkedDocument

# Keys a user may write in each place, for "did you mean" on unknown keys.
_KEYS = {
    "top": [f.alias or n for n, f in Playbook.model_fields.items()],
    "model": [n for n in RuleModel.model_fields if n != "name"],
    "rule": list(Rule.model_fields),
    "condition": ["field", *OPERATORS, *COMBINATORS],
    "field_spec": list(FieldSpec.model_fields),
}
_CUSTOM_KINDS = {"operand", "unknown_field", "regex", "duration", "instant", "shape", "field_name"}
_EXPECTED = {
    "string_type": "should be text",
    "list_type": "should be a list",
    "dict_type": "should be a mapping",
    "model_type": "should be a mapping",
    "model_attributes_type": "should be a mapping",
    "bool_type": "should be true or false",
    "bool_parsing": "should be true or false",
    "int_type": "should be a whole number",
    "int_parsing": "should be a whole number",
    "float_type": "should be a number",
    "float_parsing": "should be a number",
}
_CONDITION_EXAMPLE = "write a condition like {field: employees, gte: 1000}"


def translate(
    errors: list[ErrorDetails], document: MarkedDocument, source: str
) -> list[PlaybookIssue]:
    """One :class:`PlaybookIssue` per pydantic error, positioned on its YAML node."""
    # "modles:" is reported as unknown with "did you mean 'models'?"; a second error
    # saying 'models' is missing would only repeat it.
    typos = set()
    for error in errors:
        if error["type"] == "extra_forbidden":
            loc = tuple(error["loc"])
            place = where_of(loc[:-1], document.data).place
            hint = did_you_mean(str(loc[-1]), _KEYS.get(place, ()))
            if hint:
                typos.add((*loc[:-1], hint.split("'")[1]))
    issues = []
    for error in errors:
        loc = tuple(error["loc"])
        if error["type"] == "missing" and loc in typos:
            continue
        message, at_key, at_parent = _phrase(error, loc, document.data, _written(document, loc))
        target = loc[:-1] if at_parent else loc
        position = document.locate(target, key=at_key)
        issues.append(PlaybookIssue(source, position.line, position.column, message))
    return issues


def _written(document: MarkedDocument, loc: tuple[str | int, ...]) -> str | None:
    """The scalar at ``loc`` exactly as the file spells it (``1.50``, not ``1.5``)."""
    node = document.node_at(loc)
    return str(node.value) if isinstance(node, yaml.ScalarNode) else None


def _phrase(
    error: ErrorDetails, loc: tuple[str | int, ...], data: Any, written: str | None = None
) -> tuple[str, bool, bool]:
    """(message, point at the key?, point at the parent mapping?)."""
    kind = error["type"]
    ctx: dict[str, Any] = dict(error.get("ctx") or {})
    name = str(loc[-1]) if loc else ""
    if kind == "extra_forbidden":
        where = where_of(loc[:-1], data)
        return _unknown_key(name, where), True, False
    if kind == "missing":
        where = where_of(loc[:-1], data)
        hint = "add 'version: 1'" if loc == ("version",) else None
        return compose_message(f"missing '{name}'", where, hint), False, True
    where = where_of(loc, data)
    if kind in _CUSTOM_KINDS:
        return compose_message(error["msg"], where, ctx.get("hint") or None), False, False
    if kind == "literal_error" and loc == ("version",):
        problem = f"unsupported version {error['input']!r}"
        return compose_message(problem, where, "this segsync reads version 1"), False, False
    if kind == "literal_error" and loc[-1:] == ("type",):
        allowed = FieldSpec.model_fields["type"].annotation.__args__  # type: ignore[union-attr]
        hint = did_you_mean(str(error["input"]), allowed) or "expected one of " + ", ".join(allowed)
        return compose_message(f"unknown field type {error['input']!r}", where, hint), False, False
    if kind in ("model_type", "dict_type") and where.place == "condition":
        problem = f"a condition should be a mapping, got {error['input']!r}"
        return compose_message(problem, where, _CONDITION_EXAMPLE), False, False
    if kind == "too_short" and name == "rules":
        return compose_message("'rules' needs at least one rule", where), False, False
    if kind == "string_pattern_mismatch" and name == "output":
        problem = f"'output' must be a field name (letters, digits, _), got {error['input']!r}"
        return compose_message(problem, where), False, False
    subject = _subject(loc)
    if kind == "value_error":
        detail = str(error["msg"]).removeprefix("Value error, ")
        return compose_message(f"{subject} {detail}", where), False, False
    expected = _EXPECTED.get(kind) or _lower_first(str(error["msg"]).removeprefix("Input "))
    hint = None
    value = error["input"]
    if kind == "string_type" and isinstance(value, bool):
        hint = "YAML reads unquoted yes/no/on/off/true/false as a boolean; quote it"
    elif kind == "string_type" and isinstance(value, int | float | date) and written:
        # A number or date where a name belongs is more often a slip (a score, a share)
        # than a segment meant to be called "42"; quoting says which.
        noun = "date" if isinstance(value, date) else "number"
        hint = f'YAML reads {written} as a {noun}; quote it ("{written}") if you mean the text'
    numeric = isinstance(value, int | float | date) and not isinstance(value, bool)
    shown = written if written and numeric else _show(value)
    problem = f"{subject} {expected}, got {shown}"
    return compose_message(problem, where, hint), False, False


def _unknown_key(name: str, where: Where) -> str:
    if where.place == "condition":
        hint = did_you_mean(name, _KEYS["condition"])
        noun = "key" if hint in ("did you mean 'field'?",) else "operator"
        if hint is None:
            hint = "operators are " + ", ".join(OPERATORS) + "; groups are all, any, not"
        return compose_message(f"unknown {noun} '{name}'", where, hint)
    if where.place == "top":
        hint = did_you_mean(name, _KEYS["top"])
        return compose_message(f"unknown section '{name}'", where, hint)
    if where.place in _KEYS:
        hint = did_you_mean(name, _KEYS[where.place])
        if hint is None:
            hint = "expected one of " + ", ".join(_KEYS[where.place])
        return compose_message(f"unknown key '{name}'", where, hint)
    return compose_message(f"unknown key '{name}'", where)


def _subject(loc: tuple[str | int, ...]) -> str:
    """'output', or 'item 2 of order' for a list element."""
    if loc and isinstance(loc[-1], int) and len(loc) >= 2:
        return f"item {loc[-1] + 1} of '{loc[-2]}'"
    return f"'{loc[-1]}'" if loc else "the playbook"


def _show(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]
