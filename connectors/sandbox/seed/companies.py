"""Seeded companies: names, domains, industries, sizes with a long tail, tech stacks."""

from __future__ import annotations

import math
import random
from typing import Any

from connectors.sandbox.seed.common import SeedContext, SeedTable, last_activity, slug
from connectors.sandbox.seed.pools import (
    COMPANY_TAILS,
    COMPANY_WORDS,
    ENTERPRISE_TOOLS,
    LEGAL_SUFFIX,
    SMALL_TOOLS,
    TECH_TOOLS,
    Country,
)


def make_companies(g: SeedContext, n: int) -> tuple[SeedTable, list[Country]]:
    """``n`` companies in creation order, plus each one's country (contacts live nearby)."""
    rng = g.rng("companies")
    t = SeedTable("company", n)
    cols: dict[str, list[Any]] = {
        k: []
        for k in (
            "name",
            "domain",
            "website",
            "industry",
            "employees",
            "annual_revenue",
            "country",
            "state",
            "city",
            "phone",
            "tech_stack",
            "lifecycle_stage",
            "company_type",
            "founded_year",
            "description",
            "created_at",
            "updated_at",
            "last_activity_at",
        )
    }
    countries: list[Country] = []
    created = g.created_times(rng, n)
    for i in range(n):
        country = g.country(rng)
        countries.append(country)
        locale = country.locale
        shape = rng.random()
        word = COMPANY_WORDS[rng.randrange(len(COMPANY_WORDS))]
        tail = COMPANY_TAILS[rng.randrange(len(COMPANY_TAILS))]
        last = g.names.last[locale][rng.randrange(len(g.names.last[locale]))][0]
        if shape < 0.4:
            base = f"{word}{tail}" if tail in ("io", "ly", "ify") else f"{word} {tail}"
        elif shape < 0.7:
            base = f"{last} {tail}"
        elif shape < 0.9:
            base = f"{word} {COMPANY_WORDS[rng.randrange(len(COMPANY_WORDS))]}"
        else:
            other = g.names.last[locale][rng.randrange(len(g.names.last[locale]))][0]
            base = f"{last} & {other}"
        suffixes = LEGAL_SUFFIX.get(country.code, ("",))
        suffix = suffixes[rng.randrange(len(suffixes))] if rng.random() < 0.45 else ""
        cols["name"].append(f"{base} {suffix}".strip())
        industry = g.industry(rng) if rng.random() > 0.08 else None
        cols["industry"].append(industry)
        tld = country.tld if rng.random() < 0.5 else "com"
        if industry in ("software", "internet", "it_services") and rng.random() < 0.3:
            tld = "io" if rng.random() < 0.7 else "ai"
        stem = slug(base) or "company"
        domain = f"{stem}.{tld}"
        k = 2
        while domain in g.domains:
            domain = f"{stem}{k}.{tld}"
            k += 1
        g.domains.add(domain)
        cols["domain"].append(domain)
        w = rng.random()
        cols["website"].append(
            None
            if w < 0.1
            else f"https://www.{domain}"
            if w < 0.7
            else f"http://{domain}"
            if w < 0.8
            else f"www.{domain}"
        )
        employees = max(1, min(400_000, int(math.exp(rng.gauss(3.3, 1.7)))))
        cols["employees"].append(employees if rng.random() > 0.05 else None)
        revenue = employees * math.exp(rng.gauss(math.log(120_000), 0.6))
        cols["annual_revenue"].append(round(revenue, -3) if rng.random() > 0.2 else None)
        region, city = country.places[rng.randrange(len(country.places))]
        blank_geo = rng.random() < 0.07
        cols["country"].append(None if blank_geo else g.spelling[country.code](rng))
        cols["state"].append(region or None if not blank_geo else None)
        cols["city"].append(None if blank_geo or rng.random() < 0.05 else city)
        cols["phone"].append(g.phone(rng, country))
        cols["tech_stack"].append(tech_stack(rng, employees))
        cols["lifecycle_stage"].append(None)  # decided once deals exist
        cols["company_type"].append(g.company_type(rng) or None)
        cols["founded_year"].append(
            None if rng.random() < 0.3 else max(1850, 2024 - int(rng.expovariate(1 / 18)))
        )
        cols["description"].append(
            None
            if rng.random() < 0.6
            else f"{base} builds {(industry or 'business').replace('_', ' ')} products for "
            f"customers in "
            f"{country.spellings[0][0]}."
        )
        activity, _ = last_activity(rng, g.anchor, created[i])
        cols["last_activity_at"].append(activity)
        cols["created_at"].append(created[i])
        cols["updated_at"].append(g.modified_after(rng, created[i], activity))
    t.columns = cols
    return t, countries


def tech_stack(rng: random.Random, employees: int) -> str | None:
    """A semicolon-separated tool list sized by headcount; ``None`` for some companies."""
    if rng.random() < 0.15:
        return None
    n = max(1, min(12, int(1 + math.log(employees + 1) * 1.1 + rng.gauss(0, 1))))
    big = employees >= 500
    tools: list[str] = []
    categories = list(TECH_TOOLS)
    for _ in range(n * 3):
        if len(tools) >= n:
            break
        pool = TECH_TOOLS[categories[rng.randrange(len(categories))]]
        tool = pool[rng.randrange(len(pool))]
        if tool in tools:
            continue
        # Big companies rarely run small-business tools, small ones rarely run SAP.
        if (
            (big and tool in SMALL_TOOLS) or (not big and tool in ENTERPRISE_TOOLS)
        ) and rng.random() < 0.7:
            continue
        tools.append(tool)
    sep = rng.random()
    joiner = "; " if sep < 0.8 else ";" if sep < 0.88 else ", " if sep < 0.96 else " ; "
    return joiner.join(tools)
