"""A population cut into parts that each segment exactly, and their summaries put back together.

Segmenting a million contacts at once holds several gigabytes: every input, enrichment,
feature and reason of every record. Given the population statistics
(:func:`~segmentation.engine.population_statistics`), a part segments to exactly what
the whole would give its records as long as it holds everything they read: a company
with all of its people and deals, a person with their company, deals and orders. So
parts are cut by company: a company and its people go to the same part, a person
without a company to a part of their own id's, and each part takes every deal and order
of its people and companies (a deal linking a company and a person of different parts
goes to both; each part reports only its own records). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from segmentation.enrich.rollups import key_of

_PART = "__segsync_part"
_PERSON = "__segsync_person"


@dataclass(frozen=True, slots=True)
class Part:
    """One part's frames: its people and companies, and every deal and order they read."""

    contacts: pl.DataFrame
    companies: pl.DataFrame | None
    deals: pl.DataFrame | None
    orders: pl.DataFrame | None


def parts_of(
    contacts: pl.DataFrame,
    companies: pl.DataFrame | None,
    deals: pl.DataFrame | None,
    orders: pl.DataFrame | None,
    count: int,
) -> Iterator[Part]:
    """``count`` parts of the population (fewer when it has fewer records)."""
    count = max(1, count)
    people = contacts.with_columns(_part_of(contacts, count))
    firms = (
        companies.with_columns((_hashed(pl.col("id")) % count).alias(_PART))
        if companies is not None
        else None
    )
    deals, orders = _linked(deals, count), _linked(orders, count)
    for index in range(count):
        own = people.filter(pl.col(_PART) == index).drop(_PART)
        if own.height == 0 and (firms is None or not firms[_PART].eq(index).any()):
            continue
        keys = own.select(key_of(pl.col("id")))["id"]
        yield Part(
            own,
            None if firms is None else firms.filter(pl.col(_PART) == index).drop(_PART),
            _read_by(deals, keys, index),
            _read_by(orders, keys, index),
        )


def _hashed(column: pl.Expr) -> pl.Expr:
    # The engine joins ids as trimmed text (12 meets "12"): the part must agree.
    return key_of(column).hash(seed=0)


def _part_of(contacts: pl.DataFrame, count: int) -> pl.Expr:
    """A person's part: their company's, or their own id's when they have none."""
    if "company_id" not in contacts.columns:
        return (_hashed(pl.col("id")) % count).alias(_PART)
    company = key_of(pl.col("company_id"))
    by = pl.when(company.is_null() | (company == "")).then(pl.col("id")).otherwise(company)
    return (_hashed(by) % count).alias(_PART)


def _linked(frame: pl.DataFrame | None, count: int) -> pl.DataFrame | None:
    """Deals or orders with the key of their person and the part of their company,
    worked out once for all parts."""
    if frame is None:
        return None
    person = key_of(pl.col("contact_id")) if "contact_id" in frame.columns else pl.lit(None)
    company = (
        _hashed(pl.col("company_id")) % count if "company_id" in frame.columns else pl.lit(None)
    )
    return frame.with_columns(
        person.cast(pl.String).alias(_PERSON), company.cast(pl.UInt64).alias(_PART)
    )


def _read_by(frame: pl.DataFrame | None, people: pl.Series, index: int) -> pl.DataFrame | None:
    """The deals or orders of a part's people, and of its companies."""
    if frame is None:
        return None
    wanted = pl.col(_PERSON).is_in(people.implode()).fill_null(False) | (
        pl.col(_PART) == index
    ).fill_null(False)
    return frame.filter(wanted).drop(_PERSON, _PART)


def merged_summary(parts: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The summary a run over all parts at once would give: rows and segment counts
    added up, shares of the whole, segments by count (ties by name, empty last)."""
    if not parts:
        return {}
    rows: dict[str, int] = {}
    for part in parts:
        for label, count in part.get("rows", {}).items():
            rows[label] = rows.get(label, 0) + int(count)
    segments: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for label in dict.fromkeys(lb for p in parts for lb in p.get("segments", {})):
        models = dict.fromkeys(m for p in parts for m in p.get("segments", {}).get(label, {}))
        segments[label] = {
            model: _added(
                [e for p in parts for e in p.get("segments", {}).get(label, {}).get(model, [])],
                rows.get(label, 0),
            )
            for model in models
        }
    merged: dict[str, Any] = {"rows": rows, "segments": segments}
    notes: dict[str, Any] = {}
    for part in parts:
        notes.update(part.get("notes", {}))
    if notes:
        merged["notes"] = notes
    return merged


def _added(entries: list[dict[str, Any]], total: int) -> list[dict[str, Any]]:
    if not entries:
        return []
    counts = (
        pl.DataFrame(
            {"segment": [e["segment"] for e in entries], "count": [e["count"] for e in entries]},
            schema={"segment": pl.String, "count": pl.Int64},
        )
        .group_by("segment")
        .agg(pl.col("count").sum())
        .sort(["count", "segment"], descending=[True, False], nulls_last=True)
    )
    whole = max(total, 1)
    return [
        {"segment": segment, "count": count, "share": round(count / whole, 6)}
        for segment, count in counts.iter_rows()
    ]
