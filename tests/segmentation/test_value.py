"""Value tiers by ACV and by predicted CLV."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import NoReturn

import polars as pl
import pytest

from segmentation.value import (
    ClvError,
    ClvFit,
    clv_quantile_tiers,
    predict_clv,
    predict_clv_with_fit,
    value_tiers,
)
from tests.segmentation.test_clv import cdnow_transactions


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
    assert out["reason_value_tier"][0] == "enterprise: won revenue 120000 >= 50000"


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


def forbid_fitting(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any attempt to fit fail, wherever the fitters are looked up."""

    def refuse(*_args: object) -> NoReturn:
        raise AssertionError("a stored fit was given: nothing should be fitted")

    for module in ("segmentation.clv", "segmentation.value"):
        monkeypatch.setattr(f"{module}.fit_bgnbd", refuse)
        monkeypatch.setattr(f"{module}.fit_gamma_gamma", refuse)


def test_a_stored_fit_round_trips_through_json_and_is_applied_without_fitting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tx = cdnow_transactions()
    end = date(1997, 9, 30)
    first, fit = predict_clv_with_fit(tx, "customer", "date", "amount", now=end)
    stored = json.loads(json.dumps(fit.to_dict(), allow_nan=False))
    assert stored["fitted_at"] == "1997-09-30" and stored["customers"] == 2357
    assert ClvFit.from_dict(stored) == fit
    forbid_fitting(monkeypatch)
    again, used = predict_clv_with_fit(tx, "customer", "date", "amount", now=end, fitted=stored)
    assert used == fit
    assert again.equals(first)


def test_a_stored_fit_on_more_transactions_moves_values_not_parameters(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tx = cdnow_transactions()
    end = date(1997, 9, 30)
    before, fit = predict_clv_with_fit(tx, "customer", "date", "amount", now=end)
    stored = fit.to_dict()
    # 5% more purchases in the calibration period, each a week after an existing one.
    calibration = tx.filter(pl.col("date") <= end)
    extra = (
        calibration.filter(pl.col("date") <= end - timedelta(days=7))
        .sample(n=round(0.05 * calibration.height), seed=7)
        .with_columns(pl.col("date") + timedelta(days=7))
    )
    forbid_fitting(monkeypatch)
    after, used = predict_clv_with_fit(
        pl.concat([tx, extra]), "customer", "date", "amount", now=end, fitted=stored
    )
    assert used.to_dict() == stored
    moved = before.join(after, on="customer", suffix="_after").filter(
        (pl.col("clv_12m") - pl.col("clv_12m_after")).abs() > 1e-9
    )
    assert moved.height > 50


@pytest.mark.parametrize(
    ("section", "name", "value"),
    [("bgnbd", "alpha", float("nan")), ("gamma_gamma", "q", -2.0), ("bgnbd", "r", None)],
)
def test_a_stored_fit_with_a_bad_parameter_is_refused_by_name(
    section: str, name: str, value: float | None
) -> None:
    tx = cdnow_transactions()
    end = date(1997, 9, 30)
    _, fit = predict_clv_with_fit(tx, "customer", "date", "amount", now=end)
    stored = fit.to_dict()
    if value is None:
        del stored[section][name]
    else:
        stored[section][name] = value
    with pytest.raises(ValueError, match=f"parameter '{name}'"):
        predict_clv(tx, "customer", "date", "amount", now=end, fitted=stored)
