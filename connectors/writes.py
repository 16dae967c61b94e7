"""Write helpers every connector shares."""

from __future__ import annotations

from collections.abc import Sequence

from connectors.base import FieldWrite, ObjectType, WriteResult, WriteStatus


def group_writes(writes: Sequence[FieldWrite]) -> dict[ObjectType, list[FieldWrite]]:
    """One write per record, grouped by object type; later fields win.

    CRMs refuse a batch that names one record twice, and two writes to one record
    are one change anyway.
    """
    merged: dict[tuple[ObjectType, str], dict[str, str]] = {}
    for w in writes:
        merged.setdefault((w.object_type, w.record_id), {}).update(w.fields)
    grouped: dict[ObjectType, list[FieldWrite]] = {}
    for (object_type, record_id), fields in merged.items():
        grouped.setdefault(object_type, []).append(FieldWrite(object_type, record_id, fields))
    return grouped


def same_result(
    chunk: Sequence[FieldWrite], status: WriteStatus, reason: str | None, code: str | None
) -> list[WriteResult]:
    """The same outcome for every record of ``chunk``."""
    return [WriteResult(w.object_type, w.record_id, status, reason, code) for w in chunk]
