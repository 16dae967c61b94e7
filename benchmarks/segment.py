"""Benchmark: ``segsync segment`` over 1,000,000 contacts + 200,000 companies.

Targets (issue 4): the default B2B playbook finishes in <= 30 s on a 2-core machine and
in no more than 4x the time polars needs merely to read the same inputs and write an
output of the same size. Both are measured in one run, each in a fresh child process
(the same ``segsync segment`` command line a user runs), with each child's peak RSS.

The inputs are generated here, vectorized and seeded, with the mess a real CRM export
has: country names in several languages and abbreviations, job titles with
abbreviations and in French/German/Spanish/..., tech stacks with mixed separators,
head-counts and revenues typed as text (``"1,200"``, ``"$4.5M"``, ``"n/a"``, junk),
lifecycle stages in internal and label spellings, gender in five spellings. Run:

    python benchmarks/segment.py [--contacts 1000000] [--companies 200000] [--format parquet]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from connectors.sandbox.seed.pools import (
    B2B_GOALS,
    B2B_USE_CASES,
    CHANNELS,
    COMPANY_TAILS,
    COMPANY_WORDS,
    COUNTRIES,
    FREE_MAIL,
    GENDERS,
    INDUSTRIES,
    INTERESTS,
    JOB_TITLES,
    LEAD_SOURCES,
    LEAD_STATUSES,
    LOCAL_JOB_TITLES,
    TECH_TOOLS,
)

NOW = datetime(2025, 6, 1, tzinfo=UTC)
DAY_US = 86_400_000_000
FIRST = (
    "anna",
    "ben",
    "carla",
    "david",
    "elena",
    "felix",
    "grace",
    "hiro",
    "ines",
    "jonas",
    "kate",
    "liam",
    "maria",
    "noah",
    "olga",
    "pablo",
    "quinn",
    "rosa",
    "sam",
    "tara",
)
LAST = (
    "smith",
    "muller",
    "garcia",
    "rossi",
    "martin",
    "tanaka",
    "silva",
    "kowalski",
    "jensen",
    "dubois",
    "schmidt",
    "lopez",
    "brown",
    "novak",
    "larsen",
    "costa",
    "wilson",
    "meyer",
)
STAGES = (
    ("subscriber", 18),
    ("lead", 28),
    ("marketingqualifiedlead", 10),
    ("MQL", 3),
    ("salesqualifiedlead", 8),
    ("opportunity", 6),
    ("Customer", 3),
    ("customer", 7),
    ("evangelist", 1),
    ("other", 3),
    ("", 13),
)
TARGET_SECONDS, TARGET_RATIO = 30.0, 4.0


def _pick(rng: np.random.Generator, pairs: Sequence[tuple[Any, float]], n: int) -> np.ndarray:
    """n weighted draws from ``(value, weight)`` pairs."""
    values = [v for v, _ in pairs]
    weights = np.array([w for _, w in pairs], dtype=np.float64)
    return np.array(values, dtype=object)[rng.choice(len(values), n, p=weights / weights.sum())]


def _messy_number(rng: np.random.Generator, values: np.ndarray, junk: float) -> pl.Series:
    """Numbers as CRM exports hold them in text fields: plain, "1,234", "$1.2M", blanks, junk."""
    n = len(values)
    plain = pl.col("v").cast(pl.Int64).cast(pl.String)
    thousands = (
        pl.when(pl.col("v") >= 1_000_000)
        .then(plain.str.replace(r"(\d)(\d{3})(\d{3})$", "$1,$2,$3"))
        .otherwise(plain.str.replace(r"(\d)(\d{3})$", "$1,$2"))
    )
    millions = pl.lit("$") + (pl.col("v") / 1e6).round(1).cast(pl.String) + pl.lit("M")
    s = pl.col("s")
    return (
        pl.DataFrame({"v": values, "s": rng.random(n)})
        .select(
            pl.when(s < junk)
            .then(pl.lit("approx. ") + plain + pl.lit("?"))  # a number with junk in it
            .when(s < junk + 0.02)
            .then(pl.lit("n/a"))
            .when(s < 0.2)
            .then(thousands)
            .when(s < 0.25)
            .then(pl.when(pl.col("v") >= 1_000_000).then(millions).otherwise(plain))
            .when(s < 0.3)
            .then(pl.lit(" ") + plain + pl.lit(" "))
            .otherwise(plain)
            .alias("v")
        )
        .to_series()
    )


def make_companies(n: int, seed: int) -> pl.DataFrame:
    """``n`` companies: names, domains, industries, long-tailed sizes, tech stacks."""
    rng = np.random.default_rng(seed)
    words = np.array(COMPANY_WORDS, dtype=object)[rng.integers(0, len(COMPANY_WORDS), n)]
    tails = np.array(COMPANY_TAILS, dtype=object)[rng.integers(0, len(COMPANY_TAILS), n)]
    employees = np.clip(np.exp(rng.normal(3.3, 1.7, n)), 1, 400_000).astype(np.int64)
    revenue = employees * np.exp(rng.normal(np.log(120_000), 0.6, n))
    country_pairs = [
        ((c.code, s), c.weight * w / sum(x for _, x in c.spellings))
        for c in COUNTRIES
        for s, w in c.spellings
    ]
    geo = _pick(rng, country_pairs, n)
    tools = [t for pool in TECH_TOOLS.values() for t in pool]
    k = np.clip((1 + np.log(employees + 1) * 1.1 + rng.normal(0, 1, n)).astype(int), 1, 12)
    picks = rng.integers(0, len(tools), (n, 12))
    seps = _pick(rng, (("; ", 80), (";", 8), (", ", 8), (" | ", 4)), n)
    stack = (
        pl.DataFrame({"t": picks, "k": k})
        .select(
            pl.col("t")
            .arr.to_list()
            .list.head(pl.col("k"))
            .list.eval(pl.element().replace_strict(list(range(len(tools))), tools))
            .list.unique(maintain_order=True)
        )
        .to_series()
    )
    idx = pl.int_range(1, n + 1, eager=True).cast(pl.String)
    frame = pl.DataFrame(
        {
            "id": "a" + idx,
            "name": pl.Series(words + " " + tails),
            "industry": _pick(rng, INDUSTRIES, n),
            "employees": _messy_number(rng, employees, 0.003),
            "annual_revenue": _messy_number(rng, np.round(revenue, -3), 0.003),
            "country": pl.Series([g[1] for g in geo]),
            "tech_stack": stack,
            "sep": seps,
            "founded_year": rng.integers(1900, 2024, n),
            "created_at": NOW.timestamp() * 1e6 - rng.random(n) * 1095 * DAY_US,
            "last_activity_at": NOW.timestamp() * 1e6 - rng.exponential(120, n) * DAY_US,
        }
    )
    return frame.with_columns(
        domain=pl.col("name").str.to_lowercase().str.replace_all(r"[^a-z]", "")
        + pl.col("id")
        + ".com",
        tech_stack=pl.when(pl.lit(rng.random(n) < 0.15))
        .then(None)
        .otherwise(pl.col("tech_stack").list.join(pl.col("sep"))),
        employees=pl.when(pl.lit(rng.random(n) < 0.05)).then(None).otherwise(pl.col("employees")),
        created_at=pl.from_epoch(pl.col("created_at").cast(pl.Int64), "us").dt.replace_time_zone(
            "UTC"
        ),
        last_activity_at=pl.from_epoch(
            pl.col("last_activity_at").cast(pl.Int64), "us"
        ).dt.replace_time_zone("UTC"),
    ).drop("sep")


def make_contacts(n: int, companies: pl.DataFrame, seed: int) -> pl.DataFrame:
    """``n`` contacts; 88% work at one of ``companies`` (bigger companies have more)."""
    rng = np.random.default_rng(seed + 1)
    m = companies.height
    weight = np.sqrt(np.exp(rng.normal(3.3, 1.7, m)))
    company = rng.choice(m, n, p=weight / weight.sum())
    has_company = rng.random(n) < 0.88
    local = [(t, 0.15) for pool in LOCAL_JOB_TITLES.values() for t in pool]
    titles = _pick(rng, [*JOB_TITLES, *local, ("", 6)], n)
    country_pairs = [
        (s, c.weight * w / sum(x for _, x in c.spellings))
        for c in COUNTRIES
        for s, w in c.spellings
    ]
    first = np.array(FIRST, dtype=object)[rng.integers(0, len(FIRST), n)]
    last = np.array(LAST, dtype=object)[rng.integers(0, len(LAST), n)]
    free = _pick(rng, FREE_MAIL, n)
    domains = companies.get_column("domain").to_numpy()[company]
    business = has_company & (rng.random(n) < 0.8)
    now_us = NOW.timestamp() * 1e6
    created = now_us - np.sqrt(rng.random(n)) * 1095 * DAY_US
    recency = rng.choice([15, 60, 200, 700], n, p=[0.3, 0.25, 0.2, 0.25]) * rng.random(n) * 2
    activity = np.where(rng.random(n) < 0.9, np.maximum(now_us - recency * DAY_US, created), np.nan)
    surveyed = rng.random(n) < 0.35
    interests = rng.integers(0, len(INTERESTS), (n, 3))
    idx = pl.int_range(1, n + 1, eager=True).cast(pl.String)

    def ts(values: np.ndarray) -> pl.Series:
        return pl.from_epoch(
            pl.Series(values).fill_nan(None).cast(pl.Int64), "us"
        ).dt.replace_time_zone("UTC")

    frame = pl.DataFrame(
        {
            "id": "c" + idx,
            "email": pl.Series(first + "." + last)
            + idx
            + "@"
            + pl.Series(np.where(business, domains, free)),
            "first_name": pl.Series(first).str.to_titlecase(),
            "last_name": pl.Series(last).str.to_titlecase(),
            "job_title": pl.Series(titles),
            "country": pl.Series(_pick(rng, country_pairs, n)),
            "company_id": pl.Series("a" + (company + 1).astype(str)).set(
                pl.Series(~has_company), None
            ),
            "lifecycle_stage": pl.Series(_pick(rng, STAGES, n)),
            "lead_status": pl.Series(_pick(rng, LEAD_STATUSES, n)),
            "source": pl.Series(_pick(rng, LEAD_SOURCES, n)),
            "created_at": ts(created),
            "last_activity_at": ts(activity),
            "email_opens": rng.poisson(8, n),
            "email_clicks": rng.poisson(1.5, n),
            "visits": rng.poisson(4, n),
            "page_views": rng.poisson(12, n),
            "interests": pl.Series(interests)
            .arr.to_list()
            .list.eval(pl.element().replace_strict(list(range(len(INTERESTS))), list(INTERESTS)))
            .list.join(";"),
            "use_case": pl.Series(
                np.array(B2B_USE_CASES, dtype=object)[rng.integers(0, len(B2B_USE_CASES), n)]
            ),
            "primary_goal": pl.Series(
                np.array(B2B_GOALS, dtype=object)[rng.integers(0, len(B2B_GOALS), n)]
            ),
            "preferred_channel": pl.Series(_pick(rng, CHANNELS, n)),
            "gender": pl.Series(_pick(rng, GENDERS, n)),
            "s": surveyed,
        }
    )
    blank = pl.col("s").not_()
    return (
        frame.with_columns(
            pl.when(blank).then(None).otherwise(pl.col(c)).alias(c)
            for c in ("interests", "use_case", "primary_goal", "preferred_channel")
        )
        .with_columns(
            pl.when(pl.col(c) == "").then(None).otherwise(pl.col(c)).alias(c)
            for c in ("job_title", "lifecycle_stage", "lead_status")
        )
        .drop("s")
    )


def generate(
    directory: Path, contacts: int, companies: int, fmt: str, seed: int
) -> dict[str, Path]:
    """Write the two input files; return their paths."""
    firms = make_companies(companies, seed)
    people = make_contacts(contacts, firms, seed)
    paths = {"contacts": directory / f"contacts.{fmt}", "companies": directory / f"companies.{fmt}"}
    for frame, path in ((people, paths["contacts"]), (firms, paths["companies"])):
        if fmt == "csv":
            frame.write_csv(path)
        else:
            frame.write_parquet(path)
    return paths


BASELINE = """
import sys, polars as pl
contacts, companies, output, columns = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
read = pl.read_csv if contacts.endswith(".csv") else pl.read_parquet
people = read(contacts)
firms = read(companies)
# An output of the same shape as segsync's: every row, as many columns (inputs repeated).
names = people.columns
extra = [pl.col(names[i % len(names)]).alias(f"x{i}") for i in range(columns - len(names))]
out = people.with_columns(extra)
out.write_csv(output) if output.endswith(".csv") else out.write_parquet(output)
"""


def timed(command: list[str], directory: Path) -> tuple[float, float, str]:
    """Run a child process; its wall time (s), its own peak RSS (MB) and stdout.

    Output goes to files, not pipes: a child that prints more than a pipe holds would
    otherwise block forever while we wait for it.
    """
    out_path, err_path = directory / "child.out", directory / "child.err"
    with out_path.open("w") as out, err_path.open("w") as err:
        started = time.perf_counter()
        child = subprocess.Popen(command, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    child.returncode = code
    if code != 0:
        raise RuntimeError(f"{command[:4]} exited {code}: {err_path.read_text()[-2000:]}")
    return seconds, usage.ru_maxrss / 1024, out_path.read_text()


def main() -> None:
    """Generate, time segsync and the read/write baseline, print both and the ratio."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--companies", type=int, default=200_000)
    parser.add_argument("--format", choices=("parquet", "csv"), default="parquet")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="segsync-bench-") as tmp:
        directory = Path(tmp)
        started = time.perf_counter()
        paths = generate(directory, args.contacts, args.companies, args.format, args.seed)
        print(
            f"generated {args.contacts:,} contacts + {args.companies:,} companies "
            f"({args.format}) in {time.perf_counter() - started:.1f} s"
        )
        output = directory / f"segmented.{args.format}"
        segsync = [
            sys.executable,
            "-m",
            "workers.cli.main",
            "segment",
            "--input",
            str(paths["contacts"]),
            "--companies",
            str(paths["companies"]),
            "--output",
            str(output),
            "--playbook",
            "b2b_saas",
            "--json",
            "--now",
            NOW.isoformat(),
        ]
        seg_s, seg_rss, out = timed(segsync, directory)
        summary = json.loads(out)
        columns = (
            len(pl.read_parquet_schema(output))
            if args.format == "parquet"
            else len(pl.scan_csv(output).collect_schema())
        )
        base_out = directory / f"baseline.{args.format}"
        base_s, base_rss, _ = timed(
            [
                sys.executable,
                "-c",
                BASELINE,
                str(paths["contacts"]),
                str(paths["companies"]),
                str(base_out),
                str(columns),
            ],
            directory,
        )
        ratio = seg_s / base_s
        mb = 1024 * 1024
        print(
            f"segsync segment   {seg_s:6.2f} s  peak RSS {seg_rss:7.0f} MB  "
            f"output {output.stat().st_size / mb:6.0f} MB, {columns} columns"
        )
        print(
            f"polars read+write {base_s:6.2f} s  peak RSS {base_rss:7.0f} MB  "
            f"output {base_out.stat().st_size / mb:6.0f} MB"
        )
        print(
            f"ratio {ratio:.2f}x (target <= {TARGET_RATIO}x); "
            f"time target <= {TARGET_SECONDS:.0f} s: {'OK' if seg_s <= TARGET_SECONDS else 'MISS'}"
        )
        print(f"rows {summary['rows']}, bad values {summary['bad_value_count']}")
        ok = seg_s <= TARGET_SECONDS and ratio <= TARGET_RATIO
        sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
