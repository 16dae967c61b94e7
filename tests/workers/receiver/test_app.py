"""The change-event receiver: signatures, storing before acknowledging, refusals counted."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from hubspot.utils.signature import Signature
from pydantic import SecretStr
from starlette.testclient import TestClient

from workers.events.inbox import Inbox
from workers.events.processor import status
from workers.receiver.app import ACK, Refused, create_app, signed_uri, verify_hubspot
from workers.settings import Settings
from workers.state import StateStore

SECRET = "app-secret"
ORG = "00D000000000001AAA"
SF_TOKEN = "outbound-secret-0123456789"
SF_HOOK = f"/webhooks/salesforce?token={SF_TOKEN}"
URL = "http://testserver/webhooks/hubspot"


class Nudges:
    """Records nudges; can be told to fail like a Redis that is down."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.down = False

    def __call__(self, crm: str) -> None:
        if self.down:
            raise ConnectionError("Redis is down")
        self.calls.append(crm)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    with StateStore(f"sqlite:///{tmp_path / 'state.db'}") as s:
        s.migrate()
        yield s


@pytest.fixture
def nudges() -> Nudges:
    return Nudges()


@contextlib.contextmanager
def receiver(store: StateStore, nudges: Nudges, sweep_seconds: float) -> Iterator[TestClient]:
    settings = Settings(
        hubspot_app_secret=SecretStr(SECRET),
        salesforce_org_id=ORG,
        salesforce_outbound_secret=SecretStr(SF_TOKEN),
        redis_url=None,
    )
    app = create_app(settings, store=store, nudge=nudges, sweep_seconds=sweep_seconds)
    with TestClient(app) as c:
        yield c


@pytest.fixture
def client(store: StateStore, nudges: Nudges) -> Iterator[TestClient]:
    # The sweeper stays out of the way so that a nudge seen here is the post's own (on
    # a loaded machine a 0.2 s sweep could land between a post and its assertion).
    with receiver(store, nudges, sweep_seconds=3600) as c:
        yield c


def events(n: int, start: int = 1, **extra: Any) -> list[dict[str, Any]]:
    return [
        {
            "eventId": i,
            "subscriptionId": 7,
            "portalId": 62515,
            "appId": 1,
            "occurredAt": 1_700_000_000_000 + i,
            "subscriptionType": "contact.propertyChange",
            "attemptNumber": 0,
            "objectId": 1000 + i,
            "propertyName": "jobtitle",
            "propertyValue": "CTO",
            "changeSource": "CRM_UI",
            **extra,
        }
        for i in range(start, start + n)
    ]


def post_hubspot(
    client: TestClient, body: bytes, *, secret: str = SECRET, timestamp: int | None = None
) -> Any:
    ts = str(timestamp if timestamp is not None else int(time.time() * 1000))
    signature = Signature.get_signature(secret, body.decode(), "v3", URL, "POST", ts)
    headers = {
        "Content-Type": "application/json",
        "X-HubSpot-Signature-v3": signature,
        "X-HubSpot-Request-Timestamp": ts,
    }
    return client.post("/webhooks/hubspot", content=body, headers=headers)


def test_signature_matches_the_published_test_vector() -> None:
    body = (
        b'[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,'
        b'"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,'
        b'"changeSource":"CRM","changeFlag":"NEW","appId":54321}]'
    )
    args = ("yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy", "POST", "https://www.example.com/webhook_uri")
    good = "/pXDSgWeGksQpwCsgqd43P0eY6gBIse9UX0tfkudUrE="
    verify_hubspot(*args, body, good, "1700000000000", 1_700_000_000_000)
    with pytest.raises(Refused, match="invalid"):
        verify_hubspot(*args, body + b" ", good, "1700000000000", 1_700_000_000_000)
    with pytest.raises(Refused, match="5 minutes") as stale:
        verify_hubspot(*args, body, good, "1700000000000", 1_700_000_000_000 + 300_001)
    assert stale.value.counter == "stale"
    # Only the listed escapes are decoded ('=' and ' ' are not among them).
    assert signed_uri("https://x.io/hook%3Fa%3Db%2Fc%20d") == "https://x.io/hook?a%3Db/c%20d"


def test_events_are_stored_before_the_ack_and_redeliveries_are_not_stored_twice(
    client: TestClient, store: StateStore, nudges: Nudges
) -> None:
    body = json.dumps(events(100)).encode()
    answer = post_hubspot(client, body)
    assert answer.status_code == 200
    assert store.inbox_depth("hubspot") == 100
    assert nudges.calls == ["hubspot"]
    again = post_hubspot(client, json.dumps(events(3, attemptNumber=1)).encode())
    assert again.status_code == 200
    assert store.inbox_depth("hubspot") == 100
    counts = status(store, "hubspot")
    assert counts["received"] == 103 and counts["duplicates"] == 3
    assert counts["lag_seconds"] is not None and counts["lag_seconds"] >= 0


def test_echoes_of_segsync_own_properties_are_acknowledged_and_counted_not_stored(
    client: TestClient, store: StateStore, nudges: Nudges
) -> None:
    echoes = events(3, propertyName="segsync_demographic", propertyValue="executive")
    answer = post_hubspot(client, json.dumps(echoes).encode())
    assert answer.status_code == 200 and answer.json() == {"stored": 0, "echoes": 3}
    assert store.inbox_depth() == 0 and nudges.calls == []  # nothing to process
    mixed = events(2, start=10) + events(2, start=20, propertyName="segsync_lifecycle")
    assert post_hubspot(client, json.dumps(mixed).encode()).json() == {"stored": 2, "echoes": 2}
    assert store.inbox_depth("hubspot") == 2 and nudges.calls == ["hubspot"]
    counts = status(store, "hubspot")
    assert (counts["received"], counts["echoes"], counts["duplicates"]) == (7, 5, 0)


def test_forged_stale_and_oversized_requests_are_refused_and_counted(
    client: TestClient, store: StateStore
) -> None:
    body = json.dumps(events(5)).encode()
    assert post_hubspot(client, body, secret="wrong").status_code == 401
    old = int(time.time() * 1000) - 6 * 60 * 1000
    assert post_hubspot(client, body, timestamp=old).status_code == 401
    assert post_hubspot(client, json.dumps(events(101)).encode()).status_code == 400
    unsigned = client.post("/webhooks/hubspot", content=body)
    assert unsigned.status_code == 401
    assert store.inbox_depth() == 0
    counts = status(store, "hubspot")
    assert (counts["forged"], counts["stale"], counts["malformed"]) == (2, 1, 1)


def test_events_wait_in_the_inbox_while_redis_is_down_and_go_once_it_is_back(
    store: StateStore, nudges: Nudges
) -> None:
    with receiver(store, nudges, sweep_seconds=0.2) as client:
        nudges.down = True
        assert post_hubspot(client, json.dumps(events(10)).encode()).status_code == 200
        assert store.inbox_depth("hubspot") == 10 and nudges.calls == []
        nudges.down = False
        deadline = time.monotonic() + 5
        while not nudges.calls and time.monotonic() < deadline:
            time.sleep(0.05)
    assert nudges.calls and nudges.calls[0] == "hubspot"  # the sweeper caught up


def test_the_receiver_purges_events_processed_longer_ago_than_kept(
    tmp_path: Path, nudges: Nudges
) -> None:
    now = [datetime.now(UTC) - timedelta(hours=80)]
    with StateStore(f"sqlite:///{tmp_path / 'state.db'}", clock=lambda: now[0]) as store:
        store.migrate()
        inbox = Inbox(store)
        store.add_events("hubspot", [(f"e{n}", {"n": n}) for n in range(3)])
        claim = inbox.claim("hubspot", 2)
        inbox.finish(claim.token, [e.id for e in claim.events])  # 80 hours ago
        now[0] = datetime.now(UTC)
        claim = inbox.claim("hubspot", 1)
        inbox.finish(claim.token, [e.id for e in claim.events])  # now
        settings = Settings(hubspot_app_secret=SecretStr(SECRET), redis_url=None)
        assert settings.events_keep_done_hours == 72
        app = create_app(settings, store=store, nudge=nudges, sweep_seconds=0.1)
        with TestClient(app):
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and _done_events(store) != 1:
                time.sleep(0.05)
        assert _done_events(store) == 1  # the one processed now stays


def _done_events(store: StateStore) -> int:
    with store.engine.connect() as conn:
        query = "SELECT count(*) FROM event_inbox WHERE status = 'done'"
        return int(conn.execute(sa.text(query)).scalar_one())


def test_a_store_failure_is_not_acknowledged(store: StateStore, nudges: Nudges) -> None:
    class Broken(StateStore):
        def add_events(self, crm: str, events: Any) -> int:
            raise RuntimeError("database is down")

    settings = Settings(hubspot_app_secret=SecretStr(SECRET), redis_url=None)
    app = create_app(settings, store=Broken(store.url), nudge=nudges)
    with TestClient(app, raise_server_exceptions=False) as c:
        answer = post_hubspot(c, json.dumps(events(2)).encode())
    assert answer.status_code == 500 and nudges.calls == []


def outbound(org: str, *ids: str) -> bytes:
    notes = "".join(
        f'<Notification><Id>{note}</Id><sObject xsi:type="sf:Contact" '
        'xmlns:sf="urn:sobject.enterprise.soap.sforce.com">'
        f"<sf:Id>003000000000{note[-3:]}AAA</sf:Id><sf:Title>CTO</sf:Title></sObject>"
        "</Notification>"
        for note in ids
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        '<soapenv:Body><notifications xmlns="http://soap.sforce.com/2005/09/outbound">'
        f"<OrganizationId>{org}</OrganizationId><ActionId>04k000000000001AAA</ActionId>"
        "<EnterpriseUrl>https://x.my.salesforce.com/services/Soap/c/59.0</EnterpriseUrl>"
        "<PartnerUrl>https://x.my.salesforce.com/services/Soap/u/59.0</PartnerUrl>"
        f"{notes}</notifications></soapenv:Body></soapenv:Envelope>"
    ).encode()


def test_salesforce_outbound_messages_are_acknowledged_after_storing(
    client: TestClient, store: StateStore
) -> None:
    answer = client.post(
        SF_HOOK,
        content=outbound(ORG[:15], "04l000000000101", "04l000000000102"),
        headers={"Content-Type": "text/xml"},
    )
    assert answer.status_code == 200 and answer.text == ACK
    stored = store.pending_events(crm="salesforce")
    payloads = [e.payload for e in stored]
    assert all(isinstance(p, dict) for p in payloads)
    assert [p["object_type"] for p in payloads if isinstance(p, dict)] == ["contact", "contact"]
    assert isinstance(payloads[0], dict) and payloads[0]["id"] == "003000000000101AAA"
    forged = client.post(SF_HOOK, content=outbound("00D00000000XXXX", "04l000000000009"))
    assert forged.status_code == 401 and "Ack" not in forged.text
    assert status(store, "salesforce")["forged"] == 1
    # /healthz says the process is up; /readyz that the store answers, with the depth.
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready" and ready["inbox_depth"] == 2


def test_readyz_refuses_while_the_store_is_behind_this_version(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    store = StateStore(url)
    with store._write() as conn:  # a database an older segsync left
        command.upgrade(store._alembic_config(conn), "0010")
    app = create_app(Settings(database_url=url, redis_url=None), store=store)
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        answer = client.get("/readyz")
        assert answer.status_code == 503
        assert answer.json()["fix"] == "segsync migrate"
        assert "revision 0010" in answer.json()["reason"]
        store.migrate()
        assert client.get("/readyz").status_code == 200
