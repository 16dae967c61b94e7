"""The HubSpot sandbox's values and requests as HubSpot checks them: seeded values, malformed
bodies, admin edits and value pages."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests
from hubspot import HubSpot

from connectors.sandbox import SandboxServer
from tests.sandbox.hubspot.support import AUTH, admin_call, batch_update, search_call

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("object_type", ["contacts", "companies", "deals"])
def test_seeded_values_are_valid_for_their_properties(
    srv: SandboxServer, client: HubSpot, object_type: str
) -> None:
    """Every seeded enumeration value is one of the property's options (or a pipeline stage),
    so writing back what was read never fails validation."""
    defs = requests.get(
        f"{srv.url}/crm/v3/properties/{object_type}", headers=AUTH, timeout=10
    ).json()
    enums = {
        p["name"]: {o["value"] for o in p["options"]}
        for p in defs["results"]
        if p["type"] in ("enumeration", "bool") and not p["externalOptions"]
    }
    stages = {
        s["id"]
        for p in requests.get(f"{srv.url}/crm/v3/pipelines/deals", headers=AUTH, timeout=10).json()[
            "results"
        ]
        for s in p["stages"]
    }
    records = requests.get(
        f"{srv.url}/crm/v3/objects/{object_type}",
        headers=AUTH,
        timeout=10,
        params={"limit": "100", "properties": ",".join([*enums, "dealstage"])},
    ).json()
    seen = 0
    for record in records["results"]:
        for name, allowed in enums.items():
            value = record["properties"].get(name)
            if value:
                seen += 1
                assert set(value.split(";")) <= allowed, (name, value)
        if object_type == "deals":
            assert record["properties"]["dealstage"] in stages
    assert seen > 0


GARBAGE: list[Any] = [
    [],
    "text",
    7,
    None,
    {"inputs": "x"},
    {"inputs": [1, 2]},
    {"inputs": [{"id": {"a": 1}, "properties": []}]},
    {"inputs": [{"id": "2", "properties": {"email": ["x"], "city": {"a": 1}}}]},
    {"properties": "x"},
    {"properties": {"lifecyclestage": 5, "income": True}},
    {"limit": "x", "after": [], "sorts": "x"},
    {"filterGroups": [{"filters": [{"propertyName": "email", "operator": "IN", "values": "abc"}]}]},
    {
        "filterGroups": [
            {"filters": [{"propertyName": "createdate", "operator": "GT", "value": "soon"}]}
        ]
    },
    {"filterGroups": "x"},
    {
        "name": "p",
        "label": "p",
        "type": "string",
        "fieldType": "text",
        "groupName": "x",
        "displayOrder": "first",
        "options": "x",
    },
    {
        "name": "q",
        "label": "q",
        "type": "enumeration",
        "fieldType": "select",
        "groupName": "contactinformation",
        "options": [{"label": "", "value": ""}, 3],
    },
]
POSTS = [
    "objects/contacts",
    "objects/contacts/search",
    "objects/contacts/batch/read",
    "objects/contacts/batch/create",
    "objects/contacts/batch/update",
    "objects/contacts/batch/upsert",
    "objects/contacts/batch/archive",
    "properties/contacts",
    "properties/contacts/batch/create",
    "properties/contacts/batch/read",
    "properties/contacts/groups",
]


@pytest.mark.parametrize("path", POSTS)
def test_malformed_requests_get_4xx_never_5xx(srv: SandboxServer, path: str) -> None:
    for body in GARBAGE:
        res = requests.post(f"{srv.url}/crm/v3/{path}", json=body, headers=AUTH, timeout=10)
        assert res.status_code < 500, (body, res.text)
    for body in GARBAGE:
        for url in (
            f"{srv.url}/crm/v3/objects/contacts/1051",
            f"{srv.url}/crm/v3/properties/contacts/city",
        ):
            res = requests.patch(url, json=body, headers=AUTH, timeout=10)
            assert res.status_code < 500, (url, body, res.text)


def _segment_property(srv: SandboxServer, name: str) -> None:
    """A segsync-like enumeration property on contacts (idempotent)."""
    requests.post(
        f"{srv.url}/crm/v3/properties/contacts",
        headers=AUTH,
        json={
            "name": name,
            "label": name,
            "type": "enumeration",
            "fieldType": "select",
            "groupName": "contactinformation",
            "options": [
                {"label": v, "value": v, "displayOrder": i}
                for i, v in enumerate(["smb", "enterprise"])
            ],
        },
        timeout=10,
    )


def test_edit_sets_properties_as_a_user_would(srv: SandboxServer, client: HubSpot) -> None:
    _segment_property(srv, "segsync_hand_tier")
    batch_update(
        client,
        ("1101", {"segsync_hand_tier": "smb"}),
        ("1151", {"segsync_hand_tier": "enterprise"}),
    )
    before = {i: admin_call(srv, f"records/contacts/{i}") for i in ("1101", "1151")}
    started = int(time.time() * 1000)
    res = admin_call(
        srv,
        "edit",
        {
            "object_type": "contacts",
            "ids": ["1101", "1151"],
            "properties": {"segsync_hand_tier": "enterprise"},
        },
    )
    assert res["ids"] == ["1101"]  # 1151 held that value already: untouched
    edited = admin_call(srv, "records/contacts/1101")
    assert edited["properties"]["segsync_hand_tier"] == "enterprise"
    assert edited["updated_ms"] >= started
    assert edited["changes"] == before["1101"]["changes"]  # a user's edit, not an API write
    assert admin_call(srv, "records/contacts/1151")["updated_ms"] == before["1151"]["updated_ms"]
    # The edit is found by an incremental read like any other change.
    found = search_call(
        client,
        [{"property_name": "lastmodifieddate", "operator": "GTE", "value": str(started)}],
        properties=["segsync_hand_tier"],
        limit=100,
    )
    assert "1101" in {r.id for r in found.results}


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"ids": ["1101"], "properties": {"segsync_hand_tier": "galactic"}}, "galactic"),
        ({"ids": ["1101"], "properties": {"no_such_property": "x"}}, "no_such_property"),
        ({"ids": ["1101"], "properties": {}}, "properties"),
        ({"properties": {"segsync_hand_tier": "smb"}}, "ids"),
        ({"ids": ["9999999"], "properties": {"segsync_hand_tier": "smb"}}, "9999999"),
    ],
)
def test_edit_refuses_what_the_api_would_refuse(
    srv: SandboxServer, body: dict[str, Any], reason: str
) -> None:
    _segment_property(srv, "segsync_hand_tier")
    before = admin_call(srv, "records/contacts/1101")
    res = requests.post(
        f"{srv.url}/_sandbox/edit", json={"object_type": "contacts", **body}, timeout=10
    )
    assert res.status_code in (400, 404) and reason in res.json()["error"]
    assert admin_call(srv, "records/contacts/1101")["updated_ms"] == before["updated_ms"]


def test_values_pages_through_every_live_record(srv: SandboxServer) -> None:
    seen: dict[str, str | None] = {}
    after = 0
    while after is not None:
        page = admin_call(
            srv,
            "values",
            {
                "object_type": "contacts",
                "properties": ["email", "jobtitle"],
                "after": after,
                "limit": 70,
            },
        )
        assert len(page["ids"]) <= 70
        seen.update(zip(page["ids"], page["values"]["email"], strict=True))
        after = page["next"]
    listed = {}
    link = f"{srv.url}/crm/v3/objects/contacts?limit=100&properties=email"
    while link:
        body = requests.get(link, headers=AUTH, timeout=10).json()
        listed.update({r["id"]: r["properties"]["email"] for r in body["results"]})
        link = body.get("paging", {}).get("next", {}).get("link")
    assert seen == listed
