"""The console over HTTP: never open, CSRF on every action, no session fixation, escaped
CRM values, and pages whose numbers are the run history's and the CRM's."""

from __future__ import annotations

import html
import json
import re
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.harness import Harness
from tests.workers.console.support import BOOK, HOSTILE, PASSWORD
from workers.console.app import create_console
from workers.settings import Settings
from workers.state import StateStore
from workers.sync.runner import run_sync

pytestmark = pytest.mark.integration


def client(settings: Settings) -> TestClient:
    return TestClient(create_console(settings), base_url="http://testserver")


def logged_in(settings: Settings) -> tuple[TestClient, str]:
    """A client with a session, and the session's CSRF token."""
    c = client(settings)
    form = c.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token is not None
    answer = c.post("/login", data={"csrf": token[1], "password": PASSWORD},
                    follow_redirects=False)  # fmt: skip
    assert answer.status_code == 303 and answer.headers["location"] == "/"
    home = c.get("/")
    csrf = re.search(r'name="csrf" value="([^"]+)"', home.text)
    assert home.status_code == 200 and csrf is not None
    return c, csrf[1]


def charts_of(html: str) -> dict[str, Any]:
    return {
        m[1]: json.loads(m[2])
        for m in re.finditer(r'<script type="application/json" id="([^"]+)">(.*?)</script>', html)
    }


def test_nothing_is_open_without_a_session(synced: tuple[Harness, Settings]) -> None:
    _, settings = synced
    c = client(settings)
    for path in ("/", "/runs", "/runs/1", "/records?id=1", "/deadletters", "/playbook",
                 "/models/hubspot/contact/demographic"):  # fmt: skip
        answer = c.get(path, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"] == "/login", path
    assert c.get("/static/chart.umd.min.js").status_code == 401
    assert c.get("/static/console.css").status_code == 200  # the login page's looks
    assert c.post("/deadletters/retry", data={"crm": "hubspot"}).status_code == 401
    assert c.post("/logout").status_code == 401


def test_login_refuses_a_wrong_password_a_missing_token_and_a_planted_session(
    synced: tuple[Harness, Settings],
) -> None:
    _, settings = synced
    c = client(settings)
    token = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text)
    assert token is not None
    wrong = c.post("/login", data={"csrf": token[1], "password": "not-the-password"})
    assert wrong.status_code == 401 and "Wrong password." in wrong.text
    assert "segsync_session" not in wrong.cookies
    missing = c.post("/login", data={"password": PASSWORD})
    assert missing.status_code == 403
    # Session fixation: a token planted before login is never the session.
    c.cookies.set("segsync_session", "planted-by-an-attacker")
    answer = c.post("/login", data={"csrf": token[1], "password": PASSWORD},
                    follow_redirects=False)  # fmt: skip
    assert answer.status_code == 303
    issued = answer.cookies.get("segsync_session")
    assert issued and issued != "planted-by-an-attacker"
    attacker = client(settings)
    attacker.cookies.set("segsync_session", "planted-by-an-attacker")
    assert attacker.get("/", follow_redirects=False).status_code == 303
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie


def test_pages_show_the_run_history_and_the_crm(synced: tuple[Harness, Settings]) -> None:
    harness, settings = synced
    c, _ = logged_in(settings)
    with StateStore(settings.database_url) as store:
        runs = sorted(store.list_runs(crm="hubspot"), key=lambda r: r.id)
    full, first, second, nightly = runs
    home = c.get("/")
    charts = charts_of(home.text)
    bars = [spec for key, spec in charts.items() if "-bar-" in key]
    assert bars and all(spec["datasets"][0]["data"] for spec in bars)
    demographic = next(s for s in bars if s["title"] == "contact · demographic")
    expected = nightly.counts["segment_sizes"]["contact"]["demographic"]
    assert dict(zip(demographic["labels"], demographic["datasets"][0]["data"], strict=True)) == (
        expected
    )
    # The migration view adds up the runs' recorded moves.
    page = c.get(f"/models/hubspot/contact/demographic?after={full.id}&upto={second.id}")
    assert page.status_code == 200
    moves: dict[tuple[str, str], int] = {}
    for run in (first, second):
        for pair, n in (
            run.counts["segment_moves"].get("contact", {}).get("demographic", {}).items()
        ):
            old, new = pair.split(" -> ")
            moves[(old, new)] = moves.get((old, new), 0) + n
    cells = {
        (m[1], m[2]): int(m[3].replace(",", ""))
        for m in re.finditer(r'data-from="([^"]+)" data-to="([^"]+)">([\d,]+)</td>', page.text)
    }
    assert cells == moves and moves
    assert "over time" in json.dumps(charts_of(page.text)["trend"])
    # A record shows what segsync wrote, as the CRM holds it.
    record_id = settings.__dict__["hostile_id"]
    shown = c.get(f"/records?crm=hubspot&type=contact&id={record_id}")
    crm_value = harness.record("contact", record_id)["properties"]["segsync_demographic"]
    written = dict(re.findall(r"<tr><td>([a-z_]+)</td><td>([^<]*)</td>", shown.text))
    assert written["segsync_demographic"] == crm_value
    run_page = c.get(f"/runs/{first.id}")
    assert "demographic: moves" in run_page.text
    assert c.get("/runs/999999").status_code == 404
    assert "valid:" in c.get("/playbook").text


def cells_of(page: str, table: str) -> str:
    found = re.search(rf'<table[^>]*id="{table}">(.*?)</table>', page, re.S)
    assert found is not None, f"no {table} table"
    return found[1]


def test_model_pages_show_the_rfm_grid_value_tiers_and_validated_profiles(
    synced: tuple[Harness, Settings],
) -> None:
    harness, settings = synced
    c, _ = logged_in(settings)
    # RFM: 25 cells, recency x frequency, holding every contact the CRM holds a scored
    # RFM segment for (the unscored ones have no purchase to place).
    grid = cells_of(c.get("/models/hubspot/contact/rfm").text, "rfm-grid")
    cells = re.findall(r'data-r="(\d)" data-f="(\d)" data-records="(\d+)"', grid)
    assert len(cells) == 25 and len(set(cells)) == 25
    table = harness.server.state.store.table("contact")
    held = [table.get(row, "segsync_rfm") for row in range(len(table)) if not table.archived[row]]
    scored = sum(1 for v in held if v not in (None, "", "no_purchase"))
    assert sum(int(n) for _, _, n in cells) == scored > 0
    assert 'data-heat="1.0"' in grid and "heat-10" in grid  # the highest mean value, darkest
    # Value tiers: the share of records beside the share of revenue, each adding to 100 %.
    value = c.get("/models/hubspot/contact/value_tier").text
    tiers = charts_of(value)["tiers"]
    assert [d["label"] for d in tiers["datasets"]] == ["% of records", "% of revenue"]
    for dataset in tiers["datasets"]:
        assert abs(sum(dataset["data"]) - 100) < 0.1
    live = [row for row in range(len(table)) if not table.archived[row]]
    assert set(tiers["labels"]) == {table.get(row, "segsync_value_tier") for row in live} - {None}
    # Profiles: a row per segment with the five validation tests, sizes as the CRM's.
    profiles = cells_of(c.get("/models/hubspot/contact/demographic").text, "profiles")
    rows = re.findall(r'<tr data-segment="([^"]+)">(.*?)</tr>', profiles, re.S)
    demographic = [table.get(row, "segsync_demographic") for row in live]
    assert {seg for seg, _ in rows} == {v for v in demographic if v}
    for segment, row in rows:
        tests = re.findall(r'class="check (pass|warn)" data-test="([a-z]+)"', row)
        assert [t for _, t in tests] == [
            "measurable",
            "accessible",
            "substantial",
            "differentiable",
            "actionable",
        ]
        count = re.search(r'<td class="n">([\d,]+)</td>', row)
        assert count is not None and int(count[1].replace(",", "")) == demographic.count(segment)


def test_a_record_is_found_by_email_with_every_model_and_its_reason(
    synced: tuple[Harness, Settings],
) -> None:
    harness, settings = synced
    c, _ = logged_in(settings)
    table = harness.server.state.store.table("contact")
    row = 5
    record_id, email = str(table.ids[row]), str(table.get(row, "email"))
    shown = c.get("/records", params={"crm": "hubspot", "id": email.upper()})
    assert shown.status_code == 200
    assert f"contact {record_id}" in shown.text  # HubSpot matches an email case-blind
    held = harness.record("contact", record_id)["properties"]
    segments = re.findall(
        r'<tr data-model="([a-z_]+)"><td>[a-z_]+</td><td>([^<]*)</td><td>([^<]*)</td>',
        cells_of(shown.text, "segments"),
    )
    assert {m for m, _, _ in segments} >= {"demographic", "lifecycle", "rfm", "value_tier"}
    for model, segment, reason in segments:
        assert segment == (held.get(f"segsync_{model}") or ""), model
        assert html.unescape(reason) == (held.get(f"segsync_{model}_reason") or ""), model
    nobody = c.get("/records", params={"crm": "hubspot", "id": "nobody@example.invalid"})
    assert "No person in hubspot has the email nobody@example.invalid." in nobody.text
    odd = c.get("/records", params={"crm": "hubspot", "id": "a@b@c"})
    assert odd.status_code == 200 and "not an email address: &#39;a@b@c&#39;" in odd.text


def test_crm_values_are_escaped_and_paths_cannot_climb(synced: tuple[Harness, Settings]) -> None:
    _, settings = synced
    c, _ = logged_in(settings)
    record_id = settings.__dict__["hostile_id"]
    shown = c.get(f"/records?crm=hubspot&type=contact&id={record_id}")
    assert HOSTILE not in shown.text
    assert "&lt;script&gt;alert(" in shown.text  # the mirrored job title, as text
    assert "script-src 'self'" in shown.headers["content-security-policy"]
    for path in ("/static/../../../etc/passwd", "/static/%2e%2e/%2e%2e/etc/passwd",
                 "/static/..%2f..%2fsettings.py"):  # fmt: skip
        answer = c.get(path)
        assert answer.status_code == 404 and "root:" not in answer.text, path


def test_a_dead_letter_retry_needs_the_csrf_token(synced: tuple[Harness, Settings]) -> None:
    _, settings = synced
    c, csrf = logged_in(settings)
    assert c.post("/deadletters/retry", data={"crm": "hubspot"}).status_code == 403
    assert c.post("/deadletters/retry", data={"crm": "hubspot", "csrf": "x"}).status_code == 403
    done = c.post("/deadletters/retry", data={"crm": "hubspot", "csrf": csrf},
                  follow_redirects=False)  # fmt: skip
    assert done.status_code == 303 and "Retried" in done.headers["location"]


def test_the_report_is_one_file_that_needs_no_network(synced: tuple[Harness, Settings]) -> None:
    from workers.console.report import render_report

    _, settings = synced
    with StateStore(settings.database_url) as store:
        html = render_report(store, ["hubspot"])
        nightly = max(
            (r for r in store.list_runs(crm="hubspot") if r.counts.get("segment_sizes")),
            key=lambda r: r.id,
        )
    # Nothing fetched at view time: no src or href to load, the library inline.
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", html)
    assert "Chart.js v4" in html and "new Chart(" in html
    charts = charts_of(html)
    sizes = nightly.counts["segment_sizes"]
    bars = {spec["title"]: spec for key, spec in charts.items() if "-bar-" in key}
    assert set(bars) == {f"{t} · {m}" for t, models in sizes.items() for m in models}
    demographic = bars["contact · demographic"]
    assert (
        dict(zip(demographic["labels"], demographic["datasets"][0]["data"], strict=True))
        == (sizes["contact"]["demographic"])
    )
    trends = [spec for key, spec in charts.items() if "-trend-" in key]
    assert trends and all(len(spec["labels"]) == 2 for spec in trends)  # full and nightly
    # The value section: the newest whole run's value tiers, as the CRM holds them.
    tiers = charts["hubspot-tiers"]
    assert sorted(tiers["labels"]) == sorted(sizes["contact"]["value_tier"])
    assert 'id="rfm-grid"' in html
    assert HOSTILE not in html


def test_a_preview_lists_exactly_what_the_next_sync_writes(
    synced: tuple[Harness, Settings],
) -> None:
    import csv
    import io
    import time

    from workers.console.preview import planned_changes

    harness, settings = synced
    harness.admin("POST", "mutate", json={"count": 25, "object_type": "contacts"})
    c, csrf = logged_in(settings)
    assert c.post("/preview/start", data={"crm": "hubspot"}).status_code == 403
    started = c.post("/preview/start", data={"crm": "hubspot", "csrf": csrf},
                     follow_redirects=False)  # fmt: skip
    assert started.status_code == 303
    location = started.headers["location"]
    deadline = time.monotonic() + 120
    while 'data-status="running"' in (shown := c.get(location)).text:
        assert time.monotonic() < deadline, "the dry run did not finish"
        time.sleep(0.5)
    assert 'data-status="done"' in shown.text, shown.text[-2000:]
    preview_id = location.rsplit("=", 1)[1]
    listed = list(csv.DictReader(io.StringIO(c.get(f"/preview/{preview_id}.csv").text)))
    assert listed, "25 changed contacts planned nothing"
    # The same plan made again (the records the dry run read are still pending).
    again = planned_changes(settings, "hubspot", False)
    assert {tuple(r.values()) for r in listed} == {
        tuple("" if v is None else v for v in row) for row in again.iter_rows()
    }
    # Filtered by a model and one of its transitions: only those rows.
    pick = next(r for r in listed if r["field"] == "demographic")
    move = f"{pick['old'] or '(none)'} -> {pick['new'] or '(none)'}"
    filtered = c.get(f"/preview?id={preview_id}&model=demographic&transition={move}")
    assert f'<option value="{html.escape(move)}" selected>' in filtered.text
    count = re.search(r'<span id="preview-count">([\d,]+)</span>', filtered.text)
    expected = [r for r in listed if r["field"] == "demographic"
                and f"{r['old'] or '(none)'} -> {r['new'] or '(none)'}" == move]  # fmt: skip
    assert count is not None and int(count[1].replace(",", "")) == len(expected)
    # The real run writes what the preview planned.
    run_sync(settings, "hubspot", BOOK, connector=harness.build())
    for row in [r for r in listed if r["field"] == "demographic"][:10]:
        held = harness.record(row["object_type"], row["record_id"])["properties"]
        assert held["segsync_demographic"] == row["new"], row
