"""Shared by the benchmarks: a sandbox CRM in its own process, and peak-RSS readings."""

from __future__ import annotations

import resource
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests

from connectors.sandbox import SandboxConfig, SandboxServer

TOKEN = "sandbox-token"


def hubspot_sandbox(contacts: int, **options: Any) -> SandboxServer:
    """An in-process HubSpot sandbox of ``contacts`` (companies 1/7, deals 2/5; seed 7)."""
    config = SandboxConfig(
        dialect="hubspot",
        seed=7,
        contacts=contacts,
        companies=contacts // 7,
        deals=contacts * 2 // 5,
        tokens=(TOKEN,),
        port=0,
        **options,
    )
    return SandboxServer(config).start()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def sandbox_process(*args: str, ready_timeout: float = 300.0) -> Iterator[str]:
    """Run `segsync sandbox serve` in a child process; yield its base URL."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "workers.cli.main",
        "sandbox",
        "serve",
        "--port",
        str(port),
        *args,
    ]
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + ready_timeout
        while True:
            if child.poll() is not None:
                raise RuntimeError(
                    f"sandbox exited: {child.stderr.read().decode() if child.stderr else ''}"
                )
            try:
                requests.get(f"{url}/_sandbox/health", timeout=1).raise_for_status()
                break
            except requests.RequestException:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield url
    finally:
        child.terminate()
        child.wait(timeout=30)


def admin(url: str, method: str, path: str, **kwargs: Any) -> Any:
    response = requests.request(method, f"{url}/_sandbox/{path}", timeout=60, **kwargs)
    response.raise_for_status()
    return response.json()


def peak_rss_mb() -> float:
    """This process's peak resident set size in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
