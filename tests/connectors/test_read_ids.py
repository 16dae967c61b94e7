"""``Connector.read_ids``: the current version of named records, batched, as read_all shapes them.

Integration tests run both connectors against their sandboxes; the last tests mock
HubSpot's 207 answer with `responses`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import responses
from pydantic import SecretStr

from connectors.base import Connector, ObjectType, Record, RejectedError
from connectors.hubspot.connector import HubSpotConnector
from connectors.hubspot.options import HubSpotConfig
from connectors.ratelimit import UnlimitedLimiter
from connectors.retrying import RetryPolicy
from connectors.salesforce.connector import _id15
from connectors.sandbox.salesforce.ids import make_id
from tests.harness import Harness, hubspot_harness, salesforce_harness

HARNESSES = {"hubspot": hubspot_harness, "salesforce": salesforce_harness}

PROPERTIES: dict[str, dict[ObjectType, list[str]]] = {
    "hubspot": {
        "contact": ["email", "jobtitle", "country", "lifecyclestage"],
        "deal": ["dealname", "dealstage", "amount", "closedate"],
        "lead": [],
    },
    "salesforce": {
        "contact": ["Email", "Title", "MailingCountry"],
        "deal": ["Name", "StageName", "Amount", "CloseDate"],
        "lead": ["Email", "Status", "IsConverted"],
    },
}


@pytest.fixture(params=sorted(HARNESSES), scope="module")
def crm(request: pytest.FixtureRequest) -> Iterator[Harness]:
    harness = HARNESSES[request.param]()
    yield harness
    harness.server.stop()


def everything(connector: Connector, object_type: ObjectType, props: list[str]) -> list[Record]:
    return [r for batch in connector.read_all(object_type, props) for r in batch.records]


def unknown_ids(crm: Harness, object_type: ObjectType) -> list[str]:
    """Five ids no live record has: well-formed unknown ones, another type's, a malformed one."""
    if crm.crm == "hubspot":
        return ["990000001", "990000002", "990000003", "990000004", "not-a-hubspot-id"]
    prefix = {"contact": "003", "deal": "006", "lead": "00Q"}[object_type]
    return [
        make_id(prefix, 900_000_001),
        make_id(prefix, 900_000_002),
        make_id(prefix, 900_000_003),
        make_id("001", 1),  # an Account id asked of another sObject
        "not-a-salesforce-id",
    ]


def calls(connector: Connector) -> int:
    return connector.usage().calls_made


@pytest.mark.integration
@pytest.mark.parametrize(
    ("object_type", "live", "per_record_calls"),
    # HubSpot: 100 per batch read + one v4 read per associated type (contacts -> companies;
    # deals -> companies, contacts). Salesforce: one query, plus contact roles for deals.
    [
        ("contact", 242, {"hubspot": 1, "salesforce": 0}),
        ("deal", 142, {"hubspot": 2, "salesforce": 1}),
    ],
)
def test_reads_the_live_records_in_order_with_current_values_and_associations(
    crm: Harness, object_type: ObjectType, live: int, per_record_calls: dict[str, int]
) -> None:
    connector = crm.build()
    props = PROPERTIES[crm.crm][object_type]
    before = {r.id: r for r in everything(connector, object_type, props)}
    picked = list(before)[3 : 3 + live + 3]
    deleted = picked[10:13]
    crm.admin("POST", "delete", json={"object_type": crm.admin_names[object_type], "ids": deleted})
    changed = set(picked[20:60])
    crm.admin(
        "POST", "mutate", json={"object_type": crm.admin_names[object_type], "ids": sorted(changed)}
    )
    missing = unknown_ids(crm, object_type)
    asked = list(picked)
    for k, bad in enumerate(missing):  # spread through the input
        asked.insert(7 + 40 * k, bad)
    assert len(asked) == live + 8

    start = calls(connector)
    got = connector.read_ids(object_type, asked, props)
    used = calls(connector) - start

    expected = [i for i in picked if i not in deleted]
    assert [r.id for r in got] == expected
    after = {r.id: r for r in everything(connector, object_type, props)}
    # Exactly what a full read gives now: properties, modified time, associations.
    assert got == [after[i] for i in expected]
    assert all(r.crm == crm.crm and r.object_type == object_type and not r.deleted for r in got)
    assert all(r.updated_at > before[r.id].updated_at for r in got if r.id in changed)
    assert all(r == before[r.id] for r in got if r.id not in changed)
    if object_type == "deal":
        assert any(r.associations.get("contact") for r in got)
        assert any(r.associations.get("company") for r in got)
    else:
        assert any(r.associations.get("company") for r in got)
    # The minimal number of calls: 100 ids per HubSpot batch read (all ids that could be
    # HubSpot ids are sent), one Salesforce query for all of them.
    sent = sum(1 for i in asked if i.isdigit()) if crm.crm == "hubspot" else 1
    reads = math.ceil(sent / 100) if crm.crm == "hubspot" else 1
    assert used == reads + per_record_calls[crm.crm]


@pytest.mark.integration
def test_nothing_asked_or_nothing_live_costs_no_more_than_the_reads(crm: Harness) -> None:
    connector = crm.build()
    start = calls(connector)
    assert connector.read_ids("contact", [], []) == []
    assert calls(connector) == start  # no ids, no calls
    assert connector.read_ids("contact", unknown_ids(crm, "contact"), []) == []
    # Nothing found: no association or contact-role lookups either.
    assert calls(connector) - start == 1


@pytest.mark.integration
def test_repeated_ids_are_read_and_returned_once(crm: Harness) -> None:
    connector = crm.build()
    first = everything(connector, "contact", [])[:3]
    ids = [r.id for r in first]
    got = connector.read_ids("contact", [ids[1], ids[0], ids[1], ids[2], ids[0]], [])
    assert [r.id for r in got] == [ids[1], ids[0], ids[2]]


@pytest.mark.integration
def test_salesforce_ids_match_in_either_length_and_converted_leads_are_left_out() -> None:
    crm = salesforce_harness()
    try:
        connector = crm.build()
        props = PROPERTIES["salesforce"]["lead"]
        live = everything(connector, "lead", props)
        converted = [
            str(row["Id"])
            for row in connector._query("SELECT Id FROM Lead WHERE IsConverted = true LIMIT 3")  # type: ignore[attr-defined]
        ]
        assert converted and live
        asked = [live[0].id[:15], live[1].id.lower(), *converted, live[2].id]
        got = connector.read_ids("lead", asked, props)
        # Converted leads are history read_all skips; the 18-character ids come back.
        assert got == live[:3]
    finally:
        crm.server.stop()


def test_salesforce_id_stems() -> None:
    full = make_id("003", 123_456)
    assert _id15(full) == full[:15]
    assert _id15(full.lower()) == full[:15]
    assert _id15(full.upper()) == full[:15]
    assert _id15(full[:15]) == full[:15]
    assert _id15("003") is None and _id15("003'; DROP--xxxxxx") is None


@pytest.mark.integration
def test_hubspot_sandbox_batch_read_answers_as_hubspot_does() -> None:
    crm = hubspot_harness()
    try:
        url = f"{crm.server.url}/crm/v3/objects/contacts/batch/read"
        auth = {"Authorization": "Bearer sandbox-token"}
        one = str(everything(crm.build(), "contact", [])[0].id)
        answer = requests.post(
            url,
            headers=auth,
            params={"archived": "false"},
            json={
                "inputs": [{"id": one}, {"id": "990000001"}],
                "properties": ["email"],
                "propertiesWithHistory": [],
            },
            timeout=30,
        )
        assert answer.status_code == 207
        body = answer.json()
        assert [r["id"] for r in body["results"]] == [one]
        assert body["numErrors"] == 1
        assert body["errors"][0]["category"] == "OBJECT_NOT_FOUND"
        assert body["errors"][0]["context"] == {"ids": ["990000001"]}
        assert body["status"] == "COMPLETE" and "startedAt" in body and "completedAt" in body
        too_many = {"inputs": [{"id": str(i)} for i in range(1, 102)], "properties": []}
        over = requests.post(url, headers=auth, json=too_many, timeout=30)
        assert over.status_code == 400
        assert over.json()["category"] == "VALIDATION_ERROR"
    finally:
        crm.server.stop()


# -- HubSpot 207, mocked ------------------------------------------------------------------

BASE = "https://api.hubapi.com"


def _connector() -> HubSpotConnector:
    config = HubSpotConfig(
        base_url=BASE,
        token=SecretStr("pat-na1-unit-test-secret-0000"),
        retry=RetryPolicy(max_attempts=3, max_elapsed=5, initial_wait=0.001, max_wait=0.01),
        search_lag_seconds=0,
    )
    return HubSpotConnector(config, limiter=UnlimitedLimiter(), search_limiter=UnlimitedLimiter())


def _contact(record_id: str) -> dict[str, Any]:
    stamp = "2026-01-02T03:04:05.678Z"
    return {
        "id": record_id,
        "properties": {
            "hs_object_id": record_id,
            "lastmodifieddate": stamp,
            "email": f"{record_id}@x.io",
        },
        "createdAt": stamp,
        "updatedAt": stamp,
        "archived": False,
    }


def _not_found(ids: list[str]) -> dict[str, Any]:
    return {
        "status": "error",
        "category": "OBJECT_NOT_FOUND",
        "message": "Could not get some CONTACT objects, they may be deleted or not exist. "
        "Check that ids are valid.",
        "context": {"ids": ids},
        "errors": [],
        "links": {},
    }


@responses.activate
def test_hubspot_207_with_missing_ids_leaves_them_out() -> None:
    sent: list[dict[str, Any]] = []

    def batch_read(request: Any) -> tuple[int, dict[str, str], str]:
        body = json.loads(request.body)
        sent.append({"body": body, "params": dict(request.params)})
        ids = [i["id"] for i in body["inputs"]]
        absent = [i for i in ids if i in {"7", "9"}]
        # HubSpot does not promise result order: answer in reverse.
        answer: dict[str, Any] = {
            "status": "COMPLETE",
            "results": [_contact(i) for i in reversed(ids) if i not in absent],
            "startedAt": "2026-01-02T03:04:05.000Z",
            "completedAt": "2026-01-02T03:04:05.100Z",
        }
        if absent:
            answer |= {"numErrors": 1, "errors": [_not_found(absent)]}
        return (207 if absent else 200), {}, json.dumps(answer)

    def associations(request: Any) -> tuple[int, dict[str, str], str]:
        ids = [i["id"] for i in json.loads(request.body)["inputs"]]
        results = [
            {
                "from": {"id": i},
                "to": [
                    {
                        "toObjectId": 500 + int(i),
                        "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": 1}],
                    }
                ],
            }
            for i in ids
            if i != "8"
        ]
        errors = [
            {
                "status": "error",
                "category": "OBJECT_NOT_FOUND",
                "message": "no associations",
                "context": {"fromObjectId": ["8"]},
            }
        ]
        return (
            207,
            {},
            json.dumps(
                {
                    "status": "COMPLETE",
                    "results": results,
                    "numErrors": 1,
                    "errors": errors,
                    "startedAt": "2026-01-02T03:04:05.000Z",
                    "completedAt": "2026-01-02T03:04:05.100Z",
                }
            ),
        )

    responses.add_callback(
        responses.POST, f"{BASE}/crm/v3/objects/contacts/batch/read", callback=batch_read
    )
    responses.add_callback(
        responses.POST,
        f"{BASE}/crm/v4/associations/contacts/companies/batch/read",
        callback=associations,
    )
    connector = _connector()
    got = connector.read_ids("contact", ["9", "8", "7", "6", "x1"], ["email"])

    assert [r.id for r in got] == ["8", "6"]
    assert got[0].properties["email"] == "8@x.io"
    assert dict(got[0].associations) == {}
    assert dict(got[1].associations) == {"company": ("506",)}
    assert connector.usage().calls_made == 2
    (call,) = sent
    # The SDK renders the flag as Python does ("False"); HubSpot parses it case-insensitively.
    assert {k: v.lower() for k, v in call["params"].items()} == {"archived": "false"}
    assert [i["id"] for i in call["body"]["inputs"]] == ["9", "8", "7", "6"]
    assert "idProperty" not in call["body"]
    assert set(call["body"]["properties"]) >= {"email", "lastmodifieddate", "hs_object_id"}


@responses.activate
def test_hubspot_batch_read_sends_100_ids_per_call_and_other_207_errors_fail() -> None:
    sizes: list[int] = []

    def batch_read(request: Any) -> tuple[int, dict[str, str], str]:
        ids = [i["id"] for i in json.loads(request.body)["inputs"]]
        sizes.append(len(ids))
        return (
            200,
            {},
            json.dumps(
                {
                    "status": "COMPLETE",
                    "results": [_contact(i) for i in ids],
                    "startedAt": "2026-01-02T03:04:05.000Z",
                    "completedAt": "2026-01-02T03:04:05.100Z",
                }
            ),
        )

    responses.add_callback(
        responses.POST, f"{BASE}/crm/v3/objects/companies/batch/read", callback=batch_read
    )
    got = _connector().read_ids("company", [str(i) for i in range(1, 251)], [])
    assert sizes == [100, 100, 50] and len(got) == 250  # companies carry no associations

    responses.replace(
        responses.POST,
        f"{BASE}/crm/v3/objects/companies/batch/read",
        status=207,
        json={
            "status": "COMPLETE",
            "results": [],
            "numErrors": 1,
            "errors": [{"status": "error", "category": "MISSING_SCOPES", "message": "no access"}],
            "startedAt": "2026-01-02T03:04:05.000Z",
            "completedAt": "2026-01-02T03:04:05.100Z",
        },
    )
    with pytest.raises(RejectedError, match="MISSING_SCOPES"):
        _connector().read_ids("company", ["1"], [])


@pytest.mark.integration
def test_salesforce_id_lists_keep_the_query_uri_under_the_limit() -> None:
    from connectors.salesforce.connector import ID_CHUNK, QUERY_URI_BUDGET, SalesforceConnector

    crm = salesforce_harness()
    try:
        connector = crm.build()
        assert isinstance(connector, SalesforceConnector)
        ids = [r.id[:15] for r in everything(connector, "contact", [])]
        # Short queries: ID_CHUNK ids per call (600 contacts: 2 calls).
        start = calls(connector)
        assert len(connector.read_ids("contact", ids, PROPERTIES["salesforce"]["contact"])) == 600
        assert calls(connector) - start == math.ceil(600 / ID_CHUNK)
        # A long query leaves room for fewer ids; every chunk is as long as fits.
        pad = "x" * 8_000
        prefix, suffix = f"SELECT Id FROM Contact WHERE Email != '{pad}' AND Id IN (", ")"
        chunks = list(connector._id_chunks(prefix + suffix, ids))
        assert [i for chunk in chunks for i in chunk] == ids and len(chunks) > 2
        for chunk in chunks:
            listed = ", ".join(f"'{i}'" for i in chunk)
            prepared = requests.Request(
                "GET", connector.sf.base_url + "query/", params={"q": prefix + listed + suffix}
            ).prepare()
            uri = prepared.path_url
            assert len(uri) <= QUERY_URI_BUDGET
            if chunk is not chunks[-1]:
                longer = f"{listed}, '{ids[0]}'"
                grown = requests.Request(
                    "GET", connector.sf.base_url + "query/", params={"q": prefix + longer + suffix}
                ).prepare()
                assert len(grown.path_url) > QUERY_URI_BUDGET - 8  # no room was wasted
            # ...and the sandbox (16,384 bytes for URI plus headers) takes it.
            assert len(connector._query(prefix + listed + suffix)) == len(chunk)
    finally:
        crm.server.stop()
