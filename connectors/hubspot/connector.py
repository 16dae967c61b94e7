"""HubSpot connector on the official ``hubspot-api-client``.

Reads stream as generators of 100-record pages (memory stays flat whatever the size of
the portal); incremental reads go through the search API ordered by (modified time, id)
so they stay exact past the search API's 10,000-result cap and when thousands of records
share one timestamp; writes go out as batch updates of 100, and a batch HubSpot rejects
as a whole for one bad row is bisected so the good rows land and the bad one is named.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from itertools import pairwise
from typing import Any

import requests
from hubspot import HubSpot
from hubspot.crm.associations.v4 import (
    BatchInputPublicFetchAssociationsBatchRequest,
    PublicFetchAssociationsBatchRequest,
)
from hubspot.crm.objects import (
    BatchInputSimplePublicObjectBatchInput,
    BatchInputSimplePublicObjectBatchInputUpsert,
    BatchReadInputSimplePublicObjectId,
    Filter,
    FilterGroup,
    PublicObjectSearchRequest,
    SimplePublicObjectBatchInput,
    SimplePublicObjectBatchInputUpsert,
    SimplePublicObjectId,
)
from hubspot.crm.properties import (
    OptionInput,
    PropertyCreate,
    PropertyGroupCreate,
    PropertyUpdate,
)
from pydantic import SecretStr

from connectors.base import (
    ApiUsage,
    AuthError,
    CrmName,
    Cursor,
    FieldSpec,
    FieldWrite,
    ObjectType,
    Record,
    RecordBatch,
    RejectedError,
    SchemaChange,
    WriteResult,
    WriteStatus,
)
from connectors.budget import DailyBudget
from connectors.hubspot.auth import OAuthRefreshToken, StaticToken, TokenProvider
from connectors.hubspot.http import HubSpotTransport
from connectors.hubspot.sdk_session import use_session
from connectors.hubspot.streams import CANONICAL_BY_API_NAME, HubSpotStream, stream_for
from connectors.isolate import IsolationStats, allowance, bad_share, isolate
from connectors.observe import watch
from connectors.ratelimit import Limiter, RollingWindowLimiter
from connectors.retrying import RetryPolicy
from connectors.writes import group_writes, same_result, write_in_chunks

log = logging.getLogger(__name__)
MIN_RETRY_ISOLATE_CALLS = 10

PROPERTY_GROUP = "segsync"
PROPERTY_PREFIX = "segsync_"
SEARCH_RESULT_CAP = 10_000
ASSOCIATION_BATCH = 1_000
WRITE_BATCH = 100  # records per batch update (HubSpot's maximum for every object)

# segsync field type -> HubSpot (type, fieldType)
# An earlier segsync wrote some segments (clusters) as text: that property takes every
# option's value, so it stays; deleting it is the user's call, not a side effect.
KEPT_AS_TEXT = "text property takes every value; delete it and apply again for a dropdown"
_HUBSPOT_TYPES: dict[str, tuple[str, str]] = {
    "string": ("string", "text"),
    "number": ("number", "number"),
    "enumeration": ("enumeration", "select"),
    "datetime": ("datetime", "date"),
    "date": ("date", "date"),
    "bool": ("bool", "booleancheckbox"),
}


@dataclass(frozen=True)
class HubSpotConfig:
    """Everything the connector needs; built from settings by the workers."""

    base_url: str = "https://api.hubapi.com"
    token: SecretStr | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    refresh_token: SecretStr | None = None
    requests_per_10s: int = 100
    search_requests_per_second: int = 4
    daily_budget_share: float = 0.5
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    # Search results trail writes by a short, unspecified time; an incremental read
    # never claims completeness closer to "now" than this.
    search_lag_seconds: float = 15.0
    # Extra calls allowed for isolating the bad rows of refused batches, as a share of
    # the batches a write sends (connectors/isolate.py).
    isolate_calls_ratio: float = 1.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    def token_provider(self, session: requests.Session | None = None) -> TokenProvider:
        """The credentials this config describes, or a clear AuthError if none are complete."""
        if self.refresh_token is not None and self.refresh_token.get_secret_value():
            return OAuthRefreshToken(
                base_url=self.base_url,
                client_id=self.client_id or "",
                client_secret=self.client_secret or SecretStr(""),
                refresh_token=self.refresh_token,
                timeout=(self.connect_timeout, self.read_timeout),
                session=session,
            )
        if self.token is None or not self.token.get_secret_value():
            raise AuthError(
                "no HubSpot credentials: set SEGSYNC_HUBSPOT_TOKEN (private app token or service "
                "key), or SEGSYNC_HUBSPOT_CLIENT_ID, SEGSYNC_HUBSPOT_CLIENT_SECRET and "
                "SEGSYNC_HUBSPOT_REFRESH_TOKEN for OAuth"
            )
        return StaticToken(self.token)


class HubSpotConnector:
    """Reads and writes HubSpot CRM records; implements :class:`connectors.base.Connector`."""

    crm: CrmName = "hubspot"

    def __init__(
        self,
        config: HubSpotConfig,
        *,
        limiter: Limiter | None = None,
        search_limiter: Limiter | None = None,
        budget: DailyBudget | None = None,
        clock: Any = time.time,
        session: requests.Session | None = None,
    ) -> None:
        self.config = config
        self._clock = clock
        # One entry per object type of a write whose batches HubSpot refused as a whole.
        self.isolation: list[IsolationStats] = []
        # A dead-letter retry's own allowance, in calls per row written: its rows are
        # known to sit in refused batches, and isolating them is the retry's point.
        self.isolate_calls_per_row: float | None = None
        self._transport = HubSpotTransport(
            tokens=config.token_provider(session),
            limiter=limiter or RollingWindowLimiter(config.requests_per_10s, 10.0),
            search_limiter=search_limiter
            or RollingWindowLimiter(config.search_requests_per_second, 1.0),
            budget=budget if budget is not None else DailyBudget(config.daily_budget_share),
            retry=config.retry,
            timeout=(config.connect_timeout, config.read_timeout),
            configured_limit=config.requests_per_10s,
            base_url=config.base_url,
        )
        # The SDK builds a new HTTP pool on every `client.crm...` attribute access; take
        # each API object once so connections are kept alive and reused.
        client = HubSpot(access_token="-", host=config.base_url.rstrip("/"))
        self.session = watch(session or requests.Session(), "hubspot")

        def register(api: Any) -> Any:
            return self._transport.register(use_session(api, self.session))

        self._basic = register(client.crm.objects.basic_api)
        self._batch = register(client.crm.objects.batch_api)
        self._search = register(client.crm.objects.search_api)
        self._properties = register(client.crm.properties.core_api)
        self._groups = register(client.crm.properties.groups_api)
        self._associations = register(client.crm.associations.v4.batch_api)
        # An SDK model given no configuration copies the default one, and every copy
        # resets the logging module's caches: ~0.2 ms a model, a second per 5,000 ids in
        # a batch. Each API's own configuration is handed to its models instead.
        self._objects_config = self._batch.api_client.configuration
        self._links_config = self._associations.api_client.configuration
        self._props_config = self._properties.api_client.configuration

    # -- contract -------------------------------------------------------------------

    def check(self) -> ApiUsage:
        """One cheap authenticated call (one contact, no properties)."""
        self._transport.call(
            "GET /crm/v3/objects/contacts",
            self._basic.get_page_with_http_info,
            "contacts",
            limit=1,
            retry=RetryPolicy(max_attempts=2, max_elapsed=20.0),
        )
        return self.usage()

    def usage(self) -> ApiUsage:
        return self._transport.usage()

    @property
    def write_batch_size(self) -> int:
        """Records one write call confirms together (a batch update)."""
        return WRITE_BATCH

    def field_name(self, name: str) -> str:
        """HubSpot's internal name for a segsync field."""
        return f"{PROPERTY_PREFIX}{name}"

    def field_access(self, object_type: ObjectType) -> dict[str, bool]:
        """segsync's properties on the object, and whether each is writable."""
        api = stream_for(object_type).api_name
        found = self._transport.call(
            f"GET /crm/v3/properties/{api}", self._properties.get_all_with_http_info, api
        ).results
        return {
            prop.name: not (
                prop.modification_metadata is not None
                and prop.modification_metadata.read_only_value
            )
            for prop in found
            if prop.name.startswith(PROPERTY_PREFIX)
        }

    def property_kinds(self, object_type: ObjectType) -> dict[str, str]:
        """Every property of the object and its HubSpot type (string, number, datetime...)."""
        api = stream_for(object_type).api_name
        found = self._transport.call(
            f"GET /crm/v3/properties/{api}", self._properties.get_all_with_http_info, api
        ).results
        return {prop.name: str(prop.type) for prop in found}

    def snapshot_cursor(self, object_type: ObjectType) -> Cursor:
        """A cursor to store after a full read that starts now: later changes are read next."""
        return Cursor(object_type=object_type, modified_at=self._search_horizon(), last_id=None)

    def read_all(self, object_type: ObjectType, properties: Sequence[str]) -> Iterator[RecordBatch]:
        """Page through the list endpoint (100 per page, inline associations)."""
        stream = stream_for(object_type)
        props = _with_required(properties, stream)
        after: str | None = None
        while True:
            page = self._transport.call(
                f"GET /crm/v3/objects/{stream.api_name}",
                self._basic.get_page_with_http_info,
                stream.api_name,
                limit=stream.page_size,
                after=after,
                properties=props,
                associations=list(stream.associations) or None,
                archived=False,
                raw=True,
            )
            records = tuple(self._record(stream, item) for item in page.get("results") or ())
            yield RecordBatch(object_type, records)
            after = _next_after(page)
            if not after:
                return

    def read_ids(
        self, object_type: ObjectType, ids: Sequence[str], properties: Sequence[str]
    ) -> list[Record]:
        """The live records among ``ids``, in input order, associations included.

        Batch reads of 100 ids (``archived=false``), then one v4 association batch read
        per associated type for up to 1,000 records: 100 contacts cost 2 calls, 100 deals
        3, 100 companies 1. Unknown and archived ids come back as a 207
        ``OBJECT_NOT_FOUND`` error and are left out, as are ids that cannot be HubSpot
        record ids (not all digits) and repeats of an id already asked for.
        """
        stream = stream_for(object_type)
        props = _with_required(properties, stream)
        wanted = list(dict.fromkeys(str(int(i)) for i in ids if i.isascii() and i.isdigit()))
        found: dict[str, Record] = {}
        for start in range(0, len(wanted), stream.batch_size):
            chunk = wanted[start : start + stream.batch_size]
            answer = self._transport.call(
                f"POST /crm/v3/objects/{stream.api_name}/batch/read",
                self._batch.read_with_http_info,
                stream.api_name,
                BatchReadInputSimplePublicObjectId(
                    inputs=[
                        SimplePublicObjectId(id=i, local_vars_configuration=self._objects_config)
                        for i in chunk
                    ],
                    properties=props,
                    properties_with_history=[],
                    local_vars_configuration=self._objects_config,
                ),
                archived=False,
                raw=True,
            )
            _raise_unexpected_errors(stream, answer)
            for item in answer.get("results") or ():
                if not item.get("archived"):
                    found[str(item["id"])] = self._record(stream, item)
        ordered = [found[i] for i in wanted if i in found]
        return self._attach_associations(stream, ordered)

    def read_changed(self, cursor: Cursor, properties: Sequence[str]) -> Iterator[RecordBatch]:
        """Records modified after ``cursor``, in (modified time, id) order.

        Every query is anchored by filters and starts at offset 0, so the 10,000-result
        cap never applies. A page of the time-ordered query is only trusted below its
        last timestamp; the records at that timestamp are then read in id order. Pages
        are handed on in batches of up to 1,000 records, whose associations are read
        together (one v4 batch read per linked type instead of one per page of 200).
        """
        stream = stream_for(cursor.object_type)
        held: list[Record] = []
        last: Cursor | None = None
        for records, position in self._changed_pages(stream, cursor, properties):
            held += records
            last = position
            if len(held) >= ASSOCIATION_BATCH:
                yield RecordBatch(
                    stream.object_type, tuple(self._attach_associations(stream, held)), last
                )
                held = []
        if held and last is not None:
            yield RecordBatch(
                stream.object_type, tuple(self._attach_associations(stream, held)), last
            )

    def _changed_pages(
        self, stream: HubSpotStream, cursor: Cursor, properties: Sequence[str]
    ) -> Iterator[tuple[list[Record], Cursor]]:
        """The pages of :meth:`read_changed`, without associations, each with its cursor."""
        props = _with_required(properties, stream)
        horizon_ms = _to_ms(self._search_horizon())
        ts_ms = _to_ms(cursor.modified_at) if cursor.modified_at else None
        # (ts, None) means everything at ts was handed on; (ts, id) stops part-way.
        tie_from: str | None = cursor.last_id
        tie_open = ts_ms is not None and cursor.last_id is not None
        while True:
            if tie_open and ts_ms is not None:
                for tied, position in self._read_tie(stream, props, ts_ms, tie_from, cursor):
                    cursor = position
                    yield tied, cursor
                tie_open = False
            filters = [_filter(stream.replication_key, "LTE", horizon_ms)]
            if ts_ms is not None:
                filters.append(_filter(stream.replication_key, "GT", ts_ms))
            records, more = self._search_page(stream, filters, stream.replication_key, props)
            if not records:
                return
            records.sort(key=_order_key)
            complete = not more
            last_ms = _to_ms(records[-1].updated_at)
            head = records if complete else [r for r in records if _to_ms(r.updated_at) < last_ms]
            if head:
                # A complete answer held every record up to the horizon, so all of the last
                # timestamp's: (ts, None) spares the next read a query for its ties.
                last_id = None if complete else head[-1].id
                cursor = replace(cursor, modified_at=head[-1].updated_at, last_id=last_id)
                yield head, cursor
            if complete:
                return
            # The page may have cut through the records sharing its last timestamp.
            ts_ms, tie_from, tie_open = last_ms, None, True

    def write(
        self, writes: Sequence[FieldWrite], *, id_property: str | None = None
    ) -> list[WriteResult]:
        """Batch-update records, 100 per call; one result per distinct record.

        With ``id_property`` (a property HubSpot holds unique, e.g. ``email``) the
        records are upserted by that property's value instead: created when missing.
        """
        results: list[WriteResult] = []
        for object_type, inputs in group_writes(writes).items():
            stream = stream_for(object_type)
            refused: list[tuple[list[FieldWrite], RejectedError]] = []
            send = partial(self._write_chunk, stream, id_property=id_property, refused=refused)
            results.extend(write_in_chunks(inputs, stream.batch_size, send))
            if refused:
                clean = math.ceil(len(inputs) / stream.batch_size)
                budget = allowance(clean, self.config.isolate_calls_ratio)
                if self.isolate_calls_per_row is not None:
                    # At least a call per row for the last few: every retry makes progress.
                    per_row = math.ceil(self.isolate_calls_per_row * len(inputs))
                    budget = max(budget, per_row, min(len(inputs), MIN_RETRY_ISOLATE_CALLS))
                stats = IsolationStats(clean_calls=clean)
                isolated = partial(self._write_chunk, stream, id_property=id_property)
                share = bad_share(len(refused), clean, stream.batch_size)
                results.extend(isolate(refused, isolated, _rejection, budget, stats, share=share))
                self.isolation.append(stats)
                log.info(
                    "hubspot %s: %d refused batches, %d extra calls (allowance %d), "
                    "%d rejected, %d deferred",
                    object_type,
                    len(refused),
                    stats.extra_calls,
                    budget,
                    stats.rejected,
                    stats.deferred,
                )
        return results

    def apply_schema(
        self, object_type: ObjectType, specs: Sequence[FieldSpec]
    ) -> list[SchemaChange]:
        """Create the `segsync` group and properties; add new enumeration options only."""
        stream = stream_for(object_type)
        api = stream.api_name
        changes: list[SchemaChange] = []
        try:
            self._transport.call(
                f"GET /crm/v3/properties/{api}/groups/{{groupName}}",
                self._groups.get_by_name_with_http_info,
                api,
                PROPERTY_GROUP,
            )
        except RejectedError as exc:
            if exc.status != 404:
                raise
            try:
                self._transport.call(
                    f"POST /crm/v3/properties/{api}/groups",
                    self._groups.create_with_http_info,
                    api,
                    PropertyGroupCreate(name=PROPERTY_GROUP, label="segsync", display_order=-1),
                )
            except RejectedError as create_exc:
                if create_exc.status != 409:  # 409: a lost answer to our own create
                    raise
            changes.append(SchemaChange(object_type, PROPERTY_GROUP, "group_created"))
        existing = {
            prop.name: prop
            for prop in self._transport.call(
                f"GET /crm/v3/properties/{api}",
                self._properties.get_all_with_http_info,
                api,
            ).results
        }
        for spec in specs:
            changes.append(
                self._apply_field(stream, spec, existing.get(self.field_name(spec.name)))
            )
        return changes

    # -- reading ----------------------------------------------------------------------

    def _read_tie(
        self,
        stream: HubSpotStream,
        props: list[str],
        ts_ms: int,
        after_id: str | None,
        cursor: Cursor,
    ) -> Iterator[tuple[list[Record], Cursor]]:
        """All records modified exactly at ``ts_ms`` with id > ``after_id``, by id (pages
        without associations, each with its cursor)."""
        while True:
            filters = [_filter(stream.replication_key, "EQ", ts_ms)]
            if after_id:
                filters.append(_filter(stream.primary_key, "GT", after_id))
            records, more = self._search_page(stream, filters, stream.primary_key, props)
            records.sort(key=_id_key)
            if not records:
                return
            after_id = records[-1].id
            cursor = cursor.advanced_to(_from_ms(ts_ms), after_id)
            yield records, cursor
            if not more:
                return

    def ids_by_email(self, object_type: ObjectType, email: str) -> list[str]:
        """Contacts whose ``email`` is this address (HubSpot compares it case-blind)."""
        stream = stream_for(object_type)
        request = PublicObjectSearchRequest(
            filter_groups=[FilterGroup(filters=[_filter("email", "EQ", email)])],
            properties=["email"],
            limit=10,
        )
        return [str(item["id"]) for item in self._search_call(stream, request).get("results") or ()]

    def _search_page(
        self, stream: HubSpotStream, filters: list[Filter], sort_by: str, props: list[str]
    ) -> tuple[list[Record], bool]:
        """One anchored search page (offset 0) and whether more results match."""
        request = PublicObjectSearchRequest(
            filter_groups=[FilterGroup(filters=filters)],
            # HubSpot honours sort objects; the SDK types them as strings (a known
            # generator quirk), so the dict is passed through as-is.
            sorts=[{"propertyName": sort_by, "direction": "ASCENDING"}],
            properties=props,
            limit=stream.search_page_size,
            after="0",
        )
        page = self._search_call(stream, request)
        records = [self._record(stream, item) for item in page.get("results") or ()]
        key = _id_key if sort_by == stream.primary_key else _order_key
        if any(key(a)[:1] > key(b)[:1] for a, b in pairwise(records)):
            # The read is only exact if the page holds the lowest keys; never guess.
            raise RejectedError(
                f"HubSpot ignored the search sort on {sort_by}: results came back out of "
                "order, so an incremental read cannot be exact",
                category="SORT_IGNORED",
            )
        return records, _next_after(page) is not None

    def _search_call(
        self, stream: HubSpotStream, request: PublicObjectSearchRequest
    ) -> dict[str, Any]:
        """One search request (paced by HubSpot's own search limit); the raw answer."""
        answer: dict[str, Any] = self._transport.call(
            f"POST /crm/v3/objects/{stream.api_name}/search",
            self._search.do_search_with_http_info,
            stream.api_name,
            request,
            search=True,
            raw=True,
        )
        return answer

    def _attach_associations(self, stream: HubSpotStream, records: list[Record]) -> list[Record]:
        """Search results carry no associations; fetch them with the v4 batch API."""
        if not stream.associations or not records:
            return records
        linked: dict[str, dict[ObjectType, tuple[str, ...]]] = {r.id: {} for r in records}
        for to_api in stream.associations:
            to_type = CANONICAL_BY_API_NAME[to_api]
            ids = [r.id for r in records]
            for start in range(0, len(ids), ASSOCIATION_BATCH):
                chunk = ids[start : start + ASSOCIATION_BATCH]
                answer = self._transport.call(
                    f"POST /crm/v4/associations/{stream.api_name}/{to_api}/batch/read",
                    self._associations.get_page_with_http_info,
                    stream.api_name,
                    to_api,
                    BatchInputPublicFetchAssociationsBatchRequest(
                        inputs=[
                            PublicFetchAssociationsBatchRequest(
                                id=i, local_vars_configuration=self._links_config
                            )
                            for i in chunk
                        ],
                        local_vars_configuration=self._links_config,
                    ),
                    raw=True,
                )
                # Ids without associations come back as 207 errors, which is not a failure.
                for item in answer.get("results") or ():
                    from_id = str(item["from"]["id"])
                    if from_id in linked:
                        targets = item.get("to") or ()
                        linked[from_id][to_type] = tuple(str(t["toObjectId"]) for t in targets)
        return [
            Record(r.crm, r.object_type, r.id, r.properties, r.updated_at, linked[r.id])
            for r in records
        ]

    def _record(self, stream: HubSpotStream, item: dict[str, Any]) -> Record:
        """A record from an object of HubSpot's JSON (list, batch read or search)."""
        properties: dict[str, str | None] = dict(item.get("properties") or {})
        # updatedAt is required in every object HubSpot answers with.
        updated_at = _parse_datetime(properties.get(stream.replication_key) or item["updatedAt"])
        associations: dict[ObjectType, tuple[str, ...]] = {}
        for api_name, collection in (item.get("associations") or {}).items():
            canonical = CANONICAL_BY_API_NAME.get(api_name)
            if canonical is not None and collection is not None:
                ids = dict.fromkeys(str(a["id"]) for a in collection.get("results") or ())
                associations[canonical] = tuple(ids)
        return Record(
            "hubspot", stream.object_type, str(item["id"]), properties, updated_at, associations
        )

    def _search_horizon(self) -> datetime:
        now = datetime.fromtimestamp(self._clock(), UTC)
        return now - timedelta(seconds=self.config.search_lag_seconds)

    # -- writing ----------------------------------------------------------------------

    def _write_chunk(
        self,
        stream: HubSpotStream,
        chunk: list[FieldWrite],
        id_property: str | None,
        refused: list[tuple[list[FieldWrite], RejectedError]] | None = None,
    ) -> list[WriteResult]:
        """One batch call. A whole-batch 400 of several rows goes to ``refused`` (to
        isolate within the allowance) when given, and is raised otherwise."""
        try:
            if id_property is None:
                answer = self._transport.call(
                    f"POST /crm/v3/objects/{stream.api_name}/batch/update",
                    self._batch.update_with_http_info,
                    stream.api_name,
                    BatchInputSimplePublicObjectBatchInput(
                        inputs=[
                            SimplePublicObjectBatchInput(
                                id=w.record_id,
                                properties=dict(w.fields),
                                local_vars_configuration=self._objects_config,
                            )
                            for w in chunk
                        ],
                        local_vars_configuration=self._objects_config,
                    ),
                )
            else:
                answer = self._transport.call(
                    f"POST /crm/v3/objects/{stream.api_name}/batch/upsert",
                    self._batch.upsert_with_http_info,
                    stream.api_name,
                    BatchInputSimplePublicObjectBatchInputUpsert(
                        inputs=[
                            SimplePublicObjectBatchInputUpsert(
                                id=w.record_id,
                                id_property=id_property,
                                # Sent along so the answer echoes the key we match on.
                                properties={id_property: w.record_id, **w.fields},
                                local_vars_configuration=self._objects_config,
                            )
                            for w in chunk
                        ],
                        local_vars_configuration=self._objects_config,
                    ),
                )
        except RejectedError as exc:
            if exc.status == 400 and len(chunk) > 1:
                # HubSpot refuses a whole batch for one invalid row without saying which.
                if refused is None:
                    raise
                refused.append((chunk, exc))
                return []
            reason, code = _rejection(exc)
            return same_result(chunk, WriteStatus.REJECTED, reason, code)
        return _map_batch_answer(stream, chunk, answer, id_property)

    def _apply_field(
        self, stream: HubSpotStream, spec: FieldSpec, current: Any | None
    ) -> SchemaChange:
        api = stream.api_name
        name = self.field_name(spec.name)
        hs_type, field_type = _HUBSPOT_TYPES[spec.type]
        options = _options_for(spec)
        if current is None:
            try:
                self._transport.call(
                    f"POST /crm/v3/properties/{api}",
                    self._properties.create_with_http_info,
                    api,
                    PropertyCreate(
                        name=name,
                        label=spec.label,
                        type=hs_type,
                        field_type=field_type,
                        group_name=PROPERTY_GROUP,
                        description=spec.description,
                        options=options or None,
                    ),
                )
                return SchemaChange(stream.object_type, name, "created")
            except RejectedError as exc:
                if exc.status != 409:
                    raise
                # Our earlier attempt landed but its answer was lost (or another worker
                # won the race): carry on from what HubSpot now holds.
                current = self._transport.call(
                    f"GET /crm/v3/properties/{api}/{{propertyName}}",
                    self._properties.get_by_name_with_http_info,
                    api,
                    name,
                )
        if current.type == "string" and hs_type == "enumeration":
            return SchemaChange(stream.object_type, name, "kept_as_text", KEPT_AS_TEXT)
        if current.type != hs_type:
            raise RejectedError(
                f"HubSpot property {api}.{name} already exists with type {current.type!r}; "
                f"segsync needs {hs_type!r}. Delete or rename it in HubSpot, then run "
                "`segsync schema apply` again.",
                category="SCHEMA_CONFLICT",
            )
        known = {o.value for o in current.options or ()}
        new = [o for o in options if o.value not in known]
        if not new:
            return SchemaChange(stream.object_type, name, "unchanged")
        # Existing options are sent back untouched: removing one still in use would
        # orphan the values already written to records.
        kept = [
            OptionInput(
                label=o.label,
                value=o.value,
                hidden=bool(o.hidden),
                display_order=o.display_order,
                description=o.description,
            )
            for o in current.options or ()
        ]
        start = max((o.display_order or 0 for o in kept), default=0) + 1
        for offset, option in enumerate(new):
            option.display_order = start + offset
        self._transport.call(
            f"PATCH /crm/v3/properties/{api}/{{propertyName}}",
            self._properties.update_with_http_info,
            api,
            name,
            PropertyUpdate(options=kept + new),
        )
        added = ", ".join(o.value for o in new)
        return SchemaChange(stream.object_type, name, "options_added", added)


# -- helpers ------------------------------------------------------------------------------


def _with_required(properties: Sequence[str], stream: HubSpotStream) -> list[str]:
    return list(dict.fromkeys([*properties, stream.replication_key, stream.primary_key]))


def _filter(prop: str, operator: str, value: int | str) -> Filter:
    return Filter(property_name=prop, operator=operator, value=str(value))


def _to_ms(moment: datetime) -> int:
    moment = _aware(moment)
    return int(moment.timestamp()) * 1000 + moment.microsecond // 1000


def _from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms // 1000, UTC).replace(microsecond=(ms % 1000) * 1000)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _parse_datetime(value: str) -> datetime:
    if value.isdigit():
        return _from_ms(int(value))
    return _aware(datetime.fromisoformat(value))


def _id_key(record: Record) -> tuple[int, str]:
    return (int(record.id), "") if record.id.isdigit() else (0, record.id)


def _order_key(record: Record) -> tuple[int, int, str]:
    return (_to_ms(record.updated_at), *_id_key(record))


def _next_after(page: dict[str, Any]) -> str | None:
    """The cursor of the next page of a list or search answer, if there is one."""
    after = ((page.get("paging") or {}).get("next") or {}).get("after")
    return str(after) if after else None


def _raise_unexpected_errors(stream: HubSpotStream, answer: dict[str, Any]) -> None:
    """A batch read's 207 errors: ``OBJECT_NOT_FOUND`` means left out, anything else fails."""
    for error in answer.get("errors") or ():
        category = error.get("category")
        if category != "OBJECT_NOT_FOUND":
            raise RejectedError(
                f"POST /crm/v3/objects/{stream.api_name}/batch/read: HubSpot answered 207 "
                f"{category}: {error.get('message')}",
                status=207,
                category=str(category or ""),
            )


def _map_batch_answer(
    stream: HubSpotStream, chunk: list[FieldWrite], answer: Any, id_property: str | None
) -> list[WriteResult]:
    """200 or 207: match by id, or by the upsert key (HubSpot does not promise order)."""

    def key(value: object) -> str:
        # HubSpot stores emails lower-cased; other unique values are matched as sent.
        return str(value).strip().lower() if id_property == "email" else str(value)

    by_id = {key(w.record_id): w for w in chunk}
    failed: dict[str, WriteResult] = {}
    for error in getattr(answer, "errors", None) or ():
        context = error.context or {}
        for record_id in context.get("ids", ()):
            if key(record_id) in by_id:
                failed[key(record_id)] = WriteResult(
                    stream.object_type,
                    by_id[key(record_id)].record_id,
                    WriteStatus.REJECTED,
                    f"HubSpot: {error.message}",
                    error.category,
                )
    succeeded = {
        key(item.id if id_property is None else (item.properties or {}).get(id_property))
        for item in answer.results or ()
    }
    results = []
    for w in chunk:
        if key(w.record_id) in failed:
            results.append(failed[key(w.record_id)])
        elif key(w.record_id) in succeeded:
            results.append(WriteResult(w.object_type, w.record_id, WriteStatus.OK))
        else:
            results.append(
                WriteResult(
                    w.object_type,
                    w.record_id,
                    WriteStatus.REJECTED,
                    "HubSpot left this record out of its batch answer (merged or deleted?)",
                    "MISSING_FROM_RESPONSE",
                )
            )
    return results


def _rejection(exc: RejectedError) -> tuple[str, str]:
    """A readable reason and a code, unpacking HubSpot's 'Property values were not valid'."""
    text = str(exc)
    marker = "Property values were not valid: "
    code = exc.category or "REJECTED"
    if marker in text:
        try:
            details = json.loads(text.split(marker, 1)[1])
        except ValueError:
            details = None
        if isinstance(details, list) and details and isinstance(details[0], dict):
            first = details[0]
            code = str(first.get("error") or code)
            parts = [f"{d.get('name')}: {d.get('message')}" for d in details if isinstance(d, dict)]
            return "HubSpot rejected " + "; ".join(parts), code
    return text, code


def _options_for(spec: FieldSpec) -> list[OptionInput]:
    if spec.type == "bool":
        return [
            OptionInput(label="Yes", value="true", hidden=False, display_order=0),
            OptionInput(label="No", value="false", hidden=False, display_order=1),
        ]
    return [
        OptionInput(
            label=value.replace("_", " ").capitalize(), value=value, hidden=False, display_order=i
        )
        for i, value in enumerate(spec.options)
    ]
