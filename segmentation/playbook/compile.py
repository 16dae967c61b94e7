"""Conditions and rule models compiled to polars expressions over the whole frame.

Every condition becomes one boolean expression that is never null (a test on a
null value is false), and every field test also yields a reason fragment such as
``2400 employees >= 1000`` built column-wise with ``concat_str``. A model
becomes two first-match-wins ``when/then`` chains: the segment value and the reason.
Nothing here loops over rows.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

import polars as pl

from segmentation.playbook.condition import Condition
from segmentation.playbook.dates import Duration
from segmentation.playbook.describe import describe_condition
from segmentation.playbook.errors import PlaybookError, PlaybookIssue, did_you_mean
from segmentation.playbook.literals import (
    Kind,
    LiteralMismatch,
    datetime_literal,
    fit,
    inner_of,
    kind_of,
    normalize,
    type_name,
)
from segmentation.playbook.model import Playbook, RuleModel
from segmentation.playbook.phrases import phrase_of
from segmentation.playbook.render import (
    NULL_TEXT,
    PERSONAL_FIELDS,
    as_list,
    counted,
    days_ago_text,
    operator_text,
    value_text,
)

Schema = Mapping[str, Any]  # field name -> polars dtype (class or instance)

_ORDERING = {"gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le}
_ORDERED_KINDS: tuple[Kind, ...] = ("numeric", "date", "datetime")
_TEXT_KINDS: tuple[Kind, ...] = ("string", "list")


@dataclass(frozen=True, slots=True)
class Compiled:
    """A condition's boolean expression and its reason fragment (meaningful where it matches)."""

    match: pl.Expr
    reason: pl.Expr


class _Unfit(Exception):
    """An operator that cannot apply to a field; recorded as an issue, compilation goes on."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class _Compiler:
    """Compiles conditions against one schema, collecting every problem before raising."""

    def __init__(self, schema: Schema, now: datetime, redact: Collection[str]) -> None:
        self.schema = {name: normalize(dtype) for name, dtype in schema.items()}
        self.now = now
        self.redact = frozenset(redact)
        self.where = ""
        # Rows whose reason is wanted (None: all); see value_text.
        self.mask: pl.Expr | None = None
        self.negated = 0  # how many "not" groups enclose the condition being compiled
        self.issues: list[PlaybookIssue] = []

    def raise_if_any(self) -> None:
        if self.issues:
            raise PlaybookError(self.issues)

    def problem(self, condition: Condition, key: str, message: str, hint: str | None) -> None:
        text = (
            message + (f" in {self.where}" if self.where else "") + (f" — {hint}" if hint else "")
        )
        position = condition.position(key)
        self.issues.append(
            PlaybookIssue(
                condition.source,
                position.line if position else None,
                position.column if position else None,
                text,
            )
        )

    def condition(self, condition: Condition) -> Compiled:
        if condition.kind == "leaf":
            return self.leaf(condition)
        self.negated += condition.kind == "not"
        try:
            children = [self.condition(child) for child in condition.children]
        finally:
            self.negated -= condition.kind == "not"
        if condition.kind == "not":
            (child,) = children
            inner = condition.children[0]
            # A failed leaf still has its values worth showing; a failed group reads best as text.
            shown = child.reason if inner.kind == "leaf" else pl.lit(describe_condition(inner))
            return Compiled(~child.match, pl.concat_str(pl.lit("not ("), shown, pl.lit(")")))
        if condition.kind == "all":
            return Compiled(
                pl.all_horizontal(c.match for c in children),
                pl.concat_str([c.reason for c in children], separator=" and "),
            )
        # any: the reason names the first branch that matched.
        reason: pl.Expr = pl.lit(None, dtype=pl.String)
        for child in reversed(children):
            reason = pl.when(child.match).then(child.reason).otherwise(reason)
        return Compiled(pl.any_horizontal(c.match for c in children), reason)

    def leaf(self, condition: Condition) -> Compiled:
        field = str(condition.field)
        failed = Compiled(pl.lit(False), pl.lit(""))
        if field not in self.schema:
            self.problem(
                condition,
                "field",
                f"unknown field '{field}'",
                did_you_mean(field, self.schema),
            )
            return failed
        dtype = self.schema[field]
        tests = []
        for op, operand in condition.operators:
            try:
                tests.append(self.test(field, dtype, op, operand))
            except _Unfit as exc:
                self.problem(condition, op, exc.message, exc.hint)
        if len(tests) != len(condition.operators):
            return failed
        match = functools.reduce(operator.and_, tests).fill_null(False)
        return Compiled(match, self.leaf_reason(condition, field, dtype))

    def leaf_reason(self, condition: Condition, field: str, dtype: pl.DataType) -> pl.Expr:
        """What a field test says in a reason, for the people reading it in the CRM.

        ``3.4 activities/month >= 1.5``, ``last engaged 12 days ago (within last 30
        days)``, ``CRM stage == customer``, ``job title VP Marketing matches /^vp/``:
        the field's phrase (:mod:`~segmentation.playbook.phrases`), the record's value
        rounded, then the test as written in the playbook.
        """
        phrase = phrase_of(field)
        ops = [op for op, _ in condition.operators]
        wording = " and ".join(operator_text(op, operand) for op, operand in condition.operators)
        if all(op in ("exists", "missing") for op in ops):
            # "email exists" says it all; the value itself is noise (or personal).
            return pl.lit(f"{phrase.label} {wording}")
        # A matching field test saw a value; only under "not", or with exists: false /
        # missing: true beside other operators, can the value shown be null.
        null_text = self.negated > 0 or any(
            (op == "missing") == bool(operand)
            for op, operand in condition.operators
            if op in ("exists", "missing")
        )
        redacted = field in self.redact
        kind = kind_of(dtype)
        if not redacted and kind in ("date", "datetime") and set(ops) <= _RELATIVE:
            when = self.days_ago(field, dtype, kind)
            shown = when.fill_null(NULL_TEXT) if null_text else when
            return pl.concat_str(pl.lit(f"{phrase.label} "), shown, pl.lit(f" ({wording})"))
        if ops == ["eq"] and not self.negated and not redacted and not phrase.is_count:
            # A match means the value is the operand: say it once.
            return pl.lit(f"{phrase.label} {wording}")
        shown = value_text(
            field,
            dtype,
            redact=redacted,
            mask=self.mask,
            null_text=null_text,
            avoid=_numeric_operands(condition),
        )
        if phrase.is_count and kind == "numeric" and not redacted:
            assert phrase.one is not None and phrase.many is not None
            amount = counted(shown, phrase.one, phrase.many)
            if null_text:
                empty = pl.lit(f"{phrase.label} {NULL_TEXT}")
                amount = pl.when(pl.col(field).is_null()).then(empty).otherwise(amount)
            return pl.concat_str(amount, pl.lit(f" {wording}"))
        return pl.concat_str(pl.lit(f"{phrase.label} "), shown, pl.lit(f" {wording}"))

    def days_ago(self, field: str, dtype: pl.DataType, kind: Kind) -> pl.Expr:
        """Whole days from the field's value to now, as words, on the masked rows."""
        column = pl.col(field) if self.mask is None else pl.when(self.mask).then(pl.col(field))
        if kind == "date":
            days = (pl.lit(self.now.date()) - column).dt.total_days()
        else:
            elapsed = datetime_literal(self.now, dtype) - column
            days = elapsed.dt.total_seconds() // 86_400
        return days_ago_text(days)

    def test(self, field: str, dtype: pl.DataType, op: str, operand: Any) -> pl.Expr:
        kind = kind_of(dtype)
        column = pl.col(field)
        if kind == "null":
            # An all-null column (e.g. an empty CSV column) matches only "missing"
            # (is_null/is_not_null rather than a literal, to keep the frame's length).
            return column.is_null() if _null_column_result(op, operand) else column.is_not_null()
        if op in ("exists", "missing"):
            absent = _absent(column, dtype, kind)
            return absent if (op == "missing") == bool(operand) else ~absent
        if kind == "other":
            raise _Unfit(
                f"'{op}' cannot test field '{field}' of type {dtype}",
                "rules test numbers, text, true/false, dates, datetimes and lists",
            )
        if kind == "numeric" and dtype.is_float():
            # polars orders NaN above every number (NaN > 1 is true); a CRM export's
            # NaN means "no value", so it must not match like one.
            column = column.fill_nan(None)
        handler = _HANDLERS[op]
        return handler(self, column, field, dtype, kind, op, operand)

    # --- operator families -------------------------------------------------------------

    def equality(
        self, column: pl.Expr, field: str, dtype: pl.DataType, kind: Kind, op: str, operand: Any
    ) -> pl.Expr:
        _refuse_list(kind, field, dtype, op)
        value = _fit(operand, dtype, field, op)
        left, right = _comparable(column, kind, dtype, value)
        return left == right if op == "eq" else left != right

    def membership(
        self, column: pl.Expr, field: str, dtype: pl.DataType, kind: Kind, op: str, operand: Any
    ) -> pl.Expr:
        _refuse_list(kind, field, dtype, op)
        values = [_fit(item, dtype, field, op) for item in operand]
        found = _is_in(column, kind, dtype, values)
        return found if op == "in" else ~found

    def ordering(
        self, column: pl.Expr, field: str, dtype: pl.DataType, kind: Kind, op: str, operand: Any
    ) -> pl.Expr:
        _require(kind, _ORDERED_KINDS, field, dtype, op, "compares numbers, dates and datetimes")
        left, right = _comparable(column, kind, dtype, _fit(operand, dtype, field, op))
        return _ORDERING[op](left, right)

    def between(
        self, column: pl.Expr, field: str, dtype: pl.DataType, kind: Kind, op: str, operand: Any
    ) -> pl.Expr:
        _require(kind, _ORDERED_KINDS, field, dtype, op, "compares numbers, dates and datetimes")
        low, high = (_fit(v, dtype, field, op) for v in operand)
        if kind == "datetime" and isinstance(low, datetime) != isinstance(high, datetime):
            # Mixed ends: a bare date means that day from midnight on both ends.
            low, high = (_at_midnight(v) for v in (low, high))
        left, low_lit = _comparable(column, kind, dtype, low)
        _, high_lit = _comparable(column, kind, dtype, high)
        return left.is_between(low_lit, high_lit, closed="both")

    def containment(
        self, column: pl.Expr, field: str, dtype: pl.DataType, kind: Kind, op: str, operand: Any
    ) -> pl.Expr:
        _require(kind, _TEXT_KINDS, field, dtype, op, "looks inside text and list fields")
        wanted = operand if isinstance(operand, list) else [operand]
        values = [_fit(v, dtype, field, op) for v in wanted]
        if kind == "string":
            text = column.cast(pl.String).str.to_lowercase()
            needles = [str(v).lower() for v in values]
            if op == "contains_any":
                return text.str.contains_any(needles)
            return functools.reduce(
                operator.and_, (text.str.contains(n, literal=True) for n in needles)
            )
        items = as_list(column, dtype)
        if kind_of(inner_of(dtype)) == "string":
            lowered = [str(v).lower() for v in values]
            elements = pl.element().cast(pl.String).str.to_lowercase()
            if op == "contains_any":
                return items.list.eval(elements.is_in(lowered)).list.any()
            return functools.reduce(
                operator.and_, (items.list.eval(elements == v).list.any() for v in lowered)
            )
        if op == "contains_any":
            return items.list.eval(pl.element().is_in(values)).list.any()
        return functools.reduce(operator.and_, (items.list.contains(v) for v in values))

    def regex(
        self, column: pl.Expr, field: str, dtype: pl.DataType, kind: Kind, op: str, operand: Any
    ) -> pl.Expr:
        if kind == "list" and kind_of(inner_of(dtype)) == "string":
            return as_list(column, dtype).list.eval(pl.element().str.contains(operand)).list.any()
        _require(kind, ("string",), field, dtype, op, "needs a text field (or a list of text)")
        return column.cast(pl.String).str.contains(operand)

    def relative(
        self, column: pl.Expr, field: str, dtype: pl.DataType, kind: Kind, op: str, operand: Any
    ) -> pl.Expr:
        _require(kind, ("date", "datetime"), field, dtype, op, "needs a date or datetime field")
        assert isinstance(operand, Duration)
        cutoff = operand.before(self.now)
        if kind == "date":
            since, until = pl.lit(cutoff.date()), pl.lit(self.now.date())
        else:
            since, until = datetime_literal(cutoff, dtype), datetime_literal(self.now, dtype)
        if op == "within_last":
            # Within the last N days means up to now: future dates are not "recent activity".
            return column.is_between(since, until, closed="both")
        return column < since

    def absolute(
        self, column: pl.Expr, field: str, dtype: pl.DataType, kind: Kind, op: str, operand: Any
    ) -> pl.Expr:
        _require(kind, ("date", "datetime"), field, dtype, op, "needs a date or datetime field")
        left, right = _comparable(column, kind, dtype, _fit(operand, dtype, field, op))
        return left < right if op == "before" else left > right


_RELATIVE = frozenset({"within_last", "more_than_ago"})


def _numeric_operands(condition: Condition) -> list[float]:
    """The numbers a leaf compares with (the values its reason must not round onto)."""
    numbers: list[float] = []
    for op, operand in condition.operators:
        if op in ("gt", "gte", "lt", "lte", "between", "eq", "neq"):
            for value in operand if isinstance(operand, list | tuple) else [operand]:
                if isinstance(value, int | float) and not isinstance(value, bool):
                    numbers.append(float(value))
    return numbers


Handler = Callable[[_Compiler, pl.Expr, str, pl.DataType, Kind, str, Any], pl.Expr]
_HANDLERS: dict[str, Handler] = {
    "eq": _Compiler.equality,
    "neq": _Compiler.equality,
    "in": _Compiler.membership,
    "not_in": _Compiler.membership,
    "gt": _Compiler.ordering,
    "gte": _Compiler.ordering,
    "lt": _Compiler.ordering,
    "lte": _Compiler.ordering,
    "between": _Compiler.between,
    "contains": _Compiler.containment,
    "contains_any": _Compiler.containment,
    "contains_all": _Compiler.containment,
    "matches": _Compiler.regex,
    "within_last": _Compiler.relative,
    "more_than_ago": _Compiler.relative,
    "before": _Compiler.absolute,
    "after": _Compiler.absolute,
}


def _fit(value: Any, dtype: pl.DataType, field: str, op: str) -> Any:
    try:
        return fit(value, dtype, whole=op not in ("contains", "contains_any", "contains_all"))
    except LiteralMismatch as exc:
        hint = None
        if isinstance(value, bool) and kind_of(dtype) == "string":
            hint = "YAML reads unquoted yes/no/on/off/true/false as a boolean; quote it"
        elif isinstance(value, int | float) and kind_of(dtype) in ("string", "list"):
            hint = "quote the value to compare it as text"
        raise _Unfit(f"'{op}' on {type_name(dtype)} field '{field}' {exc}", hint) from None


def _require(
    kind: Kind, kinds: tuple[Kind, ...], field: str, dtype: pl.DataType, op: str, does: str
) -> None:
    if kind not in kinds:
        raise _Unfit(f"'{op}' cannot test {type_name(dtype)} field '{field}'", f"'{op}' {does}")


def _refuse_list(kind: Kind, field: str, dtype: pl.DataType, op: str) -> None:
    if kind == "list":
        raise _Unfit(
            f"'{op}' cannot test {type_name(dtype)} field '{field}'",
            "use contains, contains_any or contains_all on lists",
        )


def _comparable(
    column: pl.Expr, kind: Kind, dtype: pl.DataType, value: Any
) -> tuple[pl.Expr, pl.Expr]:
    """Column and literal in a form polars compares without a schema error."""
    if kind == "datetime":
        if isinstance(value, datetime):
            return column, datetime_literal(value, dtype)
        # A bare date against a datetime compares the calendar day (in the column's zone).
        return column.dt.date(), pl.lit(value)
    return column, pl.lit(value)


def _is_in(column: pl.Expr, kind: Kind, dtype: pl.DataType, values: list[Any]) -> pl.Expr:
    if kind == "numeric":
        # polars 2 refuses is_in across int/float lists; compare as floats when needed.
        if dtype.is_integer() and all(float(v).is_integer() for v in values):
            return column.is_in([int(v) for v in values])
        return column.cast(pl.Float64).is_in([float(v) for v in values])
    if kind == "datetime":
        return functools.reduce(
            operator.or_, (operator.eq(*_comparable(column, kind, dtype, v)) for v in values)
        )
    if kind == "string":
        return column.cast(pl.String).is_in([str(v) for v in values])
    return column.is_in(values)


def _absent(column: pl.Expr, dtype: pl.DataType, kind: Kind) -> pl.Expr:
    """Null, blank text, NaN or an empty list: what a CRM export means by "no value"."""
    if kind == "string":
        return column.is_null() | (column.cast(pl.String).str.strip_chars() == "")
    if kind == "numeric" and dtype.is_float():
        return column.is_null() | column.is_nan()
    if kind == "list":
        return column.is_null() | (as_list(column, dtype).list.len() == 0)
    return column.is_null()


def _null_column_result(op: str, operand: Any) -> bool:
    if op == "missing":
        return bool(operand)
    if op == "exists":
        return not operand
    return False


def _at_midnight(value: date | datetime) -> datetime:
    return value if isinstance(value, datetime) else datetime.combine(value, time())


def compile_condition(
    condition: Condition,
    schema: Schema,
    now: datetime,
    *,
    where: str = "",
) -> pl.Expr:
    """A boolean expression, never null, that is true where ``condition`` holds.

    ``schema`` maps field names to polars dtypes (``df.schema`` will do); ``now``
    anchors relative dates. Raises :class:`PlaybookError` naming each field whose
    type does not fit its operator or literal; ``where`` (e.g. "rule x of model y")
    is added to those messages.
    """
    compiler = _Compiler(schema, now, PERSONAL_FIELDS)
    compiler.where = where
    compiled = compiler.condition(condition)
    compiler.raise_if_any()
    return compiled.match


def compile_model(
    model: RuleModel,
    schema: Schema,
    now: datetime,
    *,
    redact: Collection[str] = PERSONAL_FIELDS,
) -> tuple[pl.Expr, pl.Expr]:
    """The segment-value and reason expressions (both text) of one rule model.

    The first rule whose condition holds gives the value and the reason
    ``VALUE: phrase value op operand ...`` (``engaged: 3.4 activities/month >= 1.5``);
    rows no rule matches get the fallback and ``VALUE: no rule matched (the
    fallback)``. The expressions are
    aliased to the model's output and ``reason_<model>`` columns. Values of
    ``redact`` fields are shown as ``<redacted>`` in reasons. Raises
    :class:`PlaybookError` listing every rule whose fields do not fit ``schema``.
    """
    compiler = _Compiler(schema, now, redact)
    matches = []
    for rule in model.rules:
        compiler.where = f"rule {rule.name} of model {model.name}"
        matches.append(compiler.condition(rule.when).match)
    compiler.raise_if_any()
    if model.fallback is None:
        value = pl.lit(None, dtype=pl.String)
        fallback_reason = pl.lit("no rule matched and no fallback: left empty")
    else:
        value = pl.lit(model.fallback, dtype=pl.String)
        fallback_reason = pl.lit(f"{model.fallback}: no rule matched (the fallback)")
    # Built from the last rule back so that the first rule is the outermost test.
    for rule, match in zip(reversed(model.rules), reversed(matches), strict=True):
        value = pl.when(match).then(pl.lit(rule.segment, dtype=pl.String)).otherwise(value)
    # Each rule's reason is rendered only on the rows that rule decides (it matches
    # and no earlier rule did) and is null elsewhere, so a coalesce assembles the
    # column: rendering every rule's values on every row costs several times more.
    # The masks are plain boolean algebra over the match expressions, which polars'
    # common-subexpression elimination (lazy mode) computes once; it does not look
    # inside when/then, so a when-based "which rule" index would be re-evaluated.
    reasons = []
    earlier: pl.Expr | None = None
    for rule, match in zip(model.rules, matches, strict=True):
        decided = match if earlier is None else match & ~earlier
        compiler.mask = decided
        fragment = compiler.condition(rule.when).reason
        # The value leads, as the rep sees it in the segment field; not the rule's name.
        prefixed = pl.concat_str(pl.lit(f"{rule.segment}: "), fragment)
        reasons.append(pl.when(decided).then(prefixed))
        earlier = match if earlier is None else earlier | match
    reason = pl.coalesce(*reasons, fallback_reason)
    return value.alias(model.resolved_output), reason.alias(model.reason_output)


def compile_playbook(
    playbook: Playbook,
    schema: Schema,
    now: datetime,
    *,
    redact: Collection[str] | None = None,
) -> dict[str, tuple[pl.Expr, pl.Expr]]:
    """:func:`compile_model` for every model, reporting the problems of all models at once.

    ``redact`` defaults to the built-in personal fields plus fields the playbook
    declares ``personal: true``.
    """
    hidden = set(PERSONAL_FIELDS if redact is None else redact) | playbook.personal_fields()
    compiled: dict[str, tuple[pl.Expr, pl.Expr]] = {}
    issues: list[PlaybookIssue] = []
    for name, model in playbook.models.items():
        try:
            compiled[name] = compile_model(model, schema, now, redact=hidden)
        except PlaybookError as exc:
            issues += exc.errors
    if issues:
        raise PlaybookError(issues)
    return compiled
