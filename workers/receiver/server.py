"""The receiver's HTTP server: uvicorn's h11 protocol with a deadline and a door.

uvicorn bounds neither how long a client may take to send its request headers nor how
many connections it holds; 1,100 clients trickling a header byte now and then took
every file descriptor and ``/healthz`` stopped answering. Here:

- a connection must complete its request headers within the header timeout (between
  requests too; a partial request is answered 408), then the body has its own timeout
  (``workers/receiver/body.py``);
- at most ``max_connections`` are open, fitted under the process's file-descriptor
  limit; a connection arriving when all are taken displaces the oldest one that has no
  request in flight (a slow or idle client), so a real request gets in while a crowd of
  slow clients waits; only when every connection is mid-request is it turned away (503).

h11 (not httptools) is the parser on purpose: it bounds the size of the request
headers (``h11_max_incomplete_event_size``).
"""

from __future__ import annotations

import asyncio
import logging
import resource
import socket
import time
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("segsync.webhooks")

# asyncio accepts up to this many connections per wake-up before any of them is
# admitted (or displaced): they need descriptors beyond the connection limit.
ACCEPT_BACKLOG = 128
# Descriptors the process needs besides connections: database pool, Redis, logs, epoll.
RESERVED_DESCRIPTORS = ACCEPT_BACKLOG + 64
MIN_CONNECTIONS = 16
MAX_HEADER_BYTES = 16 * 1024
REPORT_SECONDS = 60.0


def _raw_response(status: str, text: str, *extra: str) -> bytes:
    """A whole response written straight to the socket (no request cycle to use)."""
    body = text.encode() + b"\n"
    head = [
        f"HTTP/1.1 {status}",
        "content-type: text/plain; charset=utf-8",
        "connection: close",
        *extra,
        f"content-length: {len(body)}",
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


_TIMEOUT_408 = _raw_response("408 Request Timeout", "request headers took too long")
_FULL_503 = _raw_response("503 Service Unavailable", "too many connections", "retry-after: 1")


def fitted_connection_limit(wanted: int) -> int:
    """``wanted``, lowered to what the file-descriptor limit leaves for connections.

    Raises ValueError (one line) when the limit leaves too few.
    """
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return wanted
    room = soft - RESERVED_DESCRIPTORS
    if room < MIN_CONNECTIONS:
        raise ValueError(
            f"the file-descriptor limit ({soft}) leaves room for {max(room, 0)} connections; "
            f"raise it (ulimit -n) to at least {RESERVED_DESCRIPTORS + MIN_CONNECTIONS}"
        )
    return min(wanted, room)


class ConnectionGuard:
    """The open connections of one server; idle ones in arrival order, oldest first."""

    def __init__(self, max_connections: int, header_timeout: float) -> None:
        self.max_connections = max_connections
        self.header_timeout = header_timeout
        self.open: set[GuardedH11Protocol] = set()
        self.idle: dict[GuardedH11Protocol, None] = {}
        self.counts = {"displaced": 0, "turned_away": 0, "header_timeouts": 0}
        self._reported = dict(self.counts)
        self._reported_at = 0.0

    def admit(self, conn: GuardedH11Protocol) -> bool:
        """Whether ``conn`` may stay open (displacing the oldest idle one if need be)."""
        if len(self.open) >= self.max_connections:
            victim = next(iter(self.idle), None)
            if victim is None:
                self.count("turned_away")
                return False
            self.count("displaced")
            victim.drop()
        self.open.add(conn)
        self.idle[conn] = None
        return True

    def forget(self, conn: GuardedH11Protocol) -> None:
        self.open.discard(conn)
        self.idle.pop(conn, None)

    def count(self, name: str) -> None:
        # Logged, not stored: these happen without a request to tie them to, often in
        # bursts of hundreds; one line a minute says what the server is going through.
        self.counts[name] += 1
        now = time.monotonic()
        if now - self._reported_at >= REPORT_SECONDS:
            changes = {k: v - self._reported[k] for k, v in self.counts.items()}
            log.warning(
                "receiver under connection pressure (limit %d): %s",
                self.max_connections,
                ", ".join(f"{k} {v}" for k, v in changes.items() if v),
            )
            self._reported, self._reported_at = dict(self.counts), now


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol under a :class:`ConnectionGuard` (set on a subclass)."""

    guard: ConnectionGuard

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._partial = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if not self.guard.admit(self):
            transport.write(_FULL_503)
            transport.close()
            return
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self.guard.forget(self)
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._deadline is not None:
            self._partial = True
        super().data_received(data)

    def handle_events(self) -> None:
        cycle = self.cycle
        super().handle_events()
        if self.cycle is not cycle:  # a request's headers are complete: its app runs
            self._disarm()
            self.guard.idle.pop(self, None)

    def on_response_complete(self) -> None:
        # Idle again before uvicorn looks at pipelined data (which may start a request).
        if not self.transport.is_closing():
            self.guard.idle[self] = None
            self._arm()
        super().on_response_complete()

    def drop(self) -> None:
        """Close now, making room for a newer connection."""
        self.guard.forget(self)
        self._disarm()
        self.transport.abort()

    def _arm(self) -> None:
        self._disarm()
        self._partial = False
        self._deadline = self.loop.call_later(self.guard.header_timeout, self._headers_late)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _headers_late(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        self.guard.count("header_timeouts")
        if self._partial:
            self.transport.write(_TIMEOUT_408)
        self.guard.forget(self)
        self.transport.close()


def serve(
    app: Any,
    sock: socket.socket,
    *,
    max_connections: int,
    header_timeout: float,
    keep_alive_timeout: float = 5.0,
) -> None:
    """Run ``app`` on ``sock`` until interrupted."""
    guard = ConnectionGuard(max_connections, header_timeout)
    protocol = type("ReceiverProtocol", (GuardedH11Protocol,), {"guard": guard})
    config = uvicorn.Config(
        app,
        http=protocol,
        # Forwarded headers are the app's business (workers/receiver/addresses.py), and
        # trusted from no one unless configured; uvicorn would trust 127.0.0.1.
        proxy_headers=False,
        backlog=ACCEPT_BACKLOG,
        timeout_keep_alive=max(1, round(keep_alive_timeout)),
        h11_max_incomplete_event_size=MAX_HEADER_BYTES,
        log_level="warning",
    )
    uvicorn.Server(config).run(sockets=[sock])
