"""``segsync demo``: the product end to end on the embedded default.

The sandbox CRM runs in-process, state goes to the configured store (a SQLite file by
default) and every step runs in this process — no HubSpot account, Redis or Celery.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import SecretStr

from connectors.base import OBJECT_TYPES, ObjectType
from connectors.hubspot import HubSpotConfig, HubSpotConnector
from connectors.sandbox import SandboxConfig, SandboxServer
from workers.fieldmap import load_field_map
from workers.pull import pull
from workers.settings import Settings
from workers.state import StateStore

SANDBOX_TOKEN = "sandbox-token"


def run_demo(
    settings: Settings,
    *,
    seed: int,
    contacts: int,
    companies: int,
    deals: int,
    mode: Literal["b2b", "b2c"],
) -> dict[str, Any]:
    """Seed a sandbox, pull every object type through the real connector, report counts."""
    started = time.monotonic()
    sandbox_config = SandboxConfig(
        dialect="hubspot",
        seed=seed,
        contacts=contacts,
        companies=companies,
        deals=deals,
        mode=mode,
        tokens=(SANDBOX_TOKEN,),
        port=0,
    )
    server = SandboxServer(sandbox_config)
    server.start()
    sandbox_url = server.url
    try:
        connector = HubSpotConnector(
            HubSpotConfig(
                base_url=server.url,
                token=SecretStr(SANDBOX_TOKEN),
                requests_per_10s=sandbox_config.rate_limit,
                search_lag_seconds=0.0,
            )
        )
        field_map = load_field_map("hubspot")
        properties = {t: field_map.native_properties(t) for t in field_map.object_types()}
        with StateStore(settings.database_url) as store:
            store.migrate()
            summary = pull(connector, store, properties, full=True)
            run = store.list_runs(limit=1)[0]
            database = repr(store)
    finally:
        server.stop()
    seeded: dict[ObjectType, int] = {"contact": contacts, "company": companies, "deal": deals}
    objects = {
        t: {"seeded": seeded[t], "pulled": summary.counts.get(t, 0)}
        for t in OBJECT_TYPES
        if t in properties
    }
    return {
        "sandbox_url": sandbox_url,
        "database": database,
        "run_id": run.id,
        "objects": objects,
        "api_calls": connector.usage().calls_made,
        "seconds": time.monotonic() - started,
        "complete": all(row["seeded"] == row["pulled"] for row in objects.values()),
    }
