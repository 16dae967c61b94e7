"""Prometheus metrics of the receiver and the workers (``/metrics``).

Counters and histograms are kept where the work happens: CRM calls (every response a
watched session receives, by CRM, endpoint class and status), runs as they end, events
as their round finishes. Celery's pool processes are separate processes, so workers
run prometheus-client's multiprocess mode: ``segsync worker`` points
``PROMETHEUS_MULTIPROC_DIR`` at a folder of its data directory before anything imports
prometheus-client (``workers/ops/metrics_setup.py``), and its ``/metrics`` adds every
process's files up. What lives in
the state store — inbox depth and lag, open dead letters — is read when scraped, so any
process's ``/metrics`` reports it and no process has to keep it current.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

import requests
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from connectors.observe import listen
from workers.ops.metrics_setup import MULTIPROC_ENV
from workers.settings import Settings
from workers.state import Run, StateStore

log = logging.getLogger(__name__)

RUNS = Counter(
    "segsync_runs", "Runs that ended, by CRM, kind and status.", ["crm", "kind", "status"]
)
RUN_SECONDS = Histogram(
    "segsync_run_duration_seconds",
    "Wall time of runs that ended.",
    ["crm", "kind"],
    buckets=(1, 5, 15, 60, 300, 900, 1800, 3600, 3 * 3600, 12 * 3600),
)
PULLED = Counter(
    "segsync_records_pulled", "Records read from the CRM into the mirror.", ["crm", "object_type"]
)
WRITTEN = Counter("segsync_records_written", "Records written to the CRM.", ["crm"])
FIELDS = Counter("segsync_fields_written", "Fields written to the CRM.", ["crm"])
REJECTED = Counter("segsync_rows_rejected", "Rows the CRM refused (dead-lettered).", ["crm"])
CALLS = Counter(
    "segsync_api_calls",
    "Responses from the CRM (every attempt), by endpoint class and HTTP status.",
    ["crm", "endpoint", "status"],
)
THROTTLED = Counter(
    "segsync_api_rate_limited", "429 answers from the CRM, by endpoint class.", ["crm", "endpoint"]
)
QUOTA_LIMIT = Gauge(
    "segsync_api_quota_limit",
    "The CRM's call limit per window (10s: HubSpot's burst; daily), from its last answer.",
    ["crm", "window"],
    multiprocess_mode="mostrecent",
)
QUOTA_USED = Gauge(
    "segsync_api_quota_used",
    "Calls the account has spent in the window, from the CRM's last answer.",
    ["crm", "window"],
    multiprocess_mode="mostrecent",
)
BUDGET_LEFT = Gauge(
    "segsync_daily_budget_left",
    "Calls segsync may still make today within its share of the daily limit.",
    ["crm"],
    multiprocess_mode="mostrecent",
)
EVENT_LATENCY = Histogram(
    "segsync_event_latency_seconds",
    "From a change event's arrival to the end of the round that processed it.",
    ["crm"],
    buckets=(0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600),
)

WEBHOOKS = Counter(
    "segsync_webhook_requests",
    "Webhook requests the receiver answered, by CRM and HTTP status.",
    ["crm", "status"],
)
EVENTS_STORED = Counter(
    "segsync_events_stored", "Change events the receiver stored in the inbox (new ones).", ["crm"]
)

# Endpoint classes: the API families quotas and failures differ by, not every URL.
_ENDPOINTS: dict[str, list[tuple[str, re.Pattern[str]]]] = {
    "hubspot": [
        (name, re.compile(pattern))
        for name, pattern in (
            ("auth", r"^/oauth/"),
            ("search", r"^/crm/v3/objects/[^/]+/search$"),
            ("batch_read", r"^/crm/v3/objects/[^/]+/batch/read$"),
            ("batch_write", r"^/crm/v3/objects/[^/]+/batch/(update|create|upsert|archive)$"),
            ("associations", r"^/crm/v4/associations/"),
            ("schema", r"^/crm/v3/properties/"),
            ("list", r"^/crm/v3/objects/[^/]+/?$"),
            ("record", r"^/crm/v3/objects/[^/]+/[^/]+$"),
        )
    ],
    "salesforce": [
        (name, re.compile(pattern))
        for name, pattern in (
            ("auth", r"^/services/(oauth2/|Soap/u/)"),
            ("metadata", r"^/services/Soap/m/"),
            ("query", r"^/services/data/v[\d.]+/query(All)?(/|$)"),
            ("collections", r"^/services/data/v[\d.]+/composite/sobjects"),
            ("bulk", r"^/services/data/v[\d.]+/jobs/"),
            ("schema", r"^/services/data/v[\d.]+/sobjects/[^/]+/describe"),
            ("limits", r"^/services/data/v[\d.]+/limits"),
            ("record", r"^/services/data/v[\d.]+/sobjects/"),
        )
    ],
}
_SF_USAGE = re.compile(r"api-usage=(\d+)/(\d+)")


def endpoint_class(crm: str, path: str) -> str:
    """``search``, ``batch_write``, ``query``... for a request path; ``other`` if unknown."""
    for name, pattern in _ENDPOINTS.get(crm, ()):
        if pattern.search(path):
            return name
    return "other"


class _CallObserver:
    """Counts every CRM response and keeps the quota its headers report."""

    def __init__(self, shares: dict[str, float]) -> None:
        self.shares = shares

    def __call__(self, crm: str, response: requests.Response) -> None:
        endpoint = endpoint_class(crm, requests.utils.urlparse(response.url).path)
        CALLS.labels(crm, endpoint, str(response.status_code)).inc()
        if response.status_code == 429:
            THROTTLED.labels(crm, endpoint).inc()
        headers = response.headers
        if crm == "hubspot":
            self._window(
                crm,
                "10s",
                headers.get("X-HubSpot-RateLimit-Max"),
                headers.get("X-HubSpot-RateLimit-Remaining"),
            )
            self._window(
                crm,
                "daily",
                headers.get("X-HubSpot-RateLimit-Daily"),
                headers.get("X-HubSpot-RateLimit-Daily-Remaining"),
            )
        else:
            match = _SF_USAGE.search(headers.get("Sforce-Limit-Info", ""))
            if match:
                used, limit = int(match[1]), int(match[2])
                self._window(crm, "daily", str(limit), str(limit - used))

    def _window(self, crm: str, window: str, limit: str | None, remaining: str | None) -> None:
        if not (limit and remaining and limit.isdigit() and remaining.lstrip("-").isdigit()):
            return
        most, left = int(limit), int(remaining)
        QUOTA_LIMIT.labels(crm, window).set(most)
        QUOTA_USED.labels(crm, window).set(most - left)
        if window == "daily":
            # segsync's share ends where the reserve kept for other integrations begins.
            reserve = most - int(most * self.shares.get(crm, 1.0))
            BUDGET_LEFT.labels(crm).set(max(0, left - reserve))


def install(settings: Settings) -> None:
    """Count this process's CRM calls (idempotent)."""
    shares = {
        "hubspot": settings.hubspot_daily_budget_share,
        "salesforce": settings.salesforce_daily_budget_share,
    }
    global _observer
    if _observer is None:
        _observer = _CallObserver(shares)
        listen(_observer)
    _observer.shares = shares


_observer: _CallObserver | None = None


def record_run(run: Run) -> None:
    """Count a run that ended: its status, duration, and what it read and wrote."""
    RUNS.labels(run.crm, run.kind, str(run.status)).inc()
    if run.duration is not None:
        RUN_SECONDS.labels(run.crm, run.kind).observe(run.duration.total_seconds())
    counts = run.counts
    pulled = counts.get("records_pulled", counts.get("pulled"))
    if isinstance(pulled, dict):
        for object_type, n in pulled.items():
            PULLED.labels(run.crm, object_type).inc(int(n or 0))
    WRITTEN.labels(run.crm).inc(int(counts.get("records_written", counts.get("written")) or 0))
    FIELDS.labels(run.crm).inc(int(counts.get("fields_written") or 0))
    REJECTED.labels(run.crm).inc(int(counts.get("rejected") or 0))


def webhook_answered(crm: str, status: int, stored: int) -> None:
    """A webhook request the receiver answered, and the new events it stored."""
    WEBHOOKS.labels(crm, str(status)).inc()
    if stored:
        EVENTS_STORED.labels(crm).inc(stored)


def observe_events(crm: str, received: Iterable[datetime]) -> None:
    """The latency of events a round just finished."""
    now = datetime.now(UTC)
    histogram = EVENT_LATENCY.labels(crm)
    for at in received:
        histogram.observe(max(0.0, (now - at).total_seconds()))


class _ThisProcess(Collector):
    """The default registry's metrics, inside a registry of the scrape's own."""

    def collect(self) -> Iterator[Any]:
        from prometheus_client import REGISTRY

        yield from REGISTRY.collect()


class StoreCollector(Collector):
    """Inbox depth and lag and open dead letters, read from the state store when scraped."""

    def __init__(self, store: StateStore, crms: Iterable[str]) -> None:
        self.store = store
        self.crms = list(crms)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        depth = GaugeMetricFamily(
            "segsync_inbox_depth", "Change events not processed yet.", labels=["crm"]
        )
        lag = GaugeMetricFamily(
            "segsync_inbox_lag_seconds",
            "Age of the oldest change event not processed yet.",
            labels=["crm"],
        )
        letters = GaugeMetricFamily(
            "segsync_dead_letters_open",
            "Rows the CRM refused, neither written since nor dismissed.",
            labels=["crm"],
        )
        now = datetime.now(UTC)
        try:
            for crm in self.crms:
                depth.add_metric([crm], self.store.inbox_depth(crm))
                oldest = self.store.oldest_pending(crm)
                lag.add_metric([crm], 0.0 if oldest is None else (now - oldest).total_seconds())
                letters.add_metric([crm], self.store.open_dead_letter_count(crm))
        except Exception as exc:  # a scrape must answer; the gap says the store is down
            log.warning("metrics: the state store did not answer: %s", type(exc).__name__)
            return
        yield from (depth, lag, letters)


def registry(settings: Settings, store: StateStore | None) -> CollectorRegistry:
    """What ``/metrics`` exposes: this process's metrics, or every worker process's in
    multiprocess mode, plus the state store's gauges."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        scraped = CollectorRegistry()
        multiprocess.MultiProcessCollector(scraped)
    else:
        scraped = CollectorRegistry()
        scraped.register(_ThisProcess())
    if store is not None:
        scraped.register(StoreCollector(store, settings.crms))
    return scraped


def exposition(scraped: CollectorRegistry) -> tuple[bytes, str]:
    """The body and content type of a ``/metrics`` answer."""
    return generate_latest(scraped), CONTENT_TYPE_LATEST


def child_exited(pid: int) -> None:
    """A pool process is gone: its live gauges stop counting."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


def serve(settings: Settings, host: str, port: int) -> None:
    """``/metrics`` from a daemon thread of this process (a worker's main process)."""
    from prometheus_client import start_http_server

    store = StateStore(settings.database_url)
    try:
        start_http_server(port, addr=host, registry=registry(settings, store))
    except OSError as exc:  # another worker on this host has the port: work goes on
        log.warning(
            "/metrics not served: %s:%d is taken (%s); give each worker on a host its own "
            "--metrics-port",
            host,
            port,
            exc.strerror,
        )
        return
    log.info("metrics on http://%s:%d/metrics", host, port)
