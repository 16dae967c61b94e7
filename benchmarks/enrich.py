"""Benchmark: enrich 1,000,000 contacts and 200,000 companies (plus their deals).

Target (issue 4): all enrichment in a few seconds on the 2-core machine. The sandbox
seed makes a realistic sample (messy countries, titles in five languages, tech
stacks), which is tiled with fresh ids to the full size. Two input shapes are timed:
typed columns (as the connectors deliver them) and all-text columns (as a CSV read
without schema inference delivers them, so every number and date is parsed too).
Run by hand:

    .venv/bin/python benchmarks/enrich.py [--contacts 1000000] [--companies 200000]
"""

from __future__ import annotations

import argparse
import resource
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial

import polars as pl

from connectors.sandbox.seed.generate import generate, job_titles
from segmentation.enrich import enrich_companies, enrich_contacts, parse_report
from segmentation.enrich.titles import classify_unique_titles


def peak_rss_mb() -> float:
    """This process's peak resident set size in MB (Linux reports KiB).

    Inlined rather than imported from ``_harness`` so the file runs as a script too.
    """
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def sample(
    contacts: int, companies: int, deals: int
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, datetime]:
    """Seeded contacts, companies and deals as canonical frames with string ids."""
    data = generate(42, contacts, companies, deals)

    def frame(kind: str, prefix: str) -> pl.DataFrame:
        table = data.tables[kind]
        return pl.DataFrame(table.columns, strict=False).with_columns(
            (pl.lit(prefix) + pl.int_range(table.size).cast(pl.String)).alias("id")
        )

    def link(kind: str, n: int) -> pl.Series:
        pairs = dict(data.links.get((kind, "company"), []))
        return pl.Series("company_id", [f"co{pairs[i]}" if i in pairs else None for i in range(n)])

    people = frame("contact", "ct").with_columns(link("contact", contacts))
    firms = frame("company", "co")
    pipeline = frame("deal", "dl").with_columns(link("deal", deals))
    return people, firms, pipeline, datetime.fromtimestamp(data.anchor_ms / 1000, UTC)


def tile(df: pl.DataFrame, times: int, ids: tuple[str, ...]) -> pl.DataFrame:
    """``times`` copies of ``df``, each copy's id columns suffixed with its copy number."""
    copies = [
        df.with_columns(pl.col(c) + f"_{k}" for c in ids if c in df.columns) for k in range(times)
    ]
    return pl.concat(copies)


def as_text(df: pl.DataFrame) -> pl.DataFrame:
    """Every scalar column as text, as a CSV reader without schema inference yields it."""
    return df.with_columns(
        pl.col(c).cast(pl.String) for c, dt in df.schema.items() if not isinstance(dt, pl.List)
    )


def timed(label: str, rows: int, fn: Callable[[], object]) -> float:
    """Run ``fn`` once and print its wall time and throughput."""
    start = time.perf_counter()
    fn()
    seconds = time.perf_counter() - start
    print(f"{label:<44} {seconds:6.2f} s  {rows / seconds:>12,.0f} rows/s")
    return seconds


def both(c: pl.DataFrame, f: pl.DataFrame, d: pl.DataFrame, now: datetime) -> None:
    """What the engine does: enrich companies (with roll-ups), then contacts."""
    enriched = enrich_companies(f, c, d, now=now)
    enrich_contacts(c, enriched, now=now)


def reports(c: pl.DataFrame, f: pl.DataFrame) -> None:
    """What the CLI does for bad-row reporting."""
    parse_report(c)
    parse_report(f)


def distinct_titles() -> list[str]:
    """Tens of thousands of distinct job titles: the seed's titles with qualifiers and regions.

    The seeded contacts share a few hundred titles, so the enrichment above classifies
    those only; a CRM of real people has far more distinct titles, and this is their cost.
    """
    qualifiers = ("", "Senior ", "Junior ", "Regional ", "Global ", "Interim ", "Deputy ", "Lead ")
    regions = ("", " EMEA", " APAC", " DACH", " Benelux", " Iberia", " Italia", " Japan", " LATAM")
    teams = ("", " - Team 1", " - Team 2", " (m/w/d)", " II", " III", " | SaaS", " & Partners")
    return [
        f"{q}{t}{r}{s}" for q in qualifiers for t in job_titles() for r in regions for s in teams
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--companies", type=int, default=200_000)
    parser.add_argument("--sample", type=int, default=20_000, help="seeded contacts before tiling")
    args = parser.parse_args()

    times = max(1, args.contacts // args.sample)
    n_companies = max(1, args.companies // times)
    start = time.perf_counter()
    people, firms, pipeline, now = sample(args.sample, n_companies, n_companies * 2)
    contacts = tile(people, times, ("id", "company_id"))
    companies = tile(firms, times, ("id",))
    deals = tile(pipeline, times, ("id", "company_id"))
    print(
        f"data: {contacts.height:,} contacts, {companies.height:,} companies, "
        f"{deals.height:,} deals ({time.perf_counter() - start:.1f} s to seed and tile)"
    )
    enrich_contacts(people.head(100), firms.head(100), now=now)  # build lookup tables once
    rows = contacts.height + companies.height

    for shape, (c, f, d) in {
        "typed": (contacts, companies, deals),
        "text": (as_text(contacts), as_text(companies), as_text(deals)),
    }.items():
        total = timed(
            f"enrich companies + contacts ({shape} input)", rows, partial(both, c, f, d, now)
        )
        timed(
            f"  contacts alone, own companies ({shape})",
            contacts.height,
            partial(enrich_contacts, c, f, now=now),
        )
        if shape == "text":
            timed("parse_report (contacts + companies, text)", rows, partial(reports, c, f))
        print(f"  {shape}: {total:.2f} s for {rows:,} rows")
    titles = distinct_titles()
    timed(
        f"classify {len(titles):,} distinct job titles",
        len(titles),
        partial(classify_unique_titles, titles),
    )
    print(f"peak RSS {peak_rss_mb():,.0f} MB")


if __name__ == "__main__":
    main()
