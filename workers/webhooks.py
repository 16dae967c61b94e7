"""The change-event receiver (ASGI): HubSpot webhooks and Salesforce outbound messages.

Every event is stored in the inbox before the 2xx goes out (but for HubSpot's echoes of
segsync's own property writes, which are counted and dropped: see ``own_echo``); only
then is processing nudged (a Celery task, or an in-process processor without Redis).
The nudge runs after the response and its failure is harmless: events wait in the inbox
and a sweeper nudges again every few seconds, so a Redis outage delays events but loses
none.

HubSpot requests must carry a valid v3 signature (HMAC-SHA256 of method, URI, body and
timestamp with the app's client secret) no older than five minutes; Salesforce
notifications must name the configured organization. Refusals are answered 401 and
counted (``segsync events status``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import unquote

from defusedxml import ElementTree
from hubspot.utils.signature import Signature
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from connectors.hubspot import PROPERTY_PREFIX
from workers.inbox import Inbox
from workers.settings import Settings
from workers.state import StateStore

log = logging.getLogger("segsync.webhooks")

MAX_AGE_MS = 5 * 60 * 1000
MAX_EVENTS = 100
SWEEP_SECONDS = 2.0
OM_NS = "http://soap.sforce.com/2005/09/outbound"
SF_OBJECTS = {"Contact": "contact", "Lead": "lead", "Account": "company", "Opportunity": "deal"}
HUBSPOT_OBJECTS = {"contact": "contact", "company": "company", "deal": "deal"}
# The escapes HubSpot decodes in the URI before signing (fact sheet, section 10).
_URI_ESCAPES = ("%3A", "%2F", "%3F", "%40", "%21", "%24", "%27", "%28", "%29", "%2A", "%2C", "%3B")
ACK = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
    f'<soapenv:Body><notificationsResponse xmlns="{OM_NS}"><Ack>true</Ack>'
    "</notificationsResponse></soapenv:Body></soapenv:Envelope>"
)

Nudge = Callable[[str], None]


class Refused(Exception):
    """A request the receiver will not store: answered with ``status`` and counted."""

    def __init__(self, status: int, counter: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.counter = counter


def signed_uri(url: str) -> str:
    """The URI as HubSpot signs it: the listed escapes decoded, the rest left as sent."""
    for escape in _URI_ESCAPES:
        url = url.replace(escape, unquote(escape)).replace(escape.lower(), unquote(escape))
    return url


def verify_hubspot(
    secret: str, method: str, uri: str, body: bytes, signature: str, timestamp: str, now_ms: int
) -> None:
    """Raise :class:`Refused` unless the v3 signature is valid and fresh."""
    try:
        sent_ms = int(timestamp)
    except (TypeError, ValueError):
        raise Refused(401, "forged", "missing or malformed X-HubSpot-Request-Timestamp") from None
    if abs(now_ms - sent_ms) > MAX_AGE_MS:
        raise Refused(401, "stale", "request timestamp is more than 5 minutes away")
    expected = Signature.get_signature(
        secret, body.decode("utf-8", "replace"), "v3", signed_uri(uri), method, timestamp
    )
    if not signature or not hmac.compare_digest(expected, signature):
        raise Refused(401, "forged", "invalid X-HubSpot-Signature-v3")


def hubspot_events(body: bytes) -> list[tuple[str, dict[str, Any]]]:
    """``(event key, event)`` pairs of a webhook batch; the key dedupes redeliveries."""
    try:
        events = json.loads(body)
    except ValueError:
        raise Refused(400, "malformed", "body is not JSON") from None
    if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
        raise Refused(400, "malformed", "body is not a JSON array of events")
    if len(events) > MAX_EVENTS:
        raise Refused(400, "malformed", f"{len(events)} events in one request (at most 100)")
    pairs = []
    for event in events:
        kind = str(event.get("subscriptionType") or event.get("eventType") or "")
        if "objectId" not in event or kind.split(".")[0] not in HUBSPOT_OBJECTS:
            raise Refused(400, "malformed", f"event {event.get('eventId')}: no objectId or type")
        # eventId alone is not unique (fact sheet): with the subscription and the time it is.
        key = f"{event.get('subscriptionId')}:{event.get('eventId')}:{event.get('occurredAt')}"
        pairs.append((key, event))
    return pairs


def own_echo(event: dict[str, Any]) -> bool:
    """Whether a HubSpot event is a change of one of segsync's own properties.

    Such a change is the echo of segsync's own write (every write-back comes back as
    one event per property), and processing would drop it unread: it is acknowledged
    and counted without being stored. A full sync's echoes were ~97% of all events,
    and storing and draining them delayed real changes behind them.
    """
    return str(event.get("propertyName") or "").startswith(PROPERTY_PREFIX)


def salesforce_notifications(body: bytes, org_id: str) -> list[tuple[str, dict[str, Any]]]:
    """``(notification id, {object_type, id, fields})`` of an outbound message."""
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        raise Refused(400, "malformed", "body is not XML") from None
    sent_org = root.findtext(f".//{{{OM_NS}}}OrganizationId") or ""
    # 15- and 18-character ids name the same org; the first 15 are case-sensitive.
    if not org_id or sent_org[:15] != org_id[:15]:
        raise Refused(401, "forged", "OrganizationId does not match SEGSYNC_SALESFORCE_ORG_ID")
    pairs = []
    for note in root.iter(f"{{{OM_NS}}}Notification"):
        note_id = note.findtext(f"{{{OM_NS}}}Id") or ""
        sobject = note.find(f"{{{OM_NS}}}sObject")
        if not note_id or sobject is None:
            raise Refused(400, "malformed", "notification without Id or sObject")
        kind = next((v for k, v in sobject.attrib.items() if k.endswith("type")), "")
        sf_type = kind.split(":")[-1]
        if sf_type not in SF_OBJECTS:
            raise Refused(400, "malformed", f"notification {note_id}: unsupported {sf_type!r}")
        fields = {child.tag.split("}")[-1]: child.text for child in sobject}
        record_id = fields.get("Id") or ""
        pairs.append(
            (note_id, {"object_type": SF_OBJECTS[sf_type], "id": record_id, "fields": fields})
        )
    if len(pairs) > MAX_EVENTS:
        raise Refused(400, "malformed", f"{len(pairs)} notifications in one message (at most 100)")
    return pairs


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

    async def store_and_ack(
        crm: str, pairs: list[tuple[str, dict[str, Any]]], ok: Response, echoes: int = 0
    ) -> Response:
        stored = await run_in_threadpool(state.add_events, crm, pairs)
        counts = {"received": len(pairs) + echoes, "duplicates": len(pairs) - stored}
        await run_in_threadpool(state.bump_counters, crm, {**counts, "echoes": echoes})
        if stored:  # nothing new (redeliveries, echoes only): nothing to start
            ok.background = BackgroundTask(run_in_threadpool, nudge_safely, crm)
        return ok

    async def refuse(crm: str, exc: Refused) -> Response:
        await run_in_threadpool(state.bump_counters, crm, {exc.counter: 1})
        return JSONResponse({"error": str(exc)}, status_code=exc.status)

    async def hubspot(request: Request) -> Response:
        secret = settings.hubspot_app_secret
        if secret is None:
            return JSONResponse({"error": "SEGSYNC_HUBSPOT_APP_SECRET is not set"}, 503)
        body = await request.body()
        try:
            verify_hubspot(
                secret.get_secret_value(),
                request.method,
                str(request.url),
                body,
                request.headers.get("x-hubspot-signature-v3", ""),
                request.headers.get("x-hubspot-request-timestamp", ""),
                int(clock() * 1000),
            )
            pairs = hubspot_events(body)
        except Refused as exc:
            return await refuse("hubspot", exc)
        kept = [(key, event) for key, event in pairs if not own_echo(event)]
        echoes = len(pairs) - len(kept)
        answer = JSONResponse({"stored": len(kept), "echoes": echoes})
        return await store_and_ack("hubspot", kept, answer, echoes)

    async def salesforce(request: Request) -> Response:
        body = await request.body()
        try:
            pairs = salesforce_notifications(body, settings.salesforce_org_id or "")
        except Refused as exc:
            return await refuse("salesforce", exc)
        ack = Response(ACK, media_type="text/xml; charset=utf-8")
        return await store_and_ack("salesforce", pairs, ack)

    async def healthz(_request: Request) -> Response:
        depth = await run_in_threadpool(state.inbox_depth)
        return JSONResponse({"status": "ok", "inbox_depth": depth})

    inbox = Inbox(state)

    async def sweep() -> None:
        # Nudges only for events due now: not for leased ones (a round is running), not
        # for backing-off ones, not for a paused CRM (unconfigured, token refused).
        while True:
            await asyncio.sleep(sweep_seconds)
            try:
                for crm in ("hubspot", "salesforce"):
                    if await run_in_threadpool(inbox.due, crm):
                        await run_in_threadpool(nudge_safely, crm)
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
        ],
        lifespan=lifespan,
    )


def default_nudge(settings: Settings, store: StateStore) -> Nudge:
    """Celery when Redis is configured, else a processor thread in this process."""
    if settings.redis_url:

        def send(crm: str) -> None:
            from workers.tasks import events_task

            events_task.apply_async(kwargs={"crm": crm}, retry=False)

        return send
    from workers.events import InProcessProcessor

    return InProcessProcessor(settings, store).nudge


def not_found(_request: Request) -> Response:
    return PlainTextResponse("not found", status_code=404)
