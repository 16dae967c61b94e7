"""Segment profiles and the five validation tests, as a JSON-ready dict.

For every model and segment: size and share, revenue and revenue share, mean and
median CLV, conversion rate, the features that set the segment apart (lift versus the
whole base), and the validation a segment must pass to be worth acting on — measurable,
substantial, accessible, differentiable, actionable — each ``pass`` or ``warn`` with the
number behind it. Everything is a group-by aggregation over columns; Python only loops
over models, segments and features, never over records. No I/O: the caller writes the
dict (``json.dumps`` works on it directly).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
from scipy import stats

PASS = "pass"
WARN = "warn"
_SEG = "__segment"


@dataclass(frozen=True, slots=True)
class ProfileSpec:
    """How to profile one model.

    ``segment_col`` defaults to ``segment_<model>`` (the engine's output column);
    ``fields_used`` are the fields the model's rules read (``pb.fields_used(model)``),
    for the measurable test; ``segment_fields`` narrows that per segment to the fields
    of the rules that assign it (a segment reached through one branch of the rules
    should not be judged on the fields of another); ``key_metric`` is the column the
    differentiable test compares (default: the CLV column, else the revenue column);
    ``output`` is the name checked against the CRM-mapped outputs (default: the
    segment column).
    """

    segment_col: str | None = None
    fields_used: Collection[str] = field(default_factory=frozenset)
    segment_fields: Mapping[str, Collection[str]] = field(default_factory=dict)
    key_metric: str | None = None
    output: str | None = None


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Pass levels of the validation tests (shares are fractions of a segment or base)."""

    min_share: float = 0.02  # substantial: segment share of the base
    measurable: float = 0.8  # share of the segment having every field its rules read
    accessible: float = 0.5  # share of the segment reachable by email or owner
    alpha: float = 0.05  # differentiable: Kruskal-Wallis p-value below this


def profile_segments(
    df: pl.DataFrame,
    models: Mapping[str, ProfileSpec | str],
    *,
    revenue_col: str = "revenue",
    clv_col: str = "clv_12m",
    won_col: str = "won_deals",
    features: Sequence[str] | None = None,
    mapped_outputs: Collection[str] = (),
    reach_cols: Sequence[str] = ("email", "owner_id"),
    thresholds: Thresholds | None = None,
    top_n: int = 3,
    min_support: float = 0.05,
    max_categories: int = 50,
) -> dict[str, Any]:
    """Profile and validate every model's segments.

    ``models`` maps a model name to its :class:`ProfileSpec` (or just its segment
    column). Metric columns that are absent give ``None`` for their numbers rather than
    an error, so one call serves B2C and B2B frames. ``features`` default to every
    column that is not a segment/reason/holdout/id/metric column; strings, booleans and
    categoricals are compared by value share (only values held by at least
    ``min_support`` of the segment, so a single odd record is not a "trait"), numbers by
    mean; text columns with more than ``max_categories`` distinct values (emails, names)
    are not traits and are skipped. Conversion rate is won deals (sum of ``won_col``) per record.

    Returns ``{"models": {model: {"segments": [...], "differentiable": {...}}}}`` with
    plain Python types only (NaN becomes ``None``).
    """
    limits = thresholds or Thresholds()
    feats = _features(df, features, models, (revenue_col, clv_col, won_col), max_categories)
    out: dict[str, Any] = {}
    for name, raw in models.items():
        spec = ProfileSpec(segment_col=raw) if isinstance(raw, str) else raw
        seg_col = spec.segment_col or f"segment_{name}"
        if seg_col not in df.columns:
            raise ValueError(f"model {name!r}: no column {seg_col!r} in the frame")
        frame = df.with_columns(pl.col(seg_col).cast(pl.String).alias(_SEG))
        metric = spec.key_metric or (clv_col if clv_col in df.columns else revenue_col)
        diff = _differentiable(frame, metric, limits.alpha)
        rows = _metrics(frame, revenue_col, clv_col, won_col, spec, reach_cols)
        lifts = _top_features(frame, feats, top_n, min_support)
        actionable = (spec.output or seg_col) in set(mapped_outputs)
        segments = []
        for row in rows:
            seg = row.pop(_SEG)
            checks = {
                "measurable": _check(row.pop("_measurable"), limits.measurable),
                "substantial": _check(row["share"], limits.min_share),
                "accessible": _check(row.pop("_accessible"), limits.accessible),
                "differentiable": {"status": diff["status"], "value": diff["p_value"]},
                "actionable": {"status": PASS if actionable else WARN, "value": actionable},
            }
            segments.append(
                {"segment": seg, **row, "top_features": lifts.get(seg, []), "validation": checks}
            )
        out[name] = {"segments": segments, "differentiable": diff}
    return _plain({"models": out})


def _features(
    df: pl.DataFrame,
    features: Sequence[str] | None,
    models: Mapping[str, ProfileSpec | str],
    metrics: Sequence[str],
    max_categories: int,
) -> list[str]:
    if features is not None:
        chosen = [f for f in features if f in df.columns]
        return _few_values(df, chosen, max_categories)
    # Segment and reason columns would "distinguish" segments trivially (they define
    # them); ids are unique per record so every value would look over-represented.
    skip = {"id", *metrics}
    for name, raw in models.items():
        col = raw if isinstance(raw, str) else (raw.segment_col or f"segment_{name}")
        skip.add(col)
    chosen = [
        c
        for c in df.columns
        if c not in skip
        and not c.startswith(("segment_", "reason_"))
        and not c.endswith("_id")
        and (_is_categorical(df.schema[c]) or df.schema[c].is_numeric())
    ]
    return _few_values(df, chosen, max_categories)


def _few_values(df: pl.DataFrame, chosen: list[str], max_categories: int) -> list[str]:
    # Near-unique text (emails, names) makes every value "over-represented" in whichever
    # segment holds it; one n_unique pass over those columns drops them.
    cats = [c for c in chosen if _is_categorical(df.schema[c])]
    if not cats:
        return chosen
    counts = df.select(pl.col(cats).n_unique()).row(0, named=True)
    return [c for c in chosen if c not in counts or counts[c] <= max_categories]


def _is_categorical(dtype: pl.DataType) -> bool:
    return dtype in (pl.String, pl.Boolean) or isinstance(dtype, pl.Categorical | pl.Enum)


def _metrics(
    frame: pl.DataFrame,
    revenue_col: str,
    clv_col: str,
    won_col: str,
    spec: ProfileSpec,
    reach_cols: Sequence[str],
) -> list[dict[str, Any]]:
    """One aggregation pass per model: sizes, money, conversion, measurable, accessible."""
    cols = set(frame.columns)
    total = frame.height
    none = pl.lit(None, dtype=pl.Float64)
    revenue = pl.col(revenue_col).cast(pl.Float64) if revenue_col in cols else None
    clv = pl.col(clv_col).cast(pl.Float64) if clv_col in cols else None
    has_fields = _has_fields(spec.fields_used, cols)
    for seg, fields in spec.segment_fields.items():
        has_fields = (
            pl.when(pl.col(_SEG) == seg).then(_has_fields(fields, cols)).otherwise(has_fields)
        )
    reach = [_present(c) for c in reach_cols if c in cols]
    reachable = pl.any_horizontal(reach) if reach else pl.lit(False)
    agg = frame.group_by(_SEG).agg(
        pl.len().alias("count"),
        (revenue.sum() if revenue is not None else none).alias("revenue"),
        (clv.mean() if clv is not None else none).alias("clv_mean"),
        (clv.median() if clv is not None else none).alias("clv_median"),
        (
            pl.col(won_col).cast(pl.Float64).fill_null(0).sum() / pl.len()
            if won_col in cols
            else none
        ).alias("conversion_rate"),
        has_fields.cast(pl.Float64).mean().alias("_measurable"),
        reachable.cast(pl.Float64).mean().alias("_accessible"),
    )
    total_revenue = agg["revenue"].sum() if revenue is not None else None
    agg = agg.with_columns(
        (pl.col("count") / total).alias("share"),
        (
            pl.col("revenue") / total_revenue if total_revenue else pl.lit(None, dtype=pl.Float64)
        ).alias("revenue_share"),
    ).sort(["count", _SEG], descending=[True, False], nulls_last=True)
    order = [_SEG, "count", "share", "revenue", "revenue_share", "clv_mean", "clv_median"]
    return agg.select(*order, "conversion_rate", "_measurable", "_accessible").to_dicts()


def _has_fields(fields: Collection[str], cols: Collection[str]) -> pl.Expr:
    """Every one of ``fields`` is set; a field the frame lacks is missing for every record."""
    needed = sorted(fields)
    if needed and all(f in cols for f in needed):
        return pl.all_horizontal([pl.col(f).is_not_null() for f in needed])
    return pl.lit(not needed)


def _present(col: str) -> pl.Expr:
    # An empty string is as unreachable as a null (CRMs export blank emails as "").
    expr = pl.col(col)
    return expr.is_not_null() & (expr.cast(pl.String).str.strip_chars() != "")


def _top_features(
    frame: pl.DataFrame, feats: Sequence[str], top_n: int, min_support: float
) -> dict[str | None, list[dict[str, Any]]]:
    """Per segment, the ``top_n`` features furthest from the base (|log lift|)."""
    total = frame.height
    parts: list[pl.DataFrame] = []
    cats = [f for f in feats if _is_categorical(frame.schema[f])]
    nums = [f for f in feats if f not in cats]
    if cats and total:
        long = frame.select(_SEG, *[pl.col(c).cast(pl.String) for c in cats]).unpivot(
            index=_SEG, variable_name="feature", value_name="value"
        )
        long = long.drop_nulls("value")
        sizes = frame.group_by(_SEG).len("seg_n")
        overall = long.group_by("feature", "value").len("all_n")
        parts.append(
            long.group_by(_SEG, "feature", "value")
            .len("n")
            .join(sizes, on=_SEG, nulls_equal=True)
            .join(overall, on=["feature", "value"])
            .select(
                _SEG,
                "feature",
                pl.lit("categorical").alias("kind"),
                "value",
                (pl.col("n") / pl.col("seg_n")).alias("segment"),
                (pl.col("all_n") / total).alias("overall"),
            )
            # Over-representation only, and only for values a real part of the segment holds.
            .filter(pl.col("segment") >= min_support)
        )
    if nums and total:
        means = frame.group_by(_SEG).agg(pl.col(nums).cast(pl.Float64).mean())
        overall_means = frame.select(pl.col(nums).cast(pl.Float64).mean())
        long_means = means.unpivot(index=_SEG, variable_name="feature", value_name="segment")
        base = overall_means.unpivot(variable_name="feature", value_name="overall")
        parts.append(
            long_means.join(base, on="feature").select(
                _SEG,
                "feature",
                pl.lit("numeric").alias("kind"),
                pl.lit(None, dtype=pl.String).alias("value"),
                "segment",
                "overall",
            )
        )
    if not parts:
        return {}
    lifts = (
        pl.concat(parts)
        # A ratio of means is only meaningful on a positive base (e.g. not on z-scores).
        .filter((pl.col("overall") > 0) & pl.col("segment").is_not_null())
        .with_columns((pl.col("segment") / pl.col("overall")).alias("lift"))
        .filter(pl.col("lift") > 0)
        .with_columns(pl.col("lift").log().abs().alias("_rank"))
        .filter((pl.col("kind") == "numeric") | (pl.col("lift") > 1))
        .sort(["_rank", "feature", "value"], descending=[True, False, False], nulls_last=True)
        .with_columns(pl.int_range(pl.len()).over(_SEG).alias("_pos"))
        .filter(pl.col("_pos") < top_n)
    )
    result: dict[str | None, list[dict[str, Any]]] = {}
    for row in lifts.drop("_rank", "_pos").to_dicts():
        result.setdefault(row.pop(_SEG), []).append(row)
    return result


def _differentiable(frame: pl.DataFrame, metric: str, alpha: float) -> dict[str, Any]:
    """Kruskal-Wallis across segments on the key metric (rank-based: revenue and CLV are
    heavily skewed, so a mean-based ANOVA would be driven by a few whales)."""
    result: dict[str, Any] = {"metric": metric, "statistic": None, "p_value": None}
    if metric not in frame.columns:
        return {**result, "status": WARN}
    groups = [
        np.asarray(values, dtype=np.float64)
        for values in frame.group_by(_SEG)
        .agg(pl.col(metric).cast(pl.Float64).drop_nulls().drop_nans())
        .get_column(metric)
        .to_list()
        if len(values) > 0
    ]
    pooled = np.concatenate(groups) if groups else np.empty(0)
    # scipy raises when every value is identical; that is simply "not different".
    if len(groups) < 2 or np.all(pooled == pooled[0]):
        return {**result, "status": WARN}
    statistic, p_value = stats.kruskal(*groups)
    status = PASS if p_value < alpha else WARN
    return {**result, "statistic": float(statistic), "p_value": float(p_value), "status": status}


def _check(value: float | None, minimum: float) -> dict[str, Any]:
    ok = value is not None and value >= minimum
    return {"status": PASS if ok else WARN, "value": value}


def _plain(value: Any) -> Any:
    """Recursively make numpy scalars plain and NaN/inf ``None`` (JSON has neither)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
