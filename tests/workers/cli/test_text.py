"""The CLI's text for people: counts agree with their nouns, no segment hides, no None."""

from __future__ import annotations

from typing import Any

from workers.cli.text import brief, format_demo, format_report, format_run, plural


def test_counts_agree_with_their_nouns() -> None:
    assert plural(1, "record") == "1 record"
    assert plural(0, "record") == "0 records"
    assert plural(2_300, "record") == "2,300 records"
    assert plural(1, "company") == "1 company" and plural(3, "company") == "3 companies"
    assert plural(2, "day") == "2 days"  # a vowel before the y
    assert plural(2, "property or group", "properties and groups") == "2 properties and groups"


def _run(**counts: Any) -> dict[str, Any]:
    base = {
        "pulled": 30,
        "changed": None,
        "changed_by_segsync": None,
        "compared": 20,
        "records_written": 20,
        "fields_written": 300,
        "fields_unchanged": 0,
        "rejected": 0,
        "api_calls": 1,
        "transitions": {},
    }
    return {**base, **counts}


def test_demo_lists_every_segment_and_names_the_empty_one() -> None:
    segments = [{"segment": f"segment_{i:02}", "count": 20 - i, "share": 0.05} for i in range(12)]
    segments.append({"segment": None, "count": 7, "share": 0.01})
    moves = {f"segment_{i:02} -> segment_{i + 1:02}": 1 for i in range(9)}
    result = {
        "sandbox_url": "http://127.0.0.1:1",
        "database": "sqlite:///x.db",
        "playbook": "b2b_saas",
        "schema_changes": 1,
        "objects": {"contact": {"seeded": 20, "pulled": 20}},
        "mutated": 1,
        "segments": {"contacts": {"rfm": segments}},
        "runs": {
            "full": _run(),
            "incremental": _run(changed=21, changed_by_segsync=20, transitions={"rfm": moves}),
            "again": _run(changed=1, changed_by_segsync=1, records_written=0),
        },
        "seconds": 1.0,
    }
    text = format_demo(result, 42, "b2b")
    flat = " ".join(text.split())
    for i in range(12):
        assert f"segment_{i:02} {20 - i}" in flat
    for move in moves:
        assert f"{move} (1)" in flat
    assert "(none) 7" in flat and "None" not in text and "more" not in text
    assert "(none): no value, the field is left empty" in text
    assert "schema apply: 1 property or group created" in text
    rows = {line.split("  ")[0]: line.split()[-8:] for line in text.splitlines()}
    assert rows["incremental after 1 change"][:2] == ["1", "20"]
    assert rows["full sync"][:2] == ["-", "-"]
    assert all(len(line) <= 110 for line in text.splitlines())


def test_sync_summary_of_a_run_that_found_nothing_without_a_lag() -> None:
    report = {
        "crm": "salesforce",
        "mode": "incremental",
        "dry_run": False,
        "seconds": 0.2,
        "api_calls": 1,
        "records_changed": {"lead": 0, "contact": 0},
        "change_lag_seconds": 0.0,
    }
    text = format_report(report)
    assert text.splitlines() == [
        "salesforce incremental sync: 0.2 s, 1 Salesforce API call",
        "  changed in Salesforce since the last sync: none, so nothing was read",
    ]
    report["change_lag_seconds"] = 5.0
    assert "(SEGSYNC_SALESFORCE_LAG_SECONDS)" in format_report(report)


def test_worker_run_line_and_run_history() -> None:
    counts = {
        "run_id": 7,
        "mode": "incremental",
        "records_pulled": {"contact": 2000, "company": 300},
        "records_changed": {"contact": 60, "company": 0},
        "records_changed_by_segsync": {"contact": 59, "company": 0},
        "records_compared": {"contact": 12, "company": 1},
        "records_written": 1,
        "fields_written": 1,
        "rejected": 0,
        "api_calls": 1,
        "write_tasks": 1,
        "seconds": 3.25,
    }
    assert brief(counts) == (
        "run #7 incremental: 1 record changed (+59 by segsync's own writes), 2,300 read, "
        "13 compared, 1 record / 1 field written in 1 write task, 0 rejected, 1 API call, 3.2 s"
    )
    # Runs recorded before the newer counts existed still read as sentences.
    old = {"pulled": {"contact": 5}, "written": 2, "fields_written": 9, "api_calls": 4}
    line = format_run(3, "hubspot", "sync-full", "succeeded", "2026-01-02 03:04:05", 1.0, old, None)
    assert line == (
        "#3 hubspot sync-full succeeded 2026-01-02 03:04:05 (1.0 s): 5 records read, "
        "2 records / 9 fields written, 4 API calls"
    )
    pull = format_run(4, "hubspot", "pull-full", "failed", "t", None, {"company": 1}, "boom")
    assert pull == "#4 hubspot pull-full failed t: read 1 company; error: boom"
