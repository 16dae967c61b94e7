"""``segsync demo``: the whole product in one command, on the embedded default.

A sandbox CRM runs in-process; segsync creates its fields there, runs a full sync
(pull, segment, write back), mutates some records the way users would, runs an
incremental sync that rewrites only what those changes reach, and a last sync that
finds nothing to write. The demo's state store is its own file, recreated each time:
the sandbox starts empty of segsync's fields, so an old state would wrongly say they
were written already.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Literal

import requests
from pydantic import SecretStr

from connectors.base import OBJECT_TYPES
from connectors.hubspot.connector import HubSpotConnector
from connectors.hubspot.options import HubSpotConfig
from connectors.sandbox import SandboxConfig, SandboxServer
from workers.settings import Settings
from workers.sync.crm_schema import apply_schema
from workers.sync.plan import load_playbook
from workers.sync.runner import SyncReport, run_sync

SANDBOX_TOKEN = "sandbox-token"
DEMO_STATE = Path(".segsync") / "demo-state.db"
PLAYBOOKS = {"b2b": "b2b_saas", "b2c": "b2c_retail"}


def run_demo(
    settings: Settings,
    *,
    seed: int,
    contacts: int,
    companies: int,
    deals: int,
    mode: Literal["b2b", "b2c"],
    mutate: int = 100,
    state_path: Path | None = None,
) -> dict[str, Any]:
    """Seed a sandbox, then schema apply, full sync, mutate, incremental sync, re-sync."""
    started = time.monotonic()
    state_path = state_path or demo_state_path(settings.database_url)
    state_path.parent.mkdir(parents=True, exist_ok=True)
    state_path.unlink(missing_ok=True)
    demo_settings = settings.model_copy(
        update={"database_url": f"sqlite:///{state_path}", "redis_url": None}
    )
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
    book = load_playbook(PLAYBOOKS[mode])
    try:
        connector = HubSpotConnector(
            HubSpotConfig(
                base_url=server.url,
                token=SecretStr(SANDBOX_TOKEN),
                requests_per_10s=sandbox_config.rate_limit,
                search_lag_seconds=0.0,
            )
        )
        changes = apply_schema(connector, book, ["contact", "company"])
        full = run_sync(demo_settings, "hubspot", book, connector=connector, full=True)
        mutated = requests.post(
            f"{server.url}/_sandbox/mutate",
            json={"count": mutate, "object_type": "contact"},
            timeout=30,
        ).json()
        incremental = run_sync(demo_settings, "hubspot", book, connector=connector)
        again = run_sync(demo_settings, "hubspot", book, connector=connector)
        sandbox_url = server.url
        stats = requests.get(f"{server.url}/_sandbox/stats", timeout=30).json()
    finally:
        server.stop()
    seeded = {"contact": contacts, "company": companies, "deal": deals}
    objects = {
        t: {"seeded": seeded[t], "pulled": full.records_pulled.get(t, 0)}
        for t in OBJECT_TYPES
        if t in full.records_pulled
    }
    return {
        "sandbox_url": sandbox_url,
        "database": demo_settings.database_url,
        "playbook": book.name or PLAYBOOKS[mode],
        "schema_changes": sum(c.action != "unchanged" for c in changes),
        "objects": objects,
        "mutated": int(mutated["count"]),
        "runs": {
            "full": _run(full),
            "incremental": _run(incremental),
            "again": _run(again),
        },
        "segments": full.segments,
        "fields_changed": full.fields_changed,
        "sandbox_records_written": stats.get("records_written"),
        "seconds": time.monotonic() - started,
        "complete": all(row["seeded"] == row["pulled"] for row in objects.values()),
    }


def demo_state_path(database_url: str) -> Path:
    """Next to the configured SQLite state file, else in ``.segsync/``."""
    prefix = "sqlite:///"
    if database_url.startswith(prefix) and database_url != prefix:
        return Path(database_url.removeprefix(prefix)).parent / DEMO_STATE.name
    return DEMO_STATE


def _run(report: SyncReport) -> dict[str, Any]:
    return {
        "mode": report.mode,
        "pulled": sum(report.records_pulled.values()),
        # None on a full run: everything is read, nothing is "changed since".
        "changed": _total(report.records_changed),
        "changed_by_segsync": _total(report.records_changed_by_segsync),
        "compared": sum(report.records_compared.values()),
        "records_written": report.records_written,
        "fields_written": report.fields_written,
        "fields_unchanged": report.fields_unchanged,
        "rejected": report.rejected,
        "api_calls": report.api_calls,
        "seconds": report.seconds,
        "transitions": report.transitions,
    }


def _total(counts: dict[str, int] | None) -> int | None:
    return None if counts is None else sum(counts.values())
