"""Benchmark: a full sync through N Celery workers that share one Redis-backed API quota.

Target (the issue): a full sync of 100,000 contacts + 20,000 companies against the sandbox
at 100 requests / 10 s with 4 workers:

* the sandbox never saw the shared limit exceeded: no real 429 (injected faults are off
  here) and at most 100 admitted requests in any rolling 10 s window;
* the write phase takes at most 1.15x the limit-bound ideal for the write calls it needed
  (ideal = batch-update calls / (limit / 10 s));
* every record's segsync fields in the sandbox equal a from-scratch recomputation.

Run by hand (it takes several minutes at full size: ~1,500 read calls and ~1,200 write
calls at 10 per second):

    .venv/bin/python -m benchmarks.sync_workers [--contacts 100000 --companies 20000
        --deals 30000 --workers 4 --rate-limit 100]

What it sets up: the sandbox runs in this process (so its request times and its store
can be read directly), a PostgreSQL database created for the run and dropped afterwards
is the state store, one Redis database index (empty, or used only by this benchmark
before; flushed first) is the broker and the shared quota. ``segsync schema apply`` and
N ``segsync worker --concurrency 1`` run as their own processes, so only the Redis
limiter keeps the workers together under the limit; ``segsync sync --full --json``
triggers the run and waits for it, as a user would.

What it measures: the sandbox's request counter is wrapped to stamp every API request
with its arrival time, so the phases come from what the CRM saw: reads (first to last
list/read request), the gap between them and the first write (segmentation, diff and
the fan-out of the write tasks), and the write phase (first to last
``POST /crm/v3/objects/*/batch/update``). The total is from triggering the sync to the
command returning once the run is recorded as finished.

The recomputation: the same population is read once more with a connector and a token
of its own before the sync (the sandbox's limit raised for that read, then restored; the
sandbox counts each token's window apart, and the sync starts after that window has
emptied; nothing changes the records in between). After the
run, ``plan_sync`` on that population with an empty state store gives every record's
values from scratch; they are compared with the sandbox's store for every record and
every segsync field except the time-stamp companions (``*_entered_at``, ``*_previous``,
``updated_at``), and for the CRM's own ``lifecyclestage``, which segsync moves forward only.
Reading after the run instead would read back segsync's own lifecycle writes as input.

Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
import redis
import sqlalchemy as sa
from pydantic import SecretStr

from benchmarks._harness import TOKEN, admin, peak_rss_mb
from benchmarks._memory import vm_hwm_mb
from connectors.base import ObjectType
from connectors.hubspot.connector import HubSpotConnector
from connectors.hubspot.options import HubSpotConfig
from connectors.sandbox import SandboxConfig, SandboxServer
from connectors.sandbox.hubspot.values import format_value, normalize_number
from connectors.sandbox.stats import Stats
from workers.state import StateStore
from workers.sync.mirror_pull import Pulled, pull_population
from workers.sync.outputs import field_specs, is_companion
from workers.sync.plan import load_playbook, plan_sync

PLAYBOOK = "b2b_saas"
LIFECYCLE = "lifecyclestage"
RATIO_TARGET = 1.15
WINDOW_S = 10.0
MARKER = "segsync:bench:sync_workers"  # set in the Redis db this benchmark uses
# The verification read's own token: the sandbox counts its window apart from the sync's.
VERIFY_TOKEN = "verify-token"
OBJECTS: tuple[ObjectType, ...] = ("contact", "company")


class TimedStats(Stats):
    """The sandbox's counters, plus the arrival time of every API request."""

    times: list[tuple[str, float]]

    def _reset(self) -> None:
        super()._reset()
        self.times = []

    def request(self, template: str) -> None:
        super().request(template)
        with self._lock:
            self.times.append((template, time.monotonic()))


# ------------------------------------------------------------------ fixtures


@contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """A new, uniquely named PostgreSQL database on the server of ``server_url``."""
    url = sa.make_url(server_url)
    name = f"segsync_bench_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


@contextmanager
def dedicated_redis(url: str) -> Iterator[str]:
    """Flush the db index of ``url`` (refused if something else keeps keys there)."""
    client = redis.Redis.from_url(url)
    size = client.dbsize()
    if size and not client.exists(MARKER):
        raise SystemExit(
            f"{url} holds {size} keys of something else; choose an empty index (--redis-db)"
        )
    client.flushdb()
    client.set(MARKER, "1")
    try:
        yield url
    finally:
        client.flushdb()
        client.set(MARKER, "1")
        client.close()


@dataclass
class Workers:
    """N ``segsync worker --concurrency 1`` processes."""

    env: dict[str, str]
    logs: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    loglevel: str = "WARNING"  # INFO logs every event round's steps and seconds

    def start(self, n: int) -> None:
        for i in range(n):
            log = (self.logs / f"worker-{i + 1}.log").open("wb")
            self.procs.append(
                subprocess.Popen(
                    [*segsync(), "worker", "--concurrency", "1", "--loglevel", self.loglevel],
                    env=self.env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )

    def wait_ready(self, timeout: float = 120.0) -> None:
        """Until every worker answers a ping (they share a node name; replies are listed)."""
        from workers.celery_app import make_app
        from workers.settings import Settings

        app = make_app(Settings(redis_url=self.env["SEGSYNC_REDIS_URL"]))
        deadline = time.monotonic() + timeout
        while True:
            dead = [p.pid for p in self.procs if p.poll() is not None]
            if dead:
                raise RuntimeError(f"worker(s) {dead} exited; see {self.logs}")
            if len(app.control.ping(timeout=1.0)) >= len(self.procs):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"workers not ready after {timeout:.0f} s; see {self.logs}")

    def peak_rss_mb(self) -> list[float]:
        """Per worker: the highest VmHWM among its process and its pool processes."""
        peaks = []
        for p in self.procs:
            pids = [p.pid]
            with suppress(psutil.Error):
                pids += [c.pid for c in psutil.Process(p.pid).children(recursive=True)]
            peaks.append(max((vm_hwm_mb(pid) for pid in pids), default=0.0))
        return peaks

    def stop(self) -> None:
        children: list[psutil.Process] = []
        for p in self.procs:
            with suppress(psutil.Error):
                children += psutil.Process(p.pid).children(recursive=True)
            p.terminate()  # warm shutdown
        for p in self.procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for child in children:  # pool processes a killed parent left behind
            with suppress(psutil.Error):
                child.kill()


def segsync() -> list[str]:
    return [sys.executable, "-m", "workers.cli.main"]


def schema_apply(env: dict[str, str]) -> str:
    """``segsync schema apply --crm hubspot`` in ``env``; its last line (raises on failure)."""
    schema = subprocess.run(
        [*segsync(), "schema", "apply", "--crm", "hubspot"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if schema.returncode:
        raise RuntimeError(f"schema apply failed: {schema.stderr or schema.stdout}")
    return schema.stdout.strip().splitlines()[-1]


def subprocess_env(
    sandbox_url: str, redis_url: str, database_url: str, args: Any
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEGSYNC_")}
    env.update(
        SEGSYNC_HUBSPOT_BASE_URL=sandbox_url,
        SEGSYNC_HUBSPOT_TOKEN=TOKEN,
        SEGSYNC_HUBSPOT_SEARCH_LAG_SECONDS="0",
        SEGSYNC_HUBSPOT_REQUESTS_PER_10S=str(args.rate_limit),
        SEGSYNC_REDIS_URL=redis_url,
        SEGSYNC_DATABASE_URL=database_url,
        SEGSYNC_PLAYBOOK=PLAYBOOK,
    )
    if args.chunk_size:
        env["SEGSYNC_WRITE_CHUNK_SIZE"] = str(args.chunk_size)
    return env


# ------------------------------------------------------------------ recomputation


def read_population(server: SandboxServer) -> Pulled:
    """Read the population as a sync does, with the sandbox's limit lifted for this read."""
    limiter = server.state.limiter
    limit = limiter.rate_limit
    limiter.rate_limit = 1_000_000
    try:
        connector = HubSpotConnector(
            HubSpotConfig(
                base_url=server.url,
                token=SecretStr(VERIFY_TOKEN),
                requests_per_10s=1_000_000,
                search_lag_seconds=0,
            )
        )
        with StateStore("sqlite://") as store:
            store.migrate()
            return pull_population(connector, store, load_playbook(PLAYBOOK), full=True)
    finally:
        limiter.rate_limit = limit


@dataclass
class Comparison:
    records: int = 0
    fields: int = 0
    mismatches: int = 0
    per_field: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)


def compare(
    server: SandboxServer,
    pulled: Pulled,
    lifecycle_before: dict[ObjectType, list[Any]],
    now: datetime,
) -> Comparison:
    """Sandbox values of every record vs. a plan made on an empty state store."""
    book = load_playbook(PLAYBOOK)
    connector = HubSpotConnector(HubSpotConfig(base_url=server.url, token=SecretStr(TOKEN)))
    with StateStore("sqlite://") as store:
        store.migrate()
        plan = plan_sync(connector, store, pulled, book, now=now)
    out = Comparison()
    for object_type in OBJECTS:
        table = server.state.store.table(object_type)
        names = [
            connector.field_name(s.name)
            for s in field_specs(book, object_type)
            if not is_companion(connector.field_name(s.name))
        ]
        diff = plan.diffs.get(object_type)
        expected = {w.record_id: w.fields for w in diff.writes} if diff else {}
        before = lifecycle_before[object_type]
        for row, rid in enumerate(table.ids):
            if table.archived[row]:
                continue
            out.records += 1
            want = expected.get(str(rid), {})
            for name in [*names, LIFECYCLE]:
                kind = table.kind_of(name)
                if name == LIFECYCLE and name not in want:
                    wanted = format_value(kind, before[row]) or ""
                else:
                    wanted = want.get(name) or ""
                if wanted and kind == "number":
                    wanted = normalize_number(wanted)
                got = format_value(kind, table.get(row, name)) or ""
                out.fields += 1
                if got != wanted:
                    out.mismatches += 1
                    out.per_field[name] += 1
                    if len(out.examples) < 8:
                        out.examples.append(
                            f"{object_type} {rid} {name}: sandbox {got!r}, recomputed {wanted!r}"
                        )
    return out


# ------------------------------------------------------------------ the run


@dataclass
class Phase:
    calls: int
    first: float
    last: float

    @property
    def span(self) -> float:
        return self.last - self.first


def phase(times: list[tuple[str, float]], match: Any) -> Phase | None:
    stamps = [t for template, t in times if match(template)]
    return Phase(len(stamps), min(stamps), max(stamps)) if stamps else None


def tightest_span(times: list[tuple[str, float]], limit: int) -> float | None:
    """Shortest time between a request and the ``limit``-th one before it, as they arrived."""
    stamps = sorted(t for _, t in times)
    spans = [stamps[i] - stamps[i - limit] for i in range(limit, len(stamps))]
    return min(spans) if spans else None


def is_write(template: str) -> bool:
    return template.startswith("POST ") and template.endswith("/batch/update")


def is_read(template: str) -> bool:
    return template.startswith("GET /crm/v3/objects/") or template.endswith("/batch/read")


def run(args: argparse.Namespace) -> int:
    rate = args.rate_limit / WINDOW_S  # calls per second the limit allows
    redis_url = f"{args.redis_url.rstrip('/')}/{args.redis_db}"
    print(
        f"full sync of {args.contacts:,} contacts + {args.companies:,} companies "
        f"(+ {args.deals:,} deals) at {args.rate_limit} requests / 10 s with "
        f"{args.workers} workers"
    )
    seeded = time.monotonic()
    server = SandboxServer(
        SandboxConfig(
            dialect="hubspot",
            seed=args.seed,
            contacts=args.contacts,
            companies=args.companies,
            deals=args.deals,
            mode="b2b",
            rate_limit=args.rate_limit,
            tokens=(TOKEN, VERIFY_TOKEN),
            port=0,
        )
    )
    stats = TimedStats()
    server.state.stats = stats
    server.start()
    print(f"sandbox seeded and serving in {time.monotonic() - seeded:.1f} s at {server.url}")
    logs = Path(tempfile.mkdtemp(prefix="segsync-bench-workers-"))
    workers: Workers | None = None
    try:
        with dedicated_redis(redis_url), fresh_database(args.database_url) as database_url:
            env = subprocess_env(server.url, redis_url, database_url, args)
            print(f"schema apply: {schema_apply(env)}")
            workers = Workers(env, logs)
            workers.start(args.workers)
            read_started = time.monotonic()
            pulled = read_population(server)
            read_done = time.monotonic()
            print(
                f"verification read (limit lifted): {sum(pulled.counts.values()):,} records "
                f"in {read_done - read_started:.1f} s"
            )
            with server.state.store.lock:
                lifecycle_before = {
                    t: list(server.state.store.table(t).cols[LIFECYCLE]) for t in OBJECTS
                }
            workers.wait_ready()
            # Start with empty windows (the setup calls gone from them), then count afresh.
            time.sleep(max(0.0, read_done + WINDOW_S + 0.5 - time.monotonic()))
            admin(server.url, "POST", "reset-stats")

            sync_started_at = datetime.now(UTC)
            started = time.monotonic()
            sync = subprocess.run(
                [*segsync(), "sync", "--crm", "hubspot", "--full", "--json", "--timeout", "7200"],
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            total = time.monotonic() - started
            if sync.returncode:
                raise RuntimeError(f"sync failed: {sync.stderr or sync.stdout}; logs in {logs}")
            counts = json.loads(sync.stdout)
            snapshot = admin(server.url, "GET", "stats")
            with stats._lock:
                times = list(stats.times)
            worker_rss = workers.peak_rss_mb()
            workers.stop()
            workers = None
            shutil.rmtree(logs, ignore_errors=True)
            verified_started = time.monotonic()
            check = compare(server, pulled, lifecycle_before, sync_started_at)
            verify_seconds = time.monotonic() - verified_started
    finally:
        if workers is not None:
            workers.stop()
        server.stop()

    reads = phase(times, is_read)
    writes = phase(times, is_write)
    calls = len(times)
    write_calls = writes.calls if writes else 0
    ideal_writes = write_calls / rate
    write_wall = writes.span if writes else 0.0
    ratio = write_wall / ideal_writes if ideal_writes else 0.0
    by_template = Counter(template for template, _ in times)
    # The sync's token is the sandbox's first one ("token-1"); the second one read for the check.
    max_window = int(snapshot.get("max_requests_in_window", {}).get("token-1", 0))
    print("--- run")
    print(
        f"run #{counts['run_id']}: {counts.get('records_to_write', 0):,} records to write, "
        f"{counts.get('records_written', 0):,} written ({counts.get('fields_written', 0):,} "
        f"fields), rejected {counts.get('rejected', 0)}, dead-lettered "
        f"{counts.get('dead_lettered', 0)}, {counts.get('write_tasks', 0)} write tasks, "
        f"{counts.get('api_calls', 0):,} API calls counted by the workers"
    )
    print("requests the sandbox received during the sync:")
    for template, n in sorted(by_template.items()):
        print(f"  {n:>7,}  {template}")
    print(f"  {calls:>7,}  in all")
    if reads:
        print(
            f"read phase          {reads.calls:,} read calls in {reads.span:.1f} s "
            f"(from {reads.first - started:.1f} s after the trigger); ideal "
            f"{reads.calls / rate:.1f} s; ratio {reads.span / (reads.calls / rate):.3f}"
        )
    if reads and writes:
        print(
            f"segment + fan-out   {writes.first - reads.last:.1f} s from the last read "
            "to the first write"
        )
    if writes:
        print(
            f"write phase         {write_calls:,} batch-update calls in {write_wall:.1f} s "
            f"(first to last); ideal {ideal_writes:.1f} s ({write_calls:,} / "
            f"{rate:g} per s); ratio {ratio:.3f}  (target <= {RATIO_TARGET})"
        )
        burst = sum(1 for t, s in times if is_write(t) and s < writes.first + WINDOW_S)
        steady = [s for t, s in times if is_write(t) and s >= writes.first + WINDOW_S]
        if len(steady) >= args.rate_limit:  # enough calls past the first window to tell
            print(
                f"                    first 10 s: {burst} calls; after it "
                f"{(len(steady) - 1) / (steady[-1] - steady[0]):.2f} calls/s "
                f"(limit {rate:g})"
            )
    print(
        f"total wall time     {total:.1f} s (trigger to run recorded; the run's own "
        f"{counts.get('seconds', 0):.1f} s); ideal for all {calls:,} calls "
        f"{calls / rate:.1f} s; ratio {total / (calls / rate):.3f}"
    )
    print(
        f"sandbox stats       rate_limited {snapshot['rate_limited']}, faults_injected "
        f"{snapshot['faults_injected']}, max requests in a 10 s window {max_window} "
        f"(limit {args.rate_limit}), records_written {snapshot['records_written']:,}"
    )
    tightest = tightest_span(times, args.rate_limit)
    if tightest is not None:
        print(
            f"                    tightest {args.rate_limit + 1} consecutive requests at the "
            f"sandbox: {tightest:.3f} s apart (it refuses one when under {WINDOW_S:g} s; the "
            f"workers' shared limiter spaces them {WINDOW_S:g} s + its margin apart when "
            "they leave it)"
        )
    print("--- recomputed from scratch (empty state store, same population)")
    print(
        f"records compared    {check.records:,} ({check.fields:,} field values) in "
        f"{verify_seconds:.1f} s; mismatches {check.mismatches}"
    )
    for name, n in check.per_field.most_common(10):
        print(f"  {n:>7,}  {name}")
    for example in check.examples:
        print(f"  e.g. {example}")
    print(
        f"peak RSS            benchmark (sandbox + verification) {peak_rss_mb():.0f} MB; "
        f"workers {', '.join(f'{m:.0f}' for m in worker_rss)} MB"
    )

    missed = []
    if snapshot["rate_limited"]:
        missed.append(f"{snapshot['rate_limited']} real 429s")
    if max_window > args.rate_limit:
        missed.append(f"{max_window} requests in a 10 s window")
    if not writes or ratio > RATIO_TARGET:
        missed.append(f"write phase ratio {ratio:.3f} > {RATIO_TARGET}")
    if check.mismatches:
        missed.append(f"{check.mismatches} field values differ from the recomputation")
    if counts.get("rejected") or counts.get("records_written") != counts.get("records_to_write"):
        missed.append("not every record was written")
    print("targets: " + ("all met" if not missed else "MISSED: " + "; ".join(missed)))
    return 1 if missed else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--companies", type=int, default=20_000)
    parser.add_argument("--deals", type=int, default=30_000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--rate-limit", type=int, default=100)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--chunk-size", type=int, default=None, help="SEGSYNC_WRITE_CHUNK_SIZE (default: settings)"
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379")
    parser.add_argument("--redis-db", type=int, default=12, help="flushed before and after")
    parser.add_argument(
        "--database-url",
        default="postgresql+psycopg://postgres@127.0.0.1:5432/test",
        help="a server where a database for the run is created and dropped",
    )
    sys.exit(run(parser.parse_args()))


if __name__ == "__main__":
    main()
