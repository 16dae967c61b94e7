"""The console's fixture: one sandbox CRM with a history of runs, shared by a module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from tests.harness import TOKEN, Harness, hubspot_harness
from tests.workers.console.support import BOOK, HOSTILE, PASSWORD
from workers.settings import Settings
from workers.sync.crm_schema import apply_schema
from workers.sync.runner import run_sync


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Harness, Settings]]:
    """A sandbox after a full sync, two incrementals and the nightly run."""
    tmp = tmp_path_factory.mktemp("console")
    harness = hubspot_harness(contacts=300, companies=40, deals=80)
    settings = Settings(
        database_url=f"sqlite:///{tmp / 'state.db'}",
        redis_url=None,
        console_password=SecretStr(PASSWORD),
        hubspot_base_url=harness.server.url,
        hubspot_token=SecretStr(TOKEN),
        hubspot_search_lag_seconds=0,
        hubspot_requests_per_10s=10_000,
    )
    connector = harness.build()
    apply_schema(connector, BOOK, ["contact", "company"])
    run_sync(settings, "hubspot", BOOK, connector=connector, full=True)
    table = harness.server.state.store.table("contact")
    hostile_id = str(table.ids[3])
    harness.admin("POST", "edit", json={"object_type": "contacts", "ids": [hostile_id],
                                         "properties": {"jobtitle": HOSTILE}})  # fmt: skip
    harness.admin("POST", "mutate", json={"count": 40, "object_type": "contacts"})
    run_sync(settings, "hubspot", BOOK, connector=connector)
    harness.admin("POST", "mutate", json={"count": 30, "object_type": "contacts"})
    run_sync(settings, "hubspot", BOOK, connector=connector)
    run_sync(settings, "hubspot", BOOK, connector=connector, from_mirror=True)
    settings.__dict__["hostile_id"] = hostile_id
    yield harness, settings
    harness.server.stop()
