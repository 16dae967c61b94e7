"""Field maps as configuration: SEGSYNC_FIELD_MAP, mistakes named by line and column, and
a map checked against the CRM before a run reads or writes anything."""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from tests.harness import TOKEN, Harness, hubspot_harness
from workers.cli.main import main
from workers.fieldmap import FieldMapError, load_field_map

SHIPPED = (resources.files("workers") / "fieldmaps" / "hubspot.yaml").read_text()


def custom_map(tmp_path: Path, employees: str) -> Path:
    """The shipped HubSpot map with companies' head-count read from ``employees``."""
    text = SHIPPED.replace("  employees: numberofemployees", f"  employees: {employees}")
    assert text != SHIPPED
    path = tmp_path / "fieldmap.yaml"
    path.write_text(text)
    return path


def line_of(path: Path, needle: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "contact:\n  email: email\ncompanys:\n  name: name\n",
            r"x\.yaml:3:1: unknown object type",
        ),
        (
            "company:\n  employees: [a, b]\n",
            r"x\.yaml:2:14: company\.employees must name a property",
        ),
        ("company:\n  name: name\n  name: other\n", r"x\.yaml:3:3: company\.name is mapped twice"),
        ("company:\n  name: name\n bad\n", r"x\.yaml:3:\d+: not YAML"),
        ("- contact\n", r"x\.yaml:1:1: the file must map object types to fields"),
        ("", r"x\.yaml: empty"),
    ],
)
def test_mistakes_are_named_by_line_and_column(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "x.yaml"
    path.write_text(text)
    with pytest.raises(FieldMapError, match=message):
        load_field_map("hubspot", path)


def test_a_file_may_hold_one_map_per_crm(tmp_path: Path) -> None:
    path = tmp_path / "maps.yaml"
    path.write_text("hubspot:\n  company:\n    name: company_name_custom\n")
    assert load_field_map("hubspot", path).fields == {"company": {"name": "company_name_custom"}}
    shipped = load_field_map("salesforce", path)  # no block: the shipped map
    assert not shipped.custom and shipped.fields["company"]["name"] == "Name"


@pytest.fixture
def hubspot(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Harness]:
    harness = hubspot_harness(contacts=150, companies=30, deals=40)
    for key, value in {
        "SEGSYNC_HUBSPOT_BASE_URL": harness.server.url,
        "SEGSYNC_HUBSPOT_TOKEN": TOKEN,
        "SEGSYNC_HUBSPOT_SEARCH_LAG_SECONDS": "0",
        "SEGSYNC_DATABASE_URL": f"sqlite:///{tmp_path / 'state.db'}",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("SEGSYNC_REDIS_URL", raising=False)
    monkeypatch.delenv("SEGSYNC_FIELD_MAP", raising=False)
    yield harness
    harness.server.stop()


def portal_adds_head_count_property(harness: Harness, employees: int) -> list[str]:
    """The admin's own number property on companies, set on every company; their ids."""
    api = f"{harness.server.url}/crm/v3"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    created = requests.post(
        f"{api}/properties/companies",
        json={
            "name": "employee_count_custom",
            "label": "Employee count (ours)",
            "type": "number",
            "fieldType": "number",
            "groupName": "companyinformation",
        },
        headers=auth,
        timeout=10,
    )
    assert created.status_code == 201, created.text
    table = harness.server.state.store.table("company")
    ids = [str(table.ids[row]) for row in range(len(table)) if not table.archived[row]]
    for start in range(0, len(ids), 100):
        inputs = [
            {"id": i, "properties": {"employee_count_custom": str(employees)}}
            for i in ids[start : start + 100]
        ]
        answer = requests.post(
            f"{api}/objects/companies/batch/update",
            json={"inputs": inputs},
            headers=auth,
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
    return ids


def test_a_custom_map_with_the_portals_own_property_drives_a_full_sync(
    hubspot: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = portal_adds_head_count_property(hubspot, employees=5000)
    path = custom_map(tmp_path, "employee_count_custom")
    monkeypatch.setenv("SEGSYNC_FIELD_MAP", str(path))
    runner = CliRunner()
    shown = runner.invoke(main, ["fieldmap", "show", "--crm", "hubspot", "--json"])
    assert shown.exit_code == 0, shown.output
    body = json.loads(shown.output)
    assert body["source"] == str(path) and body["custom"] is True
    assert body["fields"]["company"]["employees"] == "employee_count_custom"
    checked = runner.invoke(main, ["fieldmap", "check", "--crm", "hubspot"])
    assert checked.exit_code == 0, checked.output
    assert "hubspot field map OK" in checked.output
    assert runner.invoke(main, ["schema", "apply", "--crm", "hubspot"]).exit_code == 0
    synced = runner.invoke(main, ["sync", "--crm", "hubspot", "--full", "--json"])
    assert synced.exit_code in (0, 3), synced.output
    # Every company has 5,000 people by the portal's own count: all enterprise.
    segments = {hubspot.record("company", i)["properties"].get("segsync_firmographic") for i in ids}
    assert segments == {"enterprise"}


def test_a_map_naming_a_property_the_portal_lacks_stops_before_any_write(
    hubspot: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    portal_adds_head_count_property(hubspot, employees=5000)
    path = custom_map(tmp_path, "employee_count_custmo")
    line = line_of(path, "employee_count_custmo")
    monkeypatch.setenv("SEGSYNC_FIELD_MAP", str(path))
    runner = CliRunner()
    checked = runner.invoke(main, ["fieldmap", "check", "--crm", "hubspot"])
    assert checked.exit_code == 2
    assert f"{path}:{line}:14: company.employees -> employee_count_custmo" in checked.output
    assert "did you mean 'employee_count_custom'?" in checked.output
    whole = runner.invoke(main, ["check", "--crm", "hubspot"])
    assert whole.exit_code == 2 and f"{path}:{line}:14" in whole.output
    assert runner.invoke(main, ["schema", "apply", "--crm", "hubspot"]).exit_code == 0
    hubspot.admin("POST", "reset-stats")
    synced = runner.invoke(main, ["sync", "--crm", "hubspot", "--full"])
    assert synced.exit_code == 2, synced.output
    assert f"{path}:{line}:14" in synced.output and "nothing was read or written" in synced.output
    stats = hubspot.admin("GET", "stats")
    assert stats["records_written"] == 0
    # The one call is the CLI's credentials check (one record); no read, no write.
    reads = {k: n for k, n in stats["requests"].items() if "/objects/" in k}
    assert reads == {"GET /crm/v3/objects/contacts": 1}, stats["requests"]
