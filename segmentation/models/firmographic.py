"""Firmographic model: the organisation — size, revenue, industry, age.

Size and revenue bands and the contact's ``company_*`` roll-ups come from enrichment, and
the engine lets a company answer for its own ``company_*`` fields, so one set of rules
segments contacts (by their company) and companies alike. This module only adds
``company_age_years`` from the founding year.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from segmentation.models.base import COMPANY, CONTACT, ModelSpec, Schema
from segmentation.playbook import RuleModel

FEATURES: dict[str, pl.DataType] = {"company_age_years": pl.Int64()}


def features(schema: Schema, model: RuleModel | None, now: datetime) -> dict[str, pl.Expr]:
    """``company_age_years`` from ``company_founded_year`` (contacts) or ``founded_year``."""
    for column in ("company_founded_year", "founded_year"):
        if column in schema and schema[column].is_numeric():
            years = pl.lit(now.year) - pl.col(column).cast(pl.Int64)
            # A founding year in the future or before 1600 is a typo, not an age.
            return {"company_age_years": pl.when(years.is_between(0, 425)).then(years)}
    return {"company_age_years": pl.lit(None, pl.Int64)}


SPEC = ModelSpec(
    "firmographic",
    features=features,
    feature_types=FEATURES,
    applies_to=(CONTACT, COMPANY),
)
