"""Deterministic, dialect-neutral seed data: companies, contacts, deals and their links.

Records come out column-wise (one list per canonical snake_case field) so 100,000
contacts take little memory and load into the store without per-record dicts.
Timestamps are epoch milliseconds, relative to an anchor (default: start of today
UTC); everything is drawn from ``random.Random`` streams derived from the seed, so a
seed and an anchor always give the same data (for a given Faker version).
"""

from __future__ import annotations

from datetime import datetime

from connectors.sandbox.seed.common import (
    DAY_MS,
    HISTORY_MS,
    SeedContext,
    SeedData,
    SeedTable,
    anchor_ms,
)
from connectors.sandbox.seed.companies import make_companies
from connectors.sandbox.seed.contacts import make_contacts
from connectors.sandbox.seed.deals import (
    DEAL_STAGES,
    company_counters,
    make_b2b_deals,
    make_b2c_orders,
    roll_up_b2b,
)
from connectors.sandbox.seed.pools import COUNTRIES, JOB_TITLES, LOCAL_JOB_TITLES

__all__ = [
    "DAY_MS",
    "DEAL_STAGES",
    "HISTORY_MS",
    "SeedData",
    "SeedTable",
    "anchor_ms",
    "country_spellings",
    "generate",
    "job_titles",
]


def generate(
    seed: int,
    contacts: int,
    companies: int,
    deals: int,
    mode: str = "b2b",
    anchor: datetime | None = None,
    leads: int = 0,
) -> SeedData:
    """Generate the full data set; the same arguments always give the same data.

    ``leads`` > 0 adds a ``lead`` table of people who are only leads (Salesforce); it is
    drawn last, from its own stream, so the other tables do not depend on it.
    """
    if mode not in ("b2b", "b2c"):
        raise ValueError(f"mode must be 'b2b' or 'b2c', not {mode!r}")
    g = SeedContext(seed, mode, anchor_ms(anchor))
    links: dict[tuple[str, str], list[tuple[int, int]]] = {}
    company_table, company_countries = make_companies(g, companies)
    contact_table = make_contacts(g, contacts, company_table, company_countries, links)
    if mode == "b2c":
        deal_table = make_b2c_orders(g, deals, contact_table, links)
    else:
        deal_table = make_b2b_deals(g, deals, company_table, contact_table, links)
        roll_up_b2b(deal_table, company_table, contact_table, links)
    company_counters(company_table, deal_table, links)
    tables = {"contact": contact_table, "company": company_table, "deal": deal_table}
    if leads > 0:
        tables["lead"] = make_contacts(
            g, leads, company_table, company_countries, links, kind="lead"
        )
    return SeedData(seed, mode, g.anchor, tables, links)


def country_spellings() -> list[str]:
    """Every country spelling the seed uses (for mutations that move a record's country)."""
    return [spelling for c in COUNTRIES for spelling, _ in c.spellings]


def job_titles() -> list[str]:
    """Every job title the seed uses."""
    return [t for t, _ in JOB_TITLES] + [t for pool in LOCAL_JOB_TITLES.values() for t in pool]
