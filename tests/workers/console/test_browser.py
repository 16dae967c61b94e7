"""The console and the report in a real browser (Debian's Chromium, driven by Playwright).

A console serves a sandbox that has run a full sync, two incrementals and the nightly:
every route needs the login, every page renders without a console error, every chart
draws its series, the numbers on the page are the run history's and the CRM's, a
dead-letter retry from the page lands in the sandbox, and the report renders offline.
Screenshots of each page at 1280 by 800 go to ``screenshots/`` (git-ignored).
"""

from __future__ import annotations

import re
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from playwright.sync_api import Browser, Page, sync_playwright

from tests.harness import Harness
from tests.instruments import free_port
from tests.paths import ROOT
from tests.workers.console.support import PASSWORD
from workers.console.app import create_console
from workers.settings import Settings
from workers.state import StateStore
from workers.sync.plan import load_playbook
from workers.sync.runner import run_sync

pytestmark = pytest.mark.integration
SHOTS = ROOT / "screenshots"
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    path = shutil.which("chromium") or CHROMIUM
    assert Path(path).exists(), "Debian's chromium is needed: `make chromium` installs it"
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=path, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def console(synced: tuple[Harness, Settings]) -> Iterator[str]:
    _, settings = synced
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_console(settings), host="127.0.0.1", port=port, log_level="error")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the console did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


class Watched:
    """A page whose console errors and uncaught exceptions are kept."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.errors: list[str] = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))

    def shot(self, name: str) -> None:
        SHOTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=False)

    def charts(self) -> list[dict[str, Any]]:
        """Every chart drawn on the page: its type, series and points per series."""
        self.page.wait_for_load_state("load")
        return list(
            self.page.evaluate(
                """() => [...document.querySelectorAll('canvas[data-chart]')].map(c => {
                    const chart = Chart.getChart(c);
                    return chart ? {id: c.dataset.chart, type: chart.config.type,
                        width: c.width, series: chart.data.datasets.length,
                        points: chart.data.datasets.map(d => d.data.length),
                        labels: chart.data.labels} : {id: c.dataset.chart, drawn: false};
                })"""
            )
        )


def logged_in(browser: Browser, console: str) -> Watched:
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    watched = Watched(page)
    page.goto(console + "/")
    assert page.url == console + "/login"
    watched.shot("login")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(console + "/")
    return watched


def test_every_route_needs_the_login(browser: Browser, console: str) -> None:
    page = browser.new_page()
    for path in ("/", "/runs", "/runs/1", "/records", "/deadletters", "/playbook",
                 "/models/hubspot/contact/demographic"):  # fmt: skip
        page.goto(console + path)
        assert page.url == console + "/login", path
    wrong = page.goto(console + "/login")
    assert wrong is not None
    page.fill("input[name=password]", "not the password")
    page.click("button[type=submit]")
    assert page.inner_text("p.error") == "Wrong password."
    page.close()


def test_pages_render_and_their_charts_draw(
    browser: Browser,
    console: str,
    synced: tuple[Harness, Settings],
) -> None:
    harness, settings = synced
    watched = logged_in(browser, console)
    page = watched.page
    with StateStore(settings.database_url) as store:
        runs = sorted(store.list_runs(crm="hubspot"), key=lambda r: r.id)
    full, first, second, nightly = runs
    sizes = nightly.counts["segment_sizes"]

    drawn = watched.charts()
    bars = [c for c in drawn if "-bar-" in c["id"]]
    assert len(bars) == sum(len(models) for models in sizes.values())
    assert all(c["type"] == "bar" and c["series"] == 1 and c["points"][0] > 0 for c in bars)
    trend = next(c for c in drawn if c["id"].endswith("-trend"))
    assert trend["type"] == "line" and len(trend["labels"]) == 2  # full and nightly
    watched.shot("overview")

    page.goto(f"{console}/models/hubspot/contact/demographic?after={full.id}&upto={second.id}")
    drawn = watched.charts()
    assert {c["id"] for c in drawn} == {"now", "trend"}
    now = next(c for c in drawn if c["id"] == "now")
    assert sorted(now["labels"]) == sorted(sizes["contact"]["demographic"])
    moves: dict[tuple[str, str], int] = {}
    for run in (first, second):
        for pair, n in run.counts["segment_moves"]["contact"]["demographic"].items():
            old, new = pair.split(" -> ")
            moves[(old, new)] = moves.get((old, new), 0) + n
    cells = page.eval_on_selector_all(
        "#migration td.moved",
        "tds => tds.map(td => [td.dataset.from, td.dataset.to, td.textContent])",
    )
    assert {(a, b): int(n.replace(",", "")) for a, b, n in cells} == moves
    watched.shot("model")
    page.goto(f"{console}/models/hubspot/contact/rfm")
    assert page.locator("#rfm-grid td[data-records]").count() == 25
    assert page.locator("#profiles tr[data-segment]").count() == len(sizes["contact"]["rfm"])
    page.evaluate("window.scrollTo(0, document.querySelector('h2.insights').offsetTop - 20)")
    watched.shot("model-rfm")
    page.goto(f"{console}/models/hubspot/contact/value_tier")
    tiers = next(c for c in watched.charts() if c["id"] == "tiers")
    assert tiers["type"] == "bar" and tiers["series"] == 2
    assert sorted(tiers["labels"]) == sorted(sizes["contact"]["value_tier"])
    page.evaluate("window.scrollTo(0, document.querySelector('h2.insights').offsetTop - 20)")
    watched.shot("model-value")

    page.goto(f"{console}/runs")
    assert page.locator("table.runs tbody tr").count() == len(runs)
    watched.shot("runs")
    page.goto(f"{console}/runs/{first.id}")
    assert "demographic: moves" in page.inner_text("main")
    watched.shot("run")

    record_id = settings.__dict__["hostile_id"]
    page.goto(f"{console}/records")
    page.fill("input[name=id]", record_id)
    page.click("form.lookup button")
    page.wait_for_load_state("load")
    held = harness.record("contact", record_id)["properties"]
    rows = dict(
        page.eval_on_selector_all(
            "h3:has-text('What segsync wrote') + table tbody tr",
            "trs => trs.map(tr => [tr.cells[0].textContent, tr.cells[1].textContent])",
        )
    )
    for field in ("segsync_demographic", "segsync_lifecycle", "segsync_geographic"):
        assert rows[field] == (held.get(field) or ""), field
    assert "<script>alert('segsync')</script>" in page.inner_text("main")  # shown as text
    # The same record by its email: each model's segment and reason as the CRM holds them.
    page.fill("input[name=id]", held["email"])
    page.click("form.lookup button")
    page.wait_for_load_state("load")
    assert f"contact {record_id}" in page.inner_text("h2")
    segments = page.eval_on_selector_all(
        "#segments tbody tr",
        "trs => trs.map(tr => [tr.dataset.model, tr.cells[1].textContent,"
        " tr.cells[2].textContent])",
    )
    assert len(segments) >= 8
    for model, segment, reason in segments:
        assert segment == (held.get(f"segsync_{model}") or ""), model
        assert reason == (held.get(f"segsync_{model}_reason") or ""), model
    watched.shot("record")

    page.goto(f"{console}/playbook")
    assert "valid:" in page.inner_text("main")
    watched.shot("playbook")
    assert watched.errors == []


def test_a_dead_letter_retry_from_the_page_lands_in_the_sandbox(
    browser: Browser,
    console: str,
    synced: tuple[Harness, Settings],
) -> None:
    harness, settings = synced
    harness.admin("POST", "faults", data="reject=1.0")
    harness.admin("POST", "mutate", json={"count": 8, "object_type": "contacts"})
    run_sync(settings, "hubspot", load_playbook("b2b_saas"), connector=harness.build())
    harness.admin("POST", "faults", data="0")
    with StateStore(settings.database_url) as store:
        letters = store.list_dead_letters("hubspot")
    assert letters
    watched = logged_in(browser, console)
    page = watched.page
    page.goto(f"{console}/deadletters?crm=hubspot")
    assert page.locator("table.letters tbody tr").count() == len(letters)
    watched.shot("deadletters")
    page.check("input[name=force]")  # the injected refusals read as invalid values
    page.click("button:has-text('Retry all open letters')")
    page.wait_for_url(re.compile(r".*/deadletters\?crm=hubspot&flash=.*"))
    flash = page.inner_text("p.flash")
    assert "Retried" in flash
    with StateStore(settings.database_url) as store:
        left = store.list_dead_letters("hubspot")
        assert left == [], (flash, {(d.reason, d.code, d.kind) for d in left})
    for letter in letters:
        held = harness.record(letter.object_type, letter.record_id)["properties"]
        for name, value in letter.fields.items():
            if name.startswith("segsync_") and not name.endswith(("_at", "_previous")):
                assert held.get(name) == value, (letter.record_id, name)
    assert watched.errors == []


def test_the_report_renders_offline_with_every_chart(
    browser: Browser,
    synced: tuple[Harness, Settings],
    tmp_path: Path,
) -> None:
    from workers.console.report import render_report

    _, settings = synced
    with StateStore(settings.database_url) as store:
        html = render_report(store, ["hubspot"])
    path = tmp_path / "report.html"
    path.write_text(html, encoding="utf-8")
    context = browser.new_context(viewport={"width": 1280, "height": 800}, offline=True)
    page = context.new_page()
    watched = Watched(page)
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(path.as_uri())
    drawn = watched.charts()
    assert drawn and all(c.get("drawn", True) and c["series"] >= 1 for c in drawn)
    assert [c for c in drawn if c["type"] == "line"]
    assert {"hubspot-clv", "hubspot-tiers"} <= {c["id"] for c in drawn}
    assert page.locator("#rfm-grid td[data-records]").count() == 25
    assert requests == [path.as_uri()]  # nothing else was fetched
    watched.shot("report")
    assert watched.errors == []
    context.close()


def test_a_dry_run_preview_lists_exactly_the_planned_changes(
    browser: Browser,
    console: str,
    synced: tuple[Harness, Settings],
) -> None:
    from workers.console.preview import planned_changes

    harness, settings = synced
    harness.admin("POST", "mutate", json={"count": 25, "object_type": "contacts"})
    watched = logged_in(browser, console)
    page = watched.page
    page.goto(f"{console}/preview")
    page.click("button:has-text('Start a dry run')")
    page.wait_for_url(re.compile(r".*/preview\?id=\d+"))
    deadline = time.monotonic() + 120
    while page.get_attribute("#preview-status", "data-status") == "running":
        assert time.monotonic() < deadline, "the dry run did not finish"
        time.sleep(0.5)
        page.reload()
    assert page.get_attribute("#preview-status", "data-status") == "done"
    shown: list[tuple[str, ...]] = []
    while True:
        shown += [
            tuple(row)
            for row in page.eval_on_selector_all(
                "table.changes tbody tr",
                "trs => trs.map(tr => [...tr.cells].map(td => td.textContent))",
            )
        ]
        following = page.locator("a.next")
        if following.count() == 0:
            break
        following.click()
        page.wait_for_load_state("load")
    planned = planned_changes(settings, "hubspot", False)
    expected = {
        (f"{t} {rid}", fld, old or "", new or "") for t, rid, fld, old, new in planned.iter_rows()
    }
    assert set(shown) == expected and len(shown) == len(expected) > 0
    watched.shot("preview")
    assert watched.errors == []
