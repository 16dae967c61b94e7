"""The SOQL engine's results: ORDER BY, LIMIT and OFFSET, COUNT() and projection."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from connectors.sandbox.salesforce.soql.engine import parse_soql
from tests.sandbox.salesforce.soql_org import (
    A1,
    DB,
    DESCRIBE,
    NOW,
    U1,
    Row,
    error,
    get,
    record_id,
    rows_of,
    run,
)

# --- ORDER BY, LIMIT, OFFSET --------------------------------------------------------------------


def test_order_by_is_case_insensitive_with_nulls_first_by_default() -> None:
    assert run("SELECT Id FROM Contact ORDER BY LastName") == ["C6", "C2", "C4", "C1", "C5", "C3"]
    assert run("SELECT Id FROM Contact ORDER BY FirstName") == ["C5", "C1", "C3", "C6", "C2", "C4"]
    # "By default, null values are sorted first" -- whatever the direction (SOQL reference).
    assert run("SELECT Id FROM Contact ORDER BY FirstName DESC") == [
        "C5",
        "C4",
        "C2",
        "C6",
        "C3",
        "C1",
    ]


def test_order_by_nulls_first_and_last() -> None:
    assert run("SELECT Id FROM Contact ORDER BY Score__c NULLS LAST") == [
        "C5",
        "C2",
        "C4",
        "C1",
        "C6",
        "C3",
    ]
    assert run("SELECT Id FROM Contact ORDER BY Score__c ASC NULLS FIRST")[0] == "C3"
    assert run("SELECT Id FROM Contact ORDER BY Score__c DESC NULLS FIRST")[:2] == ["C3", "C6"]
    assert run("SELECT Id FROM Contact ORDER BY Score__c DESC NULLS LAST")[-1] == "C3"


def test_multi_key_order_by_with_mixed_directions() -> None:
    assert run("SELECT Id FROM Contact ORDER BY Score__c DESC NULLS LAST, LastName") == [
        "C6",
        "C1",
        "C2",
        "C4",
        "C5",
        "C3",
    ]
    assert run("SELECT Id FROM Contact ORDER BY Score__c DESC NULLS LAST, LastName DESC")[2:4] == [
        "C4",
        "C2",
    ]
    assert run("SELECT Id FROM Contact ORDER BY Account.Name DESC, CreatedDate ASC") == [
        "C3",
        "C6",
        "C2",
        "C5",
        "C4",
        "C1",
    ]


def test_order_by_booleans_and_dates() -> None:
    assert run("SELECT Id FROM Contact ORDER BY HasOptedOutOfEmail DESC, Id")[0] == "C2"
    assert run("SELECT Id FROM Contact ORDER BY Birthdate NULLS LAST, Id") == [
        "C6",
        "C2",
        "C1",
        "C5",
        "C3",
        "C4",
    ]


def test_limit_and_offset() -> None:
    base = "SELECT Id FROM Contact ORDER BY LastName"
    assert run(base + " LIMIT 2") == ["C6", "C2"]
    assert run(base + " LIMIT 2 OFFSET 2") == ["C4", "C1"]
    assert run(base + " OFFSET 4") == ["C5", "C3"]
    assert run(base + " LIMIT 0") == []
    assert run(base + " LIMIT 10 OFFSET 10") == []
    assert run("SELECT Id FROM Contact WHERE Score__c = 75 LIMIT 1") == ["C2"]


def test_limit_without_order_by_stops_reading_candidates() -> None:
    seen: list[int] = []

    def candidates() -> Iterator[Row]:
        for n, row in enumerate(rows_of("Contact")):
            seen.append(n)
            yield row

    q = parse_soql("SELECT Id FROM Contact WHERE Email != null LIMIT 2", DESCRIBE)
    assert [r["_key"] for r in q.execute(candidates(), get, now=NOW)] == ["C1", "C2"]
    assert seen == [0, 1]


def test_offset_above_2000_is_out_of_range() -> None:
    err = error("SELECT Id FROM Contact OFFSET 2001")
    assert (err.error_code, err.message) == (
        "NUMBER_OUTSIDE_VALID_RANGE",
        "Maximum SOQL offset allowed is 2000",
    )
    assert parse_soql("SELECT Id FROM Contact OFFSET 2000", DESCRIBE).offset == 2000


# --- COUNT() ------------------------------------------------------------------------------------


def test_count() -> None:
    q = parse_soql("SELECT COUNT() FROM Contact WHERE Score__c >= 75", DESCRIBE)
    assert q.is_count and q.fields == []
    assert q.count(rows_of("Contact"), get, now=NOW) == 4
    assert parse_soql("select count() from Lead", DESCRIBE).count(rows_of("Lead"), get) == 2


def test_count_must_stand_alone_and_other_aggregates_are_rejected() -> None:
    assert error("SELECT Id, COUNT() FROM Contact").error_code == "MALFORMED_QUERY"
    err = error("SELECT COUNT(Id) FROM Contact")
    assert err.error_code == "MALFORMED_QUERY" and "COUNT()" in err.message


@pytest.mark.parametrize("arg", ["ALL", "STANDARD", "CUSTOM"])
def test_fields_function_is_rejected_clearly(arg: str) -> None:
    err = error(f"SELECT FIELDS({arg}) FROM Contact LIMIT 200")
    assert err.error_code == "MALFORMED_QUERY"
    assert err.message.endswith(
        f"ERROR at Row:1:Column:8\nFIELDS({arg}) is not supported by the sandbox; "
        "list the fields to select"
    )


# --- projection ---------------------------------------------------------------------------------


def test_projection_nests_parents_and_formats_values() -> None:
    q = parse_soql(
        "select id, lastname, account.name, createddate, birthdate, hasoptedoutofemail, "
        "ACCOUNT.owner.NAME, score__c, account.industry from contact",
        DESCRIBE,
    )
    c1, c3 = DB["Contact"][record_id("003", 1)], DB["Contact"][record_id("003", 3)]
    assert q.project(c1, get) == {
        "Id": c1["Id"],
        "LastName": "Lovelace",
        "Account": {"Name": "Acme", "Owner": {"Name": "Olivia Owner"}, "Industry": "Technology"},
        "CreatedDate": "2024-03-13T09:00:00.000+0000",
        "Birthdate": "1990-12-10",
        "HasOptedOutOfEmail": False,
        "Score__c": 90.5,
    }
    projected = q.project(c3, get)
    assert projected["Account"] is None
    assert projected["HasOptedOutOfEmail"] is False  # booleans are never null
    assert projected["Birthdate"] is None
    assert list(projected) == [
        "Id",
        "LastName",
        "Account",
        "CreatedDate",
        "Birthdate",
        "HasOptedOutOfEmail",
        "Score__c",
    ]


def test_projection_attributes_hook_for_record_and_parents() -> None:
    def attributes(object_name: str, handle: Any) -> dict[str, Any] | None:
        return {
            "type": object_name,
            "url": f"/services/data/v59.0/sobjects/{object_name}/{handle['Id']}",
        }

    q = parse_soql("SELECT Email, Account.Owner.Email FROM Contact", DESCRIBE)
    out = q.project(DB["Contact"][record_id("003", 1)], get, attributes=attributes)
    assert list(out) == ["attributes", "Email", "Account"]
    assert out["attributes"]["type"] == "Contact"
    assert out["Account"]["attributes"] == {
        "type": "Account",
        "url": f"/services/data/v59.0/sobjects/Account/{A1}",
    }
    assert out["Account"]["Owner"] == {
        "attributes": {"type": "User", "url": f"/services/data/v59.0/sobjects/User/{U1}"},
        "Email": "olivia@sandbox.test",
    }
    # A hook may decline (None): no attributes key at all.
    assert "attributes" not in q.project(DB["Contact"][record_id("003", 1)], get, lambda o, h: None)


def test_datetime_projection_keeps_milliseconds_and_converts_to_utc() -> None:
    q = parse_soql("SELECT CreatedDate FROM Contact", DESCRIBE)
    row = {"_type": "Contact", "CreatedDate": datetime(2024, 1, 31, 12, 0, 0, 123456, tzinfo=UTC)}
    assert q.project(row, get) == {"CreatedDate": "2024-01-31T12:00:00.123+0000"}
    east = datetime.fromisoformat("2024-01-31T12:00:00+02:00")
    assert q.project({"_type": "Contact", "CreatedDate": east}, get) == {
        "CreatedDate": "2024-01-31T10:00:00.000+0000"
    }
