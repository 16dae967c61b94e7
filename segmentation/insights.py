"""What a whole run knows about its segments beyond their sizes, for the console and report.

Per object type: the RFM grid (records and monetary value per recency x frequency
score), the CLV distribution (records per CLV band), records, revenue and CLV per value
tier, and the segment profiles with their five validation tests
(:func:`segmentation.report.build_profiles`).

A run over a million records segments them in parts (``workers/sync/plan.py``), so the
figures are built per part and merged: the grid, bands and tiers are sums and merge
exactly; the profiles need whole columns (medians, a Kruskal-Wallis test), so they are
computed on a sample drawn by a hash of each record's id — every record of a run under
``PROFILE_SAMPLE`` records, a stable share of a bigger one (``sampled`` says so).
No I/O: the caller stores the dict.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from segmentation.engine import SegmentResult
from segmentation.playbook import Playbook
from segmentation.report import build_profiles, revenue_column

PROFILE_SAMPLE = 50_000  # records per object type profiled at most
# CLV bands' lower edges (currency units): a log-like scale from nothing to whales.
CLV_EDGES = (0, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000)
TIER = "segment_value_tier"
_LABELS = {"contacts": "contact", "companies": "company"}
_BUCKETS = 1_000_000


@dataclass
class Insights:
    """Figures of one object type, summed over the parts seen so far."""

    records: int = 0
    grid: dict[tuple[int, int], list[float]] = field(default_factory=dict)  # count, monetary
    clv: list[int] | None = None  # records per band of CLV_EDGES
    tiers: dict[str, list[float]] = field(default_factory=dict)  # records, revenue, clv
    sample: list[pl.DataFrame] = field(default_factory=list)


class RunInsights:
    """Collects the parts of one whole run; :meth:`as_dict` gives the stored figures."""

    def __init__(self, playbook: Playbook, populations: dict[str, int]) -> None:
        """``populations``: the run's records per object type (``contacts``, ``companies``)."""
        self.playbook = playbook
        self.shares = {
            label: min(1.0, PROFILE_SAMPLE / n) if n > 0 else 1.0
            for label, n in populations.items()
        }
        self.kinds: dict[str, Insights] = {}

    def add(self, result: SegmentResult) -> None:
        """Fold one part's segmented frames in (only its sample is kept)."""
        frames = {"contacts": result.contacts, "companies": result.companies}
        for label, frame in frames.items():
            if frame is None or frame.height == 0:
                continue
            into = self.kinds.setdefault(label, Insights())
            into.records += frame.height
            _add_grid(into, frame)
            _add_clv(into, frame)
            _add_tiers(into, frame, revenue_column(frame, label))
            into.sample.append(self._sampled(frame, self.shares.get(label, 1.0)))

    @staticmethod
    def _sampled(frame: pl.DataFrame, share: float) -> pl.DataFrame:
        if share >= 1.0:
            return frame
        bucket = pl.col("id").cast(pl.String).hash(seed=7) % _BUCKETS
        return frame.filter(bucket < int(share * _BUCKETS))

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready figures keyed by object type (``contact``, ``company``)."""
        if not self.kinds:
            return {}
        samples = {
            label: pl.concat(kind.sample, how="diagonal_relaxed") if kind.sample else None
            for label, kind in self.kinds.items()
        }
        contacts = samples.get("contacts")
        sampled = SegmentResult(
            contacts=contacts if contacts is not None else pl.DataFrame({"id": []}),
            companies=samples.get("companies"),
        )
        profiles = build_profiles(sampled, self.playbook)
        out: dict[str, Any] = {}
        for label, kind in self.kinds.items():
            sample = samples[label]
            out[_LABELS[label]] = {
                "records": kind.records,
                "rfm_grid": [
                    {"r": r, "f": f, "records": int(n), "monetary": _money(m)}
                    for (r, f), (n, m) in sorted(kind.grid.items())
                ],
                "clv_bands": None
                if kind.clv is None
                else [
                    {"from": low, "to": high, "records": n}
                    for low, high, n in zip(
                        CLV_EDGES, (*CLV_EDGES[1:], None), kind.clv, strict=True
                    )
                ],
                "value_tiers": {
                    tier: {"records": int(n), "revenue": _money(rev), "clv": _money(clv)}
                    for tier, (n, rev, clv) in sorted(kind.tiers.items())
                },
                "profiles": profiles.get(label, {}).get("models", {}),
                "profiled": 0 if sample is None else sample.height,
                "sampled": self.shares.get(label, 1.0) < 1.0,
            }
        return out


def _add_grid(into: Insights, frame: pl.DataFrame) -> None:
    if not {"r_score", "f_score"} <= set(frame.columns):
        return
    money = pl.col("monetary") if "monetary" in frame.columns else pl.lit(0.0)
    cells = (
        frame.filter(pl.col("r_score").is_not_null() & pl.col("f_score").is_not_null())
        .group_by("r_score", "f_score")
        .agg(pl.len().alias("n"), money.cast(pl.Float64).fill_nan(None).sum().alias("m"))
    )
    for r, f, n, m in cells.iter_rows():
        cell = into.grid.setdefault((int(r), int(f)), [0, 0.0])
        cell[0] += n
        cell[1] += m or 0.0


def _add_clv(into: Insights, frame: pl.DataFrame) -> None:
    if "clv_12m" not in frame.columns:
        return
    clv = pl.col("clv_12m").cast(pl.Float64)
    known = frame.filter(clv.is_finite() & (clv >= 0))
    band = pl.lit(0, pl.Int32)
    for index, edge in enumerate(CLV_EDGES[1:], start=1):
        band = pl.when(clv >= edge).then(pl.lit(index, pl.Int32)).otherwise(band)
    counts = known.group_by(band.alias("band")).len()
    into.clv = into.clv or [0] * len(CLV_EDGES)
    for index, n in counts.iter_rows():
        into.clv[index] += n


def _add_tiers(into: Insights, frame: pl.DataFrame, revenue: str) -> None:
    if TIER not in frame.columns:
        return

    def total(name: str) -> pl.Expr:
        if name not in frame.columns:
            return pl.lit(0.0)
        number = pl.col(name).cast(pl.Float64)
        return pl.when(number.is_finite()).then(number).sum()

    rows = frame.group_by(pl.col(TIER).cast(pl.String).fill_null("(none)")).agg(
        pl.len().alias("n"), total(revenue).alias("revenue"), total("clv_12m").alias("clv")
    )
    for tier, n, rev, clv in rows.iter_rows():
        cell = into.tiers.setdefault(str(tier), [0, 0.0, 0.0])
        cell[0] += n
        cell[1] += rev or 0.0
        cell[2] += clv or 0.0


def _money(value: float) -> float:
    return round(value, 2) if math.isfinite(value) else 0.0
