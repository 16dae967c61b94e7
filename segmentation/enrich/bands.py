"""Size, revenue and age bands.

Bands are labelled strings so playbooks can say ``company_size_band in [201-1000,
1001-5000]``. A zero or negative headcount or revenue is read as "not filled in"
(CRMs default numeric fields to 0), so it gets no band.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from segmentation.enrich.normalize import first_of

# (upper bound inclusive, label), ascending; above the last bound: the open band.
SIZE_BANDS: tuple[tuple[float, str], ...] = (
    (10, "1-10"),
    (50, "11-50"),
    (200, "51-200"),
    (1000, "201-1000"),
    (5000, "1001-5000"),
)
SIZE_TOP = "5000+"
REVENUE_BANDS: tuple[tuple[float, str], ...] = (
    (1e6, "<1M"),
    (1e7, "1M-10M"),
    (5e7, "10M-50M"),
    (2.5e8, "50M-250M"),
    (1e9, "250M-1B"),
)
REVENUE_TOP = "1B+"
SIZE_BAND_VALUES = (*(label for _, label in SIZE_BANDS), SIZE_TOP)
REVENUE_BAND_VALUES = (*(label for _, label in REVENUE_BANDS), REVENUE_TOP)

# Birth years per generation (Pew Research Center). Earlier years count as silent and
# later ones as gen_z: the odd centenarian or child in a CRM is not worth a band.
GENERATIONS: tuple[tuple[int, str], ...] = (
    (1945, "silent"),
    (1964, "boomer"),
    (1980, "gen_x"),
    (1996, "millennial"),
)
GENERATION_TOP = "gen_z"
GENERATION_VALUES = (*(label for _, label in GENERATIONS), GENERATION_TOP)
MAX_AGE = 120


def _band(
    value: pl.Expr, bands: tuple[tuple[float, str], ...], top: str, *, strict: bool
) -> pl.Expr:
    # ``strict``: bounds are exclusive (revenue "<1M" stops below one million).
    unknown: list[tuple[pl.Expr, pl.Expr]] = [(value <= 0, pl.lit(None, dtype=pl.String))]
    below = [(value < bound if strict else value <= bound, pl.lit(label)) for bound, label in bands]
    return first_of([*unknown, *below, (value.is_not_null(), pl.lit(top))], pl.lit(None))


def size_band(employees: pl.Expr) -> pl.Expr:
    """``1-10``, ``11-50``, ``51-200``, ``201-1000``, ``1001-5000``, ``5000+``; null if unknown."""
    return _band(employees, SIZE_BANDS, SIZE_TOP, strict=False)


def revenue_band(revenue: pl.Expr) -> pl.Expr:
    """``<1M``, ``1M-10M``, ``10M-50M``, ``50M-250M``, ``250M-1B``, ``1B+``; null if unknown."""
    return _band(revenue, REVENUE_BANDS, REVENUE_TOP, strict=True)


def birth_year_and_age(df: pl.DataFrame, now: datetime) -> tuple[pl.Expr, pl.Expr]:
    """(birth year, age in whole years) from date_of_birth, else birth_year, else age.

    Expressions over the already-coerced columns; the age is exact where the date of
    birth is known and ``now.year - birth_year`` otherwise. Implausible ages (negative
    or over 120) make both null.
    """
    candidates_year: list[pl.Expr] = []
    candidates_age: list[pl.Expr] = []
    if "date_of_birth" in df.columns:
        dob = pl.col("date_of_birth")
        before_birthday = (dob.dt.month() > now.month) | (
            (dob.dt.month() == now.month) & (dob.dt.day() > now.day)
        )
        candidates_year.append(dob.dt.year().cast(pl.Int64))
        candidates_age.append(
            pl.lit(now.year) - dob.dt.year().cast(pl.Int64) - before_birthday.cast(pl.Int64)
        )
    if "birth_year" in df.columns:
        candidates_year.append(pl.col("birth_year").cast(pl.Int64))
        candidates_age.append(pl.lit(now.year) - pl.col("birth_year").cast(pl.Int64))
    if "age" in df.columns:
        candidates_year.append(pl.lit(now.year) - pl.col("age").cast(pl.Int64))
        candidates_age.append(pl.col("age").cast(pl.Int64))
    if not candidates_year:
        none = pl.lit(None, dtype=pl.Int64)
        return none, none
    year = pl.coalesce(candidates_year)
    age = pl.coalesce(candidates_age)
    plausible = (age >= 0) & (age <= MAX_AGE)
    return pl.when(plausible).then(year), pl.when(plausible).then(age)


def generation(birth_year: pl.Expr) -> pl.Expr:
    """``silent``, ``boomer``, ``gen_x``, ``millennial``, ``gen_z``; null if unknown."""
    cases = [(birth_year <= bound, pl.lit(label)) for bound, label in GENERATIONS]
    return first_of(
        [*cases, (birth_year.is_not_null(), pl.lit(GENERATION_TOP))], pl.lit(None, dtype=pl.String)
    )
