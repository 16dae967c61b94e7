"""BG/NBD and Gamma-Gamma reproduce the published CDNOW estimates."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
import pytest

from segmentation.clv import (
    ClvError,
    customer_lifetime_value,
    expected_purchases,
    fit_bgnbd,
    fit_gamma_gamma,
    probability_alive,
    summarize_transactions,
)
from tests.paths import DATA

CDNOW = DATA / "cdnow" / "CDNOW_sample.txt"


def cdnow_transactions() -> pl.DataFrame:
    """The CDNOW sample as (customer, date, amount) rows."""
    rows = [line.split() for line in CDNOW.read_text().splitlines() if line.strip()]
    return pl.DataFrame(
        {
            "customer": [r[1] for r in rows],
            "date": [r[2] for r in rows],
            "amount": [float(r[4]) for r in rows],
        }
    ).with_columns(pl.col("date").str.strptime(pl.Date, "%Y%m%d"))


def cdnow_summary() -> pl.DataFrame:
    # The papers calibrate on the first 39 weeks: 1997-01-01 .. 1997-09-30.
    return summarize_transactions(
        cdnow_transactions(), "customer", "date", "amount", date(1997, 9, 30)
    )


def sig3(value: float) -> float:
    return float(f"{value:.3g}")


def test_summary_follows_the_btyd_conventions() -> None:
    summary = cdnow_summary()
    assert summary.height == 2357
    first = summary.filter(pl.col("customer") == "0001").row(0, named=True)
    # Customer 0001 bought on Jan 1, Jan 18 and Aug 2 in the calibration period.
    assert first["frequency"] == 2
    assert first["T"] == pytest.approx(272 / 7)
    assert first["recency"] == pytest.approx(213 / 7)
    assert first["monetary_value"] == pytest.approx((29.73 + 14.96) / 2)


def test_bgnbd_reproduces_fader_hardie_lee_2005() -> None:
    s = cdnow_summary()
    fit = fit_bgnbd(s["frequency"], s["recency"], s["T"])
    assert (sig3(fit.r), sig3(fit.alpha), sig3(fit.a), sig3(fit.b)) == (0.243, 4.41, 0.793, 2.43)
    assert fit.log_likelihood == pytest.approx(-9582.4, abs=0.1)


def test_gamma_gamma_reproduces_the_published_estimates() -> None:
    s = cdnow_summary()
    fit = fit_gamma_gamma(s["frequency"], s["monetary_value"])
    assert (sig3(fit.p), sig3(fit.q), sig3(fit.v)) == (6.25, 3.74, 15.4)


def test_degenerate_inputs_get_clear_errors() -> None:
    with pytest.raises(ClvError, match="no customer made a repeat purchase"):
        fit_bgnbd([0, 0], [0.0, 0.0], [10.0, 5.0])
    with pytest.raises(ClvError, match="NaN"):
        fit_bgnbd([1, float("nan")], [1.0, 0.0], [10.0, 5.0])
    with pytest.raises(ClvError, match="recency <= T"):
        fit_bgnbd([1], [11.0], [10.0])
    with pytest.raises(ClvError, match="at least two"):
        fit_gamma_gamma([3], [10.0])


def test_predictions_match_the_papers_worked_example() -> None:
    s = cdnow_summary()
    fit = fit_bgnbd(s["frequency"], s["recency"], s["T"])
    # FHL 2005: x = 2, t_x = 30.43, T = 38.86 -> 1.226 purchases expected in 39 weeks.
    expected = expected_purchases(fit, 39, [2], [30.43], [38.86])
    assert expected[0] == pytest.approx(1.226, abs=0.002)
    alive = probability_alive(fit, [0, 2, 2], [0.0, 30.43, 5.0], [38.86, 38.86, 38.86])
    assert alive[0] == 1.0 and alive[1] > alive[2]  # a recent buyer is likelier alive


def test_clv_is_positive_discounted_and_grows_with_the_horizon() -> None:
    s = cdnow_summary()
    purchases = fit_bgnbd(s["frequency"], s["recency"], s["T"])
    spend = fit_gamma_gamma(s["frequency"], s["monetary_value"])
    cols = (s["frequency"], s["recency"], s["T"], s["monetary_value"])
    year = customer_lifetime_value(purchases, spend, *cols, months=12)
    two_years = customer_lifetime_value(purchases, spend, *cols, months=24)
    undiscounted = customer_lifetime_value(
        purchases, spend, *cols, months=12, monthly_discount_rate=0.0
    )
    assert np.all(year >= 0) and np.all(np.isfinite(year))
    assert np.all(two_years >= year) and np.all(undiscounted >= year)
    assert float(np.mean(year)) > 0
