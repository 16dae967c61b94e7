"""Deterministic, dialect-neutral seed data: companies, contacts, deals and their links.

Records come out column-wise (one list per canonical snake_case field) so 100,000
contacts take little memory and load into the store without per-record dicts.
Timestamps are epoch milliseconds, relative to an anchor (default: start of today
UTC); everything is drawn from ``random.Random`` streams derived from the seed, so a
seed and an anchor always give the same data (for a given Faker version).
"""

from __future__ import annotations

import math
import random
import unicodedata
from bisect import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import accumulate
from typing import Any, Generic, TypeVar

from faker import Faker

from .seed_pools import (
    B2B_GOALS,
    B2B_USE_CASES,
    B2C_GOALS,
    B2C_JOB_TITLES,
    B2C_USE_CASES,
    CHANNELS,
    COMPANY_TAILS,
    COMPANY_TYPES,
    COMPANY_WORDS,
    COUNTRIES,
    ENTERPRISE_TOOLS,
    FAKER_LOCALES,
    FREE_MAIL,
    GENDERS,
    INDUSTRIES,
    INTERESTS,
    JOB_TITLES,
    LEAD_SOURCES,
    LEAD_STATUSES,
    LEGAL_SUFFIX,
    LIFECYCLE_ORDER,
    LOCAL_JOB_TITLES,
    PRODUCTS,
    SMALL_TOOLS,
    TECH_TOOLS,
    Country,
)

T = TypeVar("T")

DAY_MS = 86_400_000
HISTORY_MS = 3 * 365 * DAY_MS  # records were created over the last ~3 years
NAMES_PER_LOCALE = 300
LOCAL_TITLE_SHARE = 0.3  # share of contacts in FR/DE/ES/... with a local-language title

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


class Picker(Generic[T]):
    """Weighted choice with precomputed cumulative weights (much cheaper than rng.choices)."""

    __slots__ = ("_cum", "_total", "_values")

    def __init__(self, pairs: Sequence[tuple[T, float]]) -> None:
        self._values = [value for value, _ in pairs]
        self._cum = list(accumulate(weight for _, weight in pairs))
        self._total = self._cum[-1]

    def __call__(self, rng: random.Random) -> T:
        return self._values[bisect(self._cum, rng.random() * self._total)]


@dataclass(slots=True)
class SeedTable:
    """One object type's records, column-wise; row ``i`` of every column is record ``i``."""

    object_type: str
    size: int
    columns: dict[str, list[Any]] = field(default_factory=dict)


@dataclass(slots=True)
class SeedData:
    """Everything the seed produced: tables by canonical object type plus links between rows."""

    seed: int
    mode: str
    anchor_ms: int
    tables: dict[str, SeedTable]
    # (from object type, to object type) -> [(from row, to row), ...]; first link is primary.
    links: dict[tuple[str, str], list[tuple[int, int]]]


def anchor_ms(anchor: datetime | None) -> int:
    """Epoch ms of the anchor; None means the start of today (UTC)."""
    if anchor is None:
        now = datetime.now(UTC)
        anchor = datetime(now.year, now.month, now.day, tzinfo=UTC)
    elif anchor.tzinfo is None:
        anchor = anchor.replace(tzinfo=UTC)
    return int(anchor.timestamp() * 1000)


def _ascii(text: str) -> str:
    text = text.replace("ß", "ss").replace("ø", "o").replace("æ", "ae").replace("ł", "l")
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def _slug(text: str) -> str:
    return "".join(ch for ch in _ascii(text) if ch.isalnum())


@dataclass(slots=True)
class NamePools:
    """Pre-built Faker name pools per locale: (display, ascii) pairs."""

    first: dict[str, list[tuple[str, str]]]
    last: dict[str, list[tuple[str, str]]]

    @classmethod
    def build(cls, seed: int) -> NamePools:
        """Draw NAMES_PER_LOCALE first and last names per locale from a seeded Faker."""
        fake = Faker(list(FAKER_LOCALES))
        fake.seed_instance(seed)
        first: dict[str, list[tuple[str, str]]] = {}
        last: dict[str, list[tuple[str, str]]] = {}
        for locale in FAKER_LOCALES:
            gen = fake[locale]
            if locale == "ja_JP":
                # Japanese contacts: romanised mostly, kanji for some, email always romanised.
                firsts: list[tuple[str, str]] = []
                lasts: list[tuple[str, str]] = []
                for _ in range(NAMES_PER_LOCALE):
                    roman_first, roman_last = gen.first_romanized_name(), gen.last_romanized_name()
                    kanji_first, kanji_last = gen.first_name(), gen.last_name()
                    use_kanji = len(firsts) % 4 == 0
                    firsts.append((kanji_first if use_kanji else roman_first, _slug(roman_first)))
                    lasts.append((kanji_last if use_kanji else roman_last, _slug(roman_last)))
            else:
                firsts = [
                    (n, _slug(n)) for n in (gen.first_name() for _ in range(NAMES_PER_LOCALE))
                ]
                lasts = [(n, _slug(n)) for n in (gen.last_name() for _ in range(NAMES_PER_LOCALE))]
            first[locale] = [p for p in firsts if p[1]]
            last[locale] = [p for p in lasts if p[1]]
        return cls(first, last)


class _Gen:
    """Shared state of one seed run."""

    def __init__(self, seed: int, mode: str, anchor: int) -> None:
        self.seed = seed
        self.mode = mode
        self.anchor = anchor
        self.names = NamePools.build(seed)
        self.country = Picker([(c, c.weight) for c in COUNTRIES])
        self.spelling = {c.code: Picker(c.spellings) for c in COUNTRIES}
        self.title = Picker(JOB_TITLES)
        self.b2c_title = Picker(B2C_JOB_TITLES)
        self.industry = Picker(INDUSTRIES)
        self.free_mail = Picker(FREE_MAIL)
        self.gender = Picker(GENDERS)
        self.channel = Picker(CHANNELS)
        self.source = Picker(LEAD_SOURCES)
        self.lead_status = Picker(LEAD_STATUSES)
        self.company_type = Picker(COMPANY_TYPES)
        self.emails: set[str] = set()
        self.domains: set[str] = set()

    def rng(self, stream: str) -> random.Random:
        return random.Random(f"{self.seed}:{stream}")

    def created_times(self, rng: random.Random, n: int) -> list[int]:
        """n creation times over the history, denser towards the anchor (a growing CRM)."""
        start = self.anchor - HISTORY_MS
        times = [start + int(HISTORY_MS * math.sqrt(rng.random())) for _ in range(n)]
        times.sort()
        return [min(t, self.anchor - 60_000) for t in times]

    def modified_after(self, rng: random.Random, created: int, *floors: int | None) -> int:
        """A last-modified time after creation (and after any activity), before the anchor."""
        span = self.anchor - created
        t = created + int(span * rng.random() ** 0.35)
        for floor in floors:
            if floor is not None and floor > t:
                t = floor
        return min(max(t, created), self.anchor - 1000)

    def phone(self, rng: random.Random, country: Country) -> str | None:
        if rng.random() < 0.25:
            return None
        digits = [str(rng.randrange(10)) for _ in range(country.phone.count("#"))]
        digits[0] = str(
            rng.randrange(2, 10)
        )  # area codes and subscriber numbers never start with 0
        it = iter(digits)
        text = "".join(next(it) if ch == "#" else ch for ch in country.phone)
        if country.code == "US" and rng.random() < 0.35:
            raw = "".join(ch for ch in text if ch.isdigit())[1:]
            text = f"({raw[:3]}) {raw[3:6]}-{raw[6:]}"
        return text

    def name(self, rng: random.Random, locale: str) -> tuple[tuple[str, str], tuple[str, str]]:
        if rng.random() < 0.15:  # people move: some names from any locale
            locale = FAKER_LOCALES[rng.randrange(len(FAKER_LOCALES))]
        firsts, lasts = self.names.first[locale], self.names.last[locale]
        return firsts[rng.randrange(len(firsts))], lasts[rng.randrange(len(lasts))]

    def email(self, rng: random.Random, first: str, last: str, domain: str | None) -> str:
        if domain is None:
            domain = self.free_mail(rng)
            pattern = rng.randrange(6)
            local = (
                f"{first}.{last}",
                f"{first}{last}",
                f"{first}{rng.randrange(1, 99)}",
                f"{first[0]}{last}{rng.randrange(1950, 2010)}",
                f"{last}.{first}",
                f"{first}_{last}",
            )[pattern]
        else:
            pattern = rng.randrange(5)
            local = (
                f"{first}.{last}",
                f"{first[0]}{last}",
                f"{first}",
                f"{first}{last[0]}",
                f"{first}.{last}",
            )[pattern]
        email = f"{local}@{domain}"
        n = 2
        while email in self.emails:
            email = f"{local}{n}@{domain}"
            n += 1
        self.emails.add(email)
        return email


def _activity(rng: random.Random, anchor: int, created: int) -> tuple[int | None, float]:
    """Last activity time and an engagement level: active, cooling, at-risk, dormant, never."""
    r = rng.random()
    if r < 0.30:
        back, level = rng.uniform(0, 30), 1.0
    elif r < 0.55:
        back, level = rng.uniform(30, 90), 0.6
    elif r < 0.75:
        back, level = rng.uniform(90, 365), 0.3
    elif r < 0.90:
        back, level = rng.uniform(365, 1000), 0.1
    else:
        return None, 0.02
    t = anchor - int(back * DAY_MS)
    if t < created:
        t = created + int((anchor - created) * rng.random())
    return t, level


def _count(rng: random.Random, mean: float) -> int:
    return int(rng.expovariate(1.0 / mean)) if mean > 0 else 0


def _companies(g: _Gen, n: int) -> tuple[SeedTable, list[Country]]:
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
        stem = _slug(base) or "company"
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
        cols["tech_stack"].append(_tech_stack(rng, employees))
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
        activity, _ = _activity(rng, g.anchor, created[i])
        cols["last_activity_at"].append(activity)
        cols["created_at"].append(created[i])
        cols["updated_at"].append(g.modified_after(rng, created[i], activity))
    t.columns = cols
    return t, countries


def _tech_stack(rng: random.Random, employees: int) -> str | None:
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


def _contacts(
    g: _Gen,
    n: int,
    companies: SeedTable,
    company_countries: list[Country],
    links: dict[tuple[str, str], list[tuple[int, int]]],
) -> SeedTable:
    rng = g.rng("contacts")
    b2c = g.mode == "b2c"
    t = SeedTable("contact", n)
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
    contact_company = links.setdefault(("contact", "company"), [])
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
        activity, level = _activity(rng, g.anchor, created[i])
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
        delivered = _count(rng, 40 * (0.3 + level)) if email else 0
        opens = min(delivered, _count(rng, delivered * 0.35 * (0.2 + level)))
        cols["email_delivered"].append(delivered)
        cols["email_opens"].append(opens)
        cols["email_clicks"].append(min(opens, _count(rng, opens * 0.2)))
        visits = _count(rng, 12 * level + 0.5)
        cols["visits"].append(visits)
        cols["page_views"].append(visits + _count(rng, visits * 2.5))
        cols["notes_count"].append(_count(rng, 4 * level))
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


def _deals_b2b(
    g: _Gen,
    n: int,
    companies: SeedTable,
    contacts: SeedTable,
    links: dict[tuple[str, str], list[tuple[int, int]]],
) -> SeedTable:
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
    g: _Gen, rng: random.Random, t: SeedTable, cols: dict[str, list[Any]], created: list[int]
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


def _orders_b2c(
    g: _Gen, n: int, contacts: SeedTable, links: dict[tuple[str, str], list[tuple[int, int]]]
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
    for _ in range(n):
        customer = weight(rng)
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
    g: _Gen,
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


def _roll_up_b2b(
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


def _company_counters(
    companies: SeedTable, deals: SeedTable, links: dict[tuple[str, str], list[tuple[int, int]]]
) -> None:
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


def generate(
    seed: int,
    contacts: int,
    companies: int,
    deals: int,
    mode: str = "b2b",
    anchor: datetime | None = None,
) -> SeedData:
    """Generate the full data set; the same arguments always give the same data."""
    if mode not in ("b2b", "b2c"):
        raise ValueError(f"mode must be 'b2b' or 'b2c', not {mode!r}")
    g = _Gen(seed, mode, anchor_ms(anchor))
    links: dict[tuple[str, str], list[tuple[int, int]]] = {}
    company_table, company_countries = _companies(g, companies)
    contact_table = _contacts(g, contacts, company_table, company_countries, links)
    if mode == "b2c":
        deal_table = _orders_b2c(g, deals, contact_table, links)
    else:
        deal_table = _deals_b2b(g, deals, company_table, contact_table, links)
        _roll_up_b2b(deal_table, company_table, contact_table, links)
    _company_counters(company_table, deal_table, links)
    return SeedData(
        seed,
        mode,
        g.anchor,
        {"contact": contact_table, "company": company_table, "deal": deal_table},
        links,
    )


def country_spellings() -> list[str]:
    """Every country spelling the seed uses (for mutations that move a record's country)."""
    return [spelling for c in COUNTRIES for spelling, _ in c.spellings]


def job_titles() -> list[str]:
    """Every job title the seed uses."""
    return [t for t, _ in JOB_TITLES] + [t for pool in LOCAL_JOB_TITLES.values() for t in pool]
