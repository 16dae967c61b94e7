"""The connector contract: every CRM connector passes the same tests against its sandbox.

A third CRM joins by adding a harness to ``tests/harness.py``; nothing else in this file
is CRM-specific.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from connectors.base import (
    BudgetExhaustedError,
    Connector,
    FieldSpec,
    FieldWrite,
    ObjectType,
    WriteStatus,
)
from tests.harness import HARNESSES, Harness

pytestmark = pytest.mark.integration

SPECS = [
    FieldSpec("contract_tier", "Contract tier", "enumeration", options=("bronze", "silver")),
    FieldSpec("contract_note", "Contract note", "string"),
]


@pytest.fixture(params=sorted(HARNESSES), scope="module")
def crm(request: pytest.FixtureRequest) -> Iterator[Harness]:
    harness = HARNESSES[request.param]()
    yield harness
    harness.server.stop()


def ids(connector: Connector, object_type: ObjectType) -> list[str]:
    return [r.id for b in connector.read_all(object_type, []) for r in b.records]


def test_full_read_streams_every_record_once(crm: Harness) -> None:
    connector = crm.build()
    for object_type in ("contact", "company", "deal"):
        first = ids(connector, object_type)
        assert first and len(first) == len(set(first)), object_type
        assert sorted(ids(connector, object_type)) == sorted(first)


def test_incremental_read_returns_exactly_the_changed_records(crm: Harness) -> None:
    connector = crm.build()
    cursor = connector.snapshot_cursor("contact")
    time.sleep(1.1)  # past the snapshot's second (Salesforce stamps whole seconds)
    changed = crm.admin("POST", "mutate", json={"count": 40, "object_type": "contacts"})
    seen: list[str] = []
    for batch in connector.read_changed(cursor, []):
        seen.extend(r.id for r in batch.records)
        assert batch.cursor is not None
        cursor = batch.cursor
    assert sorted(seen) == sorted(changed["ids"])
    assert [r for b in connector.read_changed(cursor, []) for r in b.records] == []


def test_schema_apply_is_idempotent_and_only_adds_options(crm: Harness) -> None:
    connector = crm.build()
    first = connector.apply_schema("contact", SPECS)
    assert {c.action for c in first if c.action != "group_created"} == {"created"}
    assert {c.action for c in connector.apply_schema("contact", SPECS)} == {"unchanged"}
    grown = connector.apply_schema(
        "contact", [FieldSpec("contract_tier", "Contract tier", "enumeration", options=("gold",))]
    )
    assert [c.action for c in grown] == ["options_added"]


def test_writes_land_and_one_bad_value_is_named(crm: Harness) -> None:
    connector = crm.build()
    connector.apply_schema("contact", SPECS)
    tier, note = connector.field_name("contract_tier"), connector.field_name("contract_note")
    targets = ids(connector, "contact")[:150]
    writes = [FieldWrite("contact", i, {tier: "silver", note: f"n-{i}"}) for i in targets]
    writes[17] = FieldWrite("contact", targets[17], {tier: "platinum-not-an-option"})
    results = {r.record_id: r for r in connector.write(writes)}
    assert results[targets[17]].status is WriteStatus.REJECTED
    assert results[targets[17]].reason
    assert sum(r.ok for r in results.values()) == 149
    stored = crm.record("contact", targets[3])["properties"]
    assert stored[tier] == "silver" and stored[note] == f"n-{targets[3]}"


@pytest.mark.parametrize("name", sorted(HARNESSES))
def test_usage_is_reported_and_the_budget_share_is_respected(name: str) -> None:
    harness = HARNESSES[name](daily_limit=60)
    try:
        connector = harness.build(daily_budget_share=0.5)
        connector.check()
        assert connector.usage().daily_max == 60
        with pytest.raises(BudgetExhaustedError):
            for _ in range(100):
                list(connector.read_all("contact", []))
        # It stopped at its share, 30 of the 60 calls, and left the rest to others.
        assert connector.usage().calls_made <= 30
    finally:
        harness.server.stop()
