"""Benchmark: issue 13's acceptance run at 1,000,000 contacts, phase by phase.

The sandbox HubSpot CRM holds ``--contacts`` contacts, contacts / 5 companies and
2 * contacts / 5 deals (1,000,000 / 200,000 / 400,000 by default) in its own process,
with its rate limit raised (``--rate-limit``; and the search limit, ``--search-rate``,
HubSpot's 5 per second by default: reading back a million echoes is ~12,000 searches) so
the run fits in about an hour. State
lives in the PostgreSQL database of ``--database-url`` (its ``public`` schema is emptied
first: give it a database of its own), Celery runs on the Redis db of ``--redis-url``
(flushed first; refused when something else keeps keys there) with ``--workers``
``segsync worker --concurrency 1`` processes. Every figure of API calls comes from the
sandbox's own counters (``/_sandbox/stats``), reset before each phase.

Phases (each prints its figures; the table at the end says PASS/FAIL per target):

1. full sync (``segsync sync --full --json``): wall time, sandbox API calls, peak RSS
   of the segsync processes (workers with their pool processes, and the CLI with its
   children; the sandbox is not one of them) sampled with psutil. Target: RSS <= 2.5 GB.
2. the next incremental run: records re-segmented and fields written, from the run
   summary ``sync --json`` prints. Target: 0 and 0 (segsync's own writes are not changes).
3. a further incremental run with nothing changed: API calls per object type (<= 1
   each) and wall time (<= 5 s).
4. the sandbox changes 1,000 contacts and 100 companies (``/_sandbox/mutate``), then an
   incremental run: API calls and wall time (<= 60 s); then :func:`check_correctness`
   compares every record's segsync fields in the sandbox with a from-scratch
   recomputation (not part of the phase's figures).
5. the nightly full re-segmentation from the mirror (``sync --from-mirror``, found by
   :func:`nightly_command`): API reads 0, wall <= 30 s, peak RSS <= 2.5 GB.

    python -m benchmarks.scale [--contacts 1000000] [--database-url ...] [--redis-url ...]

Exits 1 when a target is missed (or not yet measurable).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
import sqlalchemy as sa
from pydantic import SecretStr

from benchmarks._harness import TOKEN, admin, sandbox_process
from benchmarks._memory import RssSampler
from benchmarks.sync_workers import (
    Workers,
    dedicated_redis,
    schema_apply,
    segsync,
)
from connectors.base import ObjectType
from connectors.hubspot.connector import HubSpotConnector
from connectors.hubspot.options import HubSpotConfig
from connectors.sandbox.hubspot.values import normalize_number
from workers.fieldmap import load_field_map
from workers.state import StateStore
from workers.sync.frames import playbook_mode
from workers.sync.mirror_pull import MIRROR_STATE, Pulled, numeric_outputs
from workers.sync.mirroring import load_frames, mirror_shape
from workers.sync.outputs import field_specs, is_companion
from workers.sync.plan import CLUSTER_STATE, CLV_STATE, STATISTICS_STATE, load_playbook, plan_sync

PLAYBOOK = "b2b_saas"
RSS_TARGET_MB = 2.5 * 1024
NO_CHANGE_WALL_S = 5.0
MUTATION_WALL_S = 60.0
NIGHTLY_WALL_S = 30.0
MUTATE = {"contacts": 1_000, "companies": 100}
OBJECTS: tuple[ObjectType, ...] = ("contact", "company")
API_NAMES = {"contacts": "contact", "companies": "company", "deals": "deal"}
LIFECYCLE = "lifecyclestage"


@dataclass
class Target:
    phase: str
    figure: str
    target: str
    value: str
    ok: bool | None  # None: not measurable yet (counts as a miss)


@dataclass
class Run:
    """One CLI run: its JSON summary, wall time and the sandbox calls made meanwhile."""

    summary: dict[str, Any]
    wall: float
    calls: Counter[str] = field(default_factory=Counter)

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    def calls_per_object(self) -> Counter[str]:
        """API calls by the object type their path names (search, list, batch, v4)."""
        out: Counter[str] = Counter()
        for template, n in self.calls.items():
            parts = template.split(" ", 1)[-1].split("/")
            named = [API_NAMES[p] for p in parts if p in API_NAMES]
            out[named[0] if named else "other"] += n
        return out


def run_cli(
    env: dict[str, str], url: str, args: Sequence[str], sampler: RssSampler, timeout: float
) -> Run:
    """Run ``segsync <args> --json`` with the sampler watching it; stats reset first."""
    admin(url, "POST", "reset-stats")
    started = time.monotonic()
    proc = psutil.Popen(
        [*segsync(), *args, "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    sampler.roots.append(proc)
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        sampler.roots.remove(proc)
    wall = time.monotonic() - started
    stats = admin(url, "GET", "stats")
    if proc.returncode:
        raise RuntimeError(f"segsync {' '.join(args)} failed ({proc.returncode}): {err or out}")
    return Run(json.loads(out), wall, Counter(stats["requests"]))


def describe(label: str, run: Run) -> None:
    s = run.summary
    print(
        f"{label}: {run.wall:.1f} s wall; {run.total_calls:,} sandbox API calls "
        f"({', '.join(f'{k} {v:,}' for k, v in sorted(run.calls_per_object().items())) or '-'}); "
        f"pulled {s.get('records_pulled')}, changed {s.get('records_changed')}, segmented "
        f"{s.get('records_segmented')}, to write {s.get('records_to_write', 0):,}, written "
        f"{s.get('records_written', 0):,} records / {s.get('fields_written', 0):,} fields, "
        f"segsync counted {s.get('api_calls', 0):,} calls",
        flush=True,
    )
    for template, n in sorted(run.calls.items()):
        print(f"    {n:>8,}  {template}")


# ------------------------------------------------------------------ correctness


@dataclass
class Comparison:
    records: int = 0
    fields: int = 0
    mismatches: int = 0
    reasons_differing: int = 0  # informational: reasons move only with the segment
    per_field: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)


def check_correctness(url: str, database_url: str, now: datetime) -> Comparison:
    """Every record's segsync fields in the sandbox vs. a from-scratch recomputation.

    The recomputation segments the whole mirror (the run's PostgreSQL state) with the
    population statistics the runs applied (copied, with the CLV fit and centroids, into
    an empty state store) and plans a sync against that empty store: every record's
    values as a first sync with those statistics would write them. The sandbox's values
    come from ``/_sandbox/values`` (no API calls). Time-stamp companions
    (``*_entered_at``, ``*_previous``, ``updated_at``) and the lifecycle stage (moved
    forward only, so it depends on history) are left out; reasons, written only with a
    change of segment, are counted apart (``reasons_differing``, not a miss).
    """
    book = load_playbook(PLAYBOOK)
    connector = HubSpotConnector(
        HubSpotConfig(
            base_url=url, token=SecretStr(TOKEN), requests_per_10s=1_000_000, search_lag_seconds=0
        )
    )
    field_map = load_field_map("hubspot")
    with StateStore(database_url) as source, StateStore("sqlite://") as scratch:
        scratch.migrate()
        for name in (CLV_STATE, CLUSTER_STATE, STATISTICS_STATE):
            scratch.save_model_state("hubspot", name, source.get_model_state("hubspot", name))
        kept = source.get_model_state("hubspot", MIRROR_STATE) or {}
        numbers = numeric_outputs(connector, book, field_map.object_types())
        shape = mirror_shape(field_map, book, kept.get("outputs", {}), numbers)
        frames = load_frames(source, shape, playbook_mode(book))
        pulled = Pulled(frames, {}, None, [], whole=False)
        plan = plan_sync(connector, scratch, pulled, book, now=now)
    out = Comparison()
    for object_type in OBJECTS:
        names = [
            connector.field_name(s.name)
            for s in field_specs(book, object_type)
            if not is_companion(connector.field_name(s.name))
        ]
        reasons = {n for n in names if n.endswith("_reason")}
        diff = plan.diffs.get(object_type)
        expected = {w.record_id: w.fields for w in diff.writes} if diff else {}
        after: int | None = 0
        while after is not None:
            page = admin(
                url,
                "POST",
                "values",
                json={"object_type": object_type, "properties": names, "after": after},
            )
            for i, record_id in enumerate(page["ids"]):
                out.records += 1
                want = expected.get(record_id, {})
                for name in names:
                    got = page["values"][name][i] or ""
                    wanted = want.get(name) or ""
                    if wanted and got and _is_number(wanted):
                        wanted, got = normalize_number(wanted), normalize_number(got)
                    if name in reasons:
                        # Written only with a change of segment: a record that kept its
                        # segment keeps the reason of when it entered (README).
                        out.reasons_differing += got != wanted
                        continue
                    out.fields += 1
                    if got != wanted:
                        out.mismatches += 1
                        out.per_field[name] += 1
                        if len(out.examples) < 8:
                            out.examples.append(
                                f"{object_type} {record_id} {name}: sandbox {got!r}, "
                                f"recomputed {wanted!r}"
                            )
            after = page["next"]
    return out


# HubSpot (fact sheet): search pages of 200, association batch reads of 1,000 ids per
# linked type, batch updates of 100. The linked types each object type is read with.
LINKED = {"contact": 1, "company": 0, "deal": 2}


def needed_calls(summary: dict[str, Any]) -> int:
    """The fewest calls that read a run's changed records with their associations and
    write what it wrote: the yardstick of phase 4 (writes split over the two written
    object types count one batch more at most)."""
    pulled: dict[str, int] = summary.get("records_pulled") or {}
    reads = sum(
        math.ceil(n / 200) + LINKED.get(t, 0) * math.ceil(n / 1000) for t, n in pulled.items()
    )
    written = int(summary.get("records_written") or 0)
    writes = math.ceil(written / 100) + (1 if written > 100 else 0)
    return reads + writes


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# ------------------------------------------------------------------ phase 5


def nightly_command() -> list[str] | None:
    """The CLI command of the nightly full re-segmentation from the mirror, if there is one.

    Looks for a ``resegment`` command or a ``sync --from-mirror`` option; adjust this
    function to the name the mirror work settles on.
    """
    from workers.cli.main import main

    commands = getattr(main, "commands", {})
    if "resegment" in commands:
        return ["resegment", "--crm", "hubspot"]
    sync = commands.get("sync")
    if sync is not None and any("--from-mirror" in p.opts for p in sync.params):
        return ["sync", "--crm", "hubspot", "--from-mirror"]
    return None


# ------------------------------------------------------------------ fixtures


@contextmanager
def emptied_database(url: str) -> Iterator[str]:
    """The database of ``url`` with an empty ``public`` schema (it must be this run's own)."""
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(sa.text("CREATE SCHEMA public"))
    engine.dispose()
    yield url


def environment(
    sandbox: str, redis_url: str, database_url: str, rate: int, search_rate: int = 4
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEGSYNC_")}
    env.update(
        SEGSYNC_HUBSPOT_BASE_URL=sandbox,
        SEGSYNC_HUBSPOT_TOKEN=TOKEN,
        SEGSYNC_HUBSPOT_SEARCH_LAG_SECONDS="0",
        SEGSYNC_HUBSPOT_REQUESTS_PER_10S=str(rate),
        SEGSYNC_HUBSPOT_SEARCH_REQUESTS_PER_SECOND=str(search_rate),
        SEGSYNC_REDIS_URL=redis_url,
        SEGSYNC_DATABASE_URL=database_url,
        SEGSYNC_PLAYBOOK=PLAYBOOK,
        SEGSYNC_TASK_VISIBILITY_SECONDS="14400",
    )
    return env


# ------------------------------------------------------------------ the run


def run(args: argparse.Namespace) -> int:
    contacts, companies, deals = args.contacts, args.contacts // 5, args.contacts * 2 // 5
    print(
        f"scale run: {contacts:,} contacts, {companies:,} companies, {deals:,} deals; "
        f"sandbox limit {args.rate_limit} requests / 10 s, {args.search_rate + 1} searches / s; "
        f"{args.workers} workers",
        flush=True,
    )
    targets: list[Target] = []
    logs = Path(tempfile.mkdtemp(prefix="segsync-scale-"))
    seeding = time.monotonic()
    with (
        sandbox_process(
            "--contacts",
            str(contacts),
            "--companies",
            str(companies),
            "--deals",
            str(deals),
            "--seed",
            str(args.seed),
            "--rate-limit",
            str(args.rate_limit),
            "--search-rate-per-second",
            str(args.search_rate + 1),  # segsync paces itself one below, as for HubSpot's 5
            "--daily-limit",
            str(100_000_000),
            ready_timeout=1800,
        ) as url,
        dedicated_redis(args.redis_url) as redis_url,
        emptied_database(args.database_url) as database_url,
    ):
        print(f"sandbox seeded and serving in {time.monotonic() - seeding:.1f} s", flush=True)
        env = environment(url, redis_url, database_url, args.rate_limit, args.search_rate)
        schema_apply(env)
        workers = Workers(env, logs)
        workers.start(args.workers)
        try:
            workers.wait_ready()
            sampler = RssSampler([psutil.Process(p.pid) for p in workers.procs])
            with sampler:
                targets += phases(args, env, url, sampler)
        finally:
            workers.stop()
        print(f"worker logs in {logs}")
    print("--- targets")
    width = max(len(t.figure) for t in targets)
    missed = 0
    for t in targets:
        verdict = "PASS" if t.ok else "FAIL" if t.ok is False else "NOT IMPLEMENTED"
        missed += not t.ok
        print(f"  {t.phase:<3} {t.figure:<{width}}  {t.target:>12}  {t.value:>14}  {verdict}")
    print("all targets met" if not missed else f"{missed} target(s) missed")
    return 1 if missed else 0


def phases(
    args: argparse.Namespace, env: dict[str, str], url: str, sampler: RssSampler
) -> list[Target]:
    targets: list[Target] = []
    sync = ["sync", "--crm", "hubspot", "--timeout", str(args.timeout)]

    print("--- phase 1: full sync", flush=True)
    full = run_cli(env, url, [*sync, "--full"], sampler, args.timeout)
    describe("full sync", full)
    print("    peak RSS per segsync process (VmHWM):")
    for pid, (name, mb) in sorted(sampler.peak_by_pid.items()):
        print(f"      {pid:>7}  {mb:>8,.0f} MB  {name}")
    peak = sampler.peak_total_mb
    print(f"    peak RSS of all segsync processes together (sampled): {peak:,.0f} MB")
    targets.append(
        Target(
            "1",
            "peak RSS, segsync processes",
            "<= 2.5 GB",
            f"{peak:,.0f} MB",
            peak <= RSS_TARGET_MB,
        )
    )
    targets.append(Target("1", "full sync wall", "(figure)", f"{full.wall:,.0f} s", True))
    targets.append(Target("1", "full sync API calls", "(figure)", f"{full.total_calls:,}", True))

    print("--- phase 2: the next incremental run", flush=True)
    nxt = run_cli(env, url, sync, sampler, args.timeout)
    describe("next incremental", nxt)
    segmented = sum((nxt.summary.get("records_segmented") or {}).values())
    written = int(nxt.summary.get("fields_written") or 0)
    targets.append(Target("2", "records re-segmented", "0", f"{segmented:,}", segmented == 0))
    targets.append(Target("2", "fields written", "0", f"{written:,}", written == 0))

    print("--- phase 3: incremental, nothing changed", flush=True)
    idle = run_cli(env, url, sync, sampler, args.timeout)
    describe("idle incremental", idle)
    per_object = idle.calls_per_object()
    for object_type in ("contact", "company", "deal"):
        n = per_object.get(object_type, 0)
        targets.append(Target("3", f"API calls, {object_type}", "<= 1", str(n), n <= 1))
    if per_object.get("other"):
        print(f"    {per_object['other']} calls name no object type")
    targets.append(
        Target("3", "wall", "<= 5 s", f"{idle.wall:.1f} s", idle.wall <= NO_CHANGE_WALL_S)
    )

    print("--- phase 4: 1,000 contacts + 100 companies changed", flush=True)
    for object_type, count in MUTATE.items():
        admin(url, "POST", "mutate", json={"object_type": object_type, "count": count})
    changed = run_cli(env, url, sync, sampler, args.timeout)
    describe("after mutation", changed)
    needed = needed_calls(changed.summary)
    print(
        f"    calls needed to read the changed records and their associations and to write "
        f"what changed: {needed:,} (search pages of 200, association reads of 1,000 per "
        "linked type, batch writes of 100 per object type)"
    )
    targets.append(
        Target(
            "4",
            "API calls / needed",
            "<= 1.2",
            f"{changed.total_calls:,} / {needed:,}",
            changed.total_calls <= 1.2 * needed,
        )
    )
    targets.append(
        Target("4", "wall", "<= 60 s", f"{changed.wall:.1f} s", changed.wall <= MUTATION_WALL_S)
    )

    if args.check:
        print("--- correctness: sandbox vs. a from-scratch recomputation", flush=True)
        started = time.monotonic()
        check = check_correctness(url, args.database_url, datetime.now(UTC))
        print(
            f"    {check.records:,} records, {check.fields:,} field values compared in "
            f"{time.monotonic() - started:.0f} s; {check.mismatches:,} differ; "
            f"{check.reasons_differing:,} reasons differ (kept from when the record entered "
            "its segment: not compared)"
        )
        for name, n in check.per_field.most_common(12):
            print(f"      {n:>8,}  {name}")
        for example in check.examples:
            print(f"      e.g. {example}")
        targets.append(
            Target(
                "4",
                "fields differing from recomputation",
                "0",
                f"{check.mismatches:,}",
                check.mismatches == 0,
            )
        )
    print("--- phase 5: nightly full re-segmentation from the mirror", flush=True)
    command = nightly_command()
    if command is None:
        print("    not yet implemented: no CLI command re-segments from the mirror")
        targets.append(Target("5", "API reads", "0", "-", None))
        targets.append(Target("5", "wall", "<= 30 s", "-", None))
    else:
        sampler.reset()
        nightly = run_cli(env, url, command, sampler, args.timeout)
        describe("nightly re-segmentation", nightly)
        largest = max(sampler.since_reset_mb.values(), default=0.0)
        print(
            f"    peak RSS during the run: largest segsync process {largest:,.0f} MB, all "
            f"together {sampler.since_reset_total_mb:,.0f} MB (sampled)"
        )
        reads = sum(n for k, n in nightly.calls.items() if "batch/update" not in k)
        targets.append(Target("5", "API reads", "0", str(reads), reads == 0))
        targets.append(
            Target("5", "wall", "<= 30 s", f"{nightly.wall:.1f} s", nightly.wall <= NIGHTLY_WALL_S)
        )
        targets.append(
            Target(
                "5",
                "peak RSS, largest process",
                "<= 2.5 GB",
                f"{largest:,.0f} MB",
                largest <= RSS_TARGET_MB,
            )
        )

    return targets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument(
        "--database-url",
        default="postgresql+psycopg://postgres@127.0.0.1:5432/h13_scale",
        help="this run's own database: its public schema is emptied first",
    )
    parser.add_argument(
        "--redis-url", default="redis://127.0.0.1:6379/12", help="flushed before and after"
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--rate-limit", type=int, default=1000, help="sandbox (and segsync) requests per 10 s"
    )
    parser.add_argument(
        "--search-rate",
        type=int,
        default=4,
        help="segsync's search requests per second (HubSpot allows 5; the sandbox one more)",
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--timeout", type=float, default=14_400, help="seconds per CLI run")
    parser.add_argument(
        "--no-check",
        dest="check",
        action="store_false",
        help="skip the comparison with a from-scratch recomputation",
    )
    sys.exit(run(parser.parse_args()))


if __name__ == "__main__":
    main()
