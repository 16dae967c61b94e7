"""``segsync health``: is the deployment doing its job? One check per part, each OK or not.

For a container healthcheck or a cron job: the state store answers at this version's
schema; with Redis, workers answer a ping and beat ticked lately; per CRM the event
inbox is not lagging and the last run succeeded, recently enough for its schedule.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from workers.settings import Settings
from workers.state import RunStatus, StateStore

BEAT_SILENT_SECONDS = 120  # beat stamps at least every 30 s (workers/celery_app.py)
PING_SECONDS = 5.0  # a worker busy with a task answers late


@dataclass(frozen=True, slots=True)
class Check:
    """One part of the deployment and what was found."""

    name: str
    ok: bool
    detail: str

    @property
    def part(self) -> str:
        """``store``, ``workers``, ``beat``, ``inbox`` or ``runs`` (``--check``)."""
        last = self.name.split()[-1]
        return "store" if last == "store" or self.name == "redis" else last


PARTS = ("store", "workers", "beat", "inbox", "runs")


def health(settings: Settings, *, now: datetime | None = None) -> list[Check]:
    """Every check, in order; the state store first (the others read it)."""
    now = now or datetime.now(UTC)
    checks: list[Check] = []
    try:
        store = StateStore(settings.database_url)
        current, head = store.current_revision(), StateStore.head_revision()
    except Exception as exc:
        return [Check("state store", False, f"does not answer ({type(exc).__name__})")]
    with store:
        if current != head:
            detail = f"at revision {current}, needs {head}: segsync migrate"
            return [Check("state store", False, detail)]
        checks.append(Check("state store", True, f"answers, schema at {current}"))
        if settings.redis_url:
            checks += _celery(settings)
        for crm in settings.crms:
            checks.append(_inbox(settings, store, crm, now))
            checks.append(_last_run(settings, store, crm, now))
    return checks


def _celery(settings: Settings) -> list[Check]:
    import redis

    from workers.celery_app import BEAT_TICK_KEY, make_app

    try:
        answers = make_app(settings).control.ping(timeout=PING_SECONDS) or []
        tick = redis.Redis.from_url(str(settings.redis_url)).get(BEAT_TICK_KEY)
    except Exception as exc:
        return [Check("redis", False, f"does not answer ({type(exc).__name__})")]
    names = sorted(name for answer in answers for name in answer)
    workers = Check(
        "workers",
        bool(names),
        f"{len(names)} answering: {', '.join(names)}" if names else "none answers a ping",
    )
    if tick is None:
        beat = Check("beat", False, "has never ticked (is `segsync beat` running?)")
    else:
        age = time.time() - float(tick)
        beat = Check(
            "beat",
            age <= BEAT_SILENT_SECONDS,
            f"last ticked {age:,.0f} s ago"
            + ("" if age <= BEAT_SILENT_SECONDS else f" (silent over {BEAT_SILENT_SECONDS} s)"),
        )
    return [workers, beat]


def _inbox(settings: Settings, store: StateStore, crm: str, now: datetime) -> Check:
    oldest = store.oldest_pending(crm)
    lag = 0.0 if oldest is None else (now - oldest).total_seconds()
    limit = settings.alert_inbox_lag_seconds
    detail = f"{store.inbox_depth(crm):,} waiting, oldest {lag:,.0f} s"
    return Check(
        f"{crm} inbox", lag <= limit, detail + ("" if lag <= limit else f" (over {limit:,.0f} s)")
    )


def _last_run(settings: Settings, store: StateStore, crm: str, now: datetime) -> Check:
    name = f"{crm} runs"
    runs = [r for r in store.list_runs(50, crm=crm) if r.status is not RunStatus.RUNNING]
    if not runs:
        return Check(name, False, "no run has ended yet")
    last = runs[0]
    good = next((r for r in runs if r.status is RunStatus.SUCCEEDED), None)
    if last.status is not RunStatus.SUCCEEDED:
        since = f"; last success #{good.id} at {good.started_at:%Y-%m-%d %H:%M} UTC" if good else ""
        return Check(name, False, f"run #{last.id} {last.status}: {last.error}{since}")
    assert good is not None
    finished = good.finished_at or good.started_at
    # Scheduled incremental runs come every interval: three missed ones is news.
    overdue = timedelta(minutes=3 * settings.sync_interval_minutes)
    if settings.redis_url and now - finished > overdue:
        return Check(
            name, False, f"last success #{good.id} ended {now - finished} ago (over {overdue})"
        )
    return Check(
        name, True, f"last run #{good.id} ({good.kind}) succeeded {finished:%Y-%m-%d %H:%M:%S} UTC"
    )


def as_json(checks: list[Check]) -> dict[str, Any]:
    """``{"healthy": bool, "checks": [...]}``."""
    return {"healthy": all(c.ok for c in checks), "checks": [asdict(c) for c in checks]}
