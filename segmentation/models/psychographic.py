"""Psychographic model: values, lifestyle, interests and the content topics engaged with.

CRMs hold these as multi-value fields in several shapes (``"a;b"``, ``"a, b"``, lists).
This module merges whichever of them the record has into one normalized tag list,
``interest_tags``, so a rule can say ``{field: interest_tags, contains_any: [fitness,
outdoors]}`` without caring which form or field the answer came from.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from segmentation.models.base import CONTACT, ModelSpec, Schema, first_present, to_tags
from segmentation.playbook import RuleModel

TAG_FIELDS = ("interests", "hobbies", "lifestyle", "values", "content_topics", "topics")
FEATURES: dict[str, pl.DataType] = {
    "interest_tags": pl.List(pl.String()),
    "interest_count": pl.UInt32(),
}


def features(schema: Schema, model: RuleModel | None, now: datetime) -> dict[str, pl.Expr]:
    """``interest_tags`` (merged, normalized, de-duplicated) and ``interest_count``."""
    fields = [
        f
        for f in first_present(schema, *TAG_FIELDS)
        if schema[f] == pl.String or isinstance(schema[f], pl.List)
    ]
    if not fields:
        tags = pl.lit([], pl.List(pl.String))
    else:
        parts = [to_tags(f, schema[f]).fill_null(pl.lit([], pl.List(pl.String))) for f in fields]
        tags = (
            pl.concat_list(parts).list.unique(maintain_order=True) if len(parts) > 1 else parts[0]
        )
    return {"interest_tags": tags, "interest_count": tags.list.len()}


SPEC = ModelSpec("psychographic", features=features, feature_types=FEATURES, applies_to=(CONTACT,))
