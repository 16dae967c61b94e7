"""Shared machinery of the seed: tables, weighted choice, name pools and the run context."""

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

from connectors.sandbox.seed.pools import (
    B2C_JOB_TITLES,
    CHANNELS,
    COMPANY_TYPES,
    COUNTRIES,
    FAKER_LOCALES,
    FREE_MAIL,
    GENDERS,
    INDUSTRIES,
    JOB_TITLES,
    LEAD_SOURCES,
    LEAD_STATUSES,
    Country,
)

T = TypeVar("T")

DAY_MS = 86_400_000
HISTORY_MS = 3 * 365 * DAY_MS  # records were created over the last ~3 years
NAMES_PER_LOCALE = 300


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


def ascii_fold(text: str) -> str:
    """Lower-case ASCII form of a name (ß -> ss, é -> e) for emails and domains."""
    text = text.replace("ß", "ss").replace("ø", "o").replace("æ", "ae").replace("ł", "l")
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def slug(text: str) -> str:
    """Letters and digits only, for email local parts and domain stems."""
    return "".join(ch for ch in ascii_fold(text) if ch.isalnum())


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
                    firsts.append((kanji_first if use_kanji else roman_first, slug(roman_first)))
                    lasts.append((kanji_last if use_kanji else roman_last, slug(roman_last)))
            else:
                firsts = [(n, slug(n)) for n in (gen.first_name() for _ in range(NAMES_PER_LOCALE))]
                lasts = [(n, slug(n)) for n in (gen.last_name() for _ in range(NAMES_PER_LOCALE))]
            first[locale] = [p for p in firsts if p[1]]
            last[locale] = [p for p in lasts if p[1]]
        return cls(first, last)


class SeedContext:
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


def last_activity(rng: random.Random, anchor: int, created: int) -> tuple[int | None, float]:
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


def draw_count(rng: random.Random, mean: float) -> int:
    """An engagement count with the given mean (exponential, so a few records have many)."""
    return int(rng.expovariate(1.0 / mean)) if mean > 0 else 0
