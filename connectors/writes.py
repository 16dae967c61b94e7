"""Write helpers every connector shares."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from connectors.base import (
    BudgetExhaustedError,
    FieldWrite,
    ObjectType,
    RateLimitedError,
    TransientError,
    WriteResult,
    WriteStatus,
)


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


def write_in_chunks(
    inputs: Sequence[FieldWrite],
    size: int,
    send: Callable[[list[FieldWrite]], list[WriteResult]],
) -> list[WriteResult]:
    """Send ``inputs`` ``size`` at a time; one result per input, whatever happens.

    Once the CRM stays unavailable or the API budget is spent, the remaining chunks are
    not sent: every record is kept as retryable instead of burning what budget is left.
    """
    results: list[WriteResult] = []
    halted: str | None = None
    for start in range(0, len(inputs), size):
        chunk = list(inputs[start : start + size])
        if halted is not None:
            results.extend(same_result(chunk, WriteStatus.RETRYABLE, halted, "NOT_SENT"))
            continue
        try:
            results.extend(send(chunk))
        except (TransientError, RateLimitedError) as exc:
            halted = str(exc)
            code = "BUDGET" if isinstance(exc, BudgetExhaustedError) else "TRANSIENT"
            results.extend(same_result(chunk, WriteStatus.RETRYABLE, halted, code))
    return results
