"""Chart specifications (plain JSON for Chart.js, ``static/console.js``) built from the
run history. Kept apart from the pages so the report draws exactly the same charts."""

from __future__ import annotations

import json
from typing import Any


def sizes_bar(sizes: dict[str, int], title: str) -> dict[str, Any]:
    """One model's segments, largest first, as bars."""
    ordered = sorted(sizes.items(), key=lambda kv: (-kv[1], kv[0]))
    return {
        "type": "bar",
        "title": title,
        "labels": [name for name, _ in ordered],
        "datasets": [{"label": "records", "data": [n for _, n in ordered]}],
    }


def sizes_over_time(
    history: list[dict[str, Any]], object_type: str, model: str, title: str
) -> dict[str, Any]:
    """One line per segment of a model across the runs that counted sizes."""
    segments: list[str] = []
    for point in history:
        for name in point["sizes"].get(object_type, {}).get(model, {}):
            if name not in segments:
                segments.append(name)
    return {
        "type": "line",
        "title": title,
        "labels": [point["at"][:16].replace("T", " ") for point in history],
        "datasets": [
            {
                "label": name,
                "data": [
                    point["sizes"].get(object_type, {}).get(model, {}).get(name, 0)
                    for point in history
                ],
            }
            for name in segments
        ],
    }


def clv_bands_bar(bands: list[dict[str, Any]], title: str) -> dict[str, Any]:
    """Records per band of predicted 12-month CLV."""

    def label(band: dict[str, Any]) -> str:
        return f"{band['from']:,}+" if band["to"] is None else f"{band['from']:,}-{band['to']:,}"

    return {
        "type": "bar",
        "title": title,
        "labels": [label(b) for b in bands],
        "datasets": [{"label": "records", "data": [b["records"] for b in bands]}],
    }


def tier_shares_bar(tiers: dict[str, dict[str, float]], title: str) -> dict[str, Any]:
    """Per value tier, its share of the records beside its share of revenue (percent)."""
    records = sum(t["records"] for t in tiers.values()) or 1
    revenue = sum(t["revenue"] for t in tiers.values()) or 1.0
    ordered = sorted(tiers.items(), key=lambda kv: (-kv[1]["revenue"], kv[0]))
    return {
        "type": "bar",
        "title": title,
        "percent": True,
        "labels": [name for name, _ in ordered],
        "datasets": [
            {
                "label": "% of records",
                "data": [round(100 * t["records"] / records, 2) for _, t in ordered],
            },
            {
                "label": "% of revenue",
                "data": [round(100 * t["revenue"] / revenue, 2) for _, t in ordered],
            },
        ],
    }


def embedded(spec: dict[str, Any]) -> str:
    """JSON safe inside a ``<script type="application/json">`` element: no ``</script>``
    or HTML comment can be formed by a segment name or a CRM value."""
    text = json.dumps(spec, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def model_names(sizes: dict[str, Any]) -> list[tuple[str, str]]:
    """(object type, model) pairs present in a sizes table, contacts first."""
    pairs = []
    for object_type in sorted(sizes, key=lambda t: (t != "contact", t)):
        pairs += [(object_type, model) for model in sizes[object_type]]
    return pairs
