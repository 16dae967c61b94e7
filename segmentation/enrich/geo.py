"""Country code, sales region, M49 sub-region and time zone from free-text geography.

The lookup tables are built once per process from pycountry (ISO 3166 codes, names,
official names and their translations), babel (CLDR territory names in every language
it ships: "Deutschland", "España", "日本", "대한민국") and the few aliases in
``geo_data``. Rows are then mapped through the *distinct* values of the country and
state columns, so a million contacts cost a few hundred Python lookups.
"""

from __future__ import annotations

import gettext
import gzip
import json
from datetime import datetime
from functools import cache
from importlib import metadata, resources
from typing import Any

import babel
import babel.localedata
import polars as pl
import pycountry
import pytz

from segmentation.enrich.geo_data import (
    COUNTRY_ALIASES,
    PRINCIPAL_ZONES,
    REGION_OF_SUB_REGION,
    REGION_OVERRIDES,
    STATE_ALIASES,
    STATE_ZONES,
    SUB_REGIONS,
)
from segmentation.enrich.normalize import NULL_MARKERS, fold, is_blank, map_unique, nulls

REGIONS = ("NA", "LATAM", "EMEA", "APAC")
COUNTRY_TABLE_FILE = "country_table.json.gz"
# The distributions whose data the country table is made of: a new release of either can
# move a spelling, so the shipped table records the versions it was built with.
COUNTRY_TABLE_SOURCES = ("babel", "pycountry")
EXTRA_CODES = ("XK",)  # user-assigned but universally used (Kosovo); CLDR names it
_NAME_LANGUAGES_FOR_OFFICIAL = ("de", "fr", "es", "it", "pt", "nl", "sv", "da", "pl", "ja")


def _country_codes() -> set[str]:
    return {c.alpha_2 for c in pycountry.countries} | set(EXTRA_CODES)


@cache
def _shipped_country_table() -> dict[str, Any]:
    with resources.files(__package__).joinpath(COUNTRY_TABLE_FILE).open("rb") as raw:
        return dict(json.loads(gzip.decompress(raw.read())))


def country_table() -> dict[str, str]:
    """Folded spelling -> ISO alpha-2 code, from the table shipped with the package.

    Building it reads CLDR data for every language (about a second per process), so it
    is built once, when the package is released, by :func:`build_country_table`; a test
    keeps the shipped copy equal to a fresh build with the locked library versions.
    """
    spellings: dict[str, str] = _shipped_country_table()["spellings"]
    return spellings


def country_table_built_with() -> dict[str, str]:
    """Versions of :data:`COUNTRY_TABLE_SOURCES` that built the shipped country table."""
    return dict(_shipped_country_table()["built_with"])


def installed_source_versions() -> dict[str, str]:
    """Installed versions of :data:`COUNTRY_TABLE_SOURCES`, as a build would record them."""
    return {name: metadata.version(name) for name in COUNTRY_TABLE_SOURCES}


def build_country_table() -> dict[str, str]:
    """Folded spelling -> ISO alpha-2 code, over every source, most trusted first.

    Sources are tiers: aliases, alpha-2, alpha-3, ISO names, CLDR English, then other
    languages. A key claimed by an earlier tier keeps that claim; a key that two
    countries claim within one tier is ambiguous and dropped (e.g. a word that means
    one country in one language and another in a second language).
    """
    codes = _country_codes()
    table: dict[str, str] = {}

    def add_tier(pairs: list[tuple[str, str]]) -> None:
        tier: dict[str, str | None] = {}
        for spelling, code in pairs:
            key = fold(spelling)
            if not key or key in table:
                continue
            if key in tier and tier[key] != code:
                tier[key] = None  # ambiguous inside this tier
            else:
                tier.setdefault(key, code)
        table.update({k: v for k, v in tier.items() if v is not None})

    add_tier(list(COUNTRY_ALIASES.items()))
    add_tier([(c, c) for c in codes])
    add_tier([(c.alpha_3, c.alpha_2) for c in pycountry.countries])
    iso_names: list[tuple[str, str]] = []
    for c in pycountry.countries:
        for attr in ("name", "official_name", "common_name"):
            name = getattr(c, attr, None)
            if name:
                iso_names.append((name, c.alpha_2))
                iso_names.extend((v, c.alpha_2) for v in _reordered(name))
    add_tier(iso_names)
    english = babel.Locale("en").territories
    add_tier([(name, code) for code, name in english.items() if code in codes])
    add_tier(_local_names(codes))
    return table


def _reordered(name: str) -> list[str]:
    """ISO's inverted names ("Korea, Republic of") also in reading order."""
    if ", " not in name:
        return []
    head, tail = name.split(", ", 1)
    return [f"{tail} {head}"]


def _local_names(codes: set[str]) -> list[tuple[str, str]]:
    """Country names in every CLDR language, plus ISO official names in major ones."""
    pairs: list[tuple[str, str]] = []
    languages = sorted({ident.split("_")[0] for ident in babel.localedata.locale_identifiers()})
    for language in languages:
        try:
            territories = babel.Locale.parse(language).territories
        except (ValueError, babel.UnknownLocaleError):
            continue
        pairs.extend(
            (name, code)
            for code, name in territories.items()
            # Short Latin-script names from the smaller languages ("Cad", "Sin", "Man")
            # are everyday words or codes elsewhere; real short names are in ISO/English.
            if code in codes and (len(name) >= 4 or not name.isascii())
        )
    for language in _NAME_LANGUAGES_FOR_OFFICIAL:
        try:
            tr = gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=[language])
        except OSError:
            continue
        for c in pycountry.countries:
            for attr in ("name", "official_name"):
                name = getattr(c, attr, None)
                if name:
                    pairs.append((tr.gettext(name), c.alpha_2))
    return pairs


def country_code_of(value: str) -> str | None:
    """ISO alpha-2 code of one country spelling, or None when it names no country.

    Falls back to the parts of a compound value ("Berlin, Germany", "DE - Germany",
    "Germany (DE)") when all recognised parts agree.
    """
    table = country_table()
    key = fold(value)
    # "N/A" and "NA" in a country field mean "not available", not Namibia.
    if not key or value.strip().lower() in NULL_MARKERS:
        return None
    code = table.get(key) or table.get(key.removeprefix("the "))
    if code is not None:
        return code
    parts = [fold(p) for p in _split_parts(value)]
    found = {table[p] for p in parts if p in table}
    return found.pop() if len(found) == 1 else None


def _split_parts(value: str) -> list[str]:
    for sep in ",;/|()[]-\u2013":
        value = value.replace(sep, "\x00")
    parts = [p for p in value.split("\x00") if p.strip()]
    return parts if len(parts) > 1 else []


@cache
def sub_region_table() -> dict[str, str]:
    """ISO alpha-2 -> UN M49 sub-region name."""
    return {code: name for name, codes in SUB_REGIONS.items() for code in codes.split()}


@cache
def region_table() -> dict[str, str]:
    """ISO alpha-2 -> sales region (NA, LATAM, EMEA, APAC)."""
    regions = {code: REGION_OF_SUB_REGION[sub] for code, sub in sub_region_table().items()}
    regions.update(REGION_OVERRIDES)
    return regions


@cache
def country_zone_table() -> dict[str, str]:
    """ISO alpha-2 -> IANA zone, for countries whose country alone settles the zone.

    A country settles it when all its zones keep the same clock (same UTC offset in
    January and July), or when one zone covers nearly everyone (``PRINCIPAL_ZONES``).
    """
    probes = (datetime(2025, 1, 15, 12), datetime(2025, 7, 15, 12))
    zones: dict[str, str] = {}
    for code, names in pytz.country_timezones.items():
        clocks = {tuple(pytz.timezone(z).utcoffset(p) for p in probes) for z in names}
        if len(clocks) == 1:
            zones[code] = names[0]
    zones.update(PRINCIPAL_ZONES)
    return zones


@cache
def state_table() -> dict[str, dict[str, str]]:
    """Country -> folded state spelling (ISO name, ISO code, alias) -> subdivision code."""
    out: dict[str, dict[str, str]] = {}
    for country in STATE_ZONES:
        names: dict[str, str] = {}
        for sub in pycountry.subdivisions.get(country_code=country) or []:
            short = sub.code.split("-", 1)[1]
            names[fold(short)] = short
            names[fold(sub.name)] = short
        names.update(STATE_ALIASES.get(country, {}))
        out[country] = names
    return out


@cache
def state_country_table() -> dict[str, str]:
    """Folded state spelling -> country, for inferring a missing country from a state.

    US and Canadian codes and names (their postal codes never collide), Australian
    names and three-letter codes (WA, SA and NT mean US/Canadian states too).
    """
    out: dict[str, str] = {}
    for country in ("US", "CA"):
        for key in state_table()[country]:
            out.setdefault(key, country)
    for key in state_table()["AU"]:
        if len(key) > 2:
            out.setdefault(key, "AU")
    return out


def _state_zone(key: str) -> str | None:
    country, _, state = key.partition("|")
    short = state_table()[country].get(fold(state))
    return STATE_ZONES[country].get(short) if short else None


def _country_from_state(state: str) -> str | None:
    return state_country_table().get(fold(state))


def geo_columns(df: pl.DataFrame, country: str = "country", state: str = "state") -> pl.DataFrame:
    """``country_code``, ``region``, ``sub_region``, ``time_zone`` for each row of ``df``.

    The country comes from ``country`` in any spelling, else from a US/Canadian (or
    Australian) state in ``state``. The zone comes from the state for US/CA/AU/BR, else
    from the country when the country alone settles it; otherwise it is null.
    """
    n = df.height
    has_state = state in df.columns
    if country in df.columns:
        code = map_unique(df[country], country_code_of, pl.String())
    else:
        code = nulls(n, pl.String())
    if has_state:
        # Only an empty country is filled from the state: an unknown one stays unknown.
        inferred = map_unique(df[state], _country_from_state, pl.String())
        if country in df.columns:
            given = ~is_blank(df[country].cast(pl.String).fill_null(""))
            inferred = inferred.set(given, None)
        code = code.fill_null(inferred)
    code = code.alias("country_code")
    frame = pl.DataFrame({"country_code": code})
    if has_state:
        frame = frame.with_columns(df[state].cast(pl.String).alias("_state"))
    out = frame.with_columns(
        pl.col("country_code")
        .replace_strict(region_table(), default=None, return_dtype=pl.String)
        .alias("region"),
        pl.col("country_code")
        .replace_strict(sub_region_table(), default=None, return_dtype=pl.String)
        .alias("sub_region"),
        pl.col("country_code")
        .replace_strict(country_zone_table(), default=None, return_dtype=pl.String)
        .alias("time_zone"),
    )
    if has_state:
        key = (
            pl.when(
                pl.col("country_code").is_in(list(STATE_ZONES)) & pl.col("_state").is_not_null()
            )
            .then(pl.concat_str([pl.col("country_code"), pl.col("_state")], separator="|"))
            .alias("_key")
        )
        keys = out.select(key).to_series()
        state_zone = map_unique(keys, _state_zone, pl.String())
        out = out.with_columns(pl.lit(state_zone).fill_null(pl.col("time_zone")).alias("time_zone"))
        out = out.drop("_state")
    return out
