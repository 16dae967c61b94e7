"""The engine's input frames, built from the record batches a pull streams.

:class:`FrameCollector` is a pull handler (``pull(..., on_batch=collector)``): it renames
each record's native properties to canonical names and keeps them column-wise. Rows are
packed into Arrow-backed polars chunks every few thousand records, because a Python
string per cell would cost several times the memory of the same text in Arrow.
:meth:`FrameCollector.frames` then resolves versions (the last one of an id wins, a
deletion removes it) and shapes contacts, companies and deals, or orders, as
:func:`segmentation.engine.segment` takes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import polars as pl

from connectors.base import ObjectType, RecordBatch
from segmentation.enrich import coerce_canonical
from segmentation.enrich.parse import DATETIME
from segmentation.enrich.rollups import deal_status
from segmentation.models.behavioral import ORDER_FEATURES
from segmentation.models.lifecycle import DEAL_FEATURES
from segmentation.playbook import Playbook
from workers.fieldmap import FieldMap

Mode = Literal["b2b", "b2c"]

# Columns the collector fills itself: a field map naming one would be overwritten.
RESERVED = ("id", "object_type", "company_id", "contact_id")
DELETED = "__segsync_deleted"
# Pending rows per object type before they are packed into a polars chunk: big enough
# that chunks stay few, small enough that the Python objects never dominate memory.
CHUNK_ROWS = 5_000

# Link column -> the associated object type whose first id fills it.
LINKS: dict[ObjectType, tuple[tuple[str, ObjectType], ...]] = {
    "contact": (("company_id", "company"),),
    "lead": (("company_id", "company"),),
    "company": (),
    "deal": (("company_id", "company"), ("contact_id", "contact")),
}

ORDER_SCHEMA = pl.Schema(
    {
        "order_id": pl.String(),
        "contact_id": pl.String(),
        "order_date": DATETIME,
        "amount": pl.Float64(),
    }
)

# Fields whose presence in a playbook's rules tells which customer unit it scores: order
# roll-ups (and the order statistics an ecommerce CRM keeps on a contact) mean shoppers
# with orders; deal roll-ups, on contacts or companies, mean accounts with won deals.
ORDER_SIGNALS = frozenset(ORDER_FEATURES) | {
    "num_orders",
    "total_revenue",
    "last_order_amount",
    "first_order_at",
    "last_order_at",
}
DEAL_SIGNALS = frozenset(DEAL_FEATURES) | {
    "deal_count",
    "open_deal_count",
    "won_deal_count",
    "won_revenue",
    "open_pipeline",
    "first_won_at",
    "last_won_at",
}
B2C_NAME_HINTS = ("b2c", "retail", "shop", "commerce", "consumer")


@dataclass(frozen=True)
class EngineFrames:
    """What ``segment`` takes: contacts (leads included), companies, and deals or orders.

    ``ids`` holds the live record ids per object type collected, e.g. for write-back.
    """

    mode: Mode
    contacts: pl.DataFrame
    companies: pl.DataFrame | None
    deals: pl.DataFrame | None
    orders: pl.DataFrame | None
    ids: Mapping[ObjectType, pl.Series] = field(default_factory=dict)


class _Table:
    """Rows of one object type: pending Python column lists, then packed polars chunks."""

    def __init__(self, fields: Mapping[str, str], links: tuple[tuple[str, ObjectType], ...]):
        self.fields = dict(fields)
        self.links = links
        self.schema: dict[str, pl.DataType] = {
            "id": pl.String(),
            **{name: pl.String() for name, _ in links},
            **{name: pl.String() for name in self.fields},
            DELETED: pl.Boolean(),
        }
        self.pending: dict[str, list[object]] = {name: [] for name in self.schema}
        self.chunks: list[pl.DataFrame] = []

    def add(self, batch: RecordBatch) -> None:
        records = batch.records
        pending = self.pending
        pending["id"].extend(r.id for r in records)
        for name, target in self.links:
            pending[name].extend(
                ids[0] if (ids := r.associations.get(target)) else None for r in records
            )
        for canonical, native in self.fields.items():
            pending[canonical].extend(r.properties.get(native) for r in records)
        pending[DELETED].extend(r.deleted for r in records)
        if len(pending["id"]) >= CHUNK_ROWS:
            self.flush()

    def flush(self) -> None:
        if self.pending["id"]:
            # An explicit schema: a chunk whose column was all null stays String.
            self.chunks.append(pl.DataFrame(self.pending, schema=self.schema))
            self.pending = {name: [] for name in self.schema}

    def live(self) -> pl.DataFrame:
        """One row per id: its last version, unless that version was a deletion.

        The resolved rows replace the stored chunks, so the returned frame shares their
        memory and a second call copies nothing.
        """
        self.flush()
        if not self.chunks:
            return pl.DataFrame(schema=self.schema).drop(DELETED)
        # Chunks are appended without a copy; polars reads multi-chunk columns as they are.
        frame = pl.concat(self.chunks, rechunk=False) if len(self.chunks) > 1 else self.chunks[0]
        deleted, ids = frame[DELETED], frame["id"]
        if deleted.any() or ids.is_duplicated().any():
            frame = frame.filter(ids.is_last_distinct() & ~deleted)
        self.chunks = [frame]
        return frame.drop(DELETED)


class FrameCollector:
    """A pull batch handler that keeps every record in canonical form, ready for the engine.

    Feed it a full pull, then (optionally) incremental pulls: a later version of an id
    replaces the earlier one and a deleted record disappears. Only deletions the
    connector reports are seen; where it reports none (HubSpot's incremental reads),
    a fresh collector fed by a full pull is the way to drop deleted records.
    """

    def __init__(self, field_map: FieldMap) -> None:
        for object_type, mapping in field_map.fields.items():
            clash = sorted(set(mapping) & set(RESERVED))
            if clash:
                raise ValueError(
                    f"{field_map.crm} field map: {object_type} maps {', '.join(clash)}, "
                    "which segsync fills from the record itself"
                )
        self.field_map = field_map
        self._tables: dict[ObjectType, _Table] = {
            object_type: _Table(mapping, LINKS[object_type])
            for object_type, mapping in field_map.fields.items()
        }

    def __call__(self, batch: RecordBatch) -> None:
        table = self._tables.get(batch.object_type)
        if table is None:
            raise ValueError(
                f"{self.field_map.crm} field map has no {batch.object_type}: "
                "pull only the object types of the collector's field map"
            )
        table.add(batch)

    def table(self, object_type: ObjectType) -> pl.DataFrame:
        """Live records of one object type: ``id``, link columns, canonical fields as text."""
        table = self._tables.get(object_type)
        if table is None:
            raise ValueError(f"{self.field_map.crm} field map has no {object_type}")
        return table.live()

    def frames(self, mode: Mode, *, typed: bool = False) -> EngineFrames:
        """The engine's frames: B2B passes deals, B2C passes won deals as ``orders``.

        Canonical columns stay the CRM's text unless ``typed`` (``segment`` parses them
        itself, and text keeps bad values visible to ``parse_report``); ``typed`` parses
        them with ``coerce_canonical``. Either way a column's dtype does not depend on
        the values seen. Orders are always typed: they are derived, not CRM fields.
        """
        live = {object_type: self.table(object_type) for object_type in self._tables}
        return engine_frames(live, mode, typed=typed)


def engine_frames(
    live: Mapping[ObjectType, pl.DataFrame], mode: Mode, *, typed: bool = False
) -> EngineFrames:
    """Shape live records per object type (``id``, links, canonical text) for the engine.

    See :meth:`FrameCollector.frames`; the mirror's frames take the same shape.
    """
    if mode not in ("b2b", "b2c"):
        raise ValueError(f"mode must be 'b2b' or 'b2c', not {mode!r}")
    ids = {object_type: frame["id"] for object_type, frame in live.items()}
    people = [
        frame.insert_column(1, pl.lit(object_type, pl.String).alias("object_type"))
        for object_type, frame in live.items()
        if object_type in ("contact", "lead")
    ]
    contacts = (
        pl.concat(people, how="diagonal")
        if people
        else pl.DataFrame(schema={"id": pl.String(), "object_type": pl.String()})
    )
    if "company_id" not in contacts.columns:
        contacts = contacts.with_columns(pl.lit(None, pl.String).alias("company_id"))
    companies = live.get("company")
    deals = live.get("deal")
    orders = None
    if mode == "b2c":
        orders = won_orders(deals) if deals is not None else pl.DataFrame(schema=ORDER_SCHEMA)
        deals = None
    if typed:
        contacts = coerce_canonical(contacts)
        companies = coerce_canonical(companies) if companies is not None else None
        deals = coerce_canonical(deals) if deals is not None else None
    return EngineFrames(mode, contacts, companies, deals, orders, ids)


def won_orders(deals: pl.DataFrame) -> pl.DataFrame:
    """Won deals with a contact, as orders: ``order_id, contact_id, order_date, amount``.

    The order date is the close date, else the creation date; won is read as the engine
    reads it (``is_won``, else the stage name, so "shipped" counts as paid).
    """
    wanted = [
        c for c in ("is_won", "stage", "close_date", "created_at", "amount") if c in deals.columns
    ]
    typed = coerce_canonical(deals.select("id", "contact_id", *wanted))
    won, _closed = deal_status(typed)

    def column(name: str, dtype: pl.DataType) -> pl.Expr:
        return pl.col(name) if name in typed.columns else pl.lit(None, dtype)

    return (
        typed.filter(pl.lit(won).fill_null(False) & pl.col("contact_id").is_not_null())
        .select(
            pl.col("id").alias("order_id"),
            "contact_id",
            pl.coalesce(column("close_date", DATETIME), column("created_at", DATETIME)).alias(
                "order_date"
            ),
            column("amount", pl.Float64()).alias("amount"),
        )
        .cast(ORDER_SCHEMA)
    )


def playbook_mode(playbook: Playbook) -> Mode:
    """``b2c`` when the playbook scores shoppers by their orders, ``b2b`` for accounts by deals.

    Read from the roll-up fields its rules and clustering name; a playbook naming
    neither (or both equally) is judged by its name, and is B2B unless that says retail.
    """
    used = set(playbook.fields_used())
    if playbook.clustering is not None:
        extra = playbook.clustering.model_extra or {}
        for key in ("numeric", "categorical"):
            value = extra.get(key)
            if isinstance(value, list):
                used.update(str(v) for v in value)
    orders, deals = len(used & ORDER_SIGNALS), len(used & DEAL_SIGNALS)
    if orders != deals:
        return "b2c" if orders > deals else "b2b"
    name = playbook.name.lower()
    return "b2c" if any(hint in name for hint in B2C_NAME_HINTS) else "b2b"
