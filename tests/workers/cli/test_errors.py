"""Every common mistake ends in one line naming what to fix and a documented exit code.

Exit codes (README "Exit codes"): 1 failure, 2 usage or configuration, 3 completed with
rows the CRM rejected. The CRM is the sandbox or a closed port, never a real one.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from connectors.sandbox import FaultConfig, SandboxConfig, SandboxServer
from workers.cli.main import main

TOKEN = "sandbox-token"
BAD_PLAYBOOK = """\
version: 1
name: tiny
models:
  firmographic:
    rules:
      - {name: enterprise, when: {field: employees, gtee: 1000}}
    fallback: smb
"""


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No SEGSYNC_* from the machine and no .env file: each test sets what it needs."""
    import os

    for name in list(os.environ):
        if name.startswith("SEGSYNC_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SEGSYNC_DATABASE_URL", f"sqlite:///{tmp_path}/state.db")


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    server = SandboxServer(
        SandboxConfig(
            seed=5,
            contacts=60,
            companies=10,
            deals=20,
            rate_limit=10_000,
            search_rate_per_second=1_000,
            tokens=(TOKEN,),
            port=0,
            faults=FaultConfig(reject=0.2),
        )
    )
    server.start()
    yield server
    server.stop()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def segsync(*args: Any) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def one_line(result: Result, exit_code: int) -> str:
    """The single error line; no traceback, no unhandled exception."""
    assert result.exit_code == exit_code, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


# ------------------------------------------------------------------ credentials


@pytest.mark.parametrize("command", [["sync"], ["schema", "apply"]])
def test_no_token_names_the_variables_to_set(command: list[str]) -> None:
    line = one_line(segsync(*command), 2)
    assert line.startswith("Error: no HubSpot credentials: set SEGSYNC_HUBSPOT_TOKEN")
    assert "SEGSYNC_HUBSPOT_REFRESH_TOKEN" in line


def test_no_salesforce_credentials_name_the_variables() -> None:
    line = one_line(segsync("sync", "--crm", "salesforce"), 2)
    assert "no complete Salesforce credentials" in line
    assert "SEGSYNC_SALESFORCE_SESSION_ID" in line


@pytest.mark.parametrize("command", [["sync"], ["schema", "apply"]])
def test_a_wrong_token_is_refused_in_one_line(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    monkeypatch.setenv("SEGSYNC_HUBSPOT_BASE_URL", sandbox.url)
    monkeypatch.setenv("SEGSYNC_HUBSPOT_TOKEN", "wrong-token-123")
    line = one_line(segsync(*command), 2)
    assert "401 INVALID_AUTHENTICATION" in line
    assert "check SEGSYNC_HUBSPOT_TOKEN" in line
    assert "wrong-token-123" not in line


# ------------------------------------------------------------------ an unreachable CRM


@pytest.mark.parametrize("command", [["sync"], ["schema", "apply"], ["deadletter", "retry"]])
def test_a_crm_that_does_not_answer_is_named_within_seconds(
    monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    monkeypatch.setenv("SEGSYNC_HUBSPOT_BASE_URL", url)
    monkeypatch.setenv("SEGSYNC_HUBSPOT_TOKEN", TOKEN)
    started = time.monotonic()
    line = one_line(segsync(*command), 1)
    elapsed = time.monotonic() - started
    assert f"no answer from {url}" in line
    assert "check SEGSYNC_HUBSPOT_BASE_URL and that HubSpot is up" in line
    # The first call gets two tries (the run's full policy took 29-57 s here).
    assert elapsed < 10, elapsed


def test_an_unreachable_salesforce_is_named_with_its_url(monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    monkeypatch.setenv("SEGSYNC_SALESFORCE_INSTANCE_URL", url)
    monkeypatch.setenv("SEGSYNC_SALESFORCE_SESSION_ID", "00Dxx!session")
    line = one_line(segsync("schema", "apply", "--crm", "salesforce"), 1)
    assert f"no answer from Salesforce at {url}" in line
    assert "SEGSYNC_SALESFORCE_INSTANCE_URL" in line
    assert "00Dxx!session" not in line


# ------------------------------------------------------------------ settings


def test_crms_not_json_names_the_variable_and_the_form(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEGSYNC_CRMS", "hubspot")
    line = one_line(segsync("sync"), 2)
    assert (
        line == "Error: SEGSYNC_CRMS: not JSON; write it as JSON, e.g. SEGSYNC_CRMS='[\"hubspot\"]'"
    )


def test_invalid_settings_exit_2_one_line_each(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEGSYNC_CRMS", '["hubspt"]')
    monkeypatch.setenv("SEGSYNC_SYNC_INTERVAL_MINUTES", "0")
    result = segsync("runs")
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert result.stderr.strip().splitlines() == [
        "Error: SEGSYNC_SYNC_INTERVAL_MINUTES: Input should be greater than or equal to 1",
        "SEGSYNC_CRMS (item 0): Input should be 'hubspot' or 'salesforce'",
    ]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("nonsense", "SEGSYNC_DATABASE_URL: not a database URL"),
        ("mysql://db/segsync", "SEGSYNC_DATABASE_URL: unsupported database 'mysql'"),
        ("postgresql+nodriver://db/segsync", "SEGSYNC_DATABASE_URL: unknown driver"),
    ],
)
def test_a_database_url_segsync_cannot_use(
    monkeypatch: pytest.MonkeyPatch, url: str, expected: str
) -> None:
    monkeypatch.setenv("SEGSYNC_DATABASE_URL", url)
    line = one_line(segsync("runs"), 2)
    assert expected in line


def test_an_unreachable_database_server_is_named_without_its_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = f"postgresql://segsync:s3cret-pw@127.0.0.1:{closed_port()}/segsync"
    monkeypatch.setenv("SEGSYNC_DATABASE_URL", url)
    line = one_line(segsync("runs"), 1)
    assert line.startswith("Error: state store unreachable (SEGSYNC_DATABASE_URL=postgresql")
    assert "segsync:***@127.0.0.1" in line and "s3cret-pw" not in line
    assert "Connection refused" in line


def test_a_sqlite_folder_that_cannot_be_created(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "taken").write_text("a file where the folder should go")
    monkeypatch.setenv("SEGSYNC_DATABASE_URL", f"sqlite:///{tmp_path}/taken/state.db")
    line = one_line(segsync("deadletter", "list"), 2)
    assert f"cannot create the folder {tmp_path}/taken for the SQLite file" in line
    assert "SEGSYNC_DATABASE_URL" in line


# ------------------------------------------------------------------ playbooks: 2 everywhere


def test_a_playbook_error_exits_2_in_sync_and_in_segment(tmp_path: Path) -> None:
    playbook = tmp_path / "bad.yaml"
    playbook.write_text(BAD_PLAYBOOK, encoding="utf-8")
    # No token is set: the playbook is read first, so its error is the one reported.
    sync = segsync("sync", "--playbook", playbook)
    contacts = tmp_path / "contacts.csv"
    contacts.write_text("id,email,employees\nc1,a@b.com,5\n", encoding="utf-8")
    segment = segsync(
        "segment", "--input", contacts, "--output", tmp_path / "o.csv", "--playbook", playbook
    )
    for result in (sync, segment):
        assert result.exit_code == 2, result.output
        assert isinstance(result.exception, SystemExit)
        assert f"{playbook}:6:53: unknown operator 'gtee'" in result.stderr
        assert "1 playbook problem; nothing written" in result.stderr
        assert "Traceback" not in result.output


# ------------------------------------------------------------------ rejected rows: 3


def test_rows_the_crm_rejected_exit_3_in_sync_and_deadletter_retry(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEGSYNC_HUBSPOT_BASE_URL", sandbox.url)
    monkeypatch.setenv("SEGSYNC_HUBSPOT_TOKEN", TOKEN)
    monkeypatch.setenv("SEGSYNC_HUBSPOT_SEARCH_LAG_SECONDS", "0")
    # 20% of rows refused: a generous allowance, so good rows land within the sync.
    monkeypatch.setenv("SEGSYNC_HUBSPOT_ISOLATE_CALLS_RATIO", "20")
    applied = segsync("schema", "apply")
    assert applied.exit_code == 0, applied.output
    sync = segsync("sync", "--full", "--json")
    assert sync.exit_code == 3, sync.output
    import json

    report = json.loads(sync.stdout)
    # Rows of refused batches are rejected once isolated, or deferred when the call
    # allowance for isolating them ran out: exit 3 covers both.
    rows, deferred = report["rejected"] + report["deferred"], report["deferred"]
    assert rows > 0 and report["records_written"] > 0
    assert rows == report["dead_lettered"]
    kept = f" ({deferred} deferred: not isolated within the call allowance)" if deferred else ""
    assert sync.stderr.strip() == (
        f"Error: {rows} rows rejected by hubspot and dead-lettered{kept}: "
        "`segsync deadletter list --crm hubspot` shows why"
    )
    retry = segsync("deadletter", "retry")
    assert retry.exit_code == 3, retry.output
    # Deferred rows that were fine land; the bad ones are still refused (or wait, being
    # permanent, for their record to change).
    assert retry.stdout.startswith(f"retried {report['dead_lettered']}: ")
    assert "still failing" in retry.stdout and not retry.stdout.endswith(" 0 still failing\n")


# ------------------------------------------------------------------ bugs and -v


def test_an_unexpected_error_is_one_line_and_v_shows_the_traceback(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def broken(*_args: Any, **_kwargs: Any) -> None:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr("workers.offline.run_offline", broken)
    args = ["segment", "--input", tmp_path / "c.csv", "--output", tmp_path / "o.csv"]
    line = one_line(segsync(*args), 1)
    assert line.startswith("Error: unexpected ZeroDivisionError: division by zero — a bug")
    assert "segsync -v" in line
    verbose = segsync("-v", *args)
    assert verbose.exit_code == 1
    assert "Traceback (most recent call last)" in verbose.stderr
    assert verbose.stderr.strip().splitlines()[-1] == line


def test_v_adds_the_traceback_to_a_known_failure() -> None:
    result = segsync("-v", "sync")
    assert result.exit_code == 2
    assert "Traceback (most recent call last)" in result.stderr
    assert "connectors.base.AuthError" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("Error: no HubSpot credentials")


def test_an_unreachable_redis_is_named_without_its_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SEGSYNC_REDIS_URL", f"redis://:r3dis-pw@127.0.0.1:{closed_port()}/0")
    line = one_line(segsync("sync"), 1)
    assert line.startswith("Error: Redis unreachable (SEGSYNC_REDIS_URL=redis://:***@127.0.0.1:")
    assert "r3dis-pw" not in line and "Connection refused" in line
