"""When beat starts each kind of run, per CRM: cron expressions, or the simple settings.

``SEGSYNC_SCHEDULES`` holds, per CRM, a five-field cron expression (minute hour
day-of-month month day-of-week, UTC, day 0 = Sunday) for any of ``incremental``,
``full`` (the nightly re-segmentation of the whole mirror), ``reconcile`` (a full read
of the CRM) and ``clv_refit``. A kind without one follows the simple settings
(``SEGSYNC_SYNC_INTERVAL_MINUTES``, ``SEGSYNC_FULL_SYNC_HOUR``, the weekdays). Every
expression is parsed when settings load, so a typo stops beat, the workers and the CLI
at start-up with the CRM, the kind and what is wrong.
"""

from __future__ import annotations

from typing import Any

from celery.schedules import crontab

KINDS = ("incremental", "full", "reconcile", "clv_refit")
FIELDS = ("minute", "hour", "day of month", "month", "day of week")


def parse_cron(expression: str) -> crontab:
    """A Celery crontab from ``minute hour day-of-month month day-of-week``."""
    parts = expression.split()
    if len(parts) != 5:
        raise ValueError(
            f"{expression!r} has {len(parts)} fields; cron needs 5: minute hour "
            "day-of-month month day-of-week (e.g. '*/15 * * * *')"
        )
    for name, part in zip(FIELDS, parts, strict=True):
        try:
            crontab(**{_ARG[name]: part})
        except Exception as exc:
            raise ValueError(f"{expression!r}: {name} {part!r} is not valid ({exc})") from None
    minute, hour, day_of_month, month, day_of_week = parts
    return crontab(
        minute=minute,
        hour=hour,
        day_of_month=day_of_month,
        month_of_year=month,
        day_of_week=day_of_week,
    )


_ARG = {
    "minute": "minute",
    "hour": "hour",
    "day of month": "day_of_month",
    "month": "month_of_year",
    "day of week": "day_of_week",
}


def check_schedules(schedules: dict[str, dict[str, str]]) -> None:
    """Raise ValueError naming the CRM and kind of the first expression that does not parse."""
    for crm, kinds in schedules.items():
        for kind, expression in kinds.items():
            try:
                parse_cron(expression)
            except ValueError as exc:
                raise ValueError(f"{crm}.{kind}: {exc}") from None


def schedule_for(settings: Any, crm: str, kind: str) -> crontab | float:
    """The schedule of ``kind`` runs of ``crm``: its cron expression, else the default."""
    expression = settings.schedules.get(crm, {}).get(kind)
    if expression:
        return parse_cron(expression)
    hour = settings.full_sync_hour
    if kind == "incremental":
        return settings.sync_interval_minutes * 60.0
    if kind == "full":
        return crontab(minute=0, hour=hour)
    if kind == "reconcile":
        return crontab(minute=15, hour=hour, day_of_week=settings.reconcile_weekday)
    return crontab(minute=30, hour=hour, day_of_week=settings.clv_refit_weekday)
