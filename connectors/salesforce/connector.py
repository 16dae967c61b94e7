"""Salesforce connector on ``simple-salesforce``.

Reads stream through SOQL (``query_all_iter``) in a total order — Id for full reads,
(SystemModstamp, Id) for incremental ones — so a read broken by a transient failure
resumes after the last record it handed on instead of starting over. Incremental reads
use ``queryAll`` so deletions arrive as records marked deleted. Writes go through sObject
Collections (200 per call) or, above a threshold, Bulk API 2.0 jobs; every record gets
its own result, converted leads are written on their converted contact, and a run stops
before it spends more than its share of the org's daily API allocation.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote_plus, urlencode, urlsplit

from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError
from simple_salesforce.format import format_soql
from simple_salesforce.util import exception_handler

from connectors.base import (
    ApiUsage,
    BudgetExhaustedError,
    ConnectorError,
    CrmName,
    Cursor,
    FieldSpec,
    FieldWrite,
    ObjectType,
    RateLimitedError,
    Record,
    RecordBatch,
    SchemaChange,
    TransientError,
    WriteResult,
    WriteStatus,
)
from connectors.budget import DailyBudget
from connectors.ratelimit import Limiter
from connectors.retrying import RetryPolicy, call_with_retries
from connectors.salesforce.bulk import BulkIngest, BulkJobReport
from connectors.salesforce.campaigns import SalesforceCampaigns
from connectors.salesforce.errors import RETRYABLE_RECORD_CODES, translate
from connectors.salesforce.schema import MetadataSchema, field_api_name
from connectors.salesforce.session import (
    GuardedAdapter,
    SalesforceAuth,
    build_session,
    login,
)
from connectors.salesforce.streams import SalesforceStream, stream_for
from connectors.writes import group_writes, write_in_chunks

log = logging.getLogger(__name__)

COLLECTION_SIZE = 200  # sObject Collections maximum
ID_CHUNK = 500  # ids per `IN (...)` list: keeps the query URI far below 16 KB
# Query path plus ?q=... in bytes; the rest of Salesforce's 16,384 goes to the headers.
QUERY_URI_BUDGET = 14_000
_SF_ID = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?")
_SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


@dataclass(frozen=True)
class SalesforceConfig:
    """Everything the connector needs; built from settings by the workers."""

    auth: SalesforceAuth = field(default_factory=SalesforceAuth)
    api_version: str = "59.0"
    daily_budget_share: float = 0.5
    bulk_threshold: int = 2000
    bulk_job_size: int = 10_000
    bulk_poll_interval: float = 1.0
    connect_timeout: float = 5.0
    read_timeout: float = 120.0
    # SystemModstamp is stamped when a transaction starts, and a long transaction can
    # commit after later ones: never claim completeness closer to "now" than this.
    lag_seconds: float = 5.0
    page_size: int = 2000
    retry: RetryPolicy = field(default_factory=RetryPolicy)


class SalesforceConnector:
    """Reads and writes Salesforce records; implements :class:`connectors.base.Connector`."""

    crm: CrmName = "salesforce"

    def __init__(
        self,
        config: SalesforceConfig,
        *,
        limiter: Limiter | None = None,
        budget: DailyBudget | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self.config = config
        self._clock = clock
        self.budget = budget if budget is not None else DailyBudget(config.daily_budget_share)
        loopback = (
            config.auth.instance_url
            if (config.auth.instance_url or "").startswith("http://")
            else None
        )
        self.adapter = GuardedAdapter(
            self.budget, (config.connect_timeout, config.read_timeout), loopback, limiter=limiter
        )
        self.session = build_session(self.adapter)
        self.sf: Salesforce = self._login()
        self._bulk = BulkIngest(self._rest, poll_interval=config.bulk_poll_interval)
        self._user: str | None = None
        self.campaigns = SalesforceCampaigns(
            self._rest, self._query, self._bulk, config.bulk_threshold
        )

    # -- contract -------------------------------------------------------------------------

    def check(self) -> ApiUsage:
        """One cheap authenticated call (``/limits``) that also reports API usage."""
        limits = self._rest("GET", "limits/", retry=RetryPolicy(max_attempts=2, max_elapsed=20))
        daily = limits.get("DailyApiRequests") or {}
        if "Max" in daily and "Remaining" in daily:
            self.budget.observe(int(daily["Max"]), int(daily["Remaining"]))
        return self.usage()

    def usage(self) -> ApiUsage:
        return ApiUsage(
            daily_max=self.budget.daily_max,
            daily_remaining=self.budget.daily_remaining,
            calls_made=self.budget.calls,
        )

    @property
    def bulk_jobs(self) -> list[BulkJobReport]:
        """The Bulk API 2.0 jobs this connector has run (state, rows, API calls)."""
        return list(self._bulk.reports)

    @property
    def write_batch_size(self) -> int:
        """Records one write call confirms together (an sObject Collections request)."""
        return COLLECTION_SIZE

    def field_name(self, name: str) -> str:
        """Salesforce's API name for a segsync field."""
        return field_api_name(name)

    def field_access(self, object_type: ObjectType) -> dict[str, bool]:
        """segsync's fields visible on the object, and whether each is writable."""
        stream = stream_for(object_type)
        described = self._rest("GET", f"sobjects/{stream.sobject}/describe")
        return {
            str(f["name"]): bool(f.get("updateable"))
            for f in described.get("fields", [])
            if str(f.get("name", "")).startswith("Segsync_")
        }

    def property_kinds(self, object_type: ObjectType) -> dict[str, str]:
        """Every field of the object and its Salesforce type (string, double, picklist...)."""
        described = self._rest("GET", f"sobjects/{stream_for(object_type).sobject}/describe")
        return {str(f["name"]): str(f.get("type")) for f in described.get("fields", [])}

    def snapshot_cursor(self, object_type: ObjectType) -> Cursor:
        """A cursor to store after a full read that starts now."""
        return Cursor(object_type=object_type, modified_at=self._horizon(), last_id=None)

    def read_all(self, object_type: ObjectType, properties: Sequence[str]) -> Iterator[RecordBatch]:
        """Every live record, in Id order, ``page_size`` at a time."""
        stream = stream_for(object_type)
        fields = _select(stream, properties)
        last_id: str | None = None

        def soql() -> str:
            where = [c for c in (stream.full_read_filter, _after_id(last_id)) if c]
            clause = f" WHERE {' AND '.join(where)}" if where else ""
            return f"SELECT {', '.join(fields)} FROM {stream.sobject}{clause} ORDER BY Id"

        for rows in self._pages(soql, include_deleted=False):
            records = self._records(stream, rows)
            last_id = records[-1].id
            yield RecordBatch(object_type, tuple(records))

    def read_ids(
        self, object_type: ObjectType, ids: Sequence[str], properties: Sequence[str]
    ) -> list[Record]:
        """The live records among ``ids``, in input order, shaped as :meth:`read_all` does.

        One ``SELECT ... WHERE Id IN (...)`` per chunk of up to 500 ids (fewer when the
        field list is long: the query URI stays under Salesforce's 16 KB), plus, for deals,
        the contact-role query read_all makes: 100 records cost 1 call, 100 deals 2.
        Deleted records, ids of other sObjects, malformed ids and records read_all skips
        (converted leads) are left out. Records carry 18-character ids; an id asked for
        is matched on its case-sensitive 15-character stem (restored from the suffix of an
        18-character id in any case).
        """
        stream = stream_for(object_type)
        fields = _select(stream, properties)
        wanted = list(dict.fromkeys(i for i in map(_id15, ids) if i is not None))
        rows: list[dict[str, Any]] = []
        where = f" AND {stream.full_read_filter}" if stream.full_read_filter else ""
        prefix = f"SELECT {', '.join(fields)} FROM {stream.sobject} WHERE Id IN ("
        suffix = f"){where}"
        for chunk in self._id_chunks(prefix + suffix, wanted):
            listed = ", ".join(f"'{i}'" for i in chunk)
            rows.extend(self._query(f"{prefix}{listed}{suffix}"))
        found = {r.id[:15]: r for r in self._records(stream, rows)}
        return [found[i] for i in wanted if i in found]

    def read_changed(self, cursor: Cursor, properties: Sequence[str]) -> Iterator[RecordBatch]:
        """Records changed (or deleted) after ``cursor``, in (SystemModstamp, Id) order."""
        stream = stream_for(cursor.object_type)
        fields = _select(stream, [*properties, "IsDeleted"])
        horizon = _soql_datetime(self._horizon())
        position = cursor

        def soql() -> str:
            where = [f"{stream.replication_key} <= {horizon}"]
            if position.modified_at is not None:
                ts = _soql_datetime(position.modified_at)
                after = f"{stream.replication_key} > {ts}"
                if position.last_id:
                    after = (
                        f"({after} OR ({stream.replication_key} = {ts} "
                        f"AND Id > '{position.last_id}'))"
                    )
                where.append(after)
            return (
                f"SELECT {', '.join(fields)} FROM {stream.sobject} WHERE {' AND '.join(where)} "
                f"ORDER BY {stream.replication_key}, Id"
            )

        for rows in self._pages(soql, include_deleted=True):
            records = self._records(stream, rows)
            position = position.advanced_to(records[-1].updated_at, records[-1].id)
            yield RecordBatch(cursor.object_type, tuple(records), position)

    def write(self, writes: Sequence[FieldWrite]) -> list[WriteResult]:
        """Collections for small runs, Bulk API 2.0 above the threshold; one result each."""
        results: list[WriteResult] = []
        for object_type, inputs in group_writes(writes).items():
            stream = stream_for(object_type)
            if object_type == "lead":
                results.extend(self._write_leads(inputs))
                continue
            results.extend(self._write_records(stream, inputs))
        return results

    def apply_schema(
        self, object_type: ObjectType, specs: Sequence[FieldSpec]
    ) -> list[SchemaChange]:
        """Create segsync's fields and grant the integration user access to them."""
        stream = stream_for(object_type)
        mdapi = self.sf.mdapi
        # zeep keeps its own requests session: route Metadata calls through ours too.
        mdapi._client.transport.session = self.session
        schema = MetadataSchema(mdapi, self._rest, self._user_id, self.config.retry)
        return schema.apply(object_type, stream.sobject, specs)

    # -- reading ----------------------------------------------------------------------------

    def _pages(
        self, soql: Callable[[], str], *, include_deleted: bool
    ) -> Iterator[list[dict[str, Any]]]:
        """Pages of a query; after a transient failure the query is re-issued from ``soql()``,
        which the caller keeps positioned after the last page it handed on."""
        failures = 0
        while True:
            page: list[dict[str, Any]] = []
            try:
                for row in self.sf.query_all_iter(soql(), include_deleted=include_deleted):
                    page.append(row)
                    if len(page) == self.config.page_size:
                        yield page
                        page, failures = [], 0
                if page:
                    yield page
                return
            except SalesforceError as exc:
                error: ConnectorError = translate("query", exc)
            except (TransientError, RateLimitedError) as exc:
                error = exc
            if isinstance(error, BudgetExhaustedError) or not isinstance(
                error, TransientError | RateLimitedError
            ):
                raise error
            failures += 1
            if failures >= self.config.retry.max_attempts:
                raise error
            log.warning("query interrupted (%s); resuming after the last record handed on", error)
            time.sleep(
                min(self.config.retry.initial_wait * 2**failures, self.config.retry.max_wait)
            )

    def _records(self, stream: SalesforceStream, rows: list[dict[str, Any]]) -> list[Record]:
        records = [_record(stream, row) for row in rows]
        if stream.object_type == "deal" and records:
            contacts = self._deal_contacts([r.id for r in records])
            records = [
                Record(
                    r.crm,
                    r.object_type,
                    r.id,
                    r.properties,
                    r.updated_at,
                    {**r.associations, "contact": tuple(contacts.get(r.id, ()))},
                    r.deleted,
                )
                for r in records
            ]
        return records

    def _deal_contacts(self, deal_ids: Sequence[str]) -> dict[str, list[str]]:
        """deal -> contacts through OpportunityContactRole, in chunks of ids."""
        linked: dict[str, list[str]] = {}
        for start in range(0, len(deal_ids), ID_CHUNK):
            chunk = ", ".join(f"'{i}'" for i in deal_ids[start : start + ID_CHUNK])
            soql = (
                "SELECT OpportunityId, ContactId FROM OpportunityContactRole "
                f"WHERE OpportunityId IN ({chunk})"
            )
            for row in self._query(soql):
                linked.setdefault(str(row["OpportunityId"]), []).append(str(row["ContactId"]))
        return linked

    def _id_chunks(self, soql: str, ids: Sequence[str]) -> Iterator[list[str]]:
        """``ids`` in runs of at most ``ID_CHUNK`` whose ``'id', `` list, added to ``soql``,
        keeps the query URI within ``QUERY_URI_BUDGET`` bytes."""
        path = urlsplit(self.sf.base_url).path + "query/?"
        budget = QUERY_URI_BUDGET - len(path) - len(urlencode({"q": soql}))
        chunk: list[str] = []
        used = 0
        for record_id in ids:
            cost = len(quote_plus(f"'{record_id}', "))
            if chunk and (len(chunk) == ID_CHUNK or used + cost > budget):
                yield chunk
                chunk, used = [], 0
            chunk.append(record_id)
            used += cost
        if chunk:
            yield chunk

    def ids_by_email(self, object_type: ObjectType, email: str) -> list[str]:
        """Contacts or (unconverted) leads whose ``Email`` is this address."""
        stream = stream_for(object_type)
        where = f" AND {stream.full_read_filter}" if stream.full_read_filter else ""
        soql = format_soql(
            f"SELECT Id FROM {stream.sobject} WHERE Email = {{}}{where} LIMIT 10", email
        )
        return [str(row["Id"]) for row in self._query(soql)]

    def _query(self, soql: str) -> list[dict[str, Any]]:
        answer = self._rest("GET", "query/", params={"q": soql})
        rows = list(answer.get("records") or [])
        while not answer.get("done", True):
            next_url = str(answer["nextRecordsUrl"])
            answer = self._rest("GET", next_url.split(f"/v{self.config.api_version}/", 1)[1])
            rows.extend(answer.get("records") or [])
        return rows

    def _horizon(self) -> datetime:
        now = datetime.fromtimestamp(self._clock(), UTC) - timedelta(
            seconds=self.config.lag_seconds
        )
        return now.replace(microsecond=0)  # SystemModstamp has whole-second precision

    # -- writing ----------------------------------------------------------------------------

    def _write_records(
        self, stream: SalesforceStream, inputs: list[FieldWrite]
    ) -> list[WriteResult]:
        if len(inputs) > self.config.bulk_threshold:
            results: list[WriteResult] = []
            for start in range(0, len(inputs), self.config.bulk_job_size):
                chunk = inputs[start : start + self.config.bulk_job_size]
                results.extend(self._bulk.update(stream.sobject, chunk))
            return results
        return write_in_chunks(
            inputs, COLLECTION_SIZE, lambda chunk: self._write_collection(stream, chunk)
        )

    def _write_collection(
        self, stream: SalesforceStream, chunk: list[FieldWrite]
    ) -> list[WriteResult]:
        body = {
            "allOrNone": False,
            "records": [
                {"attributes": {"type": stream.sobject}, "id": w.record_id, **_values(w.fields)}
                for w in chunk
            ],
        }
        answer = self._rest("PATCH", "composite/sobjects", json=body)
        results = []
        # Collections answer in input order, one entry per record.
        for w, item in zip(chunk, answer, strict=True):
            if item.get("success"):
                results.append(WriteResult(w.object_type, w.record_id, WriteStatus.OK))
                continue
            errors = item.get("errors") or [{}]
            code = str(errors[0].get("statusCode") or "REJECTED")
            fields = ", ".join(errors[0].get("fields") or [])
            reason = f"Salesforce: {errors[0].get('message', '')}" + (
                f" [{fields}]" if fields else ""
            )
            status = (
                WriteStatus.RETRYABLE if code in RETRYABLE_RECORD_CODES else WriteStatus.REJECTED
            )
            results.append(WriteResult(w.object_type, w.record_id, status, reason, code))
        return results

    def _write_leads(self, inputs: list[FieldWrite]) -> list[WriteResult]:
        """Converted leads are read-only: their writes go to the contact they became."""
        converted: dict[str, str] = {}
        ids = [w.record_id for w in inputs]
        for start in range(0, len(ids), ID_CHUNK):
            chunk = ", ".join(f"'{i}'" for i in ids[start : start + ID_CHUNK])
            rows = self._query(
                "SELECT Id, ConvertedContactId FROM Lead "
                f"WHERE IsConverted = true AND Id IN ({chunk})"
            )
            converted.update({str(r["Id"]): str(r["ConvertedContactId"]) for r in rows})
        live = [w for w in inputs if w.record_id not in converted]
        routed = [
            FieldWrite("contact", converted[w.record_id], w.fields)
            for w in inputs
            if w.record_id in converted
        ]
        results = self._write_records(stream_for("lead"), live) if live else []
        by_contact = (
            {r.record_id: r for r in self._write_records(stream_for("contact"), routed)}
            if routed
            else {}
        )
        for w in inputs:
            if w.record_id in converted:
                contact = by_contact[converted[w.record_id]]
                note = f"lead converted: written on contact {contact.record_id}"
                reason = f"{note}; {contact.reason}" if contact.reason else note
                results.append(
                    WriteResult("lead", w.record_id, contact.status, reason, contact.code)
                )
        return results

    # -- HTTP -------------------------------------------------------------------------------

    def _login(self) -> Salesforce:
        return login(self.config.auth, self.session, self.config.api_version)

    def _user_id(self) -> str:
        if self._user is None:
            info = self._rest("GET", "/services/oauth2/userinfo")
            self._user = str(info.get("user_id") or info.get("sub", "").rsplit("/", 1)[-1])
        return self._user

    def _rest(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        raw: bool = False,
        retry: RetryPolicy | None = None,
    ) -> Any:
        """One REST call under /services/data/vXX.X/ (or an absolute /services path)."""

        def attempt() -> Any:
            relogged = False
            while True:
                base = (
                    f"https://{self.sf.sf_instance}" if path.startswith("/") else self.sf.base_url
                )
                response = self.session.request(
                    method,
                    base + path,
                    headers={**self.sf.headers, **(headers or {})},
                    json=json,
                    data=data,
                    params=params,
                )
                if (
                    response.status_code == 401
                    and not relogged
                    and self.config.auth.flow != "session"
                ):
                    # Same rule simple-salesforce applies to its own calls: log in again once.
                    self.sf = self._login()
                    relogged = True
                    continue
                if response.status_code >= 300:
                    try:
                        exception_handler(response, name=path)
                    except SalesforceError as exc:
                        raise translate(f"{method} {path.split('?')[0]}", exc) from None
                if raw:
                    return response.text
                return response.json() if response.content else None

        return call_with_retries(retry or self.config.retry, attempt)


# -- helpers --------------------------------------------------------------------------------


def _select(stream: SalesforceStream, properties: Sequence[str]) -> list[str]:
    lookups = [name for name, _ in stream.lookups]
    return list(dict.fromkeys(["Id", stream.replication_key, *lookups, *properties]))


def _after_id(last_id: str | None) -> str | None:
    return f"Id > '{last_id}'" if last_id else None


def _id15(text: str) -> str | None:
    """The case-sensitive 15-character form of a 15- or 18-character id; None if malformed.

    The last three characters of an 18-character id say which of the first 15 are upper
    case, so such an id survives a trip through case-insensitive systems.
    """
    if not _SF_ID.fullmatch(text):
        return None
    if len(text) == 15:
        return text
    head, tail = text[:15], text[15:].upper()
    restored = []
    for block in range(3):
        bits = _SUFFIX_ALPHABET.find(tail[block])
        if bits < 0:
            return None
        for i, ch in enumerate(head[block * 5 : block * 5 + 5]):
            restored.append(ch.upper() if bits & (1 << i) else ch.lower())
    return "".join(restored)


def _soql_datetime(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_datetime(value: str) -> datetime:
    # Salesforce renders "2024-01-31T10:00:00.000+0000".
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z").astimezone(UTC)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _flatten(row: dict[str, Any], prefix: str = "") -> dict[str, str | None]:
    flat: dict[str, str | None] = {}
    for key, value in row.items():
        if key == "attributes":
            continue
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = _text(value)
    return flat


def _record(stream: SalesforceStream, row: dict[str, Any]) -> Record:
    properties = _flatten(row)
    associations: dict[ObjectType, tuple[str, ...]] = {}
    for name, target in stream.lookups:
        value = properties.get(name)
        if value:
            associations[target] = (value,)
    return Record(
        "salesforce",
        stream.object_type,
        str(row["Id"]),
        properties,
        _parse_datetime(str(row[stream.replication_key])),
        associations,
        deleted=bool(row.get("IsDeleted")),
    )


def _values(fields: dict[str, str] | Any) -> dict[str, Any]:
    """Collections take JSON values; an empty string clears the field (null)."""
    return {name: (None if value == "" else value) for name, value in fields.items()}
