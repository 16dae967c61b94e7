"""enrich_contacts / enrich_companies: schema contract, messy input, roll-ups."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest

from segmentation.enrich import (
    ENRICHED_COMPANY_COLUMNS,
    ENRICHED_CONTACT_COLUMNS,
    VALUE_SETS,
    enrich_companies,
    enrich_contacts,
)
from segmentation.enrich.parse import DATETIME

NOW = datetime(2025, 6, 15, 12, tzinfo=UTC)
DAY_MS = 86_400_000
NOW_MS = int(NOW.timestamp() * 1000)


def ago(days: float) -> str:
    """An epoch-ms string ``days`` before NOW, the way HubSpot sends timestamps."""
    return str(NOW_MS - int(days * DAY_MS))


COMPANIES = pl.DataFrame(
    {
        "id": ["1", "2", "3", "4"],
        "name": ["Acme", "Globex", "Initech", "Empty Co"],
        "domain": ["acme.com", None, "initech.io", None],
        "website": [None, "https://www.globex.de/en", None, None],
        "industry": ["software", "manufacturing", None, None],
        "employees": ["1,200", "45", "n/a", None],
        "annual_revenue": ["$250M", "4.5M", "junk", None],
        "country": ["USA", "Deutschland", "U.K.", None],
        "state": ["CA", "Bayern", None, None],
        "tech_stack": ["Salesforce; Snowflake; AWS", "SAP, Slack", None, None],
        "last_activity_at": [ago(40), None, ago(500), None],
    }
)

CONTACTS = pl.DataFrame(
    {
        "id": ["a", "b", "c", "d", "e", "f"],
        "email": [
            "ann@acme.com",
            "bob@eu.acme.com",
            "Cleo <cleo@gmail.com>",
            "dan@globex.de",
            None,
            "fay@fayco.org",
        ],
        "job_title": ["VP Sales", "Account Manager", "Geschäftsführer", "CTO", None, "Student"],
        "country": ["United States", "usa", None, "Germany", "  ", "Atlantis"],
        "state": ["NY", None, "ON", "Berlin", "TX", None],
        "birth_year": ["1984", None, "abc", None, None, "2001"],
        "last_activity_at": [ago(5), ago(120), ago(1), ago(89), None, "garbage"],
        "email_clicks": ["3", "0", "x", "1", None, "2"],
        "company_id": ["1", "1", "2", "2", "9", None],  # 9: no such company
    }
)

DEALS = pl.DataFrame(
    {
        "id": ["d1", "d2", "d3", "d4", "d5", "d6", "d7"],
        "company_id": ["1", "1", "1", "2", "2", "3", None],
        "amount": ["10,000", "5000", "$2.5k", "1000", None, "700", "999"],
        "stage": [
            "closedwon",
            "appointmentscheduled",
            "closedlost",
            "Closed Won",
            "qualified",
            None,
            "closedwon",
        ],
        "is_won": [None, None, None, None, None, "true", None],
        "close_date": [ago(100), None, ago(50), "2025-01-31", None, ago(10), ago(1)],
    }
)


@pytest.fixture(scope="module")
def companies_out() -> pl.DataFrame:
    return enrich_companies(COMPANIES, CONTACTS, DEALS, now=NOW)


@pytest.fixture(scope="module")
def contacts_out(companies_out: pl.DataFrame) -> pl.DataFrame:
    return enrich_contacts(CONTACTS, companies_out, now=NOW)


def test_company_schema_is_input_then_enriched(companies_out: pl.DataFrame) -> None:
    inputs = [c for c in COMPANIES.columns if c not in ENRICHED_COMPANY_COLUMNS]
    assert companies_out.columns == inputs + list(ENRICHED_COMPANY_COLUMNS)
    for name, dtype in ENRICHED_COMPANY_COLUMNS.items():
        assert companies_out.schema[name] == dtype, name
    # Canonical typed inputs are parsed in place.
    assert companies_out.schema["employees"] == pl.Int64
    assert companies_out.schema["annual_revenue"] == pl.Float64
    assert companies_out.height == COMPANIES.height


def test_contact_schema_is_input_then_enriched(contacts_out: pl.DataFrame) -> None:
    inputs = [c for c in CONTACTS.columns if c not in ENRICHED_CONTACT_COLUMNS]
    assert contacts_out.columns == inputs + list(ENRICHED_CONTACT_COLUMNS)
    for name, dtype in ENRICHED_CONTACT_COLUMNS.items():
        assert contacts_out.schema[name] == dtype, name
    assert contacts_out.schema["last_activity_at"] == DATETIME
    assert contacts_out["id"].to_list() == CONTACTS["id"].to_list()  # row order kept


def test_company_firmographics(companies_out: pl.DataFrame) -> None:
    got = companies_out.select(
        "company_domain",
        "employees",
        "company_size_band",
        "annual_revenue",
        "revenue_band",
        "country_code",
        "region",
        "time_zone",
    ).rows()
    assert got == [
        (
            "acme.com",
            1200,
            "1001-5000",
            250_000_000.0,
            "250M-1B",
            "US",
            "NA",
            "America/Los_Angeles",
        ),
        ("globex.de", 45, "11-50", 4_500_000.0, "1M-10M", "DE", "EMEA", "Europe/Berlin"),
        ("initech.io", None, None, None, None, "GB", "EMEA", "Europe/London"),
        (None, None, None, None, None, None, None, None),
    ]
    assert companies_out["tech_categories"].to_list() == [
        ["cloud", "crm", "data_warehouse"],
        ["collaboration", "erp"],
        None,
        None,
    ]


def test_company_rollups(companies_out: pl.DataFrame) -> None:
    got = companies_out.select(
        "contact_count",
        "engaged_contact_count",
        "deal_count",
        "open_deal_count",
        "won_deal_count",
        "won_revenue",
        "open_pipeline",
    ).rows()
    assert got == [
        # Acme: ann (5 days, engaged) and bob (120 days); won 10,000, lost 2,500, open 5,000
        (2, 1, 3, 1, 1, 10_000.0, 5000.0),
        # Globex: cleo (1 day) and dan (89 days); won 1,000, one open deal without amount
        (2, 2, 2, 1, 1, 1000.0, 0.0),
        # Initech: one deal flagged won by is_won although it has no stage
        (0, 0, 1, 0, 1, 700.0, 0.0),
        (0, 0, 0, 0, 0, 0.0, 0.0),
    ]
    first_won = companies_out["first_won_at"].to_list()
    assert first_won[0] == datetime.fromtimestamp((NOW_MS - 100 * DAY_MS) / 1000, UTC)
    assert first_won[1] == datetime(2025, 1, 31, tzinfo=UTC)
    assert companies_out["last_won_at"].to_list()[3] is None


def test_company_last_activity_is_the_latest_of_its_own_and_its_contacts(
    companies_out: pl.DataFrame,
) -> None:
    own = datetime.fromtimestamp((NOW_MS - 40 * DAY_MS) / 1000, UTC)
    ann = datetime.fromtimestamp((NOW_MS - 5 * DAY_MS) / 1000, UTC)
    cleo = datetime.fromtimestamp((NOW_MS - 1 * DAY_MS) / 1000, UTC)
    initech = datetime.fromtimestamp((NOW_MS - 500 * DAY_MS) / 1000, UTC)
    assert companies_out["contacts_last_activity_at"].to_list() == [ann, cleo, None, None]
    assert companies_out["last_activity_at"].to_list() == [ann, cleo, initech, None]
    assert ann > own


def test_contact_enrichment(contacts_out: pl.DataFrame) -> None:
    got = contacts_out.select(
        "email_domain",
        "is_free_email",
        "company_domain_match",
        "country_code",
        "region",
        "time_zone",
        "seniority",
        "department",
        "age",
        "generation",
    ).rows()
    assert got == [
        ("acme.com", False, True, "US", "NA", "America/New_York", "vp", "sales", 41, "millennial"),
        (
            "eu.acme.com",
            False,
            True,
            "US",
            "NA",
            None,
            "individual_contributor",
            "sales",
            None,
            None,
        ),
        (
            "gmail.com",
            True,
            False,
            "CA",
            "NA",
            "America/Toronto",
            "c_level",
            "executive",
            None,
            None,
        ),
        (
            "globex.de",
            False,
            True,
            "DE",
            "EMEA",
            "Europe/Berlin",
            "c_level",
            "engineering",
            None,
            None,
        ),
        # blank country: the state says the US; company 9 does not exist
        (None, None, None, "US", "NA", "America/Chicago", None, None, None, None),
        # an unknown country stays unknown even with a state
        ("fayco.org", False, None, None, None, None, None, "other", 24, "gen_z"),
    ]


def test_contact_company_rollup(contacts_out: pl.DataFrame) -> None:
    got = contacts_out.select(
        "company_domain",
        "company_industry",
        "company_employees",
        "company_size_band",
        "company_revenue_band",
        "company_country_code",
        "company_region",
    ).rows()
    acme = ("acme.com", "software", 1200, "1001-5000", "250M-1B", "US", "NA")
    globex = ("globex.de", "manufacturing", 45, "11-50", "1M-10M", "DE", "EMEA")
    nothing = (None,) * 7
    assert got == [acme, acme, globex, globex, nothing, nothing]
    assert contacts_out["company_tech_categories"].to_list()[0] == [
        "cloud",
        "crm",
        "data_warehouse",
    ]


def test_contacts_with_raw_companies_match_contacts_with_enriched_ones(
    contacts_out: pl.DataFrame,
) -> None:
    again = enrich_contacts(CONTACTS, COMPANIES, now=NOW)
    assert again.equals(contacts_out)


def test_messy_values_become_null_not_errors(contacts_out: pl.DataFrame) -> None:
    assert contacts_out["birth_year"].to_list() == [1984, None, None, None, None, 2001]
    assert contacts_out["email_clicks"].to_list() == [3, 0, None, 1, None, 2]
    assert contacts_out["last_activity_at"].to_list()[5] is None


def test_without_companies_the_company_columns_are_null() -> None:
    out = enrich_contacts(CONTACTS, now=NOW)
    for name in ENRICHED_CONTACT_COLUMNS:
        if name.startswith("company_"):
            assert out[name].null_count() == out.height, name
    assert out["seniority"].to_list()[0] == "vp"


def test_without_contacts_or_deals_the_rollups_are_null() -> None:
    out = enrich_companies(COMPANIES, now=NOW)
    for name in ("contact_count", "deal_count", "won_revenue", "open_pipeline", "first_won_at"):
        assert out[name].null_count() == out.height, name
    # The company's own last activity is kept as parsed.
    assert out["last_activity_at"].null_count() == 2


def test_minimal_frames_never_crash() -> None:
    contacts = enrich_contacts(pl.DataFrame({"id": ["x"]}), pl.DataFrame({"id": ["1"]}), now=NOW)
    assert contacts.columns == ["id", *ENRICHED_CONTACT_COLUMNS]
    assert contacts.row(0)[1:] == (None,) * len(ENRICHED_CONTACT_COLUMNS)
    companies = enrich_companies(
        pl.DataFrame({"name": ["x"]}),
        pl.DataFrame({"id": ["c"]}),
        pl.DataFrame({"id": ["d"]}),
        now=NOW,
    )
    assert companies.columns == ["name", *ENRICHED_COMPANY_COLUMNS]
    empty = enrich_contacts(pl.DataFrame(schema={"email": pl.String}), now=NOW)
    assert empty.height == 0 and empty.columns == ["email", *ENRICHED_CONTACT_COLUMNS]


def test_integer_ids_join_string_ids_and_duplicates_do_not_multiply() -> None:
    companies = pl.DataFrame({"id": [1, 1, 2], "employees": [10, 999, 20]})
    contacts = pl.DataFrame({"id": ["a", "b"], "company_id": ["1", " 2 "]})
    out = enrich_contacts(contacts, companies, now=NOW)
    assert out.height == 2
    assert out["company_employees"].to_list() == [10, 20]


def test_naive_now_is_utc() -> None:
    aware = enrich_contacts(CONTACTS, now=NOW)
    naive = enrich_contacts(CONTACTS, now=NOW.replace(tzinfo=None))
    assert aware.equals(naive)


def test_value_sets_cover_the_outputs(
    contacts_out: pl.DataFrame, companies_out: pl.DataFrame
) -> None:
    for frame in (contacts_out, companies_out):
        for name, allowed in VALUE_SETS.items():
            if name not in frame.columns:
                continue
            values = frame[name]
            if isinstance(values.dtype, pl.List):
                values = values.explode()
            assert set(values.drop_nulls()) <= set(allowed), name
