"""Change events in HubSpot's webhook dialect: JSON arrays of events, signed with v3.

Each property change is its own ``*.propertyChange`` event; a creation is a
``*.creation`` event followed by a property change per non-empty property; a deletion
is a ``*.deletion`` event. Calculated and read-only properties (``hs_lastmodifieddate``,
analytics counters, deal won/closed flags, …) are never reported: HubSpot does not
let apps subscribe to them. Date and datetime values are epoch milliseconds, as in
HubSpot's payloads (the API shows them as ISO text instead).
"""

from __future__ import annotations

import hashlib
import itertools
import time
import zlib
from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote

import orjson
from hubspot.utils.signature import Signature

from connectors.sandbox.events import UI_SOURCE, Change, Event
from connectors.sandbox.hubspot.defaults import PORTAL_ID
from connectors.sandbox.hubspot.records import HubSpotData
from connectors.sandbox.hubspot.values import format_value

APP_ID = 1  # the app id the sandbox's OAuth token info reports
UI_USER = "userId:1"
USER_AGENT = "HubSpot Connect 2.0 (http://dev.hubspot.com/)"
# HubSpot decodes these escapes in the URI before signing (fact sheet, signature v3).
_FIRST_ATTEMPT = b'"attemptNumber":0,'  # as orjson writes it: objectId follows
_URI_ESCAPES = ("%3A", "%2F", "%3F", "%40", "%21", "%24", "%27", "%28", "%29", "%2A", "%2C", "%3B")


def signed_uri(url: str) -> str:
    """The URI as HubSpot puts it into the v3 signature."""
    for escape in _URI_ESCAPES:
        url = url.replace(escape, unquote(escape)).replace(escape.lower(), unquote(escape))
    return url


def subscription_id(subscription_type: str, prop: str | None = None) -> int:
    """A stable subscription id: one per type, and per property for property changes."""
    return 100_000 + zlib.crc32(f"{subscription_type}:{prop or ''}".encode()) % 900_000


class HubSpotEvents:
    """Phrases store changes as HubSpot webhook events."""

    objects = frozenset({"contact", "company", "deal"})

    def __init__(self, data: HubSpotData) -> None:
        self.data = data
        self.base_url = ""
        self._ids = itertools.count(1)

    def subscribable(self, object_type: str, name: str) -> bool:
        """Whether apps can subscribe to changes of a property."""
        prop = self.data.schemas[object_type].live(name)
        return prop is not None and not prop.calculated and not prop.read_only_value

    def events(self, change: Change) -> list[Event]:
        """Creation/deletion event and one event per changed subscribable property."""
        object_type = change.object_type
        out: list[Event] = []
        if change.kind == "create":
            out.append(self._event(change, f"{object_type}.creation", changeFlag="NEW"))
        elif change.kind == "delete":
            return [self._event(change, f"{object_type}.deletion", changeFlag="DELETED")]
        table = self.data.table(object_type)
        for name, value in change.values.items():
            if not self.subscribable(object_type, name):
                continue
            kind = table.kind_of(name)
            if value is None:
                text = ""
            elif kind in ("datetime", "date"):
                text = str(int(value))
            else:
                text = format_value(kind, value) or ""
            out.append(
                self._event(
                    change,
                    f"{object_type}.propertyChange",
                    propertyName=name,
                    propertyValue=text,
                )
            )
        return out

    def _event(self, change: Change, subscription_type: str, **extra: Any) -> Event:
        event_id = next(self._ids)
        ui = change.source == UI_SOURCE
        body: dict[str, Any] = {
            "eventId": event_id,
            "subscriptionId": subscription_id(subscription_type, extra.get("propertyName")),
            "portalId": PORTAL_ID,
            "appId": APP_ID,
            "occurredAt": change.occurred_ms,
            "subscriptionType": subscription_type,
            "attemptNumber": 0,
            "objectId": change.record_id,
        }
        flag = extra.pop("changeFlag", None)
        body.update(extra)
        body["changeSource"] = change.source
        if flag is not None:
            body["changeFlag"] = flag
        body["sourceId"] = UI_USER if ui else str(APP_ID)
        return Event(
            str(event_id), change.object_type, str(change.record_id), change.occurred_ms, body
        )

    def render(self, events: Sequence[Event]) -> bytes:
        """The JSON array of a first attempt (``attemptNumber`` 0)."""
        return orjson.dumps([e.body for e in events])

    def request(
        self, rendered: bytes, attempt: int, url: str, secret: str, *, forged: bool
    ) -> tuple[bytes, dict[str, str]]:
        """The JSON array, signed (v3 and the legacy v1) with the app secret."""
        body = rendered
        if attempt:
            # Safe on the whole text: inside a JSON string a quote is always escaped.
            body = body.replace(_FIRST_ATTEMPT, b'"attemptNumber":%d,' % attempt)
        timestamp = str(int(time.time() * 1000))
        if forged:
            secret = "forged-" + secret  # what a third party guessing the secret would send
        text = body.decode("utf-8")
        v3 = Signature.get_signature(
            secret,
            text,
            signature_version="v3",
            http_uri=signed_uri(url),
            http_method="POST",
            timestamp=timestamp,
        )
        v1 = hashlib.sha256(f"{secret}{text}".encode()).hexdigest()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-HubSpot-Signature-v3": v3,
            "X-HubSpot-Request-Timestamp": timestamp,
            "X-HubSpot-Signature": v1,
            "X-HubSpot-Signature-Version": "v1",
        }
        return body, headers

    def acknowledged(self, status: int, body: bytes) -> bool:
        """HubSpot counts any 2xx as delivered."""
        return 200 <= status < 300
