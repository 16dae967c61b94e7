"""Real deployments for the tests: `segsync` worker processes on Redis + PostgreSQL
against an in-process sandbox CRM (shared by tests/workers/test_celery_workers.py and
tests/workers/events/test_end_to_end.py).

No eager mode: tests start worker subprocesses (own process group each, so the pool
children go with them), dispatch work to them and read the results back from the
sandbox (``/_sandbox/records/...``: values and per-property change counts) and from the
state store. Each test gets its own PostgreSQL database and its own Redis database
index (claimed with a key, so concurrent runs do not share one).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn, TypeVar
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
import requests
import sqlalchemy as sa

from connectors.sandbox import SandboxConfig, SandboxServer
from tests.paths import ROOT
from workers.settings import Settings
from workers.state import Run, StateStore

T = TypeVar("T")
TOKEN = "sandbox-token"
CLI = "import sys; from workers.cli.main import main; sys.exit(main())"
REDIS_DBS = range(8, 16)  # db 0 is the default of the other tests
CLAIM_KEY = "segsync-test:claim"
ADMIN_NAMES = {"contact": "contacts", "company": "companies"}
TASK_LINE = re.compile(r"Task segsync\.write\[([0-9a-f-]+)\] (received|succeeded|retry|raised)")

Key = tuple[str, str]  # (object_type, record_id)


# --------------------------------------------------------------------------- servers


@pytest.fixture
def worker_redis(redis_url: str) -> Iterator[str]:
    """A Redis URL whose database index only this test uses; emptied afterwards.

    The first empty index of REDIS_DBS is claimed with a key, so two runs of this file
    at the same time (or another test's data) never share one.
    """
    parts = urlsplit(redis_url)
    claim = uuid.uuid4().hex
    for db in REDIS_DBS:
        url = urlunsplit((parts.scheme, parts.netloc, f"/{db}", "", ""))
        client = redis.Redis.from_url(url)
        if client.set(CLAIM_KEY, claim, nx=True, ex=1800):
            if client.dbsize() == 1:
                break
            client.delete(CLAIM_KEY)  # someone else's data: leave it alone
        client.close()
    else:
        pytest.fail(f"no empty, unclaimed Redis database among {list(REDIS_DBS)} at {redis_url}")
    try:
        yield url
    finally:
        client.flushdb()
        client.close()


@pytest.fixture
def worker_database(postgres_url: str) -> Iterator[str]:
    """A PostgreSQL database of its own on the real server; dropped afterwards."""
    name = f"segsync_celery_{uuid.uuid4().hex[:12]}"
    server = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with server.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        server.dispose()


# --------------------------------------------------------------------------- processes


@dataclass
class Worker:
    """One `segsync worker` process group (main process + prefork pool)."""

    proc: subprocess.Popen[bytes]
    log_path: Path

    @property
    def name(self) -> str:
        return self.log_path.stem

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def alive(self) -> bool:
        return self.proc.poll() is None

    def write_tasks(self) -> tuple[set[str], set[str]]:
        """Ids of write tasks this worker received, and of those it got to the end of."""
        received: set[str] = set()
        ended: set[str] = set()
        for task_id, event in TASK_LINE.findall(self.log()):
            (received if event == "received" else ended).add(task_id)
        return received, ended

    def in_flight_writes(self) -> set[str]:
        received, ended = self.write_tasks()
        return received - ended

    def kill(self) -> None:
        """kill -9 the whole group: no shutdown, no requeue, no acknowledgement."""
        with suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)


@dataclass
class Deployment:
    """The sandbox CRM, the state store, Redis and the worker processes of one test."""

    tmp: Path
    database_url: str
    redis_url: str
    sandbox: SandboxServer | None = None
    settings: dict[str, str] = field(default_factory=dict)
    workers: list[Worker] = field(default_factory=list)
    background: list[subprocess.Popen[str]] = field(default_factory=list)
    http: requests.Session = field(default_factory=requests.Session)

    # ---------------------------------------------------------------- sandbox

    def start_sandbox(self, **config: Any) -> SandboxServer:
        defaults: dict[str, Any] = {
            "dialect": "hubspot",
            "seed": 11,
            "rate_limit": 10_000,
            "search_rate_per_second": 1_000,
            "tokens": (TOKEN,),
            "port": 0,
        }
        self.sandbox = SandboxServer(SandboxConfig(**{**defaults, **config})).start()
        return self.sandbox

    @property
    def url(self) -> str:
        assert self.sandbox is not None, "start_sandbox() first"
        return str(self.sandbox.url)

    def admin(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, f"{self.url}/_sandbox/{path}", timeout=30, **kwargs)
        response.raise_for_status()
        return response.json()

    def record(self, object_type: str, record_id: str) -> dict[str, Any]:
        return dict(self.admin("GET", f"records/{ADMIN_NAMES[object_type]}/{record_id}"))

    def stats(self) -> dict[str, Any]:
        return dict(self.admin("GET", "stats"))

    def batch_updates(self) -> int:
        return sum(
            n for name, n in self.stats()["requests"].items() if name.endswith("/batch/update")
        )

    # ---------------------------------------------------------------- processes

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SEGSYNC_")}
        env.update(
            {
                "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
                "PYTHONUNBUFFERED": "1",
                "SEGSYNC_HUBSPOT_BASE_URL": self.url,
                "SEGSYNC_HUBSPOT_TOKEN": TOKEN,
                "SEGSYNC_HUBSPOT_SEARCH_LAG_SECONDS": "0",
                "SEGSYNC_HUBSPOT_REQUESTS_PER_10S": "10000",
                "SEGSYNC_DATABASE_URL": self.database_url,
                "SEGSYNC_REDIS_URL": self.redis_url,
                "SEGSYNC_METRICS_PORT": "0",  # tests that scrape give each worker a port
                "SEGSYNC_DATA_DIR": str(self.tmp / "data"),
                **self.settings,
            }
        )
        return env

    def segsync(self, *args: str, timeout: float = 180, exit_code: int = 0) -> str:
        """Run the CLI to the end (in the test's folder: no stray .env); its stdout.

        ``exit_code`` is the one the run must end with (3: completed with rejected rows).
        """
        try:
            done = subprocess.run(
                [sys.executable, "-c", CLI, *args],
                env=self.env(),
                cwd=self.tmp,
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired as exc:
            self.fail(f"`segsync {' '.join(args)}` still running after {timeout:.0f} s: {exc}")
        if done.returncode != exit_code:
            self.fail(
                f"`segsync {' '.join(args)}` exited {done.returncode}, not {exit_code}\n"
                f"stdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-3000:]}"
            )
        return done.stdout

    def segsync_json(self, *args: str, timeout: float = 180, exit_code: int = 0) -> Any:
        return json.loads(self.segsync(*args, "--json", timeout=timeout, exit_code=exit_code))

    def spawn(self, *args: str) -> subprocess.Popen[str]:
        """Start the CLI in the background (e.g. a sync that waits for the workers)."""
        proc = subprocess.Popen(
            [sys.executable, "-c", CLI, *args],
            env=self.env(),
            cwd=self.tmp,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.background.append(proc)
        return proc

    def finish(self, proc: subprocess.Popen[str], timeout: float) -> str:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.fail(f"{proc.args!r} still running after {timeout:.0f} s")
        if proc.returncode != 0:
            self.fail(f"{proc.args!r} exited {proc.returncode}\n{out[-3000:]}\n{err[-3000:]}")
        return out

    def start_worker(self, concurrency: int = 1) -> Worker:
        log_path = self.tmp / f"worker-{len(self.workers) + 1}.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-c", CLI, "worker", f"--concurrency={concurrency}"],
                env=self.env(),
                cwd=self.tmp,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: killpg takes the pool too
            )
        worker = Worker(proc, log_path)
        self.workers.append(worker)
        return worker

    def wait_ready(self, *workers: Worker, timeout: float = 60) -> None:
        def ready() -> bool:
            for w in workers:
                if not w.alive():
                    self.fail(f"{w.name} exited with {w.proc.returncode}")
            return all(" ready." in w.log() for w in workers)

        self.wait_for("workers ready", ready, timeout, interval=0.1)

    def start_receiver(self, port: int, timeout: float = 60) -> Worker:
        """`segsync webhooks serve` on ``port`` (its log beside the workers'); once healthy."""
        log_path = self.tmp / "receiver.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-c", CLI, "webhooks", "serve", "--port", str(port)],
                env=self.env(),
                cwd=self.tmp,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        receiver = Worker(proc, log_path)
        self.workers.append(receiver)

        def healthy() -> bool:
            if not receiver.alive():
                self.fail(f"the receiver exited with {proc.returncode}")
            try:
                return self.http.get(f"http://127.0.0.1:{port}/healthz", timeout=2).ok
            except requests.RequestException:
                return False

        self.wait_for("the receiver to answer", healthy, timeout, interval=0.1)
        return receiver

    def local_settings(self, database_url: str | None = None, **extra: Any) -> Settings:
        """Settings for running segsync in this process against this sandbox (no Redis)."""
        return Settings(
            hubspot_base_url=self.url,
            hubspot_token=TOKEN,  # type: ignore[arg-type]
            hubspot_search_lag_seconds=0,
            hubspot_requests_per_10s=10_000,
            database_url=database_url or self.database_url,
            redis_url=None,
            **extra,
        )

    # ---------------------------------------------------------------- waiting

    def wait_for(
        self,
        what: str,
        check: Callable[[], T | bool | None],
        timeout: float,
        interval: float = 0.2,
    ) -> T:
        deadline = time.monotonic() + timeout
        while True:
            value = check()
            if value:
                return value  # type: ignore[return-value]
            if time.monotonic() > deadline:
                self.fail(f"timed out after {timeout:.0f} s waiting for {what}")
            time.sleep(interval)

    def diagnostics(self) -> str:
        parts = []
        for w in self.workers:
            state = "running" if w.alive() else f"exited {w.proc.returncode}"
            parts.append(f"----- {w.name} ({state}), last lines:\n{w.tail()}")
        if self.sandbox is not None:
            try:
                stats = self.stats()
                stats.pop("statuses", None)
                parts.append(f"----- sandbox stats: {json.dumps(stats)}")
            except requests.RequestException as exc:
                parts.append(f"----- sandbox stats unavailable: {exc}")
        return "\n".join(parts)

    def fail(self, message: str) -> NoReturn:
        pytest.fail(f"{message}\n{self.diagnostics()}", pytrace=False)

    @contextmanager
    def explained(self) -> Iterator[None]:
        """Print the workers' log tails and the sandbox stats when the block fails."""
        try:
            yield
        except pytest.fail.Exception:
            raise  # its message carries them already
        except BaseException:
            print(self.diagnostics())
            raise

    # ---------------------------------------------------------------- state store

    def store(self) -> StateStore:
        return StateStore(self.database_url)

    def run(self, run_id: int) -> Run:
        with self.store() as store:
            run = store.get_run(run_id)
        assert run is not None, f"run #{run_id} is not in the state store"
        return run

    def written(self) -> dict[Key, dict[str, str | None]]:
        """Every value the state store says was written, per record."""
        return {
            key: {name: value for name, (value, _) in fields.items()}
            for key, fields in self.written_rows().items()
        }

    def written_rows(self) -> dict[Key, dict[str, tuple[str | None, datetime]]]:
        """Per record and field: the value last written and when."""
        result: dict[Key, dict[str, tuple[str | None, datetime]]] = {}
        query = sa.text(
            "SELECT object_type, record_id, field, value, written_at FROM written_values "
            "WHERE crm = 'hubspot'"
        )
        with self.store() as store, store.engine.connect() as conn:
            for object_type, record_id, name, value, at in conn.execute(query):
                result.setdefault((object_type, record_id), {})[name] = (value, at)
        return result

    def written_records(self) -> int:
        query = sa.text("SELECT count(DISTINCT (object_type, record_id)) FROM written_values")
        try:
            with self.store() as store, store.engine.connect() as conn:
                return int(conn.execute(query).scalar_one())
        except sa.exc.ProgrammingError:  # the workers have not migrated the schema yet
            return 0

    def close(self) -> None:
        for proc in self.background:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.communicate(timeout=30)
        for w in self.workers:
            w.kill()
        if self.sandbox is not None:
            self.sandbox.stop()
        self.http.close()


@pytest.fixture
def deployment(tmp_path: Path, worker_database: str, worker_redis: str) -> Iterator[Deployment]:
    d = Deployment(tmp_path, worker_database, worker_redis)
    try:
        yield d
    finally:
        d.close()
