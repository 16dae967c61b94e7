"""What the console and the report show, read from the state store (never the CRM)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from segmentation.playbook import Playbook
from workers.cli.runs import run_json
from workers.state import Run, RunStatus, StateStore
from workers.sync.outputs import REASON, EngineObject, segment_outputs

ENGINE_OBJECTS: dict[str, EngineObject] = {
    "contact": "contact",
    "lead": "contact",
    "company": "company",
}
HISTORY_RUNS = 400  # runs looked back over for sizes over time and migrations


def overview(store: StateStore, crms: Iterable[str]) -> list[dict[str, Any]]:
    """Per CRM: the latest sizes, sizes over time, recent runs, dead letters, inbox lag."""
    now = datetime.now(UTC)
    out = []
    for crm in crms:
        runs = store.list_runs(HISTORY_RUNS, crm=crm)
        oldest = store.oldest_pending(crm)
        counted = latest_sizes(runs)
        out.append(
            {
                "crm": crm,
                "sizes": counted["sizes"] if counted else {},
                "counted": counted,
                "history": size_history(runs),
                "runs": [run_json(r) for r in runs[:10]],
                "dead_letters": store.open_dead_letter_count(crm),
                "inbox_depth": store.inbox_depth(crm),
                "inbox_lag": 0.0 if oldest is None else (now - oldest).total_seconds(),
            }
        )
    return out


def whole_runs(runs: Iterable[Run]) -> list[Run]:
    """Succeeded runs that counted every segment, oldest first."""
    kept = [r for r in runs if r.status is RunStatus.SUCCEEDED and r.counts.get("segment_sizes")]
    return sorted(kept, key=lambda r: r.id)


def latest_sizes(runs: Iterable[Run]) -> dict[str, Any] | None:
    """The newest counted sizes (``sizes``: object type -> model -> segment -> records) and
    the run that counted them (``run_id``, ``at``); None before any whole run."""
    counted = whole_runs(runs)
    if not counted:
        return None
    last = counted[-1]
    return {
        "run_id": last.id,
        "at": last.started_at.isoformat(),
        "sizes": last.counts["segment_sizes"],
    }


def latest_insights(runs: Iterable[Run], object_type: str) -> dict[str, Any] | None:
    """The newest whole run's insights of ``object_type`` (segmentation/insights.py), with
    that run's id as ``run_id``; None before a run that computed them."""
    for run in reversed(whole_runs(runs)):
        found = (run.counts.get("segment_insights") or {}).get(object_type)
        if found:
            return {**found, "run_id": run.id}
    return None


def rfm_cells(grid: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The 5 x 5 grid as rows of recency 5 (recent) down to 1, frequency 1 to 5 across;
    each cell: records, mean monetary value and ``heat`` (0-1, by mean monetary value)."""
    by_cell = {(c["r"], c["f"]): c for c in grid}
    means = {key: c["monetary"] / c["records"] for key, c in by_cell.items() if c["records"]}
    top = max(means.values(), default=0.0) or 1.0
    return [
        [
            {
                "r": r,
                "f": f,
                "records": by_cell.get((r, f), {}).get("records", 0),
                "mean": means.get((r, f)),
                "heat": round(means.get((r, f), 0.0) / top, 3),
            }
            for f in range(1, 6)
        ]
        for r in range(5, 0, -1)
    ]


def size_history(runs: Iterable[Run]) -> list[dict[str, Any]]:
    """Every counted run's sizes, oldest first: the points of "sizes over time"."""
    return [
        {"run_id": r.id, "at": r.started_at.isoformat(), "sizes": r.counts["segment_sizes"]}
        for r in whole_runs(runs)
    ]


def migration(
    store: StateStore, crm: str, object_type: str, model: str, after: int, upto: int
) -> dict[str, Any]:
    """Records that moved between segments in the runs after ``after`` up to ``upto``
    (their recorded moves added up): ``{"segments": [...], "cells": {from: {to: n}}}``."""
    cells: dict[str, dict[str, int]] = {}
    for run in store.list_runs(HISTORY_RUNS, crm=crm):
        if not after < run.id <= upto or run.status is not RunStatus.SUCCEEDED:
            continue
        pairs = (run.counts.get("segment_moves") or {}).get(object_type, {}).get(model, {})
        for pair, n in pairs.items():
            old, new = pair.split(" -> ", 1)
            row = cells.setdefault(old, {})
            row[new] = row.get(new, 0) + int(n)
    names = sorted(set(cells) | {to for row in cells.values() for to in row})
    return {"segments": names, "cells": cells, "after": after, "upto": upto}


def record(
    store: StateStore,
    crm: str,
    object_type: str,
    record_id: str,
    playbook: Playbook | None = None,
) -> dict[str, Any]:
    """One record as segsync knows it: mirrored inputs and what segsync wrote to it."""
    mirrored = store.mirror.load(crm, object_type, [record_id])
    details = store.written_details(crm, object_type, [record_id]).get(record_id, {})
    written = [
        {
            "field": name,
            "value": value.value,
            "previous": value.previous_value,
            "entered_at": value.entered_at.isoformat(),
            "written_at": value.written_at.isoformat(),
        }
        for name, value in sorted(details.items())
    ]
    return {
        "crm": crm,
        "object_type": object_type,
        "id": record_id,
        "mirrored": mirrored.to_dicts()[0] if mirrored.height else None,
        "written": written,
        "segments": segments_of(crm, object_type, playbook, details) if playbook else [],
    }


def segments_of(
    crm: str, object_type: str, playbook: Playbook, details: dict[str, Any]
) -> list[dict[str, Any]]:
    """Every model's segment of a record as segsync wrote it: value, reason, when the record
    entered it and what it was before (from the written values, not recomputed)."""
    engine = ENGINE_OBJECTS.get(object_type)
    if engine is None:
        return []
    native = native_namer(crm)
    rows = []
    for output in segment_outputs(playbook, engine):
        value = details.get(native(output.name))
        reason = details.get(native(output.name + REASON))
        rows.append(
            {
                "model": output.name,
                "segment": None if value is None else value.value,
                "reason": None if reason is None else reason.value,
                "entered_at": None if value is None else value.entered_at.isoformat(),
                "previous": None if value is None else value.previous_value,
            }
        )
    return rows


def native_namer(crm: str) -> Callable[[str], str]:
    """The CRM's own name of a segsync field (as its connector names it)."""
    if crm == "salesforce":
        from connectors.salesforce.schema import field_api_name

        return field_api_name
    from connectors.hubspot.connector import PROPERTY_PREFIX

    return lambda name: PROPERTY_PREFIX + name
