"""Seed data of the sandbox CRM: deterministic, anchored in time, and as messy as real CRMs."""

from __future__ import annotations

import statistics
from collections import Counter
from datetime import UTC, datetime

import pytest

from connectors.sandbox import FaultConfig
from connectors.sandbox.seed.generate import HISTORY_MS, SeedData, generate

ANCHOR = datetime(2025, 6, 1, tzinfo=UTC)
ANCHOR_MS = int(ANCHOR.timestamp() * 1000)


@pytest.fixture(scope="module")
def b2b() -> SeedData:
    return generate(7, contacts=3000, companies=500, deals=800, mode="b2b", anchor=ANCHOR)


@pytest.fixture(scope="module")
def b2c() -> SeedData:
    return generate(7, contacts=3000, companies=100, deals=2500, mode="b2c", anchor=ANCHOR)


def test_same_seed_and_anchor_give_the_same_data(b2b: SeedData) -> None:
    again = generate(7, contacts=3000, companies=500, deals=800, mode="b2b", anchor=ANCHOR)
    for name, table in b2b.tables.items():
        assert again.tables[name].columns == table.columns, name
    assert again.links == b2b.links
    other = generate(8, contacts=3000, companies=500, deals=800, mode="b2b", anchor=ANCHOR)
    assert other.tables["contact"].columns["email"] != b2b.tables["contact"].columns["email"]


def test_timestamps_are_relative_to_the_anchor(b2b: SeedData) -> None:
    for table in b2b.tables.values():
        created, updated = table.columns["created_at"], table.columns["updated_at"]
        assert created == sorted(created), "ids follow creation order"
        assert all(ANCHOR_MS - HISTORY_MS <= c < ANCHOR_MS for c in created)
        assert all(c <= u < ANCHOR_MS for c, u in zip(created, updated, strict=True))
    shifted = generate(
        7, contacts=50, companies=10, deals=10, anchor=datetime(2030, 1, 1, tzinfo=UTC)
    )
    assert min(shifted.tables["contact"].columns["created_at"]) > ANCHOR_MS


def test_contacts_look_like_a_real_b2b_crm(b2b: SeedData) -> None:
    cols = b2b.tables["contact"].columns
    countries = Counter(c for c in cols["country"] if c)
    us_spellings = {"United States", "USA", "US", "U.S.", "us", "United States of America"}
    assert len(us_spellings & set(countries)) >= 4
    assert {"Deutschland", "Germany"} <= set(countries) and any(c.strip() != c for c in countries)
    assert len(countries) > 60  # every continent, several spellings each
    titles = Counter(t for t in cols["job_title"] if t)
    assert len(titles) > 100
    assert any("Head of" in t for t in titles) and {"Geschäftsführer", "Account Manager"} & set(
        titles
    )
    emails = [e for e in cols["email"] if e]
    assert len(emails) == len(set(emails))
    free = sum(
        e.endswith(("@gmail.com", "@yahoo.com", "@hotmail.com", "@outlook.com")) for e in emails
    )
    assert 0.05 < free / len(emails) < 0.5
    day = 86_400_000
    activity = cols["last_activity_at"]
    recent = sum(a is not None and ANCHOR_MS - a < 30 * day for a in activity)
    dormant = sum(a is None or ANCHOR_MS - a > 365 * day for a in activity)
    assert recent > 0.15 * len(activity) and dormant > 0.1 * len(activity)
    assert len(set(cols["lifecycle_stage"])) >= 7
    assert sum(i is not None for i in cols["interests"]) > 100


def test_companies_and_deals_have_long_tails(b2b: SeedData) -> None:
    comp = b2b.tables["company"].columns
    employees = [e for e in comp["employees"] if e]
    assert max(employees) > 100 * statistics.median(employees)
    assert sum(";" in (t or "") for t in comp["tech_stack"]) > 0.5 * len(comp["tech_stack"])
    assert len(set(comp["domain"])) == len(comp["domain"])
    deals = b2b.tables["deal"].columns
    amounts = [a for a in deals["amount"] if a]
    assert max(amounts) > 20 * statistics.median(amounts)
    assert {"closed_won", "closed_lost"} <= set(deals["stage"]) and len(set(deals["stage"])) >= 5
    assert all(
        w == (s == "closed_won") for w, s in zip(deals["is_won"], deals["stage"], strict=True)
    )
    linked = {company for _, company in b2b.links[("deal", "company")]}
    assert len(linked) > 100


def test_b2c_orders_have_repeat_buyers(b2c: SeedData) -> None:
    deals = b2c.tables["deal"].columns
    assert set(deals["pipeline"]) == {"ecommerce"}
    per_customer = Counter(contact for _, contact in b2c.links[("deal", "contact")])
    assert max(per_customer.values()) >= 5 and sum(n > 1 for n in per_customer.values()) > 100
    contacts = b2c.tables["contact"].columns
    assert sum(y is not None for y in contacts["birth_year"]) > 0.6 * 3000
    assert sum(i is not None for i in contacts["income"]) > 0.5 * 3000
    buyers = [i for i, n in enumerate(contacts["num_orders"]) if n]
    assert all(
        contacts["lifecycle_stage"][i]
        in ("customer", "evangelist", "subscriber", "lead", "other", None)
        for i in buyers
    )
    assert sum(
        contacts["lifecycle_stage"][i] in ("customer", "evangelist") for i in buyers
    ) > 0.5 * len(buyers)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("0", FaultConfig()),
        ("0.3", FaultConfig(rate_429=0.1, error_5xx=0.1, drop=0.1)),
        (
            "429=0.04,5xx=0.03,drop=0.03,slow=0.01,reject=0.01,slow_seconds=3",
            FaultConfig(0.04, 0.03, 0.03, 0.01, 0.01, 3.0),
        ),
        ({"slow": 0.5, "slow_seconds": 0.1}, FaultConfig(slow=0.5, slow_seconds=0.1)),
    ],
)
def test_fault_specs_parse(spec: str, expected: FaultConfig) -> None:
    parsed = FaultConfig.parse(spec)
    assert parsed.to_dict() == pytest.approx(expected.to_dict())
    assert FaultConfig.parse(parsed.to_spec()).to_dict() == pytest.approx(parsed.to_dict())


@pytest.mark.parametrize("spec", ["lots", "429=2", "boom=0.1", "429=0.6,5xx=0.6"])
def test_bad_fault_specs_are_refused(spec: str) -> None:
    with pytest.raises(ValueError):
        FaultConfig.parse(spec)


def test_b2c_customers_each_placed_an_order(b2c: SeedData) -> None:
    # 45% of orders' worth of customers are drawn, and every one of them bought at least
    # once: the share of buyers is large enough for RFM cells to be worth profiling.
    buyers = {contact for _, contact in b2c.links[("deal", "contact")]}
    assert len(buyers) == int(2500 * 0.45)
