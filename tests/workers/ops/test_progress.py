"""Progress on a terminal: reads, writes and schema changes with counts and rates; not a
byte more when stderr is not a terminal."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deployment import CLI, ROOT
from tests.harness import TOKEN, Harness, hubspot_harness

pytestmark = pytest.mark.integration
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@pytest.fixture
def hubspot() -> Iterator[Harness]:
    harness = hubspot_harness(contacts=300, companies=40, deals=60)
    yield harness
    harness.server.stop()


def run(harness: Harness, tmp_path: Path, *args: str, tty: bool) -> tuple[str, str]:
    """The command's stdout and its stderr (a pseudo-terminal's output when ``tty``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEGSYNC_")}
    env.update(
        PYTHONPATH=str(ROOT),
        SEGSYNC_HUBSPOT_BASE_URL=harness.server.url,
        SEGSYNC_HUBSPOT_TOKEN=TOKEN,
        SEGSYNC_HUBSPOT_SEARCH_LAG_SECONDS="0",
        SEGSYNC_DATABASE_URL=f"sqlite:///{tmp_path / 'state.db'}",
    )
    command = [sys.executable, "-c", CLI, *args]
    if not tty:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
        return done.stdout, done.stderr
    main, replica = pty.openpty()
    # A terminal 120 columns wide (a new pseudo-terminal has none).
    fcntl.ioctl(replica, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=replica)
    os.close(replica)
    # stdout is drained meanwhile: a summary bigger than the pipe's buffer would block
    # the command before it closes the terminal.
    out: list[bytes] = []
    reader = threading.Thread(target=lambda: out.append(proc.stdout.read()))  # type: ignore[union-attr]
    reader.start()
    chunks = []
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # the other end closed: the command is done
            break
        if not chunk:
            break
        chunks.append(chunk)
    proc.wait(timeout=180)
    reader.join(timeout=30)
    os.close(main)
    return b"".join(out).decode(), ANSI.sub("", b"".join(chunks).decode(errors="replace"))


def test_a_terminal_sees_progress_and_a_pipe_sees_nothing_extra(
    hubspot: Harness, tmp_path: Path
) -> None:
    out, err = run(hubspot, tmp_path, "schema", "apply", tty=True)
    assert re.search(r"schema: 100%.*\b(\d+)/\1 \[", err), err[-500:]
    out, err = run(hubspot, tmp_path, "sync", "--crm", "hubspot", "--full", tty=True)
    assert "read: 300 contacts" in out  # the summary still goes to stdout
    final = {
        label: line
        for line in err.split("\r")
        for label in ("read contacts", "write")
        if line.startswith(label + ":")
    }
    assert re.search(r"read contacts: .*\b300 records \[", final["read contacts"]), err[-800:]
    assert re.search(r"records/s\]", final["read contacts"])  # the rate
    assert re.search(r"write: 100%.*\b(\d+)/\1 \[", final["write"]), err[-800:]

    hubspot.admin("POST", "mutate", json={"count": 30, "object_type": "contacts"})
    out, err = run(hubspot, tmp_path, "sync", "--crm", "hubspot", "--full", tty=False)
    assert err == "" and "read: 300 contacts" in out
    out, err = run(hubspot, tmp_path, "sync", "--crm", "hubspot", "--full", "--json", tty=True)
    assert err.strip() == ""  # --json: the summary only
