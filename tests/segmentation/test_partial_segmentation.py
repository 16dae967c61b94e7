"""Partial segmentation against stored population statistics is exact.

Segmenting some records together with what they roll up into (a contact's company, a
company's contacts, their deals and orders), with the statistics of a full run, gives
each of them exactly what the full run gave it: every segment, score and reason, and
every enriched or derived column besides.
"""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from benchmarks.partial_segment import ANCHOR, b2b_with_clusters, closure, mismatches, run
from benchmarks.segment_sandbox import seeded
from segmentation.engine import PopulationStatistics, SegmentResult, population_statistics
from segmentation.parts import merged_summary, parts_of
from segmentation.playbook import Playbook
from segmentation.playbook.model import RfmSection
from segmentation.rfm import bounded_score, quantile_score, score_bounds
from segmentation.statistics import StatisticsError
from workers.offline import load_shipped

Frames = dict[str, pl.DataFrame]
CONTACTS = 3000


def b2b_frames() -> Frames:
    frames = seeded("b2b", CONTACTS)
    # A won deal without an amount makes the Gamma-Gamma fit refuse the data; without
    # them the companies' CLV is fitted, and so covered here too.
    frames["deals"] = frames["deals"].filter(pl.col("amount").cast(pl.Float64, strict=False) > 0)
    return frames


CASES = {"b2b": (b2b_with_clusters, b2b_frames), "b2c": (lambda: load_shipped("b2c_retail"), None)}


@pytest.fixture(scope="module", params=sorted(CASES))
def population(request: pytest.FixtureRequest) -> tuple[Frames, Playbook, SegmentResult]:
    """(frames, playbook, full run) for each shipped playbook, on seeded sandbox data."""
    make_book, make_frames = CASES[request.param]
    frames = make_frames() if make_frames is not None else seeded(request.param, CONTACTS)
    book = make_book()
    return frames, book, run(frames, book)


def sample_contacts(frames: Frames, n: int, seed: int) -> list[str]:
    ids = frames["contacts"]["id"].to_list()
    return [str(i) for i in np.random.default_rng(seed).choice(ids, n, replace=False)]


def test_statistics_are_plain_json_and_cover_every_statistical_model(
    population: tuple[Frames, Playbook, SegmentResult],
) -> None:
    _frames, _book, whole = population
    stored = json.loads(json.dumps(whole.statistics, allow_nan=False))
    assert stored == whole.statistics
    assert stored["version"] == 1
    (name,) = stored["populations"]  # contacts (B2C orders) or companies (B2B deals)
    entry = stored["populations"][name]
    assert set(entry["rfm"]) >= {"bins", "recency_days", "frequency", "monetary"}
    assert entry["clv"]["fit"] is not None, entry["clv"]
    assert stored["clusters"]["model"]["centroids"], "clustering must be active"
    if name == "contacts":
        assert len(entry["clv_tiers"]["bounds"]) == len(entry["clv_tiers"]["labels"]) - 1


def test_full_population_with_its_statistics_is_unchanged(
    population: tuple[Frames, Playbook, SegmentResult],
) -> None:
    frames, book, whole = population
    again = run(frames, book, json.loads(json.dumps(whole.statistics)))
    assert mismatches(again, whole) == {}
    assert again.statistics == whole.statistics


def test_a_subset_with_its_roll_ups_gets_exactly_the_full_runs_values(
    population: tuple[Frames, Playbook, SegmentResult],
) -> None:
    frames, book, whole = population
    part_frames = closure(frames, sample_contacts(frames, 50, seed=3))
    assert part_frames["contacts"].height < frames["contacts"].height // 3
    part = run(part_frames, book, json.loads(json.dumps(whole.statistics)))
    assert mismatches(part, whole) == {}
    # Not vacuous: computing the statistics on the subset instead gives other values.
    fresh = run(part_frames, book)
    differ = mismatches(fresh, whole)
    assert any(c.endswith(("r_score", "segment_cluster")) for c in differ), differ


def test_a_changed_record_is_placed_by_the_stored_statistics_not_new_ones(
    population: tuple[Frames, Playbook, SegmentResult],
) -> None:
    frames, book, whole = population
    table = "orders" if "orders" in frames else "deals"
    who = buyer(frames, table)
    changed = dict(frames)
    amount = pl.col("amount").cast(pl.Float64, strict=False)
    changed[table] = frames[table].with_columns(
        pl.when(pl.col("contact_id") == who)
        .then(amount * 7 + 1000)
        .otherwise(amount)
        .alias("amount")
    )
    full = run(changed, book, whole.statistics)
    assert full.statistics == whole.statistics
    part = run(closure(changed, [who]), book, whole.statistics)
    assert mismatches(part, full) == {}
    # The change did reach the values the statistics place.
    before = whole.contacts.filter(pl.col("id") == who)["monetary"].item()
    after = full.contacts.filter(pl.col("id") == who)["monetary"].item()
    assert after != before


def buyer(frames: Frames, table: str) -> str:
    """A contact whose own orders (B2C) or won deals at their company (B2B) make part of
    a customer's RFM and CLV values."""
    rows = frames[table].filter(pl.col("amount").cast(pl.Float64, strict=False) > 0)
    if table == "deals":
        people = frames["contacts"].select(pl.col("id").alias("contact_id"), "company_id")
        rows = rows.filter(pl.col("is_won").fill_null(False)).join(
            people, on=["contact_id", "company_id"]
        )
    ids = rows["contact_id"].drop_nulls().unique().sort()
    return str(ids[len(ids) // 2])


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("higher_is_better", [True, False])
def test_bounds_reproduce_rank_scores_ties_included(seed: int, higher_is_better: bool) -> None:
    rng = np.random.default_rng(seed)
    bins = int(rng.integers(2, 11))
    # Heavy ties (half the values one number, like customers who bought once) and a few
    # distinct values, so that some scores are never reached.
    values = np.where(rng.random(500) < 0.5, 1, rng.integers(1, 3 + seed * 20, 500))
    frame = pl.DataFrame({"v": values.astype(np.float64)})
    bounds = score_bounds(frame["v"], bins, higher_is_better=higher_is_better)
    ranked = frame.select(quantile_score(pl.col("v"), bins, higher_is_better=higher_is_better))
    bounded = frame.select(bounded_score(pl.col("v"), bounds, higher_is_better=higher_is_better))
    assert ranked.to_series().to_list() == bounded.to_series().to_list()


def test_a_value_between_population_values_scores_like_its_neighbour_below() -> None:
    bounds = score_bounds(pl.Series([10.0, 20.0, 30.0, 40.0, 50.0]), 5)
    assert bounds == [20.0, 30.0, 40.0, 50.0]
    scores = pl.select(bounded_score(pl.lit(pl.Series([5.0, 25.0, 50.0, 99.0, None])), bounds))
    assert scores.to_series().to_list() == [1, 2, 5, 5, None]


def test_statistics_from_another_engine_version_are_refused(
    population: tuple[Frames, Playbook, SegmentResult],
) -> None:
    frames, book, whole = population
    older = {**whole.statistics, "version": 0}
    with pytest.raises(StatisticsError, match=r"version 0.*full segmentation"):
        run(frames, book, older)
    unversioned = {k: v for k, v in whole.statistics.items() if k != "version"}
    with pytest.raises(StatisticsError, match="no version"):
        run(frames, book, unversioned)


def test_statistics_for_other_rfm_settings_are_refused(
    population: tuple[Frames, Playbook, SegmentResult],
) -> None:
    frames, book, whole = population
    other = book.model_copy(update={"rfm": RfmSection.model_validate({"bins": 4})})
    with pytest.raises(StatisticsError, match=r"RFM bins 5.*4"):
        run(frames, other, whole.statistics)


def test_contacts_too_few_to_cluster_still_go_to_their_stored_centroid(
    population: tuple[Frames, Playbook, SegmentResult],
) -> None:
    frames, book, whole = population
    loners = frames["contacts"].filter(pl.col("company_id").is_null())["id"].head(3).to_list()
    part = run(closure(frames, loners), book, whole.statistics)
    assert part.contacts.height == 3
    assert "clusters" not in part.summary.get("notes", {})
    expected = whole.contacts.filter(pl.col("id").is_in(loners)).sort("id")["segment_cluster"]
    assert part.contacts.sort("id")["segment_cluster"].to_list() == expected.to_list()


def test_a_population_the_full_run_could_not_fit_clv_on_gets_no_clv_in_part_either() -> None:
    frames = seeded("b2b", CONTACTS)  # won deals without amounts: Gamma-Gamma refuses
    book = b2b_with_clusters()
    whole = run(frames, book)
    note = whole.summary["notes"]["companies"]
    assert note.startswith("CLV not predicted")
    assert whole.statistics["populations"]["companies"]["clv"] == {"fit": None, "note": note}
    part = run(closure(frames, sample_contacts(frames, 50, seed=5)), book, whole.statistics)
    assert part.summary["notes"]["companies"] == note
    assert mismatches(part, whole) == {}


def test_statistics_without_the_population_a_run_ranks_are_refused(
    population: tuple[Frames, Playbook, SegmentResult],
) -> None:
    frames, book, whole = population
    empty = {**whole.statistics, "populations": {}}
    with pytest.raises(StatisticsError, match="hold nothing for"):
        run(frames, book, empty)


def test_statistics_for_other_cluster_features_are_refused(
    population: tuple[Frames, Playbook, SegmentResult],
) -> None:
    frames, book, whole = population
    assert book.clustering is not None
    extra = dict(book.clustering.model_extra or {})
    extra["numeric"] = [*extra["numeric"], "visits"]
    section = book.clustering.model_validate({"enabled": True, **extra})
    other = book.model_copy(update={"clustering": section})
    with pytest.raises(StatisticsError, match="cluster features"):
        run(frames, other, whole.statistics)


def test_a_contact_alone_lands_in_the_cluster_it_had_among_many_even_on_a_near_tie() -> None:
    from segmentation.cluster import ClusterModel, NumericFeature, assign_clusters

    # Two centroids mirror each other across a = 0 (standardized); points sit within
    # rounding of that boundary, where scaling a chunk of one row and of many, or a
    # matrix product over many rows and over one, may disagree in the last bit.
    model = ClusterModel(
        numeric=(
            NumericFeature("a", False, 0.0, 0.123456789, 0.987654321),
            NumericFeature("b", False, 0.0, 0.0, 1.0),
        ),
        categorical=(),
        centroids=np.array([[0.3, 7.1], [-0.3, 7.1], [0.0, -9.0]]),
        ids=(1, 2, 3),
        descriptions=("east", "west", "south"),
    )
    rng = np.random.default_rng(0)
    near = 0.123456789 + rng.normal(0, 1e-15, 2000)
    frame = pl.DataFrame({"a": near, "b": rng.normal(3, 2, 2000)})
    together = assign_clusters(frame, model)["cluster_id"].to_list()
    alone = [assign_clusters(frame.slice(i, 1), model)["cluster_id"].item() for i in range(200)]
    assert alone == together[:200]


def test_contacts_re_segmented_one_at_a_time_get_the_full_runs_values(
    population: tuple[Frames, Playbook, SegmentResult],
) -> None:
    # What a change event does: one contact and what it rolls up into. A lone record
    # takes other code paths in polars (one-row chunks, one group) than a population.
    frames, book, whole = population
    found: dict[str, int] = {}
    for contact in sample_contacts(frames, 12, seed=11):
        part = run(closure(frames, [contact]), book, whole.statistics)
        for column, count in mismatches(part, whole).items():
            found[column] = found.get(column, 0) + count
    assert found == {}


# --- a whole population segmented in parts (runs over a million records) ---------------


def _statistics_first(frames: Frames, book: Playbook) -> PopulationStatistics:
    return population_statistics(
        frames["contacts"],
        frames["companies"],
        frames.get("deals"),
        frames.get("orders"),
        playbook=book,
        now=ANCHOR,
    )


def test_statistics_computed_first_equal_a_whole_runs(
    population: tuple[Frames, Playbook, SegmentResult],
) -> None:
    frames, book, whole = population
    found = _statistics_first(frames, book)
    assert found.statistics == whole.statistics
    assert found.clusters == whole.clusters
    assert found.clv_fit == whole.clv_fit


def test_statistics_of_a_playbook_without_clusters_need_no_rules_and_still_match() -> None:
    frames = b2b_frames()
    book = load_shipped("b2b_saas")
    assert book.clustering is None or not book.clustering.enabled
    whole = run(frames, book)
    found = _statistics_first(frames, book)
    assert found.statistics == whole.statistics
    assert found.clv_fit == whole.clv_fit
    assert whole.statistics["populations"], "the B2B deals must give a population to rank"


@pytest.mark.parametrize("count", [2, 7])
def test_parts_cut_by_company_segment_to_exactly_the_whole_runs_values(
    population: tuple[Frames, Playbook, SegmentResult], count: int
) -> None:
    frames, book, whole = population
    statistics = json.loads(json.dumps(whole.statistics))
    results = [
        run(
            {
                "contacts": p.contacts,
                "companies": p.companies,
                "deals": p.deals,
                "orders": p.orders,
            },
            book,
            statistics,
        )
        for p in parts_of(
            frames["contacts"],
            frames["companies"],
            frames.get("deals"),
            frames.get("orders"),
            count,
        )
    ]
    assert len(results) == count
    for result in results:
        assert mismatches(result, whole) == {}
    # Every record in exactly one part.
    people = pl.concat([r.contacts["id"] for r in results])
    assert people.n_unique() == people.len() == frames["contacts"].height
    firms = pl.concat([r.companies["id"] for r in results if r.companies is not None])
    assert firms.n_unique() == firms.len() == frames["companies"].height
    # And the counts the run reports are the whole run's.
    assert merged_summary([r.summary for r in results]) == whole.summary
