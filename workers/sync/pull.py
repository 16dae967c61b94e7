"""The pull step: stream records from a connector, count them, move the stored cursors.

Full pulls read every record and, when they finish, store a cursor taken *before* they
started, so changes made during the pull are read again by the next incremental pull
rather than lost. Incremental pulls store the cursor of each batch once the batch has
been handed to ``on_batch``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from connectors.base import Connector, ObjectType, RecordBatch
from workers.state import StateStore

BatchHandler = Callable[[RecordBatch], None]


@dataclass
class PullSummary:
    """Records read per object type by one pull."""

    mode: str
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def _ignore(_batch: RecordBatch) -> None:
    return None


def pull(
    connector: Connector,
    store: StateStore,
    properties: Mapping[ObjectType, Sequence[str]],
    *,
    full: bool,
    on_batch: BatchHandler = _ignore,
) -> PullSummary:
    """Pull every object type in ``properties``; record the run in the state store."""
    crm = connector.crm
    summary = PullSummary(mode="full" if full else "incremental")
    run_id = store.start_run(crm, f"pull-{summary.mode}")
    try:
        for object_type, props in properties.items():
            summary.counts[object_type] = 0
            if full:
                snapshot = connector.snapshot_cursor(object_type)
                for batch in connector.read_all(object_type, props):
                    on_batch(batch)
                    summary.counts[object_type] += len(batch)
                store.save_cursor(crm, snapshot)
            else:
                cursor = store.get_cursor(crm, object_type)
                if cursor.is_initial:
                    raise RuntimeError(
                        f"no {crm} cursor for {object_type} yet: run a full pull first"
                    )
                for batch in connector.read_changed(cursor, props):
                    on_batch(batch)
                    summary.counts[object_type] += len(batch)
                    if batch.cursor is not None:
                        store.save_cursor(crm, batch.cursor)
    except BaseException as exc:
        store.finish_run(run_id, "failed", dict(summary.counts), error=str(exc) or repr(exc))
        raise
    store.finish_run(run_id, "succeeded", dict(summary.counts))
    return summary
