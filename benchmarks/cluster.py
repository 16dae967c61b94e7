"""Benchmark: cluster 1,000,000 company rows (target <= 60 s), then re-run with the
previous model as a nightly job would.

python -m benchmarks.cluster [--rows 1000000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import polars as pl

from benchmarks._harness import peak_rss_mb
from segmentation.cluster import assign_clusters, fit_clusters

REGIONS = np.array(["NA", "EMEA", "APAC", "LATAM"])
INDUSTRIES = np.array(["fintech", "retail", "health", "saas", "manufacturing", "media"])


def companies(n: int, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    group = rng.integers(0, 5, n)
    employees = np.exp(rng.normal(np.array([3, 5, 7, 4, 6])[group], 0.8))
    revenue = employees * rng.lognormal(11.5, 0.6, n)
    engagement = np.clip(rng.normal(np.array([20, 60, 40, 85, 10])[group], 12), 0, 100)
    region = np.where(rng.random(n) < 0.7, REGIONS[group % 4], rng.choice(REGIONS, n))
    industry = np.where(rng.random(n) < 0.6, INDUSTRIES[group], rng.choice(INDUSTRIES, n)).astype(
        object
    )
    industry[rng.random(n) < 0.05] = None  # unknown industry: imputed as "missing"
    return pl.DataFrame(
        {
            "id": np.arange(n),
            "employees": employees.round(),
            "annual_revenue": revenue.round(-3),
            "engagement": engagement,
            "region": region,
            "industry": pl.Series(industry, dtype=pl.String),
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    frame = companies(args.rows)
    numeric = ["employees", "annual_revenue", "engagement"]
    categorical = ["region", "industry"]

    started = time.perf_counter()
    model = fit_clusters(frame, numeric, categorical)
    fitted = time.perf_counter()
    out = assign_clusters(frame, model)
    elapsed = time.perf_counter() - started
    print(f"rows {frame.height:,}, k {model.k} (silhouette {model.silhouette:.3f})")
    print(
        f"cluster time {elapsed:.2f} s (fit {fitted - started:.2f} s, "
        f"assign {elapsed - (fitted - started):.2f} s; target <= 60 s), "
        f"peak RSS {peak_rss_mb():.0f} MB"
    )
    print(out.group_by("cluster_id", "segment_cluster").len().sort("cluster_id"))

    # Nightly re-run: 5% of rows changed, previous model passed in.
    rng = np.random.default_rng(1)
    mask = rng.random(frame.height) < 0.05
    engagement = frame["engagement"].to_numpy().copy()
    engagement[mask] = rng.uniform(0, 100, int(mask.sum()))
    changed = frame.with_columns(pl.Series("engagement", engagement))
    started = time.perf_counter()
    again = fit_clusters(changed, numeric, categorical, seed=1, previous=model)
    out2 = assign_clusters(changed, again)
    elapsed = time.perf_counter() - started
    same = float((out["cluster_id"].to_numpy() == out2["cluster_id"].to_numpy()).mean())
    print(
        f"re-run with previous model {elapsed:.2f} s, k {again.k}, same label {same:.1%}, "
        f"peak RSS {peak_rss_mb():.0f} MB"
    )


if __name__ == "__main__":
    main()
