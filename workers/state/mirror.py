"""The mirror: a minimised copy of the CRM, so staying current costs what changed.

Per CRM and object type, one row per record: its id, modification time, association
ids (``company_id``, ``contact_id``), the canonical input fields segmentation reads (a
JSON object of text values, ``inputs``) and the CRM's current values of segsync's own
output fields (``outputs``; both JSON objects keyed by position in the mirror's shape),
and when segsync last wrote the record (``written_at``). What is kept
is decided by :mod:`workers.sync.mirroring`; this module stores and loads it.

Loading is columnar (:mod:`workers.state.columnar`): big reads come back from
PostgreSQL as Arrow through ADBC, the rest a page of rows at a time, and the JSON
objects are decoded by polars, never as one Python object per record.
Writes are page-sized upserts through SQLAlchemy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import polars as pl
from sqlalchemy import Index, Integer, String, Text, delete, func, select
from sqlalchemy.orm import Mapped, mapped_column

from workers.state.base import StoreBase
from workers.state.columnar import read_frame
from workers.state.schema import Base, UTCDateTime

# Rows per statement for IN-lists and executemany pages (inside both backends' limits).
_CHUNK = 5000
ROW_SCHEMA = pl.Schema(
    {
        "id": pl.String(),
        "modified_at": pl.Datetime("us", "UTC"),
        "company_id": pl.String(),
        "contact_id": pl.String(),
        "inputs": pl.String(),
        "outputs": pl.String(),
    }
)
# What load can return: a page's columns and when segsync last wrote the record.
COLUMNS = pl.Schema({**ROW_SCHEMA, "written_at": pl.Datetime("us", "UTC")})
_TIMES = ("modified_at", "written_at")
# The column in which a record's link to an object of this type is kept (frames.LINKS:
# contacts, leads and deals link their company; deals their contact).
LINK_COLUMNS: dict[str, str] = {"company": "company_id", "contact": "contact_id"}


class MirrorRow(Base):
    """One CRM record as segmentation needs it (see the module docstring)."""

    __tablename__ = "mirror_records"

    crm: Mapped[str] = mapped_column(String(32), primary_key=True)
    object_type: Mapped[str] = mapped_column(String(32), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    modified_at: Mapped[Any] = mapped_column(UTCDateTime(), nullable=True)
    company_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    contact_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    inputs: Mapped[str] = mapped_column(Text(), nullable=False)
    outputs: Mapped[str] = mapped_column(Text(), nullable=False)
    # The full read that last saw the record: one that completes sweeps the unseen.
    read_mark: Mapped[int] = mapped_column(Integer(), nullable=False, default=0)
    # When segsync last wrote any field of the record (record_written keeps it; reads
    # leave it): a copy modified after it says what the CRM holds now.
    written_at: Mapped[Any] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (
        Index(None, "crm", "object_type", "company_id"),
        Index(None, "crm", "object_type", "contact_id"),
        Index(None, "crm", "object_type", "written_at"),
    )


@dataclass(frozen=True)
class MirrorChange:
    """What an upsert changed: ids new or with other inputs/links; ids with other outputs.

    ``reworded`` holds ``id, inputs, inputs_old`` of the records that existed with the
    same links and now have other inputs, for callers that tell some changes apart.
    """

    inputs: list[str]
    outputs: list[str]
    reworded: pl.DataFrame


def _chunks(items: Sequence[str], size: int = _CHUNK) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Mirror:
    """The mirror tables of one state store."""

    def __init__(self, store: StoreBase) -> None:
        self.store = store

    # ------------------------------------------------------------------ reads

    def load(
        self,
        crm: str,
        object_type: str,
        ids: Sequence[str] | None = None,
        *,
        columns: Sequence[str] = ("id", "company_id", "contact_id", "inputs"),
        each: Callable[[pl.DataFrame], pl.DataFrame] | None = None,
    ) -> pl.DataFrame:
        """Rows of one object type (all, or those of ``ids``), as stored (JSON as text);
        or what ``each`` makes of every batch of them (decoded JSON: the text of the
        whole mirror is never held at once)."""
        unknown = set(columns) - set(COLUMNS)
        if unknown:
            raise ValueError(f"the mirror has no column {', '.join(sorted(unknown))}")
        schema = pl.Schema({c: COLUMNS[c] for c in columns})
        pg = self.store.dialect == "postgresql"
        # Timestamps come back as SQLite's text; they are parsed once, as a column.
        raw = (
            schema
            if pg
            else pl.Schema({c: pl.String() if c in _TIMES else t for c, t in schema.items()})
        )

        def typed(frame: pl.DataFrame) -> pl.DataFrame:
            frame = frame.with_columns(
                pl.col(c).str.to_datetime(time_zone="UTC", time_unit="us")
                for c in _TIMES
                if c in frame.columns and frame[c].dtype == pl.String
            ).cast(schema)
            return frame if each is None else each(frame)

        unique = None if ids is None else list(dict.fromkeys(ids))
        # Arrow for what is big (the whole mirror, large id lists); PostgreSQL only.
        arrow = pg and (unique is None or len(unique) > _CHUNK)

        def marks(count: int) -> str:
            return ", ".join(["%s" if pg else "?"] * count)

        head = f"SELECT {', '.join(columns)} FROM mirror_records"
        where = f" WHERE crm = {marks(1)} AND object_type = {marks(1)}"
        queries = (
            [(head + where, (crm, object_type))]
            if unique is None
            else [
                (f"{head}{where} AND id IN ({marks(len(part))})", (crm, object_type, *part))
                for part in _chunks(unique)
            ]
        )
        frames = [
            read_frame(self.store, sql, params, raw, arrow=arrow, each=typed)
            for sql, params in queries
        ]
        if not frames:  # no ids asked for
            return typed(pl.DataFrame(schema=raw))
        return pl.concat(frames, how="vertical_relaxed") if len(frames) > 1 else frames[0]

    def written_since(self, crm: str, object_type: str, since: datetime) -> set[str]:
        """Records segsync wrote any field of after ``since`` (by the mirror's stamp)."""
        m = MirrorRow
        query = select(m.id).where(m.crm == crm, m.object_type == object_type, m.written_at > since)
        with self.store.engine.connect() as conn:
            return set(conn.execute(query).scalars())

    def linked(self, crm: str, object_type: str, column: str, ids: Iterable[str]) -> list[str]:
        """Ids of ``object_type`` records whose ``column`` (a link) is one of ``ids``."""
        if column not in ("company_id", "contact_id"):
            raise ValueError(f"{column} is not a mirror link")
        link = getattr(MirrorRow, column)
        found: list[str] = []
        with self.store.engine.connect() as conn:
            for part in _chunks(list(dict.fromkeys(ids))):
                query = select(MirrorRow.id).where(
                    MirrorRow.crm == crm, MirrorRow.object_type == object_type, link.in_(part)
                )
                found += conn.execute(query).scalars().all()
        return found

    def sizes(self, crm: str | None = None) -> list[tuple[str, str, int, int]]:
        """Per CRM and object type: records mirrored and the bytes of their data (ids,
        inputs, outputs; the database adds its own row and index overhead)."""
        data = (
            func.length(MirrorRow.id)
            + func.length(MirrorRow.inputs)
            + func.length(MirrorRow.outputs)
            + func.coalesce(func.length(MirrorRow.company_id), 0)
            + func.coalesce(func.length(MirrorRow.contact_id), 0)
        )
        query = (
            select(MirrorRow.crm, MirrorRow.object_type, func.count(), func.sum(data))
            .group_by(MirrorRow.crm, MirrorRow.object_type)
            .order_by(MirrorRow.crm, MirrorRow.object_type)
        )
        if crm is not None:
            query = query.where(MirrorRow.crm == crm)
        with self.store.engine.connect() as conn:
            return [(c, t, int(n), int(b or 0)) for c, t, n, b in conn.execute(query)]

    def count(self, crm: str, object_type: str | None = None) -> int:
        """Records mirrored (of one object type, or all of the CRM)."""
        query = select(func.count()).select_from(MirrorRow).where(MirrorRow.crm == crm)
        if object_type is not None:
            query = query.where(MirrorRow.object_type == object_type)
        with self.store.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    # ------------------------------------------------------------------ writes

    def upsert(
        self, crm: str, object_type: str, rows: pl.DataFrame, *, mark: int = 0
    ) -> MirrorChange:
        """Store ``rows`` (columns of :data:`ROW_SCHEMA`); what changed, by id.

        ``mark`` stamps the rows as seen by a full read (0: an incremental one, which
        leaves the stamp as it was).
        """
        rows = rows.select(list(ROW_SCHEMA)).unique("id", keep="last", maintain_order=True)
        before = self.load(
            crm,
            object_type,
            rows["id"].to_list(),
            columns=("id", "company_id", "contact_id", "inputs", "outputs"),
        )
        joined = rows.join(before, on="id", how="left", suffix="_old")

        def differs(name: str) -> pl.Expr:
            return pl.col(name).ne_missing(pl.col(f"{name}_old"))

        new = pl.col("inputs_old").is_null()
        relinked = differs("company_id") | differs("contact_id")
        inputs = joined.filter(new | differs("inputs") | relinked)["id"].to_list()
        outputs = joined.filter(~new & differs("outputs"))["id"].to_list()
        reworded = joined.filter(~new & ~relinked & differs("inputs")).select(
            "id", "inputs", "inputs_old"
        )
        self._write_rows(crm, object_type, rows, mark)
        return MirrorChange(inputs, outputs, reworded)

    def _write_rows(self, crm: str, object_type: str, rows: pl.DataFrame, mark: int) -> None:
        store = self.store
        insert = store._insert(MirrorRow)
        excluded = insert.excluded
        moved = {
            "modified_at": excluded.modified_at,
            "company_id": excluded.company_id,
            "contact_id": excluded.contact_id,
            "inputs": excluded.inputs,
            "outputs": excluded.outputs,
        }
        if mark:
            moved["read_mark"] = excluded.read_mark
        statement = insert.on_conflict_do_update(
            index_elements=["crm", "object_type", "id"], set_=moved
        )
        with store._write() as conn:
            for start in range(0, rows.height, _CHUNK):
                page = rows.slice(start, _CHUNK)
                conn.execute(
                    statement,
                    [
                        {"crm": crm, "object_type": object_type, "read_mark": mark, **row}
                        for row in page.iter_rows(named=True)
                    ],
                )
        store._grown(MirrorRow.__tablename__, rows.height)

    def delete(self, crm: str, object_type: str, ids: Iterable[str]) -> int:
        """Remove records; how many were there."""
        gone = 0
        with self.store._write() as conn:
            for part in _chunks(list(dict.fromkeys(ids))):
                result = conn.execute(
                    delete(MirrorRow).where(
                        MirrorRow.crm == crm,
                        MirrorRow.object_type == object_type,
                        MirrorRow.id.in_(part),
                    )
                )
                gone += result.rowcount or 0
        return gone

    def next_mark(self, crm: str, started_at: datetime) -> int:
        """A full read's stamp: its start second, above every stamp already given.

        Two full reads within one second would otherwise share a stamp, and the
        second would take a record only the first saw for one it saw itself.
        """
        query = select(func.max(MirrorRow.read_mark)).where(MirrorRow.crm == crm)
        with self.store.engine.connect() as conn:
            last = conn.execute(query).scalar() or 0
        return max(int(started_at.timestamp()), last + 1)

    def unseen(self, crm: str, object_type: str, mark: int) -> list[str]:
        """Ids a completed full read stamped ``mark`` did not see (gone from the CRM)."""
        query = select(MirrorRow.id).where(
            MirrorRow.crm == crm,
            MirrorRow.object_type == object_type,
            MirrorRow.read_mark != mark,
        )
        with self.store.engine.connect() as conn:
            return list(conn.execute(query).scalars().all())

    def purge(self, crm: str | None = None) -> int:
        """Remove every mirrored record (of one CRM); the next run reads the CRM again."""
        query = delete(MirrorRow)
        if crm is not None:
            query = query.where(MirrorRow.crm == crm)
        with self.store._write() as conn:
            return conn.execute(query).rowcount or 0


def postgresql_jsonb() -> Any:
    from sqlalchemy.dialects.postgresql import JSONB

    return JSONB()
