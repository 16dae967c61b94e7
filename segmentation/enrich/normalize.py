"""Text normalisation shared by the lookups (countries, states, titles, tools).

Free-text CRM values are matched after one canonical folding so that the tables can
be written once in plain lower-case ASCII: "U.S.A." and "usa", "Geschäftsführer" and
"geschaftsfuhrer", " Vice-President, Sales " and "vice president sales" all fold to the
same key. Non-Latin scripts (日本, マネージャー, 대한민국) pass through unchanged.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from typing import TypeVar

import polars as pl
from polars.expr.whenthen import ChainedThen, Then

T = TypeVar("T")

# Letters that NFKD does not decompose into base letter + accent.
_SPECIAL = str.maketrans(
    {"ø": "o", "æ": "ae", "œ": "oe", "ł": "l", "đ": "d", "\u0131": "i", "þ": "th"}
)
_NON_WORD = re.compile(r"[^\w]+")
_UNDERSCORE = re.compile(r"_+")


def fold(text: str) -> str:
    """Lower-case, accent-free, punctuation-free form of ``text`` with single spaces.

    Runs of single letters are joined so that dotted abbreviations survive the
    punctuation removal: "U.S.A." -> "usa", "R&D" -> "rd", but "chef d'équipe" ->
    "chef d equipe" (a lone letter next to a word is left alone).
    """
    text = unicodedata.normalize("NFKD", text.casefold().translate(_SPECIAL))
    # Only strip the Latin/Greek/Cyrillic combining accents (U+0300-U+036F): the
    # Japanese voicing marks are combining too, and dropping them changes the word.
    text = "".join(ch for ch in text if not 0x300 <= ord(ch) <= 0x36F)
    text = unicodedata.normalize("NFC", text)
    tokens = _NON_WORD.sub(" ", _UNDERSCORE.sub(" ", text)).split()
    out: list[str] = []
    run: list[str] = []
    for tok in [*tokens, ""]:
        if len(tok) == 1 and tok.isalnum():
            run.append(tok)
            continue
        if len(run) > 1:
            out.append("".join(run))
        else:
            out.extend(run)
        run = []
        if tok:
            out.append(tok)
    return " ".join(out)


def first_of(cases: Sequence[tuple[pl.Expr, pl.Expr]], default: pl.Expr) -> pl.Expr:
    """Value of the first case whose condition holds (an ordered rule table as one expression)."""
    (condition, value), *rest = cases
    chain: Then | ChainedThen = pl.when(condition).then(value)
    for condition, value in rest:
        chain = chain.when(condition).then(value)
    return chain.otherwise(default)


def nulls(n: int, dtype: pl.DataType) -> pl.Series:
    """A series of ``n`` nulls (built natively, not from a Python list)."""
    return pl.repeat(None, n, dtype=dtype, eager=True)


def falses(n: int) -> pl.Series:
    """A Boolean series of ``n`` False values."""
    return pl.repeat(False, n, dtype=pl.Boolean, eager=True)


def as_text(series: pl.Series) -> pl.Series:
    """The series as String (categoricals, numbers and lists of strings included)."""
    if series.dtype == pl.String:
        return series
    if isinstance(series.dtype, pl.List):
        return series.cast(pl.List(pl.String)).list.join(";")
    return series.cast(pl.String)


def map_unique(series: pl.Series, fn: Callable[[str], T | None], dtype: pl.DataType) -> pl.Series:
    """Apply a Python function to each *distinct* value and broadcast the result.

    CRM text columns (countries, titles, states) have few distinct values relative to
    rows, so the Python work is proportional to the vocabulary, not to the row count;
    the broadcast back to every row is one vectorized ``replace_strict``.
    """
    text = as_text(series)
    uniques = text.drop_nulls().unique().to_list()
    mapping = {value: fn(value) for value in uniques}
    return text.replace_strict(mapping, default=None, return_dtype=dtype).alias(series.name)


# Placeholders that mean "no value": treated as missing, never reported as bad.
NULL_MARKERS = frozenset(
    {
        "",
        "-",
        "--",
        "---",
        "—",
        "?",
        "n/a",
        "na",
        "#n/a",
        "null",
        "none",
        "nil",
        "nan",
        "unknown",
        "undefined",
        "not available",
        "not set",
        "tbd",
    }
)


def is_blank(text: pl.Series) -> pl.Series:
    """True where a text value is empty or a placeholder such as "n/a" (null stays null)."""
    return text.str.strip_chars().str.to_lowercase().is_in(list(NULL_MARKERS))


def failures(values: pl.Series, text: pl.Series) -> pl.Series:
    """Rows with a non-blank text that gave no value (blank-checks only those rows)."""
    unread = values.is_null() & text.is_not_null()
    failed = falses(len(values))
    if unread.any():
        idx = unread.arg_true()
        failed = failed.scatter(idx, ~is_blank(text.gather(idx)))
    return failed
