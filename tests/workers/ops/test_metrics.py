"""Prometheus /metrics of a worker and of the receiver, scraped after a real sandbox sync.

A worker process (its Celery pool included, in multiprocess mode) and a `segsync
webhooks serve` process run against the sandbox, PostgreSQL and Redis; a full sync goes
through the worker, a 429 is injected on one write, and changes reach the worker as
webhooks through the receiver. Both /metrics pages are then parsed.
"""

from __future__ import annotations

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.deployment import Deployment
from tests.instruments import free_port
from workers.ops.metrics import endpoint_class

pytestmark = pytest.mark.integration
SECRET = "metrics-test-app-secret"

Samples = dict[str, list[tuple[dict[str, str], float]]]


def scrape(url: str) -> Samples:
    """Every sample of a /metrics page, by sample name (``_total``, ``_count`` included)."""
    answer = requests.get(url, timeout=10)
    assert answer.status_code == 200, answer.text[:300]
    assert answer.headers["Content-Type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return samples


def total(samples: Samples, name: str, **labels: str) -> float:
    return sum(
        value
        for have, value in samples.get(name, [])
        if all(have.get(k) == v for k, v in labels.items())
    )


def test_a_worker_and_the_receiver_expose_what_a_sync_and_its_events_did(
    deployment: Deployment,
) -> None:
    d = deployment
    receiver_port, metrics_port = free_port(), free_port()
    d.start_sandbox(
        contacts=300,
        companies=40,
        deals=100,
        webhook_url=f"http://127.0.0.1:{receiver_port}/webhooks/hubspot",
        webhook_secret=SECRET,
    )
    d.settings["SEGSYNC_HUBSPOT_APP_SECRET"] = SECRET
    d.segsync("schema", "apply", "--crm", "hubspot")
    d.settings["SEGSYNC_METRICS_PORT"] = str(metrics_port)
    worker = d.start_worker(concurrency=2)
    d.settings["SEGSYNC_METRICS_PORT"] = "0"
    d.start_receiver(receiver_port)
    d.wait_ready(worker)
    # HubSpot answers one write with 429: the write is retried, and counted twice.
    d.admin("POST", "faults/script", json={"endpoint": "objects.batch_update", "faults": ["429"]})
    d.segsync("sync", "--crm", "hubspot", "--full", timeout=300)
    d.admin("POST", "mutate", json={"count": 20, "object_type": "contacts"})
    seen: list[int] = []

    def settled() -> bool:
        # Processed, and quiet for a second: the echoes of the rounds' writes died out.
        processed = store.counters("hubspot").get("processed", 0)
        seen.append(processed if store.inbox_depth("hubspot") == 0 else -1)
        return processed > 0 and seen[-3:] == [processed] * 3

    with d.store() as store:
        d.wait_for("the change events to be processed", settled, 120, interval=0.5)

    w = scrape(f"http://127.0.0.1:{metrics_port}/metrics")
    assert total(w, "segsync_runs_total", crm="hubspot", kind="sync-full", status="succeeded") == 1
    assert total(w, "segsync_run_duration_seconds_count", crm="hubspot", kind="sync-full") == 1
    assert total(w, "segsync_run_duration_seconds_sum", crm="hubspot") > 0
    assert total(w, "segsync_records_pulled_total", crm="hubspot", object_type="contact") == 300
    written = total(w, "segsync_records_written_total", crm="hubspot")
    rejected = total(w, "segsync_rows_rejected_total", crm="hubspot")
    assert (written, rejected) == (340, 0)  # 300 contacts and 40 companies
    assert total(w, "segsync_fields_written_total", crm="hubspot") > 3000
    assert total(w, "segsync_api_calls_total", crm="hubspot", endpoint="list", status="200") > 0
    assert total(w, "segsync_api_calls_total", crm="hubspot", endpoint="batch_write", status="200")
    assert total(w, "segsync_api_calls_total", crm="hubspot", endpoint="batch_write", status="429")
    assert total(w, "segsync_api_rate_limited_total", crm="hubspot", endpoint="batch_write") >= 1
    limit = total(w, "segsync_api_quota_limit", crm="hubspot", window="daily")
    used = total(w, "segsync_api_quota_used", crm="hubspot", window="daily")
    assert limit > 0 and 0 < used < limit
    assert total(w, "segsync_api_quota_limit", crm="hubspot", window="10s") > 0
    budget = total(w, "segsync_daily_budget_left", crm="hubspot")
    assert 0 < budget <= limit * 0.5  # segsync's default share: half the daily limit
    assert total(w, "segsync_event_latency_seconds_count", crm="hubspot") >= 1
    assert total(w, "segsync_event_latency_seconds_sum", crm="hubspot") > 0
    for gauge in ("segsync_inbox_depth", "segsync_inbox_lag_seconds", "segsync_dead_letters_open"):
        assert [labels for labels, _ in w[gauge]] == [{"crm": "hubspot"}], gauge
    assert total(w, "segsync_inbox_depth", crm="hubspot") == 0

    r = scrape(f"http://127.0.0.1:{receiver_port}/metrics")
    assert total(r, "segsync_webhook_requests_total", crm="hubspot", status="200") >= 1
    assert total(r, "segsync_events_stored_total", crm="hubspot") >= 20
    assert total(r, "segsync_inbox_depth", crm="hubspot") == 0
    assert total(r, "segsync_dead_letters_open", crm="hubspot") == rejected
    assert total(w, "segsync_dead_letters_open", crm="hubspot") == rejected
    ready = requests.get(f"http://127.0.0.1:{receiver_port}/readyz", timeout=10)
    assert ready.status_code == 200 and ready.json()["status"] == "ready"


@pytest.mark.parametrize(
    ("crm", "path", "expected"),
    [
        ("hubspot", "/crm/v3/objects/contacts/search", "search"),
        ("hubspot", "/crm/v3/objects/contacts/batch/update", "batch_write"),
        ("hubspot", "/crm/v3/objects/deals/batch/read", "batch_read"),
        ("hubspot", "/crm/v4/associations/contacts/companies/batch/read", "associations"),
        ("hubspot", "/crm/v3/properties/contacts/batch/create", "schema"),
        ("hubspot", "/crm/v3/objects/contacts", "list"),
        ("hubspot", "/oauth/v1/token", "auth"),
        ("salesforce", "/services/data/v59.0/query", "query"),
        ("salesforce", "/services/data/v59.0/query/01gXX-2000", "query"),
        ("salesforce", "/services/data/v59.0/composite/sobjects", "collections"),
        ("salesforce", "/services/data/v59.0/jobs/ingest/750XX/batches", "bulk"),
        ("salesforce", "/services/data/v59.0/sobjects/Contact/describe", "schema"),
        ("salesforce", "/services/oauth2/token", "auth"),
        ("salesforce", "/services/Soap/m/59.0", "metadata"),
        ("salesforce", "/favicon.ico", "other"),
    ],
)
def test_calls_are_counted_by_endpoint_class(crm: str, path: str, expected: str) -> None:
    assert endpoint_class(crm, path) == expected
