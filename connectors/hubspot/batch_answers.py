"""HubSpot's answers to batch writes, read back into one result per record sent."""

from __future__ import annotations

import json
from typing import Any

from connectors.base import FieldWrite, RejectedError, WriteResult, WriteStatus
from connectors.hubspot.streams import HubSpotStream


def map_batch_answer(
    stream: HubSpotStream, chunk: list[FieldWrite], answer: Any, id_property: str | None
) -> list[WriteResult]:
    """200 or 207: match by id, or by the upsert key (HubSpot does not promise order)."""

    def key(value: object) -> str:
        # HubSpot stores emails lower-cased; other unique values are matched as sent.
        return str(value).strip().lower() if id_property == "email" else str(value)

    by_id = {key(w.record_id): w for w in chunk}
    failed: dict[str, WriteResult] = {}
    for error in getattr(answer, "errors", None) or ():
        context = error.context or {}
        for record_id in context.get("ids", ()):
            if key(record_id) in by_id:
                failed[key(record_id)] = WriteResult(
                    stream.object_type,
                    by_id[key(record_id)].record_id,
                    WriteStatus.REJECTED,
                    f"HubSpot: {error.message}",
                    error.category,
                )
    succeeded = {
        key(item.id if id_property is None else (item.properties or {}).get(id_property))
        for item in answer.results or ()
    }
    results = []
    for w in chunk:
        if key(w.record_id) in failed:
            results.append(failed[key(w.record_id)])
        elif key(w.record_id) in succeeded:
            results.append(WriteResult(w.object_type, w.record_id, WriteStatus.OK))
        else:
            results.append(
                WriteResult(
                    w.object_type,
                    w.record_id,
                    WriteStatus.REJECTED,
                    "HubSpot left this record out of its batch answer (merged or deleted?)",
                    "MISSING_FROM_RESPONSE",
                )
            )
    return results


def rejection(exc: RejectedError) -> tuple[str, str]:
    """A readable reason and a code, unpacking HubSpot's 'Property values were not valid'."""
    text = str(exc)
    marker = "Property values were not valid: "
    code = exc.category or "REJECTED"
    if marker in text:
        try:
            details = json.loads(text.split(marker, 1)[1])
        except ValueError:
            details = None
        if isinstance(details, list) and details and isinstance(details[0], dict):
            first = details[0]
            code = str(first.get("error") or code)
            parts = [f"{d.get('name')}: {d.get('message')}" for d in details if isinstance(d, dict)]
            return "HubSpot rejected " + "; ".join(parts), code
    return text, code
