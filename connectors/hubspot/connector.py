"""HubSpot connector on the official ``hubspot-api-client``.

Reads stream as generators of 100-record pages (memory stays flat whatever the size of
the portal); incremental reads go through the search API ordered by (modified time, id)
so they stay exact past the search API's 10,000-result cap and when thousands of records
share one timestamp; writes go out as batch updates of 100, and a batch HubSpot rejects
as a whole for one bad row is bisected so the good rows land and the bad one is named.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
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

from connectors.base import (
    ApiUsage,
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
from connectors.hubspot.batch_answers import map_batch_answer, rejection
from connectors.hubspot.http import HubSpotTransport
from connectors.hubspot.lists import HubSpotLists
from connectors.hubspot.options import HubSpotConfig
from connectors.hubspot.schema import PropertySchema
from connectors.hubspot.sdk_session import use_session
from connectors.hubspot.streams import CANONICAL_BY_API_NAME, HubSpotStream, stream_for
from connectors.hubspot.wire import (
    filter,
    from_ms,
    id_key,
    next_after,
    order_key,
    parse_datetime,
    raise_unexpected_errors,
    to_ms,
    with_required,
)
from connectors.isolate import IsolationStats, allowance, bad_share, isolate
from connectors.observe import watch
from connectors.ratelimit import Limiter, RollingWindowLimiter
from connectors.retrying import RetryPolicy
from connectors.writes import group_writes, same_result, write_in_chunks

log = logging.getLogger(__name__)
MIN_RETRY_ISOLATE_CALLS = 10

PROPERTY_PREFIX = "segsync_"
SEARCH_RESULT_CAP = 10_000
ASSOCIATION_BATCH = 1_000
WRITE_BATCH = 100  # records per batch update (HubSpot's maximum for every object)


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
        self._client = client
        self.session = watch(session or requests.Session(), "hubspot")
        self._lists: HubSpotLists | None = None

        def register(api: Any) -> Any:
            return self._transport.register(use_session(api, self.session))

        self._register = register

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
        self._schema = PropertySchema(
            self._transport, self._groups, self._properties, self.field_name
        )

    @property
    def lists(self) -> HubSpotLists:
        """The portal's lists (segment activation); its SDK APIs are built on first use."""
        if self._lists is None:
            self._lists = HubSpotLists(
                self._transport,
                self._register(self._client.crm.lists.lists_api),
                self._register(self._client.crm.lists.folders_api),
            )
        return self._lists

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
        props = with_required(properties, stream)
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
            after = next_after(page)
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
        props = with_required(properties, stream)
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
            raise_unexpected_errors(stream, answer)
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
        props = with_required(properties, stream)
        horizon_ms = to_ms(self._search_horizon())
        ts_ms = to_ms(cursor.modified_at) if cursor.modified_at else None
        # (ts, None) means everything at ts was handed on; (ts, id) stops part-way.
        tie_from: str | None = cursor.last_id
        tie_open = ts_ms is not None and cursor.last_id is not None
        while True:
            if tie_open and ts_ms is not None:
                for tied, position in self._read_tie(stream, props, ts_ms, tie_from, cursor):
                    cursor = position
                    yield tied, cursor
                tie_open = False
            filters = [filter(stream.replication_key, "LTE", horizon_ms)]
            if ts_ms is not None:
                filters.append(filter(stream.replication_key, "GT", ts_ms))
            records, more = self._search_page(stream, filters, stream.replication_key, props)
            if not records:
                return
            records.sort(key=order_key)
            complete = not more
            last_ms = to_ms(records[-1].updated_at)
            head = records if complete else [r for r in records if to_ms(r.updated_at) < last_ms]
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
                results.extend(isolate(refused, isolated, rejection, budget, stats, share=share))
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
        return self._schema.apply(object_type, specs)

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
            filters = [filter(stream.replication_key, "EQ", ts_ms)]
            if after_id:
                filters.append(filter(stream.primary_key, "GT", after_id))
            records, more = self._search_page(stream, filters, stream.primary_key, props)
            records.sort(key=id_key)
            if not records:
                return
            after_id = records[-1].id
            cursor = cursor.advanced_to(from_ms(ts_ms), after_id)
            yield records, cursor
            if not more:
                return

    def ids_by_email(self, object_type: ObjectType, email: str) -> list[str]:
        """Contacts whose ``email`` is this address (HubSpot compares it case-blind)."""
        stream = stream_for(object_type)
        request = PublicObjectSearchRequest(
            filter_groups=[FilterGroup(filters=[filter("email", "EQ", email)])],
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
        key = id_key if sort_by == stream.primary_key else order_key
        if any(key(a)[:1] > key(b)[:1] for a, b in pairwise(records)):
            # The read is only exact if the page holds the lowest keys; never guess.
            raise RejectedError(
                f"HubSpot ignored the search sort on {sort_by}: results came back out of "
                "order, so an incremental read cannot be exact",
                category="SORT_IGNORED",
            )
        return records, next_after(page) is not None

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
        updated_at = parse_datetime(properties.get(stream.replication_key) or item["updatedAt"])
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
            reason, code = rejection(exc)
            return same_result(chunk, WriteStatus.REJECTED, reason, code)
        return map_batch_answer(stream, chunk, answer, id_property)
