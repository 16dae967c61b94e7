"""Bulk API 2.0 ingest: large updates as CSV jobs, with every row's outcome mapped back.

Bulk 2.0 reports only counters when a job ends; the per-row truth is in the job's
successful, failed and unprocessed result files, which are all fetched and joined back
to the input by record Id. A job that breaks half-way (lost answer, aborted, failed)
is aborted and run again as a new job: the rows carry absolute values, so applying one
twice changes nothing.
"""

from __future__ import annotations

import csv
import io
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from connectors.base import ConnectorError, FieldWrite, WriteResult, WriteStatus
from connectors.salesforce.errors import RETRYABLE_RECORD_CODES
from connectors.writes import same_result

log = logging.getLogger(__name__)

TERMINAL_STATES = frozenset({"JobComplete", "Failed", "Aborted"})
# Bulk 2.0 leaves a blank cell unchanged; this is how a field is cleared.
CLEAR = "#N/A"


class RestCall(Protocol):
    """Sends one REST request under /services/data/vXX.X/ and returns its body."""

    def __call__(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        raw: bool = False,
        retry: Any = None,
    ) -> Any: ...


@dataclass(frozen=True, slots=True)
class BulkJobReport:
    """What one ingest job did."""

    job_id: str
    state: str
    processed: int
    failed: int
    api_calls: int


class BulkIngest:
    """Runs ingest jobs through Bulk API 2.0 (record updates; any operation by ``job``)."""

    def __init__(
        self,
        rest: RestCall,
        *,
        poll_interval: float = 1.0,
        max_poll_interval: float = 5.0,
        job_timeout: float = 3600.0,
        attempts: int = 3,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._rest = rest
        self._poll = poll_interval
        self._max_poll = max_poll_interval
        self._timeout = job_timeout
        self._attempts = attempts
        self._sleep = sleep
        self.reports: list[BulkJobReport] = []

    def update(self, sobject: str, writes: Sequence[FieldWrite]) -> list[WriteResult]:
        """Update ``writes`` (one per record) in one job; one result per input."""
        last_error: ConnectorError | None = None
        for attempt in range(1, self._attempts + 1):
            try:
                return self._run_job(sobject, writes)
            except ConnectorError as exc:
                last_error = exc
                log.warning("bulk job for %s failed (attempt %d): %s", sobject, attempt, exc)
        reason = f"Bulk API job did not complete: {last_error}"
        return same_result(writes, WriteStatus.RETRYABLE, reason, "BULK_JOB")

    def _run_job(self, sobject: str, writes: Sequence[FieldWrite]) -> list[WriteResult]:
        info, results = self.job(sobject, "update", to_csv(writes))
        if info.get("state") == "Failed" and not any(rows_of(text) for text in results.values()):
            # A failed job (e.g. a header naming an unknown field) rejects every row alike.
            message = f"Bulk API job failed: {info.get('errorMessage') or 'no reason given'}"
            return same_result(writes, WriteStatus.REJECTED, message, "BULK_JOB_FAILED")
        return _map_results(writes, results)

    def job(
        self, sobject: str, operation: str, csv_text: str
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """Run one ingest job of ``csv_text``; its final info and its three result files
        (``successfulResults``, ``failedResults``, ``unprocessedrecords``) as CSV text."""
        calls = 0
        job = self._rest(
            "POST",
            "jobs/ingest/",
            json={
                "object": sobject,
                "operation": operation,
                "contentType": "CSV",
                "columnDelimiter": "COMMA",
                "lineEnding": "LF",
            },
        )
        job_id = str(job["id"])
        calls += 1
        try:
            self._rest(
                "PUT",
                f"jobs/ingest/{job_id}/batches",
                data=csv_text.encode("utf-8"),
                headers={"Content-Type": "text/csv"},
                raw=True,
            )
            self._rest("PATCH", f"jobs/ingest/{job_id}", json={"state": "UploadComplete"})
            calls += 2
            info, polls = self._wait(job_id)
            calls += polls
        except ConnectorError:
            self._abort(job_id)
            raise
        results = {
            name: self._rest("GET", f"jobs/ingest/{job_id}/{name}/", raw=True)
            for name in ("successfulResults", "failedResults", "unprocessedrecords")
        }
        calls += 3
        self.reports.append(
            BulkJobReport(
                job_id,
                str(info.get("state")),
                int(info.get("numberRecordsProcessed") or 0),
                int(info.get("numberRecordsFailed") or 0),
                calls,
            )
        )
        return info, results

    def _wait(self, job_id: str) -> tuple[dict[str, Any], int]:
        deadline = time.monotonic() + self._timeout
        delay, polls = self._poll, 0
        while True:
            self._sleep(delay)
            info = self._rest("GET", f"jobs/ingest/{job_id}")
            polls += 1
            if info.get("state") in TERMINAL_STATES:
                return info, polls
            if time.monotonic() > deadline:
                raise ConnectorError(
                    f"Bulk API job {job_id} still {info.get('state')} after {self._timeout:.0f} s"
                )
            delay = min(delay * 1.5, self._max_poll)

    def _abort(self, job_id: str) -> None:
        try:
            self._rest("PATCH", f"jobs/ingest/{job_id}", json={"state": "Aborted"})
        except ConnectorError as exc:  # the job may already be past aborting
            log.info("could not abort bulk job %s: %s", job_id, exc)


def to_csv(writes: Sequence[FieldWrite]) -> str:
    """The job's CSV: Id plus the union of fields; blank = unchanged, #N/A = cleared."""
    fields = list(dict.fromkeys(name for w in writes for name in w.fields))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["Id", *fields])
    for w in writes:
        row = [w.record_id]
        for name in fields:
            value = w.fields.get(name)
            row.append("" if value is None else (value if value != "" else CLEAR))
        writer.writerow(row)
    return out.getvalue()


def rows_of(text: str) -> list[dict[str, str]]:
    """The rows of a result file."""
    return list(csv.DictReader(io.StringIO(text))) if text and text.strip() else []


def _map_results(writes: Sequence[FieldWrite], files: Mapping[str, str]) -> list[WriteResult]:
    outcome: dict[str, tuple[WriteStatus, str | None, str | None]] = {}
    # Rows are joined back to the input by its Id column (sf__Id can be blank on failure).
    for row in rows_of(files["successfulResults"]):
        outcome[row.get("Id") or row.get("sf__Id") or ""] = (WriteStatus.OK, None, None)
    for row in rows_of(files["failedResults"]):
        error = row.get("sf__Error", "")
        code = error.split(":", 1)[0] if ":" in error else "BULK_ROW_FAILED"
        status = WriteStatus.RETRYABLE if code in RETRYABLE_RECORD_CODES else WriteStatus.REJECTED
        outcome[row.get("Id") or row.get("sf__Id") or ""] = (status, f"Salesforce: {error}", code)
    for row in rows_of(files["unprocessedrecords"]):
        outcome[row.get("Id", "")] = (
            WriteStatus.RETRYABLE,
            "not processed by the job",
            "UNPROCESSED",
        )
    missing = (WriteStatus.RETRYABLE, "missing from the job's result files", "NO_RESULT")
    return [
        WriteResult(w.object_type, w.record_id, *outcome.get(w.record_id, missing)) for w in writes
    ]
