"""Company size and revenue bands, age and generation."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest

from segmentation.enrich.bands import birth_year_and_age, generation, revenue_band, size_band

NOW = datetime(2025, 6, 15, tzinfo=UTC)


@pytest.mark.parametrize(
    ("employees", "band"),
    [
        (1, "1-10"),
        (10, "1-10"),
        (11, "11-50"),
        (50, "11-50"),
        (51, "51-200"),
        (200, "51-200"),
        (201, "201-1000"),
        (1000, "201-1000"),
        (1001, "1001-5000"),
        (5000, "1001-5000"),
        (5001, "5000+"),
        (400_000, "5000+"),
        (0, None),  # CRMs default empty numbers to 0
        (None, None),
    ],
)
def test_size_band(employees: int | None, band: str | None) -> None:
    frame = pl.DataFrame({"e": [employees]}, schema={"e": pl.Int64})
    assert frame.select(size_band(pl.col("e"))).item() == band


@pytest.mark.parametrize(
    ("revenue", "band"),
    [
        (1.0, "<1M"),
        (999_999.0, "<1M"),
        (1_000_000.0, "1M-10M"),
        (9_999_999.0, "1M-10M"),
        (10_000_000.0, "10M-50M"),
        (50_000_000.0, "50M-250M"),
        (250_000_000.0, "250M-1B"),
        (999_999_999.0, "250M-1B"),
        (1e9, "1B+"),
        (3.5e11, "1B+"),
        (0.0, None),
        (None, None),
    ],
)
def test_revenue_band(revenue: float | None, band: str | None) -> None:
    frame = pl.DataFrame({"r": [revenue]}, schema={"r": pl.Float64})
    assert frame.select(revenue_band(pl.col("r"))).item() == band


@pytest.mark.parametrize(
    ("year", "label"),
    [
        (1930, "silent"),
        (1945, "silent"),
        (1946, "boomer"),
        (1964, "boomer"),
        (1965, "gen_x"),
        (1980, "gen_x"),
        (1981, "millennial"),
        (1996, "millennial"),
        (1997, "gen_z"),
        (2010, "gen_z"),
        (None, None),
    ],
)
def test_generation(year: int | None, label: str | None) -> None:
    frame = pl.DataFrame({"y": [year]}, schema={"y": pl.Int64})
    assert frame.select(generation(pl.col("y"))).item() == label


def test_age_prefers_date_of_birth_then_birth_year_then_age() -> None:
    frame = pl.DataFrame(
        {
            "date_of_birth": [
                datetime(1990, 6, 16, tzinfo=UTC),  # birthday tomorrow: still 34
                datetime(1990, 6, 15, tzinfo=UTC),  # birthday today: 35
                None,
                None,
                None,
                datetime(1850, 1, 1, tzinfo=UTC),  # implausible
            ],
            "birth_year": [1980, None, 1984, None, None, None],
            "age": [None, None, None, 41, None, None],
        }
    )
    year, age = birth_year_and_age(frame, NOW)
    out = frame.select(year.alias("year"), age.alias("age"))
    assert out.rows() == [
        (1990, 34),
        (1990, 35),
        (1984, 41),
        (1984, 41),
        (None, None),
        (None, None),
    ]


def test_age_without_any_source_is_null() -> None:
    frame = pl.DataFrame({"other": [1]})
    year, age = birth_year_and_age(frame, NOW)
    assert frame.select(year.alias("y"), age.alias("a")).row(0) == (None, None)
