"""Benchmark: what isolating rejected rows costs (issue 12).

2,000 contacts on the sandbox; a full sync with 1%, 5% and 30% of records' writes
refused (sandbox fault ``reject=``; HubSpot refuses the whole batch and names no record).
Per share: batch write calls as a multiple of a clean run's (targets <= 2x at 1%,
<= 4x at 5%; none at 30%), the share of good rows landed by the sync, the retries it
takes until every bad row is isolated (rows the allowance did not reach are deferred and
sent again by each retry), and then one more ``deadletter retry`` with nothing changed,
which must make 0 write calls (permanent rejections wait for a change). Run by hand:

    .venv/bin/python -m benchmarks.bisect_cost [--contacts 2000] [--ratio 1.0]
"""

from __future__ import annotations

import argparse
import math
import tempfile
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from benchmarks._harness import TOKEN, admin, sandbox_process
from connectors.hubspot.connector import HubSpotConnector
from connectors.hubspot.options import HubSpotConfig
from workers.settings import Settings
from workers.state import StateStore
from workers.sync.crm_schema import apply_schema
from workers.sync.plan import load_playbook
from workers.sync.runner import retry_dead_letters, run_sync

BOOK = load_playbook("b2b_saas")
TARGETS = {0.01: 2.0, 0.05: 4.0}
MAX_RETRIES = 60


def batch_calls(url: str) -> int:
    """Batch update calls the sandbox answered so far (any status)."""
    requests = admin(url, "GET", "stats")["requests"]
    return sum(n for route, n in requests.items() if "batch/update" in route)


def connector(url: str, ratio: float) -> HubSpotConnector:
    config = HubSpotConfig(
        base_url=url,
        token=SecretStr(TOKEN),
        requests_per_10s=10_000,
        search_requests_per_second=1_000,
        search_lag_seconds=0,
        isolate_calls_ratio=ratio,
    )
    return HubSpotConnector(config)


def one_run(contacts: int, share: float, ratio: float) -> dict[str, Any]:
    """A full sync with ``share`` of the writes refused, then retries until isolated."""
    serve = ["--contacts", str(contacts), "--companies", str(contacts // 10)]
    serve += ["--deals", str(contacts // 5), "--rate-limit", "10000", "--faults", "0"]
    with sandbox_process(*serve) as url, tempfile.TemporaryDirectory() as tmp:
        settings = Settings(database_url=f"sqlite:///{Path(tmp) / 'state.db'}", redis_url=None)
        conn = connector(url, ratio)
        apply_schema(conn, BOOK, ["contact", "company"])
        if share:
            admin(url, "POST", "faults", data=f"reject={share}")
        before = batch_calls(url)
        report = run_sync(settings, "hubspot", BOOK, connector=conn, full=True)
        sync_calls = batch_calls(url) - before
        retries, retry_calls, deferred = 0, 0, report.deferred
        while deferred and retries < MAX_RETRIES:
            before = batch_calls(url)
            summary = retry_dead_letters(settings, conn)
            retry_calls += batch_calls(url) - before
            retries += 1
            deferred = summary["deferred"]
        before = batch_calls(url)
        again = retry_dead_letters(settings, conn)
        idle_calls = batch_calls(url) - before
        with StateStore(settings.database_url) as store:
            bad = sum(1 for d in store.list_dead_letters("hubspot") if d.kind == "permanent")
    return {
        "planned": report.records_to_write,
        "written": report.records_written,
        "rejected": report.rejected,
        "deferred": report.deferred,
        "sync_calls": sync_calls,
        "retries": retries,
        "retry_calls": retry_calls,
        "still_deferred": deferred,
        "bad": bad,
        "idle_calls": idle_calls,
        "idle_skipped": again["skipped_permanent"],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contacts", type=int, default=2000)
    parser.add_argument("--ratio", type=float, default=1.0, help="isolate_calls_ratio")
    args = parser.parse_args()
    clean = one_run(args.contacts, 0.0, args.ratio)
    clean_calls = clean["sync_calls"]
    expected = math.ceil(args.contacts / 100) + math.ceil(args.contacts / 10 / 100)
    print(f"clean run: {clean['planned']} records planned, {clean_calls} batch calls")
    print(f"           (100 per call: {expected}); written {clean['written']}")
    for share in (0.01, 0.05, 0.30):
        r = one_run(args.contacts, share, args.ratio)
        multiple = r["sync_calls"] / clean_calls
        good = r["planned"] - r["bad"]
        landed = r["written"] / good if good else 1.0
        target = TARGETS.get(share)
        verdict = "no target" if target is None else ("PASS" if multiple <= target else "FAIL")
        print(f"--- {share:.0%} of writes rejected (allowance {args.ratio}x the clean calls)")
        print(
            f"sync batch calls    {r['sync_calls']} = {multiple:.2f}x clean"
            + (f" (target <= {target:g}x): {verdict}" if target else f" ({verdict})")
        )
        print(
            f"good rows landed    {r['written']} / {good} = {landed:.1%} by the sync; "
            f"{r['rejected']} rejected, {r['deferred']} deferred"
        )
        converged = r["still_deferred"] == 0
        print(
            f"retries to isolate  {r['retries']} ({r['retry_calls']} batch calls); "
            f"{r['bad']} bad rows isolated as permanent"
            + ("" if converged else f"; {r['still_deferred']} still deferred after the cap")
        )
        idle = "PASS" if r["idle_calls"] == 0 and converged else "FAIL"
        print(
            f"retry, nothing changed: {r['idle_calls']} write calls, "
            f"{r['idle_skipped']} permanent letters skipped (target 0 calls): {idle}"
        )


if __name__ == "__main__":
    main()
