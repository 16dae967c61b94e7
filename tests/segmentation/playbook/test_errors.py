"""Playbook errors: what each one says, and the file, line and column it points at."""

from __future__ import annotations

from pathlib import Path

import pytest

from segmentation.playbook import PlaybookError, load_playbook, parse_playbook

KNOWN = ["employees", "company_employees", "company_revenue_band", "industry", "title", "seen"]


def error_of(text: str, *, known: list[str] | None = KNOWN) -> PlaybookError:
    with pytest.raises(PlaybookError) as caught:
        parse_playbook(text, source="b2b.yaml", known_fields=known)
    return caught.value


def at(text: str, needle: str, occurrence: int = 0) -> tuple[int, int]:
    """1-based line and column of the ``occurrence``-th ``needle`` in ``text``."""
    index = -1
    for _ in range(occurrence + 1):
        index = text.index(needle, index + 1)
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    return line, column


def only(error: PlaybookError) -> tuple[int | None, int | None, str]:
    assert len(error.errors) == 1, str(error)
    return error.line, error.column, error.message


def rule(when: str, *, name: str = "enterprise", extra: str = "") -> str:
    return (
        "version: 1\nname: b2b\nmodels:\n  firmographic:\n    rules:\n"
        f"      - name: {name}\n        when: {when}\n{extra}    fallback: smb\n"
    )


FULL = """\
version: 1
name: b2b_saas
description: Company size tiers
models:
  firmographic:
    description: Size
    rules:
      - name: mid_market
        value: mid_market
        when: {field: employees, gte: 200}
      - name: enterprise
        value: enterprise
        when:
          field: employes
          gte: 1000
    fallback: smb
"""


def test_unknown_field_with_suggestion_exact_text() -> None:
    error = error_of(FULL)
    assert str(error) == (
        "b2b.yaml:14:18: unknown field 'employes' in rule enterprise of model firmographic"
        " — did you mean 'employees'?"
    )
    assert (error.path, error.line, error.column) == ("b2b.yaml", 14, 18)


def test_fields_are_not_checked_without_known_fields() -> None:
    assert parse_playbook(FULL).fields_used() == {"employees", "employes"}


def test_declared_fields_are_known() -> None:
    text = FULL.replace("models:", "fields:\n  employes: integer\nmodels:")
    assert parse_playbook(text, known_fields=KNOWN).fields["employes"].type == "integer"


CASES = [
    (
        rule("{field: employees, gtee: 1000}"),
        "gtee",
        "unknown operator 'gtee' in rule enterprise of model firmographic — did you mean 'gte'?",
    ),
    (
        rule("{feild: employees, gte: 1}"),
        "feild",
        "unknown key 'feild' in rule enterprise of model firmographic — did you mean 'field'?",
    ),
    (
        rule("{field: employees, between: 5}"),
        "5}",
        "'between' needs [low, high], got 5 in rule enterprise of model firmographic",
    ),
    (
        rule("{field: employees, between: [1]}"),
        "[1]",
        "'between' needs [low, high], got a list of 1 in rule enterprise of model firmographic",
    ),
    (
        rule("{field: employees, between: [10, 1]}"),
        "[10, 1]",
        "'between' needs [low, high] with low <= high, got [10, 1]"
        " in rule enterprise of model firmographic",
    ),
    (
        rule("{field: title, matches: '(?=vp)'}"),
        "'(?=vp)'",
        "invalid regular expression '(?=vp)': look-around, including look-ahead and look-behind,"
        " is not supported in rule enterprise of model firmographic",
    ),
    (
        rule("{field: title, matches: '[a-'}"),
        "'[a-'",
        "invalid regular expression '[a-': unclosed character class"
        " in rule enterprise of model firmographic",
    ),
    (
        rule("{field: seen, within_last: 3 fortnights}"),
        "3 fortnights",
        "'within_last': unit 'fortnights' not understood; understood units: days, weeks, months,"
        ' years — e.g. "30 days" or {days: 30} in rule enterprise of model firmographic',
    ),
    (
        rule("{field: seen, more_than_ago: 30}"),
        "30}",
        "'more_than_ago': 30 what? say the unit, e.g. \"30 days\"; understood units: days, weeks,"
        ' months, years — e.g. "30 days" or {days: 30} in rule enterprise of model firmographic',
    ),
    (
        rule("{field: seen, within_last: {hours: 3}}"),
        "{hours",
        "'within_last': unit 'hours' not understood; understood units: days, weeks, months,"
        ' years — e.g. "30 days" or {days: 30} in rule enterprise of model firmographic',
    ),
    (
        rule("{field: seen, before: '2024-13-01'}"),
        "'2024-13-01'",
        "'before' expected an ISO date or datetime like 2024-01-31 or 2024-01-31T09:00:00Z,"
        " got '2024-13-01' in rule enterprise of model firmographic",
    ),
    (
        rule("{field: seen, after: 2024-02-30}"),
        "2024-02-30",
        "cannot read value '2024-02-30': day is out of range for month"
        " in rule enterprise of model firmographic",
    ),
    (
        rule("{field: industry, eq: null}"),
        "null",
        "'eq' needs a value in rule enterprise of model firmographic"
        " — to test for an empty field use 'missing: true'",
    ),
    (
        rule("{field: industry, eq: [a, b]}"),
        "[a, b]",
        "'eq' takes one value, not a list in rule enterprise of model firmographic"
        " — for several values use 'in'",
    ),
    (
        rule("{field: industry, in: []}"),
        "[]",
        "'in' needs a non-empty list like [a, b], got an empty list"
        " in rule enterprise of model firmographic",
    ),
    (
        rule("{field: industry, contains_any: saas}"),
        "saas",
        "'contains_any' needs a non-empty list like [a, b], got 'saas'"
        " in rule enterprise of model firmographic",
    ),
    (
        rule("{field: industry, exists: 'yes'}"),
        "'yes'",
        "'exists' takes true or false, got 'yes' in rule enterprise of model firmographic",
    ),
    (
        rule("{}"),
        "{}",
        "empty condition in rule enterprise of model firmographic"
        " — write {field: NAME, OPERATOR: VALUE} or all/any/not",
    ),
    (
        rule("{gte: 5}"),
        "{gte",
        "'gte' needs a 'field' to test in rule enterprise of model firmographic",
    ),
    (
        rule("{field: industry}"),
        "{field",
        "field 'industry' has no operator in rule enterprise of model firmographic — add one of eq,"
        " neq, in, not_in, gt, gte, lt, lte, between, contains, contains_any, contains_all,"
        " matches, exists, missing, within_last, more_than_ago, before, after",
    ),
    (
        rule("{field: industry, eq: x, all: [{field: title, eq: y}]}"),
        "{field",
        "a condition is either a field test or one of all/any/not, not both"
        " in rule enterprise of model firmographic — put them in separate conditions under 'all'",
    ),
    (
        rule("company_employees >= 1000"),
        "company_employees",
        "a condition should be a mapping, got 'company_employees >= 1000'"
        " in rule enterprise of model firmographic"
        " — write a condition like {field: employees, gte: 1000}",
    ),
    (
        rule("{field: industry, eq: x}", extra="        whne: 1\n"),
        "whne",
        "unknown key 'whne' in rule enterprise of model firmographic — did you mean 'when'?",
    ),
    (
        rule("{field: industry, eq: x}", extra="    fallbak: 1\n"),
        "fallbak",
        "unknown key 'fallbak' in model firmographic — did you mean 'fallback'?",
    ),
    (
        rule("{field: industry, eq: x}", extra="    output: 'segsync size'\n"),
        "'segsync size'",
        "'output' must be a field name (letters, digits, _), got 'segsync size'"
        " in model firmographic",
    ),
    (
        rule("{field: industry, eq: x}", extra="    name: size\n"),
        "name: size",
        "unknown key 'name' in model firmographic — a model's name is its key under 'models'",
    ),
    (
        rule("{field: industry, eq: x}", extra="    min_share: 2\n"),
        "2\n",
        "'min_share' should be less than or equal to 1, got 2 in model firmographic",
    ),
    (
        rule("{field: industry, eq: x}", name="yes"),
        "yes",
        "'name' should be text, got true in rule #1 of model firmographic"
        " — YAML reads unquoted yes/no/on/off/true/false as a boolean; quote it",
    ),
    (
        rule("{field: industry, eq: x}").replace("fallback: smb", "fallback: off"),
        "off",
        "'fallback' should be text, got false in model firmographic"
        " — YAML reads unquoted yes/no/on/off/true/false as a boolean; quote it",
    ),
    (
        rule("{field: industry, eq: x}").replace("    fallback: smb\n", ""),
        "rules:",
        "missing 'fallback' in model firmographic",
    ),
    (
        rule("{field: industry, eq: x}").replace("        when: {field: industry, eq: x}\n", ""),
        "name: enterprise",
        "missing 'when' in rule enterprise of model firmographic",
    ),
    (
        rule("{field: industry, eq: x}").replace("version: 1\n", ""),
        "name: b2b",
        "missing 'version' — add 'version: 1'",
    ),
    (
        rule("{field: industry, eq: x}").replace("version: 1", "version: 2"),
        "2",
        "unsupported version 2 — this segsync reads version 1",
    ),
    (
        rule("{field: industry, eq: x}").replace("models:", "modles:"),
        "modles",
        "unknown section 'modles' — did you mean 'models'?",
    ),
    (
        "version: 1\nname: x\nmodels:\n  m:\n    rules: []\n    fallback: a\n",
        "[]",
        "'rules' needs at least one rule in model m",
    ),
    (
        "version: 1\nname: x\nfields:\n  score: str\nmodels: {}\n",
        "str",
        "unknown field type 'str' in field declaration 'score' — did you mean 'string'?",
    ),
    (
        "version: 1\nname: x\nmodels:\n  Size Tiers:\n    rules: [{name: a, when: {field: x,"
        " eq: 1}}]\n    fallback: b\n",
        "Size Tiers",
        "model name 'Size Tiers' must be lower_snake_case (it names the output segment_Size"
        " Tiers) — standard models are demographic, firmographic, geographic, behavioral,"
        " psychographic, needs_based, technographic, lifecycle",
    ),
    # Segment values are CRM option values: text, exactly as written.
    (
        rule("{field: industry, eq: x}").replace("fallback: smb", "fallback: 42"),
        "42",
        "'fallback' should be text, got 42 in model firmographic"
        ' — YAML reads 42 as a number; quote it ("42") if you mean the text',
    ),
    (
        rule("{field: industry, eq: x}", extra="        value: 1.50\n"),
        "1.50",
        "'value' should be text, got 1.50 in rule enterprise of model firmographic"
        ' — YAML reads 1.50 as a number; quote it ("1.50") if you mean the text',
    ),
    (
        rule("{field: industry, eq: x}", name="2024-01-01"),
        "2024-01-01",
        "'name' should be text, got 2024-01-01 in rule #1 of model firmographic"
        ' — YAML reads 2024-01-01 as a date; quote it ("2024-01-01") if you mean the text',
    ),
    (
        rule("{field: industry, eq: x}").replace("fallback: smb", "fallback: ''"),
        "''",
        "segment value '' is empty in model firmographic"
        " — use fallback: null to leave the segment empty",
    ),
    (
        rule("{field: industry, eq: x}", extra="        value: ' big'\n"),
        "' big'",
        "segment value ' big' starts or ends with a space in rule enterprise of model"
        " firmographic — CRMs trim option values, so the value written would never match the"
        " one stored",
    ),
    (
        rule("{field: industry, eq: x}", extra='        value: "a\\nb"\n'),
        '"a',
        "segment value 'a\\nb' holds a line break or control character"
        " in rule enterprise of model firmographic",
    ),
    (
        rule("{field: industry, eq: x}", name="x" * 256),
        "x" * 256,
        "segment value '"
        + "x" * 37
        + "...' is 256 characters long in rule "
        + "x" * 256
        + " of model firmographic — a CRM option holds at most 255 (Salesforce picklist"
        " values); put the description in the rule's description",
    ),
    (
        "[1, 2]\n",
        "[",
        "a playbook is a mapping with 'version', 'name' and 'models'",
    ),
    (
        "",
        "",
        "a playbook is a mapping with 'version', 'name' and 'models'",
    ),
]


@pytest.mark.parametrize(("text", "needle", "message"), CASES)
def test_error_message_and_position(text: str, needle: str, message: str) -> None:
    error = error_of(text, known=None)
    line, column = at(text, needle) if needle else (1, 1)
    assert only(error) == (line, column, message)
    assert str(error) == f"b2b.yaml:{line}:{column}: {message}"


def test_yaml_syntax_error_has_its_own_position() -> None:
    text = "version: 1\nname: x\nmodels:\n  m: {rules: [\n"
    error = error_of(text)
    assert error.message.startswith("YAML syntax error: ")
    assert (error.line, error.column) == (5, 1)
    bad_indent = "version: 1\nname: x\n  models: 1\n"
    error = error_of(bad_indent)
    assert str(error) == "b2b.yaml:3:9: YAML syntax error: mapping values are not allowed here"


def test_duplicate_yaml_key() -> None:
    text = "version: 1\nname: x\nname: y\nmodels: {}\n"
    assert only(error_of(text)) == (
        3,
        1,
        "duplicate key 'name' (first at line 2, column 1)",
    )


def test_duplicate_key_inside_a_condition() -> None:
    text = rule("{field: industry, eq: a, eq: b}")
    assert only(error_of(text, known=None)) == (
        *at(text, "eq", 1),
        f"duplicate key 'eq' (first at line 7, column {at(text, 'eq')[1]})"
        " in rule enterprise of model firmographic",
    )


def test_duplicate_rule_names() -> None:
    text = (
        "version: 1\nname: x\nmodels:\n  size:\n    rules:\n"
        "      - {name: big, when: {field: n, gt: 100}}\n"
        "      - {name: big, when: {field: n, gt: 10}}\n"
        "    fallback: small\n"
    )
    assert only(error_of(text, known=None)) == (
        *at(text, "big", 1),
        "duplicate rule name 'big' (rule #1 has it too) in model size"
        " — rule names appear in reasons and must be unique within a model",
    )


def test_stage_order_checks() -> None:
    text = """\
version: 1
name: x
models:
  lifecycle:
    rules:
      - {name: customer, when: {field: won, eq: true}}
      - {name: champion, when: {field: nps, gte: 9}}
    fallback: subscriber
  stages:
    forward_only: true
    rules:
      - {name: a, when: {field: n, gt: 1}}
    fallback: b
  tiers:
    order: [bronze, silver, bronze]
    rules:
      - {name: gold, when: {field: n, gt: 1}}
    fallback: silver
"""
    error = error_of(text, known=None)
    assert [(e.line, e.column) for e in error.errors] == [
        at(text, "champion"),
        at(text, "true\n"),
        at(text, "bronze]"),
        at(text, "gold"),
    ]
    assert [e.message for e in error.errors] == [
        "value 'champion' is not a stage in 'order' in rule champion of model lifecycle — the"
        " lifecycle model's default order is subscriber, lead, mql, sql, opportunity, customer,"
        " evangelist; set 'order' to your stages or 'forward_only: false'",
        "'forward_only' needs an 'order' of stages in model stages — add order: [first, ..., last]",
        "stage 'bronze' appears twice in 'order' in model tiers",
        "value 'gold' is not a stage in 'order' in rule gold of model tiers"
        " — order: bronze, silver, bronze",
    ]


def test_lifecycle_without_gates_needs_no_order() -> None:
    text = (
        "version: 1\nname: x\nmodels:\n  lifecycle:\n    forward_only: false\n    rules:\n"
        "      - {name: champion, when: {field: nps, gte: 9}}\n    fallback: fan\n"
    )
    options = parse_playbook(text).models["lifecycle"].options
    assert (options.forward_only, options.order) == (False, None)


def test_duplicate_output_fields() -> None:
    text = (
        "version: 1\nname: x\nmodels:\n"
        "  a:\n    output: segment_b\n    rules: [{name: r, when: {field: n, gt: 1}}]\n"
        "    fallback: f\n"
        "  b:\n    rules: [{name: r, when: {field: n, gt: 1}}]\n    fallback: f\n"
    )
    assert only(error_of(text, known=None)) == (
        *at(text, "b:\n"),
        "output field 'segment_b' is already written by model a in model b",
    )


def test_every_problem_is_reported_in_file_order() -> None:
    text = """\
version: 1
name: b2b
modles: {}
models:
  firmographic:
    rules:
      - name: enterprise
        when: {field: employes, gtee: 1000}
      - name: enterprise
        when: {field: title, matches: "(?<=x)"}
      - name: recent
        when: {field: seen, within_last: 3 fortnights}
    fallback: smb
"""
    error = error_of(text)
    assert [(e.line, e.column) for e in error.errors] == [
        (3, 1),
        at(text, "employes"),
        at(text, "gtee"),
        at(text, "enterprise", 1),
        at(text, '"(?<=x)"'),
        at(text, "3 fortnights"),
    ]
    assert str(error).count("\n") == 5
    assert (error.line, error.column) == (3, 1)


def test_load_playbook_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(rule("{field: employees, gtee: 1}"), encoding="utf-8")
    with pytest.raises(PlaybookError) as caught:
        load_playbook(path)
    assert str(caught.value).startswith(f"{path}:7:")
    with pytest.raises(PlaybookError) as missing:
        load_playbook(tmp_path / "nope.yaml")
    assert str(missing.value) == (
        f"{tmp_path / 'nope.yaml'}: cannot read playbook: No such file or directory"
    )
