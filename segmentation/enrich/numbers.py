"""Numbers in any common notation, vectorized.

Employees "1,200", revenue "$5M", "1.234,56 €", "51-200", "3 lakh": a plain cast reads
the clean values, and only the distinct values it rejected go through the normaliser
below (currency and noise words dropped, the decimal mark worked out, a multiplier
suffix applied), so a column of clean numbers costs one cast.
"""

from __future__ import annotations

import polars as pl

from segmentation.enrich.normalize import as_text, falses, is_blank

# Multipliers written after a number ("5M", "1.2 bn", "3 lakh"); words that merely name
# the unit ("50 employees") multiply by one.
SUFFIXES: dict[str, float] = {
    "": 1.0,
    "k": 1e3,
    "thousand": 1e3,
    "tsd": 1e3,
    "m": 1e6,
    "mm": 1e6,
    "mn": 1e6,
    "mio": 1e6,
    "million": 1e6,
    "millions": 1e6,
    "b": 1e9,
    "bn": 1e9,
    "bln": 1e9,
    "billion": 1e9,
    "billions": 1e9,
    "mrd": 1e9,
    "milliard": 1e9,
    "t": 1e12,
    "tn": 1e12,
    "trillion": 1e12,
    "lakh": 1e5,
    "lac": 1e5,
    "crore": 1e7,
    "cr": 1e7,
    "employees": 1.0,
    "employee": 1.0,
    "emp": 1.0,
    "people": 1.0,
    "staff": 1.0,
    "fte": 1.0,
    "ftes": 1.0,
    "mitarbeiter": 1.0,
    "empleados": 1.0,
    "salaries": 1.0,
}

# Longer words first: the regex takes the first alternative that fits ("usd" not "us").
_CURRENCY = (
    r"[$€£¥₹₩₽¢]|\b(?:usd|euros?|eur|gbp|chf|cad|aud|nzd|jpy|cny|inr|brl|mxn|sek|nok|dkk"
    r"|pln|sgd|hkd|zar|dollars?|pounds?|yen|us)"
)
_NOISE = r"approx\.?|\babout\b|\baround\b|\bcirca\b|\bca\.|~|≈|>=?|<=?|\+$|%"
_BLANKS = r"[\s'\x{2019}_\x{a0}\x{202f}]"
_SINGLE = r"^(?P<sign>[-+]?)(?P<num>\d[\d.,]*|[.,]\d+)(?P<suf>[a-z]*)\.?$"
_RANGE = r"^(?P<lo>[-+]?[\d.,]+[a-z]*)(?:-|\x{2013}|\x{2014}|to|bis)(?P<hi>[\d.,]+[a-z]*)$"


def _decimal(num: pl.Expr, integer: bool) -> pl.Expr:
    """Digits with ',' and '.' in any convention -> a string ``cast`` understands."""
    thousands_dot = r"^\d{1,3}(\.\d{3})+$" if integer else r"^\d{1,3}(\.\d{3}){2,}$"
    return (
        pl.when(num.str.contains(r"\.\d*,\d*$"))  # 1.234,56: comma is the decimal mark
        .then(num.str.replace_all(".", "", literal=True).str.replace(",", ".", literal=True))
        .when(num.str.contains(r",\d*\.\d*$"))  # 1,234.56
        .then(num.str.replace_all(",", "", literal=True))
        .when(num.str.contains(r"^\d{1,3}(,\d{3})+$|^\d{1,3}(,\d{2})*,\d{3}$"))  # 1,200 / 12,34,567
        .then(num.str.replace_all(",", "", literal=True))
        .when(num.str.contains(r"^\d*,\d+$"))  # 1,5
        .then(num.str.replace(",", ".", literal=True))
        .when(num.str.contains(thousands_dot))  # 1.200.000 (or 1.200 of a count)
        .then(num.str.replace_all(".", "", literal=True))
        .when(num.str.contains(r"^\d*\.?\d*$"))
        .then(num)
        .otherwise(None)
    )


def _single_number(text: pl.Expr, integer: bool, suffix: pl.Expr | None = None) -> pl.Expr:
    """Value of one cleaned number token ("-1.200,5k"); ``suffix`` overrides its own."""
    groups = text.str.extract_groups(_SINGLE)
    sign = groups.struct.field("sign")
    own = groups.struct.field("suf")
    factor = (
        own if suffix is None else pl.when(own == "").then(suffix).otherwise(own)
    ).replace_strict(SUFFIXES, default=None, return_dtype=pl.Float64)
    value = _decimal(groups.struct.field("num"), integer).cast(pl.Float64, strict=False) * factor
    return pl.when(sign == "-").then(-value).otherwise(value)


def _messy_numbers(values: pl.Series, integer: bool) -> pl.Series:
    """Parse the values a plain cast rejected (vectorized over that small set)."""
    cleaned = (
        pl.col("v")
        .str.to_lowercase()
        .str.replace_all(_CURRENCY, "")
        .str.replace_all(_NOISE, "")
        .str.replace_all(_BLANKS, "")
        .str.replace(r"^\((.*)\)$", "-$1")  # accounting negative: (1,200)
    )
    frame = pl.DataFrame({"v": values}).with_columns(cleaned.alias("c"))
    rng = pl.col("c").str.extract_groups(_RANGE)
    lo, hi = rng.struct.field("lo"), rng.struct.field("hi")
    hi_suffix = hi.str.extract(r"([a-z]*)$", 1)
    parsed = frame.select(
        pl.coalesce(
            _single_number(pl.col("c"), integer),
            # "51-200" -> 125.5; "5-10M" reads the shared suffix on both ends.
            (_single_number(lo, integer, hi_suffix) + _single_number(hi, integer)) / 2,
        )
    ).to_series()
    return parsed.set(~parsed.is_finite().fill_null(True), None)


def parse_number(series: pl.Series, *, integer: bool = False) -> pl.Series:
    """Float64 values of a column of numbers in any common notation; junk -> null.

    ``integer`` reads a lone dot-grouped value ("1.200") as thousands, as a headcount
    or count would be written in most of Europe.
    """
    return numbers_with_failures(series, integer)[0]


def numbers_with_failures(series: pl.Series, integer: bool) -> tuple[pl.Series, pl.Series]:
    """(values, failed): failed marks present values that could not be read."""
    n = len(series)
    if series.dtype.is_numeric() or series.dtype == pl.Boolean:
        values = series.cast(pl.Float64)
        values = values.set(~values.is_finite().fill_null(True), None)
        return values, falses(n)
    text = as_text(series)
    fast = text.str.strip_chars().cast(pl.Float64, strict=False)
    fast = fast.set(~fast.is_finite().fill_null(True), None)
    todo = fast.is_null() & text.is_not_null()
    if integer:
        # A fractional count may be a European thousands group ("1.200"): re-read it.
        todo = todo | (fast.is_not_null() & (fast != fast.round(0)))
    if not todo.any():
        return fast, falses(n)
    messy = text.filter(todo).unique()
    parsed = _messy_numbers(messy, integer)
    blank = is_blank(messy)
    mapping = dict(zip(messy.to_list(), parsed.to_list(), strict=True))
    bad = messy.filter(parsed.is_null() & ~blank).to_list()
    replaced = text.replace_strict(mapping, default=None, return_dtype=pl.Float64)
    values = pl.select(pl.when(todo).then(replaced).otherwise(fast)).to_series()
    failed = text.is_in(bad) if bad else falses(n)
    return values.alias(series.name), failed.fill_null(False)
