"""One sync run, end to end, in this process (the embedded default and the CLI).

The Celery tasks (``workers.tasks``) run the same steps, spread over queues.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from connectors.base import BudgetExhaustedError, Connector, CrmName, Cursor, FieldWrite
from segmentation.playbook import Playbook
from workers.activation.run import after_sync
from workers.ops import progress
from workers.ops.logs import log_context, set_context
from workers.settings import Settings
from workers.state import StateStore, process_owner
from workers.sync.crm_schema import check_schema, fields_found
from workers.sync.history import sizes_after
from workers.sync.inflight import adopt_in_flight
from workers.sync.mirror_pull import Pulled, pull_population, settle_pending
from workers.sync.plan import (
    CLUSTER_STATE,
    CLV_STATE,
    STATISTICS_STATE,
    SyncPlan,
    plan_sync,
    sample_changes,
)
from workers.sync.runs import Heartbeat, finish_run, heartbeat_interval, reap_dead_runs, run_ended
from workers.sync.writeback import WriteOutcome, apply_writes

WRITE_CHUNK = 500


def build_connector(settings: Settings, crm: CrmName) -> Connector:
    """The configured connector; with Redis configured, its quota is shared by all workers."""
    from connectors.hubspot.connector import HubSpotConnector
    from connectors.salesforce.connector import SalesforceConnector
    from workers.ops import metrics
    from workers.quota import hubspot_account, salesforce_account, shared_quota

    config: Any
    make: Callable[..., Connector]
    if crm == "hubspot":
        config, make = settings.hubspot(), HubSpotConnector
        account = hubspot_account(config)
        pace, share = settings.hubspot_requests_per_10s, settings.hubspot_daily_budget_share
    else:
        config, make = settings.salesforce(), SalesforceConnector
        account = salesforce_account(config)
        pace, share = settings.salesforce_requests_per_10s, settings.salesforce_daily_budget_share
    metrics.install(settings)  # count this process's CRM calls
    if not settings.redis_url:
        return make(config)
    limiter, budget = shared_quota(settings.redis_url, crm, account, pace, share)
    return make(config, limiter=limiter, budget=budget)


@dataclass
class SyncReport:
    """The machine-readable summary of a run (``--json``).

    ``records_pulled`` counts every record read into the mirror. An incremental run reads
    only what the CRM lists as changed (``records_changed``, None on a full run, which
    reads everything: ``population_read``); ``records_changed_by_segsync`` of them
    changed nothing segsync reads (mostly the echoes of its own writes) and are not
    re-segmented. The others are segmented from the mirror with what they roll up into;
    ``records_compared`` are the records whose values were diffed against what segsync
    last wrote and what the CRM holds; ``drift_repaired`` those whose segsync fields had
    been edited in the CRM and were written again. ``change_lag_seconds``: changes
    younger than this are left for the next run (the CRM lists them late); None when
    unknown.
    """

    crm: str
    mode: str
    dry_run: bool
    run_id: int | None = None
    records_pulled: dict[str, int] = field(default_factory=dict)
    records_segmented: dict[str, int] = field(default_factory=dict)
    records_to_write: int = 0
    fields_written: int = 0
    records_written: int = 0
    fields_unchanged: int = 0
    rejected: int = 0
    dead_lettered: int = 0
    deferred: int = 0
    held: int = 0
    already_written: int = 0
    lifecycle_backward_skipped: int = 0
    api_calls: int = 0
    seconds: float = 0.0
    fields_changed: dict[str, int] = field(default_factory=dict)
    transitions: dict[str, dict[str, int]] = field(default_factory=dict)
    sample: list[dict[str, Any]] = field(default_factory=list)
    segments: dict[str, Any] = field(default_factory=dict)
    records_changed: dict[str, int] | None = None
    records_changed_by_segsync: dict[str, int] | None = None
    records_compared: dict[str, int] = field(default_factory=dict)
    population_read: bool = False
    change_lag_seconds: float | None = None
    # Records whose segsync fields had been edited in the CRM and were rewritten.
    drift_repaired: int = 0
    # Records the CRM no longer has, forgotten by this run (mirror, written values...).
    records_removed: dict[str, int] = field(default_factory=dict)
    # Per object type and model: every segment's records (runs over everything only) and
    # the moves ("from -> to": records) the run wrote (workers/sync/history.py).
    segment_sizes: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    segment_moves: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    # Whole runs: RFM grid, CLV bands, value tiers, profiles (segmentation/insights.py).
    segment_insights: dict[str, Any] = field(default_factory=dict)
    # The lists or campaigns the run kept in step (workers/activation/), when it did.
    activation: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON types."""
        from dataclasses import asdict

        return asdict(self)


def describe_plan(report: SyncReport, pulled: Pulled, plan: SyncPlan) -> None:
    """Fill the report's counts from a plan (shared by the in-process and Celery paths)."""
    if report.mode != "mirror" or (pulled.counts and any(pulled.counts.values())):
        report.mode = plan.mode  # a mirror run that had to read everything is a full one
    report.records_pulled = dict(pulled.counts)
    report.records_segmented = dict(plan.segmented)
    if pulled.changed is not None:  # what the CRM listed as changed: every record read
        report.records_changed = dict(pulled.counts)
    if pulled.echoes is not None:
        report.records_changed_by_segsync = {t: n for t, n in pulled.echoes.items()}
    report.records_compared = dict(plan.compared)
    report.population_read = pulled.changed is None
    report.records_to_write = plan.records_to_write
    report.records_removed = {t: n for t, n in pulled.removed.items()}
    report.drift_repaired = sum(d.drift_records for d in plan.diffs.values())
    report.lifecycle_backward_skipped = plan.lifecycle_backward_skipped
    fields: Counter[str] = Counter()
    for d in plan.diffs.values():
        fields.update(d.per_field)
        report.fields_unchanged += d.unchanged
        for name, moves in d.transitions.items():
            merged = report.transitions.setdefault(name, {})
            for move, n in moves.items():
                merged[move] = merged.get(move, 0) + n
    report.fields_changed = dict(fields.most_common())
    report.segments = plan.summary.get("segments", {})
    report.segment_moves = {t: d.transitions for t, d in plan.diffs.items() if d.transitions}
    report.segment_sizes = sizes_after(pulled.whole, plan.summary)
    report.segment_insights = plan.insights or {}


def finish_pull(store: StateStore, crm: str, cursors: Sequence[Cursor], plan: SyncPlan) -> None:
    """Store the cursors and fitted clusters once the run's writes are safe."""
    for cursor in cursors:
        store.save_cursor(crm, cursor)
    settle_pending(store, crm)
    if plan.clusters is not None:
        store.save_model_state(crm, CLUSTER_STATE, plan.clusters)
    if plan.clv_fit is not None:
        store.save_model_state(crm, CLV_STATE, plan.clv_fit)
    if plan.statistics is not None:
        store.save_model_state(crm, STATISTICS_STATE, plan.statistics)


def write_all(
    connector: Connector, store: StateStore, plan: SyncPlan, chunk: int = WRITE_CHUNK
) -> WriteOutcome:
    """Lifecycle clears first (HubSpot accepts an earlier stage only after one), then the rest."""
    outcome = WriteOutcome()
    if plan.lifecycle_clears:
        connector.write(plan.lifecycle_clears)
    writes: list[FieldWrite] = plan.writes
    repairs = plan.repairs
    for start in range(0, len(writes), chunk):
        part = writes[start : start + chunk]
        outcome.add(apply_writes(connector, store, part, derived=plan.derived, repairs=repairs))
        progress.advance("write", len(part), total=len(writes))
    return outcome


def run_sync(
    settings: Settings,
    crm: CrmName,
    playbook: Playbook,
    *,
    full: bool = False,
    dry_run: bool = False,
    connector: Connector | None = None,
    now: datetime | None = None,
    refit_clv: bool = False,
    from_mirror: bool = False,
) -> SyncReport:
    """Pull, segment, diff and (unless ``dry_run``) write, recording the run.

    ``from_mirror`` re-segments the whole mirror without reading the CRM (the nightly
    run): it refreshes the population statistics and writes what they move.
    """
    with log_context(crm=crm):  # the run id joins once the run is recorded
        return _run_sync(
            settings, crm, playbook, full, dry_run, connector, now, refit_clv, from_mirror
        )


def _run_sync(
    settings: Settings,
    crm: CrmName,
    playbook: Playbook,
    full: bool,
    dry_run: bool,
    connector: Connector | None,
    now: datetime | None,
    refit_clv: bool,
    from_mirror: bool,
) -> SyncReport:
    started = time.monotonic()
    run_started = datetime.now(UTC)
    connector = connector or build_connector(settings, crm)
    calls_before = connector.usage().calls_made
    mode = "mirror" if from_mirror and not full else "full" if full else "incremental"
    report = SyncReport(crm=crm, mode=mode, dry_run=dry_run)
    report.change_lag_seconds = change_lag(connector)
    with StateStore(settings.database_url) as store:
        store.migrate()
        run_id = None
        if not dry_run:
            for reaped in reap_dead_runs(store, settings.run_stale_seconds):
                run_ended(settings, store, reaped.id)
            run_id = store.start_run(crm, f"sync-{report.mode}", owner=process_owner())
        report.run_id = run_id
        set_context(run_id=run_id)
        within = settings.run_finish_retry_seconds
        beat = Heartbeat(store, run_id, heartbeat_interval(settings.run_stale_seconds))
        try:
            beat.start()
            if not dry_run:
                adopt_in_flight(connector, store)
            # The plan loads the frames: a whole mirror's read then also gives it the
            # CRM's copies (as the Celery segment task's does).
            pulled = pull_population(
                connector, store, playbook, full=full, from_mirror=from_mirror, load=False
            )
            plan = plan_sync(connector, store, pulled, playbook, now=now, refit_clv=refit_clv)
            describe_plan(report, pulled, plan)
            if dry_run:
                report.sample = sample_changes(plan)
            else:
                if plan.records_to_write:
                    check_schema(connector, plan, fields_found(pulled))
                outcome = write_all(connector, store, plan)
                finish_pull(store, crm, pulled.cursors, plan)
                if plan.mode == "full" and outcome.records_written:
                    store.analyze()  # the written values may have grown from nothing
                report.records_written = outcome.records_written
                report.fields_written = outcome.fields_written
                report.rejected = outcome.rejected
                report.dead_lettered = outcome.dead_lettered
                report.deferred = outcome.deferred
                report.held = outcome.held
                report.already_written = outcome.already_written
                report.activation = after_sync(
                    connector,
                    store,
                    playbook,
                    whole=plan.mode == "full" or report.mode == "mirror",
                    started_at=run_started,
                    status=settings.salesforce_campaign_member_status,
                )
        except BudgetExhaustedError as exc:
            # Not a failure: what was written is recorded, the cursors did not move, and
            # the next run after the budget window resets picks up the rest.
            beat.stop()
            if run_id is not None:
                finish_run(store, run_id, "stopped", _counts(report), error=str(exc), within=within)
            run_ended(settings, store, run_id)
            raise
        except BaseException as exc:
            beat.stop()
            if run_id is not None:
                error = str(exc) or repr(exc)
                finish_run(store, run_id, "failed", _counts(report), error=error, within=within)
            run_ended(settings, store, run_id)
            raise
        beat.stop()
        report.api_calls = connector.usage().calls_made - calls_before
        report.seconds = round(time.monotonic() - started, 3)
        if run_id is not None:
            finish_run(store, run_id, "succeeded", _counts(report), within=within)
        run_ended(settings, store, run_id)
    return report


def change_lag(connector: Connector) -> float | None:
    """Seconds by which the connector leaves recent changes to the next read.

    HubSpot's search lists a change some seconds late and Salesforce's SystemModstamp can
    trail a commit, so both connectors read changes up to ``now - lag`` only; a change
    younger than that is read by the next run. Not part of the Connector protocol (test
    doubles have no lag), hence the lookup on the connector's config.
    """
    config = getattr(connector, "config", None)
    for name in ("search_lag_seconds", "lag_seconds"):
        value = getattr(config, name, None)
        if isinstance(value, int | float):
            return float(value)
    return None


def _counts(report: SyncReport) -> dict[str, Any]:
    return {
        "pulled": report.records_pulled,
        "changed": report.records_changed,
        "changed_by_segsync": report.records_changed_by_segsync,
        "compared": report.records_compared,
        "to_write": report.records_to_write,
        "written": report.records_written,
        "fields_written": report.fields_written,
        "rejected": report.rejected,
        "dead_lettered": report.dead_lettered,
        "deferred": report.deferred,
        "api_calls": report.api_calls,
        "segment_sizes": report.segment_sizes,
        "segment_moves": report.segment_moves,
        "segment_insights": report.segment_insights,
        "activation": report.activation,
    }


def retry_dead_letters(
    settings: Settings,
    connector: Connector,
    *,
    force: bool = False,
    playbook: Playbook | None = None,
    population: Any = None,
) -> dict[str, int]:
    """Re-plan every open dead letter of the connector's CRM (workers/sync/deadletters.py)."""
    from workers.sync.deadletters import retry_letters
    from workers.sync.plan import load_playbook

    book = playbook or load_playbook(settings.playbook)
    # The retry's rows sit in batches the CRM refused: isolating them is the point, with
    # its own allowance (HubSpot; Salesforce answers per record and never bisects).
    previous = getattr(connector, "isolate_calls_per_row", None)
    if hasattr(connector, "isolate_calls_per_row"):
        connector.isolate_calls_per_row = settings.deadletter_isolate_calls_per_row
    try:
        with StateStore(settings.database_url) as store:
            store.migrate()
            summary = retry_letters(connector, store, book, population=population, force=force)
    finally:
        if hasattr(connector, "isolate_calls_per_row"):
            connector.isolate_calls_per_row = previous
    return summary.as_dict()
