"""The HubSpot sandbox's search API: typed filters, sorting and paging, its limits and the
10,000-result cap."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests
from hubspot import HubSpot

from connectors.sandbox import SandboxServer
from tests.sandbox.hubspot.support import AUTH, admin_call, new_server, search_call

pytestmark = pytest.mark.integration


# -- search -------------------------------------------------------------------------------------


def test_search_filters_compare_typed_values(client: HubSpot) -> None:
    everyone = search_call(client, [], limit=1)
    assert everyone.total == 300
    iso = search_call(
        client,
        [{"property_name": "createdate", "operator": "GTE", "value": "2025-01-01T00:00:00Z"}],
    )
    epoch = search_call(
        client, [{"property_name": "createdate", "operator": "GTE", "value": "1735689600000"}]
    )
    assert iso.total == epoch.total > 0
    some_id = int(everyone.results[0].id)
    by_id = search_call(
        client, [{"property_name": "hs_object_id", "operator": "GT", "value": str(some_id)}]
    )
    assert by_id.total == 299  # numeric, not string, comparison of ids
    gmail = search_call(
        client,
        [{"property_name": "email", "operator": "CONTAINS_TOKEN", "value": "*@gmail.com"}],
        properties=["email"],
        limit=200,
    )
    assert gmail.total > 0 and all(
        r.properties["email"].endswith("@gmail.com") for r in gmail.results
    )
    stages = search_call(
        client,
        [
            {
                "property_name": "lifecyclestage",
                "operator": "IN",
                "values": ["customer", "evangelist"],
            }
        ],
        properties=["lifecyclestage"],
        limit=200,
    )
    assert {r.properties["lifecyclestage"] for r in stages.results} <= {"customer", "evangelist"}
    upper = search_call(
        client,
        [
            {
                "property_name": "email",
                "operator": "IN",
                "values": [gmail.results[0].properties["email"].upper()],
            }
        ],
    )
    assert upper.total == 0  # string IN values must be lower-case, as in HubSpot
    missing = search_call(client, [{"property_name": "phone", "operator": "NOT_HAS_PROPERTY"}])
    present = search_call(client, [{"property_name": "phone", "operator": "HAS_PROPERTY"}])
    assert missing.total + present.total == 300


def test_search_sorts_pages_and_has_no_rate_limit_headers(srv: SandboxServer) -> None:
    body: dict[str, Any] = {
        "sorts": [{"propertyName": "lastmodifieddate", "direction": "DESCENDING"}],
        "properties": ["email"],
        "limit": 120,
    }
    first = requests.post(
        f"{srv.url}/crm/v3/objects/contacts/search", json=body, headers=AUTH, timeout=10
    )
    assert "X-HubSpot-RateLimit-Remaining" not in first.headers
    assert first.headers["X-HubSpot-Correlation-Id"]
    page = first.json()
    second = requests.post(
        f"{srv.url}/crm/v3/objects/contacts/search",
        json={**body, "after": page["paging"]["next"]["after"]},
        headers=AUTH,
        timeout=10,
    ).json()
    stamps = [r["properties"]["lastmodifieddate"] for r in page["results"] + second["results"]]
    assert stamps == sorted(stamps, reverse=True)
    assert len({r["id"] for r in page["results"] + second["results"]}) == 240


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"limit": 201}, "page size above 200"),
        (
            {
                "filterGroups": [
                    {"filters": [{"propertyName": "email", "operator": "HAS_PROPERTY"}]}
                ]
                * 6
            },
            "6 groups",
        ),
        (
            {
                "filterGroups": [
                    {"filters": [{"propertyName": "email", "operator": "HAS_PROPERTY"}] * 7}
                ]
            },
            "7 filters in a group",
        ),
        (
            {
                "filterGroups": [
                    {"filters": [{"propertyName": "email", "operator": "HAS_PROPERTY"}] * 6}
                ]
                * 4
            },
            "24 filters",
        ),
        ({"after": "10000"}, "offset past the 10,000 cap"),
        (
            {
                "filterGroups": [
                    {"filters": [{"propertyName": "nope", "operator": "EQ", "value": "x"}]}
                ]
            },
            "unknown property",
        ),
        (
            {
                "filterGroups": [
                    {"filters": [{"propertyName": "email", "operator": "LIKE", "value": "x"}]}
                ]
            },
            "unknown operator",
        ),
    ],
)
def test_search_limits_are_enforced(srv: SandboxServer, body: dict[str, Any], reason: str) -> None:
    res = requests.post(
        f"{srv.url}/crm/v3/objects/contacts/search", json=body, headers=AUTH, timeout=10
    )
    assert res.status_code == 400, reason
    assert res.json()["category"] == "VALIDATION_ERROR"


def test_search_caps_reachable_results_at_10000() -> None:
    server = new_server(contacts=10_050, companies=5, deals=0)
    try:
        url = f"{server.url}/crm/v3/objects/contacts/search"
        page = requests.post(
            url, json={"limit": 100, "after": "9900"}, headers=AUTH, timeout=10
        ).json()
        assert page["total"] == 10_050
        assert len(page["results"]) == 100
        assert page["paging"]["next"]["after"] == "10000"
        beyond = requests.post(url, json={"limit": 100, "after": "10000"}, headers=AUTH, timeout=10)
        assert beyond.status_code == 400
    finally:
        server.stop()


def test_records_sharing_a_timestamp_page_deterministically(
    srv: SandboxServer, client: HubSpot
) -> None:
    stamp = int(time.time() * 1000) - 3_600_123  # a bulk import an hour ago: one shared timestamp
    mutated = admin_call(
        srv, "mutate", {"count": 120, "object_type": "contacts", "timestamp": stamp}
    )
    assert len(set(mutated["ids"])) == 120
    seen: list[str] = []
    after: str | None = "0"
    while after is not None:
        res = search_call(
            client,
            [{"property_name": "lastmodifieddate", "operator": "EQ", "value": str(stamp)}],
            sorts=[{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
            limit=50,
            after=after,
        )
        seen += [r.id for r in res.results]
        after = res.paging.next.after if res.paging else None
    assert seen == sorted(mutated["ids"], key=int)  # ties broken by id, every record once


def test_search_by_association_pseudo_property(client: HubSpot) -> None:
    page = client.crm.contacts.basic_api.get_page(limit=20, associations=["companies"])
    contact = next(r for r in page.results if r.associations)
    company = contact.associations["companies"].results[0].id
    found = search_call(
        client,
        [{"property_name": "associations.company", "operator": "EQ", "value": company}],
        limit=200,
    )
    assert contact.id in {r.id for r in found.results}
    company_props = client.crm.companies.basic_api.get_by_id(
        company, properties=["num_associated_contacts"]
    )
    assert found.total >= 1 and company_props.properties["num_associated_contacts"] is not None
