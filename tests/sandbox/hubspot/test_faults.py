"""The HubSpot sandbox's injected faults, simulated activity, stats, keep-alive, index delay and
daily limit."""

from __future__ import annotations

import http.client
import time

import pytest
import requests
from hubspot import HubSpot
from hubspot.crm.contacts import (
    ApiException,
)

from connectors.sandbox import FaultConfig, SandboxServer
from tests.sandbox.hubspot.support import (
    AUTH,
    TOKEN,
    admin_call,
    batch_update,
    new_server,
    search_call,
)

pytestmark = pytest.mark.integration


# -- faults, simulated activity, stats ----------------------------------------------------------


def test_fault_fractions_roughly_as_configured() -> None:
    server = new_server(
        contacts=5, companies=1, deals=0, faults=FaultConfig.parse("429=0.1,5xx=0.1,drop=0.1")
    )
    try:
        outcomes = {"ok": 0, "429": 0, "5xx": 0, "drop": 0}
        for _ in range(600):
            try:
                res = requests.get(
                    f"{server.url}/crm/v3/objects/contacts?limit=1", headers=AUTH, timeout=10
                )
            except requests.ConnectionError:
                outcomes["drop"] += 1
                continue
            key = "ok" if res.status_code == 200 else "429" if res.status_code == 429 else "5xx"
            outcomes[key] += 1
        for kind in ("429", "5xx", "drop"):
            assert 30 <= outcomes[kind] <= 95, outcomes
        stats = admin_call(server, "stats")
        assert stats["rate_limited"] == 0  # injected 429s are not real limit hits
        assert stats["faults_injected"] == outcomes["429"] + outcomes["5xx"] + outcomes["drop"]
        assert stats["requests"]["GET /crm/v3/objects/contacts"] == 600
    finally:
        server.stop()


def test_dropped_connections_sometimes_apply_the_write() -> None:
    server = new_server(contacts=40, companies=2, deals=0, faults=FaultConfig.parse("drop=1"))
    try:
        for i in range(20):
            with pytest.raises(requests.ConnectionError):
                requests.post(
                    f"{server.url}/crm/v3/objects/contacts/batch/update",
                    headers=AUTH,
                    timeout=10,
                    json={
                        "inputs": [{"id": str(1001 + 50 * i), "properties": {"city": "Dropped"}}]
                    },
                )
        stats = admin_call(server, "stats")
        applied = sum(
            admin_call(server, f"records/contacts/{1001 + 50 * i}")["changes"].get("city", 0)
            for i in range(20)
        )
        assert applied == stats["faults"].get("drop_after", 0) == stats["records_written"]
        assert 0 < applied < 20
    finally:
        server.stop()


def test_rejected_records_fail_their_whole_batch() -> None:
    server = new_server(contacts=60, companies=2, deals=0, faults=FaultConfig.parse("reject=0.3"))
    try:
        client = HubSpot(access_token=TOKEN, host=server.url)
        ids = [str(1001 + 50 * i) for i in range(60)]
        outcomes: dict[str, bool] = {}
        for record_id in ids:
            try:
                batch_update(client, (record_id, {"city": "Solo"}))
                outcomes[record_id] = True
            except ApiException as refused:
                assert refused.status == 400
                outcomes[record_id] = False
        rejected = [i for i, ok in outcomes.items() if not ok]
        accepted = [i for i, ok in outcomes.items() if ok]
        assert 5 <= len(rejected) <= 35
        with pytest.raises(ApiException) as exc:
            batch_update(client, (accepted[0], {"city": "Mixed"}), (rejected[0], {"city": "Mixed"}))
        assert rejected[0] not in exc.value.body
        assert admin_call(server, f"records/contacts/{accepted[0]}")["properties"]["city"] == "Solo"
    finally:
        server.stop()


def test_faults_can_be_changed_at_run_time_and_slow_replies_wait(srv: SandboxServer) -> None:
    try:
        set_ = requests.post(
            f"{srv.url}/_sandbox/faults", data="slow=1,slow_seconds=0.3", timeout=10
        ).json()
        assert set_["faults"]["slow"] == 1.0
        started = time.monotonic()
        res = requests.get(f"{srv.url}/crm/v3/objects/contacts?limit=1", headers=AUTH, timeout=10)
        assert res.status_code == 200 and time.monotonic() - started >= 0.3
        assert (
            requests.get(f"{srv.url}/_sandbox/health", timeout=10).status_code == 200
        )  # admin: no faults
    finally:
        requests.post(f"{srv.url}/_sandbox/faults", data="0", timeout=10)


def test_mutate_changes_records_and_bumps_modified_time(
    srv: SandboxServer, client: HubSpot
) -> None:
    started = int(time.time() * 1000)
    res = admin_call(srv, "mutate", {"count": 7, "object_type": "0-1"})
    assert res["object_type"] == "contacts" and len(set(res["ids"])) == 7
    for record_id in res["ids"]:
        record = admin_call(srv, f"records/contacts/{record_id}")
        assert record["updated_ms"] >= started
        assert record["changes"] == {}  # simulated activity is not an API write
    deals = admin_call(srv, "mutate", {"count": 3, "object_type": "deals"})
    assert len(deals["ids"]) == 3


def test_stats_use_path_templates_with_normalised_object_types(srv: SandboxServer) -> None:
    requests.post(f"{srv.url}/_sandbox/reset-stats", timeout=10)
    requests.get(f"{srv.url}/crm/v3/objects/0-1/1001", headers=AUTH, timeout=10)
    requests.get(f"{srv.url}/crm/v3/objects/contacts/1051", headers=AUTH, timeout=10)
    requests.get(f"{srv.url}/crm/v3/objects/0-3", headers=AUTH, timeout=10)
    stats = admin_call(srv, "stats")
    assert stats["requests"] == {
        "GET /crm/v3/objects/contacts/{contactId}": 2,
        "GET /crm/v3/objects/deals": 1,
    }


def test_connections_are_kept_alive(srv: SandboxServer) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    sockets = []
    try:
        for _ in range(3):
            body = b'{"inputs": [{"id": "1051"}]}'
            conn.request("POST", "/crm/v3/objects/contacts/batch/read", body=body, headers=AUTH)
            res = conn.getresponse()
            assert res.status == 200 and res.getheader("Connection") != "close"
            res.read()
            sockets.append(conn.sock)
        assert sockets[0] is not None and sockets.count(sockets[0]) == 3  # one socket throughout
    finally:
        conn.close()


def test_search_index_delay_hides_fresh_changes() -> None:
    server = new_server(contacts=30, companies=2, deals=0, search_index_delay=0.5)
    try:
        client = HubSpot(access_token=TOKEN, host=server.url)
        batch_update(client, ("1001", {"jobtitle": "Old Title"}))
        time.sleep(0.6)

        def hits(title: str) -> int:
            filters = [
                {"property_name": "hs_object_id", "operator": "EQ", "value": "1001"},
                {"property_name": "jobtitle", "operator": "EQ", "value": title},
            ]
            return int(search_call(client, filters).total)

        assert (hits("Old Title"), hits("New Title")) == (1, 0)
        batch_update(client, ("1001", {"jobtitle": "New Title"}))
        assert (hits("Old Title"), hits("New Title")) == (1, 0)  # search still sees the old version
        assert (
            client.crm.contacts.basic_api.get_by_id("1001", properties=["jobtitle"]).properties[
                "jobtitle"
            ]
            == "New Title"
        )  # reads by id are never delayed
        time.sleep(0.6)
        assert (hits("Old Title"), hits("New Title")) == (0, 1)
    finally:
        server.stop()


def test_daily_limit_is_enforced_per_account() -> None:
    server = new_server(contacts=5, companies=1, deals=0, daily_limit=3)
    try:
        codes = [
            requests.get(f"{server.url}/crm/v3/objects/contacts", headers=AUTH, timeout=10)
            for _ in range(4)
        ]
        assert [c.status_code for c in codes] == [200, 200, 200, 429]
        assert codes[2].headers["X-HubSpot-RateLimit-Daily-Remaining"] == "0"
        assert codes[3].json()["policyName"] == "DAILY"
    finally:
        server.stop()
