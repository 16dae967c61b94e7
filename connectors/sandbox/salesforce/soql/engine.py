"""A SOQL engine for the sandbox's Salesforce dialect: parse, validate against describe, run.

Usage (the dialect supplies the describe ``d`` and the row access ``get``)::

    query = parse_soql("SELECT Id, Account.Industry FROM Contact WHERE Email LIKE '%@x.com'", d)
    rows = query.execute(candidate_ids, get, now=now)       # WHERE + ORDER BY + OFFSET/LIMIT
    records = [query.project(r, get, attributes=attrs) for r in rows]

Parsing is a real grammar (:mod:`.grammar`, lark LALR); binding here resolves object, field
and relationship names case-insensitively to their canonical spelling and type-checks every
literal against its field, raising :class:`SoqlError` with Salesforce's codes and messages
(``MALFORMED_QUERY``, ``INVALID_TYPE``, ``INVALID_FIELD``, ``INVALID_QUERY_FILTER_OPERATOR``,
``NUMBER_OUTSIDE_VALID_RANGE``). Evaluation (:mod:`.evaluate`) compiles the WHERE tree into
closures once per call, so 100k rows take well under a second.

Deliberately unsupported (rejected with ``MALFORMED_QUERY``): aggregates other than ``COUNT()``,
``GROUP BY``/``HAVING``, ``FIELDS()``, subqueries and semi-joins, ``TYPEOF``, ``WITH``,
``USING SCOPE``, ``FOR VIEW/UPDATE``, bind variables and object aliases.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from typing import Any, Protocol, TypeVar

from connectors.sandbox.salesforce.soql.evaluate import (
    BoundAndOr,
    BoundCmp,
    BoundCondition,
    BoundField,
    BoundNot,
    BoundOrder,
    Family,
    ProjField,
    ProjParent,
    compile_condition,
    date_literal_takes_n,
    family_of,
    formatter,
    normalizer,
    project_row,
    sort_rows,
)
from connectors.sandbox.salesforce.soql.grammar import (
    AndOr,
    Comparison,
    Condition,
    DateLiteral,
    FuncCall,
    Not,
    PathRef,
    SoqlError,
    StringLiteral,
    Value,
    located_message,
    malformed,
    parse_statement,
    unexpected,
)

__all__ = ["Describe", "FieldInfo", "SoqlError", "SoqlQuery", "parse_soql"]

R = TypeVar("R")

# Salesforce rejects OFFSET above 2,000 rows (SOQL reference, OFFSET).
MAX_OFFSET = 2000
# ORDER BY without NULLS FIRST/LAST: "By default, null values are sorted first" (SOQL reference,
# ORDER BY) -- stated without regard to ASC/DESC, so it applies to both.
DEFAULT_NULLS_FIRST = True

_ID_RE = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?")
_TYPE_NAMES: dict[Family, str] = {
    "string": "string",
    "id": "id",
    "boolean": "boolean",
    "int": "integer",
    "double": "double",
    "date": "date",
    "datetime": "dateTime",
}
_ACCEPTED_KINDS: dict[Family, frozenset[str]] = {
    "string": frozenset({"string"}),
    "id": frozenset({"string"}),
    "boolean": frozenset({"boolean"}),
    "int": frozenset({"int"}),
    "double": frozenset({"int", "decimal"}),
    "date": frozenset({"date", "date_literal"}),
    "datetime": frozenset({"datetime", "date_literal"}),
}
_CUSTOM_FIELD_HINT = (
    "If you are attempting to use a custom field, be sure to append the '__c' after the custom "
    "field name. Please reference your WSDL or the describe call for the appropriate names."
)
_CUSTOM_OBJECT_HINT = (
    "If you are attempting to use a custom object, be sure to append the '__c' after the entity "
    "name. Please reference your WSDL or the describe call for the appropriate names."
)
_CUSTOM_RELATIONSHIP_HINT = (
    "If you are attempting to use a custom relationship, be sure to append the '__r' after the "
    "custom relationship name. Please reference your WSDL or the describe call for the "
    "appropriate names."
)


@dataclass(frozen=True, slots=True)
class FieldInfo:
    """What the dialect's describe says about one field."""

    name: str
    type: str
    reference_to: str | None = None
    relationship_name: str | None = None


class Describe(Protocol):
    """Schema lookups the engine needs; every lookup is case-insensitive."""

    def object_name(self, name: str) -> str | None:
        """Canonical object name (``contact`` -> ``Contact``), or None when there is none."""
        ...

    def field(self, object_name: str, name: str) -> FieldInfo | None:
        """The field ``name`` on the (canonical) object, or None."""
        ...

    def relationship(self, object_name: str, name: str) -> str | None:
        """The parent object a relationship name leads to (``Account`` on Contact), or None."""
        ...


class SoqlQuery:
    """A parsed, validated query, ready to run against any rows the dialect hands it."""

    def __init__(
        self,
        text: str,
        object_name: str,
        fields: list[str],
        is_count: bool,
        where: BoundCondition | None,
        order_by: tuple[BoundOrder, ...],
        limit: int | None,
        offset: int,
        plan: tuple[ProjField | ProjParent, ...],
    ) -> None:
        self.text = text
        self.object_name = object_name
        self.fields = fields
        self.is_count = is_count
        self.where = where
        self.order_by = order_by
        self.limit = limit
        self.offset = offset
        self._plan = plan

    def __repr__(self) -> str:
        return f"SoqlQuery({self.text!r})"

    def execute(
        self,
        candidates: Iterable[R],
        get: Callable[[R, tuple[str, ...]], Any],
        now: datetime | None = None,
    ) -> list[R]:
        """Filter, sort and page ``candidates``: the rows of :attr:`object_name` the query returns.

        ``get(row, path)`` reads a value at a canonical path (None when unset or the parent is
        missing). Relative date literals are evaluated on ``now``'s UTC date (default: now).
        Without ORDER BY the candidates' order is kept.
        """
        moment = now or datetime.now(UTC)
        today = (moment.astimezone(UTC) if moment.tzinfo else moment).date()
        rows: Iterable[R] = candidates
        if self.where is not None:
            rows = filter(compile_condition(self.where, get, today), rows)
        stop = None if self.limit is None else self.offset + self.limit
        if not self.order_by or self.is_count:
            # No sort: stop reading candidates as soon as the page is full.
            return list(islice(rows, self.offset, stop))
        matched = list(rows)
        sort_rows(matched, self.order_by, get)
        return matched[self.offset : stop]

    def count(
        self,
        candidates: Iterable[R],
        get: Callable[[R, tuple[str, ...]], Any],
        now: datetime | None = None,
    ) -> int:
        """How many rows the query matches (what ``SELECT COUNT()`` reports as ``totalSize``)."""
        return len(self.execute(candidates, get, now))

    def project(
        self,
        row: R,
        get: Callable[[R, tuple[str, ...]], Any],
        attributes: Callable[[str, Any], dict[str, Any] | None] | None = None,
    ) -> dict[str, Any]:
        """One result record in REST JSON shape, fields in SELECT order.

        Parent fields nest (``{"Account": {"Industry": ...}}``), a missing parent is None,
        datetimes read ``2024-01-31T10:00:00.000+0000`` and dates ``2024-01-31``.
        ``attributes(object_name, handle)``, when given, supplies each record's ``attributes``
        block; ``handle`` is ``row`` for the record itself and ``get(row, ("Account",))`` for a
        parent.
        """
        return project_row(self._plan, self.object_name, row, row, get, attributes)


def parse_soql(text: str, describe: Describe) -> SoqlQuery:
    """Parse ``text`` and validate it against ``describe``; raise :class:`SoqlError` if invalid."""
    return _Binder(text, describe).bind()


class _Binder:
    """Resolves names in a parsed statement and type-checks its literals."""

    def __init__(self, text: str, describe: Describe) -> None:
        self._text = text
        self._describe = describe

    def bind(self) -> SoqlQuery:
        stmt = parse_statement(self._text)
        obj = self._describe.object_name(stmt.object_name)
        if obj is None:
            raise SoqlError(
                "INVALID_TYPE",
                located_message(
                    self._text,
                    stmt.object_offset,
                    f"sObject type '{stmt.object_name}' is not supported. {_CUSTOM_OBJECT_HINT}",
                ),
            )
        is_count, selected = self._select(obj, stmt.select)
        where = None if stmt.where is None else self._condition(obj, stmt.where)
        order = tuple(
            BoundOrder(
                self._path(obj, item.path)[0],
                item.descending,
                DEFAULT_NULLS_FIRST if item.nulls_first is None else item.nulls_first,
            )
            for item in stmt.order_by
        )
        if stmt.offset is not None and stmt.offset > MAX_OFFSET:
            raise SoqlError(
                "NUMBER_OUTSIDE_VALID_RANGE", f"Maximum SOQL offset allowed is {MAX_OFFSET}"
            )
        return SoqlQuery(
            text=self._text,
            object_name=obj,
            fields=[field.name for field, _ in selected],
            is_count=is_count,
            where=where,
            order_by=order,
            limit=stmt.limit,
            offset=stmt.offset or 0,
            plan=_projection_plan(selected),
        )

    # --- SELECT ---------------------------------------------------------------------------

    def _select(
        self, obj: str, items: tuple[PathRef | FuncCall, ...]
    ) -> tuple[bool, list[tuple[BoundField, list[tuple[str, str]]]]]:
        selected: list[tuple[BoundField, list[tuple[str, str]]]] = []
        seen: set[str] = set()
        is_count = False
        for item in items:
            if isinstance(item, FuncCall):
                self._function(item, len(items))
                is_count = True
                continue
            field, hops = self._path(obj, item)
            lowered = field.name.lower()
            if lowered in seen:
                raise SoqlError("INVALID_FIELD", f"duplicate field selected: {field.name}")
            seen.add(lowered)
            selected.append((field, hops))
        return is_count, selected

    def _function(self, item: FuncCall, n_items: int) -> None:
        name = item.name.upper()
        if name == "COUNT" and item.arg is None:
            if n_items > 1:
                raise malformed(
                    self._text, item.offset, "COUNT() must be the only element in the SELECT list"
                )
            return
        if name == "FIELDS":
            raise malformed(
                self._text,
                item.offset,
                f"FIELDS({item.arg or ''}) is not supported by the sandbox; "
                "list the fields to select",
            )
        if name in ("COUNT", "COUNT_DISTINCT", "SUM", "AVG", "MIN", "MAX"):
            raise malformed(
                self._text,
                item.offset,
                "aggregate functions other than COUNT() are not supported by the sandbox",
            )
        raise malformed(
            self._text, item.offset, f"function {item.name}() is not supported by the sandbox"
        )

    # --- names ----------------------------------------------------------------------------

    def _path(self, obj: str, ref: PathRef) -> tuple[BoundField, list[tuple[str, str]]]:
        """Resolve a dotted reference; also return its (relationship, parent object) hops."""
        parts = list(ref.parts)
        describe = self._describe
        if (
            len(parts) > 1
            and parts[0].lower() == obj.lower()
            and describe.relationship(obj, parts[0]) is None
        ):
            # "SELECT Contact.FirstName FROM Contact": the object's own name may prefix a path.
            parts = parts[1:]
        current = obj
        canonical: list[str] = []
        hops: list[tuple[str, str]] = []
        for segment in parts[:-1]:
            target = describe.relationship(current, segment)
            if target is None:
                raise SoqlError(
                    "INVALID_FIELD",
                    located_message(
                        self._text,
                        ref.offset,
                        f"Didn't understand relationship '{segment}' in field path. "
                        f"{_CUSTOM_RELATIONSHIP_HINT}",
                    ),
                )
            relationship = self._relationship_name(current, segment)
            canonical.append(relationship)
            hops.append((relationship, target))
            current = target
        info = describe.field(current, parts[-1])
        if info is None:
            raise SoqlError(
                "INVALID_FIELD",
                located_message(
                    self._text,
                    ref.offset,
                    f"No such column '{parts[-1]}' on entity '{current}'. {_CUSTOM_FIELD_HINT}",
                ),
            )
        canonical.append(info.name)
        return BoundField(tuple(canonical), info.type, family_of(info.type)), hops

    def _relationship_name(self, obj: str, name: str) -> str:
        """Canonical spelling of a relationship, read off its lookup field (``AccountId``)."""
        candidates = [name + "Id"]
        if name.lower().endswith("__r"):
            candidates.append(name[:-3] + "__c")
        for candidate in candidates:
            info = self._describe.field(obj, candidate)
            if info is not None and (info.relationship_name or "").lower() == name.lower():
                return info.relationship_name or name
        return name

    # --- WHERE ----------------------------------------------------------------------------

    def _condition(self, obj: str, node: Condition) -> BoundCondition:
        if isinstance(node, Not):
            return BoundNot(self._condition(obj, node.operand))
        if isinstance(node, AndOr):
            return BoundAndOr(node.op, tuple(self._condition(obj, c) for c in node.operands))
        return self._comparison(obj, node)

    def _comparison(self, obj: str, node: Comparison) -> BoundCmp:
        field, _ = self._path(obj, node.path)
        if node.op == "LIKE":
            return BoundCmp(field, "LIKE", (self._like_pattern(field, node),))
        values = tuple(self._literal(field, node, v) for v in node.values)
        return BoundCmp(field, node.op, values)

    def _like_pattern(self, field: BoundField, node: Comparison) -> re.Pattern[str] | None:
        if field.family == "id":
            raise SoqlError(
                "INVALID_QUERY_FILTER_OPERATOR",
                located_message(self._text, node.path.offset, "invalid operator on id field"),
            )
        value = node.values[0]
        self._check_date_literal(value)
        if value.kind == "null":
            return None
        if field.family != "string" or value.kind != "string":
            raise self._type_error(field, node)
        literal: StringLiteral = value.payload
        # LIKE is case-insensitive; % and _ may span newlines in stored text.
        return re.compile(literal.like_regex, re.IGNORECASE | re.DOTALL)

    def _literal(self, field: BoundField, node: Comparison, value: Value) -> Any:
        """Type-check one literal against the field and normalise it for comparison."""
        self._check_date_literal(value)
        if value.kind == "null":
            # A boolean is never null in Salesforce: "= null" means false.
            return False if field.family == "boolean" else None
        if value.kind not in _ACCEPTED_KINDS[field.family]:
            raise self._type_error(field, node)
        if value.kind == "string":
            literal: StringLiteral = value.payload
            if literal.like_escape_at is not None:
                body = value.raw[1:-1]
                escape = self._text[literal.like_escape_at : literal.like_escape_at + 2]
                raise malformed(
                    self._text,
                    value.offset,
                    f"Invalid string literal '{body}'. Illegal character sequence "
                    f"'{escape}' in string literal.",
                )
            if field.family == "id" and not _ID_RE.fullmatch(literal.text):
                raise SoqlError(
                    "INVALID_QUERY_FILTER_OPERATOR",
                    located_message(
                        self._text, node.path.offset, f"invalid ID field: {literal.text}"
                    ),
                )
            return normalizer(field.family)(literal.text)
        if value.kind == "decimal":
            return float(value.payload)
        return value.payload  # int, boolean, date, datetime (UTC), DateLiteral

    def _check_date_literal(self, value: Value) -> None:
        if value.kind != "date_literal":
            return
        literal: DateLiteral = value.payload
        takes_n = date_literal_takes_n(literal.name)
        if takes_n is None or takes_n != (literal.n is not None):
            raise unexpected(self._text, value.offset, value.raw)

    def _type_error(self, field: BoundField, node: Comparison) -> SoqlError:
        quoted = field.family in ("string", "id")
        detail = (
            f"value of filter criterion for field '{field.path[-1]}' must be of type "
            f"{_TYPE_NAMES[field.family]} and should {'' if quoted else 'not '}"
            "be enclosed in quotes"
        )
        return SoqlError("INVALID_FIELD", located_message(self._text, node.path.offset, detail))


def _projection_plan(
    selected: list[tuple[BoundField, list[tuple[str, str]]]],
) -> tuple[ProjField | ProjParent, ...]:
    """Group selected paths into nested parents, keeping first-appearance order."""

    @dataclass
    class _Node:
        object_name: str
        entries: dict[str, ProjField | _Node]

    root = _Node("", {})
    for field, hops in selected:
        node = root
        for relationship, target in hops:
            child = node.entries.get(relationship)
            if not isinstance(child, _Node):
                child = _Node(target, {})
                node.entries[relationship] = child
            node = child
        node.entries[field.path[-1]] = ProjField(
            field.path[-1], field.path, formatter(field.family)
        )

    def freeze(node: _Node, prefix: tuple[str, ...]) -> tuple[ProjField | ProjParent, ...]:
        out: list[ProjField | ProjParent] = []
        for key, entry in node.entries.items():
            if isinstance(entry, ProjField):
                out.append(entry)
            else:
                path = (*prefix, key)
                out.append(ProjParent(key, path, entry.object_name, freeze(entry, path)))
        return tuple(out)

    return freeze(root, ())
