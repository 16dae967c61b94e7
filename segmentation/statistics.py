"""Population statistics: the population-wide quantities a run used, stored to apply later.

Some model values depend on every other record, not on the record alone: an RFM score
is a quantile rank among all customers, a CLV tier a quantile of every customer's
predicted value, the CLV parameters are fitted on everyone's history, and cluster ids
come from centroids (and feature scaling and one-hot encodings) fitted on the whole
base. Segmenting a subset afresh would give its records other values than the full
run gave them. A full run therefore returns these quantities as plain JSON
(:attr:`~segmentation.engine.SegmentResult.statistics`), and a partial run given them
back (``segment(..., statistics=)``) applies them instead of computing them, so each
record gets exactly the value the full population would give it.

Ranks are stored as value thresholds (``bounds``): for a score with ``bins`` levels,
bound ``s`` (for scores 2..bins) is the lowest value (the highest, where lower is
better) that reaches score ``s`` in the population the bounds were computed on, and a
value scores ``1 +`` the number of bounds it reaches. On that population this equals
the rank-based :func:`~segmentation.rfm.quantile_score` exactly, ties included (tied
values share the lowest score their group reaches, so they never straddle a bound);
a value the population did not hold scores like the nearest population value below it
(above it, where lower is better). A bound no value reaches is ``None``.

The layout (version :data:`STATISTICS_VERSION`)::

    {"version": 1,
     "populations": {                    # who the value models rank: only those present
       "contacts": {...},                # B2C customers: contacts with orders
       "companies": {...}},              # B2B customers: companies with won deals
     "clusters": {"model": ClusterModel.to_dict() | None, "note": str | None} | None}

and per population::

    {"rfm": {"bins": 5, "window_days": 365,
             "recency_days": {"higher_is_better": False, "bounds": [...]},
             "frequency": {"higher_is_better": True, "bounds": [...]},
             "monetary": {"higher_is_better": True, "bounds": [...]}},
     "clv": {"fit": ClvFit.to_dict() | None, "note": str | None},
     "clv_tiers": {"column": "clv_12m", "labels": [...], "monthly_discount_rate": 0.01,
                   "bounds": [...]} | None}     # contacts only (B2C CLV tiers)

``clv.note`` says why there is no fit (too little repeat behaviour), and a partial run
then predicts no CLV either (``fit`` and ``note`` both null: CLV was switched off);
``clusters.note`` likewise. The settings a part was made under (RFM bins and window,
CLV tier labels, horizon and discount rate, cluster features and k) are checked
against the playbook, and statistics made under others are refused.

Not stored, because nothing about them is population-wide: ACV value tiers (fixed
cut-offs), holdout flags (a salted hash of the id), rule-based models, and roll-ups (a
company's contacts and deals, a contact's deals and orders), which a partial run gets
right by loading what the changed records roll up into. The float arithmetic on the
way (sums per customer, days and weeks, scaled cluster features, distances) comes out
bit for bit the same however the rows are split (:mod:`segmentation.stable`), so no
value sits a last bit off a stored bound. Pure: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from numbers import Real
from typing import Any

STATISTICS_VERSION = 1
POPULATIONS = ("contacts", "companies")


class StatisticsError(ValueError):
    """Stored population statistics that this engine cannot apply: from another engine
    version, malformed, or made for other playbook settings. A full run refreshes them."""


def check_statistics(data: object) -> Mapping[str, Any]:
    """``data`` if it is statistics this engine can apply, else :class:`StatisticsError`.

    Checks the version first (a stored dict from an older engine is refused, not
    misread), then the shape; playbook-specific checks happen where each part is used.
    """
    if not isinstance(data, Mapping):
        raise StatisticsError(f"population statistics must be a mapping, not {type(data).__name__}")
    version = data.get("version")
    if version != STATISTICS_VERSION:
        shown = "no version" if version is None else f"version {version!r}"
        raise StatisticsError(
            f"stored population statistics have {shown}; this engine applies version "
            f"{STATISTICS_VERSION} only: run a full segmentation to refresh them"
        )
    populations = data.get("populations")
    if not isinstance(populations, Mapping):
        raise StatisticsError("population statistics lack 'populations'")
    unknown = sorted(str(k) for k in populations if k not in POPULATIONS)
    if unknown:
        raise StatisticsError(
            f"population statistics: unknown population {', '.join(unknown)} "
            f"(known: {', '.join(POPULATIONS)})"
        )
    for name, population in populations.items():
        if not isinstance(population, Mapping) or not isinstance(population.get("rfm"), Mapping):
            raise StatisticsError(f"population statistics for {name} lack RFM bounds")
    clusters = data.get("clusters")
    if clusters is not None and not isinstance(clusters, Mapping):
        raise StatisticsError("population statistics: 'clusters' must be a mapping or null")
    return data


def stored_bounds(section: Mapping[str, Any], where: str, size: int) -> list[float | None]:
    """The ``bounds`` list of ``section``: ``size`` finite numbers or nulls, in order."""
    bounds = section.get("bounds")
    if not isinstance(bounds, list) or len(bounds) != size:
        raise StatisticsError(f"population statistics: {where} needs {size} bounds")
    for b in bounds:
        if b is not None and (
            isinstance(b, bool) or not isinstance(b, Real) or not math.isfinite(b)
        ):
            raise StatisticsError(
                f"population statistics: {where} bounds must be finite numbers, not {b!r}"
            )
    return [None if b is None else float(b) for b in bounds]


def mismatch(what: str, stored: object, configured: object) -> StatisticsError:
    """The error for statistics made under other playbook settings than this run's."""
    return StatisticsError(
        f"population statistics were computed with {what} {stored!r}, the playbook now "
        f"says {configured!r}: run a full segmentation to refresh them"
    )
