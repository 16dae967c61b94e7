"""The core of the state store: engine, clock, transactions and schema migrations."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Self

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Connection
from sqlalchemy.orm import Session

from workers.state.engine import _WRITE_OPTION, DEFAULT_URL, _create_engine, normalize_url
from workers.state.schema import Base, utcnow

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"

# Key for pg_advisory_xact_lock so concurrently starting processes migrate one at a time.
_MIGRATION_LOCK_KEY = 0x5E65_9C0C
# Rows a process adds to a table before PostgreSQL's planner statistics of it are first
# refreshed; each refresh doubles the count to the next (see StoreBase._grown).
GROWTH_BEFORE_ANALYZE = 10_000


class StoreBase:
    """The core every part of :class:`~workers.state.StateStore` builds on.

    It owns the engine, the transactions (:meth:`_read`, :meth:`_write`,
    :meth:`transaction`), the clock and the schema migrations; the mixins in this
    package add the methods of one concept each on top of it.
    """

    def __init__(self, url: str | URL = DEFAULT_URL, *, clock: Callable[[], datetime] = utcnow):
        """Open (lazily) the database at ``url``; creates a SQLite file's parent folder.

        ``clock`` supplies "now" for every timestamp the store sets; tests pass a fake.
        """
        self.url = normalize_url(url)
        self._clock = clock
        self.engine: Engine = _create_engine(self.url)
        self.dialect: str = self.engine.dialect.name
        # The connection of this thread's open transaction() block, if any.
        self._shared = threading.local()
        # Rows this process added per table, and the count at which it is analyzed next.
        self._added: dict[str, int] = {}
        self._analyze_at: dict[str, int] = {}

    def __repr__(self) -> str:
        # Safe for logs and error messages: the password is masked.
        return f"StateStore({self.url.render_as_string(hide_password=True)!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release pooled connections."""
        self.engine.dispose()

    # ------------------------------------------------------------------ plumbing

    def _now(self) -> datetime:
        now = self._clock()
        if now.tzinfo is None:
            raise ValueError("the state store clock must return aware datetimes")
        return now.astimezone(UTC)

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """A connection inside a write transaction, committed on success (or at the end of
        the enclosing :meth:`transaction` block)."""
        shared: Connection | None = getattr(self._shared, "conn", None)
        if shared is not None:
            yield shared
            return
        with self.engine.connect() as conn:
            conn.execution_options(**{_WRITE_OPTION: True})
            with conn.begin():
                yield conn

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Run this thread's store writes inside the block as one transaction: all or none
        of them, and one commit (a commit is a disk flush on PostgreSQL)."""
        if getattr(self._shared, "conn", None) is not None:
            yield
            return
        with self._write() as conn:
            self._shared.conn = conn
            try:
                yield
            finally:
                self._shared.conn = None

    @contextmanager
    def _read(self) -> Iterator[Session]:
        """A session for reads; one transaction so multi-chunk reads are consistent."""
        with Session(self.engine) as session, session.begin():
            yield session

    def _insert(self, model: type[Base]) -> sqlite.Insert | postgresql.Insert:
        # ON CONFLICT is spelled the same on both, but SQLAlchemy builds it per dialect.
        if self.dialect == "postgresql":
            return postgresql.insert(model)
        return sqlite.insert(model)

    # ------------------------------------------------------------------ schema

    def _alembic_config(self, connection: Connection) -> Config:
        # The ini sits next to env.py inside the package and names its own folder as the
        # script location, so this works from a wheel and from any working directory.
        config = Config(str(MIGRATIONS_DIR / "alembic.ini"))
        # env.py uses this connection instead of building an engine from a URL string:
        # the store's URL (with its password) never passes through configparser.
        config.attributes["connection"] = connection
        return config

    def analyze(self) -> None:
        """Refresh the query planner's statistics of the tables a full run fills.

        PostgreSQL plans by them: never analyzed after a bulk load (autovacuum off, or
        not yet around to it), it took a look-up of 30 records' written values for a
        scan of 4 million rows (1 s instead of 1 ms; an event round at 200,000 contacts
        6.3 s instead of 1.4). ANALYZE samples a fixed number of rows: well under a
        second at that size. SQLite gets ``PRAGMA optimize``.
        """
        with self._write() as conn:
            if self.dialect == "postgresql":
                conn.exec_driver_sql(
                    "ANALYZE mirror_records, written_values, writes_in_flight, event_inbox"
                )
            else:
                conn.exec_driver_sql("PRAGMA optimize")

    def _grown(self, table: str, rows: int) -> None:
        """Keep PostgreSQL's planner statistics of ``table`` current while a bulk load
        grows it: analyzed when this process has added 10,000 rows, then 20,000, 40,000...

        Never analyzed (autovacuum off, or not around to it yet), a table is planned as
        if nearly empty: during a full pull of 1,000,000 contacts each page's look-up of
        100 mirror rows by id became a scan of every contact mirrored so far (0.3 s at
        760,000 rows, so the pull grew quadratically). A dozen ANALYZEs of a fixed
        sample cost well under a second each.
        """
        if self.dialect != "postgresql" or rows <= 0:
            return
        added = self._added.get(table, 0) + rows
        self._added[table] = added
        if added < self._analyze_at.get(table, GROWTH_BEFORE_ANALYZE):
            return
        self._analyze_at[table] = 2 * added
        # On a connection of its own, outside the caller's transaction: the sample need
        # not see the rows just added, and the caller's locks are not held any longer.
        with self.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(f"ANALYZE {table}")

    def migrate(self) -> None:
        """Bring the schema to the latest revision (Alembic ``upgrade head``).

        A fresh database gets every table; an up-to-date one is left untouched.
        """
        with self._write() as conn:
            if self.dialect == "postgresql":
                # Several processes may start at once; only one may run the DDL.
                conn.execute(select(func.pg_advisory_xact_lock(_MIGRATION_LOCK_KEY)))
            command.upgrade(self._alembic_config(conn), "head")

    def current_revision(self) -> str | None:
        """The Alembic revision the database is at (None before the first migrate)."""
        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    @staticmethod
    def head_revision() -> str | None:
        """The newest revision shipped with this version of segsync."""
        return ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
