"""Dates and timestamps in any common notation, vectorized, as UTC datetimes.

ISO 8601 text, epoch seconds/milliseconds/microseconds (as numbers or text), bare
years, compact "20240501" and the usual local shapes ("05/01/2024", "01.05.2024",
"May 1, 2024"). Text formats are ranked on a sample of the column, so a column written
one way is parsed in one pass.
"""

from __future__ import annotations

import polars as pl

from segmentation.enrich.normalize import as_text, failures, falses, nulls

DATETIME = pl.Datetime("us", "UTC")

# Text date shapes. The order is the tie-break only: formats are tried best-fitting
# first (see ``_by_fit``). So an ambiguous "05/01/2024" is May 1st in a column whose
# other values read month-first (US-hosted CRMs), and January 5th in a column whose
# values like "25/01/2024" only read day-first.
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
    return datetimes_with_failures(series)[0]


def datetimes_with_failures(series: pl.Series) -> tuple[pl.Series, pl.Series]:
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
    return values.alias(series.name), failures(values, text)
