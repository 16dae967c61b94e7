"""Change events in Salesforce's outbound-message dialect: SOAP ``notifications``.

One notification per saved record (Contact, Lead, Account, Opportunity). Its ``sObject``
carries ``Id`` and the fields the save changed (all non-empty fields for a new record;
``IsDeleted`` for a deletion, which a real org would only report through a flow or
trigger). A save that changed nothing but the audit fields is not reported. Every
notification has an id of its own; a redelivered or duplicated one keeps it, which is
what receivers de-duplicate on. Delivery counts only when the answer is a 2xx carrying
``<Ack>true</Ack>``.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from connectors.sandbox.events import Change, Event
from connectors.sandbox.salesforce.ids import make_id
from connectors.sandbox.salesforce.records import SalesforceData
from connectors.sandbox.salesforce.values import to_json

OUTBOUND_NS = "http://soap.sforce.com/2005/09/outbound"
SOBJECT_NS = "urn:sobject.enterprise.soap.sforce.com"
API_VERSION = "59.0"
NOTIFICATION_PREFIX = "04l"
ACTION_ID = make_id("04k", 1)
FORGED_ORG_ID = make_id("00D", 424242)  # another org: what a spoofed message would claim
AUDIT_FIELDS = frozenset({"LastModifiedDate", "LastModifiedById", "SystemModstamp"})
_ACK = re.compile(rb"<(?:[\w.-]+:)?Ack>\s*true\s*</(?:[\w.-]+:)?Ack>")


def soap_text(kind: str, value: Any) -> str:
    """A JSON-form field value as SOAP writes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if kind == "datetime" and isinstance(value, str):
        return value.replace("+0000", "Z")
    return escape(str(value))


class SalesforceEvents:
    """Phrases store changes as outbound-message notifications."""

    objects = frozenset({"contact", "lead", "company", "deal"})

    def __init__(self, data: SalesforceData, org_id: str | None = None) -> None:
        self.data = data
        self.org_id = org_id or data.org_id
        self.base_url = "https://sandbox.my.salesforce.com"  # the server sets its real URL
        self._ids = itertools.count(1)

    def events(self, change: Change) -> list[Event]:
        """One notification, or none when only audit fields changed."""
        if change.kind == "update" and not set(change.values) - AUDIT_FIELDS:
            return []
        obj = self.data.by_table(change.object_type)
        record_id = self.data.record_id(obj, change.record_id)
        fields = [f"<sf:Id>{record_id}</sf:Id>"]
        if change.kind == "delete":
            fields.append("<sf:IsDeleted>true</sf:IsDeleted>")
        for name, stored in change.values.items():
            definition = obj.field(name)
            if definition is None or definition.name == "Id":
                continue
            value = to_json(definition, stored)
            if value is None:
                fields.append(f'<sf:{definition.name} xsi:nil="true"/>')
            else:
                text = soap_text(definition.type, value)
                fields.append(f"<sf:{definition.name}>{text}</sf:{definition.name}>")
        note_id = make_id(NOTIFICATION_PREFIX, next(self._ids))
        xml = (
            f"<Notification><Id>{note_id}</Id>"
            f'<sObject xsi:type={quoteattr("sf:" + obj.name)} xmlns:sf="{SOBJECT_NS}">'
            f"{''.join(fields)}</sObject></Notification>"
        )
        return [Event(note_id, change.object_type, record_id, change.occurred_ms, xml)]

    def render(self, events: Sequence[Event]) -> bytes:
        """The ``Notification`` elements (Salesforce retries a message unchanged)."""
        return "".join(str(e.body) for e in events).encode()

    def request(
        self, rendered: bytes, attempt: int, url: str, secret: str, *, forged: bool
    ) -> tuple[bytes, dict[str, str]]:
        """The ``notifications`` envelope (a forged one names another organization)."""
        org = FORGED_ORG_ID if forged else self.org_id
        org15 = org[:15]
        base = self.base_url.rstrip("/")
        envelope = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
            'xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
            f'<soapenv:Body><notifications xmlns="{OUTBOUND_NS}">'
            f"<OrganizationId>{org}</OrganizationId>"
            f"<ActionId>{ACTION_ID}</ActionId>"
            '<SessionId xsi:nil="true"/>'
            f"<EnterpriseUrl>{escape(base)}/services/Soap/c/{API_VERSION}/{org15}</EnterpriseUrl>"
            f"<PartnerUrl>{escape(base)}/services/Soap/u/{API_VERSION}/{org15}</PartnerUrl>"
        ).encode()
        closing = b"</notifications></soapenv:Body></soapenv:Envelope>"
        headers = {
            "Content-Type": "text/xml; charset=utf-8",
            "SOAPAction": '""',
            "User-Agent": "Salesforce",
        }
        return envelope + rendered + closing, headers

    def acknowledged(self, status: int, body: bytes) -> bool:
        """Salesforce retries anything but a 2xx ``notificationsResponse`` with Ack true."""
        return 200 <= status < 300 and _ACK.search(body) is not None
