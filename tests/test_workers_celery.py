"""The Celery path for real: `segsync worker` processes on Redis + PostgreSQL, sandbox CRM.

No eager mode: every test starts worker subprocesses (own process group each, so the
pool children go with them), dispatches `segsync sync` to them and reads the results
back from the sandbox (``/_sandbox/records/...``: values and per-property change
counts) and from the state store. Each test gets its own PostgreSQL database and its
own Redis database index (claimed with a key, so concurrent runs do not share one).
"""

from __future__ import annotations

import json
import math
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
from workers.outputs import is_companion
from workers.settings import Settings
from workers.state import Run, StateStore

pytestmark = pytest.mark.integration

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[1]
TOKEN = "sandbox-token"
CLI = "import sys; from workers.cli import main; sys.exit(main())"
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
                **self.settings,
            }
        )
        return env

    def segsync(self, *args: str, timeout: float = 180) -> str:
        """Run the CLI to the end (in the test's folder: no stray .env); its stdout."""
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
        if done.returncode != 0:
            self.fail(
                f"`segsync {' '.join(args)}` exited {done.returncode}\n"
                f"stdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-3000:]}"
            )
        return done.stdout

    def segsync_json(self, *args: str, timeout: float = 180) -> Any:
        return json.loads(self.segsync(*args, "--json", timeout=timeout))

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


# --------------------------------------------------------------------------- checks


def crm_mismatches(
    d: Deployment,
    expected: dict[Key, dict[str, str | None]],
    *,
    written_once: bool,
) -> list[str]:
    """Where the sandbox does not hold ``expected``; with ``written_once``, also every
    segsync property whose value changed other than exactly once through the API."""
    problems: list[str] = []
    for (object_type, record_id), fields in sorted(expected.items()):
        record = d.record(object_type, record_id)
        props = record["properties"]
        for name, value in fields.items():
            if (props.get(name) or "") != (value or ""):
                problems.append(
                    f"{object_type} {record_id} {name}: CRM {props.get(name)!r} != {value!r}"
                )
        if written_once:
            changes = record["changes"]
            for name, value in props.items():
                if (
                    name.startswith("segsync_")
                    and value not in (None, "")
                    and changes.get(name) != 1
                ):
                    problems.append(
                        f"{object_type} {record_id} {name}: changed {changes.get(name, 0)} times"
                    )
    return problems


def assert_crm_holds(
    d: Deployment, expected: dict[Key, dict[str, str | None]], *, written_once: bool
) -> None:
    problems = crm_mismatches(d, expected, written_once=written_once)
    assert not problems, f"{len(problems)} problems, first ones:\n" + "\n".join(problems[:15])


def recompute(d: Deployment) -> dict[Key, dict[str, str]]:
    """What a from-scratch run (empty state store, in this process) would write now,
    without the run-time companions (entered_at / previous / updated_at)."""
    from workers.runner import build_connector
    from workers.sync import load_playbook, plan_sync, pull_population

    settings = Settings(
        hubspot_base_url=d.url,
        hubspot_token=TOKEN,  # type: ignore[arg-type]
        hubspot_search_lag_seconds=0,
        hubspot_requests_per_10s=10_000,
        database_url=f"sqlite:///{d.tmp / 'from-scratch.db'}",
        redis_url=None,
    )
    book = load_playbook(settings.playbook)
    connector = build_connector(settings, "hubspot")
    with StateStore(settings.database_url) as store:
        store.migrate()
        pulled = pull_population(connector, store, book, full=True)
        plan = plan_sync(connector, store, pulled, book)
    return {
        (w.object_type, w.record_id): {k: v for k, v in w.fields.items() if k not in plan.derived}
        for w in plan.writes
    }


def remembered(fields: dict[str, Any]) -> dict[str, Any]:
    """The fields of a write the state store keeps (not the run-time companions)."""
    return {k: v for k, v in fields.items() if not is_companion(k)}


# --------------------------------------------------------------------------- tests


def test_sync_through_a_worker_writes_everything_then_nothing_then_only_what_changed(
    deployment: Deployment,
) -> None:
    d = deployment
    d.start_sandbox(contacts=1500, companies=200, deals=400)
    with d.explained():
        d.segsync("schema", "apply", "--crm", "hubspot")
        d.wait_ready(d.start_worker(concurrency=2))

        first = d.segsync_json("sync", "--crm", "hubspot", "--full")
        assert first["mode"] == "full"
        assert first["records_segmented"] == {"contact": 1500, "company": 200}
        assert first["records_to_write"] == first["records_written"] == 1700
        assert first["rejected"] == first["dead_lettered"] == first["already_written"] == 0
        assert first["write_tasks"] == math.ceil(1700 / 500)
        written = d.written()
        assert len(written) == 1700
        # Every record holds exactly what the state store says was written, set once.
        assert_crm_holds(d, written, written_once=True)
        run = d.run(first["run_id"])
        assert run.status == "succeeded" and run.counts["records_written"] == 1700

        sent = d.stats()["records_written"]
        again = d.segsync_json("sync", "--crm", "hubspot", "--full")
        assert again["records_to_write"] == again["records_written"] == 0
        assert again["fields_unchanged"] > 0 and again["write_tasks"] == 0
        assert d.stats()["records_written"] == sent
        assert d.written() == written

        mutated = d.admin("POST", "mutate", json={"count": 100, "object_type": "contact"})
        people = {str(i) for i in mutated["ids"]}
        companies = {
            c for i in people for c in d.record("contact", i)["associations"].get("companies", [])
        }
        colleagues = {
            p for c in companies for p in d.record("company", c)["associations"].get("contacts", [])
        }
        affected = {("contact", i) for i in people | colleagues} | {
            ("company", c) for c in companies
        }
        before = d.written_rows()
        incremental = d.segsync_json("sync", "--crm", "hubspot")
        assert incremental["mode"] == "incremental"
        assert incremental["records_pulled"]["contact"] == 1500
        assert 0 < incremental["records_written"] == incremental["records_to_write"]
        assert incremental["records_written"] <= len(affected)
        assert incremental["fields_written"] > 0 and incremental["fields_unchanged"] > 0
        after = d.written_rows()
        # What this run wrote: the fields whose written_at moved (the CRM-owned lifecycle
        # stage of a record the mutation moved on is left alone: forward only).
        fresh = {
            key: {
                name: value
                for name, (value, at) in fields.items()
                if (value, at) != before.get(key, {}).get(name)
            }
            for key, fields in after.items()
        }
        rewritten = {key for key, fields in fresh.items() if fields}
        assert len(rewritten) == incremental["records_written"]
        assert rewritten <= affected, sorted(rewritten - affected)[:10]
        assert_crm_holds(d, {k: fresh[k] for k in rewritten}, written_once=False)
        counts = d.run(incremental["run_id"]).counts
        for key in ("mode", "records_to_write", "records_written", "fields_written"):
            assert counts[key] == incremental[key], key
        assert counts["fields_unchanged"] == incremental["fields_unchanged"] > 0
        # The sandbox saw exactly those records written again, nothing else.
        assert d.stats()["records_written"] - sent == incremental["records_written"]


SLOW_RATE = 30  # requests per 10 s the sandbox allows ...
CLIENT_RATE = 25  # ... and the workers' shared limit (slack for clock and network jitter)
SLOW_SECONDS = 3  # how long the sandbox holds a request once writes are under way


def test_kill_9_of_a_worker_mid_write_loses_and_duplicates_nothing(
    deployment: Deployment,
) -> None:
    d = deployment
    server = d.start_sandbox(contacts=2000, companies=200, deals=400)
    with d.explained():
        d.segsync("schema", "apply", "--crm", "hubspot")
        # What a from-scratch run (empty state store, this process) writes to this CRM.
        expected = recompute(d)
        # The ~80 schema calls and the recomputation went fast; from here on the sandbox
        # refuses more than SLOW_RATE per rolling 10 s and the workers share a lower limit.
        server.state.limiter.rate_limit = SLOW_RATE
        d.settings.update(
            {
                "SEGSYNC_HUBSPOT_REQUESTS_PER_10S": str(CLIENT_RATE),
                # Longer than any one task under this limit (a rate-limit window at most):
                # Redis hands a task still running after this to another worker.
                "SEGSYNC_TASK_VISIBILITY_SECONDS": "20",
                "SEGSYNC_WRITE_CHUNK_SIZE": "40",
            }
        )
        worker = d.start_worker(concurrency=2)
        # Count from when the calls above have left the sandbox's window.
        d.wait_for(
            "the sandbox's rate window to drain",
            lambda: (
                d.admin("POST", "reset-stats")
                and not d.stats()["max_requests_in_window"].get("token-1")
            ),
            15,
        )
        d.wait_ready(worker)
        started = time.monotonic()
        sync = d.spawn("sync", "--crm", "hubspot", "--full", "--json", "--timeout", "300")

        # Writes are under way: batches sent, some records recorded, not all ...
        d.wait_for(
            "the first write tasks to finish",
            lambda: d.batch_updates() >= 3 and 0 < d.written_records() < 2200 * 0.7,
            90,
            0.05,
        )
        # ... then hold each request in the sandbox for a while, so that the kill lands
        # while a batch is in flight: the sandbox applies it, nobody records it.
        d.admin("POST", "faults", data=f"slow=1,slow_seconds={SLOW_SECONDS}")
        d.wait_for(
            "a write request held in the sandbox",
            lambda: d.stats()["faults"].get("slow", 0) > 0 and worker.in_flight_writes(),
            30,
            0.05,
        )
        worker.kill()
        killed_at = time.monotonic() - started
        killed_tasks = worker.in_flight_writes()  # its log is complete now
        assert killed_tasks
        landed_unrecorded = d.wait_for(
            "the held batch to land in the CRM",
            lambda: max(0, d.stats()["records_written"] - d.written_records()),
            SLOW_SECONDS + 10,
        )
        d.admin("POST", "faults", data="0")
        fresh = d.start_worker(concurrency=2)
        d.wait_ready(fresh)

        summary = json.loads(d.finish(sync, timeout=240))
        elapsed = time.monotonic() - started
        print(
            f"kill -9 at {killed_at:.1f} s: {len(killed_tasks)} write tasks in flight, "
            f"{landed_unrecorded} records in the CRM but not in the state store; "
            f"run finished after {elapsed:.1f} s"
        )
        # The killed tasks came back: the fresh worker received them and finished them.
        received, ended = fresh.write_tasks()
        assert killed_tasks <= received and killed_tasks <= ended, killed_tasks

        run = d.run(summary["run_id"])
        assert run.status == "succeeded"
        planned = summary["records_to_write"]
        assert planned == 2200
        assert summary["records_segmented"] == {"contact": 2000, "company": 200}
        # Each chunk's final delivery wrote what was missing and skipped what was recorded.
        assert summary["records_written"] + summary["already_written"] == planned
        assert summary["rejected"] == summary["dead_lettered"] == 0

        # No write lost: every planned record is recorded and the CRM holds it all; no
        # duplicate: each segsync property changed exactly once, including the records
        # that landed unrecorded and were sent again.
        written = d.written()
        assert len(written) == planned
        assert_crm_holds(d, written, written_once=True)
        # ... and it is what a from-scratch run planned before anything was written.
        assert set(expected) == set(written)
        differ = [k for k, fields in expected.items() if remembered(written[k]) != fields]
        assert not differ, [(k, expected[k], written[k]) for k in differ[:3]]
        stats = d.stats()
        assert stats["records_written"] == planned  # records whose values changed
        assert stats["rate_limited"] == 0, stats["rate_limited_by_policy"]


FAULTS = "429=0.04,5xx=0.03,drop=0.03,reject=0.01"


def test_faults_every_accepted_write_lands_once_and_rejections_are_dead_lettered(
    deployment: Deployment,
) -> None:
    d = deployment
    d.start_sandbox(contacts=1500, companies=200, deals=400)
    with d.explained():
        d.segsync("schema", "apply", "--crm", "hubspot")
        d.wait_ready(d.start_worker(concurrency=2))
        d.admin("POST", "faults", data=FAULTS)

        summary = d.segsync_json("sync", "--crm", "hubspot", "--full", timeout=300)
        stats = d.stats()
        print(
            f"faults injected: {stats['faults']}; {summary['rejected']} records rejected; "
            f"run {summary['seconds']} s"
        )
        assert stats["faults_injected"] > 0
        planned = summary["records_to_write"]
        assert planned == 1700
        assert summary["rejected"] > 0
        assert summary["dead_lettered"] == summary["rejected"]
        assert summary["records_written"] + summary["rejected"] == planned
        run = d.run(summary["run_id"])
        assert run.status == "succeeded"
        assert run.counts["rejected"] == run.counts["dead_lettered"] == summary["rejected"]

        letters = json.loads(d.segsync("deadletter", "list", "--crm", "hubspot", "--json"))
        assert len(letters) == summary["rejected"]
        assert all(
            letter["reason"] and letter["code"] and letter["fields"] for letter in letters
        ), letters[:3]
        refused = {(letter["object_type"], letter["record_id"]) for letter in letters}
        written = d.written()
        assert len(written) == summary["records_written"] and not refused & set(written)
        # Every accepted write landed exactly once ...
        assert_crm_holds(d, written, written_once=True)
        # ... and the refused records hold nothing of segsync's.
        for object_type, record_id in refused:
            record = d.record(object_type, record_id)
            assert not [p for p in record["changes"] if p.startswith("segsync_")], record

        d.admin("POST", "faults", data="0")
        replay = d.segsync_json("deadletter", "retry", "--crm", "hubspot")
        assert replay["retried"] == replay["resolved"] == len(letters)
        assert replay["still_failing"] == 0
        assert json.loads(d.segsync("deadletter", "list", "--crm", "hubspot", "--json")) == []
        replayed = {
            (letter["object_type"], letter["record_id"]): remembered(letter["fields"])
            for letter in letters
        }
        assert_crm_holds(d, replayed, written_once=True)
        after = d.written()
        assert all(remembered(after[k]) == v for k, v in replayed.items())
        assert len(after) == planned
