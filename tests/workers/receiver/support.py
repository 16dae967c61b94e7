"""What the receiver's hardening tests share: a receiver app over a store, signed HubSpot bodies,
Salesforce outbound messages."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

from pydantic import SecretStr
from starlette.testclient import TestClient

from workers.receiver.app import create_app
from workers.settings import Settings
from workers.state import StateStore

SECRET = "app-secret"


ORG = "00D000000000001AAA"


SF_TOKEN = "outbound-secret-0123456789"


MIB = 1024 * 1024


def receiver(
    store: StateStore, client: tuple[str, int] = ("testclient", 50000), **settings: Any
) -> TestClient:
    values: dict[str, Any] = {
        "hubspot_app_secret": SecretStr(SECRET),
        "salesforce_org_id": ORG,
        "salesforce_outbound_secret": SecretStr(SF_TOKEN),
        "redis_url": None,
        **settings,
    }
    app = create_app(Settings(**values), store=store, nudge=lambda crm: None)
    # raise_server_exceptions=False: a crash is seen as the 500 a sender would get.
    return TestClient(app, raise_server_exceptions=False, client=client)


def event(i: int, kind: str = "contact.propertyChange", **extra: Any) -> dict[str, Any]:
    return {
        "eventId": i,
        "subscriptionId": 7,
        "portalId": 62515,
        "appId": 1,
        "occurredAt": 1_700_000_000_000 + i,
        "subscriptionType": kind,
        "attemptNumber": 0,
        "objectId": 1000 + i,
        "propertyName": "jobtitle",
        "propertyValue": "CTO",
        "changeSource": "CRM_UI",
        **extra,
    }


def signed_headers(
    body: bytes, url: str = "http://testserver/webhooks/hubspot", **extra: str
) -> dict[str, str]:
    ts = str(int(time.time() * 1000))
    # HubSpot signs the bytes it sends: method, URI, body, timestamp (fact sheet, 10).
    mac = hmac.new(SECRET.encode(), b"POST" + url.encode() + body + ts.encode(), hashlib.sha256)
    signature = base64.b64encode(mac.digest()).decode()
    return {
        "Content-Type": "application/json",
        "X-HubSpot-Signature-v3": signature,
        "X-HubSpot-Request-Timestamp": ts,
        **extra,
    }


def post_hubspot(client: TestClient, body: bytes, **kwargs: Any) -> Any:
    return client.post("/webhooks/hubspot", content=body, headers=signed_headers(body, **kwargs))


def outbound(org: str = ORG, notes: list[tuple[str, str, str]] | None = None) -> bytes:
    """An outbound message; ``notes`` are (notification id, sObject type, record id)."""
    notes = notes or [("04l000000000101", "Contact", "003000000000101AAA")]
    xml = "".join(
        f'<Notification><Id>{note}</Id><sObject xsi:type="sf:{kind}" '
        'xmlns:sf="urn:sobject.enterprise.soap.sforce.com">'
        f"<sf:Id>{record}</sf:Id><sf:Title>CTO</sf:Title></sObject></Notification>"
        for note, kind, record in notes
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        '<soapenv:Body><notifications xmlns="http://soap.sforce.com/2005/09/outbound">'
        f"<OrganizationId>{org}</OrganizationId><ActionId>04k000000000001AAA</ActionId>"
        f"{xml}</notifications></soapenv:Body></soapenv:Envelope>"
    ).encode()


SF_HOOK = f"/webhooks/salesforce?token={SF_TOKEN}"
