"""Clustering: data-driven segments (k-means, k in 3..8) with stable ids and descriptions.

Features are put into one standardized space: numeric columns have nulls imputed with
the sample median, heavy-tailed non-negative ones (skewness > 1, e.g. revenue or
employees) go through ``log1p`` first so a few giants do not become clusters of their
own, then everything is z-scored; categoricals become one-hot columns over their top
categories plus ``other`` and ``missing``. k-means is fitted on a sample and applied to
every row by nearest centroid, in chunks so memory stays bounded.

Ids are stable across runs: given the previous run's model, its centroids are mapped
into this run's space and matched to the new ones (Hungarian assignment), so
``cluster_2`` keeps its meaning; the previous model is an argument, never module state.
The id is the value written to the CRM (:mod:`segmentation.cluster_ids`); the readable
description ("millennial, 12-50 page_views") moves with the data and so goes only into
the reason, which is written along with a change of cluster.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from scipy.optimize import linear_sum_assignment
from scipy.stats import skew
from sklearn.cluster import KMeans
from sklearn.metrics import pairwise_distances, silhouette_score

from segmentation.cluster_ids import K_RANGE, cluster_value, id_limit
from segmentation.playbook.phrases import phrase_of

SKEW_THRESHOLD = 1.0
TOP_CATEGORIES = 8
# Silhouette is O(n^2): one precomputed 3,000 x 3,000 distance matrix (72 MB) serves
# every candidate k.
SILHOUETTE_SAMPLE = 3_000
# A previous k is kept unless another k beats its silhouette by more than this: ids
# should not churn because two k are near-ties on tonight's sample.
K_HYSTERESIS = 0.02
CHUNK_ROWS = 200_000
OTHER = "other"
MISSING = "missing"


@dataclass(frozen=True, slots=True)
class NumericFeature:
    """How one numeric column enters the standardized space."""

    name: str
    log: bool
    median: float
    mean: float
    scale: float


@dataclass(frozen=True, slots=True)
class CategoricalFeature:
    """One-hot columns of a categorical: top categories, then ``other`` and ``missing``."""

    name: str
    categories: tuple[str, ...]
    base_shares: tuple[float, ...]


@dataclass(frozen=True, eq=False)
class ClusterModel:
    """A fitted clustering: preprocessing, centroids (k x d, standardized), their stable
    ids (1-based) and descriptions. ``to_dict``/``from_dict`` give plain JSON types so a
    run can store its model and pass it back as ``previous`` next time."""

    numeric: tuple[NumericFeature, ...]
    categorical: tuple[CategoricalFeature, ...]
    centroids: np.ndarray
    ids: tuple[int, ...]
    descriptions: tuple[str, ...]
    silhouette: float | None = None

    @property
    def k(self) -> int:
        return len(self.ids)

    @property
    def values(self) -> tuple[str, ...]:
        """The segment values written to the CRM, one per centroid: ``cluster_<id>``."""
        return tuple(cluster_value(i) for i in self.ids)

    @property
    def columns(self) -> list[str]:
        """Names of the standardized dimensions, e.g. ``employees`` or ``region=EMEA``."""
        cols = [f.name for f in self.numeric]
        for c in self.categorical:
            cols.extend(f"{c.name}={v}" for v in c.categories)
        return cols

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form (lists, floats, strings)."""
        return {
            "numeric": [
                {"name": f.name, "log": f.log, "median": f.median, "mean": f.mean, "scale": f.scale}
                for f in self.numeric
            ],
            "categorical": [
                {
                    "name": c.name,
                    "categories": list(c.categories),
                    "base_shares": list(c.base_shares),
                }
                for c in self.categorical
            ],
            "centroids": [[float(v) for v in row] for row in self.centroids],
            "ids": list(self.ids),
            "descriptions": list(self.descriptions),
            "silhouette": self.silhouette,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClusterModel:
        """Inverse of :meth:`to_dict` (a model stored before descriptions were apart from
        values has them under ``names``)."""
        return cls(
            numeric=tuple(
                NumericFeature(
                    str(f["name"]),
                    bool(f["log"]),
                    float(f["median"]),
                    float(f["mean"]),
                    float(f["scale"]),
                )
                for f in data["numeric"]
            ),
            categorical=tuple(
                CategoricalFeature(
                    str(c["name"]),
                    tuple(str(v) for v in c["categories"]),
                    tuple(float(v) for v in c["base_shares"]),
                )
                for c in data["categorical"]
            ),
            centroids=np.asarray(data["centroids"], dtype=np.float64),
            ids=tuple(int(i) for i in data["ids"]),
            descriptions=tuple(str(n) for n in data.get("descriptions", data.get("names", ()))),
            silhouette=None if data.get("silhouette") is None else float(data["silhouette"]),
        )


def _numeric_expr(f: NumericFeature, standardize: bool = True) -> pl.Expr:
    x = pl.col(f.name).cast(pl.Float64)
    x = pl.when(x.is_nan()).then(None).otherwise(x).fill_null(f.median)
    if f.log:
        x = x.clip(lower_bound=0.0).log1p()
    if standardize:
        # Times the reciprocal, not divided: polars divides a one-row chunk exactly and
        # longer ones by the reciprocal, and a record alone must get the same coordinates.
        x = (x - f.mean) * (1.0 / f.scale)
    return x.alias(f.name)


def _onehot_exprs(c: CategoricalFeature) -> list[pl.Expr]:
    s = pl.col(c.name).cast(pl.String)
    top = [v for v in c.categories if v not in (OTHER, MISSING)]
    exprs: list[pl.Expr] = []
    for v in c.categories:
        if v == MISSING:
            e = s.is_null()
        elif v == OTHER:
            e = s.is_not_null() & ~s.is_in(top)
        else:
            e = (s == v).fill_null(False)
        exprs.append(e.cast(pl.Float64).alias(f"{c.name}={v}"))
    return exprs


def _matrix(
    df: pl.DataFrame, numeric: Sequence[NumericFeature], categorical: Sequence[CategoricalFeature]
) -> np.ndarray:
    exprs = [_numeric_expr(f) for f in numeric]
    for c in categorical:
        exprs.extend(_onehot_exprs(c))
    return df.select(exprs).to_numpy().astype(np.float64, copy=False)


def _prepare(
    sample: pl.DataFrame, numeric: Sequence[str], categorical: Sequence[str]
) -> tuple[list[NumericFeature], list[CategoricalFeature]]:
    nums: list[NumericFeature] = []
    for name in numeric:
        values = sample.get_column(name).cast(pl.Float64).fill_nan(None).drop_nulls().to_numpy()
        median = float(np.median(values)) if values.size else 0.0
        heavy = bool(
            values.size > 2
            and values.min() >= 0
            and np.ptp(values) > 0
            and float(skew(values)) > SKEW_THRESHOLD
        )
        draft = NumericFeature(name, heavy, median, 0.0, 1.0)
        t = sample.select(_numeric_expr(draft, standardize=False)).to_series().to_numpy()
        std = float(t.std())
        nums.append(
            NumericFeature(name, heavy, median, float(t.mean()), std if std > 1e-12 else 1.0)
        )
    cats: list[CategoricalFeature] = []
    for name in categorical:
        counts = sample.select(
            pl.col(name).cast(pl.String).drop_nulls().value_counts(sort=True)
        ).unnest(name)
        top = [
            str(v)
            for v in counts.get_column(name).head(TOP_CATEGORIES).to_list()
            if str(v) not in (OTHER, MISSING)
        ]
        draft_c = CategoricalFeature(name, (*top, OTHER, MISSING), ())
        shares = sample.select(_onehot_exprs(draft_c)).mean().row(0)
        cats.append(
            CategoricalFeature(name, draft_c.categories, tuple(float(v or 0.0) for v in shares))
        )
    return nums, cats


def _map_previous(
    prev: ClusterModel, nums: Sequence[NumericFeature], cats: Sequence[CategoricalFeature]
) -> np.ndarray:
    """The previous centroids expressed in this run's standardized space."""
    prev_num = {f.name: (i, f) for i, f in enumerate(prev.numeric)}
    prev_cols = {c: i for i, c in enumerate(prev.columns)}
    out = np.zeros((prev.k, len(nums) + sum(len(c.categories) for c in cats)))
    for j, f in enumerate(nums):
        if f.name not in prev_num:
            continue  # unknown to the previous run: sit at this run's mean
        i, p = prev_num[f.name]
        t = prev.centroids[:, i] * p.scale + p.mean
        if p.log != f.log:  # skew detection flipped: go through raw units
            t = np.log1p(np.maximum(np.expm1(t), 0.0)) if f.log else np.expm1(t)
        out[:, j] = (t - f.mean) / f.scale
    j = len(nums)
    for c in cats:
        for v in c.categories:
            col = prev_cols.get(f"{c.name}={v}")
            if col is not None:  # a category new this run sits at share 0
                out[:, j] = prev.centroids[:, col]
            j += 1
    return out


def _fmt(v: float) -> str:
    for div, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= div:
            return f"{v / div:.3g}{suffix}"
    return f"{v:.3g}"


def _descriptions(
    centroids: np.ndarray,
    nums: Sequence[NumericFeature],
    cats: Sequence[CategoricalFeature],
    raw: np.ndarray,
    labels: np.ndarray,
) -> list[str]:
    """Top distinguishing traits versus the whole base, categoricals first, unique.

    They describe this run's members (numeric ranges are their quartiles), so they move
    with the data: reasons carry them, segment values never do.
    """
    ranked: list[list[tuple[float, int, str]]] = []
    for k in range(centroids.shape[0]):
        traits: list[tuple[float, int, str]] = []
        for j, f in enumerate(nums):
            z = float(centroids[k, j])  # centroid coordinate = cluster mean z-score
            if abs(z) < 0.5:
                continue
            members = raw[labels == k, j]
            if f.log and members.size:
                lo, hi = np.quantile(members, [0.25, 0.75])
                label = f"{_fmt(lo)}-{_fmt(hi)} {phrase_of(f.name).label}"
            else:
                label = f"{'high' if z > 0 else 'low'} {phrase_of(f.name).label}"
            traits.append((abs(z), 1, label))
        j = len(nums)
        for c in cats:
            best: tuple[float, int, str] | None = None
            for v, base in zip(c.categories, c.base_shares, strict=True):
                share = float(centroids[k, j])
                j += 1
                if v in (OTHER, MISSING) or share < 0.4 or share <= base:
                    continue
                # Standardized over-representation, comparable to a numeric z-score.
                score = (share - base) / max(np.sqrt(base * (1 - base)), 1e-6)
                if best is None or score > best[0]:
                    best = (score, 0, v)
            if best is not None:  # one value per feature: never "LATAM EMEA"
                traits.append(best)
        traits.sort(key=lambda t: -t[0])
        ranked.append(traits)
    names: list[str] = []
    for k, traits in enumerate(ranked):
        depth = 2
        while True:
            # Up to `depth` categorical and `depth` numeric traits, strongest first:
            # "EMEA fintech, 200-1k employees, high engagement".
            cat = " ".join([t[2] for t in traits if t[1] == 0][:depth])
            num = [t[2] for t in traits if t[1] == 1][:depth]
            name = ", ".join([p for p in (cat, *num) if p]) or "typical"
            if name not in names or depth >= len(traits):
                break
            depth += 1
        if name in names:
            name = f"{name} ({k + 1})"
        names.append(name)
    return names


def fit_clusters(
    df: pl.DataFrame,
    numeric: Sequence[str],
    categorical: Sequence[str] = (),
    *,
    k: int | None = None,
    k_range: tuple[int, int] = K_RANGE,
    sample_size: int = 50_000,
    seed: int = 0,
    previous: ClusterModel | None = None,
) -> ClusterModel:
    """Fit k-means on a sample of ``df``; k by silhouette in ``k_range`` unless given.

    With ``previous``, new centroids are matched to the previous run's (Hungarian
    assignment on distances in this run's standardized space) and inherit their ids;
    unmatched new clusters get the smallest free ids. Without it ids go by cluster size
    (1 largest). Ids never exceed ``k`` (or the top of ``k_range`` when k is chosen).
    """
    if not numeric and not categorical:
        raise ValueError("clustering needs at least one feature")
    if df.height < 2:
        raise ValueError("clustering needs at least two rows")
    sample = df.sample(n=sample_size, seed=seed) if df.height > sample_size else df
    nums, cats = _prepare(sample, numeric, categorical)
    x = _matrix(sample, nums, cats)
    prev_space = _map_previous(previous, nums, cats) if previous is not None else None

    def run(n: int) -> KMeans:
        if prev_space is not None and prev_space.shape[0] == n:
            # Warm start from last night's centroids: same optimum, same order.
            return KMeans(n_clusters=n, init=prev_space, n_init=1, random_state=seed).fit(x)
        return KMeans(n_clusters=n, n_init=3, random_state=seed).fit(x)

    silhouette: float | None = None
    if k is None:
        lo, hi = k_range
        hi = min(hi, len(x) - 1)
        rng = np.random.default_rng(seed)
        sub = rng.choice(len(x), size=min(len(x), SILHOUETTE_SAMPLE), replace=False)
        dist = pairwise_distances(x[sub])
        scores: dict[int, tuple[float, KMeans]] = {}
        for n in range(lo, hi + 1):
            km = run(n)
            labels_sub = km.labels_[sub]
            if len(np.unique(labels_sub)) < 2:
                continue
            scores[n] = (float(silhouette_score(dist, labels_sub, metric="precomputed")), km)
        if not scores:
            raise ValueError("no k in range gives two or more clusters")
        best = max(scores, key=lambda n: scores[n][0])
        if (
            previous is not None
            and previous.k in scores
            and scores[previous.k][0] >= scores[best][0] - K_HYSTERESIS
        ):
            best = previous.k
        silhouette, km = scores[best]
    else:
        km = run(k)
    centroids = np.asarray(km.cluster_centers_, dtype=np.float64)
    labels = np.asarray(km.labels_)
    ids = _stable_ids(centroids, labels, prev_space, previous, id_limit(k, k_range))
    raw = np.array(
        sample.select([_numeric_expr(f, standardize=False) for f in nums]).to_numpy()
        if nums
        else np.zeros((sample.height, 0)),
        dtype=np.float64,
    )
    for j, f in enumerate(nums):
        if f.log:
            raw[:, j] = np.expm1(raw[:, j])  # back to raw units for the description's range
    descriptions = _descriptions(centroids, nums, cats, raw, labels)
    return ClusterModel(
        tuple(nums),
        tuple(cats),
        centroids,
        tuple(int(i) for i in ids),
        tuple(descriptions),
        silhouette,
    )


def _stable_ids(
    centroids: np.ndarray,
    labels: np.ndarray,
    prev_space: np.ndarray | None,
    previous: ClusterModel | None,
    limit: int,
) -> np.ndarray:
    """Ids in ``1..limit`` for the new centroids: the matched previous centroid's where
    there is one, else the smallest free id (the larger cluster first).

    Bounded ids let ``schema apply`` create every value up front. A freed id (k went
    down) is given again only when k goes back up; an inherited id beyond ``limit`` (k
    was lowered, or a model stored when ids began at 0) is replaced like a fresh one.
    """
    n_new = centroids.shape[0]
    if n_new > limit:
        raise ValueError(f"{n_new} clusters cannot have ids within 1..{limit}")
    sizes = np.bincount(labels, minlength=n_new)
    ids = np.full(n_new, -1, dtype=np.int64)
    if prev_space is not None and previous is not None:
        cost = ((centroids[:, None, :] - prev_space[None, :, :]) ** 2).sum(axis=2)
        rows, cols = linear_sum_assignment(cost)
        ids[rows] = np.asarray(previous.ids, dtype=np.int64)[cols]
        ids[(ids < 1) | (ids > limit)] = -1
    free = iter(i for i in range(1, limit + 1) if i not in set(ids.tolist()))
    for i in sorted(np.flatnonzero(ids < 0), key=lambda j: (-sizes[j], j)):
        ids[i] = next(free)
    return ids


# Relative size of the rounding a matrix product may add to |c|^2 - 2 x.c, with room.
NEAR_TIE = 1e-9


def _nearest(x: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Index of each row's nearest centroid, the same whatever other rows ``x`` holds.

    A matrix product ranks the centroids fast, but BLAS picks kernels (and so summation
    orders) by matrix size, so a row's distances differ in the last bits between a
    chunk of many rows and a few. A record segmented with few others must land in the
    cluster it landed in among all (partial runs against a stored model are exact,
    :mod:`segmentation.statistics`), so rows whose two nearest centroids are within
    rounding of each other are decided again on distances computed row by row.
    """
    c_sq = (centroids * centroids).sum(axis=1)
    # |x - c|^2 up to the per-row constant |x|^2, which does not change the argmin.
    approx = c_sq[None, :] - 2.0 * (x @ centroids.T)
    best = np.argmin(approx, axis=1)
    if centroids.shape[0] < 2 or len(x) == 0:
        return best
    two = np.partition(approx, 1, axis=1)
    scale = 1.0 + c_sq.max() + 2.0 * np.sqrt(c_sq.max() * np.einsum("ij,ij->i", x, x))
    near = (two[:, 1] - two[:, 0]) <= NEAR_TIE * scale
    if near.any():
        best[near] = np.argmin(_distances(x[near], centroids), axis=1)
    return best


def _distances(x: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Squared distance of every row to every centroid (rows x k), row by row the same
    arithmetic whatever else is in ``x``."""
    out = np.empty((x.shape[0], centroids.shape[0]), dtype=np.float64)
    for j, centroid in enumerate(centroids):  # k <= 8 passes over the chunk
        diff = x - centroid[None, :]
        out[:, j] = np.einsum("ij,ij->i", diff, diff)
    return out


def assign_clusters(
    df: pl.DataFrame, model: ClusterModel, chunk_rows: int = CHUNK_ROWS
) -> pl.DataFrame:
    """Nearest-centroid assignment for every row; adds ``cluster_id``, ``segment_cluster``
    (the stable value, ``cluster_<id>``) and ``reason_cluster`` (value and description)."""
    out = np.empty(df.height, dtype=np.int64)
    for start in range(0, df.height, chunk_rows):
        x = _matrix(df.slice(start, chunk_rows), model.numeric, model.categorical)
        out[start : start + len(x)] = _nearest(x, model.centroids)
    ids = list(model.ids)
    # The description leads with the value, like every reason; it is as of this fit.
    reasons = [
        f"{value}: {description}"
        for value, description in zip(model.values, model.descriptions, strict=True)
    ]
    idx = pl.Series("cluster_id", out)
    return df.with_columns(
        idx.replace_strict(list(range(model.k)), ids, return_dtype=pl.Int64).alias("cluster_id"),
        idx.replace_strict(list(range(model.k)), list(model.values), return_dtype=pl.String).alias(
            "segment_cluster"
        ),
        idx.replace_strict(list(range(model.k)), reasons, return_dtype=pl.String).alias(
            "reason_cluster"
        ),
    )
