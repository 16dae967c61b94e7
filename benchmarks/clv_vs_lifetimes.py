"""Benchmark: BG/NBD + Gamma-Gamma fit time, segsync vs the `lifetimes` package, one run.

Target (issue 5): no slower than lifetimes on the same CDNOW summary; prints both fits'
parameters and the time ratio. `lifetimes` is not a segsync dependency: install it in
the virtualenv to run this (`pip install lifetimes`). Optional --scale N repeats the
CDNOW customers N times for a larger fit.

    .venv/bin/python -m benchmarks.clv_vs_lifetimes [--scale 1] [--repeat 3]
"""

from __future__ import annotations

import argparse
import time
import warnings

import polars as pl

from segmentation.clv import fit_bgnbd, fit_gamma_gamma
from tests.segmentation.test_clv import cdnow_summary


def best_of(repeat: int, fn: object) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    from lifetimes import BetaGeoFitter, GammaGammaFitter

    summary = pl.concat([cdnow_summary()] * args.scale)
    x, t_x, big_t, m = (
        summary[c].to_numpy() for c in ("frequency", "recency", "T", "monetary_value")
    )
    repeat_mask = x > 0

    def ours() -> None:
        fit_bgnbd(x, t_x, big_t)
        fit_gamma_gamma(x, m)

    def theirs() -> None:
        BetaGeoFitter().fit(x, t_x, big_t)
        GammaGammaFitter().fit(x[repeat_mask], m[repeat_mask])

    ours_s, theirs_s = best_of(args.repeat, ours), best_of(args.repeat, theirs)
    bg = fit_bgnbd(x, t_x, big_t)
    ref = BetaGeoFitter().fit(x, t_x, big_t).params_
    print(f"customers           {summary.height:,}")
    print(
        f"segsync  r={bg.r:.3f} alpha={bg.alpha:.3f} a={bg.a:.3f} b={bg.b:.3f} "
        f"LL={bg.log_likelihood:.1f}"
    )
    print(f"lifetimes r={ref['r']:.3f} alpha={ref['alpha']:.3f} a={ref['a']:.3f} b={ref['b']:.3f}")
    print(f"fit time (best of {args.repeat}): segsync {ours_s:.3f} s, lifetimes {theirs_s:.3f} s")
    print(f"ratio segsync/lifetimes {ours_s / theirs_s:.2f}  (target <= 1.0)")


if __name__ == "__main__":
    main()
