"""Change -> segment field latency through webhooks, the receiver and Celery workers.

The issue's target: with the sandbox changing 50 records per second and 2 workers, the
time from a change to the segment field being updated in the sandbox has p95 <= 2 s.

    python -m benchmarks.events_latency [--rate 50 --seconds 60 --workers 2]

The sandbox runs in this process (so the time of every change and of every write it
applies is taken from its own store), fires a signed webhook for every change at a
``segsync webhooks serve`` process, and N ``segsync worker`` processes drain the inbox.
A full sync through those workers first writes every record's fields (its echoes must
die out). Then a thread changes ``--rate`` contacts per second; for each change the
latency is the time to the first segsync write to that record after it, if that write
came before the record's next change (a later write answers the later change). Counted
apart: changes with no write before the record changed again, changes that alter no
segment, and changes HubSpot would not report at all (only read-only properties such
as the last activity date changed: no webhook; the fallback poll finds those). The
first ``--warmup`` seconds of changes are reported apart too: they meet each worker's
first round, which must not stall (rounds read the changed records by id and segment
them against the mirror: target, no change of the warm-up waits more than 5 s). Needs
the PostgreSQL and Redis of the test suite. Exits 1 when a target is missed.

``--profile DIR`` looks inside the measured window: py-spy samples every worker (idle
time included: waiting on the database or the CRM is where a round's time may go), the
receiver and this process (the sandbox) into DIR as collapsed stacks, and the workers
log every event round, summarised at the end (events, records reached, seconds per step).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import requests

from benchmarks._harness import TOKEN, free_port, hubspot_sandbox, peak_rss_mb
from benchmarks.sync_workers import Workers, dedicated_redis, fresh_database, segsync
from connectors.sandbox import SandboxServer

SECRET = "bench-app-secret"
TARGET_P95 = 2.0
TARGET_FIRST_ROUND = 5.0  # seconds a change of the warm-up may wait at most
SETUP_TIMEOUT = 4 * 3600  # seconds the full sync of the set-up may take


@dataclass
class Latencies:
    """What became of the changes made in one time window."""

    answered: list[float]  # seconds from a change to segsync's write of that record
    superseded: int  # the record changed again before any write
    unanswered: int  # reported by a webhook; no segment moved, so nothing to write
    unreported: int  # only properties HubSpot sends no webhook for changed

    def line(self, label: str) -> str:
        if not self.answered:
            return f"{label}: no change was answered by a write"
        cuts = statistics.quantiles(self.answered, n=100) if len(self.answered) > 1 else []
        p95 = cuts[94] if cuts else self.answered[0]
        return (
            f"{label}: {len(self.answered)} answered by a segment write, latency p50 "
            f"{statistics.median(self.answered):.3f} s, p95 {p95:.3f} s, max "
            f"{max(self.answered):.3f} s; {self.superseded} changed again before a write, "
            f"{self.unanswered} moved no segment, {self.unreported} sent no webhook"
        )

    @property
    def p95(self) -> float:
        if len(self.answered) < 2:
            return float("inf")
        return statistics.quantiles(self.answered, n=100)[94]


class ChangeClock:
    """Per contact: when simulated users changed it and when segsync wrote to it."""

    def __init__(self, server: SandboxServer) -> None:
        # record -> [(time, a webhook reports it, the change's modification time)]
        self.changes: dict[str, list[tuple[float, bool, int]]] = {}
        self.writes: dict[str, list[float]] = {}
        table = server.state.store.tables["contact"]
        original = table.update
        reported = server.events.format.subscribable  # type: ignore[attr-defined]

        def update(
            row: int, values: Any, now_ms: int, *, via_api: bool, index_delay: float = 0.0
        ) -> list[str]:
            changed: list[str] = original(
                row, values, now_ms, via_api=via_api, index_delay=index_delay
            )
            record = str(table.ids[row])
            if not via_api and changed:
                hooked = any(reported("contact", name) for name in changed)
                mine = self.changes.setdefault(record, [])
                if mine and mine[-1][2] == now_ms:  # one save: values, then calculated ones
                    mine[-1] = (mine[-1][0], mine[-1][1] or hooked, now_ms)
                else:
                    mine.append((time.time(), hooked, now_ms))
            elif via_api and any(name.startswith("segsync_") for name in values):
                self.writes.setdefault(record, []).append(time.time())
            return changed

        table.update = update  # type: ignore[method-assign]

    def latencies(self, since: float, until: float) -> Latencies:
        """Each change made in [since, until): the write that answered it, or why none."""
        out = Latencies([], 0, 0, 0)
        for record, changes in self.changes.items():
            writes = sorted(self.writes.get(record, []))
            for i, (changed_at, hooked, _) in enumerate(changes):
                if not since <= changed_at < until:
                    continue
                if not hooked:  # a write after it came from some other record's change
                    out.unreported += 1
                    continue
                following = changes[i + 1][0] if i + 1 < len(changes) else float("inf")
                later = next((w for w in writes if w >= changed_at), None)
                if later is not None and later < following:
                    out.answered.append(later - changed_at)
                elif later is not None:
                    out.superseded += 1
                else:
                    out.unanswered += 1
        return out


def wait_quiet(receiver: str, sandbox: str, quiet: float = 3.0, timeout: float = 600) -> None:
    """Until no webhook is pending, the inbox is empty, and both stay so for ``quiet`` s."""
    deadline = time.monotonic() + timeout
    calm_since: float | None = None
    while time.monotonic() < deadline:
        hooks = requests.get(f"{sandbox}/_sandbox/webhooks", timeout=10).json()["counters"]
        depth = requests.get(f"{receiver}/readyz", timeout=10).json()["inbox_depth"]
        if hooks["pending"] == 0 and depth == 0:
            calm_since = calm_since or time.monotonic()
            if time.monotonic() - calm_since >= quiet:
                return
        else:
            calm_since = None
        time.sleep(0.2)
    raise SystemExit("events did not settle in time")


ROUND_LINE = re.compile(
    r"^(?P<at>[\d-]+ [\d:,]+) INFO segsync\.events: \w+ event round: (?P<events>\d+) events, "
    r"(?P<changed>\d+) records changed, (?P<reached>\d+) reached, (?P<written>\d+) written, "
    r"(?P<calls>\d+) calls, (?P<seconds>[\d.]+) s \((?P<steps>[^)]*)\)"
)


def start_profilers(out: Path, pids: dict[str, int], seconds: int) -> list[subprocess.Popen[bytes]]:
    """py-spy on each process for ``seconds``, collapsed stacks into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    spy = Path(sys.executable).with_name("py-spy")
    if not spy.exists():
        raise SystemExit("--profile needs py-spy in this virtualenv: pip install py-spy")
    return [
        subprocess.Popen(
            [
                str(spy),
                "record",
                "--pid",
                str(pid),
                "--duration",
                str(seconds),
                "--rate",
                "50",
                "--format",
                "raw",
                "--subprocesses",
                "--idle",
                "--nonblocking",
                "--output",
                str(out / f"{name}.txt"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=(out / f"{name}.log").open("wb"),
        )
        for name, pid in pids.items()
    ]


def round_summary(logs: Path, since: float, until: float) -> str:
    """The workers' event rounds that started in [since, until): counts and mean steps."""
    rounds: list[dict[str, Any]] = []
    for log in sorted(logs.glob("worker-*.log")):
        for line in log.read_text(errors="replace").splitlines():
            match = ROUND_LINE.match(line)
            if match is None:
                continue
            ended = datetime.strptime(match["at"], "%Y-%m-%d %H:%M:%S,%f").timestamp()
            if not since <= ended - float(match["seconds"]) < until:
                continue
            steps = dict(
                (name, float(sec))
                for name, sec in (part.rsplit(" ", 1) for part in match["steps"].split(", "))
            )
            rounds.append(
                {
                    **{
                        k: float(v)
                        for k, v in match.groupdict().items()
                        if k not in ("at", "steps")
                    },
                    "steps": steps,
                }
            )
    if not rounds:
        return "rounds: none logged in the window"
    n = len(rounds)
    mean = {
        k: sum(r[k] for r in rounds) / n
        for k in ("events", "changed", "reached", "written", "calls", "seconds")
    }
    steps: dict[str, float] = {}
    for r in rounds:
        for name, sec in r["steps"].items():
            steps[name] = steps.get(name, 0.0) + sec / n
    busy = sum(r["seconds"] for r in rounds) / (until - since)
    return (
        f"rounds: {n} ({busy:.0%} of the window busy), per round mean {mean['events']:.1f} "
        f"events, {mean['changed']:.1f} changed, {mean['reached']:.1f} reached, "
        f"{mean['written']:.1f} written, {mean['calls']:.1f} calls, {mean['seconds']:.3f} s: "
        + ", ".join(f"{name} {sec:.3f}" for name, sec in steps.items())
    )


def run(args: argparse.Namespace) -> int:
    logs = Path(tempfile.mkdtemp(prefix="segsync-events-"))
    port = free_port()
    receiver = f"http://127.0.0.1:{port}"
    server = hubspot_sandbox(
        args.contacts,
        rate_limit=args.rate_limit,
        webhook_url=f"{receiver}/webhooks/hubspot",
        webhook_secret=SECRET,
    )
    clock = ChangeClock(server)
    procs: list[subprocess.Popen[bytes]] = []
    with (
        fresh_database(args.database_url) as database,
        dedicated_redis(args.redis_url) as redis_url,
    ):
        env = {k: v for k, v in os.environ.items() if not k.startswith("SEGSYNC_")}
        env.update(
            SEGSYNC_HUBSPOT_BASE_URL=server.url,
            SEGSYNC_HUBSPOT_TOKEN=TOKEN,
            SEGSYNC_HUBSPOT_SEARCH_LAG_SECONDS="0",
            SEGSYNC_HUBSPOT_REQUESTS_PER_10S=str(args.rate_limit),
            SEGSYNC_HUBSPOT_APP_SECRET=SECRET,
            SEGSYNC_REDIS_URL=redis_url,
            SEGSYNC_DATABASE_URL=database,
        )
        workers = Workers(env, logs, loglevel="INFO" if args.profile else "WARNING")
        try:
            subprocess.run(
                [*segsync(), "schema", "apply"], env=env, check=True, capture_output=True
            )
            receiver_log = (logs / "receiver.log").open("wb")
            procs.append(
                subprocess.Popen(
                    [*segsync(), "webhooks", "serve", "--port", str(port)],
                    env=env,
                    stdout=receiver_log,
                    stderr=subprocess.STDOUT,
                )
            )
            workers.start(args.workers)
            workers.wait_ready()
            started = time.monotonic()
            # Through the workers, as a scheduled full sync runs: at 1M one local process
            # wrote ~10,000 records a minute (it would take two hours to set up).
            subprocess.run(
                [*segsync(), "sync", "--full", "--json", "--timeout", str(SETUP_TIMEOUT)],
                env=env,
                check=True,
                capture_output=True,
            )
            # The echoes of every record's first write: a while on a big portal.
            wait_quiet(receiver, server.url, timeout=max(600.0, args.contacts / 100))
            print(f"full sync and its echoes settled in {time.monotonic() - started:.1f} s")
            warm_from = time.time()
            since = warm_from + args.warmup
            stop = time.monotonic() + args.warmup + args.seconds
            per_tick, tick = max(1, args.rate // 10), 0.1
            changed = 0
            spies: list[subprocess.Popen[bytes]] = []
            while time.monotonic() < stop:
                if args.profile and not spies and time.time() >= since:
                    pids = {f"worker-{i + 1}": p.pid for i, p in enumerate(workers.procs)}
                    pids |= {"receiver": procs[0].pid, "sandbox": os.getpid()}
                    spies = start_profilers(Path(args.profile), pids, args.seconds)
                t0 = time.monotonic()
                body = {"count": per_tick, "object_type": "contacts"}
                requests.post(f"{server.url}/_sandbox/mutate", json=body, timeout=10)
                changed += per_tick
                time.sleep(max(0.0, tick - (time.monotonic() - t0)))
            until = time.time()
            wait_quiet(receiver, server.url)
            for spy in spies:
                spy.wait(timeout=120)
            warmup = clock.latencies(warm_from, since)
            measured = clock.latencies(since, until)
            status = subprocess.run(
                [*segsync(), "events", "status", "--json"], env=env, capture_output=True, text=True
            ).stdout
            worker_rss = workers.peak_rss_mb()
            hooks = requests.get(f"{server.url}/_sandbox/webhooks", timeout=10).json()["counters"]
        finally:
            workers.stop()
            for p in procs:
                p.terminate()
                p.wait(timeout=30)
            server.stop()
    print(
        f"changes made {changed} ({args.rate}/s for {args.warmup} + {args.seconds} s, "
        f"{args.workers} workers, {args.contacts} contacts, {args.rate_limit} req/10 s)"
    )
    print(warmup.line(f"warm-up ({args.warmup} s, not counted)"))
    print(measured.line(f"measured ({args.seconds} s)"))
    print(f"events status {status.strip()}")
    if args.profile:
        print(round_summary(logs, since, until))
        print(f"profiles (py-spy, collapsed stacks) in {args.profile}; worker logs in {logs}")
    print(
        f"peak RSS: benchmark (sandbox) {peak_rss_mb():.0f} MB (its webhook backlog peaked at "
        f"{hooks['pending_peak']:,} events); workers {worker_rss}"
    )
    met = measured.p95 <= TARGET_P95
    print(f"target p95 <= {TARGET_P95} s: {'met' if met else 'MISSED'}")
    waited = max(warmup.answered, default=float("inf"))
    first = waited <= TARGET_FIRST_ROUND
    print(
        f"target warm-up max <= {TARGET_FIRST_ROUND} s (workers' first rounds): "
        f"{waited:.3f} s {'met' if first else 'MISSED'}"
    )
    return 0 if met and first else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=int, default=50, help="changes per second")
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument(
        "--warmup", type=int, default=10, help="seconds of changes before the measured ones"
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--contacts", type=int, default=5000)
    parser.add_argument("--rate-limit", type=int, default=190, help="sandbox requests per 10 s")
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "SEGSYNC_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    parser.add_argument(
        "--profile", metavar="DIR", help="py-spy the measured window and log every round"
    )
    sys.exit(run(parser.parse_args()))


if __name__ == "__main__":
    main()
