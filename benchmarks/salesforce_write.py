"""Benchmark: Salesforce write-back through Bulk API 2.0 and sObject Collections.

Targets (issue 3): 50,000 Contact updates go through Bulk API 2.0 in a handful of jobs
(API calls printed); 1,000 updates through collections in 5 calls; with 10% injected
faults every write is still applied exactly once (read back via /_sandbox/records).
Run by hand:

    .venv/bin/python -m benchmarks.salesforce_write [--bulk 50000] [--faults 0.1]
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ThreadPoolExecutor

import requests
from pydantic import SecretStr

from benchmarks._harness import TOKEN, admin, peak_rss_mb, sandbox_process
from connectors.base import FieldSpec, FieldWrite
from connectors.salesforce.connector import SalesforceConfig, SalesforceConnector
from connectors.salesforce.session import SalesforceAuth

SPEC = FieldSpec("bench_value", "Benchmark value", "string")


def run(url: str, ids: list[str], label: str, faults: str, tag: str) -> None:
    connector = SalesforceConnector(
        SalesforceConfig(
            auth=SalesforceAuth(instance_url=url, session_id=SecretStr(TOKEN)),
            lag_seconds=0,
            bulk_poll_interval=0.5,
        )
    )
    field = connector.field_name(SPEC.name)
    admin(url, "POST", "faults", data=faults)
    writes = [FieldWrite("contact", i, {field: f"{tag}-{i}"}) for i in ids]
    started = time.monotonic()
    results = connector.write(writes)
    elapsed = time.monotonic() - started
    calls = connector.usage().calls_made
    admin(url, "POST", "faults", data="0")
    session = requests.Session()

    def exact(record_id: str) -> bool:
        body = session.get(f"{url}/_sandbox/records/contacts/{record_id}", timeout=30).json()
        return bool(
            body["properties"].get(field) == f"{tag}-{record_id}"
            and body["changes"].get(field) == 1
        )

    with ThreadPoolExecutor(8) as pool:
        applied = sum(pool.map(exact, ids))
    failed = [r for r in results if not r.ok]
    jobs = len(connector.bulk_jobs)
    print(f"--- {label}, faults {faults!r}")
    print(f"updates             {len(ids)}  (not ok: {len(failed)})")
    print(f"API calls           {calls}  (bulk jobs: {jobs})")
    print(f"wall time           {elapsed:.2f} s")
    print(f"applied exactly once {applied} / {len(ids)}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bulk", type=int, default=50_000)
    parser.add_argument("--collections", type=int, default=1_000)
    parser.add_argument("--faults", default="429=0.0334,5xx=0.0333,drop=0.0333")
    args = parser.parse_args()
    faulty_bulk_size = min(args.bulk, 10_000)
    total = args.bulk + 2 * args.collections + faulty_bulk_size
    serve = [
        "--dialect",
        "salesforce",
        "--contacts",
        str(total),
        "--companies",
        "500",
        "--deals",
        "100",
    ]
    with sandbox_process(*serve) as url:
        setup = SalesforceConnector(
            SalesforceConfig(
                auth=SalesforceAuth(instance_url=url, session_id=SecretStr(TOKEN)), lag_seconds=0
            )
        )
        setup.apply_schema("contact", [SPEC])
        ids = [r.id for b in setup.read_all("contact", []) for r in b.records]
        if len(ids) < total:
            raise SystemExit(f"the sandbox seeded {len(ids)} contacts; {total} are needed")
        bulk, small = ids[: args.bulk], ids[args.bulk : args.bulk + args.collections]
        faulty = ids[args.bulk + args.collections : args.bulk + 2 * args.collections]
        run(url, bulk, "Bulk API 2.0", "0", "b")
        run(url, small, "collections", "0", "c")
        run(url, faulty, "collections", args.faults, "f")
        start = args.bulk + 2 * args.collections
        run(url, ids[start : start + faulty_bulk_size], "Bulk API 2.0", args.faults, "g")
    print(f"peak RSS            {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
