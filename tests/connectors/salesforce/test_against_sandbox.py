"""Integration: the Salesforce connector (on simple-salesforce) against the sandbox CRM."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from click.testing import CliRunner
from pydantic import SecretStr

from connectors.base import AuthError, Cursor, FieldSpec, FieldWrite, WriteStatus
from connectors.retrying import RetryPolicy
from connectors.salesforce.connector import SalesforceConfig, SalesforceConnector
from connectors.salesforce.session import SalesforceAuth
from connectors.sandbox import FaultConfig, SandboxConfig, SandboxServer
from tests.sandbox.salesforce.support import PRIVATE, PUBLIC
from workers.cli.main import main

pytestmark = pytest.mark.integration

TOKEN = "sandbox-token"
FAST = RetryPolicy(max_attempts=8, max_elapsed=60, initial_wait=0.01, max_wait=0.2)
SPECS = [
    FieldSpec("tier", "Value tier", "enumeration", options=("smb", "mid_market", "enterprise")),
    FieldSpec("tier_reason", "Why this tier", "string"),
]


def start(**overrides: Any) -> SandboxServer:
    options: dict[str, Any] = {
        "dialect": "salesforce",
        "seed": 11,
        "contacts": 4000,
        "companies": 200,
        "deals": 300,
        "tokens": (TOKEN,),
        "port": 0,
    }
    options.update(overrides)
    return SandboxServer(SandboxConfig(**options)).start()


def connect(server: SandboxServer, **overrides: Any) -> SalesforceConnector:
    options: dict[str, Any] = {
        "auth": SalesforceAuth(instance_url=server.url, session_id=SecretStr(TOKEN)),
        "lag_seconds": 0.0,
        "bulk_poll_interval": 0.05,
        "retry": FAST,
    }
    options.update(overrides)
    return SalesforceConnector(SalesforceConfig(**options))


def admin(server: SandboxServer, method: str, path: str, **kwargs: Any) -> Any:
    response = requests.request(method, f"{server.url}/_sandbox/{path}", timeout=30, **kwargs)
    response.raise_for_status()
    return response.json()


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    server = start()
    yield server
    server.stop()


def changed_since(connector: SalesforceConnector, cursor: Cursor) -> tuple[list[Any], Cursor]:
    records = []
    for batch in connector.read_changed(cursor, ["Email"]):
        records.extend(batch.records)
        assert batch.cursor is not None
        cursor = batch.cursor
    return records, cursor


def test_full_read_pages_past_2000_and_links_accounts(sandbox: SandboxServer) -> None:
    connector = connect(sandbox)
    contacts = [r for b in connector.read_all("contact", ["Email"]) for r in b.records]
    assert len(contacts) == len({r.id for r in contacts}) > 2000
    assert all(r.id.startswith("003") and len(r.id) == 18 for r in contacts)
    assert sum(1 for r in contacts if r.associations.get("company")) > len(contacts) / 2
    deals = [r for b in connector.read_all("deal", ["Amount"]) for r in b.records]
    assert any(r.associations.get("contact") for r in deals)  # OpportunityContactRole


def test_incremental_read_returns_exactly_the_500_mutated_contacts() -> None:
    server = start(contacts=5000)
    try:
        connector = connect(server)
        cursor = connector.snapshot_cursor("contact")
        time.sleep(1.1)  # SystemModstamp has whole seconds: step past the snapshot's second
        changed = admin(server, "POST", "mutate", json={"count": 500, "object_type": "contacts"})
        records, cursor = changed_since(connector, cursor)
        assert len(records) == len({r.id for r in records}) == 500
        assert {r.id for r in records} == set(changed["ids"])
        assert changed_since(connector, cursor)[0] == []
    finally:
        server.stop()


def test_a_deleted_record_is_reported_as_deleted(sandbox: SandboxServer) -> None:
    connector = connect(sandbox)
    cursor = connector.snapshot_cursor("contact")
    time.sleep(1.1)
    gone = admin(sandbox, "POST", "delete", json={"count": 3, "object_type": "contacts"})["ids"]
    records, _ = changed_since(connector, cursor)
    deleted = {r.id for r in records if r.deleted}
    assert deleted == set(gone)
    live = {r.id for b in connector.read_all("contact", []) for r in b.records}
    assert not deleted & live


def test_schema_apply_grants_access_and_writes_land(sandbox: SandboxServer) -> None:
    connector = connect(sandbox)
    actions = {c.action for c in connector.apply_schema("contact", SPECS)}
    assert actions == {"created"}
    assert connector.field_access("contact") == {
        "Segsync_Tier__c": True,
        "Segsync_Tier_Reason__c": True,
    }
    assert {c.action for c in connector.apply_schema("contact", SPECS)} == {"unchanged"}
    ids = [r.id for b in connector.read_all("contact", []) for r in b.records][:300]
    writes = [
        FieldWrite("contact", i, {"Segsync_Tier__c": "smb", "Segsync_Tier_Reason__c": f"r{i}"})
        for i in ids
    ]
    writes[5] = FieldWrite("contact", ids[5], {"Segsync_Tier__c": "gold-not-in-picklist"})
    results = {r.record_id: r for r in connector.write(writes)}
    assert results[ids[5]].status is WriteStatus.REJECTED
    assert results[ids[5]].code == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert sum(r.ok for r in results.values()) == 299
    stored = admin(sandbox, "GET", f"records/contacts/{ids[0]}")["properties"]
    assert stored["Segsync_Tier__c"] == "smb"


def test_a_text_field_from_an_earlier_segsync_is_kept_where_a_picklist_is_wanted() -> None:
    # Cluster values were free text until they became stable ids with a fixed option
    # list; the sandbox, like Salesforce's Metadata API here, refuses a type change.
    server = start(contacts=50, companies=10, deals=10)
    try:
        connector = connect(server)
        connector.apply_schema("contact", [FieldSpec("cluster", "Cluster", "string")])
        picklist = FieldSpec(
            "cluster", "Cluster", "enumeration", options=("cluster_1", "cluster_2")
        )
        [change] = connector.apply_schema("contact", [picklist])
        assert (change.name, change.action) == ("Contact.Segsync_Cluster__c", "kept_as_text")
        assert connector.field_access("contact") == {"Segsync_Cluster__c": True}
        record_id = next(r.id for b in connector.read_all("contact", []) for r in b.records)
        [result] = connector.write(
            [FieldWrite("contact", record_id, {"Segsync_Cluster__c": "cluster_2"})]
        )
        assert result.ok
        stored = admin(server, "GET", f"records/contacts/{record_id}")["properties"]
        assert stored["Segsync_Cluster__c"] == "cluster_2"
    finally:
        server.stop()


def test_bulk_writes_map_every_row_and_survive_faults() -> None:
    server = start(contacts=2500, faults=FaultConfig.parse("5xx=0.1,drop=0.1"))
    try:
        setup = connect(server)
        admin(server, "POST", "faults", data="0")
        setup.apply_schema("contact", SPECS)
        ids = [r.id for b in setup.read_all("contact", []) for r in b.records]
        admin(server, "POST", "faults", data="5xx=0.1,drop=0.1")
        connector = connect(server, bulk_threshold=100, bulk_job_size=1000)
        results = connector.write(
            [FieldWrite("contact", i, {"Segsync_Tier_Reason__c": f"v-{i}"}) for i in ids]
        )
        admin(server, "POST", "faults", data="0")
        assert all(r.ok for r in results), [r for r in results if not r.ok][:3]
        assert len(connector.bulk_jobs) == -(-len(ids) // 1000)  # one job per 1,000 rows
        for record_id in ids[::97]:
            record = admin(server, "GET", f"records/contacts/{record_id}")
            assert record["properties"]["Segsync_Tier_Reason__c"] == f"v-{record_id}"
    finally:
        server.stop()


def test_converted_leads_are_written_on_their_contact(sandbox: SandboxServer) -> None:
    connector = connect(sandbox)
    connector.apply_schema("lead", SPECS)
    connector.apply_schema("contact", SPECS)
    rows = connector.sf.query(
        "SELECT Id, ConvertedContactId FROM Lead WHERE IsConverted = true LIMIT 1"
    )["records"]
    assert rows, "the seed has converted leads"
    lead, contact_id = rows[0]["Id"], rows[0]["ConvertedContactId"]
    [result] = connector.write([FieldWrite("lead", lead, {"Segsync_Tier__c": "enterprise"})])
    assert result.ok and contact_id in (result.reason or "")
    stored = admin(sandbox, "GET", f"records/contacts/{contact_id}")["properties"]
    assert stored["Segsync_Tier__c"] == "enterprise"


def test_missing_metadata_permission_gets_a_clear_message() -> None:
    server = start(contacts=50, companies=10, deals=10, customize_application=False)
    try:
        with pytest.raises(AuthError, match="Customize Application"):
            connect(server).apply_schema("contact", SPECS)
    finally:
        server.stop()


def test_segsync_check_reports_usage_and_field_access(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    connect(sandbox).apply_schema("contact", SPECS)
    monkeypatch.setenv("SEGSYNC_DATABASE_URL", f"sqlite:///{tmp_path}/state.db")
    monkeypatch.setenv("SEGSYNC_SALESFORCE_INSTANCE_URL", sandbox.url)
    monkeypatch.setenv("SEGSYNC_SALESFORCE_SESSION_ID", TOKEN)
    result = CliRunner().invoke(main, ["check", "--crm", "salesforce"])
    assert "API usage" in result.output and "/" in result.output
    assert "Contact: 2 segsync fields, all writable" in result.output
    assert "Account: no segsync fields yet" in result.output
    assert result.exit_code == 2  # not every object has its fields yet: run schema apply


def test_every_login_flow_works_and_an_expired_session_is_renewed() -> None:
    server = start(contacts=300, companies=20, deals=20, jwt_public_key=PUBLIC)
    try:
        username = server.config.username
        flows = {
            "jwt": SalesforceAuth(
                instance_url=server.url,
                consumer_key="sandbox-client",
                username=username,
                private_key=SecretStr(PRIVATE),
            ),
            "client_credentials": SalesforceAuth(
                instance_url=server.url,
                domain="segsync-sandbox.my",
                consumer_key="sandbox-client",
                consumer_secret=SecretStr("sandbox-secret"),
            ),
            "password": SalesforceAuth(
                instance_url=server.url,
                username=username,
                password=SecretStr("sandbox-password"),
                security_token=SecretStr("sandboxSecurityToken"),
            ),
        }
        for flow, auth in flows.items():
            assert auth.flow == flow
            connector = connect(server, auth=auth)
            assert connector.check().daily_max, flow
            admin(server, "POST", "oauth/expire")  # every issued session is now invalid
            contacts = [r for b in connector.read_all("contact", []) for r in b.records]
            assert contacts, flow
        wrong = SalesforceAuth(
            instance_url=server.url,
            username=username,
            password=SecretStr("not-the-password"),
            security_token=SecretStr("sandboxSecurityToken"),
        )
        with pytest.raises(AuthError, match="refused the password login") as caught:
            connect(server, auth=wrong)
        assert "not-the-password" not in str(caught.value)
    finally:
        server.stop()


def test_check_passes_right_after_schema_apply(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    """`check` asks for exactly the objects `schema apply` creates fields on."""
    server = start(contacts=200, companies=20, deals=30)
    try:
        monkeypatch.setenv("SEGSYNC_DATABASE_URL", f"sqlite:///{tmp_path}/state.db")
        monkeypatch.setenv("SEGSYNC_SALESFORCE_INSTANCE_URL", server.url)
        monkeypatch.setenv("SEGSYNC_SALESFORCE_SESSION_ID", TOKEN)
        before = CliRunner().invoke(main, ["check", "--crm", "salesforce"])
        assert before.exit_code != 0 and "schema apply" in before.output
        applied = CliRunner().invoke(main, ["schema", "apply", "--crm", "salesforce"])
        assert applied.exit_code == 0, applied.output
        after = CliRunner().invoke(main, ["check", "--crm", "salesforce"])
        assert after.exit_code == 0, after.output
        assert "all writable" in after.output and "no segsync fields" not in after.output
    finally:
        server.stop()
