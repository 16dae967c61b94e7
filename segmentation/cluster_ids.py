"""Cluster segment values: ``cluster_1`` .. ``cluster_N``, fixed before any data is seen.

A cluster's CRM value is its stable id, never its description: a description ("25-40
page_views") is computed from the members and moves whenever the data does, and every
rename of a value fires the CRM's workflows and list re-enrolments. Ids are kept across
refits by centroid matching (:mod:`segmentation.cluster`) and stay within ``1..N``, ``N``
being the fixed ``k`` or the top of the k range, so ``schema apply`` can create the
whole option list up front. This module is free of scikit-learn, which the schema side
should not have to import.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

PREFIX = "cluster_"
K_RANGE = (3, 8)


def cluster_value(cluster_id: int) -> str:
    """The value written to the CRM for a cluster id: ``cluster_3``."""
    return f"{PREFIX}{cluster_id}"


def id_limit(k: int | None, k_range: tuple[int, int] = K_RANGE) -> int:
    """The largest id a clustering may use: the fixed ``k``, else the top of the range."""
    return k if k is not None else k_range[1]


def configured_k(extra: Mapping[str, Any]) -> int | None:
    """The playbook's fixed ``k`` (an integer), or None when silhouette chooses it."""
    k = extra.get("k")
    return k if isinstance(k, int) and not isinstance(k, bool) else None


def cluster_values(k: int | None) -> tuple[str, ...]:
    """Every value a clustering with this ``k`` setting can write, in id order."""
    return tuple(cluster_value(i) for i in range(1, id_limit(k) + 1))
