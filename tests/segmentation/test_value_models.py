"""The engine adds RFM, predicted CLV and value tiers when transactions are given."""

from __future__ import annotations

import json
from typing import Any

import polars as pl
import pytest

from benchmarks.segment_sandbox import ANCHOR, seeded
from segmentation.engine import SegmentResult, segment
from segmentation.rfm import DEFAULT_SEGMENTS
from tests.segmentation.test_value import forbid_fitting
from workers.offline import load_shipped


def run(mode: str, playbook: str) -> tuple[pl.DataFrame, pl.DataFrame | None, dict[str, object]]:
    frames = seeded(mode, 2_000)
    result = segment(
        frames["contacts"],
        frames["companies"],
        frames.get("deals"),
        frames.get("orders"),
        playbook=load_shipped(playbook),
        now=ANCHOR,
    )
    return result.contacts, result.companies, result.summary


def test_b2c_shoppers_get_rfm_clv_and_a_clv_tier() -> None:
    contacts, _, summary = run("b2c", "b2c_retail")
    buyers = contacts.filter(pl.col("segment_rfm") != "no_purchase")
    assert buyers.height > 100
    others = contacts.filter(pl.col("segment_rfm") == "no_purchase")
    assert others.height > 0 and (others["segment_value_tier"] == "no_purchase").all()
    assert set(buyers["segment_rfm"].unique()) <= {s.name for s in DEFAULT_SEGMENTS}
    assert buyers["clv_12m"].is_finite().all() and (buyers["clv_12m"] >= 0).all()
    assert set(buyers["segment_value_tier"].unique()) <= {"low", "medium", "high", "top"}
    assert "rfm" in summary["segments"]["contacts"]  # type: ignore[index]


def test_b2b_companies_get_acv_tiers_and_their_contacts_inherit_them() -> None:
    contacts, companies, _ = run("b2b", "b2b_saas")
    assert companies is not None
    tiers = set(companies["segment_value_tier"].unique())
    assert {"long_tail"} < tiers <= {"enterprise", "mid_market", "smb", "long_tail"}
    linked = contacts.filter(pl.col("company_id").is_not_null())
    joined = linked.join(
        companies.select("id", pl.col("segment_value_tier").alias("company_tier")),
        left_on="company_id",
        right_on="id",
    ).filter(pl.col("segment_value_tier").is_not_null())
    assert joined.height > 0
    assert (joined["segment_value_tier"] == joined["company_tier"]).all()


def test_b2b_contacts_without_a_buying_company_are_named_like_such_companies() -> None:
    # Contacts with no company, or whose company has no won deal, were left empty and
    # printed as "None"; the companies themselves said no_purchase / long_tail.
    contacts, companies, summary = run("b2b", "b2b_saas")
    assert companies is not None
    for frame in (contacts, companies):
        assert frame["segment_rfm"].null_count() == 0
        assert frame["segment_value_tier"].null_count() == 0
        assert frame["reason_rfm"].null_count() == 0
    loners = contacts.filter(pl.col("company_id").is_null())
    assert loners.height > 0
    assert set(loners["segment_rfm"]) == {"no_purchase"}
    assert set(loners["segment_value_tier"]) == {"long_tail"}
    assert set(loners["reason_rfm"]) == {"no_purchase: no won deal in the last 365 days"}
    idle = companies.filter(pl.col("segment_rfm") == "no_purchase")
    assert set(idle["segment_value_tier"]) == {"long_tail"}
    segments = summary["segments"]["contacts"]  # type: ignore[index]
    assert None not in {row["segment"] for row in segments["rfm"] + segments["value_tier"]}


def test_the_playbook_configures_rfm_cells_and_acv_tiers() -> None:
    from segmentation.playbook import parse_playbook

    text = """
version: 1
name: custom
models:
  geographic:
    rules:
      - {name: emea, when: {field: region, eq: EMEA}}
    fallback: elsewhere
rfm:
  segments:
    - {name: best, recency: [4, 5], frequency: [1, 5]}
    - {name: rest, recency: [1, 3], frequency: [1, 5]}
value_tiers:
  tiers: [{name: big, minimum: 20000}, {name: small, minimum: 1}]
  fallback: none_yet
"""
    frames = seeded("b2b", 1_000)
    result = segment(
        frames["contacts"],
        frames["companies"],
        frames.get("deals"),
        playbook=parse_playbook(text),
        now=ANCHOR,
    )
    assert result.companies is not None
    assert set(result.companies["segment_rfm"].unique()) <= {"best", "rest", "no_purchase"}
    assert set(result.companies["segment_value_tier"].unique()) <= {"big", "small", "none_yet"}


def test_clusters_on_too_few_rows_are_skipped_with_a_note() -> None:
    frames = seeded("b2c", 30)
    result = segment(
        frames["contacts"],
        frames["companies"],
        orders=frames.get("orders"),
        playbook=load_shipped("b2c_retail"),
        now=ANCHOR,
    )
    assert "segment_cluster" not in result.contacts.columns
    assert str(result.summary["notes"]["clusters"]).startswith("clustering skipped")


def test_b2c_playbook_clusters_shoppers_into_stable_ids_that_edits_do_not_rename() -> None:
    frames = seeded("b2c", 2_000)
    first = segment(
        frames["contacts"],
        frames["companies"],
        orders=frames.get("orders"),
        playbook=load_shipped("b2c_retail"),
        now=ANCHOR,
    )
    assert first.clusters is not None
    values = set(first.contacts["segment_cluster"])
    assert values == {"cluster_1", "cluster_2", "cluster_3", "cluster_4", "cluster_5"}
    # 5% of the shoppers browse more: the clusters' page-view ranges move, values stay.
    edited = frames["contacts"].with_columns(
        pl.when(pl.int_range(pl.len()) % 20 == 0)
        .then(pl.col("page_views").cast(pl.Int64, strict=False).fill_null(0) + 15)
        .otherwise(pl.col("page_views").cast(pl.Int64, strict=False))
        .alias("page_views")
    )
    again = segment(
        edited,
        frames["companies"],
        orders=frames.get("orders"),
        playbook=load_shipped("b2c_retail"),
        now=ANCHOR,
        previous_clusters=first.clusters,
    )
    same = (first.contacts["segment_cluster"] == again.contacts["segment_cluster"]).mean()
    assert same is not None and float(same) >= 0.95


def test_a_runs_clv_fit_passed_back_gives_the_same_clv_without_refitting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    frames = seeded("b2c", 2_000)

    def run(previous_clv: dict[str, Any] | None = None) -> SegmentResult:
        return segment(
            frames["contacts"],
            frames["companies"],
            orders=frames.get("orders"),
            playbook=load_shipped("b2c_retail"),
            now=ANCHOR,
            previous_clv=previous_clv,
        )

    first = run()
    assert first.clv_fit is not None and set(first.clv_fit) == {"contacts"}
    stored = json.loads(json.dumps(first.clv_fit, allow_nan=False))
    forbid_fitting(monkeypatch)
    again = run(stored)
    assert again.clv_fit == stored
    assert again.contacts["clv_12m"].equals(first.contacts["clv_12m"])
    assert again.contacts["clv_12m"].drop_nulls().len() > 100


def test_a_stored_clv_fit_with_a_nan_parameter_stops_the_run_naming_it() -> None:
    frames = seeded("b2c", 300)
    fit = {
        "bgnbd": {"r": 0.24, "alpha": 4.4, "a": 0.79, "b": float("nan")},
        "gamma_gamma": {"p": 6.25, "q": 3.74, "v": 15.4},
        "fitted_at": "2026-01-01",
        "customers": 300,
    }
    for previous_clv, message in (
        ({"contacts": fit}, r"previous_clv\['contacts'\]: .*parameter 'b'"),
        (fit, "previous_clv is keyed by contacts or companies"),
    ):
        with pytest.raises(ValueError, match=message):
            segment(
                frames["contacts"],
                orders=frames.get("orders"),
                playbook=load_shipped("b2c_retail"),
                now=ANCHOR,
                previous_clv=previous_clv,
            )


def test_no_clv_means_no_clv_fit() -> None:
    frames = seeded("b2c", 300)
    result = segment(frames["contacts"], playbook=load_shipped("b2c_retail"), now=ANCHOR)
    assert result.clv_fit is None
