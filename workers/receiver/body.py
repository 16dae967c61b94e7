"""Request bodies read under limits: size per request, memory across requests, time.

The limit is checked before anything is read: a Content-Length over it is refused at
once, and a body without one (chunked) is counted as it arrives and refused the moment
it passes the limit. Bodies in flight share a small memory budget; a body arriving when
it is spent goes to a temporary file instead (its own budget, 503 beyond), so a crowd of
large posts costs disk pages, not the receiver's memory, and a genuine batch still gets
in. A signature is checked as the bytes arrive (``digest``), so a forged body is refused
without ever being held whole.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import IO, Protocol

from starlette.requests import ClientDisconnect, Request

from workers.receiver.refused import Refused


@dataclass(frozen=True)
class BodyLimits:
    """How much one request may send, what all may hold in memory and on disk, how long."""

    max_bytes: int
    max_buffered: int
    max_spooled: int
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


@dataclass
class Budgets:
    """The memory and disk budgets bodies of one receiver share."""

    memory: BufferBudget
    disk: BufferBudget

    @classmethod
    def of(cls, limits: BodyLimits) -> Budgets:
        return cls(BufferBudget(limits.max_buffered), BufferBudget(limits.max_spooled))


class Digest(Protocol):
    def update(self, data: bytes, /) -> None: ...


class ReceivedBody:
    """A body read whole: in memory, or spooled to a temporary file."""

    def __init__(self, chunks: list[bytes], spool: IO[bytes] | None) -> None:
        self._chunks = chunks
        self._spool = spool

    @property
    def spooled(self) -> bool:
        return self._spool is not None

    def read(self) -> bytes:
        """The bytes (read back from disk when spooled); call once checks have passed."""
        if self._spool is None:
            return b"".join(self._chunks)
        self._spool.seek(0)
        return self._spool.read()


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


def _too_large(limits: BodyLimits) -> Refused:
    return Refused(413, "too_large", f"body over {limits.max_bytes} bytes", "streamed", close=True)


def _busy() -> Refused:
    return Refused(503, "busy", "too many request bodies in flight", "buffered", close=True)


@asynccontextmanager
async def limited_body(
    request: Request, limits: BodyLimits, budgets: Budgets, digest: Digest | None = None
) -> AsyncIterator[ReceivedBody]:
    """The body, read within the limits, each chunk fed to ``digest`` as it arrives.

    Its bytes count against ``budgets`` until exit.
    """
    declared_length(request, limits)
    # Chunks kept as they came, joined once: a growing bytearray over-allocates up to
    # twice what it holds, and a refused body never needs joining at all.
    chunks: list[bytes] = []
    spool: IO[bytes] | None = None
    files = ExitStack()  # the spool file, closed (and so deleted) on exit
    in_memory = on_disk = 0
    try:
        try:
            async with asyncio.timeout(limits.timeout):
                async for chunk in request.stream():
                    if in_memory + on_disk + len(chunk) > limits.max_bytes:
                        raise _too_large(limits)
                    if digest is not None:
                        digest.update(chunk)
                    if spool is None:
                        if budgets.memory.take(len(chunk)):
                            in_memory += len(chunk)
                            chunks.append(chunk)
                            continue
                        # The memory budget is spent: this body moves to disk.
                        if not budgets.disk.take(in_memory):
                            raise _busy()
                        spool = files.enter_context(tempfile.TemporaryFile())  # noqa: SIM115
                        spool.writelines(chunks)
                        chunks.clear()
                        budgets.memory.give(in_memory)
                        on_disk, in_memory = in_memory, 0
                    if not budgets.disk.take(len(chunk)):
                        raise _busy()
                    on_disk += len(chunk)
                    spool.write(chunk)
        except TimeoutError:
            raise Refused(
                408, "timeout", f"body not received within {limits.timeout:g} s", "body", close=True
            ) from None
        except ClientDisconnect:
            raise Refused(400, "malformed", "client went away", "disconnected") from None
        yield ReceivedBody(chunks, spool)
    finally:
        chunks.clear()
        files.close()
        budgets.memory.give(in_memory)
        budgets.disk.give(on_disk)
