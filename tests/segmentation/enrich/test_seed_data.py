"""Enrichment over the sandbox's seeded CRM data: realistic, messy, both modes."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest

from connectors.sandbox.seed.generate import generate
from segmentation.enrich import enrich_companies, enrich_contacts, parse_report
from segmentation.enrich.bands import GENERATION_VALUES
from segmentation.enrich.geo import REGIONS
from tests.segmentation.enrich.test_titles import NO_EVIDENT_DEPARTMENT

Frames = tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, datetime]


def seeded(mode: str, contacts: int = 3000, companies: int = 500, deals: int = 1500) -> Frames:
    """Seeded tables as canonical frames: string ids, company_id links, as the connectors give."""
    data = generate(11, contacts, companies, deals, mode=mode)

    def frame(kind: str) -> pl.DataFrame:
        table = data.tables[kind]
        return pl.DataFrame(table.columns, strict=False).with_columns(
            pl.int_range(table.size).cast(pl.String).alias("id")
        )

    def company_ids(kind: str, n: int) -> pl.Series:
        link = dict(data.links.get((kind, "company"), []))
        return pl.Series("company_id", [str(link[i]) if i in link else None for i in range(n)])

    people = frame("contact").with_columns(company_ids("contact", contacts))
    deal_frame = frame("deal").with_columns(company_ids("deal", deals))
    return people, frame("company"), deal_frame, datetime.fromtimestamp(data.anchor_ms / 1000, UTC)


@pytest.fixture(scope="module")
def b2b() -> tuple[pl.DataFrame, pl.DataFrame, Frames]:
    frames = seeded("b2b")
    contacts, companies, deals, now = frames
    firms = enrich_companies(companies, contacts, deals, now=now)
    return enrich_contacts(contacts, firms, now=now), firms, frames


def test_every_seeded_country_gets_a_code_region_and_sub_region(
    b2b: tuple[pl.DataFrame, pl.DataFrame, Frames],
) -> None:
    people, firms, _ = b2b
    for frame in (people, firms):
        given = frame.filter(pl.col("country").is_not_null())
        assert given.height > 0
        assert given["country_code"].null_count() == 0
        assert given["region"].null_count() == 0
        assert given["sub_region"].null_count() == 0
        assert set(frame["region"].drop_nulls()) == set(REGIONS)


def test_titles_get_a_level_and_a_department(
    b2b: tuple[pl.DataFrame, pl.DataFrame, Frames],
) -> None:
    people, _, _ = b2b
    titled = people.filter(pl.col("job_title").is_not_null())
    evident = titled.filter(~pl.col("job_title").is_in(sorted(NO_EVIDENT_DEPARTMENT)))
    share = evident.filter(pl.col("department") != "other").height / evident.height
    assert share >= 0.98
    assert titled.filter(pl.col("seniority").is_null())["job_title"].unique().to_list() in (
        [],
        ["Student"],
    )
    counts = dict(titled["seniority"].value_counts().iter_rows())
    assert all(
        counts.get(level, 0) > 0.03 * titled.height
        for level in ("c_level", "vp", "director", "manager")
    )


def test_business_emails_match_their_company(
    b2b: tuple[pl.DataFrame, pl.DataFrame, Frames],
) -> None:
    people, _, _ = b2b
    linked = people.filter(pl.col("company_id").is_not_null() & pl.col("email").is_not_null())
    business = linked.filter(~pl.col("is_free_email"))
    assert business["company_domain_match"].all()
    assert not linked.filter(pl.col("is_free_email"))["company_domain_match"].any()


def test_company_rollups_add_up(b2b: tuple[pl.DataFrame, pl.DataFrame, Frames]) -> None:
    people, firms, (contacts, _, deals, _) = b2b
    assert firms["contact_count"].sum() == contacts["company_id"].drop_nulls().len()
    assert firms["deal_count"].sum() == deals.height
    assert firms["won_deal_count"].sum() == deals["is_won"].sum()
    assert firms["open_deal_count"].sum() == (~deals["is_closed"]).sum()
    won = deals.filter(pl.col("is_won"))["amount"].sum()
    assert firms["won_revenue"].sum() == pytest.approx(won)
    assert (firms["engaged_contact_count"] <= firms["contact_count"]).all()
    with_stack = firms.filter(pl.col("tech_stack").is_not_null())
    assert (with_stack["tech_categories"].list.len() > 0).all()
    assert people["company_size_band"].drop_nulls().n_unique() >= 5


def test_b2c_ages_and_generations() -> None:
    contacts, companies, _, now = seeded("b2c", contacts=2000, companies=100, deals=800)
    people = enrich_contacts(contacts, companies, now=now)
    known = people.filter(pl.col("birth_year").is_not_null())
    assert known["generation"].null_count() == 0
    assert set(known["generation"]) <= set(GENERATION_VALUES)
    assert (known["age"] - (now.year - known["birth_year"])).is_in([-1, 0]).all()


def test_seeded_data_read_as_text_parses_without_a_bad_value() -> None:
    contacts, companies, deals, now = seeded("b2b", contacts=500, companies=100, deals=200)

    def text(frame: pl.DataFrame) -> pl.DataFrame:
        scalar = [c for c, t in frame.schema.items() if not isinstance(t, pl.List)]
        return frame.with_columns(pl.col(scalar).cast(pl.String))

    for frame in (contacts, companies, deals):
        assert parse_report(text(frame)).height == 0
    typed = enrich_contacts(contacts, companies, now=now)
    from_text = enrich_contacts(text(contacts), text(companies), now=now)
    assert from_text.drop("interests").equals(typed.drop("interests"))
