"""Seeded contacts: people, emails, titles, geography, engagement and survey answers."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from connectors.sandbox.seed.common import (
    DAY_MS,
    Picker,
    SeedContext,
    SeedTable,
    draw_count,
    last_activity,
)
from connectors.sandbox.seed.pools import (
    B2B_GOALS,
    B2B_USE_CASES,
    B2C_GOALS,
    B2C_USE_CASES,
    INTERESTS,
    LOCAL_JOB_TITLES,
    Country,
)

LOCAL_TITLE_SHARE = 0.3  # share of contacts in FR/DE/ES/... with a local-language title


def make_contacts(
    g: SeedContext,
    n: int,
    companies: SeedTable,
    company_countries: list[Country],
    links: dict[tuple[str, str], list[tuple[int, int]]],
    *,
    kind: str = "contact",
) -> SeedTable:
    """``n`` contacts; B2B ones mostly work at a seeded company (links are added).

    ``kind="lead"`` draws another population (its own random stream) of people the CRM
    knows as leads; their company links go under ``("lead", "company")``.
    """
    rng = g.rng("contacts" if kind == "contact" else f"{kind}s")
    b2c = g.mode == "b2c"
    t = SeedTable(kind, n)
    names = (
        "email",
        "first_name",
        "last_name",
        "job_title",
        "phone",
        "country",
        "state",
        "city",
        "company_name",
        "lifecycle_stage",
        "lead_status",
        "source",
        "created_at",
        "updated_at",
        "last_activity_at",
        "last_contacted_at",
        "last_visit_at",
        "email_opens",
        "email_clicks",
        "email_delivered",
        "page_views",
        "visits",
        "notes_count",
        "interests",
        "use_case",
        "primary_goal",
        "preferred_channel",
        "birth_year",
        "date_of_birth",
        "gender",
        "income",
        "num_orders",
        "total_revenue",
        "first_order_at",
        "last_order_at",
        "last_order_amount",
    )
    cols: dict[str, list[Any]] = {k: [] for k in names}
    created = g.created_times(rng, n)
    n_comp = companies.size
    employees = companies.columns["employees"] if n_comp else []
    comp_pick = (
        Picker([(i, math.sqrt(e or 10)) for i, e in enumerate(employees)]) if n_comp else None
    )
    lifecycle = Picker(
        [
            ("subscriber", 20),
            ("lead", 32),
            ("marketingqualifiedlead", 15),
            ("salesqualifiedlead", 9),
            ("opportunity", 6),
            ("customer", 8),
            ("evangelist", 1),
            ("other", 3),
            ("", 6),
        ]
    )
    b2c_lifecycle = Picker([("subscriber", 45), ("lead", 35), ("other", 5), ("", 15)])
    contact_company = links.setdefault((kind, "company"), [])
    use_cases = B2C_USE_CASES if b2c else B2B_USE_CASES
    goals = B2C_GOALS if b2c else B2B_GOALS
    for i in range(n):
        company = None
        if comp_pick is not None and rng.random() < (0.15 if b2c else 0.88):
            company = comp_pick(rng)
            contact_company.append((i, company))
        if company is not None and rng.random() < 0.75:
            country = company_countries[company]
        else:
            country = g.country(rng)
        (first, first_a), (last, last_a) = g.name(rng, country.locale)
        business = company is not None and not b2c and rng.random() < 0.8
        domain = companies.columns["domain"][company] if business and company is not None else None
        email = g.email(rng, first_a, last_a, domain) if rng.random() > 0.03 else None
        cols["email"].append(email)
        cols["first_name"].append(first if rng.random() > 0.02 else None)
        cols["last_name"].append(last if rng.random() > 0.04 else None)
        if b2c:
            title = g.b2c_title(rng) or None
        elif rng.random() < 0.06:
            title = None
        elif country.locale in LOCAL_JOB_TITLES and rng.random() < LOCAL_TITLE_SHARE:
            pool = LOCAL_JOB_TITLES[country.locale]
            title = pool[rng.randrange(len(pool))]
        else:
            title = g.title(rng)
        cols["job_title"].append(title)
        cols["phone"].append(g.phone(rng, country))
        blank_geo = rng.random() < 0.1
        region, city = country.places[rng.randrange(len(country.places))]
        cols["country"].append(None if blank_geo else g.spelling[country.code](rng))
        cols["state"].append(None if blank_geo or not region or rng.random() < 0.2 else region)
        cols["city"].append(None if blank_geo or rng.random() < 0.1 else city)
        if company is not None:
            cname = companies.columns["name"][company]
            v = rng.random()
            cname = cname.lower() if v < 0.05 else cname.split(" ")[0] if v < 0.12 else cname
        else:
            cname = None
        cols["company_name"].append(cname)
        cols["lifecycle_stage"].append((b2c_lifecycle(rng) if b2c else lifecycle(rng)) or None)
        cols["lead_status"].append(None if b2c else g.lead_status(rng) or None)
        cols["source"].append(g.source(rng) if rng.random() > 0.1 else None)
        activity, level = last_activity(rng, g.anchor, created[i])
        cols["last_activity_at"].append(activity)
        contacted = None
        if activity is not None and rng.random() < 0.7:
            contacted = activity - int(rng.uniform(0, 20) * DAY_MS)
            contacted = max(contacted, created[i])
        cols["last_contacted_at"].append(contacted)
        visit = None
        if rng.random() < 0.6:
            visit = (
                activity
                if activity is not None and rng.random() < 0.5
                else (created[i] + int((g.anchor - created[i]) * rng.random()))
            )
        cols["last_visit_at"].append(visit)
        delivered = draw_count(rng, 40 * (0.3 + level)) if email else 0
        opens = min(delivered, draw_count(rng, delivered * 0.35 * (0.2 + level)))
        cols["email_delivered"].append(delivered)
        cols["email_opens"].append(opens)
        cols["email_clicks"].append(min(opens, draw_count(rng, opens * 0.2)))
        visits = draw_count(rng, 12 * level + 0.5)
        cols["visits"].append(visits)
        cols["page_views"].append(visits + draw_count(rng, visits * 2.5))
        cols["notes_count"].append(draw_count(rng, 4 * level))
        survey = rng.random() < (0.6 if b2c else 0.35)
        if survey and rng.random() < (0.75 if b2c else 0.5):
            k = 1 + min(4, int(rng.expovariate(0.8)))
            cols["interests"].append(sorted(set(rng.sample(INTERESTS, k))))
        else:
            cols["interests"].append(None)
        cols["use_case"].append(
            use_cases[rng.randrange(len(use_cases))] if survey and rng.random() < 0.7 else None
        )
        cols["primary_goal"].append(
            goals[rng.randrange(len(goals))] if survey and rng.random() < 0.7 else None
        )
        cols["preferred_channel"].append(g.channel(rng) if survey else None)
        if b2c:
            birth_year = int(min(2007, max(1935, rng.gauss(1984, 14))))
            known = rng.random() < 0.8
            cols["birth_year"].append(birth_year if known else None)
            if known and rng.random() < 0.6:
                dob = datetime(birth_year, rng.randrange(1, 13), rng.randrange(1, 29), tzinfo=UTC)
                cols["date_of_birth"].append(int(dob.timestamp() * 1000))
            else:
                cols["date_of_birth"].append(None)
            cols["gender"].append(g.gender(rng) or None if rng.random() < 0.85 else None)
            income = math.exp(rng.gauss(math.log(55_000), 0.65))
            cols["income"].append(round(income, -2) if rng.random() < 0.75 else None)
        else:
            cols["birth_year"].append(None)
            cols["date_of_birth"].append(None)
            cols["gender"].append(None)
            cols["income"].append(None)
        for name in (
            "num_orders",
            "total_revenue",
            "first_order_at",
            "last_order_at",
            "last_order_amount",
        ):
            cols[name].append(None)
        cols["created_at"].append(created[i])
        cols["updated_at"].append(g.modified_after(rng, created[i], activity, contacted, visit))
    t.columns = cols
    return t
