"""Adopt writes a dead process left in flight: read the records back, keep what landed.

A process killed mid-batch leaves that batch marked in ``writes_in_flight``: the CRM
may hold its values while the state store does not. Sending them again would stamp a
new ``_entered_at`` on segments that did not move and rewrite reasons against the CRM's
new state (``crm_stage=lead == lead``). Reading the records back and recording the
values the CRM holds, with the time they were sent, makes the next diff see them as
written: nothing is re-sent, and what did not land is planned again as usual.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from connectors.base import Connector, FieldWrite
from workers.state import StateStore

log = logging.getLogger(__name__)


def adopt_in_flight(connector: Connector, store: StateStore) -> int:
    """Settle the writes left in flight for this CRM; returns the records adopted whole.

    Costs one read per CRM read batch of marked records, and nothing when none are.
    """
    crm = connector.crm
    marks = store.in_flight(crm)
    if not marks:
        return 0
    by_type: dict[str, list[tuple[FieldWrite, datetime]]] = {}
    for write, sent_at in marks:
        by_type.setdefault(write.object_type, []).append((write, sent_at))
    adopted = 0
    for object_type, items in by_type.items():
        adopted += _adopt(connector, store, object_type, items)
    store.clear_in_flight(crm, [(w.object_type, w.record_id) for w, _ in marks])
    log.warning(
        "%s: %d record(s) were in flight when an earlier run stopped; %d held what was "
        "sent and were recorded, the rest will be planned again",
        crm,
        len(marks),
        adopted,
    )
    return adopted


def _adopt(
    connector: Connector,
    store: StateStore,
    object_type: str,
    items: Sequence[tuple[FieldWrite, datetime]],
) -> int:
    first = items[0][0]
    properties = sorted({name for write, _ in items for name in write.fields})
    records = connector.read_ids(first.object_type, [w.record_id for w, _ in items], properties)
    held = {r.id: r.properties for r in records}
    rows_by_batch: dict[datetime, list[tuple[str, str, str | None]]] = {}
    whole: list[str] = []
    for write, sent_at in items:
        current = held.get(write.record_id)
        if current is None:  # deleted since, or never created: nothing to adopt
            continue
        landed = [
            (write.record_id, name, value)
            for name, value in write.fields.items()
            if same_value(current.get(name), value)
        ]
        rows_by_batch.setdefault(sent_at, []).extend(landed)
        if len(landed) == len(write.fields):
            whole.append(write.record_id)
    for sent_at, rows in rows_by_batch.items():
        store.record_written(connector.crm, object_type, rows, at=sent_at)
    store.resolve_record_letters(connector.crm, object_type, whole)
    return len(whole)


def same_value(held: object, sent: str) -> bool:
    """Whether the CRM's value is the one segsync sent (as the CRM spells it back)."""
    if held is None:
        return sent == ""
    if isinstance(held, bool):
        return sent.lower() == str(held).lower()
    text = str(held)
    if text == sent:
        return True
    try:
        return float(text) == float(sent)
    except ValueError:
        return False
