"""Demographic model: who the person is (age, generation, gender, income; role in B2B).

Age and generation come from enrichment; this module adds the two fields CRMs hold too
messily for rules to test directly: ``gender_norm`` (``Female``/``f``/``FEMALE`` → female)
and ``income_band``.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from segmentation.models.base import CONTACT, ModelSpec, Schema
from segmentation.playbook import RuleModel

GENDERS: dict[str, str] = {
    "female": "female",
    "f": "female",
    "woman": "female",
    "w": "female",
    "femme": "female",
    "frau": "female",
    "mujer": "female",
    "male": "male",
    "m": "male",
    "man": "male",
    "homme": "male",
    "mann": "male",
    "hombre": "male",
    "nonbinary": "non_binary",
    "nb": "non_binary",
    "x": "non_binary",
    "diverse": "non_binary",
    "divers": "non_binary",
    "other": "non_binary",
    "prefernottosay": "undisclosed",
    "undisclosed": "undisclosed",
    "declined": "undisclosed",
}
# (exclusive upper bound, label); from 200k up: "200k+".
INCOME_BANDS: tuple[tuple[float, str], ...] = (
    (25_000, "<25k"),
    (50_000, "25k-50k"),
    (100_000, "50k-100k"),
    (200_000, "100k-200k"),
)
TOP_INCOME_BAND = "200k+"
FEATURES: dict[str, pl.DataType] = {"gender_norm": pl.String(), "income_band": pl.String()}


def features(schema: Schema, model: RuleModel | None, now: datetime) -> dict[str, pl.Expr]:
    """``gender_norm`` and ``income_band`` where the frame has gender and income."""
    out: dict[str, pl.Expr] = {}
    if "gender" in schema:
        key = pl.col("gender").cast(pl.String).str.to_lowercase().str.replace_all(r"[^a-z]", "")
        out["gender_norm"] = key.replace_strict(GENDERS, default=None, return_dtype=pl.String)
    else:
        out["gender_norm"] = pl.lit(None, pl.String)
    if "income" in schema and schema["income"].is_numeric():
        income = pl.col("income").cast(pl.Float64)
        band: pl.Expr = pl.lit(TOP_INCOME_BAND)
        for upper, label in reversed(INCOME_BANDS):
            band = pl.when(income < upper).then(pl.lit(label)).otherwise(band)
        out["income_band"] = pl.when(income.is_not_null()).then(band)
    else:
        out["income_band"] = pl.lit(None, pl.String)
    return out


SPEC = ModelSpec("demographic", features=features, feature_types=FEATURES, applies_to=(CONTACT,))
