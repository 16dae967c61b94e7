"""What the neutral server and admin endpoints need from a CRM dialect.

HubSpot (``hubspot.api``) and Salesforce (``salesforce.api``) implement it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from werkzeug.routing import Map
from werkzeug.wrappers import Request, Response

from connectors.sandbox.mutate import MutationHooks
from connectors.sandbox.quotas import Usage
from connectors.sandbox.tokens import AuthFailure, Principal

RouteKind = Literal["api", "search", "oauth"]


@dataclass(frozen=True, slots=True)
class Route:
    """A matched request: its stats template and kind.

    Templates look like ``GET /crm/v3/objects/contacts/{contactId}``.

    ``api`` requests are authenticated, rate limited and faulted; ``search`` ones also use the
    search limiter and carry no rate-limit headers; ``oauth`` ones are none of these.
    """

    template: str
    kind: RouteKind


@dataclass(frozen=True, slots=True)
class CallInfo:
    """Per-request facts passed to handlers."""

    correlation_id: str
    started_ms: int
    base_url: str
    endpoint: str = ""  # the matched endpoint, once routing has happened


class Dialect(Protocol):
    """A CRM API served over the shared store."""

    name: str
    url_map: Map
    correlation_header: str
    hooks: MutationHooks

    def route(self, method: str, endpoint: str, args: Mapping[str, Any]) -> Route:
        """Stats template and kind of a matched request."""
        ...

    def precheck(self, request: Request, call: CallInfo) -> Response | None:
        """A refusal that comes before routing (e.g. URI too long), or None."""
        ...

    def credentials(self, request: Request, endpoint: str) -> str | None:
        """The ``Authorization``-style value to authenticate (SOAP: from the envelope)."""
        ...

    def handle(
        self, endpoint: str, request: Request, args: Mapping[str, Any], call: CallInfo
    ) -> Response:
        """Answer a request (errors included, in the dialect's own shapes)."""
        ...

    def unauthorized(self, failure: AuthFailure, call: CallInfo) -> Response:
        """The response for a missing, invalid or expired token."""
        ...

    def rate_limited(self, policy: str, call: CallInfo) -> Response:
        """The 429 response for a limit policy."""
        ...

    def gateway_error(self, status: int, call: CallInfo) -> Response:
        """An injected 5xx."""
        ...

    def plain_error(self, status: int, message: str, call: CallInfo) -> Response:
        """404/405/500 outside any handler."""
        ...

    def rate_headers(self, usage: Usage, principal: Principal) -> list[tuple[str, str]]:
        """Quota headers for a non-search response."""
        ...

    def object_type(self, name: str) -> str | None:
        """Canonical object type for an admin-supplied name, None when unknown."""
        ...

    def api_name(self, object_type: str) -> str:
        """The dialect's name for a canonical object type (``contact`` -> ``contacts``)."""
        ...

    def record_view(self, object_type: str, row: int) -> dict[str, Any]:
        """Every property value (as the API would show it) and the links of one record."""
        ...

    def format_id(self, object_type: str, record_id: int) -> str:
        """The API's form of a store id (HubSpot: the number; Salesforce: 18 characters)."""
        ...

    def parse_id(self, object_type: str, text: str) -> int | None:
        """The store id of an API id, None when malformed or of another object type."""
        ...

    def timestamp(self, ms: int) -> int:
        """A modification time as the CRM stores it (Salesforce: whole seconds)."""
        ...
