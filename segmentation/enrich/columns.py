"""The derived columns enrichment adds, with their dtypes and value sets.

Both enrich functions always add every column of their schema (null where the input
lacks what a column is derived from), so the playbook engine can reference any of them
without checking what the CRM happened to send.
"""

from __future__ import annotations

import polars as pl

from segmentation.enrich.bands import GENERATION_VALUES, REVENUE_BAND_VALUES, SIZE_BAND_VALUES
from segmentation.enrich.geo import REGIONS
from segmentation.enrich.parse import DATETIME
from segmentation.enrich.tech_rules import TECH_CATEGORIES
from segmentation.enrich.title_rules import DEPARTMENTS, SENIORITIES

_TEXT = pl.String()
_FLAG = pl.Boolean()
_INT = pl.Int64()
_MONEY = pl.Float64()
_LIST = pl.List(pl.String())

ENRICHED_CONTACT_COLUMNS: dict[str, pl.DataType] = {
    "email_domain": _TEXT,
    "is_free_email": _FLAG,
    "company_domain_match": _FLAG,
    "country_code": _TEXT,
    "region": _TEXT,
    "sub_region": _TEXT,
    "time_zone": _TEXT,
    "seniority": _TEXT,
    "department": _TEXT,
    "age": _INT,
    "generation": _TEXT,
    "tech_categories": _LIST,
    "tech_count": _INT,
    "digital_maturity": _INT,
    "company_domain": _TEXT,
    "company_industry": _TEXT,
    "company_employees": _INT,
    "company_size_band": _TEXT,
    "company_annual_revenue": _MONEY,
    "company_revenue_band": _TEXT,
    "company_country_code": _TEXT,
    "company_region": _TEXT,
    "company_tech_categories": _LIST,
    "company_digital_maturity": _INT,
}

ENRICHED_COMPANY_COLUMNS: dict[str, pl.DataType] = {
    "company_domain": _TEXT,
    "country_code": _TEXT,
    "region": _TEXT,
    "sub_region": _TEXT,
    "time_zone": _TEXT,
    "company_size_band": _TEXT,
    "revenue_band": _TEXT,
    "tech_categories": _LIST,
    "tech_count": _INT,
    "digital_maturity": _INT,
    "contact_count": _INT,
    "engaged_contact_count": _INT,
    "contacts_last_activity_at": DATETIME,
    "last_activity_at": DATETIME,
    "deal_count": _INT,
    "open_deal_count": _INT,
    "won_deal_count": _INT,
    "won_revenue": _MONEY,
    "open_pipeline": _MONEY,
    "first_won_at": DATETIME,
    "last_won_at": DATETIME,
}

# Closed value sets of the categorical columns (null aside), for playbook validation.
VALUE_SETS: dict[str, tuple[str, ...]] = {
    "region": REGIONS,
    "seniority": SENIORITIES,
    "department": DEPARTMENTS,
    "company_size_band": SIZE_BAND_VALUES,
    "revenue_band": REVENUE_BAND_VALUES,
    "company_revenue_band": REVENUE_BAND_VALUES,
    "generation": GENERATION_VALUES,
    "tech_categories": TECH_CATEGORIES,
    "company_tech_categories": TECH_CATEGORIES,
    "company_region": REGIONS,
}
