"""A tiny in-memory org for the SOQL engine's tests (Account, User, Contact, Lead, Opportunity),
served through the same ``Describe`` protocol and ``get(row, path)`` access the Salesforce dialect
uses. Relative date literals are evaluated on a fixed moment, ``NOW``: Wednesday 2024-03-13
15:30 UTC (en_US weeks start on Sunday, so THIS_WEEK is 2024-03-10 .. 2024-03-16).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from connectors.sandbox.salesforce.soql.engine import FieldInfo, SoqlError, parse_soql

NOW = datetime(2024, 3, 13, 15, 30, tzinfo=UTC)


Row = dict[str, Any]


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


def record_id(prefix: str, n: int) -> str:
    return f"{prefix}{n:012d}AAA"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


A1, A2, U1 = record_id("001", 1), record_id("001", 2), record_id("005", 1)


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
            "CreatedDate": utc("2024-03-01T00:00:00"),
        },
        A2: {
            "Id": A2,
            "Name": "Globex",
            "Industry": None,
            "NumberOfEmployees": 50,
            "ParentId": A1,
            "CreatedDate": utc("2023-01-01T00:00:00"),
        },
    },
    "Contact": {},
    "Lead": {
        record_id("00Q", 1): {
            "Id": record_id("00Q", 1),
            "Email": "l@x.com",
            "Status": "Open",
            "IsConverted": False,
        },
        record_id("00Q", 2): {
            "Id": record_id("00Q", 2),
            "Email": "m@x.com",
            "Status": "Closed",
            "IsConverted": True,
        },
    },
    "Opportunity": {
        record_id("006", 1): {
            "Id": record_id("006", 1),
            "Name": "Big deal",
            "Amount": 5000.0,
            "CloseDate": date(2024, 3, 31),
            "StageName": "Prospecting",
            "AccountId": A1,
            "IsWon": False,
        },
        record_id("006", 2): {
            "Id": record_id("006", 2),
            "Name": "Won deal",
            "Amount": None,
            "CloseDate": date(2024, 2, 10),
            "StageName": "Closed Won",
            "AccountId": A2,
            "IsWon": True,
        },
    },
}


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
    cid = record_id("003", n)
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
        "CreatedDate": utc(created),
        "SystemModstamp": utc(created),
        "Lifecycle_Stage__c": stage,
        "Description": desc,
        "Referrer__c": record_id("003", 1) if key == "C3" else None,
    }


KEY = {row["Id"]: row["_key"] for row in DB["Contact"].values()}


def get(row: Row, path: tuple[str, ...]) -> Any:
    """The dialect's accessor: follow lookups; a relationship path yields the parent row."""
    obj, record = row["_type"], row
    for segment in path[:-1]:
        nxt = parent_of(obj, record, segment)
        if nxt is None:
            return None
        obj, record = nxt
    last = path[-1]
    parent = parent_of(obj, record, last)
    if parent is not None or any(f.relationship_name == last for f in _SCHEMA[obj]):
        return None if parent is None else parent[1]
    return record.get(last)


def parent_of(obj: str, record: Row, relationship: str) -> tuple[str, Row] | None:
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
