"""Roll-ups across objects: company facts on contacts, contact and deal facts on companies.

Everything is a group-by or a join on the string form of the ids (CRMs hand out ids as
strings; CSV readers may type them as integers on one side only). Company ids that
occur twice keep their first row, so a join never multiplies contacts.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import polars as pl

from segmentation.enrich.normalize import map_unique, nulls
from segmentation.enrich.parse import DATETIME, coerce_canonical, parse_bool
from segmentation.stable import stable_sum

KEY = "_company_key"
ENGAGED_WITHIN = timedelta(days=90)

# Company column -> the name it has on a contact.
COMPANY_FIELDS_ON_CONTACT: dict[str, str] = {
    "company_domain": "company_domain",
    "industry": "company_industry",
    "employees": "company_employees",
    "company_size_band": "company_size_band",
    "annual_revenue": "company_annual_revenue",
    "revenue_band": "company_revenue_band",
    "country_code": "company_country_code",
    "region": "company_region",
    "tech_categories": "company_tech_categories",
    "digital_maturity": "company_digital_maturity",
}

_WON = re.compile(
    r"\bclosed ?won\b|\bwon\b|\bgewonnen\b|\bgagnee?\b|\bganad[ao]\b|\bganho\b"
    r"|\bcheckout completed\b|\bprocessed\b|\bshipped\b|\bdelivered\b|\bpaid\b"
)
_LOST = re.compile(
    r"\bclosed ?lost\b|\blost\b|\bverloren\b|\bperdue?\b|\bperdid[ao]\b|\bcancell?ed\b"
    r"|\babandoned\b|\bdisqualified\b"
)


def key_of(column: pl.Expr) -> pl.Expr:
    """Join key of an id column: its trimmed text (1234 and "1234" meet)."""
    return column.cast(pl.String).str.strip_chars()


def _null(name: str, dtype: pl.DataType) -> pl.Expr:
    return pl.lit(None, dtype=dtype).alias(name)


def company_facts_on_contacts(
    company_id: pl.Series, profile: pl.DataFrame, schema: dict[str, pl.DataType]
) -> pl.DataFrame:
    """The contact-side company columns for each contact, by ``company_id``.

    ``profile`` is an enriched company frame (``id`` plus the enriched columns).
    """
    targets = list(COMPANY_FIELDS_ON_CONTACT.values())
    available = [
        pl.col(src).cast(schema[dst]).alias(dst)
        for src, dst in COMPANY_FIELDS_ON_CONTACT.items()
        if src in profile.columns
    ]
    missing = [
        _null(dst, schema[dst])
        for src, dst in COMPANY_FIELDS_ON_CONTACT.items()
        if src not in profile.columns
    ]
    facts = (
        profile.select(key_of(pl.col("id")).alias(KEY), *available, *missing)
        .filter(pl.col(KEY).is_not_null())
        .unique(subset=KEY, keep="first", maintain_order=True)
    )
    contacts = pl.DataFrame({KEY: company_id}).select(key_of(pl.col(KEY)).alias(KEY))
    return contacts.join(facts, on=KEY, how="left", maintain_order="left").select(targets)


def contact_rollups(company_keys: pl.Series, contacts: pl.DataFrame, now: datetime) -> pl.DataFrame:
    """``contact_count``, ``engaged_contact_count``, ``contacts_last_activity_at`` per company.

    A contact is engaged when its last activity is within the last 90 days; a contact
    frame without ``last_activity_at`` counts contacts with any email click or page
    view instead.
    """
    wanted = [
        c
        for c in ("company_id", "last_activity_at", "email_clicks", "page_views")
        if c in contacts.columns
    ]
    people = coerce_canonical(contacts.select(wanted))
    if "last_activity_at" in people.columns:
        last = pl.col("last_activity_at")
        engaged = last >= pl.lit(now - ENGAGED_WITHIN, dtype=DATETIME)
    else:
        last = pl.lit(None, dtype=DATETIME)
        signals = [pl.col(c) > 0 for c in ("email_clicks", "page_views") if c in people.columns]
        engaged = pl.any_horizontal(signals) if signals else pl.lit(None, dtype=pl.Boolean)
    per_company = (
        people.select(
            key_of(pl.col("company_id")).alias(KEY), last.alias("_last"), engaged.alias("_engaged")
        )
        .filter(pl.col(KEY).is_not_null())
        .group_by(KEY)
        .agg(
            pl.len().cast(pl.Int64).alias("contact_count"),
            pl.col("_engaged").sum().cast(pl.Int64).alias("engaged_contact_count"),
            pl.col("_last").max().alias("contacts_last_activity_at"),
        )
    )
    return (
        pl.DataFrame({KEY: company_keys})
        .join(per_company, on=KEY, how="left", maintain_order="left")
        .select(
            pl.col("contact_count").fill_null(0),
            pl.col("engaged_contact_count").fill_null(0),
            pl.col("contacts_last_activity_at").cast(DATETIME),
        )
    )


def _stage_flags(stage: str) -> tuple[bool, bool]:
    """(won, closed) read from a stage name such as "closedwon" or "Closed Lost"."""
    text = re.sub(r"[_\-]+", " ", stage.lower())
    won = _WON.search(text) is not None
    closed = won or _LOST.search(text) is not None or re.search(r"\bclosed\b", text) is not None
    return won, closed


def deal_status(deals: pl.DataFrame) -> tuple[pl.Series, pl.Series]:
    """(won, closed) per deal from ``is_won``/``is_closed``, else from the stage name.

    Null where the deal says nothing about its status. Stage names are read once per
    distinct stage (a pipeline has a handful).
    """
    n = deals.height
    if "stage" in deals.columns:
        stage_won = map_unique(deals["stage"], lambda s: _stage_flags(s)[0], pl.Boolean())
        stage_closed = map_unique(deals["stage"], lambda s: _stage_flags(s)[1], pl.Boolean())
    else:
        stage_won = stage_closed = nulls(n, pl.Boolean())
    # Flags may still be text ("true", "yes") when the caller has not coerced the frame.
    won = (
        parse_bool(deals["is_won"]).fill_null(stage_won) if "is_won" in deals.columns else stage_won
    )
    closed = (
        parse_bool(deals["is_closed"]).fill_null(stage_closed)
        if "is_closed" in deals.columns
        else stage_closed
    )
    # A won deal is closed whatever else it says.
    closed = pl.select(pl.when(pl.lit(won)).then(True).otherwise(pl.lit(closed))).to_series()
    return won, closed


def deal_rollups(company_keys: pl.Series, deals: pl.DataFrame) -> pl.DataFrame:
    """Deal counts, won revenue, open pipeline and first/last won dates per company."""
    wanted = [
        c
        for c in ("company_id", "amount", "close_date", "is_won", "is_closed", "stage")
        if c in deals.columns
    ]
    typed = coerce_canonical(deals.select(wanted))
    won, closed = deal_status(typed)
    amount = pl.col("amount") if "amount" in typed.columns else pl.lit(None, dtype=pl.Float64)
    close_date = (
        pl.col("close_date") if "close_date" in typed.columns else pl.lit(None, dtype=DATETIME)
    )
    is_won = pl.lit(won).fill_null(False)
    is_open = pl.lit(closed).not_().fill_null(False)
    per_company = (
        typed.select(
            key_of(pl.col("company_id")).alias(KEY),
            amount.cast(pl.Float64).alias("_amount"),
            close_date.alias("_close"),
            is_won.alias("_won"),
            is_open.alias("_open"),
        )
        .filter(pl.col(KEY).is_not_null())
        .group_by(KEY)
        .agg(
            pl.len().cast(pl.Int64).alias("deal_count"),
            pl.col("_open").sum().cast(pl.Int64).alias("open_deal_count"),
            pl.col("_won").sum().cast(pl.Int64).alias("won_deal_count"),
            stable_sum(pl.col("_amount").filter(pl.col("_won"))).alias("won_revenue"),
            stable_sum(pl.col("_amount").filter(pl.col("_open"))).alias("open_pipeline"),
            pl.col("_close").filter(pl.col("_won")).min().alias("first_won_at"),
            pl.col("_close").filter(pl.col("_won")).max().alias("last_won_at"),
        )
    )
    return (
        pl.DataFrame({KEY: company_keys})
        .join(per_company, on=KEY, how="left", maintain_order="left")
        .select(
            *(pl.col(c).fill_null(0) for c in ("deal_count", "open_deal_count", "won_deal_count")),
            *(pl.col(c).fill_null(0.0) for c in ("won_revenue", "open_pipeline")),
            pl.col("first_won_at").cast(DATETIME),
            pl.col("last_won_at").cast(DATETIME),
        )
    )
