"""A sync killed mid-write loses nothing and re-sends nothing that landed (issue 12, #11).

A real `segsync sync` process writes to the sandbox CRM; the sandbox holds one batch
update (a scripted ``slow`` fault) and the process is killed with SIGKILL while that batch
is in flight, so the batch lands in the CRM with nobody left to record it. The re-run must
leave every record that had landed exactly as it was — ``_entered_at``, reasons and
``updated_at`` — and write only the records never sent.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa

from connectors.base import FieldWrite, WriteResult, WriteStatus
from connectors.sandbox import FaultConfig, SandboxConfig, SandboxServer
from tests.paths import ROOT
from workers.state import StateStore
from workers.sync.writeback import apply_writes

pytestmark = pytest.mark.integration

TOKEN = "sandbox-token"
CLI = "import sys; from workers.cli.main import main; sys.exit(main())"
HELD_SECONDS = 1.0  # how long the sandbox holds the in-flight batch
SELF_REFERENTIAL = re.compile(r"crm_stage=(\w+) == \1\b")


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    config = SandboxConfig(
        dialect="hubspot",
        seed=11,
        contacts=500,
        companies=50,
        deals=80,
        rate_limit=10_000,
        search_rate_per_second=1_000,
        tokens=(TOKEN,),
        port=0,
        faults=FaultConfig(slow_seconds=HELD_SECONDS),
    )
    server = SandboxServer(config).start()
    yield server
    server.stop()


def env(server: SandboxServer, database_url: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("SEGSYNC_")}
    return {
        **base,
        "PYTHONPATH": str(ROOT),
        "SEGSYNC_HUBSPOT_BASE_URL": str(server.url),
        "SEGSYNC_HUBSPOT_TOKEN": TOKEN,
        "SEGSYNC_HUBSPOT_SEARCH_LAG_SECONDS": "0",
        "SEGSYNC_HUBSPOT_REQUESTS_PER_10S": "10000",
        "SEGSYNC_DATABASE_URL": database_url,
    }


def segsync(environ: dict[str, str], cwd: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", CLI, *args],
        env=environ,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, f"segsync {' '.join(args)}: {done.stdout}\n{done.stderr}"
    return done.stdout


def admin(server: SandboxServer, method: str, path: str, **kwargs: Any) -> Any:
    response = requests.request(method, f"{server.url}/_sandbox/{path}", timeout=30, **kwargs)
    response.raise_for_status()
    return response.json()


def wait_for(what: str, check: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


def crm_segsync_values(server: SandboxServer) -> dict[tuple[str, str], dict[str, Any]]:
    """Per record: its segsync_* properties as the API shows them, and how often each
    changed (read inside the sandbox: the admin endpoint would cost a request a record)."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    store = server.state.store
    with store.lock:
        for object_type in ("contact", "company"):
            table = store.table(object_type)
            for row, record_id in enumerate(table.ids):
                if table.archived[row]:
                    continue
                view = server.dialect.record_view(object_type, row)
                props = {k: v for k, v in view["properties"].items() if k.startswith("segsync_")}
                changes = table.changes.get(row, {})
                out[(object_type, str(record_id))] = {
                    "values": props,
                    "changes": {k: n for k, n in changes.items() if k.startswith("segsync_")},
                }
    return out


def in_flight_rows(database_url: str) -> int:
    with StateStore(database_url) as store, store.engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM writes_in_flight")).scalar_one())


def test_kill_9_mid_write_then_rerun_keeps_every_landed_value_and_entry_time(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    database_url = f"sqlite:///{tmp_path}/state.db"
    environ = env(sandbox, database_url)
    segsync(environ, tmp_path, "schema", "apply", "--crm", "hubspot")
    # The fourth batch update is held in the sandbox: three batches confirmed, one in flight.
    admin(
        sandbox,
        "POST",
        "faults/script",
        json={"endpoint": "objects.batch_update", "faults": ["ok", "ok", "ok", "slow"]},
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", CLI, "sync", "--crm", "hubspot", "--full"],
        env=environ,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for(
            "a batch update held in the sandbox",
            lambda: admin(sandbox, "GET", "stats")["faults"].get("slow", 0) == 1,
            120,
        )
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    time.sleep(HELD_SECONDS + 0.5)  # the held batch lands, its writer gone
    after_crash = crm_segsync_values(sandbox)
    landed = {k for k, v in after_crash.items() if v["values"]}
    assert 300 <= len(landed) < len(after_crash), len(landed)
    # Everything confirmed before the kill is recorded; only the held batch is not.
    unrecorded = in_flight_rows(database_url)
    assert 0 < unrecorded <= 100

    report = json.loads(segsync(environ, tmp_path, "sync", "--crm", "hubspot", "--full", "--json"))
    final = crm_segsync_values(sandbox)

    # Nothing that landed was sent again: same values (entry times, reasons, updated_at) ...
    moved = [k for k in landed if final[k]["values"] != after_crash[k]["values"]]
    assert not moved, [(k, after_crash[k]["values"], final[k]["values"]) for k in moved[:2]]
    # ... and every segsync property of every record was set exactly once over both runs.
    twice = {
        k: v["changes"] for k, v in final.items() if any(n != 1 for n in v["changes"].values())
    }
    assert not twice, list(twice.items())[:2]
    # The re-run wrote exactly the records never sent, and adopted the in-flight batch.
    assert all(final[k]["values"] for k in final)
    assert report["records_written"] == len(final) - len(landed)
    assert in_flight_rows(database_url) == 0
    reasons = [
        v for rec in final.values() for k, v in rec["values"].items() if k.endswith("_reason")
    ]
    assert not [r for r in reasons if SELF_REFERENTIAL.search(str(r))]


class _CountingConnector:
    """Accepts every write and counts the calls (no CRM needed for store-side behaviour)."""

    crm = "hubspot"
    write_batch_size = 100

    def __init__(self) -> None:
        self.calls: list[int] = []

    def write(self, writes: list[FieldWrite]) -> list[WriteResult]:
        self.calls.append(len(writes))
        return [WriteResult(w.object_type, w.record_id, WriteStatus.OK) for w in writes]


def test_each_confirmed_batch_is_recorded_before_the_next_is_sent(tmp_path: Path) -> None:
    store = StateStore(f"sqlite:///{tmp_path}/state.db")
    store.migrate()
    recorded_before: list[int] = []

    class Recording(_CountingConnector):
        def write(self, writes: list[FieldWrite]) -> list[WriteResult]:
            with store.engine.connect() as conn:
                recorded_before.append(
                    int(
                        conn.execute(
                            sa.text("SELECT count(DISTINCT record_id) FROM written_values")
                        ).scalar_one()
                    )
                )
            return super().write(writes)

    connector = Recording()
    writes = [FieldWrite("contact", str(i), {"segsync_tier": "smb"}) for i in range(250)]
    outcome = apply_writes(connector, store, writes, derived=set())  # type: ignore[arg-type]
    assert connector.calls == [100, 100, 50]
    assert recorded_before == [0, 100, 200]
    assert outcome.records_written == 250
    with store.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM writes_in_flight")).scalar_one() == 0
    store.close()
