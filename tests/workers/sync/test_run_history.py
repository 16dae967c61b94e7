"""The run history: errors, counts, and per model the segment sizes and moves of every run."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.harness import Harness, hubspot_harness
from workers.cli.main import main
from workers.settings import Settings
from workers.sync.plan import load_playbook
from workers.sync.runner import run_sync

pytestmark = pytest.mark.integration


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Harness, CliRunner]]:
    harness = hubspot_harness(contacts=300, companies=40, deals=100)
    monkeypatch.setenv("SEGSYNC_HUBSPOT_BASE_URL", harness.server.url)
    monkeypatch.setenv("SEGSYNC_HUBSPOT_TOKEN", "sandbox-token")
    monkeypatch.setenv("SEGSYNC_HUBSPOT_SEARCH_LAG_SECONDS", "0")
    monkeypatch.setenv("SEGSYNC_DATABASE_URL", f"sqlite:///{tmp_path / 'state.db'}")
    monkeypatch.delenv("SEGSYNC_REDIS_URL", raising=False)
    runner = CliRunner()
    assert runner.invoke(main, ["schema", "apply", "--crm", "hubspot"]).exit_code == 0
    yield harness, runner
    harness.server.stop()


def held_by_crm(harness: Harness, object_type: str, field: str) -> dict[str, int]:
    """How many live records hold each value of ``field`` in the sandbox."""
    table = harness.server.state.store.table(object_type)
    counts = Counter(table.get(row, field) for row in range(len(table)) if not table.archived[row])
    return {str(v): n for v, n in counts.items() if v not in (None, "")}


def listed(runner: CliRunner, *args: str) -> Any:
    result = runner.invoke(main, ["runs", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def sizes_held_by_crm(harness: Harness, sizes: dict[str, Any]) -> None:
    for object_type, models in sizes.items():
        for model, held in models.items():
            assert held == held_by_crm(harness, object_type, f"segsync_{model}"), model


def test_whole_runs_count_sizes_and_every_run_records_its_moves(
    cli: tuple[Harness, CliRunner],
) -> None:
    harness, runner = cli
    assert runner.invoke(main, ["sync", "--crm", "hubspot", "--full"]).exit_code == 0
    assert runner.invoke(main, ["sync", "--crm", "hubspot"]).exit_code == 0  # the echoes
    harness.admin("POST", "mutate", json={"count": 60, "object_type": "contacts"})
    harness.admin("POST", "mutate", json={"count": 10, "object_type": "companies"})
    assert runner.invoke(main, ["sync", "--crm", "hubspot"]).exit_code == 0
    assert runner.invoke(main, ["sync", "--crm", "hubspot", "--from-mirror"]).exit_code == 0
    nightly, latest, _echoes, full = listed(runner, "--crm", "hubspot", "--limit", "4")
    assert [full["kind"], latest["kind"], nightly["kind"]] == [
        "sync-full",
        "sync-incremental",
        "sync-mirror",
    ]
    assert full["counts"]["rejected"] == 0
    # Every segment of every model, as the CRM holds them after each whole run.
    sizes = full["counts"]["segment_sizes"]
    assert set(sizes["contact"]) >= {"demographic", "lifecycle", "rfm", "value_tier"}
    assert set(sizes["company"]) >= {"firmographic", "lifecycle"}
    assert sum(sizes["contact"]["demographic"].values()) == 300
    sizes_held_by_crm(harness, nightly["counts"]["segment_sizes"])
    # The incremental run segmented only what changed: its moves, from -> to, no sizes.
    assert latest["counts"]["segment_sizes"] == {}
    moves = latest["counts"]["segment_moves"]
    assert moves["contact"], "60 changed contacts moved no segment"
    for models in moves.values():
        for pairs in models.values():
            assert all(" -> " in pair and n > 0 for pair, n in pairs.items())
    before, after = full["counts"]["segment_sizes"], nightly["counts"]["segment_sizes"]
    assert before != after  # the changes moved records between segments

    shown = runner.invoke(main, ["runs", "show", str(latest["id"])]).output
    assert f"run #{latest['id']}: HubSpot sync-incremental, succeeded" in shown
    assert "contacts · demographic" in shown and "moved:" in shown
    assert "segment sizes are counted by full and nightly runs" in shown
    shown = runner.invoke(main, ["runs", "show", str(nightly["id"])]).output
    top, n = max(after["contact"]["demographic"].items(), key=lambda kv: kv[1])
    assert any(line.split() == [top, f"{n:,}"] for line in shown.splitlines()), shown


def test_a_failed_run_keeps_its_error_in_the_history(
    cli: tuple[Harness, CliRunner], tmp_path: Path
) -> None:
    harness, runner = cli
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'state.db'}", redis_url=None)
    connector = harness.build()
    # The token is revoked between two scheduled runs: the run itself meets the 401.
    harness.admin("POST", "tokens/revoke", json={"token": "sandbox-token"})
    with pytest.raises(Exception, match=r"401|[Uu]nauthori"):
        run_sync(settings, "hubspot", load_playbook("b2b_saas"), connector=connector, full=True)
    (run,) = listed(runner)
    assert run["status"] == "failed" and run["kind"] == "sync-full"
    assert "401" in run["error"] or "nauthori" in run["error"]
    assert "sandbox-token" not in json.dumps(run)
    text = runner.invoke(main, ["runs", "show", str(run["id"])]).output
    assert f"error: {run['error']}" in text
    assert "no segments recorded" in text


def test_runs_show_names_a_run_that_does_not_exist(cli: tuple[Harness, CliRunner]) -> None:
    _harness, runner = cli
    result = runner.invoke(main, ["runs", "show", "404"])
    assert result.exit_code != 0 and "no run #404" in result.output
    assert listed(runner, "--crm", "salesforce") == []
