"""The SOQL engine's date literals and ranges (relative ones on the tiny org's fixed moment)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from connectors.sandbox.salesforce.soql.evaluate import date_range
from connectors.sandbox.salesforce.soql.grammar import DateLiteral
from tests.sandbox.salesforce.soql_org import NOW, contacts, record_id, run

# --- dates --------------------------------------------------------------------------------------

_D = date(2024, 3, 13)


@pytest.mark.parametrize(
    ("name", "n", "start", "end"),
    [
        ("TODAY", None, date(2024, 3, 13), date(2024, 3, 14)),
        ("YESTERDAY", None, date(2024, 3, 12), date(2024, 3, 13)),
        ("TOMORROW", None, date(2024, 3, 14), date(2024, 3, 15)),
        ("THIS_WEEK", None, date(2024, 3, 10), date(2024, 3, 17)),
        ("LAST_WEEK", None, date(2024, 3, 3), date(2024, 3, 10)),
        ("NEXT_WEEK", None, date(2024, 3, 17), date(2024, 3, 24)),
        ("THIS_MONTH", None, date(2024, 3, 1), date(2024, 4, 1)),
        ("LAST_MONTH", None, date(2024, 2, 1), date(2024, 3, 1)),
        ("THIS_QUARTER", None, date(2024, 1, 1), date(2024, 4, 1)),
        ("THIS_YEAR", None, date(2024, 1, 1), date(2025, 1, 1)),
        ("LAST_YEAR", None, date(2023, 1, 1), date(2024, 1, 1)),
        ("THIS_FISCAL_YEAR", None, date(2024, 1, 1), date(2025, 1, 1)),
        ("LAST_90_DAYS", None, date(2023, 12, 14), date(2024, 3, 14)),
        ("LAST_N_DAYS", 1, date(2024, 3, 12), date(2024, 3, 14)),  # yesterday and today
        ("LAST_N_DAYS", 30, date(2024, 2, 12), date(2024, 3, 14)),
        ("NEXT_N_DAYS", 2, date(2024, 3, 14), date(2024, 3, 16)),  # starts tomorrow
        ("N_DAYS_AGO", 8, date(2024, 3, 5), date(2024, 3, 6)),
        ("LAST_N_MONTHS", 2, date(2024, 1, 1), date(2024, 3, 1)),
        ("N_YEARS_AGO", 1, date(2023, 1, 1), date(2024, 1, 1)),
    ],
)
def test_date_literal_ranges(name: str, n: int | None, start: date, end: date) -> None:
    assert date_range(DateLiteral(name, n), _D) == (start, end)


def test_this_week_starts_on_sunday_even_on_a_sunday() -> None:
    sunday = date(2024, 3, 10)
    assert date_range(DateLiteral("THIS_WEEK", None), sunday) == (sunday, date(2024, 3, 17))


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("CreatedDate = TODAY", {"C1"}),
        ("CreatedDate = YESTERDAY", {"C2"}),
        ("CreatedDate = TOMORROW", {"C6"}),
        ("CreatedDate = THIS_WEEK", {"C1", "C2", "C6"}),
        ("CreatedDate = LAST_WEEK", {"C3"}),
        ("CreatedDate = LAST_MONTH", {"C4"}),
        ("CreatedDate = THIS_MONTH", {"C1", "C2", "C3", "C6"}),
        ("CreatedDate = THIS_YEAR", {"C1", "C2", "C3", "C4", "C6"}),
        ("CreatedDate != THIS_YEAR", {"C5"}),
        ("CreatedDate > TODAY", {"C6"}),  # after the range's end
        ("CreatedDate >= TODAY", {"C1", "C6"}),
        ("CreatedDate < TODAY", {"C2", "C3", "C4", "C5"}),  # before the range's start
        ("CreatedDate <= TODAY", {"C1", "C2", "C3", "C4", "C5"}),
        ("CreatedDate = LAST_N_DAYS:1", {"C1", "C2"}),
        ("CreatedDate = LAST_N_DAYS:30", {"C1", "C2", "C3", "C4"}),
        ("CreatedDate > LAST_N_DAYS:8", {"C6"}),
        ("CreatedDate < LAST_N_DAYS:8", {"C4", "C5"}),
        ("CreatedDate = NEXT_N_DAYS:3", {"C6"}),
        ("CreatedDate = N_DAYS_AGO:8", {"C3"}),
        ("CreatedDate IN (TODAY, LAST_MONTH)", {"C1", "C4"}),
        ("Birthdate = THIS_YEAR", set()),
        ("Birthdate < 1990-12-10", {"C2", "C6"}),
        ("Birthdate = 1990-12-10", {"C1"}),
        ("Birthdate IN (1990-12-10, 2000-01-01)", {"C1", "C5"}),
        ("Birthdate > LAST_N_DAYS:365", set()),
    ],
)
def test_dates_against_fixed_now(where: str, expected: set[str]) -> None:
    assert contacts(where) == expected


def test_date_literals_move_with_now() -> None:
    assert contacts("CreatedDate = TODAY", now=NOW + timedelta(days=1)) == {"C6"}
    # "now" counts in UTC even when given in another zone: still the 13th in UTC here.
    tokyo = datetime(2024, 3, 14, 1, 0, tzinfo=timezone(timedelta(hours=9)))
    assert contacts("CreatedDate = TODAY", now=tokyo) == {"C1"}


def test_opportunity_close_dates() -> None:
    assert run("SELECT Id FROM Opportunity WHERE CloseDate = THIS_MONTH") == [record_id("006", 1)]
    assert run("SELECT Id FROM Opportunity WHERE CloseDate < THIS_MONTH") == [record_id("006", 2)]


def test_datetime_literals_with_fractions_and_offsets() -> None:
    assert contacts("CreatedDate = 2024-03-13T09:00:00Z") == {"C1"}
    assert contacts("CreatedDate = 2024-03-13T09:00:00.000Z") == {"C1"}
    assert contacts("CreatedDate = 2024-03-13T11:00:00+02:00") == {"C1"}
    assert contacts("CreatedDate = 2024-03-13T04:00:00-05:00") == {"C1"}
    assert contacts("CreatedDate > 2024-03-12T23:59:59Z") == {"C1", "C6"}
    assert contacts("CreatedDate >= 2024-03-12T23:59:59Z") == {"C1", "C2", "C6"}
    assert contacts("CreatedDate IN (2024-03-13T09:00:00Z, 2024-03-05T12:00:00Z)") == {"C1", "C3"}


def test_sync_watermark_query() -> None:
    c2 = record_id("003", 2)
    soql = (
        "SELECT Id, Email, SystemModstamp FROM Contact WHERE SystemModstamp > 2024-03-12T23:59:59Z"
        f" OR (SystemModstamp = 2024-03-12T23:59:59Z AND Id > '{c2}')"
        " ORDER BY SystemModstamp, Id"
    )
    assert run(soql) == ["C1", "C6"]
    assert run(soql.replace(f"'{c2}'", f"'{record_id('003', 1)}'")) == ["C2", "C1", "C6"]
