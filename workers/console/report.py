"""``segsync report``: the console's charts as one self-contained HTML file.

Chart.js, the drawing script, the styles and the data are all inside the file: it
renders with no network at all, so an admin can mail it. Links point nowhere (there is
no console behind a mail).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from workers.cli.text import crm_name
from workers.console import charts, data
from workers.console.app import HERE, _templates
from workers.state import StateStore


def render_report(store: StateStore, crms: Iterable[str], since: datetime | None = None) -> str:
    """The report's HTML: per CRM the latest sizes, sizes over time per model, the runs."""
    specs: dict[str, str] = {}
    found = data.overview(store, crms)
    for crm in found:
        crm["name"] = crm_name(crm["crm"])
        history = [
            point for point in crm["history"]
            if since is None or datetime.fromisoformat(point["at"]) >= since
        ]  # fmt: skip
        crm["runs"] = [
            r for r in crm["runs"]
            if since is None or datetime.fromisoformat(r["started_at"]) >= since
        ]  # fmt: skip
        crm["bars"], crm["trends"] = [], []
        for n, (object_type, model) in enumerate(charts.model_names(crm["sizes"])):
            chart_id = f"{crm['crm']}-bar-{n}"
            title = f"{object_type} · {model}"
            specs[chart_id] = charts.embedded(
                charts.sizes_bar(crm["sizes"][object_type][model], title)
            )
            crm["bars"].append({"id": chart_id})
            if len(history) > 1:
                trend = f"{crm['crm']}-trend-{n}"
                specs[trend] = charts.embedded(
                    charts.sizes_over_time(history, object_type, model, f"{title} over time")
                )
                crm["trends"].append(trend)
        crm["value"] = _value(specs, crm["crm"], store.list_runs(data.HISTORY_RUNS, crm=crm["crm"]))
    static = HERE / "static"
    context: dict[str, Any] = {
        "crms": found,
        "charts": specs,
        "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M"),
        "since": since.date().isoformat() if since else None,
        "css": (static / "console.css").read_text(encoding="utf-8"),
        "chartjs": _inline_script((static / "chart.umd.min.js").read_text(encoding="utf-8")),
        "consolejs": _inline_script((static / "console.js").read_text(encoding="utf-8")),
    }
    return _templates().get_template("report.html").render(**context)


def _value(specs: dict[str, str], crm: str, runs: list[Any]) -> dict[str, Any] | None:
    """The contacts' RFM grid, CLV bands and value tiers of the newest whole run."""
    found = data.latest_insights(runs, "contact")
    if not found:
        return None
    drawn = []
    if found.get("clv_bands"):
        specs[f"{crm}-clv"] = charts.embedded(
            charts.clv_bands_bar(found["clv_bands"], "contacts by predicted 12-month CLV")
        )
        drawn.append(f"{crm}-clv")
    if found.get("value_tiers"):
        title = "value tiers: share of contacts and of revenue"
        specs[f"{crm}-tiers"] = charts.embedded(charts.tier_shares_bar(found["value_tiers"], title))
        drawn.append(f"{crm}-tiers")
    grid = data.rfm_cells(found["rfm_grid"]) if found.get("rfm_grid") else None
    return {"run_id": found["run_id"], "charts": drawn, "grid": grid}


def _inline_script(text: str) -> str:
    # A script's text must not close its element early.
    return text.replace("</script", "<\\/script")
