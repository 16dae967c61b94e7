"""The CLI's surface: --version, help on every option, servers that say where they listen."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import click
import pytest
import requests
from click.testing import CliRunner

from tests.paths import ROOT
from workers.cli.main import main


def commands(command: click.Command, path: str = "segsync") -> Iterator[tuple[str, click.Command]]:
    yield path, command
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from commands(sub, f"{path} {name}")


def test_version() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert result.stdout == f"segsync {version('segsync')}\n"


def test_every_option_and_argument_of_every_command_is_explained() -> None:
    missing = []
    for path, command in commands(main):
        if not command.help:
            missing.append(f"{path}: no help text")
        for param in command.params:
            if isinstance(param, click.Option) and not (param.help or "").strip():
                missing.append(f"{path} {param.opts[0]}: no help")
            if isinstance(param, click.Argument):
                # Arguments have no help of their own: the command's text must name them.
                metavar = param.metavar or (param.name or "").upper()
                if metavar not in (command.help or ""):
                    missing.append(f"{path} {metavar}: not explained in the command's help")
    assert missing == []
    assert len(list(commands(main))) > 20  # the walk reached the subcommands


def test_the_readme_documents_every_command_and_option() -> None:
    """A newcomer finds every command and flag in the README's command table."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = {
        m.group(1): m.group(0)
        for m in re.finditer(r"^\| `(segsync [a-z ]+?)(?: [A-Z]+)?` \|.*$", readme, re.M)
    }
    missing = []
    for path, command in commands(main):
        if isinstance(command, click.Group):
            continue
        row = rows.get(path)
        if row is None:
            missing.append(f"{path}: no row in the README's command table")
            continue
        for param in command.params:
            named = isinstance(param, click.Option) and any(f"`{o}" in row for o in param.opts)
            if isinstance(param, click.Option) and not named:
                missing.append(f"{path} {param.opts[0]}: not in its README row")
    assert missing == []


@pytest.fixture()
def env(tmp_path: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SEGSYNC_")}
    clean["SEGSYNC_DATABASE_URL"] = f"sqlite:///{tmp_path}/state.db"
    return clean


def test_webhooks_serve_prints_where_it_listens(env: dict[str, str], tmp_path: Path) -> None:
    segsync = Path(sys.executable).parent / "segsync"
    process = subprocess.Popen(
        [str(segsync), "webhooks", "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        found = re.match(r"webhook receiver listening on (http://127\.0\.0\.1:\d+): ", line)
        assert found, line
        url = found.group(1)
        assert line.endswith(
            f"POST {url}/webhooks/hubspot, POST {url}/webhooks/salesforce, "
            f"GET {url}/healthz; Ctrl-C stops"
        )
        assert requests.get(f"{url}/healthz", timeout=10).status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.mark.parametrize(
    "command", [["webhooks", "serve"], ["sandbox", "serve", "--contacts", "5"]]
)
def test_a_port_in_use_is_one_line(
    command: list[str], env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEGSYNC_DATABASE_URL", env["SEGSYNC_DATABASE_URL"])
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        args = (
            [*command, "--companies", "2", "--deals", "2"] if command[0] == "sandbox" else command
        )
        result = CliRunner().invoke(main, [*args, "--port", str(port)])
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    lines = result.stderr.strip().splitlines()
    assert lines == [
        f"Error: cannot listen on 127.0.0.1:{port}: Address already in use; choose another "
        "--host or --port"
    ]
