"""Checks that span several places in a playbook, which pydantic validates one at a time.

They read the raw data (not the validated models) so that they still run, and
their problems are still reported, when some other part of the file is invalid.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from segmentation.playbook.limits import MAX_RULES, MAX_SEGMENT_VALUE_LENGTH, MAX_SEGMENT_VALUES
from segmentation.playbook.locations import Loc, Where, compose_message, rule_label
from segmentation.playbook.model import LIFECYCLE_ORDER, MODEL_NAME, STANDARD_MODELS

Finding = tuple[Loc, bool, str]  # (location, point at the key?, message)

_MODEL_NAME = re.compile(MODEL_NAME)


def cross_check(data: Any) -> Iterator[Finding]:
    """Every cross-reference problem in a raw playbook mapping."""
    models = data.get("models") if isinstance(data, dict) else None
    if not isinstance(models, dict):
        return
    outputs: dict[str, str] = {}
    for name, model in models.items():
        yield from _model_name(name)
        if not isinstance(model, dict):
            continue
        if "name" in model:
            yield (
                ("models", name, "name"),
                True,
                compose_message(
                    "unknown key 'name'",
                    Where("model", model=name),
                    "a model's name is its key under 'models'",
                ),
            )
        yield from _rule_names(name, model)
        yield from _segment_values(name, model)
        yield from _stage_order(name, model)
        output = model.get("output") or f"segment_{name}"
        if isinstance(output, str):
            if output in outputs:
                yield (
                    # At the output value when written, else at the model's name.
                    ("models", name, "output") if "output" in model else ("models", name),
                    "output" not in model,
                    compose_message(
                        f"output field '{output}' is already written by model {outputs[output]}",
                        Where("model", model=name),
                    ),
                )
            outputs.setdefault(output, name)


def too_many_rules(data: Any) -> Finding | None:
    """The first rule past :data:`MAX_RULES` (all models together), or None.

    Checked before validation, which costs per rule: a runaway file is refused in
    milliseconds instead of being validated and compiled for minutes.
    """
    models = data.get("models") if isinstance(data, dict) else None
    if not isinstance(models, dict):
        return None
    total = sum(len(_rules(m)) for m in models.values() if isinstance(m, dict))
    if total <= MAX_RULES:
        return None
    seen = 0
    for name, model in models.items():
        rules = _rules(model) if isinstance(model, dict) else []
        if seen + len(rules) > MAX_RULES:
            return (
                ("models", name, "rules", MAX_RULES - seen),
                False,
                f"rule {MAX_RULES + 1:,} of {total:,}: a playbook holds at most "
                f"{MAX_RULES:,} rules (all models together); refusing it — the shipped "
                "playbooks have about 40",
            )
        seen += len(rules)
    return None


def _model_name(name: str) -> Iterator[Finding]:
    if not _MODEL_NAME.match(name):
        yield (
            ("models", name),
            True,
            f"model name '{name}' must be lower_snake_case (it names the output segment_{name})"
            + (f" — standard models are {', '.join(STANDARD_MODELS)}" if " " in name else ""),
        )


def _rules(model: dict[str, Any]) -> list[Any]:
    rules = model.get("rules")
    return rules if isinstance(rules, list) else []


def _rule_names(model_name: str, model: dict[str, Any]) -> Iterator[Finding]:
    first: dict[str, int] = {}
    for index, rule in enumerate(_rules(model)):
        name = rule.get("name") if isinstance(rule, dict) else None
        if not isinstance(name, str):
            continue
        if name in first:
            yield (
                ("models", model_name, "rules", index, "name"),
                False,
                compose_message(
                    f"duplicate rule name '{name}' (rule #{first[name] + 1} has it too)",
                    Where("model", model=model_name),
                    "rule names appear in reasons and must be unique within a model",
                ),
            )
        else:
            first[name] = index


def _segment_values(model_name: str, model: dict[str, Any]) -> Iterator[Finding]:
    """Values a CRM can hold as a picklist option and keep exactly as written.

    Segment values are written to a CRM enumeration (a HubSpot option, a Salesforce
    restricted picklist value), where workflows and lists match them exactly.
    """
    found: dict[str, None] = {}
    for index, rule in enumerate(_rules(model)):
        if not isinstance(rule, dict):
            continue
        key = "value" if rule.get("value") is not None else "name"
        value = rule.get(key)
        if isinstance(value, str):
            found.setdefault(value)
            where = Where(
                "rule",
                model=model_name,
                rule=rule_label({"models": {model_name: model}}, model_name, index),
            )
            for problem, hint in _value_problems(value, key):
                yield (
                    ("models", model_name, "rules", index, key),
                    False,
                    compose_message(problem, where, hint),
                )
    fallback = model.get("fallback")
    if isinstance(fallback, str):
        found.setdefault(fallback)
        for problem, hint in _value_problems(fallback, "fallback"):
            yield (
                ("models", model_name, "fallback"),
                False,
                compose_message(problem, Where("model", model=model_name), hint),
            )
    if len(found) > MAX_SEGMENT_VALUES:
        yield (
            ("models", model_name, "rules"),
            True,
            compose_message(
                f"{len(found):,} distinct segment values; a model assigns at most "
                f"{MAX_SEGMENT_VALUES:,} (a Salesforce picklist's limit)",
                Where("model", model=model_name),
            ),
        )


def _value_problems(value: str, key: str) -> Iterator[tuple[str, str | None]]:
    """What is wrong with one segment value as a CRM option (nothing, usually)."""
    shown = value if len(value) <= 40 else value[:37] + "..."
    if key == "name" and not value:
        return  # validation says a rule needs a name
    if not value.strip():
        hint = "use fallback: null to leave the segment empty" if key == "fallback" else None
        yield f"segment value {value!r} is empty", hint
        return
    if value != value.strip():
        yield (
            f"segment value {value!r} starts or ends with a space",
            "CRMs trim option values, so the value written would never match the one stored",
        )
    if any(ch < " " or ch == "\x7f" for ch in value):
        yield f"segment value {shown!r} holds a line break or control character", None
    if len(value) > MAX_SEGMENT_VALUE_LENGTH:
        yield (
            f"segment value {shown!r} is {len(value)} characters long",
            f"a CRM option holds at most {MAX_SEGMENT_VALUE_LENGTH} "
            "(Salesforce picklist values); put the description in the rule's description",
        )


def _stage_order(model_name: str, model: dict[str, Any]) -> Iterator[Finding]:
    order = model.get("order")
    forward_only = model.get("forward_only")
    where = Where("model", model=model_name)
    if order is None:
        if model_name == "lifecycle" and forward_only is not False:
            order, implied = list(LIFECYCLE_ORDER), True
        elif forward_only is True:
            yield (
                ("models", model_name, "forward_only"),
                False,
                compose_message(
                    "'forward_only' needs an 'order' of stages",
                    where,
                    "add order: [first, ..., last]",
                ),
            )
            return
        else:
            return
    else:
        implied = False
    if not isinstance(order, list):
        return
    seen: set[Any] = set()
    for index, stage in enumerate(order):
        if stage in seen:
            yield (
                ("models", model_name, "order", index),
                False,
                compose_message(f"stage '{stage}' appears twice in 'order'", where),
            )
        seen.add(stage)
    stages = {str(stage) for stage in order}
    hint = (
        "the lifecycle model's default order is "
        + ", ".join(LIFECYCLE_ORDER)
        + "; set 'order' to your stages or 'forward_only: false'"
        if implied
        else "order: " + ", ".join(str(s) for s in order)
    )
    for index, rule in enumerate(_rules(model)):
        if not isinstance(rule, dict):
            continue
        value = rule.get("value", rule.get("name"))
        if _is_name(value) and str(value) not in stages:
            key = "value" if "value" in rule else "name"
            yield (
                ("models", model_name, "rules", index, key),
                False,
                compose_message(
                    f"value '{value}' is not a stage in 'order'",
                    Where(
                        "rule",
                        model=model_name,
                        rule=rule_label({"models": {model_name: model}}, model_name, index),
                    ),
                    hint,
                ),
            )
    fallback = model.get("fallback")
    # An empty fallback is reported as such; "not a stage" would only repeat it.
    if isinstance(fallback, str) and fallback.strip() and fallback not in stages:
        yield (
            ("models", model_name, "fallback"),
            False,
            compose_message(f"fallback '{fallback}' is not a stage in 'order'", where, hint),
        )


def _is_name(value: Any) -> bool:
    # Anything but text is reported by validation ("should be text"); don't echo it here.
    return isinstance(value, str)
