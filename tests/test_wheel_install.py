"""The built wheel, installed with the runtime lock into a fresh virtualenv, runs as an
unprivileged user in a read-only working directory with only its data directory
writable: `worker`, `beat` and `webhooks serve` start and stay up, a sync goes through
them, and `health` says all is well.

This is what the image does (deploy/Dockerfile: uid 10001, /app root's, /data the
volume); no Docker daemon is needed to check it. The runtime lock has no sandbox
libraries: the demo says what to install.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from connectors.sandbox import SandboxConfig, SandboxServer
from tests.instruments import free_port
from tests.paths import ROOT

pytestmark = pytest.mark.integration
NOBODY = 65534
TOKEN = "wheel-test-token"
STAY_UP_SECONDS = 10


@pytest.fixture(scope="module")
def installed() -> Iterator[Path]:
    """A fresh virtualenv (world-readable, outside pytest's private folders) holding the
    runtime lock and the wheel built from this checkout."""
    place = Path(tempfile.mkdtemp(prefix="segsync-wheel-", dir="/tmp"))
    place.chmod(0o755)
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    assert uv, "uv (a dev dependency) builds the test's virtualenv"
    built_here = not (ROOT / "build").exists()  # setuptools builds in the source tree
    try:
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
             "--no-build-isolation", "--wheel-dir", str(place / "dist"), str(ROOT)],
            check=True, capture_output=True, timeout=300,
        )  # fmt: skip
        (wheel,) = (place / "dist").glob("segsync-*.whl")
        venv = place / "venv"
        subprocess.run([uv, "venv", "--quiet", "--python", interpreter(), str(venv)],
                       check=True, capture_output=True, timeout=120)  # fmt: skip
        python = str(venv / "bin" / "python")
        for args in (
            ["--require-hashes", "-r", str(ROOT / "requirements" / "runtime.txt")],
            ["--no-deps", str(wheel)],
        ):
            done = subprocess.run(
                [uv, "pip", "install", "--quiet", "--python", python, *args],
                capture_output=True, text=True, timeout=600,
            )  # fmt: skip
            assert done.returncode == 0, done.stderr[-2000:]
        yield venv
    finally:
        shutil.rmtree(place, ignore_errors=True)
        if built_here:
            shutil.rmtree(ROOT / "build", ignore_errors=True)


def interpreter() -> str:
    """A Python 3.11 the unprivileged user can run: the system's (this one may live in
    root's home, which nobody else may enter)."""
    system = Path("/usr/bin/python3.11")
    return str(system) if os.geteuid() == 0 and system.exists() else sys.executable


def as_unprivileged() -> dict[str, object]:
    """Popen arguments that drop root to nobody (nothing to drop for another user)."""
    if os.geteuid() != 0:
        return {}
    return {"user": NOBODY, "group": NOBODY, "extra_groups": []}


@pytest.fixture
def folders() -> Iterator[tuple[Path, Path]]:
    """A read-only working directory and the one writable data directory."""
    base = Path(tempfile.mkdtemp(prefix="segsync-run-", dir="/tmp"))
    base.chmod(0o755)
    work, data = base / "work", base / "data"
    work.mkdir()
    data.mkdir()
    if os.geteuid() == 0:
        os.chown(data, NOBODY, NOBODY)
    data.chmod(0o700)
    work.chmod(0o555)
    try:
        yield work, data
    finally:
        work.chmod(0o755)
        shutil.rmtree(base, ignore_errors=True)


def test_the_wheel_runs_unprivileged_in_a_read_only_directory(
    installed: Path,
    folders: tuple[Path, Path],
    worker_database: str,
    worker_redis: str,
) -> None:
    work, data = folders
    sandbox = SandboxServer(
        SandboxConfig(
            dialect="hubspot", seed=5, contacts=120, companies=20, deals=40,
            tokens=(TOKEN,), port=0, rate_limit=10_000, search_rate_per_second=1_000,
        )
    ).start()  # fmt: skip
    receiver_port, metrics_port = free_port(), free_port()
    env = {
        "PATH": f"{installed / 'bin'}:/usr/bin:/bin",
        "HOME": str(data),
        "SEGSYNC_DATA_DIR": str(data),
        "SEGSYNC_DATABASE_URL": worker_database,
        "SEGSYNC_REDIS_URL": worker_redis,
        "SEGSYNC_HUBSPOT_BASE_URL": sandbox.url,
        "SEGSYNC_HUBSPOT_TOKEN": TOKEN,
        "SEGSYNC_HUBSPOT_SEARCH_LAG_SECONDS": "0",
        "SEGSYNC_HUBSPOT_APP_SECRET": "wheel-test-app-secret",
        "SEGSYNC_METRICS_PORT": str(metrics_port),
    }
    segsync = str(installed / "bin" / "segsync")
    started: dict[str, subprocess.Popen[bytes]] = {}

    def run(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [segsync, *args], env=env, cwd=work, capture_output=True, text=True,
            timeout=timeout, **as_unprivileged(),  # type: ignore[call-overload]
        )  # fmt: skip

    try:
        migrated = run("migrate")
        assert migrated.returncode == 0, migrated.stderr
        for name, args in {
            "worker": ["worker", "--concurrency", "1"],
            "beat": ["beat"],
            "receiver": ["webhooks", "serve", "--port", str(receiver_port)],
        }.items():
            log = (data / f"{name}.log").open("wb")
            started[name] = subprocess.Popen(
                [segsync, *args], env=env, cwd=work, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, **as_unprivileged(),  # type: ignore[call-overload]
            )  # fmt: skip
        time.sleep(STAY_UP_SECONDS)
        for name, proc in started.items():
            log = (data / f"{name}.log").read_text(errors="replace")[-3000:]
            assert proc.poll() is None, f"{name} exited {proc.returncode}:\n{log}"
        assert requests.get(f"http://127.0.0.1:{receiver_port}/readyz", timeout=10).ok
        assert requests.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).ok

        assert run("schema", "apply", "--crm", "hubspot").returncode == 0
        synced = run("sync", "--crm", "hubspot", "--full")
        assert synced.returncode in (0, 3), synced.stderr[-2000:]  # 3: rows the CRM refused
        deadline = time.monotonic() + 60  # a snapshot: a busy worker may miss one ping
        while (health := run("health")).returncode != 0 and time.monotonic() < deadline:
            time.sleep(2)
        assert health.returncode == 0, health.stdout + health.stderr
        assert "OK   workers: 1 answering" in health.stdout
        assert "OK   beat: last ticked" in health.stdout
        # What segsync writes is in the data directory; the working directory is untouched.
        assert list(data.glob("celerybeat-schedule*")) and (data / "metrics").is_dir()
        assert list(work.iterdir()) == []
        # The runtime lock has no sandbox CRM: the demo says what to install.
        demo = run("demo")
        assert demo.returncode == 2 and "pip install 'segsync[sandbox]'" in demo.stderr
    finally:
        for proc in started.values():
            if proc.poll() is None:
                os.killpg(proc.pid, 15)
        for proc in started.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
        sandbox.stop()
