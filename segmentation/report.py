"""Profiles and validation of every model's segments, and holdout groups, for a result.

Glue between the engine's output columns and :mod:`segmentation.profile` /
:mod:`segmentation.holdout`: which revenue, CLV and won-deal columns each object type
carries, which fields each model's rules read, and which outputs reach CRM fields.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import polars as pl

from segmentation.engine import SegmentResult
from segmentation.holdout import holdout_flags
from segmentation.playbook import Playbook
from segmentation.playbook.model import Rule
from segmentation.profile import ProfileSpec, profile_segments

VALUE_MODELS = {
    "rfm": "segment_rfm",
    "value_tier": "segment_value_tier",
    "cluster": "segment_cluster",
}
# Per object type, the first column present is used: contacts carry their own orders'
# or deals' figures, companies their won-deal roll-ups.
REVENUE = {
    "contacts": ("order_revenue", "monetary", "total_revenue"),
    "companies": ("won_revenue", "total_revenue"),
}
WON = {"contacts": ("contact_won_deal_count",), "companies": ("won_deal_count",)}
_HAS_CONTACTS = "_has_contacts"


def build_profiles(result: SegmentResult, playbook: Playbook) -> dict[str, Any]:
    """JSON-ready profiles + validation per object type, model and segment."""
    frames = {"contacts": result.contacts, "companies": result.companies}
    outputs = {m.resolved_output for m in playbook.models.values()} | set(VALUE_MODELS.values())
    profiles: dict[str, Any] = {}
    for label, frame in frames.items():
        if frame is None:
            continue
        specs: dict[str, ProfileSpec | str] = {
            name: ProfileSpec(
                segment_col=model.resolved_output,
                fields_used=frozenset(playbook.fields_used(name)),
                segment_fields=_segment_fields(model.rules),
            )
            for name, model in playbook.models.items()
            if model.resolved_output in frame.columns
        }
        specs.update({m: c for m, c in VALUE_MODELS.items() if c in frame.columns})
        if label == "companies" and "contact_count" in frame.columns:
            # A company is reached through its contacts (or its owner).
            frame = frame.with_columns(
                pl.when(pl.col("contact_count") > 0).then(True).alias(_HAS_CONTACTS)
            )
        profiles[label] = profile_segments(
            frame,
            specs,
            revenue_col=revenue_column(frame, label),
            won_col=_first(frame, WON[label]),
            mapped_outputs=outputs,
            reach_cols=("email", "owner_id", _HAS_CONTACTS),
        )
    return profiles


def _segment_fields(rules: list[Rule]) -> dict[str, frozenset[str]]:
    """Per segment value, the fields of the rules that assign it."""
    fields: dict[str, frozenset[str]] = {}
    for rule in rules:
        fields[rule.segment] = fields.get(rule.segment, frozenset()) | rule.when.fields_used()
    return fields


def add_holdouts(result: SegmentResult, playbook: Playbook) -> SegmentResult:
    """``segment_holdout`` per the playbook's ``holdout`` section (share, salt).

    A record's flag comes from a salted hash of its id alone (about ``share`` of every
    segment): it never flips because other records joined or left a segment. Ranking
    within segments for an exact share did that, and each flip is a CRM write that
    moves a record in or out of the control group the lift is measured on.
    """
    section = playbook.holdout
    if section is None or not section.enabled:
        return result
    extra = section.model_extra or {}
    share = float(extra.get("share", 0.05))
    salt = str(extra.get("salt", playbook.name or "segsync"))

    def flagged(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.with_columns(holdout_flags("id", share=share, salt=salt))

    companies = flagged(result.companies) if result.companies is not None else None
    return replace(result, contacts=flagged(result.contacts), companies=companies)


def revenue_column(frame: pl.DataFrame, label: str) -> str:
    """The revenue column of ``contacts`` or ``companies`` that this frame fills."""
    return _first(frame, REVENUE[label])


def _first(frame: pl.DataFrame, names: tuple[str, ...]) -> str:
    """The first of ``names`` the frame holds values in (else the first it has at all)."""
    present = [n for n in names if n in frame.columns]
    filled = [n for n in present if frame[n].null_count() < frame.height]
    return next(iter(filled or present or names))
