"""The rule-based models on small frames: their features, reasons and post-processing.

Frames here are already "enriched" by hand (``seniority``, ``region`` ... set directly),
so each test exercises one model's own code through :func:`apply_playbook`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from segmentation.engine import apply_playbook
from segmentation.models import MODELS, derived_fields
from segmentation.models.behavioral import order_rollups
from segmentation.models.lifecycle import deal_rollups
from segmentation.playbook import Playbook, parse_playbook

NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)


def playbook(models: str) -> Playbook:
    """A playbook with the given ``models:`` body (YAML, indented by four spaces)."""
    return parse_playbook(f"version: 1\nname: t\nmodels:\n{models}", source="t.yaml")


def days_ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def test_every_standard_model_has_a_module() -> None:
    assert set(MODELS) == {
        "demographic",
        "firmographic",
        "geographic",
        "behavioral",
        "psychographic",
        "needs_based",
        "technographic",
        "lifecycle",
    }
    assert {"days_since_engaged", "need_text", "interest_tags", "crm_stage"} <= set(
        derived_fields()
    )


# --- demographic ------------------------------------------------------------------------

DEMOGRAPHIC = """
  demographic:
    rules:
      - {name: affluent, when: {field: income_band, in: [100k-200k, 200k+]}}
      - {name: women, when: {field: gender_norm, eq: female}}
      - {name: executive, when: {field: seniority, eq: c_level}}
    fallback: other
"""


def test_demographic_normalizes_gender_and_bands_income() -> None:
    frame = pl.DataFrame(
        {
            "gender": ["F", "FEMALE", " Male ", "Prefer not to say", None, "Non-binary"],
            "income": [20_000.0, 60_000.0, 150_000.0, 250_000.0, None, 99_999.0],
            "seniority": [None, None, None, None, "c_level", None],
        }
    )
    out = apply_playbook(frame, playbook(DEMOGRAPHIC), now=NOW)
    assert out["gender_norm"].to_list() == [
        "female",
        "female",
        "male",
        "undisclosed",
        None,
        "non_binary",
    ]
    assert out["income_band"].to_list() == [
        "<25k",
        "50k-100k",
        "100k-200k",
        "200k+",
        None,
        "50k-100k",
    ]
    assert out["segment_demographic"].to_list() == [
        "women",
        "women",
        "affluent",
        "affluent",
        "executive",
        "other",
    ]
    assert out["reason_demographic"][2] == "affluent: income band 100k-200k in [100k-200k, 200k+]"
    assert out["reason_demographic"][5] == "other: no rule matched (the fallback)"


# --- firmographic -----------------------------------------------------------------------


def test_firmographic_bands_and_company_age() -> None:
    frame = pl.DataFrame(
        {
            "company_employees": [5000, 450, 30, None],
            "company_founded_year": [1990, 2020, 3024, None],
        }
    )
    out = apply_playbook(
        frame,
        playbook(
            """
  firmographic:
    rules:
      - {name: enterprise, when: {field: company_employees, gte: 1000}}
      - {name: mid_market, when: {field: company_employees, between: [200, 999]}}
      - {name: young_company, when: {field: company_age_years, lt: 10}}
    fallback: smb
"""
        ),
        now=NOW,
    )
    assert out["company_age_years"].to_list() == [35, 5, None, None]
    assert out["segment_firmographic"].to_list() == ["enterprise", "mid_market", "smb", "smb"]
    assert out["reason_firmographic"][0] == ("enterprise: 5000 employees >= 1000")


# --- geographic -------------------------------------------------------------------------


def test_geographic_rules_read_enriched_region() -> None:
    frame = pl.DataFrame({"region": ["EMEA", "NA", None], "country_code": ["DE", "US", None]})
    out = apply_playbook(
        frame,
        playbook(
            """
  geographic:
    rules:
      - {name: dach, when: {field: country_code, in: [DE, AT, CH]}}
      - {name: north_america, when: {field: region, eq: NA}}
    fallback: unknown
"""
        ),
        now=NOW,
    )
    assert out["segment_geographic"].to_list() == ["dach", "north_america", "unknown"]


# --- behavioral -------------------------------------------------------------------------

BEHAVIORAL = """
  behavioral:
    rules:
      - name: engaged
        when:
          all:
            - {field: last_engaged_at, within_last: 30 days}
            - {field: activity_per_month, gte: 2}
      - {name: active, when: {field: last_engaged_at, within_last: 30 days}}
      - {name: at_risk, when: {field: last_engaged_at, within_last: 90 days}}
      - {name: dormant, when: {field: last_engaged_at, more_than_ago: 90 days}}
    fallback: never_engaged
"""


def test_behavioral_recency_and_frequency_features() -> None:
    frame = pl.DataFrame(
        {
            "created_at": [days_ago(300), days_ago(300), days_ago(10)],
            "last_activity_at": [days_ago(5), None, days_ago(2)],
            "last_visit_at": [days_ago(40), days_ago(100), None],
            "email_opens": [20, 1, None],
            "email_clicks": [10, 0, 1],
            "visits": [0, 2, 1],
        }
    )
    out = apply_playbook(frame, playbook(BEHAVIORAL), now=NOW)
    assert out["last_engaged_at"].to_list() == [days_ago(5), days_ago(100), days_ago(2)]
    assert out["days_since_engaged"].round(3).to_list() == [5.0, 100.0, 2.0]
    assert out["activity_count"].to_list() == [30, 3, 2]
    # 30 events over ~9.9 months; a 10-day-old record counts as one month.
    assert out["activity_per_month"][0] == pytest.approx(30 / (300 / 30.4375))
    assert out["activity_per_month"][2] == pytest.approx(2.0)
    assert out["segment_behavioral"].to_list() == ["engaged", "dormant", "engaged"]


def test_no_activity_for_30_days_moves_active_to_at_risk() -> None:
    """The same record, evaluated on consecutive days around its 30th quiet day."""
    last = datetime(2025, 5, 1, 9, tzinfo=UTC)
    frame = pl.DataFrame(
        {"created_at": [last - timedelta(days=400)], "last_activity_at": [last], "visits": [1]}
    )
    book = playbook(BEHAVIORAL)
    day_29 = apply_playbook(frame, book, now=last + timedelta(days=29))
    day_31 = apply_playbook(frame, book, now=last + timedelta(days=31))
    day_91 = apply_playbook(frame, book, now=last + timedelta(days=91))
    assert day_29["segment_behavioral"].item() == "active"
    assert day_31["segment_behavioral"].item() == "at_risk"
    assert day_91["segment_behavioral"].item() == "dormant"
    assert "within last 90 days" in day_31["reason_behavioral"].item()


def test_never_engaged_is_the_fallback() -> None:
    frame = pl.DataFrame({"email_opens": [0]})
    out = apply_playbook(frame, playbook(BEHAVIORAL), now=NOW)
    assert out["last_engaged_at"].item() is None
    assert out["segment_behavioral"].item() == "never_engaged"


def test_order_rollups_give_recency_frequency_value() -> None:
    orders = pl.DataFrame(
        {
            "contact_id": ["a", "a", "a", "b", None],
            "order_date": [days_ago(10), days_ago(100), days_ago(400), days_ago(5), days_ago(1)],
            "amount": [10.0, 20.0, 30.0, 5.0, 99.0],
        }
    )
    out = order_rollups(orders.lazy(), NOW).collect().sort("contact_id")
    assert out["contact_id"].to_list() == ["a", "b"]
    assert out["order_count"].to_list() == [3, 1]
    assert out["order_revenue"].to_list() == [60.0, 5.0]
    assert out["avg_order_value"].to_list() == [20.0, 5.0]
    assert out["orders_last_90d"].to_list() == [1, 1]
    assert out["orders_last_365d"].to_list() == [2, 1]
    assert out["days_since_last_order"].to_list() == [10.0, 5.0]


# --- psychographic ----------------------------------------------------------------------


def test_psychographic_merges_interest_fields_in_any_shape() -> None:
    frame = pl.DataFrame(
        {
            "interests": ["Home & Garden; Fitness", "travel,Books", None, "  "],
            "content_topics": [["fitness", "AI"], None, ["Personal Finance"], None],
        }
    )
    out = apply_playbook(
        frame,
        playbook(
            """
  psychographic:
    rules:
      - {name: active_lifestyle, when: {field: interest_tags, contains_any: [fitness, outdoors]}}
      - {name: money_minded, when: {field: interest_tags, contains: personal_finance}}
      - {name: curious, when: {field: interest_count, gte: 1}}
    fallback: unknown
"""
        ),
        now=NOW,
    )
    assert out["interest_tags"].to_list() == [
        ["home_garden", "fitness", "ai"],
        ["travel", "books"],
        ["personal_finance"],
        [],
    ]
    assert out["interest_count"].to_list() == [3, 2, 1, 0]
    assert out["segment_psychographic"].to_list() == [
        "active_lifestyle",
        "curious",
        "money_minded",
        "unknown",
    ]


# --- needs-based ------------------------------------------------------------------------

NEEDS = """
  needs_based:
    rules:
      - name: analytics
        when: {field: need_text, contains_any: [reporting, dashboard, forecast]}
      - name: pipeline
        when:
          all:
            - {field: need_text, contains_any: [lead generation, prospecting]}
            - not: {field: need_text, contains: spam}
      - name: support
        when: {field: need_text, contains: customer support}
    fallback: unknown
"""


def test_needs_based_keyword_map_over_use_case_and_form_text() -> None:
    frame = pl.DataFrame(
        {
            "use_case": ["Lead_Generation", "customer-support", None, "reporting", None],
            "form_message": [
                "We also need better DASHBOARDS",
                None,
                "prospecting tools",
                None,
                "nothing relevant",
            ],
        }
    )
    out = apply_playbook(frame, playbook(NEEDS), now=NOW)
    assert out["need_text"].to_list() == [
        "lead generation | we also need better dashboards",
        "customer support",
        "prospecting tools",
        "reporting",
        "nothing relevant",
    ]
    # Every need mentioned, in order of mention; the first matching rule decides.
    assert out["needs"].to_list() == [
        ["pipeline", "analytics"],
        ["support"],
        ["pipeline"],
        ["analytics"],
        [],
    ]
    assert out["segment_needs_based"].to_list() == [
        "analytics",
        "support",
        "pipeline",
        "analytics",
        "unknown",
    ]
    assert out["reason_needs_based"][0].startswith("analytics: stated needs lead generation")
    assert out["reason_needs_based"][0].endswith("(keywords: lead generation, dashboard)")
    assert out["reason_needs_based"][4] == "unknown: no rule matched (the fallback)"


def test_needs_based_ignores_keywords_under_not() -> None:
    frame = pl.DataFrame({"use_case": ["spam filter"]})
    out = apply_playbook(frame, playbook(NEEDS), now=NOW)
    assert out["needs"].item().to_list() == []
    assert out["segment_needs_based"].item() == "unknown"


# --- technographic ----------------------------------------------------------------------


def test_technographic_on_stack_categories_and_maturity() -> None:
    frame = pl.DataFrame(
        {
            "company_tech_categories": [
                ["crm", "data_warehouse", "analytics"],
                ["cloud"],
                [],
                None,
            ],
            "company_digital_maturity": [80, 20, None, 70],
        }
    )
    out = apply_playbook(
        frame,
        playbook(
            """
  technographic:
    rules:
      - name: data_driven
        when: {field: company_tech_categories, contains_all: [data_warehouse, analytics]}
      - {name: mature, when: {field: company_digital_maturity, gte: 60}}
      - {name: cloud, when: {field: company_tech_categories, contains: cloud}}
    fallback: unknown
"""
        ),
        now=NOW,
    )
    assert out["segment_technographic"].to_list() == ["data_driven", "cloud", "unknown", "mature"]


# --- lifecycle --------------------------------------------------------------------------

LIFECYCLE = """
  lifecycle:
    rules:
      - {name: customer, when: {field: contact_won_deal_count, gte: 1}}
      - {name: opportunity, when: {field: contact_open_deal_count, gte: 1}}
      - {name: mql, when: {field: crm_stage, eq: mql}}
      - {name: lead, when: {field: crm_stage, eq: lead}}
    fallback: subscriber
"""


def _lifecycle_frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "id": ["1", "2", "3", "4", "5"],
            "lifecycle_stage": [
                "lead",
                "marketingqualifiedlead",
                "Marketing Qualified Lead",
                None,
                "subscriber",
            ],
            "contact_won_deal_count": [0, 0, 0, 1, 0],
            "contact_open_deal_count": [0, 0, 0, 0, 0],
        }
    )


def test_lifecycle_reads_crm_stage_in_any_spelling() -> None:
    out = apply_playbook(_lifecycle_frame(), playbook(LIFECYCLE), now=NOW)
    assert out["crm_stage"].to_list() == ["lead", "mql", "mql", None, "subscriber"]
    assert out["segment_lifecycle"].to_list() == ["lead", "mql", "mql", "customer", "subscriber"]


def test_lifecycle_is_forward_only_against_the_previous_stage() -> None:
    previous = pl.DataFrame(
        {
            "id": ["1", "2", "3", "4"],
            "segment_lifecycle": ["customer", "lead", "sql", "other"],
        }
    )
    out = apply_playbook(_lifecycle_frame(), playbook(LIFECYCLE), now=NOW, previous=previous)
    # 1 was a customer: rules say lead, the stage stays. 2 moves forward to mql. 3 was
    # sql: stays. 4's old value is outside the order and never blocks. 5 is new.
    assert out["segment_lifecycle"].to_list() == [
        "customer",
        "mql",
        "sql",
        "customer",
        "subscriber",
    ]
    assert out["reason_lifecycle"][0] == (
        "customer: kept, stages only move forward (rules gave lead: CRM stage == lead)"
    )
    assert out["reason_lifecycle"][1].startswith("mql: ")
    assert "_previous_lifecycle" not in out.columns


def test_forward_only_takes_an_id_and_stage_frame() -> None:
    previous = pl.DataFrame({"id": ["2"], "stage": ["opportunity"]})
    out = apply_playbook(_lifecycle_frame(), playbook(LIFECYCLE), now=NOW, previous=previous)
    assert out["segment_lifecycle"][1] == "opportunity"


def test_forward_only_false_lets_a_stage_move_back() -> None:
    body = LIFECYCLE.replace("    rules:", "    forward_only: false\n    rules:", 1)
    previous = pl.DataFrame({"id": ["1"], "segment_lifecycle": ["customer"]})
    out = apply_playbook(_lifecycle_frame(), playbook(body), now=NOW, previous=previous)
    assert out["segment_lifecycle"][0] == "lead"


def test_forward_only_follows_a_custom_order_on_any_model() -> None:
    body = """
  loyalty:
    forward_only: true
    order: [bronze, silver, gold]
    rules:
      - {name: gold, when: {field: points, gte: 100}}
      - {name: silver, when: {field: points, gte: 10}}
    fallback: bronze
"""
    frame = pl.DataFrame({"id": [1, 2, 3], "points": [5, 50, 500]})
    previous = pl.DataFrame({"id": [1, 2, 3], "segment_loyalty": ["gold", "bronze", "silver"]})
    out = apply_playbook(frame, playbook(body), now=NOW, previous=previous)
    assert out["segment_loyalty"].to_list() == ["gold", "silver", "gold"]


def test_deal_rollups_count_open_and_won_per_contact() -> None:
    deals = pl.DataFrame(
        {
            "contact_id": ["a", "a", "a", "b", None],
            "is_won": [True, False, False, None, True],
            "is_closed": [True, True, False, False, True],
        }
    )
    out = deal_rollups(deals).collect().sort("contact_id")
    assert out.rows() == [("a", 3, 1, 1), ("b", 1, 1, 0)]
