"""Request bodies read under limits: size per request, bytes held across requests, time.

The limit is checked before anything is read: a Content-Length over it is refused at
once, and a body without one (chunked) is counted as it arrives and refused the moment
it passes the limit. Whatever the requests in flight hold together is capped too, so a
crowd of large posts cannot add up to the memory one post may not take.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from starlette.requests import ClientDisconnect, Request

from workers.receiver.refused import Refused


@dataclass(frozen=True)
class BodyLimits:
    """How much one request may send, how much all may hold, how long a body may take."""

    max_bytes: int
    max_buffered: int
    timeout: float


class BufferBudget:
    """Bytes held by request bodies of this process (one event loop: no lock needed)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0

    def take(self, size: int) -> bool:
        if self.held + size > self.limit:
            return False
        self.held += size
        return True

    def give(self, size: int) -> None:
        self.held -= size


def declared_length(request: Request, limits: BodyLimits) -> None:
    """Refuse a request whose Content-Length is over the limit (nothing read)."""
    length = request.headers.get("content-length")
    if length is None:
        return
    if not (length.isascii() and length.isdigit()):  # h11 refuses these first; kept for ASGI
        raise Refused(400, "malformed", "invalid Content-Length", "content_length", close=True)
    if int(length) > limits.max_bytes:
        raise Refused(
            413, "too_large", f"body over {limits.max_bytes} bytes", "declared", close=True
        )


@asynccontextmanager
async def limited_body(
    request: Request, limits: BodyLimits, budget: BufferBudget
) -> AsyncIterator[bytes]:
    """The body, read within the limits; its bytes count against ``budget`` until exit."""
    declared_length(request, limits)
    # Chunks kept as they came, joined once: a growing bytearray over-allocates up to
    # twice what it holds, and a refused body never needs joining at all.
    chunks: list[bytes] = []
    held = 0
    try:
        try:
            async with asyncio.timeout(limits.timeout):
                async for chunk in request.stream():
                    if held + len(chunk) > limits.max_bytes:
                        raise Refused(
                            413,
                            "too_large",
                            f"body over {limits.max_bytes} bytes",
                            "streamed",
                            close=True,
                        )
                    if not budget.take(len(chunk)):
                        raise Refused(
                            503, "busy", "too many request bodies in flight", "buffered", close=True
                        )
                    held += len(chunk)
                    chunks.append(chunk)
        except TimeoutError:
            raise Refused(
                408, "timeout", f"body not received within {limits.timeout:g} s", "body", close=True
            ) from None
        except ClientDisconnect:
            raise Refused(400, "malformed", "client went away", "disconnected") from None
        body = b"".join(chunks)
        chunks.clear()
        yield body
    finally:
        budget.give(held)
