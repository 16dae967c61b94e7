"""Benchmark: 20,000 contact updates at 100 requests / 10 s, clean and with 10% faults.

Targets (issue 2): within 1.1x the ideal (200 batch calls at the limit rate), zero
rejected; with 10% injected 429/5xx/dropped connections every update still applied
exactly once (read back through /_sandbox/records), and the sandbox's stats show the
client stayed under the limit except for injected faults. Run by hand:

    .venv/bin/python benchmarks/hubspot_write.py [--updates 20000] [--faults 0.1]
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ThreadPoolExecutor

import requests
from pydantic import SecretStr

from benchmarks._harness import TOKEN, admin, peak_rss_mb, sandbox_process
from connectors.base import FieldSpec, FieldWrite
from connectors.hubspot.connector import HubSpotConnector
from connectors.hubspot.options import HubSpotConfig

SPEC = FieldSpec("bench_value", "Benchmark value", "string")


def run(updates: int, rate_limit: int, faults: str) -> None:
    serve = [
        "--contacts",
        str(updates),
        "--companies",
        "500",
        "--deals",
        "100",
        "--rate-limit",
        str(rate_limit),
        "--faults",
        "0",
    ]
    with sandbox_process(*serve) as url:
        connector = HubSpotConnector(
            HubSpotConfig(
                base_url=url,
                token=SecretStr(TOKEN),
                requests_per_10s=rate_limit,
                search_lag_seconds=0,
            )
        )
        connector.apply_schema("contact", [SPEC])
        ids = [r.id for b in connector.read_all("contact", []) for r in b.records]
        admin(url, "POST", "reset-stats")
        admin(url, "POST", "faults", data=faults)
        # Start with a fresh window so setup calls do not eat into the measured one.
        time.sleep(10.5)
        calls_before = connector.usage().calls_made
        writes = [FieldWrite("contact", i, {"segsync_bench_value": f"v-{i}"}) for i in ids]
        started = time.monotonic()
        results = connector.write(writes)
        elapsed = time.monotonic() - started
        calls = connector.usage().calls_made - calls_before
        stats = admin(url, "GET", "stats")
        admin(url, "POST", "faults", data="0")

        session = requests.Session()

        def check(record_id: str) -> bool:
            body = session.get(f"{url}/_sandbox/records/contacts/{record_id}", timeout=30).json()
            return bool(
                body["properties"].get("segsync_bench_value") == f"v-{record_id}"
                and body["changes"].get("segsync_bench_value") == 1
            )

        with ThreadPoolExecutor(8) as pool:
            exact = sum(pool.map(check, ids))

    batch_calls = -(-len(ids) // 100)
    ideal = batch_calls / (rate_limit / 10.0)
    rejected = sum(1 for r in results if not r.ok)
    print(f"--- faults {faults!r}")
    print(f"updates             {len(ids)}  (rejected {rejected})")
    print(f"HTTP calls          {calls}  (ideal {batch_calls} batch calls)")
    print(
        f"wall time           {elapsed:.1f} s; ideal {ideal:.1f} s; ratio {elapsed / ideal:.3f}"
        "  (target <= 1.1 without faults)"
    )
    print(f"applied exactly once {exact} / {len(ids)}")
    print(
        f"sandbox stats       rate_limited {stats['rate_limited']}, faults_injected "
        f"{stats['faults_injected']}, records_written {stats['records_written']}, "
        f"max requests in a 10 s window {stats.get('max_requests_in_window')}"
    )
    print(f"peak RSS            {peak_rss_mb():.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--updates", type=int, default=20_000)
    parser.add_argument("--rate-limit", type=int, default=100)
    parser.add_argument("--faults", default="429=0.0334,5xx=0.0333,drop=0.0333")
    args = parser.parse_args()
    run(args.updates, args.rate_limit, "0")
    run(args.updates, args.rate_limit, args.faults)


if __name__ == "__main__":
    main()
