"""HubSpot list filters: the v3 filter language checked as HubSpot stores it, and evaluated.

A list filter is an OR branch of AND branches of property filters. The sandbox checks
and echoes the shape HubSpot's own examples use (filling ``filterBranchOperator`` and
``includeObjectsWithNoValueSet`` as HubSpot's answers do), and evaluates the property
operations a segment list needs (enumeration, string, known/unknown); the others it
refuses by name rather than match them loosely.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from connectors.sandbox.hubspot.error_bodies import ApiError
from connectors.sandbox.hubspot.property_schema import ObjectSchema

# Every enumeration operator of the v3 filter language; the sandbox evaluates the first four.
ENUMERATION_OPERATORS = {
    "IS_ANY_OF",
    "IS_NONE_OF",
    "IS_EXACTLY",
    "IS_NOT_EXACTLY",
    "CONTAINS_ALL",
    "DOES_NOT_CONTAIN_ALL",
    "HAS_EVER_BEEN_ANY_OF",
    "HAS_NEVER_BEEN_ANY_OF",
    "HAS_EVER_BEEN_EXACTLY",
    "HAS_NEVER_BEEN_EXACTLY",
    "HAS_EVER_CONTAINED_ALL",
    "HAS_NEVER_CONTAINED_ALL",
}
EVALUATED = {
    "ENUMERATION": {"IS_ANY_OF", "IS_NONE_OF", "IS_EXACTLY", "IS_NOT_EXACTLY"},
    "STRING": {"IS_EQUAL_TO", "IS_NOT_EQUAL_TO"},
    "ALL_PROPERTY": {"IS_KNOWN", "IS_UNKNOWN"},
}
# The operation type each property type takes.
OPERATION_FOR = {"enumeration": "ENUMERATION", "string": "STRING", "bool": "ENUMERATION"}

Matcher = Callable[[Any], bool]


def checked_branch(raw: Any, schema: ObjectSchema, object_type: str) -> dict[str, Any]:
    """The filter as stored and echoed: an OR branch of AND branches of property filters."""
    root = as_object(raw, "filterBranch")
    if root.get("filterBranchType") != "OR":
        raise ApiError(400, "The root filterBranch must have filterBranchType OR.")
    if root.get("filters"):
        raise ApiError(400, "The root OR branch takes no filters, only AND branches.")
    children = root.get("filterBranches")
    if not isinstance(children, list) or not children:
        raise ApiError(400, "The root OR branch needs at least one AND filterBranch.")
    out = []
    for i, child in enumerate(children):
        branch = as_object(child, f"filterBranches[{i}]")
        if branch.get("filterBranchType") != "AND":
            raise ApiError(400, f"filterBranches[{i}] must have filterBranchType AND.")
        if branch.get("filterBranches"):
            raise ApiError(400, f"filterBranches[{i}]: nested branches are not supported.")
        filters = branch.get("filters")
        if not isinstance(filters, list) or not filters:
            raise ApiError(400, f"filterBranches[{i}] needs at least one filter.")
        out.append(
            {
                "filterBranchType": "AND",
                "filterBranchOperator": "AND",
                "filterBranches": [],
                "filters": [
                    _checked_filter(f, schema, object_type, f"filterBranches[{i}].filters[{j}]")
                    for j, f in enumerate(filters)
                ],
            }
        )
    return {
        "filterBranchType": "OR",
        "filterBranchOperator": "OR",
        "filterBranches": out,
        "filters": [],
    }


def _checked_filter(raw: Any, schema: ObjectSchema, object_type: str, where: str) -> dict[str, Any]:
    flt = as_object(raw, where)
    if flt.get("filterType") != "PROPERTY":
        raise ApiError(400, f"{where}: filterType {flt.get('filterType')!r} is not supported.")
    name = flt.get("property")
    prop = schema.live(str(name)) if isinstance(name, str) else None
    if prop is None:
        raise ApiError(400, f"{where}: property {name!r} does not exist on {object_type}.")
    operation = as_object(flt.get("operation"), f"{where}.operation")
    op_type, operator = operation.get("operationType"), operation.get("operator")
    allowed = EVALUATED.get(str(op_type))
    if op_type == "ENUMERATION" and operator in ENUMERATION_OPERATORS - EVALUATED[op_type]:
        raise ApiError(400, f"{where}: the sandbox does not evaluate {operator}.")
    if allowed is None or operator not in allowed:
        raise ApiError(
            400, f"{where}: operator {operator!r} is not valid for operation type {op_type!r}."
        )
    if op_type != "ALL_PROPERTY" and OPERATION_FOR.get(prop.type, "STRING") != op_type:
        raise ApiError(
            400, f"{where}: property {name} is of type {prop.type}; {op_type} does not apply."
        )
    checked: dict[str, Any] = {"operationType": op_type, "operator": operator}
    if op_type == "ENUMERATION":
        values = operation.get("values")
        if not isinstance(values, list) or not values:
            raise ApiError(400, f"{where}.operation: values must be a non-empty list.")
        checked["values"] = [str(v) for v in values]
    elif op_type == "STRING":
        if not isinstance(operation.get("value"), str):
            raise ApiError(400, f"{where}.operation: value must be a string.")
        checked["value"] = operation["value"]
    include = operation.get("includeObjectsWithNoValueSet", False)
    if not isinstance(include, bool):
        raise ApiError(400, f"{where}.operation: includeObjectsWithNoValueSet is a boolean.")
    checked["includeObjectsWithNoValueSet"] = include
    return {"filterType": "PROPERTY", "property": name, "operation": checked}


def matcher(flt: dict[str, Any]) -> Matcher:
    """Whether a stored value passes one (checked) property filter."""
    op = flt["operation"]
    operator, blank_ok = op["operator"], op["includeObjectsWithNoValueSet"]

    def parts(value: Any) -> set[str]:
        return {p for p in str(value).split(";") if p} if value not in (None, "") else set()

    if operator in ("IS_KNOWN", "IS_UNKNOWN"):
        known = operator == "IS_KNOWN"
        return lambda v: (v not in (None, "")) == known
    if op["operationType"] == "STRING":
        wanted, equal = op["value"], operator == "IS_EQUAL_TO"
        return lambda v: (
            (v in (None, "") and blank_ok) or (v not in (None, "") and (str(v) == wanted) == equal)
        )
    values = set(op["values"])
    tests: dict[str, Callable[[set[str]], bool]] = {
        "IS_ANY_OF": lambda held: bool(held & values),
        "IS_NONE_OF": lambda held: not held & values,
        "IS_EXACTLY": lambda held: held == values,
        "IS_NOT_EXACTLY": lambda held: held != values,
    }
    test = tests[operator]
    return lambda v: (not parts(v) and blank_ok) or (bool(parts(v)) and test(parts(v)))


def as_object(raw: Any, what: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ApiError(400, f"Invalid input JSON: {what} must be an object")
    return raw
