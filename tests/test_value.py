"""Value tiers by ACV and by predicted CLV."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from segmentation.value import ClvError, clv_quantile_tiers, predict_clv, value_tiers
from tests.test_clv import cdnow_transactions


def test_acv_tiers_use_the_b2b_cut_offs_and_explain_themselves() -> None:
    df = pl.DataFrame({"won_revenue": [120_000.0, 50_000.0, 49_999.0, 10_000.0, 800.0, 0.0, None]})
    out = value_tiers(df, "won_revenue")
    assert out["segment_value_tier"].to_list() == [
        "enterprise",
        "enterprise",
        "mid_market",
        "mid_market",
        "smb",
        "long_tail",
        "long_tail",
    ]
    assert out["reason_value_tier"][0] == "won_revenue=120000.0 >= 50000.0"


def test_clv_quantile_tiers_split_the_base_evenly() -> None:
    df = pl.DataFrame({"clv_12m": [float(i) for i in range(100)]})
    counts = clv_quantile_tiers(df).group_by("segment_value_tier").len()
    assert dict(counts.iter_rows()) == {"low": 25, "medium": 25, "high": 25, "top": 25}


def test_predicted_clv_on_cdnow_is_finite_and_ranks_repeat_buyers_higher() -> None:
    tx = cdnow_transactions()
    clv = predict_clv(tx, "customer", "date", "amount", now=date(1997, 9, 30))
    assert clv.height == 2357 and clv["clv_12m"].is_finite().all()
    top = clv.sort("clv_12m", descending=True).head(10)
    assert top["expected_purchases_12m"].min() > clv["expected_purchases_12m"].median()


def test_predicted_clv_refuses_data_without_repeat_purchases() -> None:
    tx = pl.DataFrame(
        {"customer": ["a", "b"], "day": [date(2026, 1, 1), date(2026, 2, 1)], "amount": [5.0, 6.0]}
    )
    with pytest.raises(ClvError, match="repeat purchase"):
        predict_clv(tx, "customer", "day", "amount", now=date(2026, 6, 1))
