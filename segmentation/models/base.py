"""What a model module contributes besides its rules: derived features and post-processing.

Rule evaluation itself lives once, in :func:`segmentation.playbook.compile_model`; a model
module only adds the columns its rules need (vectorized expressions over the enriched
frame) and, where the model has one, a step that adjusts the compiled value/reason pair
(the lifecycle model's forward-only guard).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import polars as pl

from segmentation.playbook import RuleModel

CONTACT, COMPANY = "contact", "company"

Schema = Mapping[str, pl.DataType]  # column name -> dtype (a pl.Schema will do)
# (enriched schema, the playbook's model or None when the playbook lacks it, now)
FeatureFn = Callable[[Schema, RuleModel | None, datetime], dict[str, pl.Expr]]
# (compiled value, compiled reason, the model, schema of the frame) -> (value, reason)
FinishFn = Callable[[pl.Expr, pl.Expr, RuleModel, Schema], tuple[pl.Expr, pl.Expr]]


def no_features(schema: Schema, model: RuleModel | None, now: datetime) -> dict[str, pl.Expr]:
    """A model whose rules read enriched fields only."""
    return {}


def unchanged(
    value: pl.Expr, reason: pl.Expr, model: RuleModel, schema: Schema
) -> tuple[pl.Expr, pl.Expr]:
    """A model whose first matching rule is the final answer."""
    return value, reason


def previous_column(model: str) -> str:
    """Where the engine puts a record's previous segment for ``model`` (joined on id)."""
    return f"_previous_{model}"


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """One segmentation model's code: its features, its post-processing, where it applies.

    ``features`` maps the enriched schema, the playbook's model (None when the playbook
    lacks it) and "now" to named expressions; a feature is only added when the frame lacks
    a column of that name, so an export that already carries it wins. ``feature_types``
    names every column ``features`` may add (playbook validation needs the names before any
    data is seen). ``applies_to`` is the set of object types the model runs on; companies
    answer for their own ``company_*`` fields, so one set of rules serves both.
    """

    name: str
    features: FeatureFn = no_features
    finish: FinishFn = unchanged
    feature_types: Mapping[str, pl.DataType] = field(default_factory=dict)
    applies_to: Sequence[str] = (CONTACT,)


def first_present(schema: Schema, *names: str) -> list[str]:
    """The given column names that the frame has, in the given order."""
    return [n for n in names if n in schema]


def days_since(column: pl.Expr, now: datetime) -> pl.Expr:
    """Whole days between a timestamp and ``now`` (float, null when the timestamp is)."""
    return per_unit((pl.lit(now) - column).dt.total_seconds(), 86_400.0)


def per_unit(values: pl.Expr, unit: float) -> pl.Expr:
    """``values / unit``, computed the same way for every row however the frame is cut.

    polars divides a column by a constant as a multiplication by its reciprocal, except
    in a chunk of one row, where it divides: the two differ in the last bit, so a record
    segmented alone (or in a one-row chunk) got another float than in its population,
    and a threshold on it could flip. Multiplying explicitly gives the reciprocal's
    result everywhere (the value full runs have always had).
    """
    return values * (1.0 / unit)


def to_tags(column: str, dtype: pl.DataType) -> pl.Expr:
    """A multi-value field as a list of normalized tags, whatever shape the CRM gave it.

    HubSpot multi-checkboxes arrive as ``"a;b"``, Salesforce multi-picklists as ``"a;b"``
    too, CSV exports sometimes with commas or pipes, Parquet as a real list. Tags are
    lower-cased with spaces and dashes as underscores, so ``"Home & Garden"``,
    ``"home_garden"`` and ``"home-garden"`` meet.
    """
    expr = pl.col(column)
    if isinstance(dtype, pl.List):
        items = expr.cast(pl.List(pl.String))
    else:
        items = expr.cast(pl.String).str.replace_all(r"[,|]", ";").str.split(";")
    tags = items.list.eval(
        pl.element()
        .str.strip_chars()
        .str.to_lowercase()
        .str.replace_all(r"[\s&/\-]+", "_")
        .str.strip_chars("_")
    )
    return tags.list.eval(pl.element().filter(pl.element() != ""))


def forward_only(
    value: pl.Expr, reason: pl.Expr, model: RuleModel, schema: Schema
) -> tuple[pl.Expr, pl.Expr]:
    """Stage gates only open forwards: keep the previous value when the rules would go back.

    Applies when the model is ``forward_only`` with an ``order`` and the engine has joined
    each record's previous value (:func:`previous_column`). Vectorized via ranks in the
    order; values outside the order (e.g. "other") have no rank and never block a move.
    """
    previous = previous_column(model.name)
    order = model.options.order
    if not model.options.forward_only or not order or previous not in schema:
        return value, reason
    ranks = list(range(len(order)))
    new_rank = value.replace_strict(list(order), ranks, default=None, return_dtype=pl.Int32)
    old_rank = pl.col(previous).replace_strict(
        list(order), ranks, default=None, return_dtype=pl.Int32
    )
    backwards = (old_rank > new_rank).fill_null(False)
    # The rules' own reason already starts with the value they gave ("lead: ...").
    kept = pl.format("{}: kept, stages only move forward (rules gave {})", pl.col(previous), reason)
    return (
        pl.when(backwards).then(pl.col(previous)).otherwise(value),
        pl.when(backwards).then(kept).otherwise(reason),
    )
