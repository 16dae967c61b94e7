"""Each CRM's connector over its own sandbox, ready for a test: the connector contract's
harnesses, shared by every test that needs a live (local) CRM."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
from pydantic import SecretStr

from connectors.base import Connector, ObjectType
from connectors.hubspot.connector import HubSpotConnector
from connectors.hubspot.options import HubSpotConfig
from connectors.retrying import RetryPolicy
from connectors.sandbox import SandboxConfig, SandboxServer

TOKEN = "sandbox-token"
FAST = RetryPolicy(max_attempts=6, max_elapsed=60, initial_wait=0.01, max_wait=0.2)


@dataclass
class Harness:
    """One CRM's sandbox plus a way to build its connector."""

    crm: str
    server: SandboxServer
    build: Callable[..., Connector]
    admin_names: dict[ObjectType, str]

    def admin(self, method: str, path: str, **kwargs: Any) -> Any:
        response = requests.request(
            method, f"{self.server.url}/_sandbox/{path}", timeout=30, **kwargs
        )
        response.raise_for_status()
        return response.json()

    def record(self, object_type: ObjectType, record_id: str) -> dict[str, Any]:
        return dict(self.admin("GET", f"records/{self.admin_names[object_type]}/{record_id}"))


def hubspot_harness(**sandbox: Any) -> Harness:
    server = SandboxServer(
        SandboxConfig(
            **{
                "dialect": "hubspot",
                "seed": 3,
                "contacts": 600,
                "companies": 80,
                "deals": 150,
                "rate_limit": 10_000,
                "search_rate_per_second": 1_000,
                "tokens": (TOKEN,),
                "port": 0,
                **sandbox,
            }
        )
    ).start()

    def build(**overrides: Any) -> Connector:
        config = HubSpotConfig(
            **{
                "base_url": server.url,
                "token": SecretStr(TOKEN),
                "requests_per_10s": 10_000,
                "search_requests_per_second": 1_000,
                "search_lag_seconds": 0.0,
                "retry": FAST,
                **overrides,
            }
        )
        return HubSpotConnector(config)

    names: dict[ObjectType, str] = {"contact": "contacts", "company": "companies", "deal": "deals"}
    return Harness("hubspot", server, build, names)


def salesforce_harness(**sandbox: Any) -> Harness:
    from connectors.salesforce.connector import SalesforceConfig, SalesforceConnector
    from connectors.salesforce.session import SalesforceAuth

    server = SandboxServer(
        SandboxConfig(
            **{
                "dialect": "salesforce",
                "seed": 3,
                "contacts": 600,
                "companies": 80,
                "deals": 150,
                "tokens": (TOKEN,),
                "port": 0,
                **sandbox,
            }
        )
    ).start()

    def build(**overrides: Any) -> Connector:
        config = SalesforceConfig(
            **{
                "auth": SalesforceAuth(instance_url=server.url, session_id=SecretStr(TOKEN)),
                "lag_seconds": 0.0,
                "bulk_poll_interval": 0.05,
                "retry": FAST,
                **overrides,
            }
        )
        return SalesforceConnector(config)

    names: dict[ObjectType, str] = {
        "contact": "contacts",
        "lead": "leads",
        "company": "accounts",
        "deal": "opportunities",
    }
    return Harness("salesforce", server, build, names)


HARNESSES = {"hubspot": hubspot_harness, "salesforce": salesforce_harness}
