"""Checks that span several places in a playbook, which pydantic validates one at a time.

They read the raw data (not the validated models) so that they still run, and
their problems are still reported, when some other part of the file is invalid.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

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
    if _is_name(fallback) and str(fallback) not in stages:
        yield (
            ("models", model_name, "fallback"),
            False,
            compose_message(f"fallback '{fallback}' is not a stage in 'order'", where, hint),
        )


def _is_name(value: Any) -> bool:
    # Booleans are reported by validation ("should be text"); don't echo them here.
    return isinstance(value, str | int) and not isinstance(value, bool)
