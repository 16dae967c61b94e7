"""The Celery app's configuration: reliability flags, routes and the beat schedule."""

from __future__ import annotations

import pytest
from celery.schedules import crontab

from workers.celery_app import make_app
from workers.settings import Settings


def test_tasks_survive_a_killed_worker_and_go_to_their_queues() -> None:
    app = make_app(Settings(redis_url="redis://127.0.0.1:6379/9", task_visibility_seconds=42))
    conf = app.conf
    assert conf.task_acks_late and conf.task_reject_on_worker_lost
    assert conf.worker_prefetch_multiplier == 1
    assert conf.broker_transport_options["visibility_timeout"] == 42
    assert {r["queue"] for r in conf.task_routes.values()} == {"pull", "segment", "write", "events"}


def test_beat_schedule_follows_settings() -> None:
    settings = Settings(
        redis_url="redis://127.0.0.1:6379/9",
        crms=["hubspot", "salesforce"],
        sync_interval_minutes=5,
        full_sync_hour=3,
        clv_refit_weekday=6,
        reconcile_weekday=5,
        deadletter_retry_minutes=30,
    )
    schedule = make_app(settings).conf.beat_schedule
    assert schedule["hubspot-incremental"]["schedule"] == 300.0
    assert schedule["salesforce-incremental"]["kwargs"] == {"crm": "salesforce", "full": False}
    # Nightly: the whole mirror re-segmented, nothing read from the CRM.
    nightly = schedule["hubspot-nightly-resegment"]
    assert nightly["schedule"] == crontab(minute=0, hour=3)
    assert nightly["kwargs"] == {"crm": "hubspot", "from_mirror": True}
    # Weekly: a full read reconciles the mirror with the CRM.
    reconcile = schedule["hubspot-weekly-reconcile"]
    assert reconcile["schedule"] == crontab(minute=15, hour=3, day_of_week=5)
    assert reconcile["kwargs"] == {"crm": "hubspot", "full": True}
    refit = schedule["hubspot-weekly-clv-refit"]
    assert refit["schedule"] == crontab(minute=30, hour=3, day_of_week=6)
    assert refit["kwargs"] == {"crm": "hubspot", "from_mirror": True, "refit_clv": True}
    assert schedule["salesforce-deadletter-retry"]["schedule"] == 1800.0


def test_workers_without_redis_are_refused_with_the_setting_named() -> None:
    with pytest.raises(RuntimeError, match="SEGSYNC_REDIS_URL"):
        make_app(Settings(redis_url=None))
