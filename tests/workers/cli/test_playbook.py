"""``segsync playbook schema`` and ``segsync playbook check``."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from segmentation.playbook import playbook_json_schema
from tests.paths import ROOT
from workers.cli.main import main

GOOD = """\
version: 1
name: tiny
models:
  firmographic:
    rules:
      - {name: enterprise, when: {field: employees, gte: 1000}}
      - {name: mid_market, when: {field: employees, between: [200, 999]}}
    fallback: smb
"""

BAD = """\
version: 1
name: tiny
models:
  firmographic:
    rules:
      - {name: enterprise, when: {field: employees, gtee: 1000}}
      - {name: enterprise, when: {field: employees, between: 5}}
    fallback: smb
"""


def test_schema_prints_the_json_schema() -> None:
    result = CliRunner().invoke(main, ["playbook", "schema"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed == playbook_json_schema()
    jsonschema.Draft202012Validator.check_schema(printed)


def test_schema_output_file(tmp_path: Path) -> None:
    target = tmp_path / "playbook.schema.json"
    result = CliRunner().invoke(main, ["playbook", "schema", "--output", str(target)])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert json.loads(target.read_text(encoding="utf-8"))["$id"] == "urn:segsync:schema:playbook:v1"


def test_check_ok(tmp_path: Path) -> None:
    path = tmp_path / "tiny.yaml"
    path.write_text(GOOD, encoding="utf-8")
    result = CliRunner().invoke(main, ["playbook", "check", str(path)])
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"{path}: OK (1 model, 2 rules; checked against the hubspot and salesforce field maps)\n"
    )


def test_check_lists_every_problem_with_position(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD, encoding="utf-8")
    result = CliRunner().invoke(main, ["playbook", "check", str(path)])
    assert result.exit_code == 2  # a playbook problem is a configuration error
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"{path}:6:53: unknown operator 'gtee' in rule enterprise of model firmographic"
        " — did you mean 'gte'?",
        f"{path}:7:16: duplicate rule name 'enterprise' (rule #1 has it too) in model"
        " firmographic — rule names appear in reasons and must be unique within a model",
        f"{path}:7:62: 'between' needs [low, high], got 5 in rule enterprise of model firmographic",
        f"3 problems in {path}",
    ]


def test_check_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    result = CliRunner().invoke(main, ["playbook", "check", str(missing)])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"{missing}: no such playbook file, and not a shipped playbook (b2b_saas, b2c_retail)",
        f"1 problem in {missing}",
    ]


def test_check_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(GOOD.replace("smb", "sm\xe9").encode("latin-1"))
    result = CliRunner().invoke(main, ["playbook", "check", str(path)])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"{path}: cannot read playbook: 'utf-8' codec can't decode")


SENIORTY = """\
version: 1
name: typo
models:
  demographic:
    rules:
      - name: leader
        when: {field: seniorty, in: [c_level, vp]}
    fallback: other
"""


def test_check_catches_a_misspelt_field_before_any_run(tmp_path: Path) -> None:
    path = tmp_path / "typo.yaml"
    path.write_text(SENIORTY, encoding="utf-8")
    result = CliRunner().invoke(main, ["playbook", "check", str(path)])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"{path}:7:23: unknown field 'seniorty' in rule leader of model demographic"
        " — did you mean 'seniority'?",
        f"1 problem in {path}",
    ]


def test_the_readme_example_is_what_check_prints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    readme = (ROOT / "segmentation/playbook/README.md").read_text()
    section = readme.split("## Errors", 1)[1]
    playbook = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    printed = section.split("it prints\n\n```\n", 1)[1].split("```", 1)[0]
    (tmp_path / "b2b.yaml").write_text(playbook, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["playbook", "check", "b2b.yaml"])
    assert result.exit_code == 2
    assert "unknown field 'employes'" in printed
    assert result.stderr == printed


def test_literals_are_checked_against_the_fields_types(tmp_path: Path) -> None:
    path = tmp_path / "types.yaml"
    path.write_text(GOOD.replace("gte: 1000", 'gte: "1000"'), encoding="utf-8")
    result = CliRunner().invoke(main, ["playbook", "check", str(path)])
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == (
        f"{path}:6:58: 'gte' on integer field 'employees' needs a number, got text '1000'"
        " in rule enterprise of model firmographic"
    )


def test_check_finds_shipped_playbooks_by_name() -> None:
    for name, models, rules in (("b2b_saas", 8, 39), ("b2c_retail", 8, 38)):
        result = CliRunner().invoke(main, ["playbook", "check", name, "--crm", "salesforce"])
        assert result.exit_code == 0, result.output
        assert result.stdout == (
            f"{name}.yaml: OK ({models} models, {rules} rules;"
            " checked against the salesforce field map)\n"
        )


LONG_MODEL = """\
version: 1
name: long
models:
  customer_engagement_level:
    rules:
      - {name: high, when: {field: email_clicks, gte: 10}}
    fallback: low
"""


def test_check_reports_crm_field_names_schema_apply_would_refuse(tmp_path: Path) -> None:
    path = tmp_path / "long.yaml"
    path.write_text(LONG_MODEL, encoding="utf-8")
    hubspot = CliRunner().invoke(main, ["playbook", "check", str(path), "--crm", "hubspot"])
    assert hubspot.exit_code == 0, hubspot.output
    result = CliRunner().invoke(main, ["playbook", "check", str(path)])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"{path}:4:3: Salesforce field name Segsync_Customer_Engagement_Level_Entered_At__c"
        " is longer than 40 characters: 'segsync schema apply --crm salesforce' would refuse"
        " it in model customer_engagement_level — shorten the model name",
        f"1 problem in {path}",
    ]


CUSTOM = """\
version: 1
name: custom
models:
  psychographic:
    rules:
      - {name: promoter, when: {field: nps_score, gte: 9}}
    fallback: other
"""


def test_check_against_a_field_map_of_ones_own(tmp_path: Path) -> None:
    path = tmp_path / "custom.yaml"
    path.write_text(CUSTOM, encoding="utf-8")
    plain = CliRunner().invoke(main, ["playbook", "check", str(path), "--crm", "hubspot"])
    assert plain.exit_code == 2
    assert f"{path}:6:40: unknown field 'nps_score'" in plain.stderr
    fieldmap = tmp_path / "map.yaml"
    fieldmap.write_text("contact:\n  email: email\n  nps_score: nps__c\n", encoding="utf-8")
    args = ["playbook", "check", str(path), "--crm", "hubspot", "--field-map", str(fieldmap)]
    mapped = CliRunner().invoke(main, args)
    # Mapped, nps_score is a field; it is text until the playbook declares its type.
    assert mapped.exit_code == 2
    assert "'gte' on text field 'nps_score' needs" not in mapped.stderr
    assert "'gte' cannot test text field 'nps_score'" in mapped.stderr
    path.write_text(CUSTOM.replace("models:", "fields: {nps_score: number}\nmodels:"))
    declared = CliRunner().invoke(main, args)
    assert declared.exit_code == 0, declared.output
    assert "checked against the hubspot field map)" in declared.stdout


LEAD_SOURCE = """\
version: 1
name: sources
models:
  needs_based:
    rules:
      - {name: web, when: {field: lead_source, eq: Web}}
    fallback: other
"""


def test_a_problem_only_one_crm_meets_says_which(tmp_path: Path) -> None:
    # Only the Salesforce field map reads a lead source (LeadSource).
    path = tmp_path / "sources.yaml"
    path.write_text(LEAD_SOURCE, encoding="utf-8")
    result = CliRunner().invoke(main, ["playbook", "check", str(path)])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"{path}:6:35: unknown field 'lead_source' in rule web of model needs_based"
        " (with the hubspot field map) — did you mean 'source'?",
        f"1 problem in {path}",
    ]
    salesforce = CliRunner().invoke(main, ["playbook", "check", str(path), "--crm", "salesforce"])
    assert salesforce.exit_code == 0, salesforce.output


def test_field_map_needs_a_crm_and_must_be_usable(tmp_path: Path) -> None:
    path = tmp_path / "tiny.yaml"
    path.write_text(GOOD, encoding="utf-8")
    fieldmap = tmp_path / "map.yaml"
    fieldmap.write_text("contact:\n  id: hs_object_id\n", encoding="utf-8")
    no_crm = CliRunner().invoke(
        main, ["playbook", "check", str(path), "--field-map", str(fieldmap)]
    )
    assert no_crm.exit_code == 2
    assert "--field-map needs --crm" in no_crm.stderr
    args = ["playbook", "check", str(path), "--crm", "hubspot", "--field-map", str(fieldmap)]
    reserved = CliRunner().invoke(main, args)
    assert reserved.exit_code == 2
    assert reserved.stderr == (
        f"error: {fieldmap}: hubspot field map: contact maps id, which segsync fills from the"
        " record itself\n"
    )
    fieldmap.write_text("contact: [email]\n", encoding="utf-8")
    malformed = CliRunner().invoke(main, args)
    assert malformed.exit_code == 2
    assert malformed.stderr == (
        f"error: {fieldmap}:1:10: contact must map field names to property names\n"
    )


def test_fallback_must_be_a_segment_name(tmp_path: Path) -> None:
    path = tmp_path / "tiny.yaml"
    path.write_text(GOOD.replace("fallback: smb", "fallback: 42"), encoding="utf-8")
    result = CliRunner().invoke(main, ["playbook", "check", str(path)])
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == (
        f"{path}:8:15: 'fallback' should be text, got 42 in model firmographic"
        ' — YAML reads 42 as a number; quote it ("42") if you mean the text'
    )


def test_an_alias_bomb_is_refused_at_once(tmp_path: Path) -> None:
    lines = ["version: 1", "name: bomb", "lol:", '  l0: &l0 ["lol", "lol", "lol", "lol"]']
    lines += [f"  l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]" for i in range(1, 10)]
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n" + GOOD.split("name: tiny\n")[1], encoding="utf-8")
    result = CliRunner().invoke(main, ["playbook", "check", str(path)])
    assert result.exit_code == 2
    first = result.stderr.splitlines()[0]
    assert first.startswith(f"{path}:9:")
    assert "takes the playbook past 100,000 values; refusing it" in first


def test_an_oversized_file_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    with path.open("wb") as file:
        file.write(GOOD.encode())
        file.truncate(50_000_000)
    result = CliRunner().invoke(main, ["playbook", "check", str(path)])
    assert result.exit_code == 2
    assert "playbook is 50.0 MB, over the 1 MiB limit" in result.stderr
