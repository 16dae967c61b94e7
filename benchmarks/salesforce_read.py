"""Benchmark: stream 100,000 Contacts from the sandbox's Salesforce dialect.

Target (issue 3): peak RSS of the reading process under 300 MB. Prints records/s and
API calls (SOQL pages of up to 2,000 rows). Run by hand:

    .venv/bin/python -m benchmarks.salesforce_read [--contacts 100000]
"""

from __future__ import annotations

import argparse
import time

from pydantic import SecretStr

from benchmarks._harness import TOKEN, admin, peak_rss_mb, sandbox_process
from connectors.salesforce.connector import SalesforceConfig, SalesforceConnector
from connectors.salesforce.session import SalesforceAuth

FIELDS = ["FirstName", "LastName", "Email", "Title", "MailingCountry", "AccountId", "LeadSource"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contacts", type=int, default=100_000)
    args = parser.parse_args()
    serve = [
        "--dialect",
        "salesforce",
        "--contacts",
        str(args.contacts),
        "--companies",
        "2000",
        "--deals",
        "100",
    ]
    with sandbox_process(*serve) as url:
        connector = SalesforceConnector(
            SalesforceConfig(
                auth=SalesforceAuth(instance_url=url, session_id=SecretStr(TOKEN)), lag_seconds=0
            )
        )
        rss_before = peak_rss_mb()
        started = time.monotonic()
        records = 0
        for batch in connector.read_all("contact", FIELDS):
            records += len(batch)
        elapsed = time.monotonic() - started
        stats = admin(url, "GET", "stats")
    print(f"contacts read       {records}")
    print(f"API calls           {connector.usage().calls_made}")
    print(f"wall time           {elapsed:.1f} s  ({records / elapsed:,.0f} records/s)")
    print(
        f"peak RSS            {peak_rss_mb():.0f} MB (before reading {rss_before:.0f} MB; "
        "target < 300)"
    )
    print(f"sandbox requests    {sum(stats['requests'].values())}")


if __name__ == "__main__":
    main()
