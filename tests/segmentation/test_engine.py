"""``segment``: enrichment + roll-ups + every model over contacts and companies, and the summary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from segmentation.engine import (
    SegmentResult,
    apply_playbook,
    available_fields,
    rule_schemas,
    segment,
    validate_playbook,
)
from segmentation.playbook import PlaybookError, parse_playbook
from workers.offline import load_shipped

NOW = datetime(2025, 6, 1, tzinfo=UTC)

PLAYBOOK = """\
version: 1
name: t
models:
  demographic:
    rules:
      - {name: leader, when: {field: seniority, in: [c_level, vp]}}
    fallback: other
  firmographic:
    rules:
      - {name: enterprise, when: {field: company_employees, gte: 1000}}
      - {name: smb, when: {field: company_employees, lt: 1000}}
    fallback: unknown
  behavioral:
    rules:
      - {name: active, when: {field: last_engaged_at, within_last: 30 days}}
    fallback: dormant
  lifecycle:
    rules:
      - name: customer
        when:
          any:
            - {field: contact_won_deal_count, gte: 1}
            - {field: won_deal_count, gte: 1}
            - {field: order_count, gte: 1}
      - {name: lead, when: {field: email, exists: true}}
    fallback: subscriber
"""


def frames() -> dict[str, pl.DataFrame]:
    """Small, messy CRM frames: text numbers and dates, spellings, links by id."""
    contacts = pl.DataFrame(
        {
            "id": ["c1", "c2", "c3", "c4"],
            "email": ["ann@acme.com", "bob@gmail.com", None, "dee@tiny.io"],
            "job_title": ["CEO", "Software Engineer", "VP Sales", None],
            "country": ["USA", "Deutschland", " united kingdom ", None],
            "company_id": ["a1", "a2", None, "a2"],
            "last_activity_at": ["2025-05-25T10:00:00Z", "2024-01-01", None, "not a date"],
            "created_at": ["2023-01-01", "2023-01-01", "2023-01-01", "2023-01-01"],
        }
    )
    companies = pl.DataFrame(
        {
            "id": ["a1", "a2"],
            "name": ["Acme", "Tiny"],
            "domain": ["acme.com", "tiny.io"],
            "employees": ["12,000", "15"],
            "industry": ["software", "retail"],
            "country": ["US", "DE"],
        }
    )
    deals = pl.DataFrame(
        {
            "id": ["d1", "d2"],
            "company_id": ["a1", "a2"],
            "contact_id": ["c1", None],
            "amount": ["50000", "$1,200"],
            "is_won": ["true", "false"],
            "is_closed": ["true", "false"],
        }
    )
    orders = pl.DataFrame(
        {
            "contact_id": ["c2", "c2", "c9"],
            "order_date": [NOW - timedelta(days=3), NOW - timedelta(days=40), NOW],
            "amount": [10.0, 20.0, 5.0],
        }
    )
    return {"contacts": contacts, "companies": companies, "deals": deals, "orders": orders}


def run(previous: pl.DataFrame | None = None) -> SegmentResult:
    f = frames()
    return segment(
        f["contacts"],
        f["companies"],
        f["deals"],
        f["orders"],
        playbook=parse_playbook(PLAYBOOK, source="t.yaml"),
        now=NOW,
        previous=previous,
    )


def test_contacts_keep_every_input_column_and_gain_enrichment_and_segments() -> None:
    result = run()
    out = result.contacts
    assert out.height == 4
    assert out.columns[:7] == frames()["contacts"].columns
    for column in ("region", "seniority", "company_employees", "days_since_engaged", "need_text"):
        assert column in out.columns
    for model in ("demographic", "firmographic", "behavioral", "lifecycle"):
        assert f"segment_{model}" in out.columns
        assert f"reason_{model}" in out.columns
    assert out["id"].to_list() == ["c1", "c2", "c3", "c4"]  # row order is kept
    assert out["segment_demographic"].to_list() == ["leader", "other", "leader", "other"]
    assert out["segment_firmographic"].to_list() == ["enterprise", "smb", "unknown", "smb"]
    assert out["segment_behavioral"].to_list() == ["active", "active", "dormant", "dormant"]
    # c1 won a deal, c2 ordered (orders roll up by contact_id), c3 has no email.
    assert out["segment_lifecycle"].to_list() == ["customer", "customer", "subscriber", "lead"]
    assert out["contact_won_deal_count"].to_list() == [1, 0, 0, 0]
    assert out["order_count"].to_list() == [0, 2, 0, 0]
    assert out["reason_firmographic"][0] == ("enterprise: 12000 employees >= 1000")


def test_companies_get_the_models_that_suit_them() -> None:
    out = run().companies
    assert out is not None
    assert out["id"].to_list() == ["a1", "a2"]
    # Contact-only models do not run on companies; a company is its own company_*.
    assert "segment_demographic" not in out.columns
    assert out["segment_firmographic"].to_list() == ["enterprise", "smb"]
    assert out["segment_lifecycle"].to_list() == ["customer", "subscriber"]
    assert "won_deal_count" in out.columns
    assert "company_employees" not in out.columns  # the alias is not output


def test_summary_counts_and_shares_per_model() -> None:
    summary = run().summary
    assert summary["rows"] == {"contacts": 4, "companies": 2}
    lifecycle = summary["segments"]["contacts"]["lifecycle"]
    assert lifecycle == [
        {"segment": "customer", "count": 2, "share": 0.5},
        {"segment": "lead", "count": 1, "share": 0.25},
        {"segment": "subscriber", "count": 1, "share": 0.25},
    ]
    for tables in summary["segments"].values():
        for rows in tables.values():
            assert sum(r["count"] for r in rows) in (2, 4)
    assert set(summary["segments"]["companies"]) == {"firmographic", "behavioral", "lifecycle"}


def test_contacts_alone() -> None:
    f = frames()
    result = segment(f["contacts"], playbook=parse_playbook(PLAYBOOK, source="t.yaml"), now=NOW)
    assert result.companies is None
    assert result.contacts["segment_firmographic"].to_list() == ["unknown"] * 4
    assert result.contacts["contact_won_deal_count"].null_count() == 4  # no deals given
    assert set(result.summary["segments"]) == {"contacts"}


def test_forward_only_previous_by_object_type() -> None:
    previous = pl.DataFrame(
        {
            "id": ["c3", "a2", "a2"],
            "object_type": ["contact", "company", "company"],
            "segment_lifecycle": ["customer", "lead", "customer"],
        }
    )
    result = run(previous=previous)
    assert result.contacts["segment_lifecycle"][2] == "customer"
    assert result.contacts["reason_lifecycle"][2].startswith("customer: kept")
    assert result.companies is not None
    # The last previous row of a record wins.
    assert result.companies["segment_lifecycle"].to_list() == ["customer", "customer"]


def test_personal_values_are_redacted_in_reasons() -> None:
    book = parse_playbook(
        "version: 1\nname: t\nmodels:\n  custom:\n    rules:\n"
        "      - {name: acme, when: {field: email, contains: acme}}\n    fallback: other\n",
        source="t.yaml",
    )
    out = segment(frames()["contacts"], playbook=book, now=NOW).contacts
    assert out["segment_custom"][0] == "acme"
    assert "ann@" not in out["reason_custom"][0]
    assert "<redacted>" in out["reason_custom"][0]


def test_a_rule_that_does_not_fit_the_data_names_its_line() -> None:
    book = parse_playbook(
        "version: 1\nname: t\nmodels:\n  demographic:\n    rules:\n"
        "      - {name: x, when: {field: seniority, gte: 5}}\n    fallback: other\n",
        source="t.yaml",
    )
    with pytest.raises(PlaybookError) as caught:
        segment(frames()["contacts"], playbook=book, now=NOW)
    assert caught.value.line == 6
    assert "seniority" in str(caught.value)


TWO_BAD_MODELS = """\
version: 1
name: t
models:
  demographic:
    rules:
      - {name: x, when: {field: seniorty, eq: vp}}
    fallback: other
  firmographic:
    rules:
      - {name: big, when: {field: company_employees, gte: '1000'}}
    fallback: small
"""
BAD_LINES = [
    "t.yaml:6:33: unknown field 'seniorty' in rule x of model demographic"
    " — did you mean 'seniority'?",
    "t.yaml:10:59: 'gte' on integer field 'company_employees' needs a number, got text '1000'"
    " in rule big of model firmographic",
]


def test_a_run_reports_the_problems_of_every_model_at_once() -> None:
    book = parse_playbook(TWO_BAD_MODELS, source="t.yaml")
    f = frames()
    with pytest.raises(PlaybookError) as caught:
        segment(f["contacts"], f["companies"], f["deals"], playbook=book, now=NOW)
    assert str(caught.value).splitlines() == BAD_LINES


def test_validate_playbook_needs_no_data_and_agrees_with_segment() -> None:
    book = parse_playbook(TWO_BAD_MODELS, source="t.yaml")
    empty = {name: frame.clear() for name, frame in frames().items()}
    with pytest.raises(PlaybookError) as caught:
        validate_playbook(
            empty["contacts"], empty["companies"], empty["deals"], playbook=book, now=NOW
        )
    # Firmographic runs on contacts and companies; its problem is reported once.
    assert str(caught.value).splitlines() == BAD_LINES
    fixed = parse_playbook(
        TWO_BAD_MODELS.replace("seniorty", "seniority").replace("'1000'", "1000"),
        source="t.yaml",
    )
    validate_playbook(
        empty["contacts"], empty["companies"], empty["deals"], playbook=fixed, now=NOW
    )
    f = frames()
    out = segment(f["contacts"], f["companies"], f["deals"], playbook=fixed, now=NOW)
    assert out.contacts["segment_demographic"].to_list() == ["other", "other", "x", "other"]


def test_rule_schemas_are_what_rules_compile_against_on_each_side() -> None:
    empty = {name: frame.clear() for name, frame in frames().items()}
    schemas = rule_schemas(empty["contacts"], empty["companies"], empty["deals"], now=NOW)
    assert set(schemas) == {"contact", "company"}
    contact = schemas["contact"]
    assert contact["seniority"] == pl.String
    assert contact["company_employees"] == pl.Int64
    assert contact["days_since_engaged"].is_numeric()
    # A contact-only field reads as a typed null on companies, and the other way round.
    assert set(schemas["company"]) == set(contact)
    assert set(contact) >= available_fields(empty["contacts"].schema, empty["companies"].schema)


def test_grouped_evaluation_equals_row_by_row() -> None:
    """Big frames evaluate repetitive models once per distinct input; the result is the same."""
    book = load_shipped("b2b_saas")
    f = frames()
    small = segment(f["contacts"], f["companies"], f["deals"], playbook=book, now=NOW).contacts
    big_input = pl.concat([f["contacts"]] * 3000).with_columns(
        pl.format("c{}", pl.int_range(pl.len())).alias("row_id")
    )
    big = segment(big_input, f["companies"], f["deals"], playbook=book, now=NOW).contacts
    assert big.height == 12_000
    outputs = [c for c in small.columns if c.startswith(("segment_", "reason_"))]
    assert big.select(outputs).head(4).equals(small.select(outputs))
    assert big.select(outputs).slice(8_000, 4).equals(small.select(outputs))


def test_available_fields_cover_inputs_enrichment_and_features() -> None:
    fields = available_fields(frames()["contacts"].schema, frames()["companies"].schema)
    assert {"job_title", "seniority", "company_tech_categories", "won_deal_count"} <= fields
    assert {"days_since_engaged", "need_text", "interest_tags", "order_count"} <= fields


def test_apply_playbook_runs_models_on_an_enriched_frame() -> None:
    frame = pl.DataFrame({"seniority": ["vp", None]})
    book = parse_playbook(PLAYBOOK.split("  firmographic:")[0], source="t.yaml")
    out = apply_playbook(frame, book, now=NOW)
    assert out["segment_demographic"].to_list() == ["leader", "other"]
    assert out["reason_demographic"][0] == "leader: seniority vp in [c_level, vp]"


def test_applies_to_limits_a_model_to_the_object_types_it_names() -> None:
    text = """
version: 1
name: t
models:
  geographic:
    applies_to: [contact]
    rules:
      - {name: emea, when: {field: region, eq: EMEA}}
    fallback: other
"""
    contacts = pl.DataFrame({"id": ["c1"], "country": ["Germany"], "company_id": ["a1"]})
    companies = pl.DataFrame({"id": ["a1"], "country": ["France"]})
    result = segment(
        contacts, companies, playbook=parse_playbook(text), now=datetime(2026, 1, 1, tzinfo=UTC)
    )
    assert result.contacts["segment_geographic"].to_list() == ["emea"]
    assert result.companies is not None
    assert "segment_geographic" not in result.companies.columns
