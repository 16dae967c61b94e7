"""Country codes from any spelling, sales region, M49 sub-region and time zone."""

from __future__ import annotations

import polars as pl
import pycountry
import pytest
import pytz

from connectors.sandbox.seed.generate import country_spellings
from connectors.sandbox.seed.pools import COUNTRIES
from segmentation.enrich.geo import (
    REGIONS,
    country_code_of,
    country_zone_table,
    geo_columns,
    region_table,
    sub_region_table,
)
from tests.locks import DEV_LOCK, Pin, read_lock, table_version_problem

SPELLINGS = [
    # English, official and ISO inverted names
    ("United States", "US"),
    ("United States of America", "US"),
    ("Korea, Republic of", "KR"),
    ("Republic of Korea", "KR"),
    ("Iran, Islamic Republic of", "IR"),
    ("Czechia", "CZ"),
    ("Czech Republic", "CZ"),
    ("Türkiye", "TR"),
    ("Turkey", "TR"),
    ("Côte d'Ivoire", "CI"),
    ("Ivory Coast", "CI"),
    ("Viet Nam", "VN"),
    ("Russia", "RU"),
    ("North Macedonia", "MK"),
    # local-language names
    ("Deutschland", "DE"),
    ("Bundesrepublik Deutschland", "DE"),
    ("España", "ES"),
    ("Espana", "ES"),
    ("Österreich", "AT"),
    ("Schweiz", "CH"),
    ("Suisse", "CH"),
    ("Svizzera", "CH"),
    ("République française", "FR"),
    ("Allemagne", "DE"),
    ("Alemania", "DE"),
    ("Vereinigte Staaten", "US"),
    ("Estados Unidos", "US"),
    ("États-Unis", "US"),
    ("Nederland", "NL"),
    ("Niederlande", "NL"),
    ("Brasil", "BR"),
    ("Sverige", "SE"),
    ("Polska", "PL"),
    ("Éire", "IE"),
    ("日本", "JP"),
    ("中国", "CN"),
    ("대한민국", "KR"),
    # codes and abbreviations
    ("US", "US"),
    ("us", "US"),
    ("USA", "US"),
    ("U.S.", "US"),
    ("U.S.A.", "US"),
    ("U.S.A", "US"),
    ("UK", "GB"),
    ("U.K.", "GB"),
    ("GB", "GB"),
    ("GBR", "GB"),
    ("DEU", "DE"),
    ("UAE", "AE"),
    ("U.A.E.", "AE"),
    ("KSA", "SA"),
    ("PRC", "CN"),
    ("RSA", "ZA"),
    ("Aus", "AU"),
    ("DRC", "CD"),
    # constituent countries and old names
    ("England", "GB"),
    ("Scotland", "GB"),
    ("Great Britain", "GB"),
    ("Holland", "NL"),
    ("Burma", "MM"),
    ("America", "US"),
    # stray whitespace, case, punctuation, articles, compounds
    (" united states ", "US"),
    ("united  states", "US"),
    ("GERMANY", "DE"),
    ("Germany ", "DE"),
    ("the Netherlands", "NL"),
    ("The UK", "GB"),
    ("Berlin, Germany", "DE"),
    ("Germany (DE)", "DE"),
    ("DE - Germany", "DE"),
    # placeholders, and nothing recognisable
    ("N/A", None),
    ("NA", None),
    ("n/a", None),
    ("-", None),
    ("Namibia", "NA"),
    ("NAM", "NA"),
    ("Nowhere", None),
    ("Atlantis", None),
    ("", None),
    ("   ", None),
    ("Paris, Texas, USA, Germany", None),  # parts disagree
]


@pytest.mark.parametrize(("spelling", "code"), SPELLINGS)
def test_country_spellings(spelling: str, code: str | None) -> None:
    assert country_code_of(spelling) == code


def test_every_sandbox_spelling_maps_to_its_country() -> None:
    expected = {s: c.code for c in COUNTRIES for s, _ in c.spellings}
    assert set(expected) == set(country_spellings())
    frame = pl.DataFrame({"country": country_spellings()})
    got = dict(zip(frame["country"], geo_columns(frame)["country_code"], strict=True))
    wrong = {s: (got[s], code) for s, code in expected.items() if got[s] != code}
    assert wrong == {}, wrong
    assert len(got) == len(expected)  # 100% coverage


def test_every_iso_country_has_a_region_and_sub_region() -> None:
    codes = {c.alpha_2 for c in pycountry.countries} - {"AQ"}  # Antarctica: no M49 region
    assert codes <= set(sub_region_table())
    assert codes <= set(region_table())
    assert set(region_table().values()) == set(REGIONS)


@pytest.mark.parametrize(
    ("code", "region", "sub_region"),
    [
        ("US", "NA", "Northern America"),
        ("CA", "NA", "Northern America"),
        ("MX", "LATAM", "Central America"),
        ("BR", "LATAM", "South America"),
        ("PR", "LATAM", "Caribbean"),
        ("DE", "EMEA", "Western Europe"),
        ("GB", "EMEA", "Northern Europe"),
        ("ES", "EMEA", "Southern Europe"),
        ("PL", "EMEA", "Eastern Europe"),
        ("AE", "EMEA", "Western Asia"),
        ("IL", "EMEA", "Western Asia"),
        ("ZA", "EMEA", "Southern Africa"),
        ("NG", "EMEA", "Western Africa"),
        ("KZ", "EMEA", "Central Asia"),
        ("IR", "EMEA", "Southern Asia"),
        ("IN", "APAC", "Southern Asia"),
        ("JP", "APAC", "Eastern Asia"),
        ("SG", "APAC", "South-eastern Asia"),
        ("AU", "APAC", "Australia and New Zealand"),
        ("FJ", "APAC", "Melanesia"),
    ],
)
def test_region_and_sub_region(code: str, region: str, sub_region: str) -> None:
    assert region_table()[code] == region
    assert sub_region_table()[code] == sub_region


def test_time_zones_are_valid_iana_names() -> None:
    assert set(country_zone_table().values()) <= pytz.all_timezones_set
    frame = pl.DataFrame(
        {"country": ["US", "CA", "AU", "BR"] * 3, "state": ["TX", "ON", "NSW", "SP"] * 3}
    )
    assert set(geo_columns(frame)["time_zone"]) <= pytz.all_timezones_set


GEO = [
    # (country, state) -> (country_code, region, sub_region, time_zone)
    (("Germany", None), ("DE", "EMEA", "Western Europe", "Europe/Berlin")),
    (("India", "Karnataka"), ("IN", "APAC", "Southern Asia", "Asia/Kolkata")),
    (("España", "Cataluña"), ("ES", "EMEA", "Southern Europe", "Europe/Madrid")),
    (("Argentina", None), ("AR", "LATAM", "South America", "America/Argentina/Buenos_Aires")),
    (("USA", "CA"), ("US", "NA", "Northern America", "America/Los_Angeles")),
    (("United States", "New York"), ("US", "NA", "Northern America", "America/New_York")),
    (("U.S.", "tx"), ("US", "NA", "Northern America", "America/Chicago")),
    (("us", "Washington DC"), ("US", "NA", "Northern America", "America/New_York")),
    (("USA", None), ("US", "NA", "Northern America", None)),  # four zones: no guess
    (("USA", "Atlantis"), ("US", "NA", "Northern America", None)),
    (("Canada", "QC"), ("CA", "NA", "Northern America", "America/Toronto")),
    (("Canada", "British Columbia"), ("CA", "NA", "Northern America", "America/Vancouver")),
    (("Australia", "WA"), ("AU", "APAC", "Australia and New Zealand", "Australia/Perth")),
    (("Aus", "Victoria"), ("AU", "APAC", "Australia and New Zealand", "Australia/Melbourne")),
    (("Brasil", "RJ"), ("BR", "LATAM", "South America", "America/Sao_Paulo")),
    (("Brazil", "Amazonas"), ("BR", "LATAM", "South America", "America/Manaus")),
    (("Mexico", "Jalisco"), ("MX", "LATAM", "Central America", None)),
    # no country: a US/Canadian state (or an Australian state by name) says it
    ((None, "California"), ("US", "NA", "Northern America", "America/Los_Angeles")),
    ((None, "TX"), ("US", "NA", "Northern America", "America/Chicago")),
    (("", "ON"), ("CA", "NA", "Northern America", "America/Toronto")),
    ((None, "New South Wales"), ("AU", "APAC", "Australia and New Zealand", "Australia/Sydney")),
    ((None, "Bavaria"), (None, None, None, None)),
    ((None, None), (None, None, None, None)),
    (("Narnia", "TX"), (None, None, None, None)),  # a country was given and is unknown
    (("n/a", "TX"), ("US", "NA", "Northern America", "America/Chicago")),  # a placeholder
]


@pytest.mark.parametrize(("given", "expected"), GEO)
def test_geo_columns(
    given: tuple[str | None, str | None],
    expected: tuple[str | None, str | None, str | None, str | None],
) -> None:
    frame = pl.DataFrame([given], schema={"country": pl.String, "state": pl.String}, orient="row")
    assert geo_columns(frame).row(0) == expected


def test_geo_without_country_or_state_columns() -> None:
    only_state = geo_columns(pl.DataFrame({"state": ["NY", None]}))
    assert only_state["country_code"].to_list() == ["US", None]
    nothing = geo_columns(pl.DataFrame({"city": ["Paris"]}))
    assert nothing.row(0) == (None, None, None, None)
    assert nothing.schema == pl.Schema(
        {
            "country_code": pl.String,
            "region": pl.String,
            "sub_region": pl.String,
            "time_zone": pl.String,
        }
    )


def test_shipped_country_table_matches_a_fresh_build() -> None:
    """Built by the locked babel and pycountry, and equal to what they build now."""
    from segmentation.enrich.geo import (
        COUNTRY_TABLE_FILE,
        build_country_table,
        country_table,
        country_table_built_with,
        installed_source_versions,
    )

    problem = table_version_problem(
        COUNTRY_TABLE_FILE,
        country_table_built_with(),
        installed_source_versions(),
        read_lock(DEV_LOCK),
    )
    if problem:
        pytest.fail(problem, pytrace=False)
    assert country_table() == build_country_table(), (
        "the shipped country table is stale: run `make tables`"
    )


def test_a_table_built_with_other_library_versions_names_the_library_and_the_command() -> None:
    locked = {"babel": Pin("babel", "2.19.0", ("x",)), "pycountry": Pin("pycountry", "24.6.1", ())}
    installed = {"babel": "2.19.0", "pycountry": "24.6.1"}
    stale = {"babel": "2.18.0", "pycountry": "24.6.1"}
    fresh = dict(installed)

    assert table_version_problem("t.json.gz", fresh, installed, locked) is None
    assert table_version_problem("t.json.gz", stale, installed, locked) == (
        "t.json.gz records babel 2.18.0 but requirements/dev.txt locks 2.19.0: run `make tables`"
    )
    drifted = {**installed, "pycountry": "26.2.16"}
    assert table_version_problem("t.json.gz", fresh, drifted, locked) == (
        "pycountry 26.2.16 is installed but requirements/dev.txt locks 24.6.1: install the "
        "locked versions with `make install` (or `pip install --require-hashes -r "
        "requirements/dev.txt`)"
    )
    assert table_version_problem("t.json.gz", {}, installed, locked) == (
        "t.json.gz records no babel version but requirements/dev.txt locks 2.19.0: "
        "run `make tables`"
    )
