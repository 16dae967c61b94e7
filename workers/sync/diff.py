"""The diff: what to write, given what segsync computed and what it last wrote.

Works on columns: the new values are unpivoted to ``(record_id, field, new)`` rows and
joined with the written-values table, so a run over 100k records costs one join, not a
Python loop per record. Only changed fields become writes; a segment that changed also
gets ``<field>_entered_at`` (the run time) and ``<field>_previous`` (the old value), and
every record with a change gets ``updated_at``. Those three are derived here, not
remembered per field: the written-values table already keeps previous value and entry
time next to each segment value.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime

import polars as pl

from connectors.base import FieldWrite, ObjectType
from workers.sync.outputs import ENTERED_AT, PREVIOUS, REASON, UPDATED_AT, is_compared

# Records of a diff whose changed fields are kept, for a run's sample of changes.
KEPT_CHANGES = 100
WRITTEN_SCHEMA = {"record_id": pl.String, "field": pl.String, "old": pl.String}


@dataclass
class Diff:
    """The writes one object type needs, and what the diff saw."""

    object_type: ObjectType
    writes: list[FieldWrite] = field(default_factory=list)
    # Writes handed on as they were planned (a plan with a ``deliver``), not kept here;
    # and the native fields every write of this diff touches, kept or handed on.
    delivered: int = 0
    touched: set[str] = field(default_factory=set)
    compared: int = 0
    unchanged: int = 0
    # Records whose segsync field the CRM holds otherwise than segsync wrote it (a hand
    # edit), rewritten: the number of records and of fields.
    drift_records: int = 0
    drift_fields: int = 0
    drift_ids: set[str] = field(default_factory=set)
    per_field: dict[str, int] = field(default_factory=dict)
    transitions: dict[str, dict[str, int]] = field(default_factory=dict)
    changes: pl.DataFrame | None = None

    @property
    def records(self) -> int:
        """Records to write: those kept in ``writes`` and those handed on."""
        return len(self.writes) + self.delivered

    def absorb(self, other: Diff) -> None:
        """Add the diff of other records of the same object type (a slice of a run)."""
        self.writes += other.writes
        self.delivered += other.delivered
        self.touched |= other.touched
        self.compared += other.compared
        self.unchanged += other.unchanged
        self.drift_records += other.drift_records
        self.drift_fields += other.drift_fields
        self.drift_ids |= other.drift_ids
        for name, n in other.per_field.items():
            self.per_field[name] = self.per_field.get(name, 0) + n
        for name, moves in other.transitions.items():
            mine = self.transitions.setdefault(name, {})
            for move, n in moves.items():
                mine[move] = mine.get(move, 0) + n
        # The changes are kept for a sample of the run (a few records), not every record.
        if other.changes is not None and (
            self.changes is None or self.changes["record_id"].n_unique() < KEPT_CHANGES
        ):
            self.changes = (
                other.changes
                if self.changes is None
                else pl.concat([self.changes, other.changes], how="vertical_relaxed")
            )


def written_frame(rows: dict[str, dict[str, str | None]]) -> pl.DataFrame:
    """``StateStore.last_written`` output as ``(record_id, field, old)`` rows."""
    flat = [(rid, f, v) for rid, fields in rows.items() for f, v in fields.items()]
    return pl.DataFrame(flat, schema=WRITTEN_SCHEMA, orient="row")


def diff_values(
    object_type: ObjectType,
    values: pl.DataFrame,
    written: pl.DataFrame,
    *,
    native: Callable[[str], str],
    tracked: Collection[str],
    run_at: datetime,
    keep_when_null: Collection[str] = (),
    current: pl.DataFrame | None = None,
    numeric: Collection[str] = (),
) -> Diff:
    """Compare ``values`` (``id`` + canonical output columns, text) with ``written``.

    ``written`` holds ``(record_id, field, old)`` with native field names. A null new
    value clears the field, but a field segsync never wrote is not cleared (it was
    never set). ``tracked`` are the segment outputs that get entered_at/previous.
    A ``<segment>_reason`` is written only along with a change of its segment: the
    reason's wording may move when an input the rule reads moves (the CRM's own
    lifecycle stage after segsync set it), and rewording alone is not worth a write.
    For ``keep_when_null`` fields (native names of CRM-owned fields such as the
    lifecycle stage) a null means "leave as it is", never "clear".

    ``current`` holds ``(record_id, field, crm)``: the CRM's values now (from the mirror)
    of the fields it was read for. A field whose computed value equals what segsync last
    wrote but not what the CRM holds was edited by hand: it is written again (drift
    repair), without entered-at or previous, since by segsync's own history it did not
    move. ``numeric`` fields (native names) are compared as numbers: the CRM keeps
    ``35.0`` as ``35``.
    """
    columns = [c for c in values.columns if c != "id"]
    if not columns or values.height == 0:
        return Diff(object_type)
    renamed = {c: native(c) for c in columns}
    tracked_native = {renamed[c]: c for c in tracked if c in renamed}
    long = (
        values.rename({"id": "record_id", **renamed})
        .with_columns(pl.col(renamed[c]).cast(pl.String) for c in columns)
        .unpivot(index="record_id", variable_name="field", value_name="new")
        .filter(pl.col("new").is_not_null() | ~pl.col("field").is_in(list(keep_when_null)))
        .with_columns(pl.col("new").fill_null(""))
    )
    joined = long.join(written, on=["record_id", "field"], how="left")
    moved_from_written = (
        pl.when(pl.col("old").is_null())
        .then(pl.col("new") != "")
        .otherwise(pl.col("new") != pl.col("old"))
    )
    drift = pl.DataFrame(schema={"record_id": pl.String, "field": pl.String, "new": pl.String})
    if current is not None and current.height:
        seen = joined.join(current, on=["record_id", "field"], how="inner")
        drift = seen.filter(
            ~moved_from_written & ~same_in_crm(pl.col("new"), pl.col("crm"), numeric)
        ).select("record_id", "field", "new")
    changed = joined.filter(moved_from_written)
    reasons = {renamed[c + REASON]: renamed[c] for c in tracked if c + REASON in renamed}
    if reasons:
        segments_moved = changed.filter(pl.col("field").is_in(list(reasons.values()))).select(
            "record_id", pl.col("field").alias("_segment")
        )
        is_reason = pl.col("field").is_in(list(reasons))
        reason_rows = (
            changed.filter(is_reason)
            .with_columns(pl.col("field").replace_strict(reasons).alias("_segment"))
            .join(segments_moved, on=["record_id", "_segment"], how="semi")
            .drop("_segment")
        )
        changed = pl.concat([changed.filter(~is_reason), reason_rows])
    diff = Diff(
        object_type,
        compared=joined.height,
        unchanged=joined.height - changed.height - drift.height,
        drift_records=drift["record_id"].n_unique(),
        drift_fields=drift.height,
        drift_ids=set(drift["record_id"].to_list()),
    )
    if changed.height == 0 and drift.height == 0:
        return diff
    stamp = run_at.isoformat().replace("+00:00", "Z")
    moved = changed.filter(pl.col("field").is_in(list(tracked_native)))
    derived = pl.concat(
        [
            moved.select(
                "record_id",
                (pl.col("field") + pl.lit("\x00" + ENTERED_AT)).alias("field"),
                pl.lit(stamp).alias("new"),
            ),
            moved.select(
                "record_id",
                (pl.col("field") + pl.lit("\x00" + PREVIOUS)).alias("field"),
                pl.col("old").fill_null("").alias("new"),
            ),
            changed.select("record_id")
            .unique()
            .with_columns(pl.lit(native(UPDATED_AT)).alias("field"), pl.lit(stamp).alias("new")),
        ]
    )
    derived = derived.with_columns(
        pl.col("field").replace_strict(
            _derived_names(tracked_native, native), default=pl.col("field")
        )
    )
    everything = pl.concat(
        [changed.select("record_id", "field", "new"), drift, derived], how="vertical_relaxed"
    )
    diff.touched = set(everything["field"].unique().to_list())
    # Field names and most values (segments, reasons, the run's stamp) repeat across
    # records: one string object each, for a full run holds a write per record with
    # tens of fields.
    same: dict[str, str] = {}
    for row in (
        everything.group_by("record_id", maintain_order=True).agg("field", "new").iter_rows()
    ):
        record_id, names, news = row
        fields = {
            same.setdefault(n, n): same.setdefault(v, v) for n, v in zip(names, news, strict=True)
        }
        diff.writes.append(FieldWrite(object_type, record_id, fields))
    counts = changed.group_by("field").len()
    back = {v: k for k, v in renamed.items()}
    diff.per_field = {back.get(f, f): n for f, n in counts.iter_rows()}
    for f, old, new, n in (
        moved.group_by("field", "old", "new").len().sort("len", descending=True).iter_rows()
    ):
        key = back.get(f, f)
        diff.transitions.setdefault(key, {})[f"{old or '(none)'} -> {new or '(none)'}"] = n
    diff.changes = changed.with_columns(
        pl.col("field").replace_strict(back, default=pl.col("field"))
    )
    return diff


def held_by_crm(
    values: pl.DataFrame,
    copies: pl.DataFrame,
    *,
    native: Callable[[str], str],
    numeric: Collection[str] = (),
    keep_when_null: Collection[str] = (),
) -> tuple[list[str], int]:
    """Records whose every planned segsync value the CRM already holds; and how many
    ``(record, field)`` values of ``values`` they have (counted compared and unchanged).

    ``copies`` holds ``record_id`` and one column per native field the mirror keeps the
    CRM's value of, for copies read after segsync last wrote the record (older copies
    may hold what segsync has since overwritten). A record is held when its copy has
    every planned field that has a CRM copy at all (segments, scores, values, the
    lifecycle stage) and agrees on each; companions and reasons move only with those.
    Such a record needs nothing written, so neither its written history nor a row per
    field is looked at: on a run over the whole mirror that is nearly every record.
    """
    columns = [c for c in values.columns if c != "id"]
    if not columns or values.height == 0 or copies.height == 0:
        return [], 0
    renamed = {c: native(c) for c in columns}
    kept = [n for n in renamed.values() if n in copies.columns]
    if any(is_compared(n) and n not in kept for n in renamed.values()):
        return [], 0  # a field the mirror has no copy of: the written history decides
    # Side by side, a column per field: a row per (record, field) cost several times more.
    theirs = {n: f"{n}\x00crm" for n in kept}
    joined = values.rename({"id": "record_id", **renamed}).join(
        copies.select("record_id", *(pl.col(n).alias(theirs[n]) for n in kept)), on="record_id"
    )
    skip = set(keep_when_null)  # their empty value means "leave the CRM's alone"
    agrees = [
        _agrees(
            pl.col(n).cast(pl.String), pl.col(theirs[n]), numeric=n in numeric, skip_empty=n in skip
        )
        for n in kept
    ]
    # The (record, field) values of a held record, as the per-field diff counts them.
    counted = pl.sum_horizontal(
        [pl.col(n).is_not_null() if n in skip else pl.lit(1) for n in renamed.values()]
    )
    verdicts = joined.select(
        "record_id", pl.all_horizontal(agrees).alias("held"), counted.alias("n")
    )
    held = verdicts.filter(pl.col("held"))
    return held["record_id"].to_list(), int(held["n"].sum())


def _agrees(ours: pl.Expr, crm: pl.Expr, *, numeric: bool, skip_empty: bool) -> pl.Expr:
    """Whether the CRM holds ``ours``: empty is empty, a ``numeric`` field's values by
    number; with ``skip_empty`` (a field left alone when empty) an empty ``ours`` agrees."""
    same = ours.fill_null("") == crm.fill_null("")
    if numeric:
        by_number = ours.cast(pl.Float64, strict=False) == crm.cast(pl.Float64, strict=False)
        same = same | by_number.fill_null(False)
    return (ours.is_null() | same) if skip_empty else same


def same_in_crm(ours: pl.Expr, crm: pl.Expr, numeric: Collection[str]) -> pl.Expr:
    """Whether the CRM holds ``ours`` (empty is empty; numeric fields by number), in a
    frame of a row per (record, ``field``)."""
    as_text = _agrees(ours, crm, numeric=False, skip_empty=False)
    if not numeric:
        return as_text
    as_number = _agrees(ours, crm, numeric=True, skip_empty=False)
    return pl.when(pl.col("field").is_in(list(numeric))).then(as_number).otherwise(as_text)


def _derived_names(tracked_native: dict[str, str], native: Callable[[str], str]) -> dict[str, str]:
    """``<native field>\\x00<suffix>`` -> the native name of the companion field."""
    names = {}
    for field_native, canonical in tracked_native.items():
        for suffix in (ENTERED_AT, PREVIOUS):
            names[f"{field_native}\x00{suffix}"] = native(canonical + suffix)
    return names
