"""Query results as polars frames, columnar: Arrow through ADBC for PostgreSQL.

For the big reads of the state store (the whole mirror, one field of every record's
written history), never one Python object per row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import polars as pl

from workers.state.base import StoreBase

# Rows fetched per page through the store's own driver before they become a polars chunk.
_LOAD_PAGE = 50_000


@contextmanager
def arrow_connection(store: StoreBase) -> Iterator[Any]:
    """An ADBC connection to the store's PostgreSQL database (Arrow results)."""
    import adbc_driver_postgresql.dbapi as adbc_pg

    uri = store.url.set(drivername="postgresql").render_as_string(hide_password=False)
    conn = adbc_pg.connect(uri)
    try:
        yield conn
    finally:
        conn.close()


def read_frame(
    store: StoreBase,
    sql: str,
    params: Sequence[Any],
    schema: pl.Schema,
    *,
    arrow: bool,
    each: Callable[[pl.DataFrame], pl.DataFrame] | None = None,
) -> pl.DataFrame:
    """Rows of ``sql`` (placeholders in the store's paramstyle) as a frame, a batch at a
    time: through ADBC (``arrow``, PostgreSQL) or the store's own driver; ``each`` turns
    every batch into what is kept (so a big text column is never whole)."""
    keep = each or (lambda frame: frame)
    chunks: list[pl.DataFrame] = []
    if arrow:
        query = _with_literals(store, sql, params)
        with arrow_connection(store) as conn, conn.cursor() as cursor:
            cursor.execute(query)
            for batch in cursor.fetch_record_batch():
                frame = pl.from_arrow(_owned(batch))
                assert isinstance(frame, pl.DataFrame)
                chunks.append(keep(frame.cast(schema)))
        return _concat(chunks, schema, keep)
    # Through the store's own driver: a few thousand rows (an upsert's look-up) do not
    # pay for an ADBC connection, and SQLite always comes this way: a second SQLite
    # library in the process (ADBC's, connectorx's) shares the file's POSIX locks with
    # it, and measured, it did not see rows committed to the WAL after it first
    # opened the file. Pages of rows become polars chunks, so no more than a page is
    # ever held as Python tuples.
    with store.engine.connect() as conn:
        result = conn.exec_driver_sql(sql, tuple(params))
        while page := result.fetchmany(_LOAD_PAGE):
            chunks.append(keep(pl.DataFrame(page, schema=schema, orient="row")))
    return _concat(chunks, schema, keep)


def _with_literals(store: StoreBase, sql: str, params: Sequence[Any]) -> str:
    """``sql`` with its parameters quoted in by psycopg.

    ADBC's PostgreSQL driver streams a statement without parameters (COPY, ~44,000
    rows per batch) but returns a statement with bound parameters as one batch: the
    whole mirror's text at once (measured: 1,000,000 contacts in one 600 MB batch).
    """
    import psycopg

    raw = store.engine.raw_connection()
    try:
        connection = raw.driver_connection
        assert isinstance(connection, psycopg.Connection)
        return psycopg.ClientCursor(connection).mogrify(sql, tuple(params))
    finally:
        raw.close()


def _owned(batch: Any) -> Any:
    """A copy of an ADBC record batch in buffers of its own.

    Polars takes Arrow columns without copying, and the driver releases a batch's
    memory as one block: a frame keeping only the ids of a batch would pin all of its
    text (measured: 410 MB held for the ids of 1,000,000 mirror rows, 20 MB copied).
    """
    import pyarrow as pa

    return batch.take(pa.array(range(batch.num_rows), pa.int32()))


def _concat(
    chunks: list[pl.DataFrame], schema: pl.Schema, keep: Callable[[pl.DataFrame], pl.DataFrame]
) -> pl.DataFrame:
    if not chunks:
        return keep(pl.DataFrame(schema=schema))
    return pl.concat(chunks, how="vertical_relaxed") if len(chunks) > 1 else chunks[0]
