"""Runs that end: an owner and a heartbeat while running, a retried end, reaping of the dead.

A run row says ``running`` until its process records the end. A process that is killed,
or that cannot reach the state store as it finishes, never does; the next run (or
``segsync runs``) reaps it: marked failed with the reason, when its process is gone from
this host or its heartbeat is older than ``SEGSYNC_RUN_STALE_SECONDS``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy.exc import InterfaceError, OperationalError
from tenacity import (
    Retrying,
    retry_if_exception_type,
    stop_after_delay,
    wait_random_exponential,
)

from workers.settings import Settings
from workers.state import Run, RunStatus, StateStore

log = logging.getLogger(__name__)


def reap_dead_runs(store: StateStore, stale_seconds: float) -> list[Run]:
    """Mark failed the runs whose process died; logs each one."""
    reaped = store.reap_runs(timedelta(seconds=stale_seconds))
    for run in reaped:
        log.warning("run #%d (%s %s) %s", run.id, run.crm, run.kind, run.error)
    return reaped


def finish_run(
    store: StateStore,
    run_id: int,
    status: RunStatus | str,
    counts: Mapping[str, Any],
    *,
    error: str | None = None,
    within: float,
) -> None:
    """Record a run's end, retrying for ``within`` seconds while the store refuses
    connections (a restart, a failover): a run whose end is lost is reported failed by
    the next reaping, not as what it was."""
    retrying = Retrying(
        retry=retry_if_exception_type((OperationalError, InterfaceError)),
        stop=stop_after_delay(within),
        wait=wait_random_exponential(multiplier=0.2, max=5.0),
        before_sleep=lambda state: log.warning(
            "recording the end of run #%d failed (attempt %d), retrying: %s",
            run_id,
            state.attempt_number,
            state.outcome.exception() if state.outcome else None,
        ),
        reraise=True,
    )
    retrying(store.finish_run, run_id, status, counts, error=error)


class Heartbeat:
    """Bumps a run's heartbeat every ``every`` seconds from a daemon thread.

    A failed beat is logged and skipped: the run itself decides whether the store is
    gone for good.
    """

    def __init__(self, store: StateStore, run_id: int | None, every: float) -> None:
        self._store = store
        self._run_id = run_id
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="run-heartbeat", daemon=True)

    def start(self) -> None:
        """Start beating (nothing to beat for a run without a row, e.g. a dry run)."""
        if self._run_id is not None:
            self._thread.start()

    def stop(self) -> None:
        """Stop beating; idempotent."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _beat(self) -> None:
        while not self._stop.wait(self._every):
            try:
                self._store.heartbeat(self._run_id)
            except Exception as exc:  # a missed beat is not the run's failure
                log.warning("run #%s heartbeat failed: %s", self._run_id, exc)


def run_ended(settings: Settings, store: StateStore, run_id: int | None) -> None:
    """Count a run that just ended in the metrics and evaluate its alerts, never raising:
    its outcome is recorded whether or not these work (the store may be what failed)."""
    if run_id is None:
        return
    from workers.alerts import after_run
    from workers.ops import metrics

    try:
        run = store.get_run(run_id)
        if run is not None:
            level = logging.INFO if run.status is RunStatus.SUCCEEDED else logging.WARNING
            log.log(
                level,
                "run #%d (%s %s) %s",
                run.id,
                run.crm,
                run.kind,
                run.status,
                extra={"run_id": run.id, "crm": run.crm, "counts": _brief(run.counts)},
            )
            metrics.record_run(run)
            after_run(settings, store, run)
    except Exception as exc:
        log.warning("metrics and alerts of run #%s not done: %s", run_id, type(exc).__name__)


_TABLES = ("segment_sizes", "segment_moves", "segment_insights", "transitions", "fields_changed")


def _brief(counts: Mapping[str, Any]) -> dict[str, Any]:
    """A run's counts without the per-segment tables (a log line, not a report)."""
    return {k: v for k, v in counts.items() if k not in _TABLES}


def heartbeat_interval(stale_seconds: float) -> float:
    """Beat often enough that a live run is never taken for dead."""
    return max(1.0, stale_seconds / 6)
