"""Alembic environment of segsync's state store.

``StateStore.migrate()`` passes its own open connection in ``config.attributes``, so
the migration runs on exactly the store's database (and, on PostgreSQL, in whatever
schema its ``search_path`` names, version table included). Run through the alembic
CLI instead, the URL comes from ``SEGSYNC_DATABASE_URL`` or the ini file.
"""

from __future__ import annotations

import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy import Connection

from workers.state import DEFAULT_URL, Base, StateStore, normalize_url

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    return (
        os.environ.get("SEGSYNC_DATABASE_URL")
        or config.get_main_option("sqlalchemy.url")
        or DEFAULT_URL
    )


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds tables for future revisions.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    """Migrate over a live connection: the store's own, or one built for the CLI."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    # Only the CLI configures logging; inside the app that is the app's business.
    if config.config_file_name is not None:
        fileConfig(config.config_file_name, disable_existing_loggers=False)
    store = StateStore(_url())
    try:
        with store.engine.begin() as conn:
            _run(conn)
    finally:
        store.close()


def run_offline() -> None:
    """Emit the SQL instead of running it (``alembic upgrade head --sql``)."""
    context.configure(
        url=normalize_url(_url()),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
