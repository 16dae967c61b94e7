"""Benchmark: stream 100,000 contacts from the sandbox at 100 requests / 10 s.

Targets (issue 2): peak RSS of the reading process under 300 MB; wall time no more
than 1.1x the limit-bound ideal (pages / limit rate). Run by hand:

    .venv/bin/python benchmarks/hubspot_read.py [--contacts 100000] [--rate-limit 100]
"""

from __future__ import annotations

import argparse
import time

from pydantic import SecretStr

from benchmarks._harness import TOKEN, admin, peak_rss_mb, sandbox_process
from connectors.hubspot.connector import HubSpotConnector
from connectors.hubspot.options import HubSpotConfig

PROPERTIES = [
    "email",
    "firstname",
    "lastname",
    "jobtitle",
    "country",
    "lifecyclestage",
    "createdate",
    "lastmodifieddate",
    "notes_last_updated",
    "hs_email_open",
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--rate-limit", type=int, default=100)
    args = parser.parse_args()

    serve = [
        "--contacts",
        str(args.contacts),
        "--companies",
        "2000",
        "--deals",
        "100",
        "--rate-limit",
        str(args.rate_limit),
    ]
    with sandbox_process(*serve) as url:
        connector = HubSpotConnector(
            HubSpotConfig(
                base_url=url,
                token=SecretStr(TOKEN),
                requests_per_10s=args.rate_limit,
                search_lag_seconds=0,
            )
        )
        rss_before = peak_rss_mb()
        started = time.monotonic()
        records = pages = 0
        for batch in connector.read_all("contact", PROPERTIES):
            records += len(batch)
            pages += 1
        elapsed = time.monotonic() - started
        stats = admin(url, "GET", "stats")

    ideal = pages / (args.rate_limit / 10.0)
    print(f"records read        {records}")
    print(f"pages (API calls)   {pages}  (client counted {connector.usage().calls_made})")
    print(f"wall time           {elapsed:.1f} s")
    print(f"records/s           {records / elapsed:,.0f}")
    print(f"limit-bound ideal   {ideal:.1f} s  ({pages} pages / {args.rate_limit / 10:g} per s)")
    print(f"ratio to ideal      {elapsed / ideal:.3f}  (target <= 1.1)")
    print(
        f"peak RSS            {peak_rss_mb():.0f} MB (before reading {rss_before:.0f} MB; "
        "target < 300)"
    )
    print(
        f"sandbox rate_limited {stats['rate_limited']}  "
        f"max requests in a 10 s window {stats.get('max_requests_in_window')}"
    )


if __name__ == "__main__":
    main()
