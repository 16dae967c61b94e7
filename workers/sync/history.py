"""What a run leaves in the history beside its counts: segment sizes and moves per model.

Sizes over time and migrations between runs are read from here (``segsync runs show``,
the console). A run over the whole population (full, or the nightly from the mirror)
counts every segment's records as it computed them; an incremental run segments only
what changed, so it records its moves and no sizes: counting a million records to
learn what ten moved is what the mirror exists to avoid, and carrying sizes forward by
moves drifts (a record the CRM rejected moves again each time it is retried). Sizes
are therefore as fresh as the last whole run: the nightly at the latest.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# object type -> model -> segment -> records
Sizes = dict[str, dict[str, dict[str, int]]]

NONE = "(none)"  # the diff's name for "no segment" (a new record, a cleared field)
LABELS = {"contacts": "contact", "companies": "company"}


def counted_sizes(summary: Mapping[str, Any]) -> Sizes:
    """The sizes of a segmentation summary over the whole population."""
    sizes: Sizes = {}
    for label, models in summary.get("segments", {}).items():
        object_type = LABELS.get(label, label)
        sizes[object_type] = {
            model: {_name(e["segment"]): int(e["count"]) for e in entries}
            for model, entries in models.items()
        }
    return sizes


def sizes_after(whole: bool, summary: Mapping[str, Any]) -> Sizes:
    """A run's sizes: counted when it segmented everything, else none."""
    return counted_sizes(summary) if whole else {}


def _name(segment: Any) -> str:
    return NONE if segment is None or segment == "" else str(segment)
