"""What the mirror keeps of each record, how pulled pages feed it, how frames come back.

The mirror (``workers/state/mirror.py``) is the minimised copy of the CRM a run segments
from. :class:`MirrorShape` decides what is kept: the canonical fields the field map
reads, less the personal ones no rule names and the modification time; an email
address becomes ``@domain`` (all enrichment derives from it: domain, free-mail flag,
domain match) unless a rule reads
the address itself; and the CRM's current values of segsync's own fields, so the diff
can see a hand edit. :class:`MirrorFeed` is a pull handler that turns each page into
mirror rows and upserts it (a page at a time: bounded memory) and remembers which
records changed inputs and which only changed outputs. :func:`load_frames` reads the
mirror back into the engine's frames, columnar.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from connectors.base import ObjectType, RecordBatch
from segmentation.enrich.emails import email_domain
from segmentation.playbook import PERSONAL_FIELDS, Playbook
from workers.cli.text import plural_of
from workers.fieldmap import FieldMap
from workers.ops import progress
from workers.state import StateStore
from workers.state.mirror import ROW_SCHEMA
from workers.sync.diff import written_frame
from workers.sync.frames import LINKS, RESERVED, EngineFrames, Mode, engine_frames
from workers.sync.lifecycle import lifecycle_field
from workers.sync.outputs import is_compared

EMAIL = "email"
# Moves with every write, segsync's own included: kept, every echo would be a change.
# The mirror's own ``modified_at`` holds it; a playbook that names it keeps it.
VOLATILE = frozenset({"updated_at"})


@dataclass(frozen=True)
class MirrorShape:
    """What the mirror keeps per object type: canonical inputs (-> native), output fields."""

    crm: str
    inputs: Mapping[ObjectType, Mapping[str, str]]
    outputs: Mapping[ObjectType, tuple[str, ...]]
    email_as_domain: bool
    # Inputs segsync itself writes (the CRM's lifecycle stage): canonical -> native.
    written_inputs: Mapping[ObjectType, Mapping[str, str]] = field(default_factory=dict)
    # Output fields the CRM keeps as numbers (compared by value: it stores 35.0 as 35).
    numeric: Mapping[ObjectType, frozenset[str]] = field(default_factory=dict)
    # Every segsync field the last full read found in the CRM (``outputs`` is part).
    present: Mapping[ObjectType, tuple[str, ...]] = field(default_factory=dict)

    def properties(self, object_type: ObjectType) -> list[str]:
        """The native properties a read of ``object_type`` asks for."""
        natives = list(self.inputs.get(object_type, {}).values())
        return list(dict.fromkeys([*natives, *self.outputs.get(object_type, ())]))

    def object_types(self) -> list[ObjectType]:
        return list(self.inputs)

    def to_dict(self) -> dict[str, object]:
        """Plain JSON, for a run's stash between Celery tasks."""
        return {
            "crm": self.crm,
            "inputs": {t: dict(m) for t, m in self.inputs.items()},
            "outputs": {t: list(v) for t, v in self.outputs.items()},
            "email_as_domain": self.email_as_domain,
            "written_inputs": {t: dict(m) for t, m in self.written_inputs.items()},
            "numeric": {t: sorted(v) for t, v in self.numeric.items()},
            "present": {t: list(v) for t, v in self.present.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MirrorShape:
        """Inverse of :meth:`to_dict`."""
        return cls(
            data["crm"],
            data["inputs"],
            {t: tuple(v) for t, v in data["outputs"].items()},
            bool(data["email_as_domain"]),
            data["written_inputs"],
            {t: frozenset(v) for t, v in data["numeric"].items()},
            {t: tuple(v) for t, v in data.get("present", {}).items()},
        )

    @property
    def fingerprint(self) -> str:
        """Changes when what is kept (or its order) changes: the mirror then needs a full
        read."""
        kept = {t: list(fields) for t, fields in self.inputs.items()}
        outputs = {t: list(names) for t, names in self.outputs.items()}
        text = json.dumps([kept, outputs, self.email_as_domain], sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def mirror_shape(
    field_map: FieldMap,
    playbook: Playbook,
    outputs: Mapping[ObjectType, Iterable[str]],
    numeric: Mapping[ObjectType, Iterable[str]] | None = None,
) -> MirrorShape:
    """What to keep for ``playbook`` on ``field_map``; ``outputs`` are segsync's native
    fields present in the CRM per object type, ``numeric`` those of them that are numbers."""
    named = set(playbook.fields_used()) | playbook.personal_fields()
    kept: dict[ObjectType, dict[str, str]] = {}
    for object_type, mapping in field_map.fields.items():
        kept[object_type] = {
            canonical: native
            for canonical, native in mapping.items()
            if canonical in named
            or (
                (canonical == EMAIL or canonical not in PERSONAL_FIELDS)
                and canonical not in VOLATILE
            )
        }
    written: dict[ObjectType, dict[str, str]] = {}
    for object_type in kept:
        target = lifecycle_field(field_map.crm, object_type)  # type: ignore[arg-type]
        if target is not None and target.current in kept[object_type]:
            written[object_type] = {target.current: target.native}
    return MirrorShape(
        field_map.crm,
        kept,
        {t: tuple(n for n in dict.fromkeys(outputs.get(t, ())) if is_compared(n)) for t in kept},
        email_as_domain=EMAIL not in named,
        written_inputs=written,
        numeric={t: frozenset((numeric or {}).get(t, ())) for t in kept},
        present={t: tuple(dict.fromkeys(outputs.get(t, ()))) for t in kept},
    )


def mirror_rows(shape: MirrorShape, batch: RecordBatch) -> tuple[pl.DataFrame, list[str]]:
    """A page as mirror rows (:data:`ROW_SCHEMA`), and the ids it reports deleted."""
    object_type = batch.object_type
    records = [r for r in batch.records if not r.deleted]
    deleted = [r.id for r in batch.records if r.deleted]
    inputs = shape.inputs.get(object_type, {})
    outputs = shape.outputs.get(object_type, ())
    columns: dict[str, list[object]] = {
        "id": [r.id for r in records],
        "modified_at": [r.updated_at for r in records],
    }
    links = dict(LINKS[object_type])
    for name in ("company_id", "contact_id"):
        target = links.get(name)
        columns[name] = [
            ids[0] if target and (ids := r.associations.get(target)) else None for r in records
        ]
    for canonical, native in inputs.items():
        columns[f"in.{canonical}"] = [r.properties.get(native) for r in records]
    for native in outputs:
        columns[f"out.{native}"] = [r.properties.get(native) for r in records]
    schema = {
        "id": pl.String(),
        "modified_at": pl.Datetime("us", "UTC"),
        "company_id": pl.String(),
        "contact_id": pl.String(),
        **{name: pl.String() for name in columns if name.startswith(("in.", "out."))},
    }
    page = pl.DataFrame(columns, schema=schema)
    if shape.email_as_domain and f"in.{EMAIL}" in page.columns:
        domain = email_domain(page[f"in.{EMAIL}"])
        page = page.with_columns(("@" + domain).alias(f"in.{EMAIL}"))
    return page.select(
        "id",
        "modified_at",
        "company_id",
        "contact_id",
        _json_object(page, "in.").alias("inputs"),
        _json_object(page, "out.").alias("outputs"),
    ).cast(ROW_SCHEMA), deleted


def _json_object(page: pl.DataFrame, prefix: str) -> pl.Expr:
    """The ``prefix`` columns of each row as one JSON object keyed by position.

    Positions, not names: the shape fixes the order (a new order is a new fingerprint
    and a full read), and names would be most of the bytes of a record.
    """
    names = [c for c in page.columns if c.startswith(prefix)]
    if not names:
        return pl.lit("{}", pl.String)
    return pl.struct([pl.col(c).alias(str(i)) for i, c in enumerate(names)]).struct.json_encode()


# Rows per JSON decode: polars' decoder holds several times the text while it works
# (measured: 860 MB more for 200,000 contacts at once, 230 MB in slices of 10,000).
DECODE_SLICE = 10_000


def decode_object(frame: pl.DataFrame, column: str, names: list[str]) -> pl.DataFrame:
    """``frame`` with the positional JSON object ``column`` spread into ``names`` columns."""
    struct = pl.Struct({str(i): pl.String() for i in range(len(names))})
    parts = [
        frame.slice(start, DECODE_SLICE)
        .with_columns(pl.col(column).str.json_decode(struct))
        .unnest(column)
        .rename({str(i): name for i, name in enumerate(names)})
        for start in range(0, max(frame.height, 1), DECODE_SLICE)
    ]
    return pl.concat(parts, rechunk=True) if len(parts) > 1 else parts[0]


@dataclass
class MirrorFeed:
    """A pull handler that upserts each page into the mirror and remembers what moved."""

    store: StateStore
    shape: MirrorShape
    mark: int = 0  # a full read's stamp; 0 for incremental reads
    counts: dict[ObjectType, int] = field(default_factory=dict)
    inputs_changed: dict[ObjectType, set[str]] = field(default_factory=dict)
    outputs_changed: dict[ObjectType, set[str]] = field(default_factory=dict)
    deleted: dict[ObjectType, set[str]] = field(default_factory=dict)

    def __call__(self, batch: RecordBatch) -> None:
        object_type = batch.object_type
        progress.advance(f"read {plural_of(object_type)}", len(batch))
        rows, deleted = mirror_rows(self.shape, batch)
        self.counts[object_type] = self.counts.get(object_type, 0) + len(batch)
        if rows.height:
            change = self.store.mirror.upsert(self.shape.crm, object_type, rows, mark=self.mark)
            echoes = self._own_writes(object_type, change.reworded)
            self.inputs_changed.setdefault(object_type, set()).update(
                i for i in change.inputs if i not in echoes
            )
            self.outputs_changed.setdefault(object_type, set()).update(change.outputs)
        if deleted:
            self.deleted.setdefault(object_type, set()).update(deleted)

    def _own_writes(self, object_type: ObjectType, reworded: pl.DataFrame) -> set[str]:
        """Records whose inputs moved only where segsync wrote them, to what it wrote.

        segsync sets the CRM's own lifecycle stage; the CRM then lists the record as
        changed with the new stage, which re-segments to the same values.
        """
        echo = self.shape.written_inputs.get(object_type, {})
        if not echo or reworded.height == 0:
            return set()
        names = list(self.shape.inputs.get(object_type, {}))
        new = decode_object(reworded.select("id", "inputs"), "inputs", names)
        old = decode_object(reworded.select("inputs_old"), "inputs_old", names)
        same = pl.lit(True)
        for name in names:
            if name not in echo:
                same = same & new[name].eq_missing(old[name])
        candidates = new.filter(same)
        if candidates.height == 0:
            return set()
        ids = candidates["id"].to_list()
        written = written_frame(
            self.store.last_written(self.shape.crm, object_type, ids, fields=echo.values())
        )
        now = candidates.select(
            pl.col("id").alias("record_id"), *(pl.col(c).alias(n) for c, n in echo.items())
        ).unpivot(index="record_id", variable_name="field", value_name="crm")
        matched = (
            now.join(written, on=["record_id", "field"], how="left")
            .group_by("record_id")
            # Never written (no ``old``) is not an echo: fill_null, for all() skips nulls.
            .agg((pl.col("crm") == pl.col("old")).fill_null(False).all())
            .filter(pl.col("crm"))
        )
        return set(matched["record_id"].to_list())


def load_table(
    store: StateStore,
    shape: MirrorShape,
    object_type: ObjectType,
    ids: Collection[str] | None,
    copies: list[pl.DataFrame] | None = None,
) -> pl.DataFrame:
    """One object type from the mirror: ``id``, its links, canonical fields as text.

    With ``copies`` (a type segsync writes), the same read also appends the CRM's copies
    of segsync's fields (:func:`crm_copies`) to it, batch by batch.
    """
    links = [name for name, _ in LINKS[object_type]]
    names = list(shape.inputs.get(object_type, {}))
    outputs = list(shape.outputs.get(object_type, ()))
    written = shape.written_inputs.get(object_type, {})
    keep_copies = copies is not None and bool(outputs)

    def decoded(rows: pl.DataFrame) -> pl.DataFrame:
        rows = decode_object(rows, "inputs", names) if names else rows.drop("inputs")
        if keep_copies:
            assert copies is not None
            held = rows.select(
                "id",
                "modified_at",
                "written_at",
                "outputs",
                *(pl.col(c).alias(n) for c, n in written.items()),
            )
            copies.append(_fresh_copies(held, outputs))
            rows = rows.drop("modified_at", "written_at", "outputs")
        return rows.drop([n for n in names if n in RESERVED])

    wanted = None if ids is None else list(ids)
    extra = ("modified_at", "written_at", "outputs") if keep_copies else ()
    columns = ("id", *links, *extra, "inputs")
    return store.mirror.load(shape.crm, object_type, wanted, columns=columns, each=decoded)


def load_frames(
    store: StateStore,
    shape: MirrorShape,
    mode: Mode,
    ids: Mapping[ObjectType, Collection[str]] | None = None,
    copies: dict[ObjectType, pl.DataFrame] | None = None,
) -> EngineFrames:
    """The engine's frames from the mirror: everything, or the ``ids`` per object type.

    ``copies``, for the whole mirror on PostgreSQL, receives each written type's
    :func:`crm_copies` from the same read (the mirror's text is read and decoded once:
    1,000,000 contacts' inputs are ~600 MB).
    """
    types = shape.object_types()
    if ids is None and store.dialect == "postgresql":
        # The whole mirror: two types at a time. Reading (ADBC) and decoding (polars)
        # run mostly off the interpreter, so the second core works too (1,000,000
        # contacts with their companies and deals: 4.7 s one after the other).
        found: dict[ObjectType, list[pl.DataFrame]] = {t: [] for t in types}

        def load(object_type: ObjectType) -> pl.DataFrame:
            into = found[object_type] if copies is not None else None
            return load_table(store, shape, object_type, None, into)

        with ThreadPoolExecutor(2, thread_name_prefix="segsync-load") as pool:
            loaded = list(pool.map(load, types))
        if copies is not None:
            for object_type, parts in found.items():
                if parts:
                    copies[object_type] = pl.concat(parts).rename({"id": "record_id"})
        return engine_frames(dict(zip(types, loaded, strict=True)), mode)
    live = {t: load_table(store, shape, t, None if ids is None else ids.get(t, ())) for t in types}
    return engine_frames(live, mode)


def current_outputs(
    store: StateStore, shape: MirrorShape, object_type: ObjectType, ids: Collection[str]
) -> pl.DataFrame:
    """The CRM's values of the segsync fields the mirror keeps, ``(record_id, field, crm)``."""
    schema = pl.Schema({"record_id": pl.String(), "field": pl.String(), "crm": pl.String()})
    names = list(shape.outputs.get(object_type, ()))
    if not names or not ids:
        return pl.DataFrame(schema=schema)
    rows = store.mirror.load(shape.crm, object_type, list(ids), columns=("id", "outputs"))
    return (
        decode_object(rows, "outputs", names)
        .rename({"id": "record_id"})
        .unpivot(index="record_id", variable_name="field", value_name="crm")
        .cast(schema)
    )


def crm_copies(
    store: StateStore,
    shape: MirrorShape,
    object_type: ObjectType,
    ids: Collection[str] | None = None,
) -> pl.DataFrame:
    """What the CRM holds of segsync's fields, by native name, per ``record_id``: the
    output fields and the inputs segsync writes (the lifecycle stage), of the copies
    (of ``ids``, or all) that hold segsync's last write to the record, or of records it
    never wrote.

    A copy holds the last write when the CRM modified it at or after the write was
    sent (the write's echo, or a later edit); an older copy holds what that write
    replaced until its echo is read, and says nothing about what the CRM holds now.
    (Times from two clocks: a CRM clock behind segsync's makes echoes look older, which
    costs a look at the written history; one ahead by more than the time between a
    read and a write could pass a copy read just before the write for its echo.)
    """
    outputs = list(shape.outputs.get(object_type, ()))
    written = shape.written_inputs.get(object_type, {})
    position = {name: i for i, name in enumerate(shape.inputs.get(object_type, {}))}
    columns = ["id", "modified_at", "written_at", "outputs"] + (["inputs"] if written else [])

    def fresh(rows: pl.DataFrame) -> pl.DataFrame:
        if written:
            # Only their members of the inputs object: decoding to a struct of those
            # skips the rest (1,000,000 contacts: 2.3 s, where a JSON path per value
            # took 3.8 s and spreading every input 3.3 s).
            keys = {str(position[c]): n for c, n in written.items()}
            rows = (
                rows.with_columns(
                    pl.col("inputs").str.json_decode(pl.Struct({k: pl.String() for k in keys}))
                )
                .unnest("inputs")
                .rename(keys)
            )
        return _fresh_copies(rows, outputs)

    wanted = None if ids is None else list(ids)
    copies = store.mirror.load(shape.crm, object_type, wanted, columns=columns, each=fresh)
    return copies.rename({"id": "record_id"})


def _fresh_copies(rows: pl.DataFrame, outputs: list[str]) -> pl.DataFrame:
    """Of mirror ``rows`` (with the written inputs by native name), the copies that hold
    segsync's last write, their ``outputs`` spread (see :func:`crm_copies`)."""
    rows = rows.filter(
        pl.col("written_at").is_null() | (pl.col("modified_at") >= pl.col("written_at"))
    )
    return decode_object(rows.drop("modified_at", "written_at"), "outputs", outputs)
