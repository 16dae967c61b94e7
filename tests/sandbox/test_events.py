"""The sandbox sends change events the way the real CRMs do, to a tiny local receiver.

HubSpot: signed webhook batches (≤ 100 events, one per changed property) with retries and
injected duplicates, reordering, delays and forged batches. Salesforce: SOAP outbound
messages that are retried until the receiver answers ``<Ack>true</Ack>``.
"""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
import pytest
import requests
from hubspot.utils.signature import Signature
from lxml import etree
from pydantic import SecretStr

from connectors.base import FieldWrite, WriteStatus
from connectors.hubspot.connector import HubSpotConnector
from connectors.hubspot.options import HubSpotConfig
from connectors.retrying import RetryPolicy
from connectors.sandbox import SandboxConfig, SandboxServer

pytestmark = pytest.mark.integration

TOKEN = "sandbox-token"
SECRET = "test-app-secret"
OM_NS = "http://soap.sforce.com/2005/09/outbound"
SF_NS = "urn:sobject.enterprise.soap.sforce.com"
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
ACK = (
    b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
    b'<soapenv:Body><notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound">'
    b"<Ack>true</Ack></notificationsResponse></soapenv:Body></soapenv:Envelope>"
)
FAST_DELIVERY = {
    "webhook_retry_seconds": 0.02,
    "webhook_retry_max_seconds": 0.1,
    "webhook_linger_seconds": 0.02,
}
DEFAULTS = {
    "duplicate": 0,
    "reorder": 0,
    "forged": 0,
    "delay_seconds": 0,
    "batch_size": 100,
    "max_attempts": 10,
}


@dataclass
class Received:
    """One request the receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes
    at_ms: int
    status: int = 0


Answer = Callable[[int, Received], tuple[int, bytes]]


@dataclass
class Receiver:
    """A local HTTP endpoint that records requests and answers as ``answer`` says."""

    answer: Answer
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                got = Received(self.path, dict(self.headers), body, int(time.time() * 1000))
                with receiver.lock:
                    n = len(receiver.requests)
                    receiver.requests.append(got)
                status, reply = receiver.answer(n, got)
                got.status = status
                self.send_response(status)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def taken(self) -> list[Received]:
        with self.lock:
            return list(self.requests)

    def reset(self, answer: Answer) -> None:
        with self.lock:
            self.requests.clear()
            self.answer = answer

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Sandbox:
    """A sandbox server pointed at the receiver, with its admin API."""

    server: SandboxServer
    receiver: Receiver
    hook_url: str

    def admin(self, method: str, path: str, **kwargs: Any) -> Any:
        response = requests.request(
            method, f"{self.server.url}/_sandbox/{path}", timeout=30, **kwargs
        )
        response.raise_for_status()
        return response.json()

    def webhooks(self, **changes: Any) -> dict[str, Any]:
        if changes:
            return dict(self.admin("POST", "webhooks", json=changes))
        return dict(self.admin("GET", "webhooks"))

    def settle(self, timeout: float = 10.0) -> dict[str, int]:
        """Wait until nothing is pending; the counters then."""
        deadline = time.monotonic() + timeout
        while True:
            counters: dict[str, int] = self.webhooks()["counters"]
            if counters["pending"] == 0 or time.monotonic() > deadline:
                assert counters["pending"] == 0, counters
                return counters
            time.sleep(0.02)

    def mutate(self, object_type: str, **body: Any) -> list[str]:
        answer = self.admin("POST", "mutate", json={"object_type": object_type, **body})
        return [str(i) for i in answer["ids"]]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- HubSpot ----------------------------------------------------------------------------------


def hubspot_ok(n: int, got: Received, url: str) -> tuple[int, bytes]:
    """A receiver that checks signatures like an app would: 401 for forged requests."""
    try:
        valid = Signature.is_valid(
            got.headers["X-HubSpot-Signature-v3"],
            SECRET,
            got.body.decode("utf-8"),
            http_uri=url,
            signature_version="v3",
            timestamp=got.headers["X-HubSpot-Request-Timestamp"],
        )
    except Exception:
        valid = False
    return (204, b"") if valid else (401, b"bad signature")


@pytest.fixture(scope="module")
def hub_module() -> Iterator[Sandbox]:
    receiver = Receiver(lambda n, got: (204, b""))
    hook_url = receiver.url("/hooks/hubspot?app=segsync")
    server = SandboxServer(
        SandboxConfig(
            dialect="hubspot",
            seed=11,
            contacts=300,
            companies=40,
            deals=60,
            rate_limit=10_000,
            search_rate_per_second=1_000,
            tokens=(TOKEN,),
            webhook_url=hook_url,
            webhook_secret=SECRET,
            **FAST_DELIVERY,
        )
    ).start()
    yield Sandbox(server, receiver, hook_url)
    server.stop()
    receiver.close()


@pytest.fixture
def hub(hub_module: Sandbox) -> Sandbox:
    hub_module.settle()
    hub_module.webhooks(url=hub_module.hook_url, reset=True, **DEFAULTS)
    url = hub_module.hook_url
    hub_module.receiver.reset(lambda n, got: hubspot_ok(n, got, url))
    return hub_module


def events_of(received: list[Received]) -> list[dict[str, Any]]:
    return [event for got in received for event in orjson.loads(got.body)]


def api_get(sandbox: Sandbox, path: str) -> Any:
    response = requests.get(
        f"{sandbox.server.url}{path}", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
    )
    response.raise_for_status()
    return response.json()


def test_hubspot_mutation_events_name_exactly_what_changed(hub: Sandbox) -> None:
    listed = api_get(hub, "/crm/v3/objects/contacts?limit=20")["results"]
    ids = [r["id"] for r in listed]
    props = api_get(hub, "/crm/v3/properties/contacts")["results"]
    subscribable = {
        p["name"]
        for p in props
        if not p.get("calculated") and not p["modificationMetadata"]["readOnlyValue"]
    }
    kinds = {p["name"]: p["type"] for p in props}
    before = {i: hub.admin("GET", f"records/contacts/{i}")["properties"] for i in ids}
    started = int(time.time() * 1000)
    assert sorted(hub.mutate("contacts", ids=ids)) == sorted(ids)
    finished = int(time.time() * 1000)
    after = {i: hub.admin("GET", f"records/contacts/{i}")["properties"] for i in ids}
    counters = hub.settle()

    expected = {
        (i, name): after[i].get(name)
        for i in ids
        for name in set(before[i]) | set(after[i])
        if before[i].get(name) != after[i].get(name) and name in subscribable
    }
    assert expected, "the mutation changed no subscribable property"
    received = hub.receiver.taken()
    events = events_of(received)
    got = {(str(e["objectId"]), e["propertyName"]): e["propertyValue"] for e in events}
    assert set(got) == set(expected)
    assert len(events) == len(expected)  # nothing twice, no read-only property
    for key, value in expected.items():
        if kinds[key[1]] not in ("date", "datetime"):
            assert got[key] == (value or "")
    for event in events:
        assert event["subscriptionType"] == "contact.propertyChange"
        assert event["changeSource"] == "CRM_UI"
        assert event["attemptNumber"] == 0
        assert event["portalId"] and event["appId"] and event["subscriptionId"]
        assert started - 5 <= event["occurredAt"] <= finished + 5
        assert "lastmodifieddate" not in event["propertyName"]
    assert all(r.status == 204 for r in received), "every request carries a valid v3 signature"
    assert all(len(orjson.loads(r.body)) <= 100 for r in received)
    assert all(r.path == "/hooks/hubspot?app=segsync" for r in received)
    assert counters["events_emitted"] == len(events) == counters["events_acked"]
    assert counters["requests_acked"] == counters["requests_sent"] == len(received)
    log = hub.admin("GET", "webhooks/events?limit=5000")["events"]
    assert {e["key"] for e in log} == {str(e["eventId"]) for e in events}
    assert all(e["occurred_ms"] <= e["first_sent_ms"] <= e["acked_ms"] for e in log)


def test_hubspot_batches_hold_at_most_100_events_and_wait_out_the_delay(hub: Sandbox) -> None:
    hub.webhooks(delay_seconds=0.3)
    hub.mutate("contacts", count=300)
    hub.mutate("deals", count=60)
    counters = hub.settle()
    received = hub.receiver.taken()
    events = events_of(received)
    assert counters["events_emitted"] == len(events) > 100
    assert len(received) >= 2
    assert all(len(orjson.loads(r.body)) <= 100 for r in received)
    assert {e["subscriptionType"] for e in events} == {
        "contact.propertyChange",
        "deal.propertyChange",
    }
    assert not any(
        e["propertyName"] in ("hs_lastmodifieddate", "hs_is_closed", "hs_is_closed_won")
        for e in events
    )
    waited = [got.at_ms - e["occurredAt"] for got in received for e in orjson.loads(got.body)]
    assert max(waited) >= 30  # delays are drawn from 0..0.3 s per request
    assert max(waited) < 2_000


def test_hubspot_retries_a_failed_delivery_with_the_next_attempt_number(hub: Sandbox) -> None:
    url = hub.hook_url
    hub.receiver.reset(lambda n, got: (500, b"oops") if n == 0 else hubspot_ok(n, got, url))
    contact = api_get(hub, "/crm/v3/objects/contacts?limit=1")["results"][0]["id"]
    hub.mutate("contacts", ids=[contact])
    counters = hub.settle()
    first, second, *rest = hub.receiver.taken()
    assert not rest
    assert (first.status, second.status) == (500, 204)
    sent, resent = orjson.loads(first.body), orjson.loads(second.body)
    assert [e["eventId"] for e in sent] == [e["eventId"] for e in resent]
    assert {e["attemptNumber"] for e in sent} == {0}
    assert {e["attemptNumber"] for e in resent} == {1}
    assert [{**e, "attemptNumber": 0} for e in resent] == sent  # the rest is sent unchanged
    assert counters["retries"] == 1
    assert counters["requests_sent"] == 2 and counters["requests_acked"] == 1


def test_hubspot_retries_after_connection_failures(hub: Sandbox) -> None:
    hub.webhooks(url=f"http://127.0.0.1:{free_port()}/nobody-home")
    contact = api_get(hub, "/crm/v3/objects/contacts?limit=1")["results"][0]["id"]
    hub.mutate("contacts", ids=[contact])
    deadline = time.monotonic() + 5
    while hub.webhooks()["counters"]["retries"] < 1 and time.monotonic() < deadline:
        time.sleep(0.005)
    hub.webhooks(url=hub.hook_url, retry_seconds=0.02)
    counters = hub.settle()
    received = hub.receiver.taken()
    assert received and counters["events_acked"] == counters["events_emitted"] > 0
    assert {e["attemptNumber"] for e in events_of(received)} <= set(range(1, 10))
    # While nobody answered, every event waited at once: the backlog is reported.
    assert counters["pending"] == 0
    assert counters["pending_peak"] >= counters["events_emitted"]


def test_hubspot_api_writes_emit_integration_events(hub: Sandbox) -> None:
    connector = HubSpotConnector(
        HubSpotConfig(
            base_url=hub.server.url,
            token=SecretStr(TOKEN),
            requests_per_10s=10_000,
            search_requests_per_second=1_000,
            search_lag_seconds=0.0,
            retry=RetryPolicy(max_attempts=4, max_elapsed=30, initial_wait=0.01, max_wait=0.1),
        )
    )
    ids = [r["id"] for r in api_get(hub, "/crm/v3/objects/contacts?limit=3&after=40")["results"]]
    stamp = str(time.time_ns())
    writes = [
        FieldWrite("contact", i, {"jobtitle": f"Webhook wrangler {stamp}", "city": "Tromsø"})
        for i in ids
    ]
    results = connector.write(writes)
    assert all(r.status == WriteStatus.OK for r in results)
    hub.settle()
    events = events_of(hub.receiver.taken())
    titles = {
        str(e["objectId"]): e["propertyValue"] for e in events if e["propertyName"] == "jobtitle"
    }
    assert titles == {i: f"Webhook wrangler {stamp}" for i in ids}
    assert {e["propertyName"] for e in events} <= {"jobtitle", "city"}
    assert {e["changeSource"] for e in events} == {"INTEGRATION"}
    assert {e["sourceId"] for e in events} == {"1"}
    assert all(r.status == 204 for r in hub.receiver.taken())  # non-ASCII bodies sign right


def test_hubspot_duplicates_reorder_and_forgeries_come_in_the_configured_shares(
    hub: Sandbox,
) -> None:
    hub.webhooks(duplicate=0.2, reorder=0.2, forged=0.25, batch_size=10)
    hub.mutate("contacts", count=300)
    hub.mutate("companies", count=40)
    counters = hub.settle()
    received = hub.receiver.taken()
    genuine = [r for r in received if r.status == 204]
    forged = [r for r in received if r.status == 401]
    assert len(genuine) + len(forged) == len(received)
    emitted = counters["events_emitted"]
    assert emitted > 300
    events = events_of(genuine)
    copies = Counter(e["eventId"] for e in events)
    assert len(copies) == emitted  # every event arrived
    assert sum(n - 1 for n in copies.values()) == counters["duplicates_sent"]
    assert 0.1 < counters["duplicates_sent"] / emitted < 0.3
    assert 0.1 < counters["reordered"] / emitted < 0.3
    late, newest = 0, 0
    for event in events:  # eventIds grow in the order the changes happened
        late += event["eventId"] < newest
        newest = max(newest, event["eventId"])
    assert late > 0.05 * emitted
    assert all(len(orjson.loads(r.body)) <= 10 for r in received)
    assert counters["forged_sent"] == len(forged) > 0
    assert 0.1 < len(forged) / counters["requests_sent"] < 0.45
    assert counters["forged_accepted"] == 0
    assert counters["requests_sent"] == len(genuine) and counters["retries"] == 0


def test_hubspot_webhooks_admin_api(hub: Sandbox) -> None:
    state = hub.webhooks()
    assert state["url"] == hub.hook_url and state["dialect"] == "hubspot"
    assert state["secret_set"] is True and SECRET not in orjson.dumps(state).decode()
    assert set(state["counters"]) >= {
        "events_emitted",
        "requests_sent",
        "requests_acked",
        "retries",
        "duplicates_sent",
        "forged_sent",
        "pending",
    }
    bad = requests.post(f"{hub.server.url}/_sandbox/webhooks", json={"duplicate": 2}, timeout=10)
    assert bad.status_code == 400
    assert hub.webhooks(url=None)["url"] is None
    recorded = hub.webhooks()["counters"]["changes_recorded"]
    hub.mutate("contacts", count=5)
    time.sleep(0.1)
    assert hub.receiver.taken() == []
    assert hub.webhooks()["counters"]["changes_recorded"] == recorded


def test_stop_ends_delivery_cleanly() -> None:
    running = set(threading.enumerate())  # other tests' sandboxes may still be up
    server = SandboxServer(
        SandboxConfig(
            contacts=20,
            companies=5,
            deals=5,
            webhook_url=f"http://127.0.0.1:{free_port()}/",
            webhook_retry_seconds=30,
        )
    ).start()
    requests.post(f"{server.url}/_sandbox/mutate", json={"count": 5}, timeout=10)
    deadline = time.monotonic() + 5
    while server.events.snapshot()["requests_sent"] < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 2
    counters = server.events.snapshot()
    assert counters["pending"] == 0 and counters["events_dropped"] > 0
    ours = [t for t in threading.enumerate() if t not in running]
    assert not [t.name for t in ours if t.name.startswith("segsync-sandbox-")]


# -- Salesforce -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sf_module() -> Iterator[Sandbox]:
    receiver = Receiver(lambda n, got: (200, ACK))
    hook_url = receiver.url("/hooks/salesforce")
    server = SandboxServer(
        SandboxConfig(
            dialect="salesforce",
            seed=11,
            contacts=200,
            companies=40,
            deals=60,
            tokens=(TOKEN,),
            webhook_url=hook_url,
            **FAST_DELIVERY,
        )
    ).start()
    yield Sandbox(server, receiver, hook_url)
    server.stop()
    receiver.close()


@pytest.fixture
def sf(sf_module: Sandbox) -> Sandbox:
    sf_module.settle()
    sf_module.webhooks(url=sf_module.hook_url, reset=True, **DEFAULTS)
    sf_module.receiver.reset(lambda n, got: (200, ACK))
    return sf_module


def notifications(got: Received) -> tuple[etree._Element, list[etree._Element]]:
    root = etree.fromstring(got.body)
    return root, root.findall(f".//{{{OM_NS}}}Notification")


def test_salesforce_mutations_send_outbound_messages(sf: Sandbox) -> None:
    org_id = api_get(sf, "/services/oauth2/userinfo")["organization_id"]
    mutated = {
        sf_type: set(sf.mutate(name, count=5))
        for sf_type, name in (
            ("Contact", "contacts"),
            ("Lead", "leads"),
            ("Account", "accounts"),
            ("Opportunity", "opportunities"),
        )
    }
    counters = sf.settle()
    received = sf.receiver.taken()
    seen: dict[str, set[str]] = {}
    note_ids = []
    for got in received:
        assert got.headers["Content-Type"] == "text/xml; charset=utf-8"
        assert got.headers["SOAPAction"] == '""'
        root, notes = notifications(got)
        assert root.findtext(f".//{{{OM_NS}}}OrganizationId") == org_id
        assert len(org_id) == 18
        assert root.findtext(f".//{{{OM_NS}}}ActionId")
        assert "/services/Soap/u/" in (root.findtext(f".//{{{OM_NS}}}PartnerUrl") or "")
        assert 0 < len(notes) <= 100
        for note in notes:
            note_ids.append(note.findtext(f"{{{OM_NS}}}Id"))
            sobject = note.find(f"{{{OM_NS}}}sObject")
            assert sobject is not None
            sf_type = str(sobject.get(XSI_TYPE)).removeprefix("sf:")
            record_id = sobject.findtext(f"{{{SF_NS}}}Id") or ""
            assert len(record_id) == 18
            assert len(sobject) > 1  # Id and what changed
            seen.setdefault(sf_type, set()).add(record_id)
    assert seen == mutated
    assert len(note_ids) == len(set(note_ids)) == counters["events_emitted"] == 20
    assert counters["requests_acked"] == len(received)


def test_salesforce_retries_until_acknowledged(sf: Sandbox) -> None:
    sf.receiver.reset(lambda n, got: (200, b"<fine/>") if n == 0 else (200, ACK))
    sf.mutate("contacts", count=3)
    counters = sf.settle()
    first, second, *rest = sf.receiver.taken()
    assert not rest
    ids = [[n.findtext(f"{{{OM_NS}}}Id") for n in notifications(g)[1]] for g in (first, second)]
    assert ids[0] == ids[1] and len(ids[0]) == 3
    assert counters["retries"] == 1 and counters["requests_acked"] == 1


def test_salesforce_forged_messages_name_another_org(sf: Sandbox) -> None:
    org_id = api_get(sf, "/services/oauth2/userinfo")["organization_id"]

    def answer(n: int, got: Received) -> tuple[int, bytes]:
        root, _ = notifications(got)
        ours = root.findtext(f".//{{{OM_NS}}}OrganizationId") == org_id
        return (200, ACK) if ours else (401, b"unknown org")

    sf.receiver.reset(answer)
    sf.webhooks(forged=1.0)
    sf.mutate("opportunities", count=4)
    counters = sf.settle()
    received = sf.receiver.taken()
    refused = [r for r in received if r.status == 401]
    assert counters["forged_sent"] == len(refused) == counters["requests_sent"] > 0
    assert counters["forged_accepted"] == 0 and counters["retries"] == 0


def test_hubspot_user_edits_emit_ui_events(hub: Sandbox) -> None:
    ids = [r["id"] for r in api_get(hub, "/crm/v3/objects/contacts?limit=3")["results"]]
    answer = hub.admin(
        "POST",
        "edit",
        json={"object_type": "contacts", "ids": ids, "properties": {"jobtitle": "Hand Edited"}},
    )
    assert sorted(answer["ids"]) == sorted(ids)
    hub.settle()
    events = events_of(hub.receiver.taken())
    assert {(str(e["objectId"]), e["propertyName"], e["propertyValue"]) for e in events} == {
        (i, "jobtitle", "Hand Edited") for i in ids
    }
    assert {e["changeSource"] for e in events} == {"CRM_UI"}


def test_hubspot_deletes_without_events_send_nothing(hub: Sandbox) -> None:
    listed = [r["id"] for r in api_get(hub, "/crm/v3/objects/contacts?limit=4")["results"]]
    quiet, loud = listed[:2], listed[2:]
    answer = hub.admin(
        "POST", "delete", json={"object_type": "contacts", "ids": quiet, "events": False}
    )
    assert sorted(answer["ids"]) == sorted(quiet)
    hub.admin("POST", "delete", json={"object_type": "contacts", "ids": loud})
    hub.settle()
    events = events_of(hub.receiver.taken())
    assert {str(e["objectId"]) for e in events} == set(loud)
    assert {e["subscriptionType"] for e in events} == {"contact.deletion"}
    for record_id in quiet:  # gone all the same
        assert hub.admin("GET", f"records/contacts/{record_id}")["archived"] is True
    # Events flow again after a quiet delete.
    hub.mutate("contacts", count=2)
    hub.settle()
    assert events_of(hub.receiver.taken())
