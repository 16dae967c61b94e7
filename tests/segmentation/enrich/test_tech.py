"""Technographics: tool categories, tool count, digital maturity."""

from __future__ import annotations

import polars as pl
import pytest

from connectors.sandbox.seed.pools import TECH_TOOLS
from segmentation.enrich.tech import classify_tools, tech_columns
from segmentation.enrich.tech_rules import TECH_CATEGORIES

TOOLS = [
    ("Salesforce", ["crm"]),
    ("Salesforce Marketing Cloud", ["marketing_automation"]),
    ("Salesforce Service Cloud", ["support"]),
    ("HubSpot", ["crm", "marketing_automation"]),
    ("HubSpot CRM", ["crm"]),
    ("hubspot marketing hub", ["marketing_automation"]),
    ("Microsoft Dynamics 365", ["crm", "erp"]),
    ("Dynamics 365 Business Central", ["erp"]),
    ("Close", ["crm"]),
    ("Marketo", ["marketing_automation"]),
    ("Pardot", ["marketing_automation"]),
    ("Outreach.io", ["sales_engagement"]),
    ("Google Analytics", ["analytics"]),
    ("GA4", ["analytics"]),
    ("Google Ads", ["advertising"]),
    ("Looker", ["bi"]),
    ("Power BI", ["bi"]),
    ("Segment", ["cdp"]),
    ("Snowflake", ["data_warehouse"]),
    ("BigQuery", ["data_warehouse"]),
    ("Amazon Redshift", ["data_warehouse"]),
    ("dbt", ["data_integration"]),
    ("Fivetran", ["data_integration"]),
    ("PostgreSQL", ["database"]),
    ("AWS", ["cloud"]),
    ("Amazon Web Services", ["cloud"]),
    ("Azure", ["cloud"]),
    ("GCP", ["cloud"]),
    ("Slack", ["collaboration"]),
    ("MS Teams", ["collaboration"]),
    ("G Suite", ["collaboration"]),
    ("Office 365", ["collaboration"]),
    ("Jira", ["devtools", "collaboration"]),
    ("GitHub", ["devtools"]),
    ("Zendesk", ["support"]),
    ("Shopify", ["ecommerce"]),
    ("Stripe", ["payments"]),
    ("WordPress", ["cms"]),
    ("SAP S/4HANA", ["erp"]),
    ("Oracle NetSuite", ["erp", "accounting"]),
    ("QuickBooks", ["accounting"]),
    ("Workday", ["hr", "erp"]),
    ("Okta", ["security"]),
    ("Some Homegrown Tool", None),
]


@pytest.mark.parametrize(("tool", "categories"), TOOLS)
def test_tool_categories(tool: str, categories: list[str] | None) -> None:
    got = classify_tools([tool]).row(0)[2]
    assert (sorted(got) if got is not None else None) == (
        sorted(categories) if categories is not None else None
    )


def test_every_sandbox_tool_is_known_and_categories_are_in_the_set() -> None:
    tools = [t for pool in TECH_TOOLS.values() for t in pool]
    classified = classify_tools(tools)
    assert classified.filter(pl.col("categories").is_null())["tool"].to_list() == []
    found = set(classified["categories"].explode())
    assert found <= set(TECH_CATEGORIES)


def test_stack_splitting_any_separator_and_case() -> None:
    stacks = pl.Series(
        "tech_stack",
        [
            "Salesforce; HubSpot; Snowflake; AWS",
            "salesforce,snowflake ; aws",
            "Slack | Zoom\nNotion",
            "Segment / BigQuery & Tableau and Marketo + AWS",
            "SALESFORCE; salesforce",
            "S/4HANA",
        ],
    )
    out = tech_columns(stacks)
    assert out["tech_categories"].to_list() == [
        ["cloud", "crm", "data_warehouse", "marketing_automation"],
        ["cloud", "crm", "data_warehouse"],
        ["collaboration"],
        ["bi", "cdp", "cloud", "data_warehouse", "marketing_automation"],
        ["crm"],
        ["erp"],
    ]
    assert out["tech_count"].to_list() == [4, 3, 3, 5, 1, 1]


def test_missing_stack_is_unknown_and_unknown_tools_count() -> None:
    out = tech_columns(pl.Series("tech_stack", [None, "", "  ;  ", "n/a", "Foo; Bar; none"]))
    assert out.rows() == [(None, None, None)] * 4 + [([], 2, 2)]


def test_list_column_input() -> None:
    out = tech_columns(pl.Series("tech_stack", [["AWS", "Slack"], None, []]))
    assert out["tech_categories"].to_list() == [["cloud", "collaboration"], None, None]


def test_digital_maturity_rewards_breadth_and_a_modern_stack() -> None:
    stacks = pl.Series(
        "tech_stack",
        [
            "QuickBooks",
            "Salesforce; Marketo; Snowflake; AWS; Segment; Looker; Slack; Zendesk; GitHub; Stripe",
            "Salesforce; Marketo; Snowflake; AWS; Segment; Looker",
            "Salesforce; Slack",
        ],
    )
    scores = tech_columns(stacks)["digital_maturity"].to_list()
    assert all(0 <= s <= 100 for s in scores)
    assert scores[1] == 100
    assert scores[0] < scores[3] < scores[2] < scores[1]
