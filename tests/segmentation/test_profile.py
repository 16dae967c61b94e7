"""Segment profiles and validation: real numbers on small frames."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from segmentation.profile import ProfileSpec, Thresholds, profile_segments


def _frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "id": [str(i) for i in range(10)],
            "segment_tier": ["A"] * 4 + ["B"] * 6,
            "reason_tier": ["r"] * 10,
            "revenue": [100.0, 200, 300, 400, 1, 2, 3, 4, 5, 6],
            "clv_12m": [10.0, 20, 30, 40, 1, 2, 3, 4, 5, 6],
            "won_deals": [1, 1, 0, 2, 0, 0, 0, 1, 0, 0],
            "country": ["DE", "DE", "DE", "FR", "FR", "FR", "FR", "US", "US", "DE"],
            "employees": [100, 100, 100, 100, 10, 10, 10, 10, 10, 10],
            "email": ["a@x", None, "", "b@x", None, None, None, None, None, "c@x"],
            "industry": ["x", "y", None, "x", "x", "x", "x", "x", "x", "x"],
        }
    )


def _segments(result: dict, model: str) -> dict:
    return {s["segment"]: s for s in result["models"][model]["segments"]}


def test_sizes_money_conversion() -> None:
    result = profile_segments(_frame(), {"tier": ProfileSpec()})
    seg = _segments(result, "tier")
    a, b = seg["A"], seg["B"]
    assert (a["count"], b["count"]) == (4, 6)
    assert a["share"] == pytest.approx(0.4)
    assert a["revenue"] == 1000.0 and b["revenue"] == 21.0
    assert a["revenue_share"] == pytest.approx(1000 / 1021)
    assert a["clv_mean"] == 25.0 and a["clv_median"] == 25.0
    assert b["clv_median"] == 3.5
    assert a["conversion_rate"] == 1.0  # 4 won deals / 4 records
    assert b["conversion_rate"] == pytest.approx(1 / 6)
    # Largest segment first; the dict survives a JSON round trip unchanged.
    assert [s["segment"] for s in result["models"]["tier"]["segments"]] == ["B", "A"]
    assert json.loads(json.dumps(result)) == result


def test_top_features_lift() -> None:
    result = profile_segments(_frame(), {"tier": "segment_tier"}, max_categories=3)
    seg = _segments(result, "tier")
    a_feats = seg["A"]["top_features"]
    # Emails are near-unique (5 values against a limit of 3) and ids, reasons and
    # metrics are never features.
    assert {f["feature"] for f in a_feats} <= {"country", "employees", "industry"}
    employees = next(f for f in a_feats if f["feature"] == "employees")
    assert employees["kind"] == "numeric"
    assert employees["lift"] == pytest.approx(100 / 46)
    de = next(f for f in a_feats if f["value"] == "DE")
    # 3 of 4 in A are DE versus 4 of 10 overall.
    assert de["lift"] == pytest.approx(0.75 / 0.4)
    b_feats = seg["B"]["top_features"]
    assert b_feats[0]["feature"] == "employees" and b_feats[0]["lift"] == pytest.approx(10 / 46)
    us = next(f for f in b_feats if f["value"] == "US")
    assert us["lift"] == pytest.approx((2 / 6) / 0.2)
    # Ordered by distance from the base, |log lift|.
    ranks = [abs(np.log(f["lift"])) for f in a_feats]
    assert ranks == sorted(ranks, reverse=True) and len(a_feats) == 3


def test_max_categories_drops_near_unique_text() -> None:
    small = profile_segments(_frame(), {"tier": ProfileSpec()}, max_categories=3)
    feats = [f["feature"] for s in small["models"]["tier"]["segments"] for f in s["top_features"]]
    assert "email" not in feats
    explicit = profile_segments(_frame(), {"tier": ProfileSpec()}, features=["country"])
    for s in explicit["models"]["tier"]["segments"]:
        assert {f["feature"] for f in s["top_features"]} == {"country"}


def test_validation_pass_and_warn() -> None:
    spec = ProfileSpec(fields_used={"industry", "country"})
    result = profile_segments(
        _frame(),
        {"tier": spec},
        mapped_outputs={"segment_tier"},
        thresholds=Thresholds(min_share=0.5),
    )
    a = _segments(result, "tier")["A"]["validation"]
    b = _segments(result, "tier")["B"]["validation"]
    # One of A's four lacks industry.
    assert a["measurable"] == {"status": "warn", "value": 0.75}
    assert b["measurable"] == {"status": "pass", "value": 1.0}
    assert a["substantial"]["status"] == "warn" and b["substantial"]["status"] == "pass"
    # Two of A's four have a non-blank email ("" is not reachable); one of B's six.
    assert a["accessible"] == {"status": "pass", "value": 0.5}
    assert b["accessible"]["status"] == "warn"
    assert b["accessible"]["value"] == pytest.approx(1 / 6)
    assert a["actionable"] == {"status": "pass", "value": True}
    unmapped = profile_segments(_frame(), {"tier": spec})
    assert _segments(unmapped, "tier")["A"]["validation"]["actionable"]["status"] == "warn"


def test_owner_makes_reachable_and_missing_field_is_unmeasurable() -> None:
    frame = _frame().with_columns(owner_id=pl.lit("u1"))
    result = profile_segments(frame, {"tier": ProfileSpec(fields_used={"nope"})})
    for s in result["models"]["tier"]["segments"]:
        assert s["validation"]["accessible"] == {"status": "pass", "value": 1.0}
        assert s["validation"]["measurable"] == {"status": "warn", "value": 0.0}


def test_differentiable_p_value_direction() -> None:
    rng = np.random.default_rng(0)
    n = 200
    apart = pl.DataFrame(
        {
            "segment_m": ["lo"] * n + ["hi"] * n,
            "clv_12m": np.concatenate([rng.normal(10, 1, n), rng.normal(20, 1, n)]),
        }
    )
    alike = apart.with_columns(clv_12m=pl.Series(rng.normal(10, 1, 2 * n)))
    far = profile_segments(apart, {"m": ProfileSpec()})["models"]["m"]["differentiable"]
    near = profile_segments(alike, {"m": ProfileSpec()})["models"]["m"]["differentiable"]
    assert far["metric"] == "clv_12m"
    assert far["p_value"] < 1e-10 and far["status"] == "pass"
    assert near["p_value"] > 0.05 and near["status"] == "warn"
    assert far["statistic"] > near["statistic"]
    seg = profile_segments(apart, {"m": ProfileSpec()})["models"]["m"]["segments"][0]
    assert seg["validation"]["differentiable"]["value"] == far["p_value"]


def test_degenerate_inputs_warn_instead_of_failing() -> None:
    same = pl.DataFrame({"segment_m": ["a", "b", "a"], "revenue": [5.0, 5.0, 5.0]})
    diff = profile_segments(same, {"m": ProfileSpec()})["models"]["m"]["differentiable"]
    assert diff == {"metric": "revenue", "statistic": None, "p_value": None, "status": "warn"}
    one = profile_segments(same.with_columns(segment_m=pl.lit("a")), {"m": ProfileSpec()})
    assert one["models"]["m"]["differentiable"]["status"] == "warn"
    bare = pl.DataFrame({"segment_m": ["a", "b"]})
    seg = profile_segments(bare, {"m": ProfileSpec()})["models"]["m"]["segments"][0]
    assert seg["revenue"] is None and seg["clv_mean"] is None and seg["conversion_rate"] is None
    with pytest.raises(ValueError, match="segment_x"):
        profile_segments(bare, {"x": ProfileSpec()})


def test_several_models_and_null_segment() -> None:
    frame = _frame().with_columns(
        segment_rfm=pl.Series(["champions"] * 5 + ["lost"] * 4 + [None], dtype=pl.String)
    )
    result = profile_segments(frame, {"tier": ProfileSpec(), "rfm": ProfileSpec()})
    assert set(result["models"]) == {"tier", "rfm"}
    rfm = _segments(result, "rfm")
    assert rfm[None]["count"] == 1 and rfm["champions"]["share"] == 0.5
    # Segment columns (its own or another model's) are never traits.
    for s in result["models"]["tier"]["segments"]:
        assert all(not f["feature"].startswith("segment_") for f in s["top_features"])


def test_segment_fields_judge_each_segment_on_its_own_rules() -> None:
    # A's rule reads country (always set); B's reads industry, which one A record lacks.
    spec = ProfileSpec(
        fields_used={"industry", "country"},
        segment_fields={"A": {"country"}, "B": {"industry"}},
    )
    segments = _segments(profile_segments(_frame(), {"tier": spec}), "tier")
    assert segments["A"]["validation"]["measurable"] == {"status": "pass", "value": 1.0}
    assert segments["B"]["validation"]["measurable"] == {"status": "pass", "value": 1.0}
