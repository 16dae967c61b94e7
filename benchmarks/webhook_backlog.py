"""Benchmark: what a backlog of undelivered webhook events costs the sandbox in memory.

A full sync writes ~20 segsync fields to every record, and HubSpot sends one event per
changed property: at 400,000 contacts ~14 million events, faster than a receiver takes
them, so millions wait in the sandbox at once (the events benchmark's sandbox peaked at
11 GB there). This starts a sandbox in this process whose webhook URL nobody answers
(the events stay pending: retried after a minute), writes ``--fields`` fields to every
one of ``--contacts`` contacts through batch updates, and reports the backlog's peak and
the process's RSS growth per pending event.

    python -m benchmarks.webhook_backlog [--contacts 50000] [--fields 20]

Target: <= 200 bytes per pending event (exits 1 when missed), so that the backlog of
a 1,000,000-contact full sync (~35 million events) fits beside the sandbox's records.
The figure includes fixed costs (the delivery log keeps its last 100,000 events, ~60 MB),
so it means something from about a million events on (the default).
"""

from __future__ import annotations

import argparse
import sys
import time

import psutil
import requests

from benchmarks._harness import free_port, hubspot_sandbox
from benchmarks.sandbox_size import HEADERS, _write_fields

TARGET_BYTES = 200


def _formatted(url: str) -> dict[str, int]:
    """The webhook counters once every recorded change was made into events."""
    last = -1
    while True:
        counters: dict[str, int] = requests.get(f"{url}/_sandbox/webhooks", timeout=60).json()[
            "counters"
        ]
        if counters["pending"] == last:
            return counters
        last = counters["pending"]
        time.sleep(1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=50_000)
    parser.add_argument("--fields", type=int, default=20)
    args = parser.parse_args()
    server = hubspot_sandbox(
        args.contacts,
        rate_limit=1_000_000,
        webhook_url=f"http://127.0.0.1:{free_port()}/nobody-home",
        webhook_retry_seconds=60.0,
        webhook_timeout_seconds=1.0,
    )
    try:
        proc = psutil.Process()
        session = requests.Session()
        session.headers.update(HEADERS)
        before = proc.memory_info().rss
        seconds = _write_fields(session, server.url, "contacts", args.contacts, args.fields)
        counters = _formatted(server.url)
        grown = proc.memory_info().rss - before
    finally:
        server.stop()
    pending = counters["pending"]
    per_event = grown / max(1, pending)
    print(
        f"{args.contacts:,} contacts x {args.fields} fields written in {seconds:.1f} s; "
        f"events pending {pending:,} (peak {counters['pending_peak']:,})"
    )
    print(
        f"RSS grew {grown / 2**20:,.0f} MB: {per_event:.0f} bytes per pending event, "
        "the written values included"
    )
    met = per_event <= TARGET_BYTES
    print(f"target <= {TARGET_BYTES} bytes per pending event: {'met' if met else 'MISSED'}")
    sys.exit(0 if met else 1)


if __name__ == "__main__":
    main()
