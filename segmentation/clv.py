"""Predictive customer lifetime value: BG/NBD for purchases, Gamma-Gamma for spend.

Conventions follow the buy-till-you-die literature (Fader, Hardie & Lee 2005): only
*repeat* purchases count towards frequency, purchases on the same day are one purchase,
recency and age are measured from each customer's first purchase. Everything is
vectorised over customers (numpy/scipy), so a fit on a million customers is a few
likelihood evaluations over arrays, never a Python loop per customer.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from numbers import Real
from typing import Any

import numpy as np
import polars as pl
from numpy.typing import NDArray
from scipy.special import betaln, gammaln

from segmentation.stable import stable_sum

Array = NDArray[np.float64]
_UNIT_DAYS = {"D": 1.0, "W": 7.0, "M": 365.25 / 12}


class ClvError(ValueError):
    """Input that a CLV model cannot be fitted on, said plainly."""


class ClvFitError(ValueError):
    """A stored CLV fit that cannot be reused (a missing, NaN or non-positive parameter).

    Not a :class:`ClvError`: that one means the data is too thin to fit, while this one
    means stored state is corrupt, which callers must not mistake for thin data.
    """


def summarize_transactions(
    df: pl.DataFrame,
    customer_col: str,
    date_col: str,
    amount_col: str,
    calibration_end: date | datetime,
    time_unit: str = "W",
) -> pl.DataFrame:
    """Per customer: ``frequency``, ``recency``, ``T`` and ``monetary_value``.

    ``frequency`` counts repeat purchase days up to ``calibration_end``; ``recency`` is
    the time from the first to the last purchase and ``T`` from the first purchase to
    ``calibration_end``, both in ``time_unit`` (D, W or M); ``monetary_value`` is the
    mean spend per repeat purchase day (0 without repeats).
    """
    if time_unit not in _UNIT_DAYS:
        raise ClvError(f"time_unit must be one of {', '.join(_UNIT_DAYS)}, not {time_unit!r}")
    end = calibration_end.date() if isinstance(calibration_end, datetime) else calibration_end
    # Times the reciprocal, not divided by the unit: polars divides one row exactly and
    # many by the reciprocal, and a customer summarized alone (a partial run) must get
    # the recency and age it gets among all.
    per_day = 1.0 / _UNIT_DAYS[time_unit]
    days = (
        df.lazy()
        .select(
            pl.col(customer_col).alias("customer"),
            pl.col(date_col).cast(pl.Date).alias("day"),
            pl.col(amount_col).cast(pl.Float64).alias("amount"),
        )
        .filter(pl.col("day") <= end)
        # Several transactions on one day are one purchase occasion.
        .group_by("customer", "day")
        .agg(stable_sum(pl.col("amount")))
        .sort("customer", "day")
    )
    first = pl.col("day").min()
    summary = days.group_by("customer").agg(
        (pl.len() - 1).alias("frequency"),
        ((pl.col("day").max() - first).dt.total_days() * per_day).alias("recency"),
        ((pl.lit(end) - first).dt.total_days() * per_day).alias("T"),
        # Repeat purchases only: the first day's spend says nothing about repeat value.
        pl.when(pl.len() > 1)
        .then((stable_sum(pl.col("amount")) - pl.col("amount").first()) / (pl.len() - 1))
        .otherwise(0.0)
        .alias("monetary_value"),
    )
    return summary.sort("customer").collect().rename({"customer": customer_col})


@dataclass(frozen=True, slots=True)
class BgNbdParams:
    """BG/NBD parameters and the log-likelihood of the fit (None when loaded without one)."""

    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready ``{"r", "alpha", "a", "b", "log_likelihood"}``."""
        return {
            "r": self.r,
            "alpha": self.alpha,
            "a": self.a,
            "b": self.b,
            "log_likelihood": self.log_likelihood,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BgNbdParams:
        """Parameters from :meth:`to_dict`; raises :class:`ClvFitError` on a bad one."""
        r, alpha, a, b = _positive(data, "BG/NBD", ("r", "alpha", "a", "b"))
        return cls(r, alpha, a, b, _likelihood(data, "BG/NBD"))


@dataclass(frozen=True, slots=True)
class GammaGammaParams:
    """Gamma-Gamma spend-model parameters and the log-likelihood of the fit."""

    p: float
    q: float
    v: float
    log_likelihood: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready ``{"p", "q", "v", "log_likelihood"}``."""
        return {"p": self.p, "q": self.q, "v": self.v, "log_likelihood": self.log_likelihood}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GammaGammaParams:
        """Parameters from :meth:`to_dict`; raises :class:`ClvFitError` on a bad one."""
        p, q, v = _positive(data, "Gamma-Gamma", ("p", "q", "v"))
        return cls(p, q, v, _likelihood(data, "Gamma-Gamma"))


@dataclass(frozen=True, slots=True)
class ClvFit:
    """A BG/NBD and a Gamma-Gamma fit made together, storable as JSON for later runs.

    ``fitted_at`` is the calibration end of the data it was fitted on, ``customers`` how
    many customers that data held, ``time_unit`` the unit recency and T were measured in
    (the parameters, ``alpha`` above all, only mean something in that unit).
    """

    purchases: BgNbdParams
    spend: GammaGammaParams
    fitted_at: date
    customers: int
    time_unit: str = "W"

    @property
    def units_per_month(self) -> float:
        """How many of the fit's time units make a month."""
        return 365.25 / 12 / _UNIT_DAYS[self.time_unit]

    def to_dict(self) -> dict[str, Any]:
        """``{"bgnbd": {...}, "gamma_gamma": {...}, "time_unit", "fitted_at", "customers"}``."""
        return {
            "bgnbd": self.purchases.to_dict(),
            "gamma_gamma": self.spend.to_dict(),
            "time_unit": self.time_unit,
            "fitted_at": self.fitted_at.isoformat(),
            "customers": self.customers,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ClvFit:
        """A fit from :meth:`to_dict`; raises :class:`ClvFitError` naming what is wrong."""
        if not isinstance(data, Mapping):
            raise ClvFitError(f"a stored CLV fit must be a mapping, not {type(data).__name__}")
        purchases = BgNbdParams.from_dict(_section(data, "bgnbd"))
        spend = GammaGammaParams.from_dict(_section(data, "gamma_gamma"))
        unit = data.get("time_unit", "W")
        if unit not in _UNIT_DAYS:
            raise ClvFitError(f"stored CLV fit: time_unit must be one of D, W, M, not {unit!r}")
        try:
            fitted_at = date.fromisoformat(str(data["fitted_at"]))
        except (KeyError, ValueError):
            raise ClvFitError(
                f"stored CLV fit: fitted_at must be an ISO date, not {data.get('fitted_at')!r}"
            ) from None
        customers = data.get("customers")
        if isinstance(customers, bool) or not isinstance(customers, int) or customers < 0:
            raise ClvFitError(f"stored CLV fit: customers must be a count >= 0, not {customers!r}")
        return cls(purchases, spend, fitted_at, customers, unit)


def _section(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    section = data.get(key)
    if not isinstance(section, Mapping):
        raise ClvFitError(f"stored CLV fit: {key!r} must be a mapping of parameters")
    return section


def _positive(data: Mapping[str, Any], model: str, names: tuple[str, ...]) -> list[float]:
    """The named parameters as floats, each present, finite and > 0."""
    if not isinstance(data, Mapping):
        raise ClvFitError(f"stored {model} fit must be a mapping, not {type(data).__name__}")
    values = []
    for name in names:
        if name not in data:
            raise ClvFitError(f"stored {model} fit lacks parameter {name!r}")
        value = data[name]
        # Every parameter is a gamma/beta shape or scale: zero or less, NaN or inf would
        # come out of the formulas as NaN CLVs rather than as an error.
        if (
            isinstance(value, bool)
            or not isinstance(value, Real)
            or not math.isfinite(value)
            or value <= 0
        ):
            raise ClvFitError(
                f"stored {model} parameter {name!r} must be a finite number > 0, not {value!r}"
            )
        values.append(float(value))
    return values


def _likelihood(data: Mapping[str, Any], model: str) -> float | None:
    value = data.get("log_likelihood")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise ClvFitError(f"stored {model} log_likelihood must be a finite number, not {value!r}")
    return float(value)


def _arrays(*columns: object) -> list[Array]:
    out = [np.asarray(c, dtype=np.float64) for c in columns]
    for arr in out:
        if arr.ndim != 1 or len(arr) != len(out[0]):
            raise ClvError("inputs must be 1-d and of equal length")
        if not np.all(np.isfinite(arr)):
            raise ClvError("inputs contain NaN or infinite values")
    return out


def bgnbd_log_likelihood(params: Array, frequency: Array, recency: Array, T: Array) -> Array:
    """Per-customer BG/NBD log-likelihood (Fader, Hardie & Lee 2005, eq. 6)."""
    r, alpha, a, b = params
    x, t_x = frequency, recency
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = betaln(a, b + x) - betaln(a, b)
    a3 = -(r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        a4 = np.where(
            x > 0,
            np.log(a) - np.log(np.maximum(b + x - 1, 1e-300)) - (r + x) * np.log(alpha + t_x),
            -np.inf,
        )
    return np.asarray(a1 + a2 + np.logaddexp(a3, a4), dtype=np.float64)


def check_bgnbd_data(frequency: object, recency: object, T: object) -> tuple[Array, Array, Array]:
    """The arrays a BG/NBD fit takes, or the :class:`ClvError` saying why it cannot."""
    x, t_x, big_t = _arrays(frequency, recency, T)
    if len(x) == 0:
        raise ClvError("no customers to fit")
    if np.any(x < 0) or np.any(t_x < 0) or np.any(t_x > big_t + 1e-9):
        raise ClvError("need frequency >= 0 and 0 <= recency <= T for every customer")
    if not np.any(x > 0):
        raise ClvError("no customer made a repeat purchase: BG/NBD cannot be fitted")
    return x, t_x, big_t


def fit_bgnbd(frequency: object, recency: object, T: object) -> BgNbdParams:
    """Maximum-likelihood BG/NBD fit (parameters optimised on the log scale)."""
    x, t_x, big_t = check_bgnbd_data(frequency, recency, T)

    def negative(log_params: Array) -> float:
        return -float(np.sum(bgnbd_log_likelihood(np.exp(log_params), x, t_x, big_t)))

    result = _minimize(negative, 4)
    r, alpha, a, b = np.exp(result.x)
    params = BgNbdParams(float(r), float(alpha), float(a), float(b), -float(result.fun))
    if not np.all(np.isfinite([r, alpha, a, b, result.fun])):
        raise ClvError("BG/NBD fit did not converge to finite parameters")
    return params


def fit_gamma_gamma(frequency: object, monetary_value: object) -> GammaGammaParams:
    """Maximum-likelihood Gamma-Gamma fit over customers with repeat purchases."""
    x, m = _arrays(frequency, monetary_value)
    keep = x > 0
    x, m = x[keep], m[keep]
    if len(x) < 2:
        raise ClvError("Gamma-Gamma needs at least two customers with repeat purchases")
    if np.any(m <= 0):
        raise ClvError("monetary values of repeat customers must be positive")

    def negative(log_params: Array) -> float:
        p, q, v = np.exp(log_params)
        px = p * x
        ll = (
            gammaln(px + q)
            - gammaln(px)
            - gammaln(q)
            + q * np.log(v)
            + (px - 1) * np.log(m)
            + px * np.log(x)
            - (px + q) * np.log(x * m + v)
        )
        return -float(np.sum(ll))

    result = _minimize(negative, 3)
    p, q, v = np.exp(result.x)
    if not np.all(np.isfinite([p, q, v, result.fun])):
        raise ClvError("Gamma-Gamma fit did not converge to finite parameters")
    return GammaGammaParams(float(p), float(q), float(v), -float(result.fun))


def probability_alive(params: BgNbdParams, frequency: object, recency: object, T: object) -> Array:
    """P(customer still active | history); 1 for customers without repeat purchases."""
    x, t_x, big_t = _arrays(frequency, recency, T)
    return 1.0 / (1.0 + _dropout_odds(params, x, t_x, big_t))


def expected_purchases(
    params: BgNbdParams, horizon: float, frequency: object, recency: object, T: object
) -> Array:
    """Expected repeat purchases in the next ``horizon`` time units (FHL 2005, eq. 10)."""
    from scipy.special import hyp2f1

    x, t_x, big_t = _arrays(frequency, recency, T)
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    if a == 1:
        raise ClvError("expected purchases are undefined for a = 1")
    ratio = (alpha + big_t) / (alpha + big_t + horizon)
    z = horizon / (alpha + big_t + horizon)
    head = (a + b + x - 1) / (a - 1)
    body = 1.0 - ratio ** (r + x) * hyp2f1(r + x, b + x, a + b + x - 1, z)
    return np.asarray(head * body / (1.0 + _dropout_odds(params, x, t_x, big_t)), dtype=np.float64)


def expected_spend(params: GammaGammaParams, frequency: object, monetary_value: object) -> Array:
    """Expected spend per purchase; customers without repeats get the population mean."""
    x, m = _arrays(frequency, monetary_value)
    p, q, v = params.p, params.q, params.v
    if q <= 1:
        raise ClvError("expected spend needs q > 1 (the spend prior has no finite mean)")
    population = p * v / (q - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        individual = p * (v + x * m) / (p * x + q - 1)
    return np.asarray(np.where(x > 0, individual, population), dtype=np.float64)


def customer_lifetime_value(
    purchases: BgNbdParams,
    spend: GammaGammaParams,
    frequency: object,
    recency: object,
    T: object,
    monetary_value: object,
    *,
    months: int = 12,
    monthly_discount_rate: float = 0.01,
    units_per_month: float = 365.25 / 12 / 7,
) -> Array:
    """Discounted expected value over the next ``months`` (purchases x spend per month).

    ``units_per_month`` converts months into the time unit the summary used (weeks by
    default).
    """
    if months < 1:
        raise ClvError("months must be at least 1")
    value_per_purchase = expected_spend(spend, frequency, monetary_value)
    total = np.zeros_like(value_per_purchase)
    previous = np.zeros_like(value_per_purchase)
    for month in range(1, months + 1):  # a handful of vectorised steps, not per customer
        cumulative = expected_purchases(purchases, month * units_per_month, frequency, recency, T)
        total += (cumulative - previous) * value_per_purchase / (1 + monthly_discount_rate) ** month
        previous = cumulative
    return total


def _dropout_odds(params: BgNbdParams, x: Array, t_x: Array, big_t: Array) -> Array:
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    with np.errstate(divide="ignore", invalid="ignore"):
        odds = (a / (b + x - 1)) * ((alpha + big_t) / (alpha + t_x)) ** (r + x)
    return np.asarray(np.where(x > 0, odds, 0.0), dtype=np.float64)


def _minimize(negative: Callable[[Array], float], size: int) -> Any:
    """Quasi-Newton from the origin of log-parameter space; a simplex search rescues it
    on the rare surfaces where the gradient steps stall."""
    # scipy.optimize costs a quarter second to import: paid only by runs that fit.
    from scipy.optimize import minimize

    result = minimize(negative, np.zeros(size), method="L-BFGS-B")
    if not result.success:
        rescue = minimize(negative, result.x, method="Nelder-Mead", options={"maxiter": 4000})
        result = minimize(negative, rescue.x, method="L-BFGS-B")
    return result
