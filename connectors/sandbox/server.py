"""The sandbox HTTP server: request pipeline (auth, quotas, faults) and a keep-alive WSGI server.

Werkzeug's development server closes every connection after one response; real CRM
clients keep connections alive, so the request handler here implements HTTP/1.1
keep-alive itself (every response carries a Content-Length). It also implements the
"dropped connection" fault by shutting the socket instead of answering.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import logging
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler
from werkzeug.wrappers import Request, Response
from werkzeug.wsgi import LimitedStream

from connectors.sandbox.admin import Admin
from connectors.sandbox.config import SandboxConfig, WebhookSettings
from connectors.sandbox.dialect import CallInfo, Dialect
from connectors.sandbox.events import (
    DEFAULT_SOURCE,
    UI_SOURCE,
    EventEmitter,
    EventFormat,
    change_source,
)
from connectors.sandbox.hubspot.api import HubSpotDialect
from connectors.sandbox.quotas import DAILY
from connectors.sandbox.seed.generate import SeedData, generate
from connectors.sandbox.state import SandboxState
from connectors.sandbox.tokens import AuthFailure

log = logging.getLogger("segsync.sandbox")
DROP = "segsync.sandbox.drop"  # environ flag: close the connection instead of answering
IDLE_TIMEOUT = 30.0  # seconds a keep-alive connection may sit idle
# Dialect name -> factory; every dialect serves the same seed, store, quotas and faults.


def _salesforce(state: SandboxState, seed: SeedData) -> Dialect:
    # Imported on first use: HubSpot runs never load the Salesforce modules (zeep-free, lark-free).
    from connectors.sandbox.salesforce.api import SalesforceDialect

    return SalesforceDialect(state, seed)


DIALECTS: dict[str, Callable[[SandboxState, SeedData], Dialect]] = {
    "hubspot": HubSpotDialect,
    "salesforce": _salesforce,
}


def event_format(config: SandboxConfig, dialect: Dialect) -> EventFormat:
    """How a dialect phrases change events (webhooks or outbound messages)."""
    if isinstance(dialect, HubSpotDialect):
        from connectors.sandbox.hubspot.webhooks import HubSpotEvents

        return HubSpotEvents(dialect.data)
    from connectors.sandbox.salesforce.api import SalesforceDialect
    from connectors.sandbox.salesforce.outbound_messages import SalesforceEvents

    if not isinstance(dialect, SalesforceDialect):
        raise TypeError(f"no change events for the {dialect.name} dialect")
    return SalesforceEvents(dialect.data, config.org_id)


class SandboxApp:
    """The WSGI application: admin endpoints, then the dialect behind auth, quotas and faults."""

    def __init__(self, state: SandboxState, dialect: Dialect, admin: Admin) -> None:
        self.state = state
        self.dialect = dialect
        self.admin = admin

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        call = CallInfo(str(uuid.uuid4()), self.state.now_ms(), request.host_url)
        admin = request.path.startswith("/_sandbox")
        try:
            # Admin changes are simulated users; everything else is an API client's.
            with change_source(UI_SOURCE if admin else DEFAULT_SOURCE):
                if admin:
                    response = self.admin.handle(request)
                else:
                    response = self._api(request, environ, call)
                    self.state.stats.status(response.status_code)
        except Exception:
            log.exception("sandbox: unhandled error on %s %s", request.method, request.path)
            response = self.dialect.plain_error(500, "Internal error in the sandbox", call)
        response.headers[self.dialect.correlation_header] = call.correlation_id
        return response(environ, start_response)

    def _api(self, request: Request, environ: dict[str, Any], call: CallInfo) -> Response:
        state, dialect = self.state, self.dialect
        refused = dialect.precheck(request, call)
        if refused is not None:
            state.stats.request(f"{request.method} <refused>")
            return refused
        try:
            endpoint, args = dialect.url_map.bind_to_environ(environ).match()
        except NotFound:
            state.stats.request(f"{request.method} <unmatched>")
            return dialect.plain_error(404, f"No route for {request.method} {request.path}", call)
        except MethodNotAllowed:
            state.stats.request(f"{request.method} <unmatched>")
            return dialect.plain_error(
                405, f"Method {request.method} is not allowed for {request.path}", call
            )
        route = dialect.route(request.method, endpoint, args)
        state.stats.request(route.template)
        call = dataclasses.replace(call, endpoint=endpoint)
        if route.kind == "oauth":
            return dialect.handle(endpoint, request, args, call)
        principal = state.tokens.authenticate(dialect.credentials(request, endpoint))
        if isinstance(principal, AuthFailure):
            return dialect.unauthorized(principal, call)
        decision = state.limiter.admit(principal.rate_key, search=route.kind == "search")
        if decision.policy is not None:
            state.stats.limited(decision.policy)
            response = dialect.rate_limited(decision.policy, call)
        else:
            response = self._faulted(endpoint, request, args, call, environ)
        if route.kind != "search":
            for key, value in dialect.rate_headers(decision.usage, principal):
                response.headers[key] = value
        return response

    def _faulted(
        self,
        endpoint: str,
        request: Request,
        args: Mapping[str, Any],
        call: CallInfo,
        environ: dict[str, Any],
    ) -> Response:
        fault = self.state.faults.draw(endpoint.split(":", 1)[0])
        if fault is None:
            return self.dialect.handle(endpoint, request, args, call)
        self.state.stats.fault(fault.kind)
        if fault.kind == "429":
            return self.dialect.rate_limited("TEN_SECONDLY_ROLLING", call)
        if fault.kind == "daily_limit":
            return self.dialect.rate_limited(DAILY, call)
        if fault.kind == "5xx":
            return self.dialect.gateway_error(fault.status, call)
        if fault.kind == "drop_before":
            environ[DROP] = True
            return Response(b"")
        if fault.kind == "slow":
            time.sleep(self.state.faults.config.slow_seconds)
            return self.dialect.handle(endpoint, request, args, call)
        response = self.dialect.handle(
            endpoint, request, args, call
        )  # drop_after: applied, no reply
        environ[DROP] = True
        return response


class _Server(ThreadedWSGIServer):
    """Threaded WSGI server that remembers open connections so stop() can close them."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, host: str, port: int, app: Any) -> None:
        super().__init__(host, port, app, handler=_Handler)
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()

    def close_connections(self) -> None:
        """Shut every open client connection (idle keep-alive ones included)."""
        with self.connections_lock:
            conns = list(self.connections)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class _Handler(WSGIRequestHandler):
    """HTTP/1.1 with keep-alive, quiet logging and connection drops on demand."""

    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT
    # Headers and body go out in separate writes; without TCP_NODELAY, Nagle's algorithm and
    # the client's delayed ACK stall every keep-alive response by ~40 ms.
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Requests are counted in /_sandbox/stats instead of logged."""

    def run_wsgi(self) -> None:
        """Run the app for one request and answer it, keeping the connection open.

        The body is read through a length-limited stream and drained afterwards, so the
        next request on the connection starts at the right byte.
        """
        if self.headers.get("Expect", "").lower().strip() == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        environ = self.make_environ()
        stream = None
        if not environ.get("wsgi.input_terminated"):
            stream = LimitedStream(self.rfile, int(environ.get("CONTENT_LENGTH") or 0))  # type: ignore[arg-type]
            environ["wsgi.input"] = stream
            environ["wsgi.input_terminated"] = True
        else:
            self.close_connection = True  # chunked request bodies: do not try to reuse the stream
        captured: dict[str, Any] = {}

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Any:
            captured["status"], captured["headers"] = status, headers
            return lambda data: None

        iterable = self.server.app(environ, start_response)
        try:
            body = b"".join(iterable)
        finally:
            close = getattr(iterable, "close", None)
            if close is not None:
                close()
        if environ.get(DROP):
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        if stream is not None:
            stream.exhaust()  # keep the connection usable when a handler ignored the body
        code_text, _, reason = str(captured["status"]).partition(" ")
        code = int(code_text)
        self.send_response(code, reason)
        for key, value in captured["headers"]:
            if key.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(key, value)
        if code not in (204, 304):
            self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if body and code not in (204, 304) and self.command != "HEAD":
            self.wfile.write(body)
        self.wfile.flush()


class SandboxServer:
    """A sandbox CRM on a local port: ``start()`` in the background or ``serve_forever()``."""

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        self.state = SandboxState.create(self.config)
        seed = generate(
            self.config.seed,
            self.config.contacts,
            self.config.companies,
            self.config.deals,
            self.config.mode,
            self.config.anchor,
            leads=self.config.seeded_leads,
        )
        self.dialect: Dialect = DIALECTS[self.config.dialect](self.state, seed)
        del seed  # the store holds everything now; let the column lists go
        # Millions of long-lived store objects would make every full GC pass scan them all
        # (tens of ms per pass on 100k records); freezing moves them out of the collector's way.
        gc.collect()
        gc.freeze()
        self.events = EventEmitter(
            event_format(self.config, self.dialect),
            WebhookSettings.from_config(self.config),
            seed=self.config.seed,
            concurrency=self.config.webhook_concurrency,
        )
        self.state.store.listen(self.events.record)
        self.admin = Admin(self.state, self.dialect, self.events)
        self.app = SandboxApp(self.state, self.dialect, self.admin)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._serving = threading.Event()

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321``; binds the port if not yet bound."""
        host, port = self._bind().server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def port(self) -> int:
        """The bound port (binds it if not yet bound)."""
        return int(self._bind().server_address[1])

    def _bind(self) -> _Server:
        if self._server is None:
            self._server = _Server(self.config.host, self.config.port, self.app)
        return self._server

    def start(self) -> SandboxServer:
        """Listen and serve in a background thread; returns once the port accepts connections."""
        server = self._bind()
        self._start_events()
        self._thread = threading.Thread(
            target=self._serve, args=(server,), name="segsync-sandbox", daemon=True
        )
        self._thread.start()
        self._serving.wait(timeout=5)
        return self

    def serve_forever(self) -> None:
        """Serve in the foreground until Ctrl-C (or ``stop()`` from another thread)."""
        log.info("sandbox %s listening on %s", self.dialect.name, self.url)
        self._start_events()
        try:
            self._serve(self._bind())
        except KeyboardInterrupt:
            pass
        finally:
            self._close()

    def _start_events(self) -> None:
        # Outbound messages name the instance the org lives on; only now is the port known.
        self.events.format.base_url = self.config.instance_url or self.url
        self.events.start()

    def _serve(self, server: _Server) -> None:
        self._serving.set()
        try:
            server.serve_forever(poll_interval=0.1)
        finally:
            self._serving.clear()

    def stop(self) -> None:
        """Stop serving and close the port and every open connection."""
        server = self._server
        if server is None:
            return
        if self._serving.is_set():
            server.shutdown()  # returns once the serve loop has exited
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self._close()

    def _close(self) -> None:
        self.events.stop()
        server, self._server = self._server, None
        if server is not None:
            server.close_connections()
            server.server_close()
        gc.unfreeze()  # let a stopped server's records be collected

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
