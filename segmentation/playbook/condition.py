"""``Condition``: one node of a rule's ``when`` — a field test or an all/any/not group.

A leaf is ``{field: NAME, <operator>: OPERAND}``; several operators on one leaf
must all hold (``{field: employees, gte: 200, lt: 1000}``). A group is exactly one
of ``{all: [...]}``, ``{any: [...]}`` or ``{not: {...}}``. Operands are checked
here for shape (a list where a list is needed, a regex that compiles, a duration
with a known unit); whether a literal fits the column's type can only be checked
against a frame schema, at compile time.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Annotated, Any, Literal

import polars as pl
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    WithJsonSchema,
    field_serializer,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from segmentation.playbook.dates import Duration, parse_duration, parse_instant
from segmentation.playbook.errors import did_you_mean
from segmentation.playbook.operators import OPERATORS
from segmentation.playbook.yaml_marks import Position

Scalar = str | int | float | bool | date | datetime
Instant = date | datetime

# The JSON Schema editors see; validation itself is the plain validators below.
_SCALAR_SCHEMA: dict[str, Any] = {"type": ["string", "number", "boolean"]}
_SCALARS_SCHEMA: dict[str, Any] = {"type": "array", "minItems": 1, "items": _SCALAR_SCHEMA}
_PAIR_SCHEMA: dict[str, Any] = {
    "type": "array",
    "prefixItems": [_SCALAR_SCHEMA, _SCALAR_SCHEMA],
    "minItems": 2,
    "maxItems": 2,
}
_DURATION_SCHEMA: dict[str, Any] = {
    "oneOf": [
        {
            "type": "string",
            "pattern": r"^\s*\d+\s*(d|days?|w|wk|weeks?|mo|months?|y|yr|years?)\s*$",
            "examples": ["30 days", "2 weeks", "6 months", "1 year"],
        },
        {
            "type": "object",
            "minProperties": 1,
            "maxProperties": 1,
            "additionalProperties": False,
            "properties": {
                unit: {"type": "integer", "minimum": 0}
                for unit in ("days", "weeks", "months", "years")
            },
        },
    ]
}
_INSTANT_SCHEMA: dict[str, Any] = {
    "anyOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}]
}

_ATTRIBUTE = {name: f"{name}_" if name == "in" else name for name in OPERATORS}
_OPERATOR_OF = {attribute: name for name, attribute in _ATTRIBUTE.items()}
_LIST_HINT = {"eq": "in", "neq": "not_in", "contains": "contains_any"}


def _fail(kind: str, message: str, hint: str | None = None, **ctx: Any) -> PydanticCustomError:
    """A validation error whose message names the problem; ``hint`` follows after a dash."""
    return PydanticCustomError(kind, message, {**ctx, "hint": hint or ""})


def _describe_input(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, list):
        return f"a list of {len(value)}" if value else "an empty list"
    if isinstance(value, dict):
        return "a mapping"
    return repr(value)


def _scalar(op: str, value: Any) -> Scalar:
    if value is None:
        raise _fail(
            "operand",
            "'{op}' needs a value",
            "to test for an empty field use 'missing: true'",
            op=op,
        )
    if isinstance(value, list):
        better = _LIST_HINT.get(op)
        raise _fail(
            "operand",
            "'{op}' takes one value, not a list",
            f"for several values use '{better}'" if better else None,
            op=op,
        )
    if isinstance(value, float) and math.isnan(value):
        raise _fail("operand", "'{op}' cannot compare with NaN", op=op)
    if not isinstance(value, str | int | float | bool | date):
        raise _fail(
            "operand", "'{op}' needs one value, got {got}", op=op, got=_describe_input(value)
        )
    return value


def _scalars(op: str, value: Any) -> list[Scalar]:
    if not isinstance(value, list) or not value:
        raise _fail(
            "operand",
            "'{op}' needs a non-empty list like [a, b], got {got}",
            op=op,
            got=_describe_input(value),
        )
    return [_scalar(op, item) for item in value]


class Condition(BaseModel):
    """A test on one field, or an ``all``/``any``/``not`` group of conditions.

    Null values never match a field test (``neq``/``not_in`` included); ``not``
    inverts the test as written, so ``not: {field: x, eq: 1}`` matches a null ``x``.
    """

    model_config = ConfigDict(
        extra="forbid",
        validate_by_name=True,
        validate_by_alias=True,
        title="Condition",
        json_schema_extra={
            "anyOf": [
                {
                    "required": ["field"],
                    "minProperties": 2,
                    "not": {"anyOf": [{"required": [k]} for k in ("all", "any", "not")]},
                },
                {"required": ["all"], "maxProperties": 1},
                {"required": ["any"], "maxProperties": 1},
                {"required": ["not"], "maxProperties": 1},
            ]
        },
    )

    field: Annotated[str | None, WithJsonSchema({"type": "string", "minLength": 1})] = Field(
        None, description="The input or enriched field this leaf tests."
    )
    eq: Annotated[Scalar | None, WithJsonSchema(_SCALAR_SCHEMA)] = Field(
        None, description=OPERATORS["eq"].help
    )
    neq: Annotated[Scalar | None, WithJsonSchema(_SCALAR_SCHEMA)] = Field(
        None, description=OPERATORS["neq"].help
    )
    in_: Annotated[list[Scalar] | None, WithJsonSchema(_SCALARS_SCHEMA)] = Field(
        None, alias="in", description=OPERATORS["in"].help
    )
    not_in: Annotated[list[Scalar] | None, WithJsonSchema(_SCALARS_SCHEMA)] = Field(
        None, description=OPERATORS["not_in"].help
    )
    gt: Annotated[Scalar | None, WithJsonSchema(_SCALAR_SCHEMA)] = Field(
        None, description=OPERATORS["gt"].help
    )
    gte: Annotated[Scalar | None, WithJsonSchema(_SCALAR_SCHEMA)] = Field(
        None, description=OPERATORS["gte"].help
    )
    lt: Annotated[Scalar | None, WithJsonSchema(_SCALAR_SCHEMA)] = Field(
        None, description=OPERATORS["lt"].help
    )
    lte: Annotated[Scalar | None, WithJsonSchema(_SCALAR_SCHEMA)] = Field(
        None, description=OPERATORS["lte"].help
    )
    between: Annotated[tuple[Scalar, Scalar] | None, WithJsonSchema(_PAIR_SCHEMA)] = Field(
        None, description=OPERATORS["between"].help
    )
    contains: Annotated[Scalar | None, WithJsonSchema(_SCALAR_SCHEMA)] = Field(
        None, description=OPERATORS["contains"].help
    )
    contains_any: Annotated[list[Scalar] | None, WithJsonSchema(_SCALARS_SCHEMA)] = Field(
        None, description=OPERATORS["contains_any"].help
    )
    contains_all: Annotated[list[Scalar] | None, WithJsonSchema(_SCALARS_SCHEMA)] = Field(
        None, description=OPERATORS["contains_all"].help
    )
    matches: Annotated[str | None, WithJsonSchema({"type": "string", "format": "regex"})] = Field(
        None, description=OPERATORS["matches"].help
    )
    exists: Annotated[bool | None, WithJsonSchema({"type": "boolean"})] = Field(
        None, description=OPERATORS["exists"].help
    )
    missing: Annotated[bool | None, WithJsonSchema({"type": "boolean"})] = Field(
        None, description=OPERATORS["missing"].help
    )
    within_last: Annotated[Duration | None, WithJsonSchema(_DURATION_SCHEMA)] = Field(
        None, description=OPERATORS["within_last"].help
    )
    more_than_ago: Annotated[Duration | None, WithJsonSchema(_DURATION_SCHEMA)] = Field(
        None, description=OPERATORS["more_than_ago"].help
    )
    before: Annotated[Instant | None, WithJsonSchema(_INSTANT_SCHEMA)] = Field(
        None, description=OPERATORS["before"].help
    )
    after: Annotated[Instant | None, WithJsonSchema(_INSTANT_SCHEMA)] = Field(
        None, description=OPERATORS["after"].help
    )
    all_: list[Condition] | None = Field(
        None, alias="all", min_length=1, description="Every one of these conditions holds."
    )
    any_: list[Condition] | None = Field(
        None, alias="any", min_length=1, description="At least one of these conditions holds."
    )
    not_: Condition | None = Field(
        None,
        alias="not",
        description="This condition does not hold (a null field counts as not holding).",
    )

    # Where each key sat in the YAML, for compile-time errors; set by the parser.
    _positions: dict[str, Position] = PrivateAttr(default_factory=dict)
    _source: str = PrivateAttr(default="<playbook>")

    @field_validator("field", mode="plain")
    @classmethod
    def _check_field(cls, value: Any, info: ValidationInfo) -> str:
        if not isinstance(value, str) or not value.strip():
            raise _fail(
                "field_name", "'field' needs a field name, got {got}", got=_describe_input(value)
            )
        known = (info.context or {}).get("known_fields")
        if known is not None and value not in known:
            raise _fail(
                "unknown_field", "unknown field '{name}'", did_you_mean(value, known), name=value
            )
        return value

    @field_validator("eq", "neq", "gt", "gte", "lt", "lte", "contains", mode="plain")
    @classmethod
    def _check_scalar(cls, value: Any, info: ValidationInfo) -> Scalar:
        return _scalar(_OPERATOR_OF[str(info.field_name)], value)

    @field_validator("in_", "not_in", "contains_any", "contains_all", mode="plain")
    @classmethod
    def _check_scalars(cls, value: Any, info: ValidationInfo) -> list[Scalar]:
        return _scalars(_OPERATOR_OF[str(info.field_name)], value)

    @field_validator("between", mode="plain")
    @classmethod
    def _check_between(cls, value: Any) -> tuple[Scalar, Scalar]:
        if not isinstance(value, list) or len(value) != 2:
            raise _fail(
                "operand", "'between' needs [low, high], got {got}", got=_describe_input(value)
            )
        low, high = (_scalar("between", item) for item in value)
        comparable = (
            isinstance(low, int | float)
            and isinstance(high, int | float)
            and not isinstance(low, bool)
            and not isinstance(high, bool)
        ) or (type(low) is type(high) and isinstance(low, date))
        if comparable and low > high:  # type: ignore[operator]
            raise _fail(
                "operand",
                "'between' needs [low, high] with low <= high, got [{low}, {high}]",
                low=str(low),
                high=str(high),
            )
        return (low, high)

    @field_validator("matches", mode="plain")
    @classmethod
    def _check_regex(cls, value: Any) -> str:
        if not isinstance(value, str):
            raise _fail(
                "operand",
                "'matches' needs a regular expression, got {got}",
                got=_describe_input(value),
            )
        try:
            # Validate with the engine that will run it: polars' (Rust) regex dialect
            # rejects look-around and backreferences that Python's re accepts.
            pl.select(pl.lit("").str.contains(value))
        except pl.exceptions.PolarsError as exc:
            raise _fail(
                "regex",
                "invalid regular expression {pattern}: {why}",
                pattern=repr(value),
                why=_regex_reason(exc),
            ) from None
        return value

    @field_validator("exists", "missing", mode="plain")
    @classmethod
    def _check_flag(cls, value: Any, info: ValidationInfo) -> bool:
        if not isinstance(value, bool):
            raise _fail(
                "operand",
                "'{op}' takes true or false, got {got}",
                op=info.field_name,
                got=_describe_input(value),
            )
        return value

    @field_validator("within_last", "more_than_ago", mode="plain")
    @classmethod
    def _check_duration(cls, value: Any, info: ValidationInfo) -> Duration:
        try:
            return parse_duration(value)
        except ValueError as exc:
            raise _fail("duration", "'{op}': {why}", op=info.field_name, why=str(exc)) from None

    @field_validator("before", "after", mode="plain")
    @classmethod
    def _check_instant(cls, value: Any, info: ValidationInfo) -> Instant:
        try:
            return parse_instant(value)
        except ValueError as exc:
            raise _fail("instant", "'{op}' {why}", op=info.field_name, why=str(exc)) from None

    @model_validator(mode="after")
    def _check_shape(self) -> Condition:
        groups = [k for k in ("all", "any", "not") if getattr(self, f"{k}_") is not None]
        operators = [name for name, _ in self.operators]
        if len(groups) > 1 or (groups and (operators or self.field is not None)):
            raise _fail(
                "shape",
                "a condition is either a field test or one of all/any/not, not both",
                "put them in separate conditions under 'all'",
            )
        if groups:
            return self
        if self.field is None and operators:
            raise _fail("shape", "'{op}' needs a 'field' to test", op=operators[0])
        if self.field is None:
            raise _fail(
                "shape",
                "empty condition",
                "write {field: NAME, OPERATOR: VALUE} or all/any/not",
            )
        if not operators:
            raise _fail(
                "shape",
                "field '{name}' has no operator",
                "add one of " + ", ".join(OPERATORS),
                name=self.field,
            )
        return self

    @field_serializer("within_last", "more_than_ago")
    def _dump_duration(self, value: Duration | None) -> str | None:
        return None if value is None else str(value)

    @field_serializer(
        *(a for n, a in _ATTRIBUTE.items() if n not in ("within_last", "more_than_ago")),
        when_used="json",
    )
    def _dump_operand(self, value: Any) -> Any:
        # The operands are validated by hand ("plain"), so pydantic's typed JSON
        # serializers second-guess them; write them out the way YAML/JSON spell them.
        return _json_operand(value)

    @property
    def kind(self) -> Literal["leaf", "all", "any", "not"]:
        """Which shape this condition has."""
        for group in ("all", "any", "not"):
            if getattr(self, f"{group}_") is not None:
                return group
        return "leaf"

    @property
    def operators(self) -> list[tuple[str, Any]]:
        """A leaf's ``(operator, operand)`` pairs, in the operator table's order."""
        pairs = []
        for name, attribute in _ATTRIBUTE.items():
            value = getattr(self, attribute)
            if value is not None:
                pairs.append((name, value))
        return pairs

    @property
    def children(self) -> list[Condition]:
        """The conditions a group holds (empty for a leaf)."""
        if self.all_ is not None:
            return list(self.all_)
        if self.any_ is not None:
            return list(self.any_)
        return [self.not_] if self.not_ is not None else []

    def fields_used(self) -> set[str]:
        """Every field this condition and its children test."""
        found = {self.field} if self.field is not None else set()
        for child in self.children:
            found |= child.fields_used()
        return found

    def position(self, key: str = "") -> Position | None:
        """Where ``key`` (an operator, ``field``; "" for the condition itself) was in the YAML."""
        return self._positions.get(key) or self._positions.get("")

    @property
    def source(self) -> str:
        """The file name this condition was parsed from."""
        return self._source


def _json_operand(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [_json_operand(item) for item in value]
    if isinstance(value, date):  # datetimes too
        return value.isoformat()
    return value


def _regex_reason(exc: Exception) -> str:
    # polars quotes the whole parser report; its "error: ..." line is the reason.
    for line in str(exc).splitlines():
        if line.strip().startswith("error:"):
            return line.strip()[len("error:") :].strip()
    return str(exc).splitlines()[0]
