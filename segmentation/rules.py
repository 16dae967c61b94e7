"""Rule models over a materialized frame: compiled once per schema, evaluated as columns.

A model whose inputs repeat across rows is evaluated once per distinct combination of
them and spread back to the rows; fields the data lacks read as typed nulls, so a rule
naming one matches only ``missing``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

import polars as pl

from segmentation.enrich import CANONICAL_KINDS, ENRICHED_COMPANY_COLUMNS, ENRICHED_CONTACT_COLUMNS
from segmentation.enrich.parse import TARGET_DTYPES
from segmentation.enrich.rollups import key_of
from segmentation.models import COMPANY, CONTACT, derived_fields, spec_for
from segmentation.models.base import forward_only, previous_column
from segmentation.playbook import (
    PERSONAL_FIELDS,
    Playbook,
    PlaybookError,
    PlaybookIssue,
    RuleModel,
    compile_model,
)

# Canonical fields (design.md) held as text. With the typed ones enrichment parses, they
# are the fields a playbook may name whether or not a given CRM or export has them: a
# field the data lacks reads as empty (and so matches only `missing`), while a name that
# is none of these, no input column and nothing derived is a typo and an error.
CANONICAL_TEXT_FIELDS = (
    "email",
    "first_name",
    "last_name",
    "job_title",
    "phone",
    "country",
    "state",
    "city",
    "company_name",
    "company_id",
    "lifecycle_stage",
    "lead_status",
    "source",
    "gender",
    "interests",
    "use_case",
    "primary_goal",
    "preferred_channel",
    "name",
    "domain",
    "website",
    "industry",
    "tech_stack",
    "company_type",
    "description",
    "contact_id",
    "stage",
    "pipeline",
    "deal_type",
    "priority",
)
CANONICAL_FIELDS: dict[str, pl.DataType] = {
    **{name: pl.String() for name in CANONICAL_TEXT_FIELDS},
    **{name: TARGET_DTYPES[kind] for name, kind in CANONICAL_KINDS.items()},
}
JOIN_KEY = "__segsync_key"
ROW = "__segsync_row"


# Compiled rule expressions by (model, schema, now, redaction): change events re-segment
# the same population many times a minute, and compiling (with its type checks) cost a
# quarter of such a run. Expressions are immutable, so sharing them is safe.
_COMPILED: dict[tuple[Any, ...], tuple[RuleModel, tuple[pl.Expr, pl.Expr]]] = {}
_COMPILED_MAX = 512


def compiled(
    model: RuleModel, schema: Mapping[str, pl.DataType], now: datetime, redact: Collection[str]
) -> tuple[pl.Expr, pl.Expr]:
    key = (id(model), tuple(schema.items()), now, frozenset(redact))
    hit = _COMPILED.get(key)
    if hit is not None and hit[0] is model:  # the id of a collected model may be reused
        return hit[1]
    compiled = compile_model(model, schema, now, redact=redact)
    if len(_COMPILED) >= _COMPILED_MAX:
        _COMPILED.clear()
    _COMPILED[key] = (model, compiled)
    return compiled


def applies(model: RuleModel, object_type: str, native: Collection[str] | None = None) -> bool:
    """Whether ``model`` runs on ``object_type`` records.

    The playbook's ``applies_to`` decides, else the model module's default. On companies
    a model also needs at least one tested field the companies really have (a model that
    reads only contact fields would put every company in its fallback).
    """
    allowed = model.applies_to or spec_for(model.name).applies_to
    if object_type not in allowed:
        return False
    return native is None or not model.fields_used().isdisjoint(native)


def with_previous(
    frame: pl.DataFrame, models: list[RuleModel], object_type: str, previous: pl.DataFrame | None
) -> tuple[pl.DataFrame, list[str]]:
    """Join each forward-only model's previous segment as ``_previous_<model>``."""
    if previous is None or "id" not in previous.columns or "id" not in frame.columns:
        return frame, []
    rows = previous
    if "object_type" in rows.columns:
        rows = rows.filter(pl.col("object_type").fill_null(CONTACT) == object_type)
    elif object_type != CONTACT:
        return frame, []
    others = [c for c in rows.columns if c not in ("id", "object_type")]
    picks: list[pl.Expr] = []
    for model in models:
        if not model.options.forward_only:
            continue
        column = model.resolved_output if model.resolved_output in others else None
        if column is None and len(others) == 1 and model.name == "lifecycle":
            column = others[0]
        if column is not None:
            picks.append(pl.col(column).cast(pl.String).alias(previous_column(model.name)))
    if not picks:
        return frame, []
    table = rows.select(key_of(pl.col("id")).alias(JOIN_KEY), *picks).unique(
        JOIN_KEY, keep="last", maintain_order=True
    )
    joined = frame.with_columns(key_of(pl.col("id")).alias(JOIN_KEY)).join(
        table, on=JOIN_KEY, how="left", maintain_order="left"
    )
    return joined.drop(JOIN_KEY), [str(e.meta.output_name()) for e in picks]


def segment_frame(
    frame: pl.DataFrame,
    playbook: Playbook,
    object_type: str,
    now: datetime,
    previous: pl.DataFrame | None,
    *,
    other: Mapping[str, pl.DataType] | None = None,
) -> pl.DataFrame:
    """``frame`` plus every applicable model's segment and reason columns.

    ``other`` is the schema of the other object type: its fields, absent here, read as
    typed nulls, as do canonical, enriched and derived fields the data lacks.

    A model whose inputs repeat across rows (bands, regions, stages, keyword text, tag
    lists, counts) is evaluated once per distinct combination of them and spread back
    to the rows: its reasons are text built per row, and most rows share theirs with
    many others. Models reading timestamps run over all rows.
    """
    models = applicable(frame, playbook, object_type)
    frame, helpers = with_previous(frame, models, object_type, previous)
    schema, absent = rule_schema(frame.schema, other)
    redact = PERSONAL_FIELDS | playbook.personal_fields()
    compiled = model_exprs(models, schema, now, redact)
    direct: list[pl.Expr] = []
    direct_absent: set[str] = set()
    results: dict[str, pl.Series] = {}
    for model, (value, reason) in zip(models, compiled, strict=True):
        pair = [value.alias(model.resolved_output), reason.alias(model.reason_output)]
        reads = set(value.meta.root_names()) | set(reason.meta.root_names())
        present = sorted(reads & set(frame.columns))
        if present and repetitive(frame, present):
            nulls = [pl.lit(None, absent[c]).alias(c) for c in sorted(reads & set(absent))]
            groups = frame.select(present).with_row_index(ROW).group_by(present).agg(ROW)
            per_row = groups.with_columns(nulls).select(ROW, *pair).explode(ROW).sort(ROW)
            results.update({c: per_row[c] for c in per_row.columns if c != ROW})
            continue
        direct += pair
        direct_absent |= reads & set(absent)
    if direct:
        nulls = [pl.lit(None, absent[c]).alias(c) for c in sorted(direct_absent)]
        computed = frame.lazy().with_columns(nulls).select(direct).collect()
        results.update({c: computed[c] for c in computed.columns})
    order = [c for m in models for c in (m.resolved_output, m.reason_output)]
    out = frame.drop(helpers) if helpers else frame
    return out.with_columns(results[c] for c in order) if order else out


def applicable(frame: pl.DataFrame, playbook: Playbook, object_type: str) -> list[RuleModel]:
    """The playbook's models that run on ``frame``'s records (see :func:`applies`)."""
    native = set(frame.columns) if object_type == COMPANY else None
    return [m for m in playbook.models.values() if applies(m, object_type, native)]


def rule_schema(
    frame: Mapping[str, pl.DataType], other: Mapping[str, pl.DataType] | None
) -> tuple[dict[str, pl.DataType], dict[str, pl.DataType]]:
    """``(schema the rules compile against, the part of it the frame lacks)``.

    Canonical, enriched and derived fields and the other side's fields the frame lacks
    read as typed nulls: a field this data does not have matches only ``missing``.
    """
    known = {
        **CANONICAL_FIELDS,
        **ENRICHED_COMPANY_COLUMNS,
        **ENRICHED_CONTACT_COLUMNS,
        **derived_fields(),
        **(other or {}),
    }
    absent = {c: t for c, t in known.items() if c not in frame}
    return {**absent, **frame}, absent


def model_exprs(
    models: list[RuleModel],
    schema: Mapping[str, pl.DataType],
    now: datetime,
    redact: Collection[str],
) -> list[tuple[pl.Expr, pl.Expr]]:
    """Each model's finished (value, reason) expressions; the problems of all at once."""
    pairs: list[tuple[pl.Expr, pl.Expr]] = []
    issues: list[PlaybookIssue] = []
    for model in models:
        try:
            value, reason = compiled(model, schema, now, redact)
        except PlaybookError as exc:
            issues += exc.errors
            continue
        value, reason = spec_for(model.name).finish(value, reason, model, schema)
        pairs.append(forward_only(value, reason, model, schema))
    if issues:
        raise PlaybookError(issues)
    return pairs


def repetitive(frame: pl.DataFrame, columns: list[str]) -> bool:
    """Whether rows repeat these columns' values enough (4x on average) to group first.

    Timestamps never do; for the rest a HyperLogLog estimate decides (one cheap pass).
    """
    if frame.height < 10_000 or any(frame.schema[c].is_temporal() for c in columns):
        return False
    distinct = frame.select(pl.struct(columns).hash().approx_n_unique()).item()
    return int(distinct) * 4 <= frame.height
