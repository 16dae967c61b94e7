"""The Celery path for real: `segsync worker` processes on Redis + PostgreSQL, sandbox CRM.

No eager mode: every test starts worker subprocesses (see ``tests.deployment``),
dispatches `segsync sync` to them and reads the results back from the sandbox
(``/_sandbox/records/...``: values and per-property change counts) and from the state
store. Each test gets its own PostgreSQL database and its own Redis database index.
"""

from __future__ import annotations

import json
import math
import time

import pytest

from tests.checks import assert_crm_holds, recompute, remembered
from tests.deployment import Deployment

pytestmark = pytest.mark.integration


def test_sync_through_a_worker_writes_everything_then_nothing_then_only_what_changed(
    deployment: Deployment,
) -> None:
    d = deployment
    d.start_sandbox(contacts=1500, companies=200, deals=400)
    with d.explained():
        d.segsync("schema", "apply", "--crm", "hubspot")
        d.wait_ready(d.start_worker(concurrency=2))

        first = d.segsync_json("sync", "--crm", "hubspot", "--full")
        assert first["mode"] == "full"
        assert first["records_segmented"] == {"contact": 1500, "company": 200}
        assert first["records_to_write"] == first["records_written"] == 1700
        assert first["rejected"] == first["dead_lettered"] == first["already_written"] == 0
        assert first["write_tasks"] == math.ceil(1700 / 500)
        written = d.written()
        assert len(written) == 1700
        # Every record holds exactly what the state store says was written, set once.
        assert_crm_holds(d, written, written_once=True)
        run = d.run(first["run_id"])
        assert run.status == "succeeded" and run.counts["records_written"] == 1700

        sent = d.stats()["records_written"]
        again = d.segsync_json("sync", "--crm", "hubspot", "--full")
        assert again["records_to_write"] == again["records_written"] == 0
        assert again["fields_unchanged"] > 0 and again["write_tasks"] == 0
        assert d.stats()["records_written"] == sent
        assert d.written() == written

        mutated = d.admin("POST", "mutate", json={"count": 100, "object_type": "contact"})
        people = {str(i) for i in mutated["ids"]}
        companies = {
            c for i in people for c in d.record("contact", i)["associations"].get("companies", [])
        }
        colleagues = {
            p for c in companies for p in d.record("company", c)["associations"].get("contacts", [])
        }
        affected = {("contact", i) for i in people | colleagues} | {
            ("company", c) for c in companies
        }
        before = d.written_rows()
        incremental = d.segsync_json("sync", "--crm", "hubspot")
        assert incremental["mode"] == "incremental"
        # Only what changed since the last sync is read: the edited contacts.
        assert incremental["records_pulled"]["contact"] == len(people)
        # The edits, told apart from the full sync's own writes (listed as changes too).
        changed, own = incremental["records_changed"], incremental["records_changed_by_segsync"]
        assert changed["contact"] - own["contact"] == len(people)
        assert 0 < incremental["records_written"] == incremental["records_to_write"]
        assert incremental["records_written"] <= len(affected)
        assert incremental["fields_written"] > 0 and incremental["fields_unchanged"] > 0
        after = d.written_rows()
        # What this run wrote: the fields whose written_at moved (the CRM-owned lifecycle
        # stage of a record the mutation moved on is left alone: forward only).
        fresh = {
            key: {
                name: value
                for name, (value, at) in fields.items()
                if (value, at) != before.get(key, {}).get(name)
            }
            for key, fields in after.items()
        }
        rewritten = {key for key, fields in fresh.items() if fields}
        assert len(rewritten) == incremental["records_written"]
        assert rewritten <= affected, sorted(rewritten - affected)[:10]
        assert_crm_holds(d, {k: fresh[k] for k in rewritten}, written_once=False)
        counts = d.run(incremental["run_id"]).counts
        for key in ("mode", "records_to_write", "records_written", "fields_written"):
            assert counts[key] == incremental[key], key
        assert counts["fields_unchanged"] == incremental["fields_unchanged"] > 0
        # The sandbox saw exactly those records written again, nothing else.
        assert d.stats()["records_written"] - sent == incremental["records_written"]


SLOW_RATE = 30  # requests per 10 s the sandbox allows ...
CLIENT_RATE = 25  # ... and the workers' shared limit (slack for clock and network jitter)
SLOW_SECONDS = 3  # how long the sandbox holds a request once writes are under way


def test_kill_9_of_a_worker_mid_write_loses_and_duplicates_nothing(
    deployment: Deployment,
) -> None:
    d = deployment
    server = d.start_sandbox(contacts=2000, companies=200, deals=400)
    with d.explained():
        d.segsync("schema", "apply", "--crm", "hubspot")
        # What a from-scratch run (empty state store, this process) writes to this CRM.
        expected = recompute(d)
        # The ~80 schema calls and the recomputation went fast; from here on the sandbox
        # refuses more than SLOW_RATE per rolling 10 s and the workers share a lower limit.
        server.state.limiter.rate_limit = SLOW_RATE
        d.settings.update(
            {
                "SEGSYNC_HUBSPOT_REQUESTS_PER_10S": str(CLIENT_RATE),
                # Longer than any one task under this limit (a rate-limit window at most):
                # Redis hands a task still running after this to another worker.
                "SEGSYNC_TASK_VISIBILITY_SECONDS": "20",
                "SEGSYNC_WRITE_CHUNK_SIZE": "40",
            }
        )
        worker = d.start_worker(concurrency=2)
        # Count from when the calls above have left the sandbox's window.
        d.wait_for(
            "the sandbox's rate window to drain",
            lambda: (
                d.admin("POST", "reset-stats")
                and not d.stats()["max_requests_in_window"].get("token-1")
            ),
            15,
        )
        d.wait_ready(worker)
        started = time.monotonic()
        sync = d.spawn("sync", "--crm", "hubspot", "--full", "--json", "--timeout", "300")

        # Writes are under way: batches sent, some records recorded, not all ...
        d.wait_for(
            "the first write tasks to finish",
            lambda: d.batch_updates() >= 3 and 0 < d.written_records() < 2200 * 0.7,
            90,
            0.05,
        )
        # ... then hold each request in the sandbox for a while, so that the kill lands
        # while a batch is in flight: the sandbox applies it, nobody records it.
        d.admin("POST", "faults", data=f"slow=1,slow_seconds={SLOW_SECONDS}")
        d.wait_for(
            "a write request held in the sandbox",
            lambda: d.stats()["faults"].get("slow", 0) > 0 and worker.in_flight_writes(),
            30,
            0.05,
        )
        worker.kill()
        killed_at = time.monotonic() - started
        killed_tasks = worker.in_flight_writes()  # its log is complete now
        assert killed_tasks
        landed_unrecorded = d.wait_for(
            "the held batch to land in the CRM",
            lambda: max(0, d.stats()["records_written"] - d.written_records()),
            SLOW_SECONDS + 10,
        )
        d.admin("POST", "faults", data="0")
        fresh = d.start_worker(concurrency=2)
        d.wait_ready(fresh)

        summary = json.loads(d.finish(sync, timeout=240))
        elapsed = time.monotonic() - started
        print(
            f"kill -9 at {killed_at:.1f} s: {len(killed_tasks)} write tasks in flight, "
            f"{landed_unrecorded} records in the CRM but not in the state store; "
            f"run finished after {elapsed:.1f} s"
        )
        # The killed tasks came back: the fresh worker received them and finished them.
        received, ended = fresh.write_tasks()
        assert killed_tasks <= received and killed_tasks <= ended, killed_tasks

        run = d.run(summary["run_id"])
        assert run.status == "succeeded"
        planned = summary["records_to_write"]
        assert planned == 2200
        assert summary["records_segmented"] == {"contact": 2000, "company": 200}
        # Each chunk's final delivery wrote what was missing and skipped what was recorded.
        assert summary["records_written"] + summary["already_written"] == planned
        assert summary["rejected"] == summary["dead_lettered"] == 0

        # No write lost: every planned record is recorded and the CRM holds it all; no
        # duplicate: each segsync property changed exactly once, including the records
        # that landed unrecorded and were sent again.
        written = d.written()
        assert len(written) == planned
        assert_crm_holds(d, written, written_once=True)
        # ... and it is what a from-scratch run planned before anything was written.
        assert set(expected) == set(written)
        differ = [k for k, fields in expected.items() if remembered(written[k]) != fields]
        assert not differ, [(k, expected[k], written[k]) for k in differ[:3]]
        stats = d.stats()
        assert stats["records_written"] == planned  # records whose values changed
        assert stats["rate_limited"] == 0, stats["rate_limited_by_policy"]


FAULTS = "429=0.04,5xx=0.03,drop=0.03,reject=0.01"


def test_faults_every_accepted_write_lands_once_and_rejections_are_dead_lettered(
    deployment: Deployment,
) -> None:
    d = deployment
    d.start_sandbox(contacts=1500, companies=200, deals=400)
    with d.explained():
        d.segsync("schema", "apply", "--crm", "hubspot")
        d.wait_ready(d.start_worker(concurrency=2))
        d.admin("POST", "faults", data=FAULTS)

        # Exit 3: the run completed, and some rows were rejected and dead-lettered.
        summary = d.segsync_json("sync", "--crm", "hubspot", "--full", timeout=300, exit_code=3)
        stats = d.stats()
        print(
            f"faults injected: {stats['faults']}; {summary['rejected']} records rejected; "
            f"run {summary['seconds']} s"
        )
        assert stats["faults_injected"] > 0
        planned = summary["records_to_write"]
        assert planned == 1700
        # Rows of refused batches: rejected once isolated, or deferred when the call
        # allowance for isolating them ran out; both are dead letters.
        refused_rows = summary["rejected"] + summary["deferred"]
        assert refused_rows > 0
        assert summary["dead_lettered"] == refused_rows
        assert summary["records_written"] + refused_rows == planned
        run = d.run(summary["run_id"])
        assert run.status == "succeeded"
        assert run.counts["rejected"] + run.counts["deferred"] == run.counts["dead_lettered"]
        assert run.counts["dead_lettered"] == refused_rows

        letters = json.loads(d.segsync("deadletter", "list", "--crm", "hubspot", "--json"))
        assert len(letters) == refused_rows
        assert all(
            letter["reason"] and letter["code"] and letter["fields"] for letter in letters
        ), letters[:3]
        refused = {(letter["object_type"], letter["record_id"]) for letter in letters}
        written = d.written()
        assert len(written) == summary["records_written"] and not refused & set(written)
        # Every accepted write landed exactly once ...
        assert_crm_holds(d, written, written_once=True)
        # ... and the refused records hold nothing of segsync's.
        for object_type, record_id in refused:
            record = d.record(object_type, record_id)
            assert not [p for p in record["changes"] if p.startswith("segsync_")], record

        d.admin("POST", "faults", data="0")
        # --force: permanent rejections otherwise wait for their record to change.
        replay = d.segsync_json("deadletter", "retry", "--crm", "hubspot", "--force")
        assert replay["retried"] == replay["resolved"] == len(letters)
        assert replay["still_failing"] == 0
        assert json.loads(d.segsync("deadletter", "list", "--crm", "hubspot", "--json")) == []
        replayed = {
            (letter["object_type"], letter["record_id"]): remembered(letter["fields"])
            for letter in letters
        }
        assert_crm_holds(d, replayed, written_once=True)
        after = d.written()
        assert all(remembered(after[k]) == v for k, v in replayed.items())
        assert len(after) == planned
