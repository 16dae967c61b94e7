"""Integration: the HubSpot connector (on hubspot-api-client) against the sandbox CRM."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from click.testing import CliRunner
from pydantic import SecretStr

from connectors.base import Cursor, FieldSpec, FieldWrite, WriteStatus
from connectors.hubspot.connector import HubSpotConnector
from connectors.hubspot.options import HubSpotConfig
from connectors.retrying import RetryPolicy
from connectors.sandbox import FaultConfig, SandboxConfig, SandboxServer
from workers.cli.main import main

TOKEN = "sandbox-token"
FAST_RETRY = RetryPolicy(max_attempts=8, max_elapsed=60, initial_wait=0.01, max_wait=0.2)

pytestmark = pytest.mark.integration


def start(**overrides: Any) -> SandboxServer:
    options: dict[str, Any] = {
        "dialect": "hubspot",
        "seed": 7,
        "contacts": 1500,
        "companies": 200,
        "deals": 400,
        "mode": "b2b",
        "rate_limit": 10_000,
        "search_rate_per_second": 1_000,
        "tokens": (TOKEN,),
        "port": 0,
    }
    options.update(overrides)
    server = SandboxServer(SandboxConfig(**options))
    server.start()
    return server


def connect(server: SandboxServer, **overrides: Any) -> HubSpotConnector:
    options: dict[str, Any] = {
        "base_url": server.url,
        "token": SecretStr(TOKEN),
        "requests_per_10s": 10_000,
        "search_requests_per_second": 1_000,
        "search_lag_seconds": 0.0,
        "retry": FAST_RETRY,
    }
    options.update(overrides)
    return HubSpotConnector(HubSpotConfig(**options))


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    server = start()
    yield server
    server.stop()


def admin(server: SandboxServer, method: str, path: str, **kwargs: Any) -> Any:
    response = requests.request(method, f"{server.url}/_sandbox/{path}", timeout=30, **kwargs)
    response.raise_for_status()
    return response.json()


def ids_of(batches: Any) -> list[str]:
    return [r.id for b in batches for r in b.records]


def test_full_read_returns_every_seeded_record_once(sandbox: SandboxServer) -> None:
    connector = connect(sandbox)
    for object_type, seeded in (("contact", 1500), ("company", 200), ("deal", 400)):
        batches = list(connector.read_all(object_type, ["email", "name", "dealname"]))
        ids = ids_of(batches)
        assert len(ids) == len(set(ids)) == seeded, object_type
        assert max(len(b) for b in batches) == 100
    contacts = [r for b in connector.read_all("contact", ["email"]) for r in b.records]
    assert sum(1 for r in contacts if r.properties.get("email")) > 0.9 * len(contacts)
    assert sum(1 for r in contacts if r.associations.get("company")) > len(contacts) / 2


def read_changed_ids(connector: HubSpotConnector, cursor: Cursor) -> tuple[list[str], Cursor]:
    ids: list[str] = []
    for batch in connector.read_changed(cursor, ["email", "jobtitle"]):
        ids.extend(r.id for r in batch.records)
        assert batch.cursor is not None
        cursor = batch.cursor
    return ids, cursor


def test_incremental_read_after_mutate_returns_exactly_the_changed_records() -> None:
    server = start(contacts=3000)
    try:
        connector = connect(server)
        cursor = connector.snapshot_cursor("contact")
        time.sleep(0.01)
        changed = admin(server, "POST", "mutate", json={"count": 500, "object_type": "contacts"})
        ids, cursor = read_changed_ids(connector, cursor)
        assert len(ids) == len(set(ids)) == 500
        assert set(ids) == set(changed["ids"])
        again, _ = read_changed_ids(connector, cursor)
        assert again == []  # nothing new: the stored cursor is exact
    finally:
        server.stop()


def test_incremental_read_is_exact_when_12000_records_share_one_timestamp() -> None:
    server = start(contacts=15_000, companies=50, deals=50)
    try:
        connector = connect(server)
        cursor = connector.snapshot_cursor("contact")
        stamp = int(time.time() * 1000) + 5
        bulk = admin(
            server,
            "POST",
            "mutate",
            json={"count": 12_000, "object_type": "contacts", "timestamp": stamp},
        )
        time.sleep(0.05)
        later = admin(server, "POST", "mutate", json={"count": 500, "object_type": "contacts"})
        ids, _ = read_changed_ids(connector, cursor)
        assert len(ids) == len(set(ids))
        assert set(ids) == set(bulk["ids"]) | set(later["ids"])
        stats = admin(server, "GET", "stats")
        assert stats["rate_limited"] == 0
    finally:
        server.stop()


SPECS = [
    FieldSpec("tier", "Value tier", "enumeration", options=("smb", "mid_market", "enterprise")),
    FieldSpec("tier_reason", "Why this tier", "string"),
]


def test_schema_apply_is_idempotent_and_writes_land(sandbox: SandboxServer) -> None:
    connector = connect(sandbox)
    first = connector.apply_schema("contact", SPECS)
    assert {c.action for c in first if c.name.startswith("segsync_")} == {"created"}
    again = connector.apply_schema("contact", SPECS)
    assert {c.action for c in again} == {"unchanged"}
    grown = connector.apply_schema(
        "contact", [FieldSpec("tier", "Value tier", "enumeration", options=("strategic",))]
    )
    assert [c.action for c in grown] == ["options_added"]

    ids = ids_of(connector.read_all("contact", []))[:250]
    results = connector.write(
        [
            FieldWrite("contact", i, {"segsync_tier": "smb", "segsync_tier_reason": f"r{i}"})
            for i in ids
        ]
    )
    assert all(r.ok for r in results) and len(results) == 250
    record = admin(sandbox, "GET", f"records/contacts/{ids[7]}")
    assert record["properties"]["segsync_tier"] == "smb"
    assert record["properties"]["segsync_tier_reason"] == f"r{ids[7]}"


def test_a_text_property_from_an_earlier_segsync_is_kept_where_a_dropdown_is_wanted() -> None:
    # Cluster values were free text until they became stable ids with a fixed option
    # list: an existing text property takes those values, so schema apply leaves it.
    server = start(contacts=50, companies=10, deals=10)
    try:
        connector = connect(server)
        connector.apply_schema("contact", [FieldSpec("cluster", "Cluster", "string")])
        dropdown = FieldSpec(
            "cluster", "Cluster", "enumeration", options=("cluster_1", "cluster_2")
        )
        [change] = connector.apply_schema("contact", [dropdown])
        assert (change.name, change.action) == ("segsync_cluster", "kept_as_text")
        assert "delete it" in change.detail
        record_id = ids_of(connector.read_all("contact", []))[0]
        [result] = connector.write(
            [FieldWrite("contact", record_id, {"segsync_cluster": "cluster_2"})]
        )
        assert result.ok
        record = admin(server, "GET", f"records/contacts/{record_id}")
        assert record["properties"]["segsync_cluster"] == "cluster_2"
    finally:
        server.stop()


def test_invalid_values_are_named_and_the_rest_of_the_batch_lands(sandbox: SandboxServer) -> None:
    connector = connect(sandbox)
    connector.apply_schema("contact", SPECS)
    ids = ids_of(connector.read_all("contact", []))[300:400]
    writes = [FieldWrite("contact", i, {"segsync_tier": "enterprise"}) for i in ids]
    writes[42] = FieldWrite("contact", ids[42], {"segsync_tier": "not-an-option"})
    results = {r.record_id: r for r in connector.write(writes)}
    assert results[ids[42]].status is WriteStatus.REJECTED
    assert results[ids[42]].code == "INVALID_OPTION"
    assert sum(r.ok for r in results.values()) == 99
    assert (
        admin(sandbox, "GET", f"records/contacts/{ids[41]}")["properties"]["segsync_tier"]
        == "enterprise"
    )


def test_writes_survive_faults_exactly_once() -> None:
    server = start(contacts=1000, faults=FaultConfig.parse("0.3"))
    try:
        connector = connect(server)
        connector.apply_schema("contact", SPECS)
        ids = ids_of(connector.read_all("contact", []))
        results = connector.write(
            [FieldWrite("contact", i, {"segsync_tier_reason": f"v-{i}"}) for i in ids]
        )
        assert all(r.ok for r in results), [r for r in results if not r.ok][:3]
        for record_id in ids[::50]:
            record = admin(server, "GET", f"records/contacts/{record_id}")
            assert record["properties"]["segsync_tier_reason"] == f"v-{record_id}"
            assert record["changes"]["segsync_tier_reason"] == 1
        assert admin(server, "GET", "stats")["faults_injected"] > 0
    finally:
        server.stop()


def test_client_stays_under_the_sandbox_rate_limit() -> None:
    server = start(contacts=3000, rate_limit=12)
    try:
        connector = connect(server, requests_per_10s=12)
        started = time.monotonic()
        ids = ids_of(connector.read_all("contact", []))  # 30 pages at 12 per 10 s
        elapsed = time.monotonic() - started
        assert len(ids) == 3000
        stats = admin(server, "GET", "stats")
        assert stats["rate_limited"] == 0
        assert 15 <= elapsed <= 25  # two windows of waiting, not a retry storm
    finally:
        server.stop()


def test_segsync_check_reports_ok_and_a_bad_token(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.setenv("SEGSYNC_HUBSPOT_BASE_URL", sandbox.url)
    monkeypatch.setenv("SEGSYNC_DATABASE_URL", f"sqlite:///{tmp_path}/state.db")
    monkeypatch.setenv("SEGSYNC_HUBSPOT_TOKEN", TOKEN)
    ok = CliRunner().invoke(main, ["check"])
    assert ok.exit_code == 0, ok.output
    assert "hubspot: OK" in ok.output

    monkeypatch.setenv("SEGSYNC_HUBSPOT_TOKEN", "wrong-token-123")
    bad = CliRunner().invoke(main, ["check"])
    assert bad.exit_code == 2  # refused credentials: configuration to fix
    assert "401" in bad.output and "wrong-token-123" not in bad.output

    monkeypatch.delenv("SEGSYNC_HUBSPOT_TOKEN")
    missing = CliRunner().invoke(main, ["check"])
    assert missing.exit_code == 2 and "SEGSYNC_HUBSPOT_TOKEN" in missing.output


def test_check_names_an_unreachable_host(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setenv("SEGSYNC_HUBSPOT_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("SEGSYNC_DATABASE_URL", f"sqlite:///{tmp_path}/state.db")
    monkeypatch.setenv("SEGSYNC_HUBSPOT_TOKEN", TOKEN)
    result = CliRunner().invoke(main, ["check"])
    assert result.exit_code == 1
    assert "127.0.0.1:9" in result.output and "no answer" in result.output


def test_demo_runs_the_whole_product(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setenv("SEGSYNC_DATABASE_URL", f"sqlite:///{tmp_path}/state.db")
    args = ["demo", "--contacts", "500", "--companies", "80", "--deals", "150"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line.split()[1:] for line in result.output.splitlines() if line}
    assert lines["contact"] == ["500", "500"]
    assert lines["company"] == ["80", "80"]
    assert lines["deal"] == ["150", "150"]
    assert "contacts/lifecycle:" in result.output and "companies/value_tier:" in result.output
    report = json.loads(CliRunner().invoke(main, [*args, "--json"]).output)
    runs = report["runs"]
    assert runs["full"]["records_written"] == 580 and runs["full"]["rejected"] == 0
    assert 0 < runs["incremental"]["records_written"] < 580
    assert runs["again"]["records_written"] == 0 and runs["again"]["fields_written"] == 0
    models = set(report["segments"]["contacts"])
    assert {"demographic", "firmographic", "lifecycle", "rfm", "value_tier"} <= models
    assert (tmp_path / "demo-state.db").exists()
    # What an admin reads: the 100 edits, told apart from segsync's own writes of the
    # full sync that the CRM lists as changes too; only those records read (no deal:
    # segsync writes none, and none was edited).
    incremental = runs["incremental"]
    assert incremental["changed"] - incremental["changed_by_segsync"] == report["mutated"]
    assert incremental["pulled"] == 500 + 80
    assert report["mutated"] <= incremental["compared"] <= 580
    rows = {line.split("  ")[0]: line.split()[-8:] for line in result.output.splitlines()}
    assert rows[f"incremental after {report['mutated']} changes"][:5] == [
        str(report["mutated"]),
        f"{incremental['changed_by_segsync']:,}",
        f"{incremental['pulled']:,}",
        f"{incremental['compared']:,}",
        str(incremental["records_written"]),
    ]
    assert rows["full sync"][:2] == ["-", "-"]  # a full sync has no "changed since"
    # Every term of the table is explained once.
    for term in ("changed", "own", "read", "compared", "written", "API"):
        assert sum(line.startswith(f"  {term} ") for line in result.output.splitlines()) == 1
    # Every segment is listed, by name; an empty segment reads (none), never None.
    text = " ".join(result.output.split())
    assert "None" not in text and "more" not in text
    for label, tables in report["segments"].items():
        for model, rows in tables.items():
            assert f"{label}/{model}:" in text
            for r in rows:
                assert f"{r['segment'] or '(none)'} {r['count']:,}" in text, (model, r)


def test_oauth_token_is_refreshed_when_hubspot_expires_it(sandbox: SandboxServer) -> None:
    connector = connect(
        sandbox,
        token=None,
        client_id="sandbox-client",
        client_secret=SecretStr("sandbox-secret"),
        refresh_token=SecretStr("sandbox-refresh"),
    )
    connector.check()
    admin(sandbox, "POST", "oauth/expire")  # every issued access token is now expired
    assert len(ids_of(connector.read_all("company", []))) == 200
    stats = admin(sandbox, "GET", "stats")
    assert stats["requests"].get("POST /oauth/v1/token", 0) >= 2


def test_upsert_by_email_updates_existing_and_creates_missing(sandbox: SandboxServer) -> None:
    connector = connect(sandbox)
    existing = next(
        r
        for b in connector.read_all("contact", ["email"])
        for r in b.records
        if r.properties.get("email")
    )
    email = str(existing.properties["email"])
    results = connector.write(
        [
            FieldWrite("contact", email.upper(), {"jobtitle": "Head of RevOps"}),
            FieldWrite("contact", "new.person@example.org", {"jobtitle": "CFO"}),
        ],
        id_property="email",
    )
    assert [r.status for r in results] == [WriteStatus.OK, WriteStatus.OK]
    record = admin(sandbox, "GET", f"records/contacts/{existing.id}")
    assert record["properties"]["jobtitle"] == "Head of RevOps"
    emails = {
        r.properties.get("email")
        for b in connector.read_all("contact", ["email"])
        for r in b.records
    }
    assert "new.person@example.org" in emails
