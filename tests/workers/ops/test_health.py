"""``segsync health``: OK only when the store, the workers, beat, the inbox and the last
run all are; a dead worker makes it fail, naming what is wrong."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from tests.deployment import CLI, Deployment

pytestmark = pytest.mark.integration


def checks(d: Deployment, exit_code: int) -> dict[str, dict[str, Any]]:
    answer = d.segsync_json("health", exit_code=exit_code)
    assert answer["healthy"] is (exit_code == 0)
    return {c["name"]: c for c in answer["checks"]}


def test_health_follows_the_workers_beat_and_runs(deployment: Deployment) -> None:
    d, tmp_path = deployment, deployment.tmp
    d.start_sandbox(contacts=120, companies=20, deals=40)
    assert "state store at revision" in d.segsync("migrate")
    found = checks(d, exit_code=1)
    assert found["state store"]["ok"]
    assert not found["workers"]["ok"] and "none answers" in found["workers"]["detail"]
    assert not found["beat"]["ok"] and "never ticked" in found["beat"]["detail"]
    assert not found["hubspot runs"]["ok"] and found["hubspot inbox"]["ok"]

    d.segsync("schema", "apply", "--crm", "hubspot")
    worker = d.start_worker()
    beat = d.spawn("beat")
    d.wait_ready(worker)
    d.segsync("sync", "--crm", "hubspot", "--full")
    d.wait_for("beat to tick", lambda: beat.poll() is None and healthy(d), 60, interval=1)
    text = d.segsync("health")
    assert "OK   workers: 1 answering" in text and "OK   beat: last ticked" in text
    assert "OK   hubspot runs: last run #1 (sync-full) succeeded" in text
    # Beat's schedule is kept in the data directory, not the working directory.
    assert list((tmp_path / "data").glob("celerybeat-schedule*"))
    assert not list(tmp_path.glob("celerybeat-schedule*"))

    worker.kill()
    found = checks(d, exit_code=1)
    assert not found["workers"]["ok"] and found["beat"]["ok"]


def healthy(d: Deployment) -> bool:
    """Whether `segsync health` exits 0 (whatever it prints)."""
    done = subprocess.run(
        [sys.executable, "-c", CLI, "health"],
        env=d.env(),
        cwd=d.tmp,
        capture_output=True,
        timeout=60,
    )
    return done.returncode == 0
