"""The alert conditions, evaluated at the end of every run and by the workers' beat."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from workers.alerts.alert import FIRING, OK, Alert, redacted
from workers.alerts.channels import channels_from, deliver
from workers.cli.text import crm_name
from workers.settings import Settings
from workers.state import Run, RunStatus, StateStore

log = logging.getLogger(__name__)


def after_run(settings: Settings, store: StateStore, run: Run) -> list[Alert]:
    """The alerts a finished run sets off (a failure, or the recovery from one; rejected
    rows; dead letters); the ones sent."""
    if run.status is RunStatus.RUNNING:
        return []
    name = crm_name(run.crm)
    what = f"{name} {run.kind.replace('-', ' ')} (run #{run.id})"
    alerts = []
    if run.status in (RunStatus.FAILED, RunStatus.STOPPED):
        verb = "failed" if run.status is RunStatus.FAILED else "stopped"
        alerts.append(
            Alert(run.crm, "run", FIRING, f"segsync: {what} {verb}", f"{run.error}", run.id)
        )
    else:
        alerts.append(
            Alert(run.crm, "run", OK, f"segsync: {what} succeeded", "Runs succeed again.", run.id)
        )
    rejected = int(run.counts.get("rejected") or 0)
    if run.status is not RunStatus.FAILED:
        limit = settings.alert_rejected_above
        firing = rejected > limit
        alerts.append(
            Alert(
                run.crm,
                "rejections",
                FIRING if firing else OK,
                f"segsync: {name} rejected {rejected:,} rows in run #{run.id}"
                if firing
                else f"segsync: {name} rejections back to {rejected:,} (run #{run.id})",
                f"More than {limit:,} rows were refused; `segsync deadletter list --crm "
                f"{run.crm}` shows why."
                if firing
                else f"At most {limit:,} rows refused.",
                run.id,
            )
        )
    alerts.append(_dead_letters(settings, store, run.crm))
    return _notify(settings, store, alerts)


def check_backlog(settings: Settings, store: StateStore, crm: str) -> list[Alert]:
    """The conditions no run reports: dead letters and the event inbox's lag."""
    oldest = store.oldest_pending(crm)
    lag = 0.0 if oldest is None else (datetime.now(UTC) - oldest).total_seconds()
    limit = settings.alert_inbox_lag_seconds
    name = crm_name(crm)
    inbox = Alert(
        crm,
        "inbox_lag",
        FIRING if lag > limit else OK,
        f"segsync: {name} change events wait {lag:,.0f} s"
        if lag > limit
        else f"segsync: {name} change events flow again",
        f"The oldest unprocessed event arrived {lag:,.0f} s ago (alert above {limit:,.0f} s, "
        f"{store.inbox_depth(crm):,} waiting); are the workers up? `segsync events status`.",
    )
    return _notify(settings, store, [inbox, _dead_letters(settings, store, crm)])


def _dead_letters(settings: Settings, store: StateStore, crm: str) -> Alert:
    count = store.open_dead_letter_count(crm)
    limit = settings.alert_dead_letters_above
    firing = count > limit
    return Alert(
        crm,
        "dead_letters",
        FIRING if firing else OK,
        f"segsync: {count:,} {crm_name(crm)} rows dead-lettered"
        if firing
        else f"segsync: {crm_name(crm)} dead letters down to {count:,}",
        f"Open dead letters: {count:,} (alert above {limit:,}); `segsync deadletter list "
        f"--crm {crm}` shows why the CRM refused them.",
    )


def _notify(settings: Settings, store: StateStore, alerts: list[Alert]) -> list[Alert]:
    """Send the alerts whose condition changed status here; a first status is news only
    when it is firing."""
    channels = channels_from(settings)
    sent = []
    for alert in alerts:
        before = store.change_alert(alert.crm, alert.condition, alert.status, alert.summary)
        if before is None or (before == "" and alert.status == OK):
            continue
        clean = redacted(alert, settings)
        # INFO: the channels carry it, and a command's own summary already says what happened.
        log.info("alert: %s", clean.summary)
        deliver(channels, clean)
        sent.append(clean)
    return sent
