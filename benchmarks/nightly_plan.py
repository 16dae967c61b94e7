"""Benchmark: the nightly plan from the mirror on a big state store, in one process.

Issue 13's nightly target (no API reads, <= 30 s, <= 2.5 GB) at a size the sandbox
takes hours to reach: the state of a small ``scale.py`` run is copied ``--copies`` times
with ids offset (``--from`` database into ``--into``, both on one PostgreSQL server),
then ``pull_population(from_mirror=True)`` + ``plan_sync`` run with a ``deliver`` that
only counts, as the Celery segment task would, timing and sampling RSS.

    python -m benchmarks.scale --contacts 20000 --database-url .../s20 --redis-url ...
    python -m benchmarks.nightly_plan --server postgresql+psycopg://postgres@127.0.0.1:5432 \\
        --from s20 --into n1m --copies 50

Copies share their originals' statistics, cursors and the records written after their
last read (phase 4 of the scale run, ~1,000 of 20,000, so ~51,000 here where a real
million would have ~1,100): those look their written history up, an upper bound.
"""

from __future__ import annotations

import argparse
import os
import threading
import time

import psutil
import sqlalchemy as sa

TARGET_SECONDS = 30.0
TARGET_MB = 2500
OFFSET = 100_000_000_000  # added k times to every id of copy k (HubSpot ids are digits)

_COPY = """
INSERT INTO mirror_records (crm, object_type, id, modified_at, company_id, contact_id,
    inputs, outputs, read_mark, written_at)
SELECT crm, object_type, (id::bigint + k * {o})::text, modified_at,
    (company_id::bigint + k * {o})::text, (contact_id::bigint + k * {o})::text,
    inputs, outputs, read_mark, written_at
FROM mirror_records, generate_series(1, {n} - 1) k;
INSERT INTO written_values (crm, object_type, record_id, field, value, previous_value,
    written_at, entered_at)
SELECT crm, object_type, (record_id::bigint + k * {o})::text, field, value, previous_value,
    written_at, entered_at
FROM written_values, generate_series(1, {n} - 1) k;
"""


def build(server: str, source: str, target: str, copies: int) -> None:
    """``target`` = ``source``'s state with every record copied ``copies`` times."""
    admin = sa.create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{target}"'))
        conn.execute(sa.text(f'CREATE DATABASE "{target}" TEMPLATE "{source}"'))
    admin.dispose()
    engine = sa.create_engine(f"{server}/{target}")
    with engine.begin() as conn:
        for statement in _COPY.format(o=OFFSET, n=copies).split(";"):
            if statement.strip():
                conn.execute(sa.text(statement))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE"))
    engine.dispose()


def measure(database_url: str) -> tuple[float, int, dict[str, int], int]:
    """Seconds, peak RSS (MB), records segmented and records to write of one nightly plan."""
    os.environ["SEGSYNC_DATABASE_URL"] = database_url
    os.environ.setdefault("SEGSYNC_HUBSPOT_BASE_URL", "http://127.0.0.1:9")  # never called
    os.environ.setdefault("SEGSYNC_HUBSPOT_TOKEN", "pat-na1-00000000-0000-0000-0000-00000000000")
    os.environ.setdefault("SEGSYNC_PLAYBOOK", "b2b_saas")
    from connectors.base import FieldWrite, ObjectType
    from workers.settings import Settings
    from workers.state import StateStore
    from workers.sync.mirror_pull import pull_population
    from workers.sync.plan import load_playbook, plan_sync
    from workers.sync.runner import build_connector

    process = psutil.Process()
    peak = [process.memory_info().rss]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            peak[0] = max(peak[0], process.memory_info().rss)

    settings = Settings()
    connector = build_connector(settings, "hubspot")
    book = load_playbook(settings.playbook)
    delivered = [0]

    def deliver(_type: ObjectType, writes: list[FieldWrite], _repairs: set[str]) -> None:
        delivered[0] += len(writes)

    threading.Thread(target=sample, daemon=True).start()
    started = time.monotonic()
    with StateStore(settings.database_url) as store:
        pulled = pull_population(connector, store, book, full=False, from_mirror=True, load=False)
        plan = plan_sync(connector, store, pulled, book, deliver=deliver)
    seconds = time.monotonic() - started
    done.set()
    assert connector.usage().calls_made == 0, "the nightly plan called the CRM"
    return seconds, peak[0] >> 20, plan.segmented, plan.records_to_write


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", default="postgresql+psycopg://postgres@127.0.0.1:5432")
    parser.add_argument("--from", dest="source", help="database of a small scale.py run")
    parser.add_argument("--into", required=True, help="database to build (dropped first)")
    parser.add_argument("--copies", type=int, default=50)
    parser.add_argument("--no-build", action="store_true", help="measure --into as it is")
    args = parser.parse_args()
    if not args.no_build:
        if not args.source:
            parser.error("--from is needed to build --into")
        began = time.monotonic()
        build(args.server, args.source, args.into, args.copies)
        print(f"built {args.into}: {args.copies} copies in {time.monotonic() - began:.0f} s")
    database = f"{args.server}/{args.into}"
    try:
        sa.create_engine(database).connect().close()
    except sa.exc.OperationalError as exc:
        parser.error(f"cannot open {args.into} on {args.server}: {str(exc.orig).strip()}")
    seconds, peak_mb, segmented, to_write = measure(database)
    print(
        f"nightly plan: {seconds:.1f} s, peak RSS {peak_mb:,} MB; segmented {segmented}; "
        f"to write {to_write:,}; 0 API calls"
    )
    met = seconds <= TARGET_SECONDS and peak_mb <= TARGET_MB
    print(
        f"targets <= {TARGET_SECONDS:.0f} s and <= {TARGET_MB:,} MB: {'met' if met else 'MISSED'}"
    )
    raise SystemExit(0 if met else 1)


if __name__ == "__main__":
    main()
