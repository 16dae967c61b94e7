"""Bulk API 2.0 ingest jobs: ``/jobs/ingest`` create, upload, close/abort, poll, results, delete.

A job moves Open -> UploadComplete -> InProgress -> JobComplete (or Failed / Aborted). After
``UploadComplete`` it waits ``bulk_latency_seconds``, then "processes" for rows /
``bulk_rows_per_second`` seconds, so clients really poll. Rows are validated like REST
writes and applied at the end of processing; a job whose CSV cannot be read (unknown
header field, stray quote, wrong line endings) ends ``Failed`` with an ``errorMessage``
and all its rows unprocessed. A blank cell leaves a field unchanged, ``#N/A`` clears it.
Every Bulk call is an API request (the pipeline counts it); each job consumes one
``DailyBulkApiBatches`` unit per started 10,000 records.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from werkzeug.wrappers import Request, Response

from connectors.sandbox.salesforce.bulk_csv import (
    DELIMITERS,
    LINE_ENDINGS,
    CsvProblem,
    read_upload,
    write_results,
)
from connectors.sandbox.salesforce.error_bodies import (
    RecordError,
    SfError,
    json_response,
    no_content,
    not_found,
)
from connectors.sandbox.salesforce.ids import PREFIXES, make_id
from connectors.sandbox.salesforce.object_schema import FieldDef, ObjectDef
from connectors.sandbox.salesforce.record_writes import Writer
from connectors.sandbox.salesforce.records import SalesforceData
from connectors.sandbox.salesforce.rest import read_json
from connectors.sandbox.salesforce.values import Unconvertible, coerce, iso

OPERATIONS = ("insert", "update", "upsert", "delete", "hardDelete")
TERMINAL = ("JobComplete", "Failed", "Aborted")
MAX_UPLOAD = 150 * 1024 * 1024 * 3 // 4  # 150 MB after base64
CLEAR = "#N/A"
CHUNK = 1000  # rows applied per hold of the store lock
RESULTS = {
    "successfulResults": "successful",
    "failedResults": "failed",
    "unprocessedrecords": "unprocessed",
    "unprocessedRecords": "unprocessed",
}


@dataclass(slots=True)
class Job:
    """One ingest job and, once processed, its results."""

    id: str
    obj: ObjectDef
    operation: str
    external_id: str | None
    line_ending: str
    delimiter: str
    api_version: float
    created_ms: int
    modstamp_ms: int
    state: str = "Open"
    data: bytes | None = None
    start_at: float = 0.0  # monotonic: processing starts (UploadComplete -> InProgress)
    done_at: float = 0.0  # monotonic: processing ends
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    problem: str | None = None
    processed: int = 0
    failed: int = 0
    successful_rows: list[list[str]] = field(default_factory=list)
    failed_rows: list[list[str]] = field(default_factory=list)
    unprocessed_rows: list[list[str]] = field(default_factory=list)
    processing_ms: int = 0
    timer: threading.Timer | None = None


class BulkApi:
    """The ingest side of Bulk API 2.0."""

    def __init__(self, data: SalesforceData, writer: Writer) -> None:
        self.data = data
        self.writer = writer
        self.config = data.state.config
        self._jobs: dict[str, Job] = {}
        self._lock = threading.RLock()
        self._serial = itertools.count(1)
        self._batches: deque[tuple[float, int]] = deque()  # (wall time, batches) for limits

    def batches_used(self) -> int:
        """Bulk API batches consumed in the last 24 hours."""
        horizon = time.time() - 86_400
        with self._lock:
            while self._batches and self._batches[0][0] < horizon:
                self._batches.popleft()
            return sum(n for _, n in self._batches)

    # -- job lifecycle ------------------------------------------------------------------------

    def create(self, request: Request, version: str) -> Response:
        """``POST jobs/ingest``."""
        body, _ = read_json(request)
        if not isinstance(body, dict):
            raise SfError(400, "INVALIDJOB", "The request body must be a JSON object")
        name, operation = body.get("object"), body.get("operation")
        obj = self.data.obj(str(name)) if name else None
        if obj is None:
            raise SfError(
                400, "INVALIDENTITY", f"Entity '{name}' is not supported by the Bulk API."
            )
        if operation not in OPERATIONS:
            raise SfError(400, "INVALIDJOB", f"Invalid job operation: {operation}")
        if operation == "hardDelete":
            raise SfError(
                400,
                "FEATURENOTENABLED",
                "Hard delete requires the Bulk API Hard Delete permission, which the "
                "integration user does not have",
            )
        external = body.get("externalIdFieldName")
        if operation == "upsert":
            definition = self.data.field(obj, str(external)) if external else None
            if definition is None or not (definition.external_id or definition.name == "Id"):
                raise SfError(
                    400,
                    "INVALIDJOB",
                    f"External ID was blank for {obj.name}. An External ID must be specified "
                    "for upsert."
                    if not external
                    else f"The field {external} is not an External ID or Id field on {obj.name}",
                )
            external = definition.name
        content_type = body.get("contentType", "CSV")
        line_ending = body.get("lineEnding", "LF")
        delimiter = body.get("columnDelimiter", "COMMA")
        if content_type != "CSV":
            raise SfError(400, "INVALIDJOB", f"Invalid contentType: {content_type}")
        if line_ending not in LINE_ENDINGS:
            raise SfError(400, "INVALIDJOB", f"Invalid lineEnding: {line_ending}")
        if delimiter not in DELIMITERS:
            raise SfError(400, "INVALIDJOB", f"Invalid columnDelimiter: {delimiter}")
        now = self.data.now_ms()
        job = Job(
            id=make_id(PREFIXES["BulkJob"], 4_000_000 + next(self._serial)),
            obj=obj,
            operation=str(operation),
            external_id=external if operation == "upsert" else None,
            line_ending=line_ending,
            delimiter=delimiter,
            api_version=float(version[1:]),
            created_ms=now,
            modstamp_ms=now,
        )
        with self._lock:
            self._jobs[job.id] = job
        return json_response(200, self._info(job, version, full=False))

    def _job(self, job_id: str) -> Job:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise not_found()
        self._advance(job)
        return job

    def upload(self, request: Request, job_id: str) -> Response:
        """``PUT jobs/ingest/{id}/batches``: 201, once, while the job is Open."""
        job = self._job(job_id)
        content_type = (request.content_type or "").split(";")[0].strip().lower()
        if content_type != "text/csv":
            raise SfError(
                415,
                "UNSUPPORTEDMEDIATYPE",
                f"Content-Type {request.content_type or '(none)'} is not supported; use text/csv",
            )
        data = request.get_data()
        with self._lock:
            if job.state != "Open":
                raise SfError(409, "INVALIDJOBSTATE", f"Job {job.id} is not Open: {job.state}")
            if job.data is not None:
                raise SfError(
                    409,
                    "INVALIDJOBSTATE",
                    f"Data for job {job.id} was uploaded already; Bulk API 2.0 takes one upload "
                    "per job",
                )
            if not data:
                raise SfError(400, "CLIENTINPUTERROR", "The request body is empty")
            if len(data) > MAX_UPLOAD:
                raise SfError(
                    413,
                    "CLIENTINPUTERROR",
                    "The upload exceeds 150 MB after base64 encoding; split it into several jobs",
                )
            job.data = data
            job.modstamp_ms = self.data.now_ms()
        return Response(b"", status=201)

    def patch(self, request: Request, version: str, job_id: str) -> Response:
        """``PATCH jobs/ingest/{id}`` ``{"state": "UploadComplete" | "Aborted"}``."""
        job = self._job(job_id)
        body, _ = read_json(request)
        wanted = body.get("state") if isinstance(body, dict) else None
        with self._lock:
            if wanted == "UploadComplete" and job.state == "Open":
                self._close(job)
            elif wanted == "Aborted" and job.state not in TERMINAL:
                self._abort(job)
            elif wanted in ("UploadComplete", "Aborted"):
                raise SfError(
                    409,
                    "INVALIDJOBSTATE",
                    f"Job {job.id} is in state {job.state} and cannot be set to {wanted}",
                )
            else:
                raise SfError(400, "INVALIDJOBSTATE", f"Invalid state for a job update: {wanted}")
            job.modstamp_ms = self.data.now_ms()
        return json_response(200, self._info(job, version, full=False))

    def _close(self, job: Job) -> None:
        """UploadComplete: read the upload now, schedule processing (lock held)."""
        job.state = "UploadComplete"
        try:
            if job.data is None:
                raise CsvProblem("InvalidBatch : Records not processed: no data was uploaded")
            job.header, job.rows = read_upload(job.data, job.delimiter, job.line_ending)
            self._check_header(job)
        except CsvProblem as problem:
            job.problem = str(problem)
        now = time.monotonic()
        job.start_at = now + self.config.bulk_latency_seconds
        job.done_at = job.start_at + len(job.rows) / self.config.bulk_rows_per_second
        # A hair late, so the timer never wakes up before done_at and leaves the job hanging.
        job.timer = threading.Timer(max(0.0, job.done_at - now) + 0.005, self._advance, (job,))
        job.timer.daemon = True
        job.timer.start()

    def _check_header(self, job: Job) -> None:
        seen: set[str] = set()
        for name in job.header:
            definition = self.data.field(job.obj, name.strip())
            if definition is None:
                raise CsvProblem(f"InvalidBatch : Field name not found : {name}")
            if definition.name in seen:
                raise CsvProblem(f"InvalidBatch : Duplicate field name : {name}")
            seen.add(definition.name)
        if job.operation == "delete" and [n.strip().lower() for n in job.header] != ["id"]:
            raise CsvProblem("InvalidBatch : The 'delete' batch must contain only 'Id' field")
        if job.operation == "update" and "Id" not in seen:
            raise CsvProblem("InvalidBatch : Field name not found : Id")

    def _abort(self, job: Job) -> None:
        if job.timer is not None:
            job.timer.cancel()
        if job.data is not None and not job.header:
            # Aborted before closing: the upload was never read, but is reported unprocessed.
            with contextlib.suppress(CsvProblem):
                job.header, job.rows = read_upload(job.data, job.delimiter, job.line_ending)
        job.state = "Aborted"
        job.unprocessed_rows = list(job.rows)

    def _advance(self, job: Job) -> None:
        """Bring a job's state up to the clock, processing it when its time has come."""
        with self._lock:
            if job.state in ("Open", *TERMINAL):
                return
            now = time.monotonic()
            if now >= job.done_at:
                self._process(job)
            elif now >= job.start_at:
                job.state = "InProgress"

    def _process(self, job: Job) -> None:
        """Apply every row (lock held)."""
        started = time.monotonic()
        job.state = "InProgress"
        if job.problem is not None:
            job.state = "Failed"
            job.unprocessed_rows = list(job.rows)
            job.modstamp_ms = self.data.now_ms()
            return
        for start in range(0, len(job.rows), CHUNK):
            # The store lock is taken per chunk: API reads go on while a big job runs.
            with self.data.state.store.lock:
                now = self.data.now_ms()
                for values in job.rows[start : start + CHUNK]:
                    record_id, created, error = self._row(job, values, now)
                    job.processed += 1
                    if error is None:
                        job.successful_rows.append(
                            [record_id or "", "true" if created else "false", *values]
                        )
                    else:
                        job.failed += 1
                        job.failed_rows.append([record_id or "", error.bulk(), *values])
        with self._lock:
            self._batches.append((time.time(), max(1, math.ceil(len(job.rows) / 10_000))))
        job.processing_ms = int((time.monotonic() - started) * 1000) + int(
            len(job.rows) / self.config.bulk_rows_per_second * 1000
        )
        job.state = "JobComplete"
        job.modstamp_ms = self.data.now_ms()

    def _row(
        self, job: Job, values: list[str], now: int
    ) -> tuple[str | None, bool, RecordError | None]:
        """Process one CSV row: (record id, created, error)."""
        obj = job.obj
        fields: dict[str, tuple[FieldDef, Any]] = {}
        key: str | None = None
        for name, cell in zip(job.header, values, strict=True):
            definition = self.data.field(obj, name.strip())
            assert definition is not None  # the header was checked when the job closed
            if definition.name == "Id" or definition.name == job.external_id:
                key = cell.strip() or None
                if definition.name == "Id":
                    continue
            if cell == "":
                continue  # a blank cell leaves the field as it is
            if cell == CLEAR:
                fields[definition.name] = (definition, None)
                continue
            try:
                fields[definition.name] = (definition, coerce(definition, cell))
            except Unconvertible:
                return (
                    key,
                    False,
                    RecordError(
                        "INVALID_TYPE_ON_FIELD_IN_RECORD",
                        f"{definition.label}: value not of required type: {cell}",
                        (definition.name,),
                    ),
                )
        table = self.data.table(obj)
        row: int | None = None
        if job.operation in ("update", "delete") or (job.operation == "upsert" and key):
            found = self._find(job, key)
            if isinstance(found, int):
                row = found
            elif not (
                job.operation == "upsert" and found.code == "NOT_FOUND" and job.external_id != "Id"
            ):
                return key, False, found  # an upsert by external id inserts what it cannot find
        if job.operation == "delete":
            assert row is not None
            self.writer.delete(obj, row, now)
            return key, False, None
        values_out, error = self.writer.check(obj, row, fields)
        if error is not None:
            return key, False, error
        if row is None:
            row = self.writer.insert(obj, values_out, now)
            return self.data.record_id(obj, table.ids[row]), True, None
        self.writer.update(obj, row, values_out, now)
        return self.data.record_id(obj, table.ids[row]), False, None

    def _find(self, job: Job, key: str | None) -> int | RecordError:
        """The row a key names, or the row's error."""
        obj = job.obj
        if not key:
            return RecordError("MISSING_ARGUMENT", "Id not specified in an update call", ("Id",))
        table = self.data.table(obj)
        if job.external_id in (None, "Id"):
            number = self.data.number(obj, key)
            if number is None:
                return RecordError(
                    "MALFORMED_ID", f"{obj.name} ID: id value of incorrect type: {key}", ("Id",)
                )
            row = table.row_of.get(number)
            if row is None:
                return RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
            if table.archived[row]:
                return RecordError("ENTITY_IS_DELETED", "entity is deleted")
            return row
        column = table.cols[str(job.external_id)]
        matches = [
            r
            for r, value in enumerate(column)
            if value is not None and str(value).lower() == key.lower() and not table.archived[r]
        ]
        if len(matches) > 1:
            return RecordError(
                "DUPLICATE_EXTERNAL_ID",
                f"{job.external_id}: more than one record found for external id field: "
                f"{[self.data.record_id(obj, table.ids[r]) for r in matches]}",
            )
        if not matches:
            return RecordError("NOT_FOUND", "not found")
        return matches[0]

    # -- reading jobs -----------------------------------------------------------------------------

    def get(self, version: str, job_id: str) -> Response:
        """``GET jobs/ingest/{id}``."""
        job = self._job(job_id)
        with self._lock:
            return json_response(200, self._info(job, version, full=True))

    def list(self, version: str) -> Response:
        """``GET jobs/ingest``: every job, newest last."""
        with self._lock:
            jobs = list(self._jobs.values())
        for job in jobs:
            self._advance(job)
        with self._lock:
            records = [self._info(job, version, full=False) for job in jobs]
        return json_response(200, {"done": True, "records": records, "nextRecordsUrl": None})

    def delete(self, job_id: str) -> Response:
        """``DELETE jobs/ingest/{id}``: only jobs in a terminal state."""
        job = self._job(job_id)
        with self._lock:
            if job.state not in TERMINAL:
                raise SfError(
                    400,
                    "INVALIDJOBSTATE",
                    f"Job {job.id} is in state {job.state}; only completed, failed or aborted "
                    "jobs can be deleted",
                )
            del self._jobs[job.id]
        return no_content()

    def results(self, job_id: str, kind: str) -> Response:
        """``GET …/successfulResults``, ``…/failedResults``, ``…/unprocessedrecords`` (CSV)."""
        job = self._job(job_id)
        with self._lock:
            if job.state not in TERMINAL:
                raise SfError(
                    412, "JOB_NOT_COMPLETE", f"Job {job.id} is not complete yet: {job.state}"
                )
            which = RESULTS[kind]
            if which == "successful":
                text = write_results(
                    ("sf__Id", "sf__Created"), job.header, job.successful_rows, job.delimiter
                )
            elif which == "failed":
                text = write_results(
                    ("sf__Id", "sf__Error"), job.header, job.failed_rows, job.delimiter
                )
            else:
                text = write_results((), job.header, job.unprocessed_rows, job.delimiter)
        return Response(text.encode(), status=200, content_type="text/csv")

    def _info(self, job: Job, version: str, *, full: bool) -> dict[str, Any]:
        info: dict[str, Any] = {
            "id": job.id,
            "operation": job.operation,
            "object": job.obj.name,
            "createdById": self.data.user_id,
            "createdDate": iso(job.created_ms),
            "systemModstamp": iso(job.modstamp_ms),
            "state": job.state,
        }
        if job.external_id:
            info["externalIdFieldName"] = job.external_id
        info.update(
            {
                "concurrencyMode": "Parallel",
                "contentType": "CSV",
                "apiVersion": job.api_version,
                "jobType": "V2Ingest",
                "lineEnding": job.line_ending,
                "columnDelimiter": job.delimiter,
            }
        )
        if job.state == "Open":
            info["contentUrl"] = f"services/data/{version}/jobs/ingest/{job.id}/batches"
        if full:
            info.update(
                {
                    "numberRecordsProcessed": job.processed,
                    "numberRecordsFailed": job.failed,
                    "retries": 0,
                    "totalProcessingTime": job.processing_ms,
                    "apiActiveProcessingTime": job.processing_ms,
                    "apexProcessingTime": 0,
                }
            )
            if job.state == "Failed" and job.problem:
                info["errorMessage"] = job.problem
        return info
