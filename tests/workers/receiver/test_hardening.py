"""The receiver under hostile traffic and odd senders (issue 12, defects 3, 5-8 and 13), in
process: per-event acceptance, malformed input, shared secrets, signatures behind a proxy, body
limits."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner
from pydantic import SecretStr, ValidationError
from starlette.requests import Request
from starlette.testclient import TestClient

from tests.workers.receiver.support import (
    MIB,
    ORG,
    SF_HOOK,
    event,
    outbound,
    post_hubspot,
    receiver,
    signed_headers,
)
from workers.cli.main import main
from workers.events.processor import status
from workers.receiver.body import BodyLimits, Budgets, limited_body
from workers.receiver.refused import Refused
from workers.settings import Settings
from workers.state import StateStore

# --- defect 3: per-event acceptance -------------------------------------------------


def test_a_mixed_batch_stores_its_contact_event_and_counts_the_others(
    client: TestClient, store: StateStore
) -> None:
    batch = [
        event(1),
        event(2, "ticket.creation"),
        event(3, "object.propertyChange", objectTypeId="0-5"),
        event(4, objectId="not-a-number"),
        "not an event",
    ]
    answer = post_hubspot(client, json.dumps(batch).encode())
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"stored": 1, "echoes": 0, "unsupported": 2, "malformed": 2}
    stored = store.pending_events(crm="hubspot")
    assert [e.payload["objectId"] for e in stored if isinstance(e.payload, dict)] == [1001]
    counts = status(store, "hubspot")
    assert counts["received"] == 5
    assert counts["unsupported.ticket.creation"] == 1
    assert counts["unsupported.object.propertyChange"] == 1
    assert counts["malformed_events.object_id"] == 1
    assert counts["malformed_events.not_an_object"] == 1
    # A batch with nothing valid in it is refused, and counted.
    refused = post_hubspot(client, json.dumps([event(9, objectId=[1])]).encode())
    assert refused.status_code == 400
    assert status(store, "hubspot")["malformed.events"] == 1


def test_events_status_shows_every_counter(
    client: TestClient, store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    post_hubspot(client, json.dumps([event(1), event(2, "ticket.creation")]).encode())
    monkeypatch.setenv("SEGSYNC_DATABASE_URL", str(store.url))
    shown = CliRunner().invoke(main, ["events", "status"])
    assert shown.exit_code == 0, shown.output
    assert re.search(r"unsupported\.ticket\.creation +1\n", shown.output), shown.output


# --- defect 8: malformed input gets a 4xx, counted by reason, never a 500 -------------

XXE = (
    b'<?xml version="1.0"?><!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    b"<foo>&xxe;</foo>"
)
LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10 if i > 1 else "&lol;" * 10}">'.encode()
        for i in range(1, 10)
    )
    + b"]><lolz>&lol9;</lolz>"
)
LONG_NOTIFICATION_ID = outbound(notes=[("04l" + "1" * 297, "Contact", "003000000000101AAA")])


@pytest.mark.parametrize(
    ("body", "counter"),
    [
        (XXE, "malformed.xml_entities"),
        (LAUGHS, "malformed.xml_entities"),
        (
            outbound(notes=[("04l" + "1" * 297, "Contact", "003000000000101AAA")]),
            "malformed.events",
        ),
        (b"<not xml", "malformed.not_xml"),
    ],
    ids=["xxe", "billion-laughs", "300-char-notification-id", "not-xml"],
)
def test_malformed_salesforce_messages_get_400_and_are_counted(
    client: TestClient, store: StateStore, body: bytes, counter: str
) -> None:
    answer = client.post(SF_HOOK, content=body, headers={"Content-Type": "text/xml"})
    assert answer.status_code == 400, answer.text
    assert status(store, "salesforce")[counter] == 1
    assert store.inbox_depth() == 0


def test_a_bad_notification_does_not_cost_the_good_ones(
    client: TestClient, store: StateStore
) -> None:
    notes = [
        ("04l" + "1" * 297, "Contact", "003000000000101AAA"),
        ("04l000000000102", "Case", "500000000000102AAA"),
        ("04l000000000103", "Contact", "003000000000103AAA"),
    ]
    answer = client.post(SF_HOOK, content=outbound(notes=notes))
    assert answer.status_code == 200 and "<Ack>true</Ack>" in answer.text
    assert store.inbox_depth("salesforce") == 1
    counts = status(store, "salesforce")
    assert counts["malformed_events.notification_id"] == 1 and counts["unsupported.Case"] == 1


@pytest.mark.parametrize(
    ("body", "headers", "status_code", "counter"),
    [
        (b"[" * 200_000 + b"]" * 200_000, {}, 400, "malformed.too_deep"),
        (b"\xff\xfe[not json", {}, 400, "malformed.not_json"),
        (b'{"eventId": 1}', {}, 400, "malformed.not_an_array"),
        (b"[]", {"X-HubSpot-Signature-v3": "sig\xe9nature"}, 401, "forged.signature"),
        (b"[]", {"X-HubSpot-Request-Timestamp": "\xb2\xb3"}, 401, "forged.timestamp"),
    ],
    ids=["200k-deep-json", "not-utf8", "not-an-array", "non-ascii-signature", "odd-timestamp"],
)
def test_malformed_hubspot_requests_get_a_4xx_and_are_counted(
    client: TestClient,
    store: StateStore,
    body: bytes,
    headers: dict[str, str],
    status_code: int,
    counter: str,
) -> None:
    sent = signed_headers(body)
    # Header values travel as bytes: non-ASCII ones arrive as sent (latin-1).
    wire = {k: v.encode("latin-1") for k, v in {**sent, **headers}.items()}
    answer = client.post("/webhooks/hubspot", content=body, headers=wire)
    assert answer.status_code == status_code, answer.text
    assert status(store, "hubspot")[counter] == 1
    assert store.inbox_depth() == 0


# --- defect 7: Salesforce messages must prove the shared secret ----------------------


def test_forged_salesforce_messages_with_the_right_org_id_get_401_and_store_nothing(
    client: TestClient, store: StateStore
) -> None:
    genuine_org_forged = outbound(ORG)
    for url in (
        "/webhooks/salesforce",
        "/webhooks/salesforce?token=guessed-secret-0123456789",
        "/webhooks/salesforce?token=%C3%A9t%C3%A9",  # non-ASCII must not crash the comparison
    ):
        answer = client.post(url, content=genuine_org_forged)
        assert answer.status_code == 401, (url, answer.text)
    # Nothing stored: processing has nothing to spend API calls on.
    assert store.inbox_depth() == 0
    assert status(store, "salesforce")["forged.token"] == 3
    assert client.post(SF_HOOK, content=genuine_org_forged).status_code == 200
    assert store.inbox_depth("salesforce") == 1


def test_without_a_configured_secret_salesforce_messages_are_refused(store: StateStore) -> None:
    with receiver(store, salesforce_outbound_secret=None) as c:
        answer = c.post("/webhooks/salesforce", content=outbound(ORG))
    assert answer.status_code == 503
    assert "SEGSYNC_SALESFORCE_OUTBOUND_SECRET" in answer.json()["error"]
    assert store.inbox_depth() == 0


def test_the_salesforce_allowlist_refuses_other_senders(store: StateStore) -> None:
    allow = {"salesforce_outbound_allow_ips": "198.51.100.0/24, 2001:db8::/32"}
    with receiver(store, ("203.0.113.9", 443), **allow) as outsider:
        assert outsider.post(SF_HOOK, content=outbound(ORG)).status_code == 401
    with receiver(store, ("198.51.100.7", 443), **allow) as salesforce:
        assert salesforce.post(SF_HOOK, content=outbound(ORG)).status_code == 200
    assert status(store, "salesforce")["forged.source_ip"] == 1
    assert store.inbox_depth("salesforce") == 1


def test_a_secret_that_cannot_go_into_a_url_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="at least 16 characters"):
        Settings(salesforce_outbound_secret=SecretStr("short"))
    with pytest.raises(ValueError, match="not an IP address"):
        Settings(webhook_forwarded_allow_ips="10.0.0.0/8, proxy.local")


# --- defect 13: signatures behind a TLS-terminating proxy ----------------------------

PUBLIC = "https://hooks.example.com/webhooks/hubspot"
FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "hooks.example.com"}


def test_signatures_verify_over_the_public_url_behind_a_trusted_proxy(store: StateStore) -> None:
    body = json.dumps([event(1)]).encode()
    proxy = ("10.1.2.3", 40000)
    with receiver(store, proxy, webhook_forwarded_allow_ips="10.0.0.0/8") as behind_proxy:
        answer = behind_proxy.post(
            "/webhooks/hubspot", content=body, headers=signed_headers(body, PUBLIC, **FORWARDED)
        )
    assert answer.status_code == 200, answer.text
    assert store.inbox_depth("hubspot") == 1


@pytest.mark.parametrize(
    ("peer", "trusted"),
    [(("10.1.2.3", 40000), ""), (("203.0.113.9", 40000), "10.0.0.0/8")],
    ids=["no-proxy-trusted-by-default", "peer-not-a-trusted-proxy"],
)
def test_forwarded_headers_from_anyone_else_are_ignored(
    store: StateStore, peer: tuple[str, int], trusted: str
) -> None:
    body = json.dumps([event(1)]).encode()
    with receiver(store, peer, webhook_forwarded_allow_ips=trusted) as c:
        answer = c.post(
            "/webhooks/hubspot", content=body, headers=signed_headers(body, PUBLIC, **FORWARDED)
        )
    assert answer.status_code == 401
    assert store.inbox_depth() == 0


# --- defect 5: body limits (in process) -----------------------------------------------


def test_bodies_over_the_limit_get_413_and_unsigned_ones_are_not_read(
    store: StateStore,
) -> None:
    big = json.dumps([event(i, propertyValue="x" * 20_000) for i in range(60)]).encode()
    assert len(big) > 1 * MIB
    with receiver(store, webhook_max_body_bytes=MIB, webhook_max_buffered_bytes=MIB) as c:
        declared = post_hubspot(c, big)
        assert declared.status_code == 413 and declared.headers["connection"] == "close"

        def chunks() -> Iterator[bytes]:
            for start in range(0, len(big), 64 * 1024):
                yield big[start : start + 64 * 1024]

        streamed = c.post("/webhooks/hubspot", content=chunks(), headers=signed_headers(big))
        assert streamed.status_code == 413
        unsigned = c.post("/webhooks/hubspot", content=big)
        assert unsigned.status_code == 413  # the size is known before anything else
        unsigned = c.post("/webhooks/hubspot", content=chunks())
        assert unsigned.status_code == 401
    counts = status(store, "hubspot")
    assert (counts["too_large.declared"], counts["too_large.streamed"]) == (2, 1)
    assert store.inbox_depth() == 0


def test_a_body_beyond_the_memory_budget_goes_to_disk_and_is_still_read(
    store: StateStore,
) -> None:
    # A genuine batch of 100 events with long values (HubSpot allows 65,536 characters).
    big = json.dumps([event(i, propertyValue="x" * 5_000) for i in range(100)]).encode()
    assert len(big) > 256 * 1024
    settings = {"webhook_max_buffered_bytes": 64 * 1024, "webhook_max_spooled_bytes": 4 * MIB}
    with receiver(store, **settings) as c:

        def chunks(body: bytes) -> Iterator[bytes]:
            for start in range(0, len(body), 16 * 1024):
                yield body[start : start + 16 * 1024]

        forged = signed_headers(big[:-1] + b" ")
        refused = c.post("/webhooks/hubspot", content=chunks(big), headers=forged)
        assert refused.status_code == 401
        stored = c.post("/webhooks/hubspot", content=chunks(big), headers=signed_headers(big))
        assert stored.status_code == 200, stored.text
        assert stored.json()["stored"] == 100
    assert store.inbox_depth() == 100


def chunked_request(body: bytes, piece: int = 16 * 1024) -> Request:
    """A request whose body arrives in ``piece``-byte chunks, without Content-Length."""
    messages = [
        {"type": "http.request", "body": body[i : i + piece], "more_body": i + piece < len(body)}
        for i in range(0, len(body), piece)
    ]

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    return Request({"type": "http", "method": "POST", "headers": []}, receive)


def test_bodies_share_the_memory_then_the_disk_budget_then_get_503() -> None:
    limits = BodyLimits(max_bytes=MIB, max_buffered=128 * 1024, max_spooled=MIB, timeout=5)
    budgets = Budgets.of(limits)
    first, second, third = b"a" * 100 * 1024, b"b" * 900 * 1024, b"c" * 200 * 1024

    async def scenario() -> None:
        async with limited_body(chunked_request(first), limits, budgets) as held:
            assert not held.spooled and budgets.memory.held == len(first)
            async with limited_body(chunked_request(second), limits, budgets) as spilled:
                assert spilled.spooled and spilled.read() == second
                assert (budgets.memory.held, budgets.disk.held) == (len(first), len(second))
                with pytest.raises(Refused) as busy:
                    async with limited_body(chunked_request(third), limits, budgets):
                        pass
                assert busy.value.status == 503
            assert held.read() == first
        assert (budgets.memory.held, budgets.disk.held) == (0, 0)

    asyncio.run(scenario())
    with pytest.raises(ValidationError, match="SEGSYNC_WEBHOOK_MAX_SPOOLED_BYTES"):
        Settings(webhook_max_body_bytes=2 * MIB, webhook_max_spooled_bytes=MIB)
