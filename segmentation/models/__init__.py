"""The rule-based segmentation models, one small module each.

Every model's rules are compiled by :func:`segmentation.playbook.compile_model`; the
modules here add what is specific to a model (derived features, post-processing) and
say which object types it applies to by default. A playbook may also define models
not listed here; they run with no extra features on contacts.
"""

from __future__ import annotations

import polars as pl

from segmentation.models import (
    behavioral,
    demographic,
    firmographic,
    geographic,
    lifecycle,
    needs_based,
    psychographic,
    technographic,
)
from segmentation.models.base import COMPANY, CONTACT, ModelSpec, previous_column

MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        demographic.SPEC,
        firmographic.SPEC,
        geographic.SPEC,
        behavioral.SPEC,
        psychographic.SPEC,
        needs_based.SPEC,
        technographic.SPEC,
        lifecycle.SPEC,
    )
}


def spec_for(model: str) -> ModelSpec:
    """The model's code, or a rules-only spec for a model this package does not know."""
    return MODELS.get(model) or ModelSpec(model)


def derived_fields() -> dict[str, pl.DataType]:
    """Every column the models and the engine's roll-ups may add (for playbook validation)."""
    fields: dict[str, pl.DataType] = {}
    for spec in MODELS.values():
        fields.update(spec.feature_types)
    fields.update(behavioral.ORDER_FEATURES)
    fields.update(lifecycle.DEAL_FEATURES)
    return fields


__all__ = [
    "COMPANY",
    "CONTACT",
    "MODELS",
    "ModelSpec",
    "derived_fields",
    "previous_column",
    "spec_for",
]
