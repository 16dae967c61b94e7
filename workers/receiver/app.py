"""The change-event receiver (ASGI): HubSpot webhooks and Salesforce outbound messages.

Every event is stored in the inbox before the 2xx goes out (but for HubSpot's echoes of
segsync's own property writes, which are counted and dropped: see ``own_echo``); only
then is processing nudged (a Celery task, or an in-process processor without Redis).
The nudge runs after the response and its failure is harmless: events wait in the inbox
and a sweeper nudges again every few seconds, so a Redis outage delays events but loses
none.

HubSpot requests must carry a valid v3 signature (HMAC-SHA256 of method, URI, body and
timestamp with the app's client secret) no older than five minutes; Salesforce
outbound messages must carry the shared secret of the endpoint URL (``?token=``), come
from an allowed address when an allowlist is set, and name the configured organization.
Whatever can be checked without the body is checked before it is read; the body is
read within a size limit and a timeout (``workers/receiver/body.py``).

Acceptance is per event: in a batch, an event of a type segsync does not process is
acknowledged and counted (``unsupported.<type>``), a malformed one is counted with its
reason (``malformed_events.<reason>``), and the rest are stored. Refusals of a whole
request get a 4xx (never a 500) and are counted by reason (``segsync events status``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import re
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from defusedxml import DefusedXmlException, ElementTree
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from connectors.hubspot.connector import PROPERTY_PREFIX
from workers.events.inbox import Inbox
from workers.ops import metrics
from workers.receiver.addresses import AddressSet, client_ip, public_url
from workers.receiver.auth import (
    HubSpotSignature,
    hubspot_headers,
    salesforce_sender,
    signed_uri,
    verify_hubspot,
)
from workers.receiver.body import BodyLimits, Budgets, declared_length, limited_body
from workers.receiver.refused import Refused
from workers.settings import Settings
from workers.state import StateStore

__all__ = ["ACK", "Refused", "create_app", "signed_uri", "verify_hubspot"]

log = logging.getLogger("segsync.webhooks")

MAX_EVENTS = 100
MAX_KEY = 255
SWEEP_SECONDS = 2.0
PURGE_SECONDS = 3600.0  # how often the receiver deletes long-processed events
OM_NS = "http://soap.sforce.com/2005/09/outbound"
SF_OBJECTS = {"Contact": "contact", "Lead": "lead", "Account": "company", "Opportunity": "deal"}
HUBSPOT_OBJECTS = {"contact": "contact", "company": "company", "deal": "deal"}
SF_ID = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?")
# A sender's type name becomes part of a counter's name (64 characters at most).
_TYPE_NAME = re.compile(r"[A-Za-z0-9_.:-]{1,40}")
ACK = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
    f'<soapenv:Body><notificationsResponse xmlns="{OM_NS}"><Ack>true</Ack>'
    "</notificationsResponse></soapenv:Body></soapenv:Envelope>"
)

Nudge = Callable[[str], None]


@dataclass
class Batch:
    """What one request carried: events to store, and what was left out and why."""

    received: int = 0
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    echoes: int = 0
    skipped: Counter[str] = field(default_factory=Counter)  # counter name -> events

    def skip(self, family: str, detail: str) -> None:
        self.skipped[family] += 1
        self.skipped[f"{family}.{detail}"] += 1

    @property
    def malformed(self) -> int:
        return self.skipped["malformed_events"]

    @property
    def unsupported(self) -> int:
        return self.skipped["unsupported"]

    def counts(self, stored: int) -> dict[str, int]:
        return {
            "received": self.received,
            "duplicates": len(self.events) - stored,
            "echoes": self.echoes,
            **self.skipped,
        }

    def refuse_if_nothing_valid(self) -> None:
        """A request whose every event is malformed is refused: the sender is broken."""
        if self.received and self.malformed == self.received:
            reason = next(k for k in self.skipped if k.startswith("malformed_events."))
            raise Refused(400, "malformed", f"no valid event ({reason})", "events")


def type_name(kind: object) -> str:
    text = str(kind)
    return text if _TYPE_NAME.fullmatch(text) else "other"


def parse_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except RecursionError:  # json's C scanner recurses per nesting level
        raise Refused(400, "malformed", "JSON nested too deeply", "too_deep") from None
    except ValueError:  # includes a body that is not UTF-8
        raise Refused(400, "malformed", "body is not JSON", "not_json") from None


def hubspot_id(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value > 0
    return isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 20


def hubspot_events(body: bytes) -> Batch:
    """The events of a webhook batch, keyed so that redeliveries are stored once."""
    events = parse_json(body)
    if not isinstance(events, list):
        raise Refused(400, "malformed", "body is not a JSON array of events", "not_an_array")
    if len(events) > MAX_EVENTS:
        raise Refused(
            400, "malformed", f"{len(events)} events in one request (at most 100)", "too_many"
        )
    batch = Batch(received=len(events))
    for event in events:
        if not isinstance(event, dict):
            batch.skip("malformed_events", "not_an_object")
            continue
        kind = event.get("subscriptionType") or event.get("eventType")
        if not isinstance(kind, str) or not kind:
            batch.skip("malformed_events", "no_type")
            continue
        if kind.split(".")[0] not in HUBSPOT_OBJECTS:
            batch.skip("unsupported", type_name(kind))
            continue
        if not hubspot_id(event.get("objectId")):
            batch.skip("malformed_events", "object_id")
            continue
        if own_echo(event):
            batch.echoes += 1
            continue
        # eventId alone is not unique (fact sheet): with the subscription and the time it is.
        key = f"{event.get('subscriptionId')}:{event.get('eventId')}:{event.get('occurredAt')}"
        if len(key) > MAX_KEY:
            key = "sha256:" + hashlib.sha256(key.encode()).hexdigest()
        batch.events.append((key, event))
    return batch


def own_echo(event: dict[str, Any]) -> bool:
    """Whether a HubSpot event is a change of one of segsync's own properties.

    Such a change is the echo of segsync's own write (every write-back comes back as
    one event per property), and processing would drop it unread: it is acknowledged
    and counted without being stored. A full sync's echoes were ~97% of all events,
    and storing and draining them delayed real changes behind them.
    """
    return str(event.get("propertyName") or "").startswith(PROPERTY_PREFIX)


def parse_xml(body: bytes) -> Any:
    try:
        # No SOAP message has a DTD: refusing any keeps entity tricks out entirely.
        return ElementTree.fromstring(body, forbid_dtd=True)
    except DefusedXmlException:
        raise Refused(
            400, "malformed", "XML with a DTD or entities is refused", "xml_entities"
        ) from None
    except (ElementTree.ParseError, ValueError):
        raise Refused(400, "malformed", "body is not XML", "not_xml") from None


def salesforce_notifications(body: bytes, org_id: str) -> Batch:
    """``(notification id, {object_type, id, fields})`` of an outbound message."""
    root = parse_xml(body)
    sent_org = root.findtext(f".//{{{OM_NS}}}OrganizationId") or ""
    # 15- and 18-character ids name the same org; the first 15 are case-sensitive.
    if not org_id or sent_org[:15] != org_id[:15]:
        raise Refused(
            401, "forged", "OrganizationId does not match SEGSYNC_SALESFORCE_ORG_ID", "org_id"
        )
    notes = list(root.iter(f"{{{OM_NS}}}Notification"))
    if len(notes) > MAX_EVENTS:
        raise Refused(
            400, "malformed", f"{len(notes)} notifications in one message (at most 100)", "too_many"
        )
    batch = Batch(received=len(notes))
    for note in notes:
        note_id = note.findtext(f"{{{OM_NS}}}Id") or ""
        sobject = note.find(f"{{{OM_NS}}}sObject")
        if not SF_ID.fullmatch(note_id):
            batch.skip("malformed_events", "notification_id")
            continue
        if sobject is None:
            batch.skip("malformed_events", "no_sobject")
            continue
        kind = next((v for k, v in sobject.attrib.items() if k.endswith("type")), "")
        sf_type = kind.split(":")[-1]
        if sf_type not in SF_OBJECTS:
            batch.skip("unsupported", type_name(sf_type))
            continue
        fields = {child.tag.split("}")[-1]: child.text for child in sobject}
        record_id = fields.get("Id") or ""
        if not SF_ID.fullmatch(record_id):
            batch.skip("malformed_events", "record_id")
            continue
        batch.events.append(
            (note_id, {"object_type": SF_OBJECTS[sf_type], "id": record_id, "fields": fields})
        )
    return batch


def create_app(
    settings: Settings,
    *,
    store: StateStore | None = None,
    nudge: Nudge | None = None,
    clock: Callable[[], float] = time.time,
    sweep_seconds: float = SWEEP_SECONDS,
) -> Starlette:
    """The receiver; ``nudge(crm)`` starts processing (default: Celery, else in-process)."""
    own_store = store is None
    state = store or StateStore(settings.database_url)
    if own_store:
        state.migrate()
    poke = nudge or default_nudge(settings, state)
    failed_nudges: set[str] = set()
    limits = BodyLimits(
        max_bytes=settings.webhook_max_body_bytes,
        max_buffered=settings.webhook_max_buffered_bytes,
        max_spooled=settings.webhook_max_spooled_bytes,
        timeout=settings.webhook_body_timeout_seconds,
    )
    budgets = Budgets.of(limits)
    proxies = AddressSet.parse(settings.webhook_forwarded_allow_ips)
    sf_senders = AddressSet.parse(settings.salesforce_outbound_allow_ips)

    def nudge_safely(crm: str) -> None:
        try:
            poke(crm)
            failed_nudges.discard(crm)
        except Exception as exc:  # Redis down: the sweeper tries again
            if crm not in failed_nudges:
                log.warning(
                    "cannot start %s event processing (%s); events wait in the inbox", crm, exc
                )
            failed_nudges.add(crm)

    async def store_and_ack(crm: str, batch: Batch, ok: Response) -> Response:
        stored = await run_in_threadpool(state.add_events, crm, batch.events)
        await run_in_threadpool(state.bump_counters, crm, batch.counts(stored))
        if stored:  # nothing new (redeliveries, echoes only): nothing to start
            ok.background = BackgroundTask(run_in_threadpool, nudge_safely, crm)
        metrics.webhook_answered(crm, ok.status_code, stored)
        return ok

    async def refuse(crm: str, exc: Refused, counts: dict[str, int] | None = None) -> Response:
        await run_in_threadpool(state.bump_counters, crm, {**(counts or {}), **exc.counts()})
        metrics.webhook_answered(crm, exc.status, 0)
        headers = {"connection": "close"} if exc.close else None
        if exc.status == 503:
            headers = {**(headers or {}), "retry-after": "1"}
        return JSONResponse({"error": str(exc)}, status_code=exc.status, headers=headers)

    def unavailable(setting: str) -> Response:
        # The body is left unread: close rather than read it to keep the connection.
        return JSONResponse(
            {"error": f"{setting} is not set"}, 503, headers={"connection": "close"}
        )

    async def hubspot(request: Request) -> Response:
        secret = settings.hubspot_app_secret
        if secret is None:
            return unavailable("SEGSYNC_HUBSPOT_APP_SECRET")
        signature = request.headers.get("x-hubspot-signature-v3", "")
        timestamp = request.headers.get("x-hubspot-request-timestamp", "")
        batch: Batch | None = None
        read = False
        try:
            declared_length(request, limits)
            hubspot_headers(signature, timestamp, int(clock() * 1000))
            computed = HubSpotSignature(
                secret.get_secret_value(), request.method, public_url(request, proxies)
            )
            async with limited_body(request, limits, budgets, computed) as body:
                read = True
                computed.verify(signature, timestamp, int(clock() * 1000))
                batch = hubspot_events(body.read())
                batch.refuse_if_nothing_valid()
        except Refused as exc:
            exc.close = exc.close or not read
            return await refuse("hubspot", exc, batch.counts(0) if batch else None)
        answer: dict[str, int] = {"stored": len(batch.events), "echoes": batch.echoes}
        if batch.unsupported:
            answer["unsupported"] = batch.unsupported
        if batch.malformed:
            answer["malformed"] = batch.malformed
        return await store_and_ack("hubspot", batch, JSONResponse(answer))

    async def salesforce(request: Request) -> Response:
        secret = settings.salesforce_outbound_secret
        if secret is None:
            return unavailable("SEGSYNC_SALESFORCE_OUTBOUND_SECRET")
        read = False
        try:
            declared_length(request, limits)
            salesforce_sender(
                request.query_params.get("token", ""),
                secret.get_secret_value(),
                client_ip(request, proxies),
                sf_senders,
            )
            async with limited_body(request, limits, budgets) as body:
                read = True
                batch = salesforce_notifications(body.read(), settings.salesforce_org_id or "")
                batch.refuse_if_nothing_valid()
        except Refused as exc:
            exc.close = exc.close or not read
            return await refuse("salesforce", exc)
        ack = Response(ACK, media_type="text/xml; charset=utf-8")
        return await store_and_ack("salesforce", batch, ack)

    async def healthz(_request: Request) -> Response:
        # The process answers: no database behind it (a liveness probe must not restart
        # a receiver because the database is slow).
        return JSONResponse({"status": "ok"})

    async def readyz(_request: Request) -> Response:
        try:
            ready = await run_in_threadpool(readiness, state)
        except Exception as exc:
            reason = f"the state store does not answer ({type(exc).__name__})"
            return JSONResponse({"status": "not ready", "reason": reason}, status_code=503)
        return JSONResponse(ready, status_code=200 if ready["status"] == "ready" else 503)

    scrape_registry = metrics.registry(settings, state)

    async def metrics_page(_request: Request) -> Response:
        body, content_type = await run_in_threadpool(metrics.exposition, scrape_registry)
        return Response(body, media_type=content_type)

    inbox = Inbox(state)

    keep_done = timedelta(hours=settings.events_keep_done_hours)

    def purge() -> None:
        purged = state.purge_done_events(keep_done)
        if purged:
            log.info("%d processed event(s) older than %s left the inbox", purged, keep_done)

    async def sweep() -> None:
        # Nudges only for events due now: not for leased ones (a round is running), not
        # for backing-off ones, not for a paused CRM (unconfigured, token refused).
        # Processed events are purged on the first sweep and every PURGE_SECONDS after.
        purge_at = time.monotonic()
        while True:
            await asyncio.sleep(sweep_seconds)
            try:
                for crm in ("hubspot", "salesforce"):
                    if await run_in_threadpool(inbox.due, crm):
                        await run_in_threadpool(nudge_safely, crm)
                if time.monotonic() >= purge_at:
                    purge_at = time.monotonic() + PURGE_SECONDS
                    await run_in_threadpool(purge)
            except Exception:  # the sweeper must outlive a database hiccup
                log.exception("inbox sweep failed")

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(sweep())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            if own_store:
                state.close()

    return Starlette(
        routes=[
            Route("/webhooks/hubspot", hubspot, methods=["POST"]),
            Route("/webhooks/salesforce", salesforce, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics_page, methods=["GET"]),
        ],
        lifespan=lifespan,
    )


def readiness(store: StateStore) -> dict[str, Any]:
    """Ready when the state store answers and its schema is this version's."""
    current, head = store.current_revision(), StateStore.head_revision()
    answer: dict[str, Any] = {"status": "ready", "revision": current, "inbox_depth": 0}
    if current != head:
        answer["status"] = "not ready"
        answer["reason"] = f"the state store is at revision {current}, this version needs {head}"
        answer["fix"] = "segsync migrate"
        return answer
    answer["inbox_depth"] = store.inbox_depth()
    return answer


def default_nudge(settings: Settings, store: StateStore) -> Nudge:
    """Celery when Redis is configured, else a processor thread in this process."""
    if settings.redis_url:

        def send(crm: str) -> None:
            from workers.tasks import events_task

            events_task.apply_async(kwargs={"crm": crm}, retry=False)

        return send
    from workers.events.processor import InProcessProcessor

    return InProcessProcessor(settings, store).nudge


def not_found(_request: Request) -> Response:
    return PlainTextResponse("not found", status_code=404)
