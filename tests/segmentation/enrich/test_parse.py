"""Lenient parsing of numbers, dates and flags, coercion of canonical columns, parse_report."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest

from segmentation.enrich import CANONICAL_KINDS, coerce_canonical, parse_report
from segmentation.enrich.parse import DATETIME, parse_bool, parse_datetime, parse_number

NUMBERS = [
    ("1200", 1200.0),
    (" 42 ", 42.0),
    ("1,200", 1200.0),
    ("1,200,000", 1_200_000.0),
    ("12,34,567", 1_234_567.0),  # Indian grouping
    ("1.234,56", 1234.56),  # European
    ("1,234.56", 1234.56),
    ("1,5", 1.5),
    ("1 200", 1200.0),
    ("1\u00a0200", 1200.0),
    ("1'200", 1200.0),  # Swiss
    ("$5M", 5_000_000.0),
    ("$ 5 mm", 5_000_000.0),
    ("5k", 5000.0),
    ("2.5K", 2500.0),
    ("1.2 bn", 1_200_000_000.0),
    ("€1.2 Mio", 1_200_000.0),
    ("USD 3,000", 3000.0),
    ("3000 EUR", 3000.0),
    ("£750", 750.0),
    ("1000+", 1000.0),
    ("~50", 50.0),
    ("51-200", 125.5),
    ("5-10M", 7_500_000.0),
    ("10 to 20", 15.0),
    ("50 employees", 50.0),
    ("(1,200)", -1200.0),
    ("-5", -5.0),
    ("1e3", 1000.0),
    ("abc", None),
    ("12 apples", None),
    ("1.2.3", None),
    ("n/a", None),
    ("", None),
    (None, None),
]


@pytest.mark.parametrize(("text", "expected"), NUMBERS)
def test_numbers_in_any_notation(text: str | None, expected: float | None) -> None:
    got = parse_number(pl.Series([text], dtype=pl.String)).item()
    assert got == pytest.approx(expected) if expected is not None else got is None


def test_dot_grouped_counts_are_thousands_but_money_stays_decimal() -> None:
    values = pl.Series(["1.200", "2.500.000"])
    assert parse_number(values, integer=True).to_list() == [1200.0, 2_500_000.0]
    assert parse_number(values).to_list() == [1.2, 2_500_000.0]


def test_typed_numbers_pass_through() -> None:
    assert parse_number(pl.Series([1, 2, None])).to_list() == [1.0, 2.0, None]
    assert parse_number(pl.Series([1.5, float("nan"), float("inf")])).to_list() == [1.5, None, None]


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


DATES = [
    ("2024-05-01T12:34:56.789Z", utc(2024, 5, 1, 12, 34, 56, 789000)),
    ("2024-05-01T12:34:56+02:00", utc(2024, 5, 1, 10, 34, 56)),
    ("2024-05-01T12:34:56.123456+0530", utc(2024, 5, 1, 7, 4, 56, 123456)),
    ("2024-05-01 12:34:56", utc(2024, 5, 1, 12, 34, 56)),
    ("2024-05-01 12:34", utc(2024, 5, 1, 12, 34)),
    ("2024-05-01", utc(2024, 5, 1)),
    ("2024/05/01", utc(2024, 5, 1)),
    ("05/01/2024", utc(2024, 5, 1)),  # ambiguous: month first
    ("25/01/2024", utc(2024, 1, 25)),  # only day-first fits
    ("5/1/24", utc(2024, 5, 1)),
    ("01.05.2024", utc(2024, 5, 1)),
    ("May 1, 2024", utc(2024, 5, 1)),
    ("1 May 2024", utc(2024, 5, 1)),
    ("20240501", utc(2024, 5, 1)),
    ("2024", utc(2024, 1, 1)),
    ("1714567890123", utc(2024, 5, 1, 12, 51, 30, 123000)),  # epoch ms
    ("junk", None),
    ("2024-13-45", None),
    ("N/A", None),
    (None, None),
]


@pytest.mark.parametrize(("text", "expected"), DATES)
def test_dates_in_any_notation(text: str | None, expected: datetime | None) -> None:
    assert parse_datetime(pl.Series([text], dtype=pl.String)).item() == expected


def test_ambiguous_dates_follow_the_column_convention() -> None:
    us = parse_datetime(pl.Series(["05/01/2024", "12/31/2023", "01/13/2024"]))
    assert us.to_list() == [utc(2024, 5, 1), utc(2023, 12, 31), utc(2024, 1, 13)]
    eu = parse_datetime(pl.Series(["05/01/2024", "31/12/2023", "13/01/2024"]))
    assert eu.to_list() == [utc(2024, 1, 5), utc(2023, 12, 31), utc(2024, 1, 13)]


def test_mixed_shapes_in_one_column() -> None:
    mixed = pl.Series(["2024-05-01T12:00:00Z", "1714567890123", "2024-05-01", "May 1, 2024", "x"])
    assert parse_datetime(mixed).to_list() == [
        utc(2024, 5, 1, 12),
        utc(2024, 5, 1, 12, 51, 30, 123000),
        utc(2024, 5, 1),
        utc(2024, 5, 1),
        None,
    ]


def test_epoch_unit_follows_the_column_magnitude() -> None:
    seconds = parse_datetime(pl.Series(["1714567890", "1714567891"]))
    assert seconds.to_list() == [utc(2024, 5, 1, 12, 51, 30), utc(2024, 5, 1, 12, 51, 31)]
    # Milliseconds before 1970 are negative; HubSpot sends birth dates that way.
    millis = parse_datetime(pl.Series([-946771200000, 1714567890123]))
    assert millis.to_list() == [utc(1940, 1, 1), utc(2024, 5, 1, 12, 51, 30, 123000)]


def test_typed_datetimes_become_utc() -> None:
    naive = pl.Series([datetime(2024, 5, 1, 12)])
    berlin = naive.dt.replace_time_zone("Europe/Berlin")
    assert parse_datetime(naive).item() == utc(2024, 5, 1, 12)
    assert parse_datetime(berlin).item() == utc(2024, 5, 1, 10)
    assert parse_datetime(berlin).dtype == DATETIME


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("true", True),
        ("Yes", True),
        ("1", True),
        ("won", True),
        ("Closed Won", True),
        ("ja", True),
        ("FALSE", False),
        ("no", False),
        ("0", False),
        ("lost", False),
        ("maybe", None),
        ("", None),
        (None, None),
    ],
)
def test_flags(text: str | None, expected: bool | None) -> None:
    assert parse_bool(pl.Series([text], dtype=pl.String)).item() is expected


def test_coerce_gives_canonical_dtypes_and_leaves_other_columns() -> None:
    raw = pl.DataFrame(
        {
            "employees": ["1,200", "50"],
            "annual_revenue": ["$5M", "n/a"],
            "created_at": ["2024-05-01", "1714567890123"],
            "is_won": ["yes", "no"],
            "birth_year": ["1984", "1990-06-01"],
            "custom": ["1,200", "x"],
        }
    )
    typed = coerce_canonical(raw)
    assert dict(typed.schema) == {
        "employees": pl.Int64,
        "annual_revenue": pl.Float64,
        "created_at": DATETIME,
        "is_won": pl.Boolean,
        "birth_year": pl.Int64,
        "custom": pl.String,
    }
    assert typed["employees"].to_list() == [1200, 50]
    assert typed["annual_revenue"].to_list() == [5_000_000.0, None]
    assert typed["birth_year"].to_list() == [1984, 1990]  # a date in a year column: its year
    assert typed["custom"].to_list() == ["1,200", "x"]


def test_out_of_range_values_become_null() -> None:
    typed = coerce_canonical(
        pl.DataFrame(
            {
                "employees": [-5, 10],
                "birth_year": ["1700", "1984"],
                "age": ["200", "40"],
                "created_at": ["0024-05-01", "2024-05-01"],
            }
        )
    )
    assert typed.row(0) == (None, None, None, None)
    assert typed.row(1) == (10, 1984, 40, utc(2024, 5, 1))


def test_parse_report_lists_present_but_unreadable_values_only() -> None:
    raw = pl.DataFrame(
        {
            "employees": ["1,200", "abc", "n/a", None, "-3"],
            "close_date": ["2024-05-01", "", "someday", "2024-02-30", "1714567890123"],
            "is_won": ["yes", "nope", None, "no", "1"],
            "name": ["a", "b", "c", "d", "e"],
        }
    )
    report = parse_report(raw)
    assert report.schema == pl.Schema(
        {"row": pl.Int64, "column": pl.String, "value": pl.String, "problem": pl.String}
    )
    assert report.rows() == [
        (1, "employees", "abc", "not a number"),
        (1, "is_won", "nope", "not a yes/no value"),
        (2, "close_date", "someday", "not a date"),
        (3, "close_date", "2024-02-30", "not a date"),
        (4, "employees", "-3", "out of range"),
    ]


def test_parse_report_of_a_clean_or_typed_frame_is_empty() -> None:
    clean = pl.DataFrame({"employees": [1, 2], "created_at": [1714567890123, None]})
    assert parse_report(clean).height == 0
    assert parse_report(pl.DataFrame({"other": ["x"]})).height == 0


def test_every_canonical_kind_is_known() -> None:
    assert set(CANONICAL_KINDS.values()) <= {"count", "int", "float", "year", "datetime", "bool"}
    assert CANONICAL_KINDS["employees"] == "count"
    assert CANONICAL_KINDS["last_activity_at"] == "datetime"
