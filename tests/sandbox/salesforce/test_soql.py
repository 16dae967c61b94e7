"""The sandbox's SOQL engine: grammar, name/type validation, evaluation, projection, errors.

Runs against a small in-memory org (Account, User, Contact, Lead, Opportunity) through the same
``Describe`` protocol and ``get(row, path)`` access the Salesforce dialect uses. Relative date
literals are evaluated on a fixed moment: Wednesday 2024-03-13 15:30 UTC (en_US weeks start on
Sunday, so THIS_WEEK is 2024-03-10 .. 2024-03-16).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest

from connectors.sandbox.salesforce.soql.engine import FieldInfo, SoqlError, SoqlQuery, parse_soql
from connectors.sandbox.salesforce.soql.evaluate import date_range
from connectors.sandbox.salesforce.soql.grammar import DateLiteral, parse_statement

NOW = datetime(2024, 3, 13, 15, 30, tzinfo=UTC)

Row = dict[str, Any]

# --- a tiny org -------------------------------------------------------------------------------

_SCHEMA: dict[str, list[FieldInfo]] = {
    "Account": [
        FieldInfo("Id", "id"),
        FieldInfo("Name", "string"),
        FieldInfo("Industry", "picklist"),
        FieldInfo("NumberOfEmployees", "int"),
        FieldInfo("AnnualRevenue", "currency"),
        FieldInfo("OwnerId", "reference", "User", "Owner"),
        FieldInfo("ParentId", "reference", "Account", "Parent"),
        FieldInfo("CreatedDate", "datetime"),
    ],
    "User": [FieldInfo("Id", "id"), FieldInfo("Name", "string"), FieldInfo("Email", "email")],
    "Contact": [
        FieldInfo("Id", "id"),
        FieldInfo("FirstName", "string"),
        FieldInfo("LastName", "string"),
        FieldInfo("Email", "email"),
        FieldInfo("AccountId", "reference", "Account", "Account"),
        FieldInfo("Birthdate", "date"),
        FieldInfo("HasOptedOutOfEmail", "boolean"),
        FieldInfo("Score__c", "double"),
        FieldInfo("Description", "textarea"),
        FieldInfo("Lifecycle_Stage__c", "picklist"),
        FieldInfo("Referrer__c", "reference", "Contact", "Referrer__r"),
        FieldInfo("CreatedDate", "datetime"),
        FieldInfo("SystemModstamp", "datetime"),
    ],
    "Lead": [
        FieldInfo("Id", "id"),
        FieldInfo("Email", "email"),
        FieldInfo("Status", "picklist"),
        FieldInfo("IsConverted", "boolean"),
    ],
    "Opportunity": [
        FieldInfo("Id", "id"),
        FieldInfo("Name", "string"),
        FieldInfo("Amount", "currency"),
        FieldInfo("CloseDate", "date"),
        FieldInfo("StageName", "picklist"),
        FieldInfo("AccountId", "reference", "Account", "Account"),
        FieldInfo("IsWon", "boolean"),
    ],
}


class MemoryDescribe:
    """Case-insensitive describe over ``_SCHEMA``."""

    def __init__(self) -> None:
        self._objects = {name.lower(): name for name in _SCHEMA}
        self._fields = {obj: {f.name.lower(): f for f in fields} for obj, fields in _SCHEMA.items()}

    def object_name(self, name: str) -> str | None:
        return self._objects.get(name.lower())

    def field(self, object_name: str, name: str) -> FieldInfo | None:
        return self._fields[object_name].get(name.lower())

    def relationship(self, object_name: str, name: str) -> str | None:
        for info in _SCHEMA[object_name]:
            if (info.relationship_name or "").lower() == name.lower():
                return info.reference_to
        return None


DESCRIBE = MemoryDescribe()


def _id(prefix: str, n: int) -> str:
    return f"{prefix}{n:012d}AAA"


def _dt(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


A1, A2, U1 = _id("001", 1), _id("001", 2), _id("005", 1)
DB: dict[str, dict[str, Row]] = {
    "User": {U1: {"Id": U1, "Name": "Olivia Owner", "Email": "olivia@sandbox.test"}},
    "Account": {
        A1: {
            "Id": A1,
            "Name": "Acme",
            "Industry": "Technology",
            "NumberOfEmployees": 500,
            "AnnualRevenue": 1_000_000.0,
            "OwnerId": U1,
            "CreatedDate": _dt("2024-03-01T00:00:00"),
        },
        A2: {
            "Id": A2,
            "Name": "Globex",
            "Industry": None,
            "NumberOfEmployees": 50,
            "ParentId": A1,
            "CreatedDate": _dt("2023-01-01T00:00:00"),
        },
    },
    "Contact": {},
    "Lead": {
        _id("00Q", 1): {
            "Id": _id("00Q", 1),
            "Email": "l@x.com",
            "Status": "Open",
            "IsConverted": False,
        },
        _id("00Q", 2): {
            "Id": _id("00Q", 2),
            "Email": "m@x.com",
            "Status": "Closed",
            "IsConverted": True,
        },
    },
    "Opportunity": {
        _id("006", 1): {
            "Id": _id("006", 1),
            "Name": "Big deal",
            "Amount": 5000.0,
            "CloseDate": date(2024, 3, 31),
            "StageName": "Prospecting",
            "AccountId": A1,
            "IsWon": False,
        },
        _id("006", 2): {
            "Id": _id("006", 2),
            "Name": "Won deal",
            "Amount": None,
            "CloseDate": date(2024, 2, 10),
            "StageName": "Closed Won",
            "AccountId": A2,
            "IsWon": True,
        },
    },
}

# key, first, last, email, account, birthdate, opted out, score, created, lifecycle, description
_CONTACTS: list[tuple[Any, ...]] = [
    ("C1", "Ada", "Lovelace", "ada@acme.com", A1, date(1990, 12, 10), False, 90.5,
     "2024-03-13T09:00:00", "Customer", "50% off_sale"),
    ("C2", "Grace", "Hopper", "GRACE@globex.com", A2, date(1985, 3, 13), True, 75,
     "2024-03-12T23:59:59", "Lead", None),
    ("C3", "Alan", "Turing", None, None, None, None, None,
     "2024-03-05T12:00:00", None, "line one\nline two"),
    ("C4", "Katherine", "johnson", "kj@nasa.gov", A1, None, False, 75,
     "2024-02-15T08:00:00", "Customer", "it's a \\ backslash"),
    ("C5", None, "O'Brien", "", A1, date(2000, 1, 1), False, 10,
     "2023-06-01T00:00:00", "", None),
    ("C6", "Edsger", "Dijkstra", "ed@x.org", None, date(1930, 5, 11), False, 100,
     "2024-03-14T01:00:00", "Customer", None),
]  # fmt: skip
for n, (key, first, last, email, acct, birth, opted, score, created, stage, desc) in enumerate(
    _CONTACTS, start=1
):
    cid = _id("003", n)
    DB["Contact"][cid] = {
        "_key": key,
        "Id": cid,
        "FirstName": first,
        "LastName": last,
        "Email": email,
        "AccountId": acct,
        "Birthdate": birth,
        "HasOptedOutOfEmail": opted,
        "Score__c": score,
        "CreatedDate": _dt(created),
        "SystemModstamp": _dt(created),
        "Lifecycle_Stage__c": stage,
        "Description": desc,
        "Referrer__c": _id("003", 1) if key == "C3" else None,
    }
KEY = {row["Id"]: row["_key"] for row in DB["Contact"].values()}


def get(row: Row, path: tuple[str, ...]) -> Any:
    """The dialect's accessor: follow lookups; a relationship path yields the parent row."""
    obj, record = row["_type"], row
    for segment in path[:-1]:
        nxt = _parent(obj, record, segment)
        if nxt is None:
            return None
        obj, record = nxt
    last = path[-1]
    parent = _parent(obj, record, last)
    if parent is not None or any(f.relationship_name == last for f in _SCHEMA[obj]):
        return None if parent is None else parent[1]
    return record.get(last)


def _parent(obj: str, record: Row, relationship: str) -> tuple[str, Row] | None:
    for info in _SCHEMA[obj]:
        if info.relationship_name == relationship and info.reference_to:
            fk = record.get(info.name)
            target = DB[info.reference_to].get(fk) if fk else None
            return None if target is None else (info.reference_to, target)
    return None


for _obj, _rows in DB.items():
    for _row in _rows.values():
        _row["_type"] = _obj


def rows_of(obj: str) -> list[Row]:
    return list(DB[obj].values())


def run(soql: str, now: datetime = NOW) -> list[str]:
    """Keys (C1..) or Ids of the rows a query returns, in order."""
    query = parse_soql(soql, DESCRIBE)
    out = query.execute(rows_of(query.object_name), get, now=now)
    return [str(row.get("_key", row["Id"])) for row in out]


def contacts(where: str, now: datetime = NOW) -> set[str]:
    return set(run(f"SELECT Id FROM Contact WHERE {where}", now))


def error(soql: str) -> SoqlError:
    with pytest.raises(SoqlError) as info:
        parse_soql(soql, DESCRIBE)
    return info.value


# --- parsing and names ------------------------------------------------------------------------


def test_parses_fields_with_canonical_names_and_case_insensitive_keywords() -> None:
    q = parse_soql("select id, EMAIL, account.industry, Account.Owner.name from CONTACT", DESCRIBE)
    assert isinstance(q, SoqlQuery)
    assert q.object_name == "Contact"
    assert q.fields == ["Id", "Email", "Account.Industry", "Account.Owner.Name"]
    assert not q.is_count


def test_object_name_may_prefix_a_field_path() -> None:
    q = parse_soql("SELECT Contact.FirstName, Contact.Account.Name FROM Contact", DESCRIBE)
    assert q.fields == ["FirstName", "Account.Name"]


def test_keywords_need_word_boundaries_and_non_reserved_words_stay_names() -> None:
    # NOT must not swallow the start of a field such as "NotAField"; ORDER and OFFSET are not
    # reserved, so they may name an object or a field.
    q = parse_soql("SELECT Id FROM Contact WHERE NOT LastName = 'x' ORDER BY Id", DESCRIBE)
    assert q.order_by[0].field.name == "Id"
    assert (
        "No such column 'NotAField'" in error("SELECT Id FROM Contact WHERE NotAField = 1").message
    )
    assert "sObject type 'Order'" in error("SELECT Id FROM Order ORDER BY Id").message
    assert "No such column 'Offset'" in error("SELECT Offset FROM Contact OFFSET 1").message
    assert "No such column 'Lastname_'" in error("SELECT Lastname_ FROM Contact").message


def test_custom_relationship_and_grandparent_paths() -> None:
    assert run("SELECT Id FROM Contact WHERE Referrer__r.FirstName = 'Ada'") == ["C3"]
    q = parse_soql("SELECT referrer__R.EMAIL, account.parent.name FROM contact", DESCRIBE)
    assert q.fields == ["Referrer__r.Email", "Account.Parent.Name"]
    assert contacts("Account.Owner.Name = 'Olivia Owner'") == {"C1", "C4", "C5"}
    assert run("SELECT Id FROM Account WHERE Parent.Name = 'acme'") == [A2]


# --- operators ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("Score__c = 75", {"C2", "C4"}),
        ("Score__c != 75", {"C1", "C3", "C5", "C6"}),  # != keeps nulls (C3)
        ("Score__c <> 75", {"C1", "C3", "C5", "C6"}),
        ("Score__c < 75", {"C5"}),
        ("Score__c <= 75", {"C2", "C4", "C5"}),
        ("Score__c > 90.5", {"C6"}),
        ("Score__c >= 90.5", {"C1", "C6"}),
        ("Score__c > -1.5", {"C1", "C2", "C4", "C5", "C6"}),
        ("Score__c = 75.0", {"C2", "C4"}),
        ("Score__c IN (10, 100)", {"C5", "C6"}),
        ("Score__c NOT IN (10, 100)", {"C1", "C2", "C3", "C4"}),  # NOT IN keeps nulls
        ("LastName = 'LOVELACE'", {"C1"}),
        ("LastName != 'lovelace'", {"C2", "C3", "C4", "C5", "C6"}),
        ("LastName IN ('hopper', 'TURING')", {"C2", "C3"}),
        ("LastName NOT IN ('hopper', 'TURING')", {"C1", "C4", "C5", "C6"}),
        ("LastName < 'H'", {"C6"}),
        ("LastName >= 'johnson'", {"C1", "C4", "C5", "C3"}),
        ("Email LIKE '%@ACME.com'", {"C1"}),
        ("Email LIKE 'grace@%'", {"C2"}),
        ("LastName LIKE '_opper'", {"C2"}),
        ("LastName LIKE 'T%g'", {"C3"}),
        ("LastName LIKE 'tur'", set()),
        ("Email LIKE '%'", {"C1", "C2", "C4", "C6"}),  # null and '' never match
        ("Description LIKE 'line%two'", {"C3"}),  # % spans newlines
        ("Account.Industry = 'technology'", {"C1", "C4", "C5"}),
        ("Lifecycle_Stage__c IN ('customer')", {"C1", "C4", "C6"}),
    ],
)
def test_comparison_operators(where: str, expected: set[str]) -> None:
    assert contacts(where) == expected


def test_string_escapes_in_literals() -> None:
    assert contacts("LastName = 'O\\'Brien'") == {"C5"}
    assert contacts("Description = 'it\\'s a \\\\ backslash'") == {"C4"}
    assert contacts("Description = 'line one\\nline two'") == {"C3"}
    assert contacts("Description = 'line one\\Nline two'") == {"C3"}
    assert contacts("FirstName = '\\u0041da'") == {"C1"}


def test_like_escapes_match_wildcard_characters_literally() -> None:
    assert contacts("Description LIKE '50\\% off\\_sale'") == {"C1"}
    assert contacts("Description LIKE '50\\%%'") == {"C1"}
    assert contacts("Description LIKE '50\\_%'") == set()
    assert contacts("Description LIKE '%\\\\%'") == {"C4"}
    assert contacts("LastName LIKE 'O\\'%'") == {"C5"}


def test_like_escapes_are_an_error_outside_like() -> None:
    err = error("SELECT Id FROM Contact WHERE Description = '50\\% off'")
    assert err.error_code == "MALFORMED_QUERY"
    assert "Illegal character sequence '\\%' in string literal." in err.message


def test_unknown_escape_sequence_is_malformed() -> None:
    err = error("SELECT Id FROM Contact WHERE LastName = 'a\\qb'")
    assert err.error_code == "MALFORMED_QUERY"
    assert err.message.endswith(
        "Invalid string literal 'a\\qb'. Illegal character sequence '\\q' in string literal."
    )


def test_booleans() -> None:
    assert contacts("HasOptedOutOfEmail = true") == {"C2"}
    assert contacts("HasOptedOutOfEmail = FALSE") == {"C1", "C3", "C4", "C5", "C6"}
    assert run("SELECT Id FROM Lead WHERE IsConverted = false") == [_id("00Q", 1)]


def test_ids_match_in_15_and_18_character_form() -> None:
    c2 = _id("003", 2)
    assert contacts(f"Id = '{c2}'") == {"C2"}
    assert contacts(f"Id = '{c2[:15]}'") == {"C2"}
    assert contacts(f"AccountId IN ('{A2[:15]}', '{A1}')") == {"C1", "C2", "C4", "C5"}
    assert contacts(f"Id > '{_id('003', 4)}'") == {"C5", "C6"}


# --- precedence ---------------------------------------------------------------------------------


def test_not_binds_tighter_than_and() -> None:
    # (NOT Score__c = 75) AND FirstName != null  -- not NOT (Score__c = 75 AND ...)
    assert contacts("NOT Score__c = 75 AND FirstName != null") == {"C1", "C3", "C6"}
    assert contacts("NOT (Score__c = 75 AND FirstName = 'Grace')") == {"C1", "C3", "C4", "C5", "C6"}
    assert contacts("NOT NOT LastName = 'Hopper'") == {"C2"}


def test_parentheses_group_and_within_or_and_vice_versa() -> None:
    assert contacts("Score__c = 75 OR (Score__c = 10 AND LastName LIKE 'O%')") == {"C2", "C4", "C5"}
    assert contacts("(Score__c = 75 OR Score__c = 10) AND Email != null") == {"C2", "C4"}
    assert contacts("LastName = 'Hopper' OR LastName = 'Turing' OR LastName = 'x'") == {"C2", "C3"}
    assert contacts("((Score__c > 50)) AND (Email LIKE '%.com' AND NOT Score__c = 75)") == {"C1"}


@pytest.mark.parametrize(
    ("where", "token"),
    [
        ("Score__c = 75 AND LastName = 'x' OR Score__c = 10", "OR"),
        ("Score__c = 75 OR LastName = 'x' AND Score__c = 10", "AND"),
        ("(Score__c = 75 OR LastName = 'x') AND Score__c = 10 or Email = null", "or"),
    ],
)
def test_mixing_and_with_or_needs_parentheses(where: str, token: str) -> None:
    text = f"SELECT Id FROM Contact WHERE {where}"
    err = error(text)
    assert err.error_code == "MALFORMED_QUERY"
    column = text.index(f" {token} ", text.index("WHERE")) + 2
    assert err.message.endswith(f"ERROR at Row:1:Column:{column}\nunexpected token: '{token}'")


# --- nulls --------------------------------------------------------------------------------------


def test_null_semantics() -> None:
    assert contacts("Email = null") == {"C3", "C5"}  # '' is null, as Salesforce stores it
    assert contacts("Email != null") == {"C1", "C2", "C4", "C6"}
    assert contacts("Score__c = null") == {"C3"}
    assert contacts("Score__c < 1000") == {"C1", "C2", "C4", "C5", "C6"}  # null never compares
    assert contacts("Score__c IN (75, null)") == {"C2", "C3", "C4"}
    assert contacts("Score__c NOT IN (75, null)") == {"C1", "C5", "C6"}
    assert contacts("Birthdate = null") == {"C3", "C4"}
    assert contacts("Lifecycle_Stage__c != 'Customer'") == {"C2", "C3", "C5"}


def test_boolean_null_means_false() -> None:
    # "WHERE Test_c = null is equivalent to WHERE Test_c = false" (SOQL reference, null)
    assert contacts("HasOptedOutOfEmail = null") == contacts("HasOptedOutOfEmail = false")
    assert contacts("HasOptedOutOfEmail != null") == {"C2"}


def test_missing_parent_reads_as_null() -> None:
    assert contacts("Account.Name = null") == {"C3", "C6"}
    assert contacts("Account.Name != null") == {"C1", "C2", "C4", "C5"}
    assert contacts("Account.Industry = null") == {"C2", "C3", "C6"}
    assert contacts("Account.Owner.Name = null") == {"C2", "C3", "C6"}
    assert contacts("Account.NumberOfEmployees > 10") == {"C1", "C2", "C4", "C5"}


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
    assert run("SELECT Id FROM Opportunity WHERE CloseDate = THIS_MONTH") == [_id("006", 1)]
    assert run("SELECT Id FROM Opportunity WHERE CloseDate < THIS_MONTH") == [_id("006", 2)]


def test_datetime_literals_with_fractions_and_offsets() -> None:
    assert contacts("CreatedDate = 2024-03-13T09:00:00Z") == {"C1"}
    assert contacts("CreatedDate = 2024-03-13T09:00:00.000Z") == {"C1"}
    assert contacts("CreatedDate = 2024-03-13T11:00:00+02:00") == {"C1"}
    assert contacts("CreatedDate = 2024-03-13T04:00:00-05:00") == {"C1"}
    assert contacts("CreatedDate > 2024-03-12T23:59:59Z") == {"C1", "C6"}
    assert contacts("CreatedDate >= 2024-03-12T23:59:59Z") == {"C1", "C2", "C6"}
    assert contacts("CreatedDate IN (2024-03-13T09:00:00Z, 2024-03-05T12:00:00Z)") == {"C1", "C3"}


def test_sync_watermark_query() -> None:
    c2 = _id("003", 2)
    soql = (
        "SELECT Id, Email, SystemModstamp FROM Contact WHERE SystemModstamp > 2024-03-12T23:59:59Z"
        f" OR (SystemModstamp = 2024-03-12T23:59:59Z AND Id > '{c2}')"
        " ORDER BY SystemModstamp, Id"
    )
    assert run(soql) == ["C1", "C6"]
    assert run(soql.replace(f"'{c2}'", f"'{_id('003', 1)}'")) == ["C2", "C1", "C6"]


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
    c1, c3 = DB["Contact"][_id("003", 1)], DB["Contact"][_id("003", 3)]
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
    out = q.project(DB["Contact"][_id("003", 1)], get, attributes=attributes)
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
    assert "attributes" not in q.project(DB["Contact"][_id("003", 1)], get, lambda o, h: None)


def test_datetime_projection_keeps_milliseconds_and_converts_to_utc() -> None:
    q = parse_soql("SELECT CreatedDate FROM Contact", DESCRIBE)
    row = {"_type": "Contact", "CreatedDate": datetime(2024, 1, 31, 12, 0, 0, 123456, tzinfo=UTC)}
    assert q.project(row, get) == {"CreatedDate": "2024-01-31T12:00:00.123+0000"}
    east = datetime.fromisoformat("2024-01-31T12:00:00+02:00")
    assert q.project({"_type": "Contact", "CreatedDate": east}, get) == {
        "CreatedDate": "2024-01-31T10:00:00.000+0000"
    }


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
            "Id": _id("003", n),
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
        f"OR (SystemModstamp = 2026-01-01T00:00:00Z AND Id > '{_id('003', 123)}') "
        "ORDER BY SystemModstamp, Id"
    )
    out = parse_soql(soql, DESCRIBE).execute(rows, fast_get, now=NOW)

    expected = sorted(
        (
            r
            for r in rows
            if r["SystemModstamp"] > base
            or (r["SystemModstamp"] == base and r["Id"] > _id("003", 123))
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
