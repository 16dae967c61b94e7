"""``enrich_contacts`` and ``enrich_companies``: the two entry points of enrichment."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from segmentation.enrich.bands import birth_year_and_age, generation, revenue_band, size_band
from segmentation.enrich.columns import ENRICHED_COMPANY_COLUMNS, ENRICHED_CONTACT_COLUMNS
from segmentation.enrich.emails import domains_match, email_domain, is_free_email, normalize_domain
from segmentation.enrich.geo import geo_columns
from segmentation.enrich.parse import coerce_canonical
from segmentation.enrich.rollups import (
    company_facts_on_contacts,
    contact_rollups,
    deal_rollups,
    key_of,
)
from segmentation.enrich.tech import empty_tech_columns, tech_columns
from segmentation.enrich.titles import title_columns

# Company columns that mark a frame as already enriched (the contacts path reuses them
# instead of enriching the companies a second time).
_COMPANY_PROFILE = (
    "company_domain",
    "company_size_band",
    "revenue_band",
    "country_code",
    "region",
    "tech_categories",
    "digital_maturity",
)


def _utc(now: datetime) -> datetime:
    # Naive datetimes are taken as UTC, like the CRM timestamps they are compared with.
    return now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)


def _finish(
    df: pl.DataFrame, added: dict[str, pl.Series | pl.Expr], schema: dict[str, pl.DataType]
) -> pl.DataFrame:
    """Add the derived columns in schema order with schema dtypes (null where not derived)."""
    columns: list[pl.Series | pl.Expr] = []
    for name, dtype in schema.items():
        value = added.get(name)
        if value is None:
            columns.append(pl.lit(None, dtype=dtype).alias(name))
        else:
            columns.append(value.cast(dtype).alias(name))
    out = df.with_columns(columns)
    kept = [c for c in df.columns if c not in schema]
    return out.select(*kept, *schema)


def _series_of(frame: pl.DataFrame) -> dict[str, pl.Series | pl.Expr]:
    return {name: frame[name] for name in frame.columns}


def _common(df: pl.DataFrame) -> dict[str, pl.Series | pl.Expr]:
    """Geography and technographics, shared by contacts and companies."""
    added: dict[str, pl.Series | pl.Expr] = {}
    added.update(_series_of(geo_columns(df)))
    tech = (
        tech_columns(df["tech_stack"])
        if "tech_stack" in df.columns
        else empty_tech_columns(df.height)
    )
    added.update(_series_of(tech))
    return added


def _company_own(companies: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, pl.Series | pl.Expr]]:
    """The coerced companies and what is derived from their own fields (no roll-ups)."""
    df = coerce_canonical(companies)
    added = _common(df)
    sources = [pl.col(c) for c in ("domain", "website") if c in df.columns]
    if sources:
        added["company_domain"] = pl.coalesce([normalize_domain(s) for s in sources])
    if "employees" in df.columns:
        added["company_size_band"] = size_band(pl.col("employees"))
    if "annual_revenue" in df.columns:
        added["revenue_band"] = revenue_band(pl.col("annual_revenue"))
    return df, added


def enrich_companies(
    companies: pl.DataFrame,
    contacts: pl.DataFrame | None = None,
    deals: pl.DataFrame | None = None,
    *,
    now: datetime,
) -> pl.DataFrame:
    """Companies with their canonical typed columns parsed and ``ENRICHED_COMPANY_COLUMNS`` added.

    Derives ``company_domain`` (from ``domain``, else ``website``), geography
    (``country_code``, ``region``, ``sub_region``, ``time_zone``), ``company_size_band``,
    ``revenue_band`` and technographics from the company's own fields, and rolls up
    ``contacts`` (``contact_count``, ``engaged_contact_count``,
    ``contacts_last_activity_at``; ``last_activity_at`` becomes the later of the
    company's own and its contacts') and ``deals`` (``deal_count``, ``open_deal_count``,
    ``won_deal_count``, ``won_revenue``, ``open_pipeline``, ``first_won_at``,
    ``last_won_at``) by ``company_id``. Roll-ups are null when their frame is not given
    and zero for a company without contacts or deals. Missing input columns leave their
    derived columns null; messy values become null, never an error.
    """
    now = _utc(now)
    df, added = _company_own(companies)
    keys = df.select(
        key_of(pl.col("id")) if "id" in df.columns else pl.lit(None, dtype=pl.String)
    ).to_series()
    if contacts is not None and "company_id" in contacts.columns:
        rolled = contact_rollups(keys, contacts, now)
        added.update(_series_of(rolled))
        own_last = df["last_activity_at"] if "last_activity_at" in df.columns else None
        theirs = rolled["contacts_last_activity_at"]
        added["last_activity_at"] = (
            pl.select(pl.max_horizontal(pl.lit(own_last), pl.lit(theirs))).to_series()
            if own_last is not None
            else theirs
        )
    elif "last_activity_at" in df.columns:
        added["last_activity_at"] = df["last_activity_at"]
    if deals is not None and "company_id" in deals.columns:
        added.update(_series_of(deal_rollups(keys, deals)))
    return _finish(df, added, ENRICHED_COMPANY_COLUMNS)


def _company_profile(companies: pl.DataFrame) -> pl.DataFrame:
    """``id`` plus the enriched company columns, reusing them when already present."""
    if all(c in companies.columns for c in _COMPANY_PROFILE):
        return companies
    df, added = _company_own(companies)
    return _finish(df, added, ENRICHED_COMPANY_COLUMNS)


def enrich_contacts(
    contacts: pl.DataFrame,
    companies: pl.DataFrame | None = None,
    *,
    now: datetime,
) -> pl.DataFrame:
    """Contacts with their canonical typed columns parsed and ``ENRICHED_CONTACT_COLUMNS`` added.

    Derives ``email_domain``/``is_free_email``, geography (``country_code``,
    ``region``, ``sub_region``, ``time_zone``), ``seniority``/``department`` from
    ``job_title``, ``age``/``generation`` (from ``date_of_birth``, ``birth_year`` or
    ``age``), technographics from a contact-level ``tech_stack``, and — with
    ``companies`` — the company's firmographics by ``company_id`` (``company_industry``,
    ``company_employees``, ``company_size_band``, ``company_revenue_band``,
    ``company_country_code``, ``company_tech_categories``, ...) and
    ``company_domain_match``. Pass the output of ``enrich_companies`` as ``companies``
    to avoid enriching them twice. Missing input columns leave their derived columns
    null; messy values become null, never an error.
    """
    now = _utc(now)
    df = coerce_canonical(contacts)
    added = _common(df)
    domain = email_domain(df["email"]) if "email" in df.columns else None
    if domain is not None:
        added["email_domain"] = domain
        added["is_free_email"] = is_free_email(pl.lit(domain))
    if "job_title" in df.columns:
        added.update(_series_of(title_columns(df["job_title"])))
    birth_year, age = birth_year_and_age(df, now)
    added["age"] = age
    added["generation"] = generation(birth_year)
    if companies is not None and "company_id" in df.columns and "id" in companies.columns:
        profile = _company_profile(companies)
        facts = company_facts_on_contacts(df["company_id"], profile, ENRICHED_CONTACT_COLUMNS)
        added.update(_series_of(facts))
        if domain is not None:
            added["company_domain_match"] = domains_match(
                pl.lit(domain), pl.lit(facts["company_domain"])
            )
    return _finish(df, added, ENRICHED_CONTACT_COLUMNS)
