"""``/_sandbox/...``: stats, simulated activity and deletions, read-back, fault control,
change-event delivery (``/_sandbox/webhooks``).

Admin requests are never faulted, rate limited or counted in the request stats.
"""

from __future__ import annotations

import bisect
import contextlib
import itertools
import random
import threading
from typing import Any

import orjson
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from connectors.sandbox.config import FaultConfig
from connectors.sandbox.dialect import Dialect
from connectors.sandbox.events import EventEmitter
from connectors.sandbox.mutate import mutate, pick_rows
from connectors.sandbox.search import FilterError, parse_instant
from connectors.sandbox.state import SandboxState

MAX_MUTATE = 1_000_000
MAX_VALUES = 100_000


class AdminError(Exception):
    """An admin request that cannot be served (status + message)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _json(status: int, body: Any) -> Response:
    return Response(orjson.dumps(body), status=status, content_type="application/json")


class Admin:
    """The admin endpoints of one server."""

    def __init__(
        self, state: SandboxState, dialect: Dialect, events: EventEmitter | None = None
    ) -> None:
        self.state = state
        self.dialect = dialect
        self.events = events
        self._mutations = 0
        self._lock = threading.Lock()
        self.url_map = Map(
            [
                Rule("/_sandbox/health", methods=["GET"], endpoint="health"),
                Rule("/_sandbox/stats", methods=["GET"], endpoint="stats"),
                Rule("/_sandbox/reset-stats", methods=["POST"], endpoint="reset_stats"),
                Rule("/_sandbox/faults", methods=["GET", "POST"], endpoint="faults"),
                Rule(
                    "/_sandbox/faults/script",
                    methods=["GET", "POST"],
                    endpoint="fault_script",
                ),
                Rule("/_sandbox/mutate", methods=["POST"], endpoint="mutate"),
                Rule("/_sandbox/delete", methods=["POST"], endpoint="delete"),
                Rule("/_sandbox/edit", methods=["POST"], endpoint="edit"),
                Rule("/_sandbox/values", methods=["POST"], endpoint="values"),
                Rule(
                    "/_sandbox/records/<object_type>/<record_id>",
                    methods=["GET"],
                    endpoint="record",
                ),
                Rule("/_sandbox/oauth/expire", methods=["POST"], endpoint="expire_tokens"),
                Rule("/_sandbox/tokens/revoke", methods=["POST"], endpoint="revoke_token"),
                Rule("/_sandbox/tokens/restore", methods=["POST"], endpoint="restore_token"),
                Rule("/_sandbox/webhooks", methods=["GET", "POST"], endpoint="webhooks"),
                Rule("/_sandbox/webhooks/events", methods=["GET"], endpoint="webhook_events"),
            ],
            strict_slashes=False,
        )

    def handle(self, request: Request) -> Response:
        """Dispatch an admin request."""
        try:
            endpoint, args = self.url_map.bind_to_environ(request.environ).match()
            handler = getattr(self, f"_{endpoint}")
            response: Response = handler(request, **args)
            return response
        except AdminError as exc:
            return _json(exc.status, {"error": str(exc)})
        except HTTPException as exc:
            return _json(exc.code or 500, {"error": exc.description})

    def _health(self, request: Request) -> Response:
        with self.state.store.lock:
            counts = {
                self.dialect.api_name(t): sum(1 for a in table.archived if not a)
                for t, table in self.state.store.tables.items()
            }
        return _json(200, {"status": "ok", "dialect": self.dialect.name, "records": counts})

    def _stats(self, request: Request) -> Response:
        body = self.state.stats.snapshot()
        body["max_requests_in_window"] = self.state.limiter.max_in_window()
        body["daily_used"] = self.state.limiter.daily_used()
        body["fault_config"] = self.state.faults.config.to_dict()
        return _json(200, body)

    def _reset_stats(self, request: Request) -> Response:
        self.state.stats.reset()
        self.state.limiter.reset_stats()
        return _json(200, {"status": "ok"})

    def _faults(self, request: Request) -> Response:
        if request.method == "POST":
            raw = request.get_data(as_text=True).strip()
            spec: Any = raw
            if raw.startswith(("{", '"')):
                try:
                    spec = orjson.loads(raw)
                except orjson.JSONDecodeError as exc:
                    raise AdminError(400, f"invalid JSON: {exc}") from None
                if isinstance(spec, dict) and "spec" in spec:
                    spec = spec["spec"]
            try:
                self.state.faults.set_config(FaultConfig.parse(spec))
            except ValueError as exc:
                raise AdminError(400, str(exc)) from None
        return _json(
            200,
            {
                "faults": self.state.faults.config.to_dict(),
                "spec": self.state.faults.config.to_spec(),
            },
        )

    def _fault_script(self, request: Request) -> Response:
        """``{"endpoint": "soap.metadata", "faults": ["429", "ok", "drop_after"]}``: the next
        requests to that endpoint get these faults in order."""
        if request.method == "POST":
            try:
                body = orjson.loads(request.get_data())
            except orjson.JSONDecodeError as exc:
                raise AdminError(400, f"invalid JSON: {exc}") from None
            endpoint = body.get("endpoint") if isinstance(body, dict) else None
            kinds = body.get("faults") if isinstance(body, dict) else None
            if not isinstance(endpoint, str) or not endpoint:
                raise AdminError(400, "endpoint must be an endpoint name such as soap.metadata")
            if not isinstance(kinds, list) or not all(isinstance(k, str) for k in kinds):
                raise AdminError(400, "faults must be a list of fault kinds")
            try:
                self.state.faults.script(endpoint, kinds)
            except ValueError as exc:
                raise AdminError(400, str(exc)) from None
        return _json(200, {"scripted": self.state.faults.scripted()})

    def _object_type(self, name: Any) -> str:
        object_type = self.dialect.object_type(str(name)) if name else None
        if object_type is None or object_type not in self.state.store.tables:
            raise AdminError(400, f"unknown object_type {name!r}")
        return object_type

    @staticmethod
    def _body(request: Request) -> dict[str, Any]:
        try:
            body = orjson.loads(request.get_data() or b"{}")
        except orjson.JSONDecodeError as exc:
            raise AdminError(400, f"invalid JSON: {exc}") from None
        if not isinstance(body, dict):
            raise AdminError(400, "body must be a JSON object")
        return body

    def _rng(self, purpose: str) -> random.Random:
        with self._lock:
            self._mutations += 1
            return random.Random(f"{self.state.config.seed}:{purpose}:{self._mutations}")

    def _rows(
        self, object_type: str, body: dict[str, Any], rng: random.Random, *, writable: bool
    ) -> list[int]:
        """Rows named by ``ids`` (each must be live) or ``count`` random live rows (lock held).

        Random picks skip records users cannot edit (converted Salesforce leads) when
        ``writable`` is set.
        """
        table = self.state.store.table(object_type)
        if body.get("ids") is not None:
            if not isinstance(body["ids"], list):
                raise AdminError(400, "ids must be an array")
            rows = []
            for record_id in dict.fromkeys(str(i) for i in body["ids"]):
                parsed = self.dialect.parse_id(object_type, record_id)
                row = table.row(parsed) if parsed is not None else None
                if row is None:
                    raise AdminError(
                        404, f"no live {self.dialect.api_name(object_type)} record {record_id}"
                    )
                rows.append(row)
            return rows
        count = body.get("count", 1)
        if not isinstance(count, int) or count < 0 or count > MAX_MUTATE:
            raise AdminError(400, f"count must be an integer between 0 and {MAX_MUTATE}")
        hooks = self.dialect.hooks
        keep = (lambda r: hooks.writable(object_type, table, r)) if writable else None
        return pick_rows(table, count, rng, keep)

    def _timestamp(self, body: dict[str, Any]) -> int:
        timestamp = body.get("timestamp")
        try:
            modified = (
                parse_instant(str(timestamp)) if timestamp is not None else self.state.now_ms()
            )
        except FilterError as exc:
            raise AdminError(400, f"timestamp: {exc}") from None
        return self.dialect.timestamp(modified)

    def _mutate(self, request: Request) -> Response:
        body = self._body(request)
        object_type = self._object_type(body.get("object_type", "contacts"))
        modified = self._timestamp(body)
        rng = self._rng("mutate")
        with self.state.store.lock:
            table = self.state.store.table(object_type)
            rows = self._rows(object_type, body, rng, writable=True)
            ids = mutate(
                table,
                self.dialect.hooks,
                rows,
                rng,
                modified_ms=modified,
                index_delay=self.state.config.search_index_delay,
            )
        return self._touched(object_type, ids, modified)

    def _touched(self, object_type: str, ids: list[int], modified: int) -> Response:
        """The answer of an admin change: the records it touched, in the API's terms."""
        return _json(
            200,
            {
                "ids": [self.dialect.format_id(object_type, i) for i in ids],
                "object_type": self.dialect.api_name(object_type),
                "count": len(ids),
                "timestamp": modified,
            },
        )

    def _delete(self, request: Request) -> Response:
        """Delete records as a user would: HubSpot archives them, Salesforce soft-deletes.

        ``"events": false`` deletes them without any change event (a lost webhook), so
        only a reconciliation can notice.
        """
        body = self._body(request)
        object_type = self._object_type(body.get("object_type", "contacts"))
        modified = self._timestamp(body)
        events = body.get("events", True)
        if not isinstance(events, bool):
            raise AdminError(400, "events must be true or false")
        rng = self._rng("delete")
        store = self.state.store
        with store.lock, contextlib.nullcontext() if events else store.quiet():
            table = store.table(object_type)
            rows = self._rows(object_type, body, rng, writable=False)
            for row in rows:
                table.archive(row, modified)
                self.dialect.hooks.after_delete(object_type, table, row, modified)
            ids = [table.ids[row] for row in rows]
        return self._touched(object_type, ids, modified)

    def _edit(self, request: Request) -> Response:
        """A user edits records by hand: ``{"object_type", "ids", "properties": {name: value}}``.

        Values are given as the API takes them and validated as an API write would be
        (400 naming the problem otherwise); the change is a user's (``CRM_UI``), not an
        API client's: it bumps the modification time (``timestamp``, default now), emits
        change events and is not counted as an API change in the read-back. A record
        whose values already equal the given ones is left untouched. Answers the ids
        that changed.
        """
        body = self._body(request)
        object_type = self._object_type(body.get("object_type", "contacts"))
        properties = body.get("properties")
        if not isinstance(properties, dict) or not properties:
            raise AdminError(400, "properties must be a non-empty object of property values")
        if not isinstance(body.get("ids"), list) or not body["ids"]:
            raise AdminError(400, "ids must be a non-empty array of record ids")
        modified = self._timestamp(body)
        hooks = self.dialect.hooks
        delay = self.state.config.search_index_delay
        with self.state.store.lock:
            table = self.state.store.table(object_type)
            rows = self._rows(object_type, body, self._rng("edit"), writable=True)
            planned = []
            for row in rows:
                try:
                    planned.append((row, hooks.user_values(object_type, table, row, properties)))
                except ValueError as exc:
                    record = self.dialect.format_id(object_type, table.ids[row])
                    raise AdminError(400, f"record {record}: {exc}") from None
            ids = []
            for row, values in planned:
                changed = table.update(row, values, modified, via_api=False, index_delay=delay)
                if changed:
                    hooks.after_change(object_type, table, row, changed, modified)
                    ids.append(table.ids[row])
        return self._touched(object_type, ids, modified)

    def _values(self, request: Request) -> Response:
        """Some properties of every live record, column-wise, as the API shows them.

        ``{"object_type", "properties": [...], "after": <store id>, "limit": n}`` answers
        ``{"ids": [...], "values": {name: [...]}, "next": <after> | null}`` in id order,
        at most ``limit`` (default and maximum 100,000) records; what a benchmark needs
        to compare every record's fields without a million API reads.
        """
        body = self._body(request)
        object_type = self._object_type(body.get("object_type", "contacts"))
        names = body.get("properties")
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise AdminError(400, "properties must be an array of property names")
        limit, after = body.get("limit", MAX_VALUES), body.get("after", 0)
        if not isinstance(limit, int) or not 1 <= limit <= MAX_VALUES:
            raise AdminError(400, f"limit must be an integer between 1 and {MAX_VALUES}")
        if not isinstance(after, int) or after < 0:
            raise AdminError(400, "after must be a non-negative integer")
        shown = self.dialect.hooks.shown
        with self.state.store.lock:
            table = self.state.store.table(object_type)
            start = bisect.bisect_left(table.ids, after)
            live = (r for r in range(start, len(table)) if not table.archived[r])
            rows = list(itertools.islice(live, limit + 1))
            more = len(rows) > limit
            rows = rows[:limit]
            out = {
                "ids": [self.dialect.format_id(object_type, table.ids[r]) for r in rows],
                "values": {n: [shown(object_type, table, r, n) for r in rows] for n in names},
                "next": table.ids[rows[-1]] + 1 if more else None,
            }
        return _json(200, out)

    def _record(self, request: Request, object_type: str, record_id: str) -> Response:
        canon = self._object_type(object_type)
        with self.state.store.lock:
            table = self.state.store.table(canon)
            parsed = self.dialect.parse_id(canon, record_id)
            row = table.row_of.get(parsed) if parsed is not None else None
            if row is None:
                raise AdminError(404, f"no {self.dialect.api_name(canon)} record {record_id}")
            view = self.dialect.record_view(canon, row)
            body = {
                "id": self.dialect.format_id(canon, table.ids[row]),
                "object_type": self.dialect.api_name(canon),
                "archived": table.archived[row],
                **view,
                "changes": dict(table.changes.get(row, {})),
                "created_ms": table.created[row],
                "updated_ms": table.updated[row],
            }
        return _json(200, body)

    def _expire_tokens(self, request: Request) -> Response:
        return _json(200, {"expired": self.state.tokens.expire_all()})

    def _token(self, request: Request) -> str:
        token = self._body(request).get("token")
        if not isinstance(token, str) or not token:
            raise AdminError(400, 'body must be {"token": "<bearer token>"}')
        return token

    def _revoke_token(self, request: Request) -> Response:
        """Every call with this bearer token gets 401 until it is restored."""
        self.state.tokens.revoke(self._token(request))
        return _json(200, {"revoked": True})

    def _restore_token(self, request: Request) -> Response:
        return _json(200, {"restored": self.state.tokens.restore(self._token(request))})

    def _emitter(self) -> EventEmitter:
        if self.events is None:
            raise AdminError(404, "this sandbox sends no change events")
        return self.events

    def _webhooks(self, request: Request) -> Response:
        """Change-event settings and counters; POST changes settings (``{"url": null}``: off).

        POST takes any of url, secret, duplicate, reorder, forged, delay_seconds,
        max_attempts, retry_seconds, retry_max_seconds, timeout_seconds, linger_seconds,
        batch_size, plus ``"reset": true`` to zero the counters.
        """
        events = self._emitter()
        if request.method == "POST":
            body = self._body(request)
            reset = body.pop("reset", False)
            try:
                events.configure(body)
            except ValueError as exc:
                raise AdminError(400, str(exc)) from None
            if reset:
                events.reset_counters()
        return _json(
            200,
            {
                "dialect": self.dialect.name,
                **events.settings.to_dict(),
                "counters": events.snapshot(),
            },
        )

    def _webhook_events(self, request: Request) -> Response:
        """The latest emitted events with occurred/first-sent/acknowledged times (``limit``)."""
        try:
            limit = int(request.args.get("limit", "1000"))
        except ValueError:
            raise AdminError(400, "limit must be an integer") from None
        return _json(200, {"events": self._emitter().recent(limit)})
