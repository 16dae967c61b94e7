"""Needs-based model: what the record is trying to get done.

Use-case and form fields are often free text ("need better dashboards for the board").
This module folds them into one normalized text, ``need_text`` (lower case, ``_ - /`` as
spaces), that the model's rules search with ``contains``/``contains_any`` — so the
keyword map is playbook data: each rule lists the words that signal its need::

    - name: analytics
      when: {field: need_text, contains_any: [report, dashboard, forecast]}

From those same rules the module builds one regex over every keyword and extracts all
matches in a single vectorized pass, giving ``needs`` (every need mentioned, not just the
first rule's) and ``need_keywords`` (the words that matched, which the reason then names).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime

import polars as pl

from segmentation.models.base import CONTACT, ModelSpec, Schema, first_present
from segmentation.playbook import RuleModel
from segmentation.playbook.condition import Condition

# Canonical use-case and form fields; num-like "notes" (a count in HubSpot) is not text.
TEXT_FIELDS = (
    "use_case",
    "use_cases",
    "primary_goal",
    "challenge",
    "pain_points",
    "requirements",
    "form_answers",
    "form_message",
    "message",
)
TEXT = "need_text"
FEATURES: dict[str, pl.DataType] = {
    TEXT: pl.String(),
    "needs": pl.List(pl.String()),
    "need_keywords": pl.List(pl.String()),
}


def normalize_text(expr: pl.Expr) -> pl.Expr:
    """Lower case, separators (``_ - /`` and whitespace runs) as one space."""
    return expr.str.to_lowercase().str.replace_all(r"[_\-/\s]+", " ")


def _leaves(condition: Condition, negated: bool = False) -> Iterator[Condition]:
    """Positive leaves of a condition (a keyword under ``not`` signals no need)."""
    if condition.kind == "leaf":
        if not negated:
            yield condition
        return
    for child in condition.children:
        yield from _leaves(child, negated ^ (condition.kind == "not"))


def keyword_map(model: RuleModel) -> dict[str, str]:
    """keyword → need, from the rules' ``contains``/``contains_any`` tests of ``need_text``.

    The first rule naming a keyword wins, as it would when the rules are evaluated.
    """
    mapping: dict[str, str] = {}
    for rule in model.rules:
        for leaf in _leaves(rule.when):
            if leaf.field != TEXT:
                continue
            words = list(leaf.contains_any or []) + (
                [leaf.contains] if leaf.contains is not None else []
            )
            for word in words:
                key = re.sub(r"[_\-/\s]+", " ", str(word).lower())
                if key.strip():
                    mapping.setdefault(key, rule.segment)
    return mapping


def keyword_regex(mapping: dict[str, str]) -> str:
    """One alternation over every keyword, longest first so "lead scoring" beats "lead"."""
    words = sorted(mapping, key=lambda w: (-len(w), w))
    return "(" + "|".join(re.escape(w) for w in words) + ")"


def _as_text(column: str, dtype: pl.DataType) -> pl.Expr:
    if isinstance(dtype, pl.List):
        return pl.col(column).cast(pl.List(pl.String)).list.join(" ")
    return pl.col(column).cast(pl.String)


def features(schema: Schema, model: RuleModel | None, now: datetime) -> dict[str, pl.Expr]:
    """``need_text`` from the text fields present; ``needs``/``need_keywords`` from the rules."""
    fields = [
        f
        for f in first_present(schema, *TEXT_FIELDS)
        if schema[f] == pl.String or isinstance(schema[f], pl.List)
    ]
    if not fields:
        text = pl.lit(None, pl.String)
    else:
        joined = pl.concat_str(
            [_as_text(f, schema[f]) for f in fields], separator=" | ", ignore_nulls=True
        )
        text = normalize_text(pl.when(joined.str.len_bytes() > 0).then(joined))
    out = {TEXT: text}
    mapping = keyword_map(model) if model is not None else {}
    if not mapping or not fields:
        out["needs"] = out["need_keywords"] = pl.lit([], pl.List(pl.String))
        return out
    found = text.str.extract_all(keyword_regex(mapping)).fill_null(pl.lit([], pl.List(pl.String)))
    out["need_keywords"] = found.list.unique(maintain_order=True)
    out["needs"] = found.list.eval(
        pl.element().replace_strict(mapping, default=None, return_dtype=pl.String)
    ).list.unique(maintain_order=True)
    return out


def finish(
    value: pl.Expr, reason: pl.Expr, model: RuleModel, schema: Schema
) -> tuple[pl.Expr, pl.Expr]:
    """Name the keywords that were found, so a rep sees why a need was inferred."""
    if "need_keywords" not in schema:
        return value, reason
    words = pl.col("need_keywords")
    with_words = pl.format("{} (keywords: {})", reason, words.list.join(", "))
    return value, pl.when(words.list.len() > 0).then(with_words).otherwise(reason)


SPEC = ModelSpec(
    "needs_based",
    features=features,
    finish=finish,
    feature_types=FEATURES,
    applies_to=(CONTACT,),
)
