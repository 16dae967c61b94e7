"""`schema apply` on Salesforce survives the Metadata API's transient faults (issue 12, #10).

The sandbox scripts faults on its Metadata API endpoint only (``/_sandbox/faults/script``),
in the shapes Salesforce sends them: SOAP faults with HTTP 500 (``REQUEST_LIMIT_EXCEEDED:
ConcurrentPerOrgLongTxn Limit exceeded.``, ``UNKNOWN_EXCEPTION``), connections dropped before
or after the call was applied.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from click.testing import CliRunner
from pydantic import SecretStr

from connectors.base import BudgetExhaustedError, FieldSpec
from connectors.retrying import RetryPolicy
from connectors.salesforce.connector import SalesforceConfig, SalesforceConnector
from connectors.salesforce.session import SalesforceAuth
from connectors.sandbox import SandboxConfig, SandboxServer
from workers.cli.main import main

pytestmark = pytest.mark.integration

TOKEN = "sandbox-token"
FAST = RetryPolicy(max_attempts=6, max_elapsed=30, initial_wait=0.01, max_wait=0.05)
SPECS = [
    FieldSpec("tier", "Value tier", "enumeration", options=("smb", "mid_market", "enterprise")),
    FieldSpec("tier_reason", "Why this tier", "string"),
]


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    config = SandboxConfig(
        dialect="salesforce", seed=3, contacts=30, companies=5, deals=5, tokens=(TOKEN,), port=0
    )
    sandbox = SandboxServer(config).start()
    yield sandbox
    sandbox.stop()


def connect(server: SandboxServer) -> SalesforceConnector:
    auth = SalesforceAuth(instance_url=server.url, session_id=SecretStr(TOKEN))
    return SalesforceConnector(SalesforceConfig(auth=auth, lag_seconds=0.0, retry=FAST))


def script(server: SandboxServer, *faults: str) -> None:
    response = requests.post(
        f"{server.url}/_sandbox/faults/script",
        json={"endpoint": "soap.metadata", "faults": list(faults)},
        timeout=10,
    )
    response.raise_for_status()


def stats(server: SandboxServer) -> Any:
    return requests.get(f"{server.url}/_sandbox/stats", timeout=10).json()


def test_transient_metadata_faults_are_retried_and_the_fields_are_created(
    server: SandboxServer,
) -> None:
    # read fields: throttled, then a gateway fault, then answered; create: applied but the
    # answer lost (must not come back as DUPLICATE_DEVELOPER_NAME); read permission set:
    # dropped before it arrived; upsert permission set: throttled once more.
    script(server, "429", "5xx", "ok", "drop_after", "ok", "drop_before", "ok", "429")
    connector = connect(server)
    changes = connector.apply_schema("contact", SPECS)
    assert {(c.name, c.action) for c in changes} == {
        ("Contact.Segsync_Tier__c", "created"),
        ("Contact.Segsync_Tier_Reason__c", "created"),
    }
    assert connector.field_access("contact") == {
        "Segsync_Tier__c": True,
        "Segsync_Tier_Reason__c": True,
    }
    faults = stats(server)["faults"]
    assert faults["429"] == 2 and faults["5xx"] == 1
    assert faults["drop_after"] == 1 and faults["drop_before"] == 1
    assert {c.action for c in connect(server).apply_schema("contact", SPECS)} == {"unchanged"}


def test_a_spent_daily_allocation_is_not_retried(server: SandboxServer) -> None:
    script(server, "daily_limit", "daily_limit", "daily_limit")
    with pytest.raises(BudgetExhaustedError, match="TotalRequests"):
        connect(server).apply_schema("contact", SPECS)
    assert stats(server)["faults"]["daily_limit"] == 1  # one call, no retry


def test_schema_apply_command_survives_a_throttle_and_reports_a_permanent_fault_in_one_line(
    server: SandboxServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.setenv("SEGSYNC_DATABASE_URL", f"sqlite:///{tmp_path}/state.db")
    monkeypatch.setenv("SEGSYNC_SALESFORCE_INSTANCE_URL", server.url)
    monkeypatch.setenv("SEGSYNC_SALESFORCE_SESSION_ID", TOKEN)
    script(server, "429")
    applied = CliRunner().invoke(main, ["schema", "apply", "--crm", "salesforce"])
    assert applied.exit_code == 0, applied.output
    assert stats(server)["faults"]["429"] == 1

    script(server, "daily_limit")
    refused = CliRunner().invoke(main, ["schema", "apply", "--crm", "salesforce"])
    assert refused.exit_code != 0
    lines = [line for line in refused.output.splitlines() if line.strip()]
    assert len(lines) == 1, refused.output
    assert "REQUEST_LIMIT_EXCEEDED" in lines[0] and "Traceback" not in refused.output
