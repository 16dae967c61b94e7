"""Benchmark: re-segmenting what changed against stored statistics vs the whole base.

An incremental run re-segments the changed contacts and what they roll up into (their
companies, every contact and deal of those companies, their own deals and orders)
against the population statistics of the last full run (issue 13). This times, for
each shipped playbook on the sandbox's seeded data (B2B with its optional clustering
switched on, so every statistical model runs):

- the full run over the whole base (computing the statistics),
- the full run again with those statistics (applying them),
- a partial run: ``--affected`` random contacts plus their closure, with the statistics,

and checks that the partial run gives every record the full run's values. Run:

    python -m benchmarks.partial_segment [--contacts 200000] [--affected 1000] [--seed 42]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import polars as pl

from benchmarks.segment_sandbox import ANCHOR, seeded
from segmentation.engine import SegmentResult, segment
from segmentation.playbook import Playbook, parse_playbook

Frames = dict[str, pl.DataFrame]
# The commented-out clustering section of the shipped B2B playbook, switched on.
B2B_CLUSTERING = (
    "\nclustering: {k: 5, numeric: [company_employees, company_annual_revenue,"
    " email_opens, page_views], categorical: [region, department]}\n"
)


def b2b_with_clusters() -> Playbook:
    """The shipped B2B playbook with its optional clustering section switched on."""
    from workers.offline import playbook_source

    source, text = playbook_source("b2b_saas")
    return parse_playbook(text + B2B_CLUSTERING, source=source)


def b2c() -> Playbook:
    from workers.offline import load_shipped

    return load_shipped("b2c_retail")


def closure(frames: Frames, contact_ids: list[str]) -> Frames:
    """What re-segmenting ``contact_ids`` reads: the contacts, their companies, every
    contact of those companies, and every deal and order of any of them."""
    contacts = frames["contacts"]
    chosen = pl.col("id").is_in(contact_ids)
    firm_ids = contacts.filter(chosen)["company_id"].drop_nulls().unique().to_list()
    people = contacts.filter(chosen | pl.col("company_id").is_in(firm_ids))
    people_ids = people["id"].to_list()
    out = {
        "contacts": people,
        "companies": frames["companies"].filter(pl.col("id").is_in(firm_ids)),
    }
    if "deals" in frames:
        out["deals"] = frames["deals"].filter(
            pl.col("company_id").is_in(firm_ids) | pl.col("contact_id").is_in(people_ids)
        )
    if "orders" in frames:
        out["orders"] = frames["orders"].filter(pl.col("contact_id").is_in(people_ids))
    return out


def mismatches(part: SegmentResult, whole: SegmentResult) -> dict[str, int]:
    """Per ``side/column``, how many of ``part``'s records differ from ``whole``'s (a
    column only one of them has counts every record)."""
    found: dict[str, int] = {}
    for side in ("contacts", "companies"):
        mine: pl.DataFrame | None = getattr(part, side)
        theirs: pl.DataFrame | None = getattr(whole, side)
        if mine is None or theirs is None:
            if (mine is None) != (theirs is None):
                found[side] = 1
            continue
        for column in set(mine.columns) ^ set(theirs.columns):
            found[f"{side}/{column}"] = mine.height
        joined = mine.join(theirs, on="id", how="left", suffix="__whole")
        for column in mine.columns:
            if column == "id" or column not in theirs.columns:
                continue
            differs = int(joined[column].ne_missing(joined[f"{column}__whole"]).sum())
            if differs:
                found[f"{side}/{column}"] = differs
    return found


def run(frames: Frames, book: Playbook, statistics: dict[str, Any] | None = None) -> SegmentResult:
    return segment(
        frames["contacts"],
        frames["companies"],
        frames.get("deals"),
        frames.get("orders"),
        playbook=book,
        now=ANCHOR,
        statistics=statistics,
    )


def timed(work: Callable[[], Any], repeat: int = 1) -> tuple[float, Any]:
    """Best wall time (s) of ``repeat`` calls and the last call's result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = work()
        best = min(best, time.perf_counter() - started)
    return best, result


def bench(name: str, frames: Frames, book: Playbook, affected: int, seed: int) -> dict[str, int]:
    """Time one playbook's full, applied and partial runs; print them; return mismatches."""
    sizes = ", ".join(f"{v.height:,} {k}" for k, v in frames.items())
    print(f"{name}: {sizes}")
    full_s, whole = timed(lambda: run(frames, book), repeat=2)
    stored = json.loads(json.dumps(whole.statistics, allow_nan=False))
    applied_s, applied = timed(lambda: run(frames, book, stored), repeat=2)
    pool = frames["contacts"]["id"].to_list()
    ids = [str(i) for i in np.random.default_rng(seed).choice(pool, affected, replace=False)]
    pick_s, part_frames = timed(lambda: closure(frames, ids))
    part_s, part = timed(lambda: run(part_frames, book, stored), repeat=3)
    closure_sizes = ", ".join(f"{v.height:,} {k}" for k, v in part_frames.items())
    differ = mismatches(part, whole)
    same = mismatches(applied, whole)
    print(f"  full run (computes statistics)     {full_s:7.2f} s")
    print(
        f"  full run with stored statistics    {applied_s:7.2f} s  mismatches {sum(same.values())}"
    )
    print(f"  {affected:,} contacts + closure ({closure_sizes})")
    print(f"    picking the closure from frames  {pick_s:7.3f} s")
    print(
        f"    partial run with statistics      {part_s:7.3f} s  "
        f"({full_s / part_s:.0f}x faster than the full run)  mismatches {sum(differ.values())}"
    )
    print(f"  statistics: {len(json.dumps(stored)):,} bytes of JSON")
    return {**same, **differ}


def main() -> None:
    """Seed, time full and partial runs per playbook; exit 1 if a partial run is not exact."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--contacts", type=int, default=200_000)
    parser.add_argument("--affected", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    problems: dict[str, int] = {}
    for name, mode, make_book in (
        ("b2b_saas+clustering", "b2b", b2b_with_clusters),
        ("b2c_retail", "b2c", b2c),
    ):
        frames = seeded(mode, args.contacts, args.seed)
        found = bench(name, frames, make_book(), args.affected, args.seed)
        problems.update({f"{name}:{k}": v for k, v in found.items()})
    if problems:
        raise SystemExit(f"partial runs are not exact: {problems}")


if __name__ == "__main__":
    main()
