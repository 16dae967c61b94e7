"""Celery tasks: sync (queue pull) -> segment (queue segment) -> write x N (queue write).

The pull task reads the population and hands it to the segment task through Redis
(Arrow IPC, deleted once the writes are queued, expiring anyway after a few hours);
the segment task diffs, spooling the writes to Redis in chunks as each slice is
planned (``workers/sync/write_spool.py``), and fans one write task out per chunk, so any
number of workers share them under one Redis-backed API quota. A chord's callback
records the run and drops the chunks.
"""

from __future__ import annotations

import io
import json
import logging
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any, cast

import polars as pl
import redis
from celery import Task, chord

from connectors.base import (
    BudgetExhaustedError,
    Connector,
    CrmName,
    Cursor,
    RateLimitedError,
    TransientError,
)
from workers.activation.run import after_sync
from workers.alerts import check_backlog
from workers.celery_app import make_app
from workers.events.inbox import Inbox, InboxPolicy, describe
from workers.events.processor import Processor, pause_crm, poll_changes
from workers.quota import calls_sent_here
from workers.settings import Settings
from workers.state import StateStore
from workers.sync.crm_schema import check_schema, fields_found
from workers.sync.frames import EngineFrames
from workers.sync.inflight import adopt_in_flight
from workers.sync.mirror_pull import Pulled, pull_population
from workers.sync.mirroring import MirrorShape
from workers.sync.plan import load_playbook, plan_sync
from workers.sync.runner import (
    SyncReport,
    build_connector,
    describe_plan,
    finish_pull,
    retry_dead_letters,
)
from workers.sync.runs import reap_dead_runs, run_ended
from workers.sync.write_spool import WriteSpool, drop_chunks, fetch_chunk, unpack_write
from workers.sync.writeback import apply_writes

log = logging.getLogger("segsync.tasks")
app = make_app()
STASH_TTL_SECONDS = 4 * 3600
LOCK_TTL_SECONDS = 2 * 3600
FRAMES = ("contacts", "companies", "deals", "orders")


@cache
def settings() -> Settings:
    return Settings()


@cache
def connector(crm: str) -> Connector:
    """One connector per worker process and CRM (sessions and logins are reused)."""
    return build_connector(settings(), cast(CrmName, crm))


@cache
def store() -> StateStore:
    s = StateStore(settings().database_url)
    s.migrate()
    return s


@cache
def redis_client() -> redis.Redis:
    return redis.Redis.from_url(cast(str, settings().redis_url))


def _lock_key(crm: str) -> str:
    return f"segsync:lock:sync:{crm}"


@app.task(name="segsync.sync", bind=True)
def sync_task(
    self: Task, crm: str, full: bool = False, refit_clv: bool = False, from_mirror: bool = False
) -> dict[str, Any]:
    """Pull (queue pull): read what changed / everything / nothing (``from_mirror``, the
    nightly run), stash it, queue segmentation."""
    r = redis_client()
    if not r.set(_lock_key(crm), self.request.id or "sync", nx=True, ex=LOCK_TTL_SECONDS):
        log.info("%s sync skipped: another sync of this CRM is running", crm)
        return {"skipped": "another sync of this CRM is running"}
    st = store()
    run_id: int | None = None
    try:
        book = load_playbook(settings().playbook)
        for reaped in reap_dead_runs(st, settings().run_stale_seconds):
            run_ended(settings(), st, reaped.id)
        kind = "full" if full else "mirror" if from_mirror else "incremental"
        run_id = st.start_run(crm, f"sync-{kind}")
        calls = calls_sent_here(crm)
        adopt_in_flight(connector(crm), st)
        # Ids, not data, go to the segment task: it loads its frames from the mirror.
        pulled = pull_population(
            connector(crm), st, book, full=full, from_mirror=from_mirror, load=False
        )
        pull_calls = calls_sent_here(crm) - calls
        stash = f"segsync:stash:{run_id}"
        _stash(r, stash, pulled)
    except BaseException as exc:
        # The lock is the segment task's to release once the run goes on; here it ends.
        r.delete(_lock_key(crm))
        stopped = isinstance(exc, BudgetExhaustedError)
        if run_id is not None:
            status = "stopped" if stopped else "failed"
            st.finish_run(run_id, status, {}, error=str(exc) or repr(exc))
            run_ended(settings(), st, run_id)
        if not stopped:
            raise
        log.warning("%s sync stopped: %s; the next scheduled sync resumes", crm, exc)
        return {"run_id": run_id, "stopped": str(exc)}
    segment_task.delay(crm, run_id, stash, refit_clv, pull_calls)
    return {"run_id": run_id, "pulled": pulled.counts}


@app.task(name="segsync.segment", bind=True)
def segment_task(
    self: Task, crm: str, run_id: int, stash: str, refit_clv: bool = False, pull_calls: int = 0
) -> dict[str, Any]:
    """Segment + diff (queue segment), then fan the writes out to the write queue."""
    r = redis_client()
    st = store()
    conn = connector(crm)
    calls = calls_sent_here(crm)
    spool: WriteSpool | None = None
    queued = False
    try:
        pulled = _unstash(r, stash)
        book = load_playbook(settings().playbook)
        # The writes go to Redis slice by slice as they are planned, never all at once.
        spool = WriteSpool(r, crm, run_id, settings().write_chunk_size)
        plan = plan_sync(conn, st, pulled, book, refit_clv=refit_clv, deliver=spool)
        keys = spool.close()
        # Nothing read and everything segmented: the nightly run from the mirror.
        from_mirror = pulled.changed is None and not any(pulled.counts.values())
        mode = "mirror" if from_mirror else plan.mode
        report = SyncReport(crm=crm, mode=mode, dry_run=False, run_id=run_id)
        describe_plan(report, pulled, plan)
        if plan.records_to_write:
            check_schema(conn, plan, fields_found(pulled))
        if plan.lifecycle_clears:
            conn.write(plan.lifecycle_clears)
        derived = sorted(plan.derived)
        chunks = [write_task.s(crm, [], derived, None, key) for key in keys]
        # The run row keeps counts, not the segment tables (those are in the profiles).
        summary = {k: v for k, v in report.as_dict().items() if k not in ("sample", "segments")}
        summary["api_calls"] = pull_calls + calls_sent_here(crm) - calls
        queued = True  # from here on the chunks belong to their write tasks
        if chunks:
            chord(chunks)(finish_task.s(crm, run_id, summary, keys))
        else:
            finish_task.delay([], crm, run_id, summary)
        # The writes are queued (durably, in Redis): the new positions are safe to keep.
        finish_pull(st, crm, pulled.cursors, plan)
    except BaseException as exc:
        if spool is not None and not queued:
            spool.discard()
        st.finish_run(run_id, "failed", {}, error=str(exc) or repr(exc))
        r.delete(_lock_key(crm))
        run_ended(settings(), st, run_id)
        raise
    finally:
        r.delete(stash)
    return {
        "run_id": run_id,
        "write_tasks": len(chunks),
        "records_to_write": plan.records_to_write,
    }


@app.task(
    name="segsync.write",
    bind=True,
    autoretry_for=(TransientError, RateLimitedError, ConnectionError),
    retry_backoff=2,
    retry_backoff_max=120,
    max_retries=20,
)
def write_task(
    self: Task,
    crm: str,
    packed: list[list[Any]],
    derived: list[str],
    repairs: list[list[str]] | None = None,
    spooled: str | None = None,
) -> dict[str, int]:
    """Write one chunk (queue write): ``packed`` writes, or the chunk ``spooled`` in
    Redis by the segment task. Idempotent, so a redelivered task writes only the rest
    (its ``repairs``, rewrites of hand-edited fields, are sent again)."""
    calls = calls_sent_here(crm)
    writes = [unpack_write(p) for p in packed]
    repaired = {(t, rid) for t, rid in repairs or ()}
    if spooled is not None:
        chunk = fetch_chunk(redis_client(), spooled)
        if chunk is None:
            # Expired: its records were not recorded as written; the next run plans them.
            log.warning("%s: write chunk %s is gone; the next run plans it again", crm, spooled)
        else:
            writes, repaired = writes + chunk.writes, repaired | chunk.repairs
    try:
        store().heartbeat(crm=crm)  # the run these writes belong to is alive
        outcome = apply_writes(
            connector(crm), store(), writes, derived=set(derived), repairs=repaired
        )
    except BudgetExhaustedError as exc:
        wait = _seconds_to_next_utc_day()
        log.warning("%s daily API budget share spent; writes resume in %.0f s: %s", crm, wait, exc)
        raise self.retry(exc=exc, countdown=wait, max_retries=None) from None
    return {
        "records_written": outcome.records_written,
        "fields_written": outcome.fields_written,
        "already_written": outcome.already_written,
        "rejected": outcome.rejected,
        "dead_lettered": outcome.dead_lettered,
        "deferred": outcome.deferred,
        "held": outcome.held,
        "api_calls": calls_sent_here(crm) - calls,
    }


@app.task(name="segsync.finish")
def finish_task(
    results: list[dict[str, int]],
    crm: str,
    run_id: int,
    summary: dict[str, Any],
    spooled: list[str] | None = None,
) -> dict[str, Any]:
    """Chord callback: add up the write chunks, record the run, drop its spooled chunks."""
    totals: dict[str, int] = {}
    for part in results:
        for key, value in part.items():
            totals[key] = totals.get(key, 0) + value
    st = store()
    run = st.get_run(run_id)
    seconds = (datetime.now(UTC) - run.started_at).total_seconds() if run else 0.0
    totals["api_calls"] = totals.get("api_calls", 0) + int(summary.get("api_calls", 0))
    summary = {**summary, **totals, "write_tasks": len(results), "seconds": round(seconds, 3)}
    if run is not None:
        summary["activation"] = after_sync(
            connector(crm),
            st,
            load_playbook(settings().playbook),
            whole=summary.get("mode") in ("full", "mirror"),
            started_at=run.started_at,
            status=settings().salesforce_campaign_member_status,
        )
    st.finish_run(run_id, "succeeded", summary)
    redis_client().delete(_lock_key(crm))
    run_ended(settings(), st, run_id)
    drop_chunks(redis_client(), spooled or ())
    if summary.get("mode") == "full" and totals.get("records_written"):
        st.analyze()  # the written values may have grown from nothing
    return summary


@app.task(name="segsync.deadletter_retry")
def deadletter_retry_task(crm: str, force: bool = False) -> dict[str, int]:
    """Re-plan open dead letters (hourly) on this worker's population copy."""
    return retry_dead_letters(
        settings(), connector(crm), force=force, population=processor(crm).population
    )


def _seconds_to_next_utc_day() -> float:
    now = datetime.now(UTC)
    tomorrow = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return (tomorrow - now).total_seconds() + 60


def _stash(r: redis.Redis, key: str, pulled: Pulled) -> None:
    """The pulled population in Redis for the segment task (personal data: short-lived)."""
    fields: dict[str, bytes] = {
        "meta": json.dumps(
            {
                "counts": pulled.counts,
                "changed": None
                if pulled.changed is None
                else {t: sorted(ids) for t, ids in pulled.changed.items()},
                "cursors": [c.to_dict() for c in pulled.cursors],
                "mode": None if pulled.frames is None else pulled.frames.mode,
                "started_at": None if pulled.started_at is None else pulled.started_at.isoformat(),
                "echoes": pulled.echoes,
                "shape": None if pulled.shape is None else pulled.shape.to_dict(),
                "removed": pulled.removed,
                "whole": pulled.whole,
                "deferred": pulled.deferred,
                "reach": None
                if pulled.reach is None
                else {t: sorted(ids) for t, ids in pulled.reach.items()},
            }
        ).encode()
    }
    if pulled.frames is not None:
        for name in FRAMES:
            frame = getattr(pulled.frames, name)
            if frame is not None:
                buf = io.BytesIO()
                frame.write_ipc(buf, compression="zstd")
                fields[name] = buf.getvalue()
    pipe = r.pipeline()
    pipe.hset(key, mapping=fields)  # type: ignore[arg-type]
    pipe.expire(key, STASH_TTL_SECONDS)
    pipe.execute()


def _unstash(r: redis.Redis, key: str) -> Pulled:
    raw = cast(dict[bytes, bytes], r.hgetall(key))
    if not raw:
        raise RuntimeError(f"the pulled data of this run is gone from Redis ({key}); run again")
    meta = json.loads(raw[b"meta"])
    frames = None
    if b"contacts" in raw:
        loaded = {
            name: pl.read_ipc(io.BytesIO(raw[name.encode()])) if name.encode() in raw else None
            for name in FRAMES
        }
        frames = EngineFrames(meta["mode"], **loaded)  # type: ignore[arg-type]
    changed = meta["changed"]
    return Pulled(
        frames,
        meta["counts"],
        None if changed is None else {t: set(ids) for t, ids in changed.items()},
        [Cursor.from_dict(c) for c in meta["cursors"]],
        datetime.fromisoformat(meta["started_at"]) if meta.get("started_at") else None,
        meta.get("echoes"),
        MirrorShape.from_dict(meta["shape"]) if meta.get("shape") else None,
        meta.get("removed") or {},
        bool(meta.get("whole", True)),
        bool(meta.get("deferred", False)),
        None if meta.get("reach") is None else {t: set(ids) for t, ids in meta["reach"].items()},
    )


@cache
def processor(crm: str) -> Processor:
    """One event processor per worker process and CRM (the mirror it reads is shared)."""
    return Processor(
        connector(crm),
        store(),
        load_playbook(settings().playbook),
        batch_size=settings().events_batch_size,
        policy=InboxPolicy.from_settings(settings()),
    )


@app.task(name="segsync.events")
def events_task(crm: str) -> dict[str, Any]:
    """Drain the inbox (queue events): one processor per CRM at a time, rounds until empty.

    Rounds are serialised by a lock in the state store (see :meth:`Processor.drain`),
    so two rounds never diff the same record against each other's half-recorded
    writes; any worker may hold it, and each round reads what it needs from the shared
    mirror. A task that finds it held returns: the holder drains these events too.
    """
    inbox = Inbox(store(), InboxPolicy.from_settings(settings()))
    if inbox.paused(crm) is not None:
        return {"skipped": "this CRM's event processing is paused (see `segsync events status`)"}
    try:
        proc = processor(crm)
    except Exception as exc:  # not configured, or its login refused: the CRM's failure
        pause_crm(inbox, crm, f"cannot connect: {describe(exc)}")
        return {"paused": describe(exc)}
    reports = proc.drain()
    if reports is None:
        return {"skipped": "another worker is processing this CRM's events"}
    totals = {
        "rounds": len(reports),
        "events": sum(r.events for r in reports),
        "records_written": sum(r.records_written for r in reports),
    }
    return totals


@app.task(name="segsync.alerts")
def alerts_task() -> dict[str, int]:
    """The conditions no run reports (beat): dead letters and the inbox's lag, per CRM."""
    sent = 0
    for crm in settings().crms:
        sent += len(check_backlog(settings(), store(), crm))
    return {"sent": sent}


@app.task(name="segsync.events_poll")
def events_poll_task(crm: str) -> dict[str, int]:
    """The fallback poll (beat): changes a missed event would have carried go to the inbox."""
    added = poll_changes(connector(crm), store())
    if added:
        events_task.delay(crm)
    return {"added": added}
