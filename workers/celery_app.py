"""The Celery app: Redis broker, one queue per step, beat schedule from settings.

``acks_late`` + ``reject_on_worker_lost``: a task is acknowledged only when it has
finished, so a worker killed mid-task (even ``kill -9``) leaves it to be delivered
again; the write task is idempotent, so the redelivery writes only what had not landed.
With the Redis transport an unacknowledged task comes back once its visibility timeout
has passed, so write tasks are kept far shorter than that timeout. Workers look for such
tasks every ``RESTORE_SWEEP_SECONDS`` (kombu's default throttle would make that every
100 s, so a killed task waited up to 100 s past its timeout).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from celery import Celery, signals
from celery.beat import PersistentScheduler

from workers.schedules import schedule_for
from workers.settings import Settings

QUEUES = ("pull", "segment", "write", "events")
RESTORE_SWEEP_SECONDS = 10
ROUTES = {
    "segsync.sync": {"queue": "pull"},
    "segsync.segment": {"queue": "segment"},
    "segsync.finish": {"queue": "segment"},
    "segsync.write": {"queue": "write"},
    "segsync.deadletter_retry": {"queue": "write"},
    "segsync.events": {"queue": "events"},
    "segsync.events_poll": {"queue": "events"},
    "segsync.alerts": {"queue": "events"},
}


@signals.setup_logging.connect
def _keep_segsync_logging(loglevel: int | str | None = None, **_: object) -> None:
    """Celery leaves logging to segsync (text or JSON, secrets blanked): connected, this
    signal stops Celery from installing its own handlers."""
    from workers.ops.logs import configure

    level = logging.getLevelName(loglevel.upper()) if isinstance(loglevel, str) else loglevel
    configure(level if isinstance(level, int) else logging.INFO)


@signals.task_prerun.connect
def _task_context(task_id: str | None = None, task: object = None, **info: object) -> None:
    from workers.ops.logs import set_context

    kwargs = info.get("kwargs") or {}
    args = info.get("args") or ()
    crm = kwargs.get("crm") if isinstance(kwargs, dict) else None
    if crm is None and isinstance(args, list | tuple) and args and args[0] in CRMS:
        crm = args[0]
    run_id = kwargs.get("run_id") if isinstance(kwargs, dict) else None
    name = getattr(task, "name", None)
    _TOKENS[task_id] = set_context(task=name, task_id=task_id, crm=crm, run_id=run_id)


@signals.task_postrun.connect
def _task_context_end(task_id: str | None = None, **_: object) -> None:
    from workers.ops.logs import reset_context

    token = _TOKENS.pop(task_id, None)
    if token is not None:
        reset_context(token)


CRMS = ("hubspot", "salesforce")
_TOKENS: dict[str | None, Any] = {}


def make_app(settings: Settings | None = None) -> Celery:
    """A Celery app configured from ``settings`` (SEGSYNC_REDIS_URL is required)."""
    settings = settings or Settings()
    if not settings.redis_url:
        raise RuntimeError(
            "SEGSYNC_REDIS_URL is not set: Celery workers need Redis "
            "(without it, `segsync sync` runs everything in-process)"
        )
    app = Celery("segsync", broker=settings.redis_url, backend=settings.redis_url)
    app.conf.update(
        include=["workers.tasks"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_routes=ROUTES,
        task_default_queue="segment",
        result_expires=24 * 3600,
        broker_transport_options={
            "visibility_timeout": settings.task_visibility_seconds,
            "unacked_restore_interval": RESTORE_SWEEP_SECONDS,
            "unacked_restore_throttle": 1,  # sweep on every interval, not every 10th
        },
        result_backend_transport_options={"visibility_timeout": settings.task_visibility_seconds},
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        beat_schedule=beat_schedule(settings),
        beat_scheduler="workers.celery_app:TickingScheduler",
        # In the data directory: the image's working directory is not writable.
        beat_schedule_filename=str(settings.data_path / "celerybeat-schedule"),
        beat_max_loop_interval=BEAT_MAX_SLEEP_SECONDS,
        timezone="UTC",
    )
    return app


BEAT_TICK_KEY = "segsync:beat:tick"
BEAT_MAX_SLEEP_SECONDS = 30  # so a live beat stamps its tick at least this often


class TickingScheduler(PersistentScheduler):
    """Beat's scheduler, stamping in Redis when it last ticked (``segsync health``)."""

    _stamped = 0.0
    _redis: Any = None

    def tick(self, *args: Any, **kwargs: Any) -> float:
        delay = float(super().tick(*args, **kwargs))
        now = time.time()
        if now - self._stamped >= 5:
            self._stamped = now
            try:
                if self._redis is None:
                    import redis

                    self._redis = redis.Redis.from_url(str(self.app.conf.broker_url))
                self._redis.set(BEAT_TICK_KEY, repr(now))
            except Exception as exc:  # the schedule goes on; health will say beat is silent
                logging.getLogger(__name__).warning("beat tick not stamped: %s", exc)
        return delay


def beat_schedule(settings: Settings) -> dict[str, dict[str, object]]:
    """Incremental syncs, the nightly re-segmentation from the mirror (no CRM reads), the
    weekly reconciliation (a full read) and CLV refit, event polls, dead-letter retries,
    alert checks."""
    schedule: dict[str, dict[str, object]] = {}
    for crm in settings.crms:
        runs = {
            "incremental": ("incremental", {"full": False}),
            "full": ("nightly-resegment", {"from_mirror": True}),
            "reconcile": ("weekly-reconcile", {"full": True}),
            "clv_refit": ("weekly-clv-refit", {"from_mirror": True, "refit_clv": True}),
        }
        for kind, (name, kwargs) in runs.items():
            schedule[f"{crm}-{name}"] = {
                "task": "segsync.sync",
                "schedule": schedule_for(settings, crm, kind),
                "kwargs": {"crm": crm, **kwargs},
            }
        schedule[f"{crm}-events-poll"] = {
            "task": "segsync.events_poll",
            "schedule": float(settings.events_poll_seconds),
            "kwargs": {"crm": crm},
        }
        schedule[f"{crm}-deadletter-retry"] = {
            "task": "segsync.deadletter_retry",
            "schedule": settings.deadletter_retry_minutes * 60.0,
            "kwargs": {"crm": crm},
        }
    schedule["alerts"] = {"task": "segsync.alerts", "schedule": float(settings.alert_check_seconds)}
    return schedule
