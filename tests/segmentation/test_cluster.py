"""Clustering: k by silhouette, stable ids as values, readable descriptions in reasons,
serialisation, ids kept across runs and within the option list."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from segmentation.cluster import ClusterModel, assign_clusters, fit_clusters

# Four well separated groups of companies: region, industry, size, engagement.
GROUPS = (
    ("EMEA", "fintech", 500.0, 80.0),
    ("NA", "retail", 20.0, 10.0),
    ("APAC", "health", 5_000.0, 40.0),
    ("NA", "saas", 60.0, 90.0),
)


def blobs(n: int, seed: int = 0) -> tuple[pl.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    group = rng.integers(0, len(GROUPS), n)
    region = np.array([g[0] for g in GROUPS])[group]
    industry = np.array([g[1] for g in GROUPS])[group]
    employees = np.array([g[2] for g in GROUPS])[group] * rng.lognormal(0, 0.15, n)
    engagement = np.array([g[3] for g in GROUPS])[group] + rng.normal(0, 3, n)
    frame = pl.DataFrame(
        {
            "id": np.arange(n),
            "region": region,
            "industry": industry,
            "employees": employees.round(),
            "engagement": engagement,
        }
    )
    return frame, group


NUMERIC = ["employees", "engagement"]
CATEGORICAL = ["region", "industry"]


def test_k_chosen_by_silhouette_on_separated_blobs() -> None:
    frame, group = blobs(6_000)
    model = fit_clusters(frame, NUMERIC, CATEGORICAL, sample_size=3_000)
    assert 3 <= model.k <= 8
    assert model.k == 4
    assert model.numeric[0].log  # employees is heavy-tailed
    out = assign_clusters(frame, model)
    # Each true group maps onto exactly one cluster.
    pairs = out.with_columns(pl.Series("group", group)).select("group", "cluster_id").unique()
    assert pairs.height == 4
    assert set(out.columns) >= {"cluster_id", "segment_cluster", "reason_cluster"}


def test_descriptions_tell_clusters_apart_and_go_in_the_reason_not_the_value() -> None:
    frame, _ = blobs(4_000)
    model = fit_clusters(frame, NUMERIC, CATEGORICAL, k=4)
    assert len(set(model.descriptions)) == 4
    joined = " | ".join(model.descriptions)
    for word in ("EMEA", "APAC", "retail", "saas"):
        assert word in joined
    out = assign_clusters(frame, model)
    assert set(out["segment_cluster"]) == {"cluster_1", "cluster_2", "cluster_3", "cluster_4"}
    emea = out.filter(pl.col("region") == "EMEA").select("segment_cluster", "reason_cluster")
    assert emea.unique().height == 1
    value, reason = emea.row(0)
    assert reason.startswith(f"{value}: ") and "EMEA" in reason and "fintech" in reason
    apac = out.filter(pl.col("region") == "APAC")["reason_cluster"].unique().to_list()
    assert len(apac) == 1 and "k employees" in apac[0]  # heavy-tailed: shown as a range


def test_values_are_ids_by_size_largest_first() -> None:
    frame, _ = blobs(4_000)
    out = assign_clusters(frame, fit_clusters(frame, NUMERIC, CATEGORICAL, k=4))
    sizes = out.group_by("segment_cluster").len().sort("len", descending=True)
    assert sizes["segment_cluster"].to_list() == [
        "cluster_1",
        "cluster_2",
        "cluster_3",
        "cluster_4",
    ]
    assert out.select(
        (pl.col("segment_cluster") == pl.format("cluster_{}", "cluster_id")).all()
    ).item()


def test_a_refit_on_moved_data_keeps_every_value_while_descriptions_move() -> None:
    # Engagement drifts up for everyone: the quartile ranges in the descriptions move
    # (the old values embedded them and renamed every record), the values must not.
    frame, _ = blobs(4_000)
    first = fit_clusters(frame, NUMERIC, CATEGORICAL, k=4)
    drifted = frame.with_columns(pl.col("employees") * 1.3, pl.col("engagement") + 4.0)
    second = fit_clusters(drifted, NUMERIC, CATEGORICAL, k=4, previous=first)
    assert first.descriptions != second.descriptions
    before = assign_clusters(frame, first)["segment_cluster"]
    after = assign_clusters(drifted, second)["segment_cluster"]
    assert (before == after).all()


def test_round_trip_through_json() -> None:
    frame, _ = blobs(3_000)
    model = fit_clusters(frame, NUMERIC, CATEGORICAL, k=4)
    again = ClusterModel.from_dict(json.loads(json.dumps(model.to_dict())))
    assert again.to_dict() == model.to_dict()
    np.testing.assert_array_equal(again.centroids, model.centroids)
    assert assign_clusters(frame, again).equals(assign_clusters(frame, model))


@pytest.mark.parametrize("seed", [0, 7])
def test_labels_stable_when_five_percent_change(seed: int) -> None:
    frame, _ = blobs(20_000)
    first = fit_clusters(frame, NUMERIC, CATEGORICAL, sample_size=5_000)
    before = assign_clusters(frame, first)["cluster_id"].to_numpy()

    # 5% of rows change: new engagement and size, some move to another region.
    rng = np.random.default_rng(1)
    changed = rng.choice(frame.height, size=frame.height // 20, replace=False)
    mask = np.zeros(frame.height, dtype=bool)
    mask[changed] = True
    engagement = frame["engagement"].to_numpy().copy()
    engagement[mask] = rng.uniform(0, 100, mask.sum())
    employees = frame["employees"].to_numpy().copy()
    employees[mask] *= rng.uniform(0.5, 2.0, mask.sum())
    region = frame["region"].to_numpy().copy()
    region[mask] = rng.choice(["EMEA", "NA", "APAC", "LATAM"], mask.sum())
    rerun = frame.with_columns(
        pl.Series("engagement", engagement),
        pl.Series("employees", employees),
        pl.Series("region", region),
    )
    # A different seed re-orders k-means' clusters; the ids must not follow.
    second = fit_clusters(
        rerun,
        NUMERIC,
        CATEGORICAL,
        sample_size=5_000,
        seed=seed,
        previous=ClusterModel.from_dict(first.to_dict()),
    )
    after = assign_clusters(rerun, second)["cluster_id"].to_numpy()
    assert (before == after).mean() >= 0.95
    assert (before[~mask] == after[~mask]).mean() >= 0.99


def test_hungarian_matching_and_fresh_ids_when_k_grows() -> None:
    frame, _ = blobs(3_000)
    first = fit_clusters(frame, NUMERIC, CATEGORICAL, k=4, seed=3)
    # k=5 cannot warm-start from 4 centroids, so only the matching keeps the ids.
    second = fit_clusters(frame, NUMERIC, CATEGORICAL, k=5, seed=11, previous=first)
    assert sorted(second.ids) == [1, 2, 3, 4, 5]
    before = assign_clusters(frame, first)["cluster_id"].to_numpy()
    after = assign_clusters(frame, second)["cluster_id"].to_numpy()
    # One blob is split; the part given the fresh id 5 is the only disagreement.
    assert (before[after != 5] == after[after != 5]).all()


def test_ids_stay_within_k_when_k_is_lowered() -> None:
    # The CRM's option list is cluster_1..cluster_k: an id past k would be rejected.
    frame, _ = blobs(3_000)
    five = fit_clusters(frame, NUMERIC, CATEGORICAL, k=5, seed=3)
    four = fit_clusters(frame, NUMERIC, CATEGORICAL, k=4, seed=3, previous=five)
    assert sorted(four.ids) == [1, 2, 3, 4]
    # Clusters matched to an id that is still in range keep it.
    kept = set(four.ids) & set(five.ids)
    assert len(kept) >= 3


def test_chosen_k_never_uses_an_id_past_the_top_of_the_range() -> None:
    frame, _ = blobs(3_000)
    model = fit_clusters(frame, NUMERIC, CATEGORICAL, k_range=(3, 6))
    assert set(model.ids) <= set(range(1, 7))
    assert model.values == tuple(f"cluster_{i}" for i in model.ids)


def test_a_model_stored_with_ids_from_zero_gets_ids_from_one() -> None:
    # Models stored before values were ids had ids 0..k-1 and their names as "names".
    frame, _ = blobs(3_000)
    current = fit_clusters(frame, NUMERIC, CATEGORICAL, k=4).to_dict()
    legacy = {k: v for k, v in current.items() if k != "descriptions"}
    legacy["ids"] = [i - 1 for i in current["ids"]]
    legacy["names"] = ["EMEA fintech", "NA retail", "APAC health", "NA saas"]
    stored = ClusterModel.from_dict(legacy)
    assert stored.descriptions == ("EMEA fintech", "NA retail", "APAC health", "NA saas")
    refit = fit_clusters(frame, NUMERIC, CATEGORICAL, k=4, previous=stored)
    assert sorted(refit.ids) == [1, 2, 3, 4]
    # Ids 1..3 were valid before and stay with their clusters; only the 0 is replaced.
    by_centroid = dict(zip(stored.ids, range(4), strict=True))
    for old in (1, 2, 3):
        assert old in refit.ids
        assert np.allclose(
            refit.centroids[refit.ids.index(old)], stored.centroids[by_centroid[old]], atol=0.1
        )


def test_nulls_imputed() -> None:
    frame, _ = blobs(3_000)
    holes = frame.with_columns(
        pl.when(pl.col("id") % 7 == 0).then(None).otherwise(pl.col("employees")).alias("employees"),
        pl.when(pl.col("id") % 5 == 0).then(None).otherwise(pl.col("region")).alias("region"),
    )
    out = assign_clusters(holes, fit_clusters(holes, NUMERIC, CATEGORICAL, k=4))
    assert out["cluster_id"].null_count() == 0


def test_rejects_no_features() -> None:
    frame, _ = blobs(100)
    with pytest.raises(ValueError):
        fit_clusters(frame, [], [])
