"""A whole run's insights: the same figures whether it segmented in one part or many."""

from __future__ import annotations

from dataclasses import replace

import polars as pl
import pytest

from benchmarks.segment_sandbox import ANCHOR, seeded
from segmentation import insights
from segmentation.engine import SegmentResult, segment
from segmentation.insights import CLV_EDGES, RunInsights
from workers.offline import load_shipped

BOOK = load_shipped("b2c_retail")


@pytest.fixture(scope="module")
def result() -> SegmentResult:
    frames = seeded("b2c", 3_000)
    return segment(
        frames["contacts"],
        frames.get("companies"),
        frames.get("deals"),
        frames.get("orders"),
        playbook=BOOK,
        now=ANCHOR,
    )


def figures(result: SegmentResult, parts: int) -> dict:
    companies = result.companies.height if result.companies is not None else 0
    collected = RunInsights(BOOK, {"contacts": result.contacts.height, "companies": companies})
    people = result.contacts.with_row_index("_i")
    for part in range(parts):
        own = people.filter(pl.col("_i") % parts == part).drop("_i")
        firms = None
        if result.companies is not None and part == 0:
            firms = result.companies
        collected.add(replace(result, contacts=own, companies=firms))
    return collected.as_dict()


def test_parts_merge_into_the_figures_of_one_whole(result: SegmentResult) -> None:
    whole, parted = figures(result, 1), figures(result, 4)
    contact = whole["contact"]
    for key in ("records", "rfm_grid", "clv_bands", "value_tiers"):
        assert parted["contact"][key] == contact[key], key
    # The grid places every scored contact once; the bands every contact with a CLV.
    scored = result.contacts.filter(
        pl.col("r_score").is_not_null() & pl.col("f_score").is_not_null()
    )
    assert sum(c["records"] for c in contact["rfm_grid"]) == scored.height > 0
    assert {(c["r"], c["f"]) for c in contact["rfm_grid"]} <= {
        (r, f) for r in range(1, 6) for f in range(1, 6)
    }
    clv = result.contacts["clv_12m"]
    assert sum(b["records"] for b in contact["clv_bands"]) == int(
        (clv.is_finite() & (clv >= 0)).sum()
    )
    assert [b["from"] for b in contact["clv_bands"]] == list(CLV_EDGES)
    top = max(clv.drop_nans().drop_nulls())
    band = max(i for i, edge in enumerate(CLV_EDGES) if top >= edge)
    assert contact["clv_bands"][band]["records"] >= 1
    tiers = contact["value_tiers"]
    assert sum(t["records"] for t in tiers.values()) == result.contacts.height
    assert tiers["top"]["revenue"] > tiers["low"]["revenue"]  # where the revenue sits


def test_profiles_carry_the_five_tests_and_a_big_run_profiles_a_sample(
    result: SegmentResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = figures(result, 1)["contact"]
    assert not whole["sampled"] and whole["profiled"] == result.contacts.height
    rfm = whole["profiles"]["rfm"]["segments"]
    assert {s["segment"] for s in rfm} == set(result.contacts["segment_rfm"].unique())
    for profiled in rfm:
        assert set(profiled["validation"]) == {
            "measurable", "substantial", "accessible", "differentiable", "actionable"
        }  # fmt: skip
    monkeypatch.setattr(insights, "PROFILE_SAMPLE", 600)
    sampled = figures(result, 3)["contact"]
    assert sampled["sampled"] and 450 <= sampled["profiled"] <= 750
    # Exact figures stay exact; only the profiles are estimated from the sample.
    assert sampled["rfm_grid"] == whole["rfm_grid"]
    assert sampled["records"] == result.contacts.height
