"""What segsync writes back: the output fields of a playbook and their values per record.

Every segment-like output (each rule model, RFM, value tier, cluster) is written with
its reason, when the record entered it and what it was before; value models add CLV,
the RFM score and the holdout flag, and every changed record gets ``updated_at``. Names
here are canonical (``demographic_reason``); a connector turns them into its own
(``segsync_demographic_reason``, ``Segsync_Demographic_Reason__c``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import polars as pl

from connectors.base import FieldSpec, ObjectType
from segmentation.cluster_ids import cluster_values, configured_k
from segmentation.models import spec_for
from segmentation.playbook import Playbook

EngineObject = Literal["contact", "company"]
VALUE_SEGMENTS = {"rfm": "segment_rfm", "value_tier": "segment_value_tier"}
UPDATED_AT = "updated_at"
MAX_TEXT = 255  # Salesforce Text(255), the field type segsync creates for reasons
# The companion fields of a segment output, derived by the diff rather than computed.
REASON, ENTERED_AT, PREVIOUS = "_reason", "_entered_at", "_previous"


@dataclass(frozen=True, slots=True)
class Output:
    """One segment-like output: its canonical field name and the engine's columns."""

    name: str
    column: str
    reason_column: str
    label: str
    options: tuple[str, ...] = ()


def segment_outputs(playbook: Playbook, object_type: EngineObject) -> list[Output]:
    """The segment-like outputs the playbook produces for contacts or companies."""
    outputs = []
    for name, model in playbook.models.items():
        allowed = model.applies_to or spec_for(name).applies_to
        if object_type not in allowed:
            continue
        values = [rule.segment for rule in model.rules]
        if model.fallback is not None:
            values.append(model.fallback)
        outputs.append(
            Output(
                name,
                model.resolved_output,
                f"reason_{name}",
                name.replace("_", " ").title(),
                tuple(dict.fromkeys(values)),
            )
        )
    for name, column in VALUE_SEGMENTS.items():
        outputs.append(Output(name, column, f"reason_{name}", name.replace("_", " ").upper()))
    if playbook.clustering is not None and playbook.clustering.enabled:
        # Stable ids, known before any data: a dropdown like the rule models'.
        k = configured_k(playbook.clustering.model_extra or {})
        outputs.append(
            Output("cluster", "segment_cluster", "reason_cluster", "Cluster", cluster_values(k))
        )
    return outputs


def written_object_types(object_types: Iterable[ObjectType]) -> list[ObjectType]:
    """Of a field map's object types, those segsync writes fields on (deals roll up, unwritten).

    ``schema apply`` creates fields on exactly these and ``check`` asks for exactly these,
    so the two cannot disagree.
    """
    return [t for t in object_types if t != "deal"]


def field_specs(playbook: Playbook, object_type: ObjectType) -> list[FieldSpec]:
    """The CRM fields ``segsync schema apply`` creates on ``object_type``."""
    engine_object: EngineObject = "company" if object_type == "company" else "contact"
    if object_type == "deal":
        return []
    specs: list[FieldSpec] = []
    for out in segment_outputs(playbook, engine_object):
        kind: Literal["string", "enumeration"] = "enumeration" if out.options else "string"
        specs += [
            FieldSpec(out.name, f"segsync {out.label}", kind, f"{out.label} segment", out.options),
            FieldSpec(out.name + REASON, f"segsync {out.label} reason", "string"),
            FieldSpec(out.name + ENTERED_AT, f"segsync {out.label} since", "datetime"),
            FieldSpec(out.name + PREVIOUS, f"segsync {out.label} previous", "string"),
        ]
    specs += [
        FieldSpec("clv_12m", "segsync CLV 12 months", "number", "Predicted 12-month value"),
        FieldSpec("rfm_score", "segsync RFM score", "string", "Recency, frequency, monetary 1-5"),
        FieldSpec(
            UPDATED_AT, "segsync updated at", "datetime", "Last time segsync changed a field"
        ),
    ]
    if playbook.holdout is not None and playbook.holdout.enabled:
        specs.append(FieldSpec("holdout", "segsync holdout", "bool", "Excluded from campaigns"))
    return specs


def output_values(
    frame: pl.DataFrame, playbook: Playbook, object_type: EngineObject
) -> pl.DataFrame:
    """``id`` plus one text column per output field the engine filled (null clears)."""
    cols = set(frame.columns)
    exprs: list[pl.Expr] = []
    for out in segment_outputs(playbook, object_type):
        if out.column not in cols:
            continue
        exprs.append(pl.col(out.column).cast(pl.String).alias(out.name))
        if out.reason_column in cols:
            exprs.append(_fits(pl.col(out.reason_column).cast(pl.String)).alias(out.name + REASON))
    if "clv_12m" in cols:
        # A CLV the model could not compute (NaN, infinite) clears the field: number
        # properties refuse "NaN" (HubSpot: INVALID_DECIMAL), and the row would be
        # dead-lettered on every run.
        clv = pl.col("clv_12m").cast(pl.Float64)
        exprs.append(pl.when(clv.is_finite()).then(clv.round(2)).cast(pl.String).alias("clv_12m"))
    if {"r_score", "f_score", "m_score"} <= cols:
        exprs.append(
            pl.concat_str(
                [pl.col(c).cast(pl.String) for c in ("r_score", "f_score", "m_score")]
            ).alias("rfm_score")
        )
    if "segment_holdout" in cols:
        exprs.append(
            pl.when(pl.col("segment_holdout"))
            .then(pl.lit("true"))
            .otherwise(pl.lit("false"))
            .alias("holdout")
        )
    return frame.select(pl.col("id").cast(pl.String), *exprs)


def _fits(text: pl.Expr) -> pl.Expr:
    """Text cut to the smallest CRM text field (Salesforce's 255 characters), the cut
    marked: a longer value would be rejected and dead-lettered with its whole record."""
    cut = pl.concat_str(text.str.slice(0, MAX_TEXT - 1), pl.lit("…"))
    return pl.when(text.str.len_chars() > MAX_TEXT).then(cut).otherwise(text)


def tracked(values: pl.DataFrame, playbook: Playbook, object_type: EngineObject) -> list[str]:
    """The segment outputs present in ``values`` (those that get entered_at/previous)."""
    return [o.name for o in segment_outputs(playbook, object_type) if o.name in values.columns]


def is_compared(native: str) -> bool:
    """Whether the CRM's value of a segsync field is mirrored and compared: segments,
    scores and values; not the companions (entered-at, previous, updated-at, derived
    from segsync's own history) nor reasons (written only with their segment)."""
    return not is_companion(native) and not native.lower().removesuffix("__c").endswith(REASON)


def is_companion(native: str) -> bool:
    """Whether a native field name is a derived companion (entered_at, previous, updated_at)."""
    name = native.lower().removesuffix("__c").removeprefix("segsync_")
    return name == UPDATED_AT or name.endswith((ENTERED_AT, PREVIOUS))
