"""Benchmark: BG/NBD + Gamma-Gamma fit on 1,000,000 customers (target <= 20 s).

Customers are simulated from the BG/NBD story itself (gamma-distributed purchase
rates, beta-distributed dropout), with the CDNOW estimates as the true parameters, so
the printout also shows how close the fit comes to them.

    .venv/bin/python -m benchmarks.clv_fit [--customers 1000000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from benchmarks._harness import peak_rss_mb
from segmentation.clv import fit_bgnbd, fit_gamma_gamma

TRUE = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}


def simulate(n: int, weeks: float, seed: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    lam = rng.gamma(TRUE["r"], 1 / TRUE["alpha"], n)
    p = rng.beta(TRUE["a"], TRUE["b"], n)
    x = np.zeros(n)
    t_x = np.zeros(n)
    alive = np.ones(n, dtype=bool)
    clock = np.zeros(n)
    # Vectorised event loop over purchases, not customers: at most a few hundred rounds.
    while alive.any():
        gap = rng.exponential(1 / np.maximum(lam, 1e-12))
        clock = np.where(alive, clock + gap, clock)
        bought = alive & (clock <= weeks)
        x[bought] += 1
        t_x[bought] = clock[bought]
        alive = bought & (rng.random(n) >= p)
    spend = rng.gamma(6.25 * np.maximum(x, 1), 1 / rng.gamma(3.74, 1 / 15.44, n))
    monetary = np.where(x > 0, spend / np.maximum(x, 1), 0.0)
    return x, t_x, np.full(n, weeks), monetary


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=1_000_000)
    args = parser.parse_args()
    x, t_x, big_t, m = simulate(args.customers, 39.0, seed=3)
    started = time.perf_counter()
    bg = fit_bgnbd(x, t_x, big_t)
    gg = fit_gamma_gamma(x, m)
    elapsed = time.perf_counter() - started
    rss = peak_rss_mb()
    print(f"customers {args.customers:,} ({int((x > 0).sum()):,} with repeat purchases)")
    print(f"BG/NBD  r={bg.r:.3f} alpha={bg.alpha:.3f} a={bg.a:.3f} b={bg.b:.3f} (true {TRUE})")
    print(f"Gamma-Gamma p={gg.p:.2f} q={gg.q:.2f} v={gg.v:.2f}")
    print(f"fit time {elapsed:.2f} s (target <= 20 s), peak RSS {rss:.0f} MB")


if __name__ == "__main__":
    main()
