"""SOQL syntax: the lark grammar, the syntax tree it produces and Salesforce-style errors.

Only syntax lives here: names are not resolved and literals are not type-checked (that is
:mod:`connectors.sandbox.salesforce.soql.engine`'s job, against the org's describe). The
grammar covers the subset a
sync tool sends through REST ``query``/``queryAll``::

    SELECT field, Parent.Field, COUNT() FROM Object
      [WHERE condition] [ORDER BY field [ASC|DESC] [NULLS FIRST|LAST], ...]
      [LIMIT n] [OFFSET n]

Conditions follow SOQL, not SQL: ``NOT`` binds tightest, and ``AND`` and ``OR`` may not be mixed
at one level without parentheses -- the grammar simply has no production for it, so
``a AND b OR c`` fails at ``OR`` exactly like Salesforce ("unexpected token: 'OR'").

Errors carry Salesforce's codes and its message layout: the offending line (a window of it for
long lines), a caret, ``ERROR at Row:r:Column:c`` and the detail.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from functools import lru_cache
from typing import Any, Literal

from lark import Lark, Token, Transformer
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken, VisitError

__all__ = [
    "AndOr",
    "Comparison",
    "Condition",
    "DateLiteral",
    "FuncCall",
    "Not",
    "OrderItem",
    "PathRef",
    "SoqlError",
    "Statement",
    "StringLiteral",
    "Value",
    "ValueKind",
    "located_message",
    "parse_statement",
]

# Keywords are regexes with a word boundary and a priority above NAME, so ``NotesCount__c``
# stays a field and ``NOT`` is the operator. SOQL's reserved words (SOQL reference, "Reserved
# Keywords") can never be names, so ``SELECT FROM x`` fails at FROM as in Salesforce; the other
# keywords are only offered where the grammar accepts them (contextual lexer), which keeps them
# usable as names (``FROM Order``, a field called ``Offset__c``).
_GRAMMAR = r"""
start: SELECT select_list _FROM NAME where? order? limit? offset?

select_list: select_item ("," select_item)*
?select_item: path | func
func: NAME "(" NAME? ")"
path: NAME ("." NAME)*

where: _WHERE condition
?condition: unary | and_chain | or_chain
and_chain: unary (_AND unary)+
or_chain: unary (_OR unary)+
?unary: NOT unary -> negation
      | "(" condition ")"
      | comparison

comparison: path OPERATOR value          -> compare
          | path LIKE value              -> like
          | path IN value_list           -> in_list
          | path NOT IN value_list       -> not_in_list
          | path IN semi_join            -> semi_join_cmp
          | path NOT IN semi_join        -> semi_join_cmp
value_list: "(" value ("," value)* ")"
semi_join: "(" SELECT select_list _FROM NAME where? ")"
?value: STRING                           -> string_value
      | DATETIME                         -> datetime_value
      | DATE                             -> date_value
      | NUMBER                           -> number_value
      | NULL                             -> null_value
      | NAME (":" NUMBER)?               -> name_value

order: _ORDER _BY order_item ("," order_item)*
order_item: path direction? nulls?
direction: ASC | DESC
nulls: _NULLS (FIRST | LAST)
limit: LIMIT NUMBER
offset: OFFSET NUMBER

SELECT.2: /select\b/i
_FROM.2: /from\b/i
_WHERE.2: /where\b/i
_AND.2: /and\b/i
_OR.2: /or\b/i
NOT.2: /not\b/i
IN.2: /in\b/i
LIKE.2: /like\b/i
_ORDER.2: /order\b/i
_BY.2: /by\b/i
ASC.2: /asc\b/i
DESC.2: /desc\b/i
_NULLS.2: /nulls\b/i
FIRST.2: /first\b/i
LAST.2: /last\b/i
LIMIT.2: /limit\b/i
OFFSET.2: /offset\b/i
NULL.2: /null\b/i
NAME: /(?!(?:%RESERVED%)\b)[a-z_][a-z0-9_]*/i
OPERATOR: /!=|<>|<=|>=|=|<|>/
STRING: /'(?:[^'\\]|\\.)*'/s
DATETIME.4: /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})/i
DATE.3: /\d{4}-\d{2}-\d{2}/
NUMBER.2: /[+-]?(?:\d+(?:\.\d*)?|\.\d+)/

%ignore /\s+/
"""
_RESERVED = (
    "and asc desc excludes first from group having in includes last like limit not null nulls "
    "or select where with"
)
_GRAMMAR = _GRAMMAR.replace("%RESERVED%", "|".join(_RESERVED.split()))

ValueKind = Literal[
    "string", "int", "decimal", "boolean", "null", "date", "datetime", "date_literal"
]


class SoqlError(Exception):
    """A query Salesforce would refuse: ``error_code`` (e.g. ``MALFORMED_QUERY``) and message.

    The dialect answers it as HTTP 400 ``[{"message": message, "errorCode": error_code}]``.
    """

    def __init__(self, error_code: str, message: str) -> None:
        super().__init__(f"{error_code}: {message}")
        self.error_code = error_code
        self.message = message


@dataclass(frozen=True, slots=True)
class PathRef:
    """A dotted field reference as written (``account.Industry``) and where it starts."""

    parts: tuple[str, ...]
    offset: int

    @property
    def text(self) -> str:
        """The reference as written."""
        return ".".join(self.parts)


@dataclass(frozen=True, slots=True)
class FuncCall:
    """A function in the select list: ``COUNT()``, ``FIELDS(ALL)``..."""

    name: str
    arg: str | None
    offset: int


@dataclass(frozen=True, slots=True)
class StringLiteral:
    """A quoted string, decoded both ways because ``\\%``/``\\_`` only mean something to LIKE.

    ``text`` is the plain value; ``like_regex`` the anchored pattern for LIKE;
    ``like_escape_at`` the offset of a LIKE-only escape (an error outside LIKE).
    """

    text: str
    like_regex: str
    like_escape_at: int | None


@dataclass(frozen=True, slots=True)
class DateLiteral:
    """A relative date literal such as ``TODAY`` or ``LAST_N_DAYS:30`` (``n`` is None without)."""

    name: str
    n: int | None


@dataclass(frozen=True, slots=True)
class Value:
    """A literal in a condition: its kind, decoded payload, source text and offset."""

    kind: ValueKind
    payload: Any
    raw: str
    offset: int


@dataclass(frozen=True, slots=True)
class Comparison:
    """``path op value``; ``op`` is one of ``= != < <= > >= LIKE IN NOT IN`` (``<>`` -> ``!=``)."""

    path: PathRef
    op: str
    values: tuple[Value, ...]


@dataclass(frozen=True, slots=True)
class Not:
    """``NOT operand``."""

    operand: Condition


@dataclass(frozen=True, slots=True)
class AndOr:
    """An ``AND`` or ``OR`` chain (never mixed, by the grammar)."""

    op: Literal["AND", "OR"]
    operands: tuple[Condition, ...]


Condition = Comparison | Not | AndOr


@dataclass(frozen=True, slots=True)
class OrderItem:
    """One ``ORDER BY`` key; ``nulls_first`` is None when the query leaves it to the default."""

    path: PathRef
    descending: bool
    nulls_first: bool | None


@dataclass(frozen=True, slots=True)
class Statement:
    """A syntactically valid query, names unresolved."""

    select: tuple[PathRef | FuncCall, ...]
    object_name: str
    object_offset: int
    where: Condition | None
    order_by: tuple[OrderItem, ...]
    limit: int | None
    offset: int | None
    offset_at: int


# --- error messages -------------------------------------------------------------------------

# Salesforce echoes about this many characters either side of the error position, cut at token
# boundaries (seen in real responses: the caret sits ~30-35 columns into a window of a long line).
_WINDOW = 35
_SEPARATORS = " \t\r\n,"


def located_message(text: str, offset: int, detail: str) -> str:
    """Salesforce's positioned error text.

    Layout: newline, the line (a window of it around ``offset`` when long), a caret line,
    ``ERROR at Row:r:Column:c`` (1-based) and ``detail``.
    """
    offset = max(0, min(offset, len(text)))
    line_start = text.rfind("\n", 0, offset) + 1
    line_end = text.find("\n", offset)
    line = text[line_start : len(text) if line_end < 0 else line_end]
    col = offset - line_start
    row = text.count("\n", 0, offset) + 1
    start = 0
    if col > _WINDOW:
        start = col
        for p in range(col - _WINDOW, col + 1):
            if line[p - 1] in _SEPARATORS and line[p] not in _SEPARATORS:
                start = p
                break
    end = len(line)
    if end - col > _WINDOW:
        end = col + _WINDOW
        while end > col and line[end] not in _SEPARATORS:
            end -= 1
        if end == col:  # the offending token alone is longer than the window: show all of it
            while end < len(line) and line[end] not in _SEPARATORS:
                end += 1
    snippet = line[start:end].rstrip(_SEPARATORS) if end < len(line) else line[start:end]
    caret = " " * (col - start) + "^"
    return f"\n{snippet}\n{caret}\nERROR at Row:{row}:Column:{col + 1}\n{detail}"


def malformed(text: str, offset: int, detail: str) -> SoqlError:
    """A ``MALFORMED_QUERY`` error positioned at ``offset``."""
    return SoqlError("MALFORMED_QUERY", located_message(text, offset, detail))


def unexpected(text: str, offset: int, token: str) -> SoqlError:
    """``MALFORMED_QUERY`` "unexpected token: 'X'" at ``offset``."""
    return malformed(text, offset, f"unexpected token: '{token}'")


# --- literal decoding -----------------------------------------------------------------------

# Java-style escapes, upper or lower case (SOQL quoted string escape sequences). The docs' table
# labels \b "bell"; Salesforce parses with Java rules, where \b is backspace, so we follow Java.
_SIMPLE_ESCAPES = {
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "b": "\b",
    "f": "\f",
    '"': '"',
    "'": "'",
    "\\": "\\",
}


def _decode_string(text: str, raw: str, offset: int) -> StringLiteral:
    body = raw[1:-1]
    plain: list[str] = []
    regex: list[str] = []
    like_escape_at: int | None = None
    i = 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            plain.append(ch)
            regex.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
            i += 1
            continue
        nxt = body[i + 1] if i + 1 < len(body) else ""
        if nxt.lower() in _SIMPLE_ESCAPES:
            decoded = _SIMPLE_ESCAPES[nxt.lower()]
            i += 2
        elif nxt in "%_":
            # Only LIKE gives these a meaning (a literal wildcard character); elsewhere they are
            # an error, reported by the binder once it knows the operator.
            if like_escape_at is None:
                like_escape_at = offset + 1 + i
            decoded = nxt
            i += 2
        elif nxt in "uU" and re.fullmatch(r"[0-9a-fA-F]{4}", body[i + 2 : i + 6]):
            decoded = chr(int(body[i + 2 : i + 6], 16))
            i += 6
        else:
            raise malformed(
                text,
                offset,
                f"Invalid string literal '{body}'. Illegal character sequence "
                f"'\\{nxt}' in string literal.",
            )
        plain.append(decoded)
        regex.append(re.escape(decoded))
    return StringLiteral("".join(plain), "".join(regex), like_escape_at)


def _parse_datetime(text: str, raw: str, offset: int) -> datetime:
    m = re.fullmatch(
        r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([zZ])|([+-])(\d{2}):(\d{2}))",
        raw,
    )
    if m is None:  # pragma: no cover - the lexer only produces matching tokens
        raise unexpected(text, offset, raw)
    try:
        micros = int((m.group(7) or "0")[:6].ljust(6, "0"))
        tz = UTC
        if m.group(9):
            delta = timedelta(hours=int(m.group(10)), minutes=int(m.group(11)))
            tz = timezone(-delta if m.group(9) == "-" else delta)
        value = datetime(
            int(m.group(1)),
            int(m.group(2)),
            int(m.group(3)),
            int(m.group(4)),
            int(m.group(5)),
            int(m.group(6)),
            micros,
            tzinfo=tz,
        )
    except ValueError:
        raise malformed(text, offset, f"invalid dateTime: {raw}") from None
    return value.astimezone(UTC)


def _parse_date(text: str, raw: str, offset: int) -> date:
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise malformed(text, offset, f"invalid date: {raw}") from None


# --- tree -> statement ----------------------------------------------------------------------


class _Builder(Transformer[Token, Statement]):
    """Turns lark's tree into the frozen dataclasses above; decodes literals."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self._text = text

    def start(self, c: list[Any]) -> Statement:
        select_token: Token = c[0]
        select: tuple[PathRef | FuncCall, ...] = c[1]
        obj: Token = c[2]
        where: Condition | None = None
        order: tuple[OrderItem, ...] = ()
        limit: int | None = None
        offset: int | None = None
        offset_at = 0
        del select_token
        for item in c[3:]:
            kind, payload, at = item
            if kind == "where":
                where = payload
            elif kind == "order":
                order = payload
            elif kind == "limit":
                limit = payload
            else:
                offset, offset_at = payload, at
        return Statement(
            select=select,
            object_name=str(obj),
            object_offset=_pos(obj),
            where=where,
            order_by=order,
            limit=limit,
            offset=offset,
            offset_at=offset_at,
        )

    def select_list(self, c: list[PathRef | FuncCall]) -> tuple[PathRef | FuncCall, ...]:
        return tuple(c)

    def func(self, c: list[Token]) -> FuncCall:
        return FuncCall(str(c[0]), str(c[1]) if len(c) > 1 else None, _pos(c[0]))

    def path(self, c: list[Token]) -> PathRef:
        return PathRef(tuple(str(t) for t in c), _pos(c[0]))

    def where(self, c: list[Condition]) -> tuple[str, Condition, int]:
        return ("where", c[0], 0)

    def and_chain(self, c: list[Condition]) -> AndOr:
        return AndOr("AND", tuple(c))

    def or_chain(self, c: list[Condition]) -> AndOr:
        return AndOr("OR", tuple(c))

    def negation(self, c: list[Any]) -> Not:
        return Not(c[1])

    def compare(self, c: list[Any]) -> Comparison:
        op = "!=" if c[1] == "<>" else str(c[1])
        return Comparison(c[0], op, (c[2],))

    def like(self, c: list[Any]) -> Comparison:
        return Comparison(c[0], "LIKE", (c[2],))

    def in_list(self, c: list[Any]) -> Comparison:
        return Comparison(c[0], "IN", c[2])

    def not_in_list(self, c: list[Any]) -> Comparison:
        return Comparison(c[0], "NOT IN", c[3])

    def semi_join(self, c: list[Any]) -> None:
        raise malformed(
            self._text,
            _pos(c[0]),
            "semi-join and anti-join subqueries are not supported by the sandbox",
        )

    def semi_join_cmp(self, c: list[Any]) -> None:  # pragma: no cover - semi_join raises first
        raise AssertionError("unreachable")

    def value_list(self, c: list[Value]) -> tuple[Value, ...]:
        return tuple(c)

    def string_value(self, c: list[Token]) -> Value:
        tok = c[0]
        return Value("string", _decode_string(self._text, str(tok), _pos(tok)), str(tok), _pos(tok))

    def datetime_value(self, c: list[Token]) -> Value:
        tok = c[0]
        parsed = _parse_datetime(self._text, str(tok), _pos(tok))
        return Value("datetime", parsed, str(tok), _pos(tok))

    def date_value(self, c: list[Token]) -> Value:
        tok = c[0]
        return Value("date", _parse_date(self._text, str(tok), _pos(tok)), str(tok), _pos(tok))

    def number_value(self, c: list[Token]) -> Value:
        tok = c[0]
        raw = str(tok)
        if re.fullmatch(r"[+-]?\d+", raw):
            return Value("int", int(raw), raw, _pos(tok))
        return Value("decimal", Decimal(raw), raw, _pos(tok))

    def null_value(self, c: list[Token]) -> Value:
        return Value("null", None, str(c[0]), _pos(c[0]))

    def name_value(self, c: list[Token]) -> Value:
        tok = c[0]
        word = str(tok).upper()
        if len(c) == 1 and word in ("TRUE", "FALSE"):
            return Value("boolean", word == "TRUE", str(tok), _pos(tok))
        n: int | None = None
        if len(c) > 1:
            if not re.fullmatch(r"\d+", str(c[1])):
                raise unexpected(self._text, _pos(c[1]), str(c[1]))
            n = int(str(c[1]))
        raw = str(tok) if n is None else f"{tok}:{n}"
        return Value("date_literal", DateLiteral(word, n), raw, _pos(tok))

    def order(self, c: list[OrderItem]) -> tuple[str, tuple[OrderItem, ...], int]:
        return ("order", tuple(c), 0)

    def order_item(self, c: list[Any]) -> OrderItem:
        descending = False
        nulls_first: bool | None = None
        for part in c[1:]:
            kind, flag = part
            if kind == "direction":
                descending = flag
            else:
                nulls_first = flag
        return OrderItem(c[0], descending, nulls_first)

    def direction(self, c: list[Token]) -> tuple[str, bool]:
        return ("direction", c[0].type == "DESC")

    def nulls(self, c: list[Token]) -> tuple[str, bool]:
        return ("nulls", c[0].type == "FIRST")

    def limit(self, c: list[Token]) -> tuple[str, int, int]:
        return ("limit", self._count(c[1]), _pos(c[0]))

    def offset(self, c: list[Token]) -> tuple[str, int, int]:
        return ("offset", self._count(c[1]), _pos(c[0]))

    def _count(self, tok: Token) -> int:
        if not re.fullmatch(r"\d+", str(tok)):
            raise unexpected(self._text, _pos(tok), str(tok))
        value = int(str(tok))
        if value > 2_147_483_647:  # Salesforce parses LIMIT/OFFSET as a Java int
            raise malformed(self._text, _pos(tok), f"numeric value out of range: {tok}")
        return value


def _pos(tok: Token) -> int:
    return tok.start_pos or 0


@lru_cache(maxsize=1)
def _parser() -> Lark:
    # LALR + contextual lexer: linear-time parsing and keywords only where the grammar wants them.
    return Lark(_GRAMMAR, parser="lalr", lexer="contextual", maybe_placeholders=False)


@lru_cache(maxsize=512)
def parse_statement(text: str) -> Statement:
    """Parse SOQL text into a :class:`Statement`; raise :class:`SoqlError` ``MALFORMED_QUERY``.

    Results are cached by text (statements are immutable), so a client paging through the same
    query pays for parsing once.
    """
    try:
        tree = _parser().parse(text)
        return _Builder(text).transform(tree)
    except VisitError as exc:  # errors raised while building come wrapped
        if isinstance(exc.orig_exc, SoqlError):
            raise exc.orig_exc from None
        raise
    except UnexpectedToken as exc:
        if exc.token.type == "$END":
            raise unexpected(text, len(text.rstrip()), "<EOF>") from None
        raise unexpected(text, _pos(exc.token), str(exc.token)) from None
    except UnexpectedCharacters as exc:
        # Name the whole word when the lexer stopped at one (a reserved word the grammar has no
        # use for, such as GROUP), else the character.
        at = exc.pos_in_stream or 0
        word = re.match(r"\w+", text[at:])
        raise unexpected(text, at, word.group(0) if word else text[at : at + 1]) from None
    except UnexpectedInput:  # pragma: no cover - LALR raises the two above
        raise unexpected(text, len(text.rstrip()), "<EOF>") from None
