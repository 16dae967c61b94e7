"""Named locks kept by the state store itself, for work that must never run twice at once.

A lock in Redis is lost when Redis restarts without persistence: the holder goes on
(a write waiting out the outage in its retries lands after Redis is back) while
another worker takes the lock anew and plans the same writes against a state store
that does not hold them yet. The state store is where those writes are recorded, so
its own locks fence them: a PostgreSQL session advisory lock, held on a connection of
its own and freed by the server when that session ends (a dead worker holds nothing);
on SQLite, an ``flock`` on a file beside the database (freed with the process).
"""

from __future__ import annotations

import fcntl
import hashlib
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from workers.state.base import StoreBase

# In-memory SQLite databases are private to this process: a process-wide lock suffices.
_MEMORY_LOCKS: dict[str, threading.Lock] = {}
_MEMORY_LOCKS_GUARD = threading.Lock()


class LockLost(RuntimeError):
    """The store's lock went with the connection holding it (the database restarted)."""


class Hold:
    """A held lock; :meth:`check` raises :class:`LockLost` once it can no longer be
    trusted (safe to call from several threads, e.g. a lease keeper's)."""

    def __init__(self, name: str, probe: Callable[[], None] | None = None) -> None:
        self.name = name
        self._probe = probe
        self._guard = threading.Lock()
        self._lost: str | None = None

    def check(self) -> None:
        """Raise :class:`LockLost` unless the lock is still held."""
        with self._guard:
            if self._lost is None and self._probe is not None:
                try:
                    self._probe()
                except SQLAlchemyError as exc:
                    self._lost = f"its state store connection failed ({type(exc).__name__})"
            if self._lost is not None:
                raise LockLost(f"lock {self.name!r} lost: {self._lost}")


def lock_id(name: str) -> int:
    """The signed 64-bit advisory lock key of ``name`` (stable across processes)."""
    digest = hashlib.blake2b(f"segsync:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class LocksMixin(StoreBase):
    """Named, non-blocking locks: :meth:`exclusive`."""

    @contextmanager
    def exclusive(self, name: str) -> Iterator[Hold | None]:
        """Hold the lock ``name`` for the block, or yield None at once if another process
        (or thread) holds it."""
        if self.dialect == "postgresql":
            with self._postgres_lock(name) as hold:
                yield hold
            return
        database = self.url.database or ""
        if database in ("", ":memory:") or "mode=memory" in database:
            with self._memory_lock(name) as hold:
                yield hold
            return
        with _file_lock(Path(database.removeprefix("file:").split("?")[0]), name) as hold:
            yield hold

    @contextmanager
    def _postgres_lock(self, name: str) -> Iterator[Hold | None]:
        key = lock_id(name)
        conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            if not conn.scalar(select(func.pg_try_advisory_lock(key))):
                yield None
                return
            try:
                # The session is alive, so the lock is held: a round trip tells.
                yield Hold(name, lambda: conn.execute(select(1)).close())
            except BaseException:
                # A connection that may still hold the lock never goes back to the pool:
                # invalidated, its session ends and the server frees the lock.
                with suppress(Exception):
                    conn.invalidate()
                raise
            try:
                conn.scalar(select(func.pg_advisory_unlock(key)))
            except SQLAlchemyError:
                # Lost with its session (nothing is left held), or unsure: ended as above.
                with suppress(Exception):
                    conn.invalidate()
        finally:
            conn.close()

    @contextmanager
    def _memory_lock(self, name: str) -> Iterator[Hold | None]:
        with _MEMORY_LOCKS_GUARD:
            lock = _MEMORY_LOCKS.setdefault(f"{id(self.engine)}:{name}", threading.Lock())
        if not lock.acquire(blocking=False):
            yield None
            return
        try:
            yield Hold(name)
        finally:
            lock.release()


@contextmanager
def _file_lock(database: Path, name: str) -> Iterator[Hold | None]:
    path = database.with_name(f"{database.name}.{lock_id(name) & 0xFFFFFFFF:08x}.lock")
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield None
            return
        try:
            yield Hold(name)
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
