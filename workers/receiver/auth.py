"""Who may post events: checks made on the request line and headers, before the body.

A request that cannot be genuine is refused before its body is read, so a forger's
upload costs the receiver neither memory nor a database write.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import unquote

from workers.receiver.addresses import AddressSet
from workers.receiver.refused import Refused

MAX_AGE_MS = 5 * 60 * 1000
# The escapes HubSpot decodes in the URI before signing (fact sheet, section 10).
_URI_ESCAPES = ("%3A", "%2F", "%3F", "%40", "%21", "%24", "%27", "%28", "%29", "%2A", "%2C", "%3B")


def signed_uri(url: str) -> str:
    """The URI as HubSpot signs it: the listed escapes decoded, the rest left as sent."""
    for escape in _URI_ESCAPES:
        url = url.replace(escape, unquote(escape)).replace(escape.lower(), unquote(escape))
    return url


def same_secret(expected: str, sent: str) -> bool:
    """Constant-time comparison that any header value can go through.

    ``hmac.compare_digest`` raises TypeError on ``str`` holding non-ASCII characters;
    comparing the UTF-8 bytes answers False instead.
    """
    return hmac.compare_digest(expected.encode(), sent.encode("utf-8", "surrogateescape"))


def hubspot_headers(signature: str, timestamp: str, now_ms: int) -> None:
    """Refuse (401) a HubSpot request whose signature headers cannot be valid."""
    if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > 16:
        raise Refused(
            401, "forged", "missing or malformed X-HubSpot-Request-Timestamp", "timestamp"
        )
    if abs(now_ms - int(timestamp)) > MAX_AGE_MS:
        raise Refused(401, "stale", "request timestamp is more than 5 minutes away")
    if not signature:
        raise Refused(401, "forged", "missing X-HubSpot-Signature-v3", "signature")


class HubSpotSignature:
    """A v3 signature computed as the body arrives: HMAC-SHA256 over method, URI, body, timestamp.

    The same bytes HubSpot signs (fact sheet, section 10), fed in order, so no body has to
    be held whole to be found forged.
    """

    def __init__(self, secret: str, method: str, uri: str) -> None:
        self._mac = hmac.new(secret.encode(), (method + signed_uri(uri)).encode(), hashlib.sha256)

    def update(self, chunk: bytes, /) -> None:
        self._mac.update(chunk)

    def verify(self, signature: str, timestamp: str, now_ms: int) -> None:
        """Raise :class:`Refused` unless ``signature`` is this body's and fresh."""
        hubspot_headers(signature, timestamp, now_ms)
        self._mac.update(timestamp.encode())
        expected = base64.b64encode(self._mac.digest()).decode()
        if not same_secret(expected, signature):
            raise Refused(401, "forged", "invalid X-HubSpot-Signature-v3", "signature")


def verify_hubspot(
    secret: str, method: str, uri: str, body: bytes, signature: str, timestamp: str, now_ms: int
) -> None:
    """Raise :class:`Refused` unless the v3 signature of a whole body is valid and fresh."""
    computed = HubSpotSignature(secret, method, uri)
    computed.update(body)
    computed.verify(signature, timestamp, now_ms)


def salesforce_sender(token: str, secret: str, source: str, allowed: AddressSet) -> None:
    """Refuse (401) an outbound message that does not carry the endpoint's secret.

    The organization id alone proves nothing (web-to-lead forms publish it); the secret
    is set once in the outbound message's endpoint URL, which only an org administrator
    sees. With an allowlist, the sender's address must be in it too.
    """
    if allowed and source not in allowed:
        raise Refused(401, "forged", "sender address not in the allowlist", "source_ip")
    if not token or not same_secret(secret, token):
        raise Refused(401, "forged", "missing or wrong token in the endpoint URL", "token")
