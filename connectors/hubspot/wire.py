"""HubSpot's wire forms: millisecond timestamps, record order, search filters, paging cursors."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from hubspot.crm.objects import Filter

from connectors.base import Record, RejectedError
from connectors.hubspot.streams import HubSpotStream


def with_required(properties: Sequence[str], stream: HubSpotStream) -> list[str]:
    return list(dict.fromkeys([*properties, stream.replication_key, stream.primary_key]))


def filter(prop: str, operator: str, value: int | str) -> Filter:
    return Filter(property_name=prop, operator=operator, value=str(value))


def to_ms(moment: datetime) -> int:
    moment = aware(moment)
    return int(moment.timestamp()) * 1000 + moment.microsecond // 1000


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms // 1000, UTC).replace(microsecond=(ms % 1000) * 1000)


def aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_datetime(value: str) -> datetime:
    if value.isdigit():
        return from_ms(int(value))
    return aware(datetime.fromisoformat(value))


def id_key(record: Record) -> tuple[int, str]:
    return (int(record.id), "") if record.id.isdigit() else (0, record.id)


def order_key(record: Record) -> tuple[int, int, str]:
    return (to_ms(record.updated_at), *id_key(record))


def next_after(page: dict[str, Any]) -> str | None:
    """The cursor of the next page of a list or search answer, if there is one."""
    after = ((page.get("paging") or {}).get("next") or {}).get("after")
    return str(after) if after else None


def raise_unexpected_errors(stream: HubSpotStream, answer: dict[str, Any]) -> None:
    """A batch read's 207 errors: ``OBJECT_NOT_FOUND`` means left out, anything else fails."""
    for error in answer.get("errors") or ():
        category = error.get("category")
        if category != "OBJECT_NOT_FOUND":
            raise RejectedError(
                f"POST /crm/v3/objects/{stream.api_name}/batch/read: HubSpot answered 207 "
                f"{category}: {error.get('message')}",
                status=207,
                category=str(category or ""),
            )
