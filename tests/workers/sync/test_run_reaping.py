"""A run never stays `running` for ever (issue 12, #12).

A run whose process dies, or cannot reach the state store as it finishes, is reaped by
the next run or `segsync runs`: marked failed with the reason (its process is gone from
this host, or its heartbeat is older than SEGSYNC_RUN_STALE_SECONDS). Recording the end
is retried while the store refuses connections briefly.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from connectors.sandbox import FaultConfig, SandboxConfig, SandboxServer
from tests.paths import ROOT
from workers.state import RunStatus, StateStore, process_owner
from workers.sync.runs import Heartbeat, finish_run

TOKEN = "sandbox-token"
CLI = "import sys; from workers.cli.main import main; sys.exit(main())"


class TcpProxy:
    """A TCP forwarder to the state store that can be stopped (connections refused,
    open ones cut) and started again on the same port."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()

    def start(self) -> TcpProxy:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def stop(self) -> None:
        """Refuse new connections and cut the open ones, as a restarting server does."""
        if self._listener is not None:
            # shutdown() wakes the thread blocked in accept(); close() alone would not.
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        with self._lock:
            conns, self._open = list(self._open), set()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            with self._lock:
                self._open |= {client, upstream}
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)


@pytest.fixture
def proxied(worker_database: str) -> Iterator[tuple[str, TcpProxy]]:
    """A migrated PostgreSQL database of this test's, and a URL reaching it via a proxy."""
    url = sa.make_url(worker_database)
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432)).start()
    with StateStore(worker_database) as store:
        store.migrate()
    through = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    yield through, proxy
    proxy.stop()


def run_row(database_url: str, run_id: int) -> tuple[str, str | None]:
    with StateStore(database_url) as store:
        run = store.get_run(run_id)
    assert run is not None
    return str(run.status), run.error


def test_a_sync_that_cannot_record_its_end_is_reaped_by_segsync_runs(
    proxied: tuple[str, TcpProxy], worker_database: str, tmp_path: Path
) -> None:
    through_proxy, proxy = proxied
    config = SandboxConfig(
        dialect="hubspot",
        seed=5,
        contacts=150,
        companies=20,
        deals=30,
        rate_limit=10_000,
        search_rate_per_second=1_000,
        tokens=(TOKEN,),
        port=0,
        faults=FaultConfig(slow_seconds=1.0),
    )
    sandbox = SandboxServer(config).start()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SEGSYNC_")}
    environ.update(
        {
            "PYTHONPATH": str(ROOT),
            "SEGSYNC_HUBSPOT_BASE_URL": str(sandbox.url),
            "SEGSYNC_HUBSPOT_TOKEN": TOKEN,
            "SEGSYNC_HUBSPOT_SEARCH_LAG_SECONDS": "0",
            "SEGSYNC_HUBSPOT_REQUESTS_PER_10S": "10000",
            "SEGSYNC_DATABASE_URL": through_proxy,
            "SEGSYNC_RUN_FINISH_RETRY_SECONDS": "1",
        }
    )

    def segsync(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", CLI, *args],
            env=environ,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )

    try:
        assert segsync("schema", "apply", "--crm", "hubspot").returncode == 0
        # The second batch update is held; while it is, the state store goes away.
        requests.post(
            f"{sandbox.url}/_sandbox/faults/script",
            json={"endpoint": "objects.batch_update", "faults": ["ok", "slow"]},
            timeout=10,
        ).raise_for_status()
        proc = subprocess.Popen(
            [sys.executable, "-c", CLI, "sync", "--crm", "hubspot", "--full"],
            env=environ,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 90
        while (
            requests.get(f"{sandbox.url}/_sandbox/stats", timeout=10)
            .json()["faults"]
            .get("slow", 0)
            < 1
        ):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the sync never reached its second batch"
            time.sleep(0.02)
        proxy.stop()
        out, err = proc.communicate(timeout=60)
    finally:
        sandbox.stop()
    assert proc.returncode != 0, out + err
    with StateStore(worker_database) as store:
        [run] = store.list_runs(limit=5)
    # Its process is gone and could not say how the run ended ...
    assert run.status is RunStatus.RUNNING, (run, err[-2000:])
    assert run.owner == f"{socket.gethostname()}:{proc.pid}"

    proxy.start()  # the store is back
    listed = segsync("runs")
    assert listed.returncode == 0, listed.stderr
    status, error = run_row(worker_database, run.id)
    assert status == "failed"
    assert error is not None and f":{proc.pid} is gone" in error
    assert f"#{run.id} hubspot sync-full failed" in listed.stdout
    assert "reaped" in listed.stdout


def test_a_run_whose_heartbeat_went_stale_is_reaped_by_the_next_run(tmp_path: Path) -> None:
    now = [datetime(2026, 1, 1, 12, 0, tzinfo=UTC)]
    with StateStore(f"sqlite:///{tmp_path}/state.db", clock=lambda: now[0]) as store:
        store.migrate()
        elsewhere = store.start_run("hubspot", "sync-full", owner="another-host:4242")
        celery = store.start_run("hubspot", "sync-incremental")  # spread over tasks: no owner
        mine = store.start_run("hubspot", "sync-full", owner=process_owner())
        now[0] += timedelta(seconds=600)
        store.heartbeat(celery)  # its tasks are still writing
        assert store.reap_runs(timedelta(seconds=900)) == []
        now[0] += timedelta(seconds=600)  # 1,200 s since the first beat, 600 s since celery's
        reaped = store.reap_runs(timedelta(seconds=900))
        assert [r.id for r in reaped] == [elsewhere]
        assert reaped[0].status is RunStatus.FAILED
        assert reaped[0].error is not None and "no heartbeat since" in reaped[0].error
        assert store.get_run(celery).status is RunStatus.RUNNING  # type: ignore[union-attr]
        assert store.get_run(mine).status is RunStatus.RUNNING  # type: ignore[union-attr]


def test_a_run_of_a_dead_process_on_this_host_is_reaped_at_once(tmp_path: Path) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    with StateStore(f"sqlite:///{tmp_path}/state.db") as store:
        store.migrate()
        run_id = store.start_run("hubspot", "sync-full", owner=f"{socket.gethostname()}:{gone.pid}")
        [reaped] = store.reap_runs(timedelta(hours=1))
        assert reaped.id == run_id and reaped.status is RunStatus.FAILED
        assert reaped.error is not None and "is gone" in reaped.error


def test_finishing_a_run_retries_while_the_store_refuses_connections(
    proxied: tuple[str, TcpProxy], worker_database: str
) -> None:
    through_proxy, proxy = proxied
    with StateStore(through_proxy) as store:
        run_id = store.start_run("hubspot", "sync-full", owner=process_owner())
        proxy.stop()
        threading.Timer(1.0, proxy.start).start()  # back after a second, as after a restart
        finish_run(store, run_id, "succeeded", {"written": 3}, within=20)
    status, error = run_row(worker_database, run_id)
    assert (status, error) == ("succeeded", None)


def test_a_live_run_keeps_its_heartbeat_fresh(tmp_path: Path) -> None:
    with StateStore(f"sqlite:///{tmp_path}/state.db") as store:
        store.migrate()
        run_id = store.start_run("hubspot", "sync-full", owner="another-host:1")
        started = store.get_run(run_id).heartbeat_at  # type: ignore[union-attr]
        beat = Heartbeat(store, run_id, every=0.05)
        beat.start()
        time.sleep(0.3)
        beat.stop()
        beaten = store.get_run(run_id).heartbeat_at  # type: ignore[union-attr]
        assert started is not None and beaten is not None and beaten > started
        assert store.reap_runs(timedelta(seconds=2)) == []  # fresh enough
