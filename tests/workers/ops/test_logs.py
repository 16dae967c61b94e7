"""``SEGSYNC_LOG_FORMAT=json``: every line of every stream is a JSON object; tracebacks
stay whole; a canary secret appears nowhere."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.deployment import CLI, ROOT, Deployment
from tests.harness import Harness, hubspot_harness

pytestmark = pytest.mark.integration
CANARY_TOKEN = "canary-token-9f83b1d2e6"
CANARIES = {
    "SEGSYNC_HUBSPOT_APP_SECRET": "canary-app-secret-51c0aa",
    "SEGSYNC_ALERT_SMTP_PASSWORD": "canary-smtp-password-77e1",
    "SEGSYNC_SALESFORCE_PASSWORD": "canary-sf-password-3b2d",
}


def json_lines(stream: str, where: str) -> list[dict[str, Any]]:
    """Every line of ``stream`` as a JSON object (a line that is not one fails the test)."""
    lines = []
    for number, line in enumerate(stream.splitlines(), 1):
        try:
            lines.append(json.loads(line))
        except json.JSONDecodeError:
            pytest.fail(f"{where} line {number} is not JSON: {line[:200]!r}")
        assert isinstance(lines[-1], dict), f"{where} line {number}: {line[:200]!r}"
    return lines


def no_canary(*streams: str) -> None:
    for secret in (CANARY_TOKEN, *CANARIES.values()):
        assert all(secret not in s for s in streams), f"{secret} leaked"


@pytest.fixture
def hubspot() -> Iterator[Harness]:
    harness = hubspot_harness(contacts=200, companies=30, deals=60, tokens=(CANARY_TOKEN,))
    yield harness
    harness.server.stop()


def segsync(harness: Harness, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEGSYNC_")}
    env.update(
        {
            "PYTHONPATH": str(ROOT),
            "SEGSYNC_LOG_FORMAT": "json",
            "SEGSYNC_HUBSPOT_BASE_URL": harness.server.url,
            "SEGSYNC_HUBSPOT_TOKEN": CANARY_TOKEN,
            "SEGSYNC_HUBSPOT_SEARCH_LAG_SECONDS": "0",
            "SEGSYNC_DATABASE_URL": f"sqlite:///{tmp_path / 'state.db'}",
            **CANARIES,
        }
    )
    return subprocess.run(
        [sys.executable, "-c", CLI, *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_a_sync_and_a_failing_one_log_json_lines_with_whole_tracebacks(
    hubspot: Harness, tmp_path: Path
) -> None:
    assert segsync(hubspot, tmp_path, "schema", "apply").returncode == 0
    done = segsync(hubspot, tmp_path, "-vv", "sync", "--crm", "hubspot", "--full")
    assert done.returncode == 0, done.stderr[-2000:]
    out, err = json_lines(done.stdout, "stdout"), json_lines(done.stderr, "stderr")
    assert len(out) == 1 and out[0]["mode"] == "full" and out[0]["records_written"] > 0
    assert len(err) > 5
    ended = [line for line in err if "counts" in line]
    assert len(ended) == 1
    assert ended[0]["run_id"] == out[0]["run_id"] and ended[0]["crm"] == "hubspot"
    assert ended[0]["counts"]["written"] == out[0]["records_written"]
    assert all({"time", "level", "logger", "message"} <= line.keys() for line in err)

    hubspot.admin("POST", "tokens/revoke", json={"token": CANARY_TOKEN})
    failed = segsync(hubspot, tmp_path, "-v", "sync", "--crm", "hubspot", "--full")
    assert failed.returncode != 0
    assert failed.stdout == ""
    lines = json_lines(failed.stderr, "stderr of the failed sync")
    error = lines[-1]
    assert error["level"] == "ERROR" and error["exit_code"] == failed.returncode
    assert "401" in error["message"] or "credentials" in error["message"].lower()
    no_canary(done.stdout, done.stderr, failed.stdout, failed.stderr)


def test_a_worker_logs_json_lines_with_its_tasks_and_a_whole_traceback(
    deployment: Deployment,
) -> None:
    d, tmp_path = deployment, deployment.tmp
    d.start_sandbox(contacts=150, companies=20, deals=40, tokens=(CANARY_TOKEN,))
    d.settings.update({"SEGSYNC_LOG_FORMAT": "json", "SEGSYNC_HUBSPOT_TOKEN": CANARY_TOKEN})
    d.settings.update(CANARIES)
    d.segsync("schema", "apply", "--crm", "hubspot")
    worker = d.start_worker()
    d.wait_ready(worker)
    out = d.segsync("sync", "--crm", "hubspot", "--full")
    assert json_lines(out, "the sync's stdout")[0]["records_written"] > 0
    # A task that fails: the token is revoked before the next run's pull.
    d.admin("POST", "tokens/revoke", json={"token": CANARY_TOKEN})
    failed = subprocess.run(
        [sys.executable, "-c", CLI, "sync", "--crm", "hubspot", "--full"],
        env=d.env(),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    (error,) = json_lines(failed.stderr, "the failed sync's stderr")
    assert failed.returncode == 2 and error["exit_code"] == 2  # the token: configuration
    assert "401" in error["message"] and failed.stdout == ""
    d.wait_for("the failure logged", lambda: "Traceback" in worker.log(), 30)
    log = worker.log()
    lines = json_lines(log, "the worker's log")
    tasks = {line.get("task") for line in lines}
    assert {"segsync.sync", "segsync.segment", "segsync.write"} <= tasks
    failure = next(line for line in lines if "traceback" in line)
    assert failure["traceback"].startswith("Traceback (most recent call last):")
    assert failure["traceback"].count("\n") > 3  # whole, in one field
    assert failure.get("crm") == "hubspot"
    no_canary(log, out)
