"""Fixtures of the workers' tests: state stores on SQLite files and on PostgreSQL.

The PostgreSQL database ``test`` is shared with other suites, so a session works in its
own freshly created schemas (``search_path`` set through the connection's ``options``,
which also puts Alembic's version table there) and drops them at the end.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from tests.stores import TABLES, PgSchemas
from workers.state import StateStore


@pytest.fixture(scope="session")
def pg_schemas(postgres_url: str) -> Iterator[PgSchemas]:
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    schemas = PgSchemas(admin, postgres_url, f"segsync_test_{uuid.uuid4().hex[:12]}", [])
    try:
        yield schemas
    finally:
        for name in list(schemas.created):
            schemas.drop(name)
        admin.dispose()


@pytest.fixture(scope="session")
def pg_session_url(pg_schemas: PgSchemas) -> str:
    """This session's schema, migrated once."""
    url, _ = pg_schemas.new()
    store = StateStore(url)
    store.migrate()
    store.close()
    return url


def _empty_tables(store: StateStore) -> None:
    with store.engine.begin() as conn:
        conn.exec_driver_sql("TRUNCATE " + ", ".join(sorted(TABLES)) + " RESTART IDENTITY")


@pytest.fixture(params=["sqlite", "postgresql"])
def backend_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL of an already migrated, empty state database."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'state.db'}"
        store = StateStore(url)
        store.migrate()
        store.close()
        return url
    # Looked up lazily so SQLite runs do not need the server.
    url = str(request.getfixturevalue("pg_session_url"))
    store = StateStore(url)
    _empty_tables(store)
    store.close()
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str | None]]:
    """URL of an empty, never migrated database, and its PostgreSQL schema (None on SQLite)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'sub' / 'dir' / 'fresh.db'}", None
        return
    schemas: PgSchemas = request.getfixturevalue("pg_schemas")
    url, schema = schemas.new(f"_fresh_{uuid.uuid4().hex[:6]}")
    try:
        yield url, schema
    finally:
        schemas.drop(schema)
