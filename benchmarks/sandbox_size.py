"""Benchmark: how big a sandbox HubSpot CRM this machine holds, and what its hot calls cost.

For each size (contacts; companies = contacts / 5, deals = 2 * contacts / 5, the ratios
of issue 13's 1,000,000 / 200,000 / 400,000) it starts ``segsync sandbox serve`` in its
own process and reports:

* seeding time: from starting the process to ``/_sandbox/health`` answering;
* the sandbox's RSS once seeded, and after ``--write-fields`` segsync-like fields were
  written to every contact and company through batch updates (what a full sync leaves);
* the time of the calls a sync makes at that size, measured at the client: a list page
  deep into the table, an incremental search page (modified time after a cursor, sorted
  by it; after a full sync's writes that range is the whole table), the tie read that
  follows it (modified time EQ, id GT, sorted by id), a batch read of 100 contacts and a
  v4 association batch read.

    python -m benchmarks.sandbox_size [--sizes 200000 500000 1000000] [--write-fields 30]

The write step goes through the API with a raised rate limit; it takes a while at 1M
(10,000 batch updates per 1M records), so ``--write-fields 0`` skips it.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import psutil
import requests

from benchmarks._harness import TOKEN, free_port

HEADERS = {"Authorization": f"Bearer {TOKEN}"}


def _timed(call: Callable[[], requests.Response], repeat: int = 5) -> float:
    """Median wall time of ``repeat`` calls in ms (each must succeed)."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = call()
        times.append((time.perf_counter() - started) * 1000)
        if response.status_code >= 300 and response.status_code != 207:
            raise RuntimeError(f"{response.status_code}: {response.text[:300]}")
    return statistics.median(times)


def _search(url: str, obj: str, body: dict[str, Any]) -> requests.Response:
    return requests.post(
        f"{url}/crm/v3/objects/{obj}/search", json=body, headers=HEADERS, timeout=600
    )


def _write_fields(session: requests.Session, url: str, obj: str, n: int, fields: int) -> float:
    """Write ``fields`` string properties to every record of ``obj``; returns seconds."""
    names = [f"segsync_bench_{i}" for i in range(fields)]
    session.post(
        f"{url}/crm/v3/properties/{obj}/groups",
        json={"name": "segsync", "label": "segsync"},
        timeout=60,
    )
    for name in names:
        session.post(
            f"{url}/crm/v3/properties/{obj}",
            json={
                "name": name,
                "label": name,
                "type": "string",
                "fieldType": "text",
                "groupName": "segsync",
            },
            timeout=60,
        ).raise_for_status()
    started = time.monotonic()
    after: str | None = "0"
    while after is not None:
        page = session.get(
            f"{url}/crm/v3/objects/{obj}",
            params={"limit": "100", "after": after, "properties": "hs_object_id"},
            timeout=60,
        ).json()
        inputs = [
            {
                "id": r["id"],
                "properties": {
                    n: f"segment_{(int(r['id']) + i) % 7}: matched rule {i}"
                    for i, n in enumerate(names)
                },
            }
            for r in page["results"]
        ]
        if inputs:
            session.post(
                f"{url}/crm/v3/objects/{obj}/batch/update", json={"inputs": inputs}, timeout=60
            ).raise_for_status()
        after = page.get("paging", {}).get("next", {}).get("after")
    return time.monotonic() - started


def measure(contacts: int, write_fields: int) -> None:
    import subprocess
    import sys

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = [
        sys.executable,
        "-m",
        "workers.cli.main",
        "sandbox",
        "serve",
        "--port",
        str(port),
        "--contacts",
        str(contacts),
        "--companies",
        str(contacts // 5),
        "--deals",
        str(contacts * 2 // 5),
        "--rate-limit",
        "1000000",
        "--search-rate-per-second",
        "1000",
    ]
    started = time.monotonic()
    child = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        while True:
            if child.poll() is not None:
                raise RuntimeError(child.stderr.read().decode() if child.stderr else "exited")
            try:
                requests.get(f"{url}/_sandbox/health", timeout=2).raise_for_status()
                break
            except requests.RequestException:
                time.sleep(0.5)
        seeded = time.monotonic() - started
        proc = psutil.Process(child.pid)
        rss = proc.memory_info().rss / 2**20
        print(
            f"{contacts:>9,} contacts + {contacts // 5:,} companies + {contacts * 2 // 5:,} "
            f"deals: seeded in {seeded:.1f} s, RSS {rss:,.0f} MB",
            flush=True,
        )
        session = requests.Session()
        session.headers.update(HEADERS)
        if write_fields:
            spent = sum(
                _write_fields(session, url, obj, contacts, write_fields)
                for obj in ("contacts", "companies")
            )
            rss = proc.memory_info().rss / 2**20
            print(
                f"    after writing {write_fields} fields to every contact and company "
                f"({spent:.0f} s): RSS {rss:,.0f} MB",
                flush=True,
            )
        deep = str(contacts * 9 // 10 + 1)
        print(
            "    list page of 100 deep in the table: "
            f"{_timed(lambda: session.get(f'{url}/crm/v3/objects/contacts', params={'limit': '100', 'after': deep, 'associations': 'companies'}, timeout=60)):.1f} ms",  # noqa: E501
            flush=True,
        )
        changed = {
            "filterGroups": [
                {
                    "filters": [
                        {"propertyName": "lastmodifieddate", "operator": "GT", "value": "0"},
                        {
                            "propertyName": "lastmodifieddate",
                            "operator": "LTE",
                            "value": str(int(time.time() * 1000)),
                        },
                    ]
                }
            ],
            "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
            "limit": 200,
            "after": "0",
        }
        first = _search(url, "contacts", changed).json()
        print(
            f"    incremental search page (total {first['total']:,}): "
            f"{_timed(lambda: _search(url, 'contacts', changed)):.1f} ms",
            flush=True,
        )
        ts = first["results"][-1]["properties"]["lastmodifieddate"]
        tie = {
            "filterGroups": [
                {
                    "filters": [
                        {"propertyName": "lastmodifieddate", "operator": "EQ", "value": ts},
                        {"propertyName": "hs_object_id", "operator": "GT", "value": "0"},
                    ]
                }
            ],
            "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
            "limit": 200,
            "after": "0",
        }
        print(
            f"    tie read page: {_timed(lambda: _search(url, 'contacts', tie)):.1f} ms",
            flush=True,
        )
        page = session.get(
            f"{url}/crm/v3/objects/contacts", params={"limit": "100", "after": deep}, timeout=60
        ).json()
        ids = [{"id": r["id"]} for r in page["results"]]
        print(
            "    batch read of 100 contacts: "
            f"{_timed(lambda: session.post(f'{url}/crm/v3/objects/contacts/batch/read', json={'inputs': ids, 'properties': ['email', 'jobtitle']}, timeout=60)):.1f} ms; "  # noqa: E501
            "v4 associations of 100 contacts: "
            f"{_timed(lambda: session.post(f'{url}/crm/v4/associations/contacts/companies/batch/read', json={'inputs': ids}, timeout=60)):.1f} ms",  # noqa: E501
            flush=True,
        )
        mutate_ms = _timed(
            lambda: requests.post(
                f"{url}/_sandbox/mutate", json={"object_type": "contacts", "count": 5}, timeout=60
            )
        )
        print(f"    admin mutate of 5 random contacts: {mutate_ms:.1f} ms", flush=True)
        print(f"    RSS at the end {proc.memory_info().rss / 2**20:,.0f} MB", flush=True)
    finally:
        child.terminate()
        child.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[200_000, 500_000, 1_000_000])
    parser.add_argument(
        "--write-fields",
        type=int,
        default=30,
        help="string fields written to every contact and company (0: skip)",
    )
    args = parser.parse_args()
    for size in args.sizes:
        measure(size, args.write_fields)


if __name__ == "__main__":
    main()
