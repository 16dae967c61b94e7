"""Lenient, vectorized parsing of the canonical typed columns.

CRM exports and APIs deliver numbers and dates as text in every shape: employees
"1,200", revenue "$5M" or "1.234,56 €", dates as ISO strings, epoch milliseconds or
"05/01/2024". Each column is parsed in one or two vectorized passes: a fast cast that
handles the common clean shape, then a slower normaliser that only sees the (usually
few, usually repeated) values the fast cast rejected. Unparseable values become null;
``parse_report`` lists them with their row so a run can report bad rows without
failing.
"""

from __future__ import annotations

from typing import Literal

import polars as pl

from .normalize import as_text, falses, nulls

Kind = Literal["count", "int", "float", "year", "datetime", "bool"]

DATETIME = pl.Datetime("us", "UTC")

# Canonical columns (design.md names) and how to read them. Columns not listed here are
# passed through untouched.
CANONICAL_KINDS: dict[str, Kind] = {
    # contacts
    "birth_year": "year",
    "age": "count",
    "date_of_birth": "datetime",
    "income": "float",
    "email_opens": "count",
    "email_clicks": "count",
    "email_delivered": "count",
    "page_views": "count",
    "visits": "count",
    "notes_count": "count",
    "num_orders": "count",
    "total_revenue": "float",
    "last_order_amount": "float",
    "last_activity_at": "datetime",
    "last_contacted_at": "datetime",
    "last_visit_at": "datetime",
    "first_order_at": "datetime",
    "last_order_at": "datetime",
    "created_at": "datetime",
    "updated_at": "datetime",
    # companies
    "employees": "count",
    "annual_revenue": "float",
    "founded_year": "year",
    # deals and orders
    "amount": "float",
    "probability": "float",
    "close_date": "datetime",
    "order_date": "datetime",
    "is_won": "bool",
    "is_closed": "bool",
}

TARGET_DTYPES: dict[Kind, pl.DataType] = {
    "count": pl.Int64(),
    "int": pl.Int64(),
    "year": pl.Int64(),
    "float": pl.Float64(),
    "datetime": DATETIME,
    "bool": pl.Boolean(),
}

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

_YEAR_RANGE = (1800, 2200)
_AGE_MAX = 130

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

_TRUE = frozenset(
    {
        "true",
        "t",
        "yes",
        "y",
        "1",
        "1.0",
        "x",
        "won",
        "closed won",
        "closedwon",
        "ja",
        "oui",
        "si",
        "sí",
        "wahr",
        "vrai",
        "verdadero",
        "checked",
        "✓",
    }
)
_FALSE = frozenset(
    {
        "false",
        "f",
        "no",
        "n",
        "0",
        "0.0",
        "lost",
        "closed lost",
        "closedlost",
        "nein",
        "non",
        "falsch",
        "faux",
        "falso",
        "unchecked",
    }
)

# Text date shapes tried in order on values that are not epoch numbers; the first that
# fits wins. Month-first precedes day-first: an ambiguous "05/01/2024" is May 1st, as
# US-hosted CRMs write it, while "25/01/2024" can only be day-first.
_DATE_FORMATS: tuple[tuple[str, bool], ...] = (
    ("%Y-%m-%d %H:%M:%S%.f%z", True),
    ("%Y-%m-%d %H:%M%z", True),
    ("%Y-%m-%d %H:%M:%S%.f", False),
    ("%Y-%m-%d %H:%M", False),
    ("%Y-%m-%d", False),
    # Two-digit years first: chrono's %Y would read "5/1/24" as the year 24.
    ("%m/%d/%y", False),
    ("%d/%m/%y", False),
    ("%d.%m.%y", False),
    ("%Y/%m/%d %H:%M:%S", False),
    ("%Y/%m/%d", False),
    ("%m/%d/%Y %H:%M:%S", False),
    ("%m/%d/%Y %H:%M", False),
    ("%m/%d/%Y", False),
    ("%d/%m/%Y %H:%M:%S", False),
    ("%d/%m/%Y", False),
    ("%d.%m.%Y %H:%M:%S", False),
    ("%d.%m.%Y %H:%M", False),
    ("%d.%m.%Y", False),
    ("%d-%m-%Y", False),
    ("%b %d, %Y", False),
    ("%B %d, %Y", False),
    ("%d %b %Y", False),
    ("%d %B %Y", False),
)

PROBLEMS: dict[Kind, str] = {
    "count": "not a number",
    "int": "not a number",
    "float": "not a number",
    "year": "not a year",
    "datetime": "not a date",
    "bool": "not a yes/no value",
}
OUT_OF_RANGE = "out of range"


# --------------------------------------------------------------------------- numbers


def is_blank(text: pl.Series) -> pl.Series:
    """True where a text value is empty or a placeholder such as "n/a" (null stays null)."""
    return text.str.strip_chars().str.to_lowercase().is_in(list(NULL_MARKERS))


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
    return _number(series, integer)[0]


def _number(series: pl.Series, integer: bool) -> tuple[pl.Series, pl.Series]:
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


# ----------------------------------------------------------------------------- dates


def _to_utc(values: pl.Series) -> pl.Series:
    dtype = values.dtype
    if isinstance(dtype, pl.Datetime):
        values = values.dt.cast_time_unit("us")
        if dtype.time_zone is None:
            return values.dt.replace_time_zone("UTC")
        return values.dt.convert_time_zone("UTC")
    if dtype == pl.Date:
        return values.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    raise TypeError(f"not a temporal series: {dtype}")


def _epoch_scale(biggest: float) -> float:
    """Microseconds per unit of an epoch column whose largest magnitude is ``biggest``.

    CRMs send milliseconds (HubSpot) and a few send seconds; one column uses one unit,
    so the largest magnitude decides: seconds reach 1e10 only after the year 2286, and
    milliseconds stay under 1e10 only within four months of 1970.
    """
    if biggest >= 1e17:
        return 1e-3  # nanoseconds
    if biggest >= 1e14:
        return 1.0  # microseconds
    if biggest >= 1e10:
        return 1e3  # milliseconds
    return 1e6  # seconds


_MAX_MICROS = 7_300_000_000_000_000  # about +-231 years around 1970


def _from_epoch(numbers: pl.Series) -> pl.Series:
    """Epoch numbers (any numeric dtype) -> UTC datetimes; implausible ones -> null."""
    if numbers.dtype.is_integer():
        biggest = numbers.abs().max()
        scale = _epoch_scale(float(biggest) if isinstance(biggest, int | float) else 0.0)
        ints = numbers.cast(pl.Int64)
        # Integer arithmetic keeps the common case (ms) exact and cheap.
        micros = ints * int(scale) if scale >= 1 else ints // int(1 / scale)
    else:
        floats = numbers.cast(pl.Float64)
        floats = floats.set(~floats.is_finite().fill_null(True), None)
        biggest = floats.abs().max()
        scale = _epoch_scale(float(biggest) if isinstance(biggest, int | float) else 0.0)
        micros = (floats * scale).round(0).cast(pl.Int64, strict=False)
    return (
        pl.select(pl.when(pl.lit(micros).abs() < _MAX_MICROS).then(pl.lit(micros)))
        .to_series()
        .cast(DATETIME)
    )


# ISO 8601 as APIs and exports write it, matched on the raw text (no clean-up pass).
_RAW_ISO_FORMATS: tuple[tuple[str, bool], ...] = (
    ("%Y-%m-%dT%H:%M:%S%.fZ", False),  # the trailing Z: read as UTC
    ("%Y-%m-%dT%H:%M:%S%.f%z", True),
    ("%Y-%m-%dT%H:%M:%S%.f", False),
)
_SAMPLE = 500


def _by_fit(text: pl.Series, formats: tuple[tuple[str, bool], ...]) -> list[tuple[str, bool]]:
    """The formats that read part of a sample of ``text``, best first.

    A column is nearly always written one way: ranking on a sample means that way is
    tried first over the whole column, and formats that fit nothing are never tried.
    """
    present = text.drop_nulls()
    step = max(1, len(present) // _SAMPLE)
    sample = present.gather_every(step)
    hits = [
        (int(sample.str.to_datetime(fmt, strict=False, time_unit="us").is_not_null().sum()), i)
        for i, (fmt, _) in enumerate(formats)
    ]
    return [formats[i] for count, i in sorted(hits, key=lambda h: (-h[0], h[1])) if count > 0]


def _cascade(text: pl.Series, out: pl.Series, formats: list[tuple[str, bool]]) -> pl.Series:
    """Fill the still-null rows of ``out`` format by format."""
    for fmt, aware in formats:
        missing = out.is_null() & text.is_not_null()
        if not missing.any():
            break
        idx = missing.arg_true()
        parsed = text.gather(idx).str.to_datetime(fmt, strict=False, time_unit="us")
        if parsed.null_count() == len(parsed):
            continue
        parsed = parsed.dt.convert_time_zone("UTC") if aware else parsed.dt.replace_time_zone("UTC")
        out = out.scatter(idx, parsed)
    return out


def _text_dates(text: pl.Series) -> pl.Series:
    """Dates written as text, tried format by format on what is still unread."""
    text = text.str.strip_chars()
    every = _RAW_ISO_FORMATS + _DATE_FORMATS
    out = _cascade(text, nulls(len(text), DATETIME), _by_fit(text, every))
    missing = out.is_null() & text.is_not_null()
    if not missing.any():
        return out
    # The rest: normalise separators and zone suffixes, then every known shape.
    idx = missing.arg_true()
    cleaned = (
        text.gather(idx)
        .str.replace(r"^(\d{4}-\d{1,2}-\d{1,2})[Tt ]\s*", "$1 ")
        .str.replace(r"\s*(?:[Zz]|UTC|GMT)$", "+00:00")
        .str.replace(r"\s+([+-]\d{2}:?\d{2})$", "$1")
    )
    rest = _cascade(cleaned, nulls(len(cleaned), DATETIME), list(_DATE_FORMATS))
    return out.scatter(idx, rest)


def parse_datetime(series: pl.Series) -> pl.Series:
    """UTC datetimes from ISO text, epoch s/ms/us numbers, common local formats; junk -> null."""
    return _datetime(series)[0]


def _datetime(series: pl.Series) -> tuple[pl.Series, pl.Series]:
    n = len(series)
    no_failures = falses(n)
    dtype = series.dtype
    if isinstance(dtype, pl.Datetime) or dtype == pl.Date:
        return _to_utc(series).alias(series.name), no_failures
    if dtype.is_numeric():
        return _from_epoch(series.cast(pl.Float64)).alias(series.name), no_failures
    text = as_text(series).str.strip_chars()
    numbers = text.cast(pl.Float64, strict=False)
    # "2024" is a year and "20240501" a date, not seconds after 1970.
    yearish = text.str.contains(r"^\d{4}$|^(?:1[89]|2[01])\d{2}[01]\d[0-3]\d$").fill_null(False)
    epoch = numbers.set(yearish, None)
    values = _from_epoch(epoch) if epoch.null_count() < n else nulls(n, DATETIME)
    if yearish.any():
        padded = text.str.pad_end(8, "0").str.replace(r"^(\d{4})0000$", "${1}0101")
        as_date = padded.str.to_date("%Y%m%d", strict=False).cast(pl.Datetime("us"))
        values = values.fill_null(as_date.dt.replace_time_zone("UTC"))
    todo = values.is_null() & text.is_not_null()
    if todo.any():
        idx = todo.arg_true()
        values = values.scatter(idx, _text_dates(text.gather(idx)))
    return values.alias(series.name), _failures(values, text)


def _failures(values: pl.Series, text: pl.Series) -> pl.Series:
    """Rows with a non-blank text that gave no value (blank-checks only those rows)."""
    unread = values.is_null() & text.is_not_null()
    failed = falses(len(values))
    if unread.any():
        idx = unread.arg_true()
        failed = failed.scatter(idx, ~is_blank(text.gather(idx)))
    return failed


# ------------------------------------------------------------------------------ bools


def _bool_of(value: str) -> bool | None:
    key = value.strip().lower()
    if key in _TRUE:
        return True
    if key in _FALSE:
        return False
    return None


def parse_bool(series: pl.Series) -> pl.Series:
    """Booleans from true/false, yes/no, 1/0, won/lost in a few languages; junk -> null."""
    return _bool(series)[0]


def _bool(series: pl.Series) -> tuple[pl.Series, pl.Series]:
    n = len(series)
    if series.dtype == pl.Boolean:
        return series, falses(n)
    if series.dtype.is_numeric():
        return (series != 0).alias(series.name), falses(n)
    text = as_text(series)
    uniques = text.drop_nulls().unique()
    mapping = {v: _bool_of(v) for v in uniques.to_list()}
    values = text.replace_strict(mapping, default=None, return_dtype=pl.Boolean)
    return values.alias(series.name), _failures(values, text)


# ----------------------------------------------------------------------------- columns


def _parse_column(
    series: pl.Series, kind: Kind, *, problems: bool = True
) -> tuple[pl.Series, pl.Series | None]:
    """(typed values, problem per row or null) for one canonical column.

    ``problems=False`` skips building the problem column (coercion does not need it).
    """
    n = len(series)
    if series.null_count() == n:
        return nulls(n, TARGET_DTYPES[kind]).alias(series.name), None
    if kind == "datetime":
        values, failed = _datetime(series)
        out_of_range = ~values.dt.year().is_between(*_YEAR_RANGE).fill_null(True)
    elif kind == "bool":
        values, failed = _bool(series)
        out_of_range = falses(n)
    elif series.dtype.is_integer() and kind != "float":
        # Typed integers (the connectors' shape): only the range needs checking.
        values, failed = series.cast(pl.Int64), falses(n)
        out_of_range = _out_of_range(values, kind, series.name)
    else:
        numbers, failed = _number(series, integer=kind != "float")
        if kind == "year" and failed.any():
            # A year column sometimes holds whole dates: take their year.
            dates, _ = _datetime(series.filter(failed))
            numbers = numbers.scatter(failed.arg_true(), dates.dt.year().cast(pl.Float64))
            failed = failed.scatter(failed.arg_true(), dates.is_null())
        if kind != "float":
            numbers = numbers.round(0)
        values = numbers.cast(TARGET_DTYPES[kind], strict=False)
        # Too big for an Int64 ("999...9") is out of range too.
        overflow = values.is_null() & numbers.is_not_null()
        out_of_range = _out_of_range(numbers, kind, series.name) | overflow
    if out_of_range.any():
        values = values.set(out_of_range, None)
    if not problems:
        return values.alias(series.name), None
    problem = nulls(n, pl.String())
    if failed.any():
        problem = problem.set(failed, PROBLEMS[kind])
    if out_of_range.any():
        problem = problem.set(out_of_range & ~failed, OUT_OF_RANGE)
    return values.alias(series.name), problem


def _out_of_range(numbers: pl.Series, kind: Kind, name: str) -> pl.Series:
    if kind == "count":
        bad = numbers < 0
    elif kind == "year":
        bad = ~numbers.is_between(*_YEAR_RANGE)
    else:
        return falses(len(numbers))
    if name == "age":
        bad = bad | (numbers > _AGE_MAX)
    return bad.fill_null(False)


def _needs_parsing(series: pl.Series, kind: Kind) -> bool:
    target = TARGET_DTYPES[kind]
    return series.dtype != target or kind in ("count", "year") or series.name == "age"


def coerce_canonical(df: pl.DataFrame) -> pl.DataFrame:
    """``df`` with every canonical typed column present parsed to its proper dtype.

    Counts, years -> Int64; money, probability -> Float64; timestamps -> Datetime(us,
    UTC); flags -> Boolean. Unparseable and out-of-range values become null (see
    ``parse_report`` for which ones). Other columns are returned as they are.
    """
    updates = [
        _parse_column(df[name], kind, problems=False)[0]
        for name, kind in CANONICAL_KINDS.items()
        if name in df.columns and _needs_parsing(df[name], kind)
    ]
    return df.with_columns(updates) if updates else df


REPORT_SCHEMA = {"row": pl.Int64, "column": pl.String, "value": pl.String, "problem": pl.String}


def parse_report(df: pl.DataFrame) -> pl.DataFrame:
    """Values that were present but could not be read, one row per bad cell.

    Columns: ``row`` (0-based position in ``df``), ``column``, ``value`` (as text) and
    ``problem`` ("not a number", "not a date", "not a year", "not a yes/no value",
    "out of range"). Empty cells and placeholders such as "n/a" are missing, not bad.
    Pass the frame as read, before ``coerce_canonical`` or enrichment replaced the
    values.
    """
    parts: list[pl.DataFrame] = []
    for name, kind in CANONICAL_KINDS.items():
        if name not in df.columns:
            continue
        _, problem = _parse_column(df[name], kind)
        if problem is None or problem.null_count() == len(problem):
            continue
        mask = problem.is_not_null()
        parts.append(
            pl.DataFrame(
                {
                    "row": mask.arg_true().cast(pl.Int64),
                    "column": pl.Series(values=[name] * int(mask.sum()), dtype=pl.String),
                    "value": as_text(df[name]).filter(mask),
                    "problem": problem.filter(mask),
                }
            )
        )
    if not parts:
        return pl.DataFrame(schema=REPORT_SCHEMA)
    return pl.concat(parts).sort("row", "column")
