"""Playbook parsing: the document model, options, fields used, and the JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from segmentation.playbook import (
    LIFECYCLE_ORDER,
    Condition,
    Duration,
    Playbook,
    PlaybookError,
    Rule,
    RuleModel,
    parse_playbook,
    playbook_json_schema,
)
from tests.paths import ROOT

SAMPLE = """\
# yaml-language-server: $schema=playbook.schema.json
version: 1
name: b2b_saas
description: Sample
fields:
  nps_score: number
  favourite_color: {type: string, description: From a form, personal: true}
models:
  firmographic:
    description: Company size tiers
    rules:
      - name: enterprise
        value: enterprise
        when: {field: company_employees, gte: 1000}
      - name: mid_market
        when:
          all:
            - {field: company_employees, gte: 200}
            - {field: company_revenue_band, in: ["50M-250M", "250M-1B", "1B+"]}
    fallback: smb
    min_share: 0.02
  behavioral:
    output: segsync_engagement
    rules:
      - name: active
        when: {field: last_activity_at, within_last: 30 days}
      - name: at_risk
        description: Quiet for a month, not yet for a quarter
        when:
          all:
            - {field: last_activity_at, more_than_ago: {days: 30}}
            - {not: {field: last_activity_at, more_than_ago: 3 months}}
      - name: fans
        when:
          any:
            - {field: nps_score, between: [9, 10]}
            - {field: tags, contains_any: [advocate, referral]}
            - {field: email_domain, matches: "\\\\.edu$"}
    fallback: dormant
  lifecycle:
    rules:
      - {name: customer, when: {field: is_won, eq: true}}
      - {name: sql, when: {field: created_at, after: 2024-01-01}}
      - {name: lead, when: {field: email, exists: true}}
    fallback: subscriber
  loyalty:
    forward_only: true
    order: [bronze, silver, gold]
    rules:
      - {name: gold, when: {field: orders, gte: 10}}
      - {name: silver, when: {field: orders, gte: 3}}
    fallback: bronze
rfm:
  enabled: true
  bins: 5
  weights: {recency: 0.5, frequency: 0.3, monetary: 0.2}
clustering:
  k: [3, 8]
holdout:
  share: 0.05
"""


@pytest.fixture(scope="module")
def playbook() -> Playbook:
    return parse_playbook(SAMPLE, source="sample.yaml")


def test_models_in_file_order_with_resolved_names(playbook: Playbook) -> None:
    assert list(playbook.models) == ["firmographic", "behavioral", "lifecycle", "loyalty"]
    firmographic = playbook.models["firmographic"]
    assert isinstance(firmographic, RuleModel)
    assert firmographic.name == "firmographic"
    assert firmographic.output == firmographic.resolved_output == "segment_firmographic"
    assert firmographic.reason_output == "reason_firmographic"
    assert playbook.models["behavioral"].output == "segsync_engagement"
    assert firmographic.fallback == "smb"
    assert firmographic.description == "Company size tiers"
    assert [r.name for r in firmographic.rules] == ["enterprise", "mid_market"]
    assert all(isinstance(r, Rule) for r in firmographic.rules)
    # value defaults to the rule's name
    assert [r.segment for r in firmographic.rules] == ["enterprise", "mid_market"]
    assert firmographic.values() == ["enterprise", "mid_market", "smb"]
    assert playbook.name == "b2b_saas" and playbook.version == 1
    assert playbook.source == "sample.yaml"


def test_model_options(playbook: Playbook) -> None:
    firmographic = playbook.models["firmographic"].options
    assert (firmographic.forward_only, firmographic.order, firmographic.min_share) == (
        False,
        None,
        0.02,
    )
    lifecycle = playbook.models["lifecycle"].options
    assert lifecycle.forward_only is True
    assert lifecycle.order == LIFECYCLE_ORDER
    loyalty = playbook.models["loyalty"].options
    assert (loyalty.forward_only, loyalty.order) == (True, ("bronze", "silver", "gold"))


def test_fields_used(playbook: Playbook) -> None:
    assert playbook.fields_used("firmographic") == {"company_employees", "company_revenue_band"}
    assert playbook.fields_used("behavioral") == {
        "last_activity_at",
        "nps_score",
        "tags",
        "email_domain",
    }
    assert playbook.fields_used() >= {"is_won", "created_at", "email", "orders"}
    with pytest.raises(KeyError):
        playbook.fields_used("nope")


def test_declared_fields_and_personal(playbook: Playbook) -> None:
    assert playbook.fields["nps_score"].type == "number"
    assert playbook.fields["favourite_color"].description == "From a form"
    assert playbook.personal_fields() == {"favourite_color"}
    assert str(playbook.fields["nps_score"].dtype) == "Float64"


def test_conditions_are_typed(playbook: Playbook) -> None:
    behavioral = playbook.models["behavioral"]
    active = behavioral.rules[0].when
    assert isinstance(active, Condition)
    assert active.kind == "leaf"
    assert active.operators == [("within_last", Duration(30, "days"))]
    at_risk = behavioral.rules[1].when
    assert at_risk.kind == "all"
    assert [c.kind for c in at_risk.children] == ["leaf", "not"]
    assert at_risk.children[1].children[0].more_than_ago == Duration(3, "months")
    assert behavioral.rules[1].description == "Quiet for a month, not yet for a quarter"
    sql = playbook.models["lifecycle"].rules[1].when
    assert str(sql.after) == "2024-01-01"


def test_positions_are_kept(playbook: Playbook) -> None:
    enterprise = playbook.models["firmographic"].rules[0]
    position = enterprise.position
    assert position is not None and (position.line, position.column) == (12, 9)
    gte = enterprise.when.position("gte")
    assert gte is not None and (gte.line, gte.column) == (14, 47)


def test_statistical_sections_are_open(playbook: Playbook) -> None:
    assert playbook.rfm is not None and playbook.rfm.enabled
    assert playbook.rfm.bins == 5  # typed now that RFM is built; the rest stays open
    assert playbook.rfm.model_extra == {
        "weights": {"recency": 0.5, "frequency": 0.3, "monetary": 0.2},
    }
    assert playbook.clustering is not None and playbook.clustering.model_extra == {"k": [3, 8]}
    assert playbook.holdout is not None and playbook.holdout.model_extra == {"share": 0.05}
    assert playbook.clv is None and playbook.value_tiers is None


def test_round_trip_through_model_dump(playbook: Playbook) -> None:
    dumped = playbook.model_dump(by_alias=True, exclude_none=True, mode="json")
    again = parse_playbook(yaml.safe_dump(dumped))
    assert again.model_dump() == playbook.model_dump()
    assert dumped["models"]["behavioral"]["rules"][1]["when"]["all"][0] == {
        "field": "last_activity_at",
        "more_than_ago": "30 days",
    }


def test_anchors_aliases_and_merge_keys() -> None:
    text = """\
version: 1
name: x
models:
  a: &model
    fallback: other
    rules:
      - {name: r, when: &big {field: n, gt: 5}}
  b:
    <<: *model
    description: same rules, another output
  c:
    fallback: f
    rules: [{name: s, when: *big}]
"""
    playbook = parse_playbook(text)
    assert playbook.models["b"].fallback == "other"
    assert playbook.models["b"].description == "same rules, another output"
    assert playbook.models["c"].rules[0].when.gt == 5


def test_durations() -> None:
    for text, expected in [
        ("30 days", Duration(30, "days")),
        ("1 day", Duration(1, "days")),
        ("2w", Duration(2, "weeks")),
        ("6 Months", Duration(6, "months")),
        ("1 yr", Duration(1, "years")),
    ]:
        cond = (
            parse_playbook(
                "version: 1\nname: x\nmodels:\n  m:\n    rules:\n"
                f"      - {{name: r, when: {{field: d, within_last: '{text}'}}}}\n    fallback: f\n"
            )
            .models["m"]
            .rules[0]
            .when
        )
        assert cond.within_last == expected
    assert str(Duration(1, "months")) == "1 month"


def _json_ready(data: Any) -> Any:
    # What an editor sees: YAML dates are text in JSON.
    return json.loads(json.dumps(data, default=str))


def test_json_schema_is_valid_2020_12_and_accepts_the_sample() -> None:
    schema = playbook_json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    validator.validate(_json_ready(yaml.safe_load(SAMPLE)))
    described = schema["$defs"]["Condition"]["properties"]
    assert all(prop.get("description") for prop in described.values())
    assert "firmographic" in schema["properties"]["models"]["properties"]


def test_json_schema_accepts_the_default_playbooks() -> None:
    validator = jsonschema.Draft202012Validator(playbook_json_schema())
    shipped = sorted(Path("segmentation/playbooks").glob("*.yaml"))
    for path in shipped:
        validator.validate(_json_ready(yaml.safe_load(path.read_text(encoding="utf-8"))))


@pytest.mark.parametrize(
    "mutation",
    [
        lambda d: d["models"]["firmographic"]["rules"][0]["when"].update({"gtee": 1}),
        lambda d: d["models"]["firmographic"]["rules"][0]["when"].update({"all": []}),
        lambda d: d["models"]["firmographic"]["rules"][0]["when"].pop("gte"),
        lambda d: d["models"]["firmographic"]["rules"][0]["when"].update({"between": [1]}),
        lambda d: d["models"]["behavioral"]["rules"][0]["when"].update(
            {"within_last": "3 fortnights"}
        ),
        lambda d: d["models"]["firmographic"].pop("fallback"),
        lambda d: d["models"]["firmographic"].update({"fallbak": "x"}),
        lambda d: d.update({"version": 2}),
        lambda d: d["models"].update({"Bad Name": d["models"]["loyalty"]}),
        lambda d: d["fields"].update({"x": "str"}),
    ],
)
def test_json_schema_rejects_what_the_parser_rejects(mutation: Any) -> None:
    data = _json_ready(yaml.safe_load(SAMPLE))
    mutation(data)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(playbook_json_schema()).validate(data)
    with pytest.raises(PlaybookError):
        parse_playbook(yaml.safe_dump(data))


def test_the_readme_example_is_a_valid_playbook() -> None:
    readme = ROOT / "segmentation" / "playbook" / "README.md"
    text = readme.read_text(encoding="utf-8").split("```yaml\n", 1)[1].split("```", 1)[0]
    playbook = parse_playbook(text)
    assert list(playbook.models) == ["firmographic", "behavioral", "lifecycle", "loyalty"]
    jsonschema.Draft202012Validator(playbook_json_schema()).validate(
        _json_ready(yaml.safe_load(text))
    )
