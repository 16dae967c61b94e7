"""Benchmark: RFM over 10,000,000 transactions for 1,000,000 customers (target <= 15 s).

.venv/bin/python -m benchmarks.rfm [--transactions 10000000] [--customers 1000000]
"""

from __future__ import annotations

import argparse
import time
from datetime import date

import numpy as np
import polars as pl

from benchmarks._harness import peak_rss_mb
from segmentation.rfm import rfm

TODAY = date(2026, 6, 30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--transactions", type=int, default=10_000_000)
    parser.add_argument("--customers", type=int, default=1_000_000)
    args = parser.parse_args()
    rng = np.random.default_rng(5)
    # Skewed purchase counts (many one-time buyers) and days over two years.
    customer = np.minimum(rng.zipf(1.3, args.transactions), args.customers) - 1
    customer = (customer + rng.integers(0, args.customers, args.transactions)) % args.customers
    frame = pl.DataFrame(
        {
            "customer": customer.astype(np.int64),
            "day": pl.Series(
                TODAY.toordinal() - rng.integers(0, 730, args.transactions) - 719163
            ).cast(pl.Date),
            "amount": rng.lognormal(3.5, 1.0, args.transactions).round(2),
        }
    )
    started = time.perf_counter()
    out = rfm(frame, "customer", "day", "amount", now=TODAY)
    elapsed = time.perf_counter() - started
    rss = peak_rss_mb()
    print(f"transactions {frame.height:,}, customers {out.height:,}")
    print(f"RFM time {elapsed:.2f} s (target <= 15 s), peak RSS {rss:.0f} MB")
    print(out.group_by("segment_rfm").len().sort("len", descending=True))


if __name__ == "__main__":
    main()
