"""Engine frames from pulled records: unit checks, then each sandbox dialect end to end."""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import requests

from connectors.base import ObjectType, Record, RecordBatch
from segmentation.engine import SegmentResult, segment
from segmentation.enrich.parse import DATETIME
from tests.harness import HARNESSES, TOKEN, Harness
from workers.fieldmap import FieldMap, load_field_map
from workers.offline import load_shipped as _load_shipped
from workers.state import StateStore
from workers.sync.frames import EngineFrames, FrameCollector, Mode, playbook_mode
from workers.sync.pull import pull

NOW = datetime.now(UTC)
load_shipped = functools.cache(_load_shipped)  # parsing and validating one takes ~0.2 s
PLAYBOOKS: dict[Mode, str] = {"b2b": "b2b_saas", "b2c": "b2c_retail"}
SEEDED = {"contacts": 300, "companies": 45, "deals": 120}


# ------------------------------------------------------------------------------ unit


def record(
    object_type: ObjectType,
    record_id: str,
    deleted: bool = False,
    assoc: dict[ObjectType, tuple[str, ...]] | None = None,
    **props: str | None,
) -> Record:
    return Record("hubspot", object_type, record_id, props, NOW, assoc or {}, deleted)


def batch(*records: Record) -> RecordBatch:
    return RecordBatch(records[0].object_type, records)


def small_map() -> FieldMap:
    return FieldMap(
        "hubspot",
        {
            "contact": {"email": "email", "created_at": "createdate", "email_clicks": "clicks"},
            "company": {"name": "name", "employees": "numberofemployees"},
            "deal": {
                "amount": "amount",
                "close_date": "closedate",
                "created_at": "createdate",
                "is_won": "hs_is_closed_won",
                "stage": "dealstage",
            },
        },
    )


def test_an_empty_crm_gives_empty_frames_with_every_column() -> None:
    collector = FrameCollector(small_map())
    b2b = collector.frames("b2b")
    assert b2b.companies is not None and b2b.deals is not None
    assert b2b.contacts.height == b2b.companies.height == b2b.deals.height == 0
    assert b2b.contacts.columns == [
        "id",
        "object_type",
        "company_id",
        "email",
        "created_at",
        "email_clicks",
    ]
    assert set(b2b.deals.columns) >= {"id", "company_id", "contact_id", "amount"}
    b2c = collector.frames("b2c")
    assert b2c.deals is None and b2c.orders is not None and b2c.orders.height == 0
    assert b2c.orders.schema == pl.Schema(
        {
            "order_id": pl.String(),
            "contact_id": pl.String(),
            "order_date": DATETIME,
            "amount": pl.Float64(),
        }
    )
    result = segment(
        b2b.contacts, b2b.companies, b2b.deals, playbook=load_shipped("b2b_saas"), now=NOW
    )
    assert result.contacts.height == 0


def test_dtypes_do_not_depend_on_the_values_seen() -> None:
    nulls, filled = FrameCollector(small_map()), FrameCollector(small_map())
    nulls(batch(record("contact", "1", email=None, createdate=None, clicks=None)))
    filled(batch(record("contact", "1", email="a@b.co", createdate="1700000000000", clicks="3")))
    for typed in (False, True):
        assert nulls.frames("b2b", typed=typed).contacts.schema == (
            filled.frames("b2b", typed=typed).contacts.schema
        )
    assert set(nulls.frames("b2b").contacts.dtypes) == {pl.String}
    parsed = filled.frames("b2b", typed=True).contacts
    assert parsed.schema["email_clicks"] == pl.Int64
    # HubSpot hands some timestamps over as epoch milliseconds.
    assert parsed["created_at"][0] == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)


def test_the_last_version_of_a_record_wins_and_a_deletion_removes_it() -> None:
    collector = FrameCollector(small_map())
    collector(
        batch(record("contact", "1", email="old@x.io"), record("contact", "2", email="b@x.io"))
    )
    collector(batch(record("contact", "1", email="new@x.io"), record("contact", "2", deleted=True)))
    contacts = collector.frames("b2b").contacts
    assert contacts.select("id", "email").rows() == [("1", "new@x.io")]
    collector(batch(record("contact", "2", email="back@x.io")))  # restored from the bin
    assert sorted(collector.frames("b2b").contacts["id"]) == ["1", "2"]


def test_orders_are_won_deals_with_a_contact_dated_by_close_date() -> None:
    collector = FrameCollector(small_map())
    deal: ObjectType = "deal"
    collector(
        batch(
            record(
                deal,
                "d1",
                assoc={"contact": ("c1", "c9")},
                amount="10.5",
                closedate="2025-01-02T00:00:00Z",
                createdate="2025-01-01T00:00:00Z",
                hs_is_closed_won="true",
            ),
            record(
                deal,
                "d2",
                assoc={"contact": ("c1",)},
                amount="7",
                createdate="1735689600000",
                dealstage="shipped",
            ),  # won by stage, no close
            record(deal, "d3", assoc={"contact": ("c2",)}, amount="99", hs_is_closed_won="false"),
            record(deal, "d4", amount="5", hs_is_closed_won="true"),  # nobody bought it
        )
    )
    orders = collector.frames("b2c").orders
    assert orders is not None
    assert orders.rows() == [
        ("d1", "c1", datetime(2025, 1, 2, tzinfo=UTC), 10.5),
        ("d2", "c1", datetime(2025, 1, 1, tzinfo=UTC), 7.0),
    ]


def test_salesforce_leads_join_the_contacts_frame() -> None:
    collector = FrameCollector(load_field_map("salesforce"))
    lead = Record("salesforce", "lead", "00Q1", {"Email": "l@x.io", "Company": "X"}, NOW)
    contact = Record(
        "salesforce", "contact", "0031", {"Email": "c@x.io"}, NOW, {"company": ("0011",)}
    )
    collector(RecordBatch("lead", (lead,)))
    collector(RecordBatch("contact", (contact,)))
    contacts = collector.frames("b2b").contacts.sort("id")
    assert contacts.select("id", "object_type", "company_id", "company_name").rows() == [
        ("0031", "contact", "0011", None),
        ("00Q1", "lead", None, "X"),
    ]


def test_a_field_map_may_not_claim_the_link_columns() -> None:
    with pytest.raises(ValueError, match="company_id"):
        FrameCollector(FieldMap("hubspot", {"contact": {"company_id": "associatedcompanyid"}}))
    with pytest.raises(ValueError, match="no lead"):
        FrameCollector(small_map())(batch(record("lead", "1")))


def test_playbook_mode_reads_the_customer_unit() -> None:
    assert playbook_mode(load_shipped("b2b_saas")) == "b2b"
    assert playbook_mode(load_shipped("b2c_retail")) == "b2c"
    bare = load_shipped("b2b_saas").model_copy(update={"models": {}, "name": "acme_retail"})
    assert playbook_mode(bare) == "b2c"  # no roll-up fields: the name decides


# ----------------------------------------------------------------------- integration


@dataclass
class Pulled:
    harness: Harness
    field_map: FieldMap
    collector: FrameCollector
    frames: EngineFrames
    result: SegmentResult


def pull_all(harness: Harness, tmp: Path, collector: FrameCollector, *, full: bool = True) -> None:
    field_map = collector.field_map
    properties = {t: field_map.native_properties(t) for t in field_map.object_types()}
    store = StateStore(f"sqlite:///{tmp}/state.db")
    store.migrate()
    try:
        pull(harness.build(), store, properties, full=full, on_batch=collector)
    finally:
        store.close()


@pytest.fixture(
    scope="module",
    params=[(crm, mode) for crm in sorted(HARNESSES) for mode in ("b2b", "b2c")],
    ids=lambda p: "-".join(p),
)
def pulled(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pulled]:
    crm, mode = request.param
    harness = HARNESSES[crm](seed=5, mode=mode, **SEEDED)
    try:
        field_map = load_field_map(crm)
        collector = FrameCollector(field_map)
        pull_all(harness, tmp_path_factory.mktemp(f"{crm}-{mode}"), collector)
        playbook = load_shipped(PLAYBOOKS[mode])
        assert playbook_mode(playbook) == mode
        frames = collector.frames(mode)
        result = segment(
            frames.contacts,
            frames.companies,
            frames.deals,
            frames.orders,
            playbook=playbook,
            now=NOW,
        )
        yield Pulled(harness, field_map, collector, frames, result)
    finally:
        harness.server.stop()


@dataclass
class Links:
    """What the CRM itself says: first links, and the amount of every won deal."""

    contact_company: dict[str, str]
    deal_company: dict[str, str]
    deal_contact: dict[str, str]
    won_amount: dict[str, float | None]


def crm_call(harness: Harness, method: str, path: str, **kwargs: Any) -> Any:
    """A raw API call, past the connector (batch answers with missing ids come back 207)."""
    response = requests.request(
        method,
        f"{harness.server.url}{path}",
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=30,
        **kwargs,
    )
    response.raise_for_status()
    return response.json()


def amount(value: Any) -> float | None:
    return None if value in (None, "") else float(value)


def firsts(pairs: Iterator[tuple[str, str | None]]) -> dict[str, str]:
    linked: dict[str, str] = {}
    for source, target in pairs:
        if target:
            linked.setdefault(source, str(target))
    return linked


def crm_links(harness: Harness, frames: EngineFrames) -> Links:
    """Links and won deals read in bulk from the sandbox's own API (a few calls, not 400)."""
    deal_ids = list(frames.ids["deal"])
    if harness.crm == "salesforce":

        def soql(query: str) -> list[dict[str, Any]]:
            answer = crm_call(harness, "GET", "/services/data/v59.0/query", params={"q": query})
            assert answer["done"]
            return list(answer["records"])

        deals = soql("SELECT Id, AccountId, IsWon, Amount FROM Opportunity")
        roles = soql("SELECT OpportunityId, ContactId FROM OpportunityContactRole")
        return Links(
            firsts((r["Id"], r["AccountId"]) for r in soql("SELECT Id, AccountId FROM Contact")),
            firsts((r["Id"], r["AccountId"]) for r in deals),
            firsts((r["OpportunityId"], r["ContactId"]) for r in roles),
            {r["Id"]: amount(r["Amount"]) for r in deals if r["IsWon"] is True},
        )

    def v4(source: str, target: str, ids: list[str]) -> dict[str, str]:
        path = f"/crm/v4/associations/{source}/{target}/batch/read"
        answer = crm_call(harness, "POST", path, json={"inputs": [{"id": i} for i in ids]})
        return firsts((r["from"]["id"], r["to"][0]["toObjectId"]) for r in answer["results"])

    won: dict[str, float | None] = {}
    for start in range(0, len(deal_ids), 100):
        body = {
            "inputs": [{"id": i} for i in deal_ids[start : start + 100]],
            "properties": ["hs_is_closed_won", "amount"],
        }
        for deal in crm_call(harness, "POST", "/crm/v3/objects/deals/batch/read", json=body)[
            "results"
        ]:
            if deal["properties"].get("hs_is_closed_won") == "true":
                won[deal["id"]] = amount(deal["properties"].get("amount"))
    return Links(
        v4("contacts", "companies", list(frames.ids["contact"])),
        v4("deals", "companies", deal_ids),
        v4("deals", "contacts", deal_ids),
        won,
    )


@pytest.mark.integration
def test_frames_hold_every_seeded_record_linked_as_in_the_crm(pulled: Pulled) -> None:
    frames, harness = pulled.frames, pulled.harness
    leads = harness.server.config.seeded_leads
    kinds = dict(frames.contacts.group_by("object_type").len().iter_rows())
    assert kinds == ({"contact": 300, "lead": leads} if leads else {"contact": 300})
    assert frames.companies is not None and frames.companies.height == SEEDED["companies"]
    assert frames.ids["deal"].len() == SEEDED["deals"]
    assert frames.contacts["id"].is_unique().all()
    links = crm_links(harness, frames)
    people = frames.contacts.filter(pl.col("object_type") == "contact")
    assert 0 < len(links.contact_company) < people.height
    assert dict(people.select("id", "company_id").iter_rows()) == {
        i: links.contact_company.get(i) for i in people["id"]
    }
    if frames.deals is not None:
        assert frames.deals.height == SEEDED["deals"]
        assert dict(frames.deals.select("id", "company_id").iter_rows()) == {
            i: links.deal_company.get(i) for i in frames.deals["id"]
        }
        assert dict(frames.deals.select("id", "contact_id").iter_rows()) == {
            i: links.deal_contact.get(i) for i in frames.deals["id"]
        }


@pytest.mark.integration
def test_b2c_orders_are_the_won_deals_with_a_contact(pulled: Pulled) -> None:
    if pulled.frames.mode == "b2b":
        # B2B engines read the deals themselves; there are no orders to build.
        assert pulled.frames.orders is None and pulled.frames.deals is not None
        return
    orders = pulled.frames.orders
    assert orders is not None
    links = crm_links(pulled.harness, pulled.frames)
    expected = {
        deal: (links.deal_contact[deal], amount)
        for deal, amount in links.won_amount.items()
        if deal in links.deal_contact
    }
    assert 0 < len(expected) < SEEDED["deals"]
    got = {o: (c, a) for o, c, a in orders.select("order_id", "contact_id", "amount").iter_rows()}
    assert got == expected
    assert orders["order_date"].null_count() == 0


@pytest.mark.integration
def test_segment_fills_every_model(pulled: Pulled) -> None:
    result, frames = pulled.result, pulled.frames
    contacts = result.contacts
    assert contacts.height == frames.contacts.height
    models = [c for c in contacts.columns if c.startswith("segment_")]
    playbook = load_shipped(PLAYBOOKS[frames.mode])
    assert {f"segment_{m}" for m in playbook.models} | {"segment_rfm", "segment_value_tier"} <= set(
        models
    )
    for column in models:
        assert contacts[column].null_count() < contacts.height, column
    # Fields both CRMs' default maps carry: these must actually tell records apart.
    for model in ("firmographic", "geographic", "behavioral", "lifecycle", "rfm", "value_tier"):
        assert contacts[f"segment_{model}"].n_unique() >= 2, model
    if pulled.harness.crm == "hubspot":
        assert all(contacts[c].n_unique() >= 2 for c in models)
    if frames.orders is not None:
        buyers = set(frames.orders["contact_id"])
        stages = contacts.filter(pl.col("id").is_in(list(buyers)))["segment_lifecycle"]
        assert stages.len() == len(buyers)
        assert set(stages) <= {"customer", "repeat_customer"}
    else:
        assert result.companies is not None and frames.deals is not None
        won = frames.deals.filter(pl.col("is_won").str.to_lowercase() == "true")["company_id"]
        buyer = pl.col("id").is_in(won.drop_nulls().implode())
        # Accounts that never won a deal have no value; some that did are valued above it.
        assert set(result.companies.filter(~buyer)["segment_value_tier"]) == {"long_tail"}
        assert set(result.companies.filter(buyer)["segment_value_tier"]) - {"long_tail"}


@pytest.mark.integration
@pytest.mark.parametrize(
    "crm",
    [
        pytest.param(
            "hubspot",
            marks=pytest.mark.xfail(
                strict=True,
                raises=AssertionError,
                reason="HubSpot's search API never returns archived records, so the "
                "connector's incremental read cannot report deletions",
            ),
        ),
        "salesforce",
    ],
)
def test_a_deletion_leaves_the_frames_after_an_incremental_pull(crm: str, tmp_path: Path) -> None:
    harness = HARNESSES[crm](seed=9, contacts=60, companies=10, deals=20)
    try:
        collector = FrameCollector(load_field_map(crm))
        pull_all(harness, tmp_path, collector)
        before = collector.frames("b2b")
        # Salesforce modification stamps have whole seconds: step into the next one, past
        # the second the full pull's cursor ends in.
        time.sleep(1.02 - time.time() % 1 if crm == "salesforce" else 0.01)
        gone = harness.admin("POST", "delete", json={"count": 2, "object_type": "contacts"})
        changed = harness.admin("POST", "mutate", json={"count": 3, "object_type": "contacts"})
        pull_all(harness, tmp_path, collector, full=False)
        after = collector.frames("b2b")
        ids = set(after.contacts["id"])
        assert not ids & set(gone["ids"])
        assert after.contacts.height == before.contacts.height - 2
        assert set(changed["ids"]) - set(gone["ids"]) <= ids
    finally:
        harness.server.stop()


@pytest.mark.integration
def test_hubspot_deletions_leave_with_a_fresh_full_pull(tmp_path: Path) -> None:
    harness = HARNESSES["hubspot"](seed=9, contacts=60, companies=10, deals=20)
    try:
        gone = harness.admin("POST", "delete", json={"count": 2, "object_type": "contacts"})
        collector = FrameCollector(load_field_map("hubspot"))
        pull_all(harness, tmp_path, collector)
        contacts = collector.frames("b2b").contacts
        assert contacts.height == 58 and not set(contacts["id"]) & set(gone["ids"])
    finally:
        harness.server.stop()
