"""What the HubSpot sandbox's tests share: a fresh server, and calls through the official client."""

from __future__ import annotations

from typing import Any

import orjson
import requests
from hubspot import HubSpot
from hubspot.crm.contacts import (
    BatchInputSimplePublicObjectBatchInput,
    Filter,
    FilterGroup,
    PublicObjectSearchRequest,
    SimplePublicObjectBatchInput,
)

from connectors.sandbox import SandboxConfig, SandboxServer

TOKEN = "sandbox-token"


AUTH = {"Authorization": f"Bearer {TOKEN}"}


def new_server(**overrides: Any) -> SandboxServer:
    base: dict[str, Any] = {
        "contacts": 300,
        "companies": 60,
        "deals": 90,
        "rate_limit": 100_000,
        "search_rate_per_second": 10_000,
    }
    base.update(overrides)
    return SandboxServer(SandboxConfig(**base)).start()


def admin_call(srv: SandboxServer, path: str, body: Any = None) -> Any:
    if body is None:
        return requests.get(f"{srv.url}/_sandbox/{path}", timeout=10).json()
    return requests.post(f"{srv.url}/_sandbox/{path}", json=body, timeout=10).json()


def batch_update(client: HubSpot, *items: tuple[str, dict[str, str]]) -> Any:
    inputs = [SimplePublicObjectBatchInput(id=i, properties=p) for i, p in items]
    return client.crm.contacts.batch_api.update(
        batch_input_simple_public_object_batch_input=BatchInputSimplePublicObjectBatchInput(
            inputs=inputs
        )
    )


def search_call(client: HubSpot, filters: list[dict[str, Any]], **kw: Any) -> Any:
    groups = [FilterGroup(filters=[Filter(**f) for f in filters])] if filters else None
    return client.crm.contacts.search_api.do_search(
        public_object_search_request=PublicObjectSearchRequest(filter_groups=groups, **kw)
    )


def error_body(exc: Exception) -> dict[str, Any]:
    body: dict[str, Any] = orjson.loads(getattr(exc, "body", b"{}"))
    return body
