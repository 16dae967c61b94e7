"""``segsync playbook schema`` and ``segsync playbook check``."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
from click.testing import CliRunner

from segmentation.playbook import playbook_json_schema
from workers.cli import main

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
    assert result.stdout == f"{path}: OK (1 models, 2 rules)\n"


def test_check_lists_every_problem_with_position(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD, encoding="utf-8")
    result = CliRunner().invoke(main, ["playbook", "check", str(path)])
    assert result.exit_code == 1
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
    result = CliRunner().invoke(main, ["playbook", "check", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 1
    assert "cannot read playbook: No such file or directory" in result.stderr
