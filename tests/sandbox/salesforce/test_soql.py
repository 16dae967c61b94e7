"""The SOQL engine's errors, as Salesforce words them, and its cost on a large table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connectors.sandbox.salesforce.soql.engine import parse_soql
from connectors.sandbox.salesforce.soql.grammar import parse_statement
from tests.sandbox.salesforce.soql_org import DESCRIBE, NOW, Row, error, record_id

# --- errors -------------------------------------------------------------------------------------


def test_malformed_query_names_the_token_and_its_position() -> None:
    err = error("SELECT Id FORM Contact")
    assert err.error_code == "MALFORMED_QUERY"
    assert err.message == (
        "\nSELECT Id FORM Contact\n          ^\nERROR at Row:1:Column:11\nunexpected token: 'FORM'"
    )
    assert str(err).startswith("MALFORMED_QUERY: ")


def test_malformed_query_at_end_of_input() -> None:
    err = error("SELECT Id FROM Contact WHERE")
    assert err.message == (
        "\nSELECT Id FROM Contact WHERE\n                            ^\n"
        "ERROR at Row:1:Column:29\nunexpected token: '<EOF>'"
    )


@pytest.mark.parametrize(
    ("soql", "token"),
    [
        ("SELECT FROM Contact", "FROM"),
        ("SELECT Id, FROM Contact", "FROM"),
        ("SELECT Id FROM Contact WHERE Email == 'x'", "="),
        ('SELECT Id FROM Contact WHERE Email = "x"', '"'),
        ("SELECT Id FROM Contact WHERE Email = 'x", "'"),
        ("SELECT Id FROM Contact WHERE Email = Smith", "Smith"),
        ("SELECT Id FROM Contact WHERE CreatedDate = LAST_N_DAYS", "LAST_N_DAYS"),
        ("SELECT Id FROM Contact WHERE CreatedDate = TODAY:3", "TODAY:3"),
        ("SELECT Id FROM Contact WHERE CreatedDate = LAST_FORTNIGHT", "LAST_FORTNIGHT"),
        ("SELECT Id FROM Contact GROUP BY Email", "GROUP"),
        ("SELECT Id FROM Contact LIMIT 5 OFFSET 1 LIMIT 3", "LIMIT"),
        ("SELECT Id FROM Contact ORDER BY", "<EOF>"),
        ("SELECT Id FROM Contact LIMIT -1", "-1"),
        ("SELECT Id FROM Contact LIMIT 1.5", "1.5"),
        ("SELECT Id FROM Contact c", "c"),
        ("SELECT Id, Limit FROM Contact", "Limit"),
        ("SELECT Id FROM Contact WHERE In = 1", "In"),
    ],
)
def test_malformed_queries(soql: str, token: str) -> None:
    err = error(soql)
    assert err.error_code == "MALFORMED_QUERY"
    assert err.message.endswith(f"unexpected token: '{token}'")


def test_error_position_on_later_rows() -> None:
    err = error("SELECT Id\nFROM Contact\nWHERE Emial = 'x'")
    assert err.error_code == "INVALID_FIELD"
    assert err.message.startswith("\nWHERE Emial = 'x'\n      ^\nERROR at Row:3:Column:7\n")


def test_long_lines_are_windowed_around_the_error() -> None:
    fields = "FirstName, LastName, Email, Birthdate, Description, CreatedDate, SystemModstamp"
    soql = f"SELECT Id, {fields}, Account.Name, Account.Industry, Emial, Score__c FROM Contact"
    err = error(soql)
    snippet, caret, where = err.message.split("\n")[1:4]
    assert where == f"ERROR at Row:1:Column:{soql.index('Emial') + 1}"
    assert len(snippet) < len(soql) and not snippet.startswith(("SELECT", ",", " "))
    assert snippet[len(caret) - 1 :].startswith("Emial")


def test_invalid_field_message() -> None:
    err = error("SELECT Id, Emial FROM Contact")
    assert err.error_code == "INVALID_FIELD"
    assert err.message == (
        "\nSELECT Id, Emial FROM Contact\n           ^\nERROR at Row:1:Column:12\n"
        "No such column 'Emial' on entity 'Contact'. If you are attempting to use a custom field, "
        "be sure to append the '__c' after the custom field name. Please reference your WSDL or "
        "the describe call for the appropriate names."
    )


def test_invalid_parent_field_and_relationship() -> None:
    err = error("SELECT Account.Indstry FROM Contact")
    assert err.error_code == "INVALID_FIELD"
    assert "No such column 'Indstry' on entity 'Account'." in err.message
    err = error("SELECT Id FROM Contact WHERE Acount.Name = 'x'")
    assert err.error_code == "INVALID_FIELD"
    assert "ERROR at Row:1:Column:30\nDidn't understand relationship 'Acount' in field path." in (
        err.message
    )
    # A lookup field is not a relationship, and a relationship is not a column.
    assert "relationship 'AccountId'" in error("SELECT AccountId.Name FROM Contact").message
    assert "No such column 'Account'" in error("SELECT Account FROM Contact").message


def test_invalid_type_message() -> None:
    err = error("SELECT Id FROM Contat")
    assert err.error_code == "INVALID_TYPE"
    assert err.message == (
        "\nSELECT Id FROM Contat\n               ^\nERROR at Row:1:Column:16\n"
        "sObject type 'Contat' is not supported. If you are attempting to use a custom object, "
        "be sure to append the '__c' after the entity name. Please reference your WSDL or the "
        "describe call for the appropriate names."
    )


@pytest.mark.parametrize(
    ("where", "field", "type_name", "quoted"),
    [
        ("Account.NumberOfEmployees = '500'", "NumberOfEmployees", "integer", False),
        ("Account.NumberOfEmployees = 1.5", "NumberOfEmployees", "integer", False),
        ("Score__c = '1'", "Score__c", "double", False),
        ("Email = 5", "Email", "string", True),
        ("Email IN ('a@b.c', 5)", "Email", "string", True),
        ("AccountId = 5", "AccountId", "id", True),
        ("HasOptedOutOfEmail = 'true'", "HasOptedOutOfEmail", "boolean", False),
        ("CreatedDate > 2024-01-01", "CreatedDate", "dateTime", False),
        ("CreatedDate > '2024-01-01T00:00:00Z'", "CreatedDate", "dateTime", False),
        ("Birthdate = 2024-01-01T00:00:00Z", "Birthdate", "date", False),
        ("LastName = TODAY", "LastName", "string", True),
        ("Score__c LIKE '1%'", "Score__c", "double", False),
    ],
)
def test_type_mismatches(where: str, field: str, type_name: str, quoted: bool) -> None:
    err = error(f"SELECT Id FROM Contact WHERE {where}")
    assert err.error_code == "INVALID_FIELD"
    assert err.message.endswith(
        f"ERROR at Row:1:Column:30\nvalue of filter criterion for field '{field}' must be of type "
        f"{type_name} and should {'' if quoted else 'not '}be enclosed in quotes"
    )


def test_id_filters() -> None:
    err = error("SELECT Id FROM Contact WHERE Id = 'Edge Communications'")
    assert (err.error_code, err.message.split("\n")[-1]) == (
        "INVALID_QUERY_FILTER_OPERATOR",
        "invalid ID field: Edge Communications",
    )
    err = error("SELECT Id FROM Contact WHERE AccountId LIKE '001%'")
    assert (err.error_code, err.message.split("\n")[-1]) == (
        "INVALID_QUERY_FILTER_OPERATOR",
        "invalid operator on id field",
    )


def test_duplicate_fields_are_rejected() -> None:
    err = error("SELECT Id, Email, email FROM Contact")
    assert (err.error_code, err.message) == ("INVALID_FIELD", "duplicate field selected: Email")
    err = error("SELECT Account.Name, account.NAME FROM Contact")
    assert err.message == "duplicate field selected: Account.Name"


def test_unsupported_constructs_fail_clearly() -> None:
    err = error("SELECT Id FROM Account WHERE Id IN (SELECT AccountId FROM Contact)")
    assert err.error_code == "MALFORMED_QUERY" and "subqueries are not supported" in err.message
    err = error("SELECT toLabel(Industry) FROM Account")
    assert err.error_code == "MALFORMED_QUERY" and "toLabel() is not supported" in err.message
    err = error("SELECT Id FROM Contact LIMIT 2147483648")
    assert err.message.endswith("numeric value out of range: 2147483648")


# --- performance --------------------------------------------------------------------------------


def test_the_sync_query_over_100k_rows_returns_the_rows_past_the_watermark_in_order() -> None:
    """(Its speed is measured by ``benchmarks/sandbox_soql.py``.)"""
    base = datetime(2026, 1, 1, tzinfo=UTC)
    rows: list[Row] = [
        {
            "Id": record_id("003", n),
            "Email": f"user{n}@example.com",
            # 1 in 3 rows sits exactly on the watermark, the rest spread around it
            "SystemModstamp": base + timedelta(seconds=(n % 7 - 3) * (n % 3 != 0)),
        }
        for n in range(100_000)
    ]

    def fast_get(row: Row, path: tuple[str, ...]) -> Any:
        return row.get(path[0])

    soql = (
        "SELECT Id, Email, SystemModstamp FROM Contact "
        "WHERE SystemModstamp > 2026-01-01T00:00:00Z "
        f"OR (SystemModstamp = 2026-01-01T00:00:00Z AND Id > '{record_id('003', 123)}') "
        "ORDER BY SystemModstamp, Id"
    )
    out = parse_soql(soql, DESCRIBE).execute(rows, fast_get, now=NOW)

    expected = sorted(
        (
            r
            for r in rows
            if r["SystemModstamp"] > base
            or (r["SystemModstamp"] == base and r["Id"] > record_id("003", 123))
        ),
        key=lambda r: (r["SystemModstamp"], r["Id"]),
    )
    assert out == expected


def test_a_query_paged_through_is_parsed_once() -> None:
    """(The cost of a parse is measured by ``benchmarks/sandbox_soql.py``.)"""
    # A text no other test sends, so that its first parse here is the cache's miss.
    soql = "SELECT Id, Email FROM Contact WHERE Email LIKE '%@x.com' ORDER BY Id LIMIT 7919"
    before = parse_statement.cache_info()
    for _ in range(3):
        parse_soql(soql, DESCRIBE)
    after = parse_statement.cache_info()
    assert (after.misses - before.misses, after.hits - before.hits) == (1, 2)
