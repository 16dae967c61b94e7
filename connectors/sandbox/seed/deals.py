"""Seeded deals: B2B pipeline deals and B2C orders, plus the roll-ups they imply."""

from __future__ import annotations

import math
import random
from typing import Any

from connectors.sandbox.seed.common import DAY_MS, Picker, SeedContext, SeedTable
from connectors.sandbox.seed.pools import LIFECYCLE_ORDER, PRODUCTS

# Canonical deal stages per pipeline, in forward order, with (probability, closed, won).
DEAL_STAGES: dict[str, tuple[tuple[str, float, bool, bool], ...]] = {
    "sales": (
        ("appointment_scheduled", 0.2, False, False),
        ("qualified_to_buy", 0.4, False, False),
        ("presentation_scheduled", 0.6, False, False),
        ("decision_maker_bought_in", 0.8, False, False),
        ("contract_sent", 0.9, False, False),
        ("closed_won", 1.0, True, True),
        ("closed_lost", 0.0, True, False),
    ),
    "ecommerce": (
        ("checkout_abandoned", 0.0, True, False),
        ("checkout_pending", 0.5, False, False),
        ("checkout_completed", 1.0, True, True),
        ("processed", 1.0, True, True),
        ("shipped", 1.0, True, True),
        ("cancelled", 0.0, True, False),
    ),
}


def make_b2b_deals(
    g: SeedContext,
    n: int,
    companies: SeedTable,
    contacts: SeedTable,
    links: dict[tuple[str, str], list[tuple[int, int]]],
) -> SeedTable:
    """Deals in the sales pipeline, each linked to a company and some of its contacts."""
    rng = g.rng("deals")
    t = SeedTable("deal", n)
    cols = _deal_columns()
    created = g.created_times(rng, n)
    if companies.size == 0:
        return _deals_without_company(g, rng, t, cols, created)
    by_company: dict[int, list[int]] = {}
    for contact, company in links.get(("contact", "company"), []):
        by_company.setdefault(company, []).append(contact)
    employees = companies.columns["employees"]
    pick = Picker([(i, (e or 10) ** 0.6) for i, e in enumerate(employees)])
    stages = DEAL_STAGES["sales"]
    open_stage = Picker([(s, w) for s, w in zip(stages[:5], (30, 25, 20, 15, 10), strict=True)])
    deal_company = links.setdefault(("deal", "company"), [])
    deal_contact = links.setdefault(("deal", "contact"), [])
    for i in range(n):
        company = pick(rng)
        deal_company.append((i, company))
        people = by_company.get(company, [])
        for contact in rng.sample(people, min(len(people), 1 + int(rng.expovariate(1.2)))):
            deal_contact.append((i, contact))
        age_days = (g.anchor - created[i]) / DAY_MS
        closed_share = 0.92 if age_days > 180 else 0.55 if age_days > 45 else 0.15
        if rng.random() < closed_share:
            stage = stages[5] if rng.random() < 0.45 else stages[6]
            close = created[i] + int(rng.uniform(7, 200) * DAY_MS)
            close = min(close, g.anchor - int(rng.uniform(1, 48) * 3_600_000))
        else:
            stage = open_stage(rng)
            close = g.anchor + int(rng.uniform(-30, 150) * DAY_MS)
        size = (employees[company] or 10) / 50
        amount = math.exp(rng.gauss(math.log(15_000), 1.1)) * max(0.3, size) ** 0.3
        product = PRODUCTS[rng.randrange(len(PRODUCTS))]
        cname = companies.columns["name"][company]
        style = rng.random()
        name = (
            f"{cname} - {product}"
            if style < 0.6
            else f"{cname} | {product} ({rng.randrange(5, 500)} seats)"
            if style < 0.8
            else f"{product} - {cname}"
        )
        _append_deal(
            cols,
            name,
            round(amount, -2) if rng.random() > 0.05 else None,
            close,
            stage,
            "sales",
            created[i],
            g.modified_after(rng, created[i], min(close, g.anchor - 1000)),
        )
        cols["deal_type"].append("new_business" if rng.random() < 0.7 else "existing_business")
        r = rng.random()
        cols["priority"].append(
            "high" if r < 0.15 else "medium" if r < 0.45 else "low" if r < 0.7 else None
        )
    t.columns = cols
    return t


def _deals_without_company(
    g: SeedContext, rng: random.Random, t: SeedTable, cols: dict[str, list[Any]], created: list[int]
) -> SeedTable:
    stages = DEAL_STAGES["sales"]
    for i in range(t.size):
        stage = stages[rng.randrange(len(stages))]
        close = created[i] + int(rng.uniform(7, 200) * DAY_MS)
        _append_deal(
            cols,
            f"Deal {i + 1}",
            round(math.exp(rng.gauss(math.log(15_000), 1.1)), -2),
            close,
            stage,
            "sales",
            created[i],
            g.modified_after(rng, created[i]),
        )
        cols["deal_type"].append("new_business")
        cols["priority"].append(None)
    t.columns = cols
    return t


def _deal_columns() -> dict[str, list[Any]]:
    return {
        k: []
        for k in (
            "name",
            "amount",
            "close_date",
            "stage",
            "pipeline",
            "is_won",
            "is_closed",
            "probability",
            "deal_type",
            "priority",
            "created_at",
            "updated_at",
        )
    }


def _append_deal(
    cols: dict[str, list[Any]],
    name: str,
    amount: float | None,
    close: int,
    stage: tuple[str, float, bool, bool],
    pipeline: str,
    created: int,
    updated: int,
) -> None:
    key, probability, closed, won = stage
    cols["name"].append(name)
    cols["amount"].append(amount)
    cols["close_date"].append(close)
    cols["stage"].append(key)
    cols["pipeline"].append(pipeline)
    cols["is_won"].append(won)
    cols["is_closed"].append(closed)
    cols["probability"].append(probability)
    cols["created_at"].append(created)
    cols["updated_at"].append(updated)


def make_b2c_orders(
    g: SeedContext, n: int, contacts: SeedTable, links: dict[tuple[str, str], list[tuple[int, int]]]
) -> SeedTable:
    """Orders as deals in the ecommerce pipeline: a minority of repeat buyers place most orders."""
    rng = g.rng("orders")
    t = SeedTable("deal", n)
    cols = _deal_columns()
    if contacts.size == 0:
        return _deals_without_company(g, rng, t, cols, g.created_times(rng, n))
    n_customers = max(1, min(contacts.size, int(n * 0.45)))
    customers = rng.sample(range(contacts.size), n_customers)
    weight = Picker([(c, rng.paretovariate(1.3)) for c in customers])
    c_created = contacts.columns["created_at"]
    orders = []
    # A customer is someone who bought: each one places a first order, and the Pareto
    # weights then hand the remaining orders mostly to a minority of repeat buyers.
    for i in range(n):
        customer = customers[i] if i < n_customers else weight(rng)
        start = c_created[customer]
        at = start + int((g.anchor - start) * rng.random() ** 0.8)
        orders.append((min(at, g.anchor - 60_000), customer))
    orders.sort()
    stages = {s[0]: s for s in DEAL_STAGES["ecommerce"]}
    stage_pick = Picker(
        [
            ("shipped", 55),
            ("processed", 15),
            ("checkout_completed", 10),
            ("cancelled", 8),
            ("checkout_abandoned", 7),
            ("checkout_pending", 5),
        ]
    )
    deal_contact = links.setdefault(("deal", "contact"), [])
    for i, (at, customer) in enumerate(orders):
        deal_contact.append((i, customer))
        key = stage_pick(rng)
        if key == "checkout_pending" and g.anchor - at > 7 * DAY_MS:
            key = "checkout_abandoned"
        amount = round(math.exp(rng.gauss(math.log(55), 0.9)), 2)
        close = min(
            at + (int(rng.uniform(0, 3) * DAY_MS) if key == "shipped" else 0), g.anchor - 1000
        )
        _append_deal(
            cols,
            f"Order #{100_001 + i}",
            amount,
            close,
            stages[key],
            "ecommerce",
            at,
            g.modified_after(rng, at, close),
        )
        cols["deal_type"].append("new_business")
        cols["priority"].append(None)
    t.columns = cols
    _roll_up_orders(g, rng, t, contacts, deal_contact)
    return t


def _roll_up_orders(
    g: SeedContext,
    rng: random.Random,
    deals: SeedTable,
    contacts: SeedTable,
    deal_contact: list[tuple[int, int]],
) -> None:
    """Per-contact order statistics (what HubSpot calculates) and customer lifecycle stages."""
    cc = contacts.columns
    dc = deals.columns
    for deal, contact in deal_contact:
        cc["num_orders"][contact] = (cc["num_orders"][contact] or 0) + 1
        if cc["first_order_at"][contact] is None:
            cc["first_order_at"][contact] = dc["created_at"][deal]
        if dc["is_won"][deal]:
            cc["total_revenue"][contact] = round(
                (cc["total_revenue"][contact] or 0) + dc["amount"][deal], 2
            )
            cc["last_order_at"][contact] = dc["close_date"][deal]
            cc["last_order_amount"][contact] = dc["amount"][deal]
            cc["lifecycle_stage"][contact] = "evangelist" if rng.random() < 0.03 else "customer"
        last = cc["last_order_at"][contact] or dc["created_at"][deal]
        if cc["updated_at"][contact] < last:
            cc["updated_at"][contact] = min(last, g.anchor - 1000)


def roll_up_b2b(
    deals: SeedTable,
    companies: SeedTable,
    contacts: SeedTable,
    links: dict[tuple[str, str], list[tuple[int, int]]],
) -> None:
    """Lifecycle stages that agree with deals; company and contact counters."""
    dc, cc, kc = deals.columns, companies.columns, contacts.columns
    rank = {stage: i for i, stage in enumerate(LIFECYCLE_ORDER)}
    for deal, company in links.get(("deal", "company"), []):
        stage = (
            "customer"
            if dc["is_won"][deal]
            else "opportunity"
            if not dc["is_closed"][deal]
            else "lead"
        )
        current = cc["lifecycle_stage"][company]
        if current is None or rank[stage] > rank[current]:
            cc["lifecycle_stage"][company] = stage
    for deal, contact in links.get(("deal", "contact"), []):
        if dc["is_won"][deal]:
            current = kc["lifecycle_stage"][contact]
            if current not in ("customer", "evangelist"):
                kc["lifecycle_stage"][contact] = "customer"
        elif not dc["is_closed"][deal] and kc["lifecycle_stage"][contact] in (
            None,
            "subscriber",
            "lead",
        ):
            kc["lifecycle_stage"][contact] = "opportunity"


def company_counters(
    companies: SeedTable, deals: SeedTable, links: dict[tuple[str, str], list[tuple[int, int]]]
) -> None:
    """Per-company contact and deal counts and won revenue (HubSpot's calculated fields)."""
    n = companies.size
    contacts = [0] * n
    deal_count: list[int] = [0] * n
    revenue: list[float | None] = [None] * n
    for _, company in links.get(("contact", "company"), []):
        contacts[company] += 1
    for deal, company in links.get(("deal", "company"), []):
        deal_count[company] += 1
        if deals.columns["is_won"][deal] and deals.columns["amount"][deal]:
            revenue[company] = (revenue[company] or 0) + deals.columns["amount"][deal]
    companies.columns["num_contacts"] = contacts
    companies.columns["num_deals"] = deal_count
    companies.columns["total_revenue"] = revenue
    for i in range(n):
        if companies.columns["lifecycle_stage"][i] is None and contacts[i]:
            companies.columns["lifecycle_stage"][i] = "lead"
