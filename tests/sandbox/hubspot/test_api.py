"""The sandbox CRM, exercised through the official hubspot-api-client over real HTTP."""

from __future__ import annotations

import http.client
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
import requests
from hubspot import HubSpot
from hubspot.crm.associations.v4 import (
    BatchInputPublicFetchAssociationsBatchRequest,
    PublicFetchAssociationsBatchRequest,
)
from hubspot.crm.contacts import (
    ApiException,
    BatchInputSimplePublicObjectBatchInput,
    BatchInputSimplePublicObjectBatchInputUpsert,
    BatchReadInputSimplePublicObjectId,
    Filter,
    FilterGroup,
    PublicObjectSearchRequest,
    SimplePublicObjectBatchInput,
    SimplePublicObjectBatchInputUpsert,
    SimplePublicObjectId,
)
from hubspot.crm.properties import ApiException as PropertiesApiException
from hubspot.crm.properties import OptionInput, PropertyCreate, PropertyGroupCreate, PropertyUpdate

from connectors.sandbox import FaultConfig, SandboxConfig, SandboxServer

pytestmark = pytest.mark.integration

TOKEN = "sandbox-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _server(**overrides: Any) -> SandboxServer:
    base: dict[str, Any] = {
        "contacts": 300,
        "companies": 60,
        "deals": 90,
        "rate_limit": 100_000,
        "search_rate_per_second": 10_000,
    }
    base.update(overrides)
    return SandboxServer(SandboxConfig(**base)).start()


@pytest.fixture(scope="module")
def srv() -> Iterator[SandboxServer]:
    server = _server()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def client(srv: SandboxServer) -> HubSpot:
    return HubSpot(access_token=TOKEN, host=srv.url)


def _admin(srv: SandboxServer, path: str, body: Any = None) -> Any:
    if body is None:
        return requests.get(f"{srv.url}/_sandbox/{path}", timeout=10).json()
    return requests.post(f"{srv.url}/_sandbox/{path}", json=body, timeout=10).json()


def _update(client: HubSpot, *items: tuple[str, dict[str, str]]) -> Any:
    inputs = [SimplePublicObjectBatchInput(id=i, properties=p) for i, p in items]
    return client.crm.contacts.batch_api.update(
        batch_input_simple_public_object_batch_input=BatchInputSimplePublicObjectBatchInput(
            inputs=inputs
        )
    )


def _search(client: HubSpot, filters: list[dict[str, Any]], **kw: Any) -> Any:
    groups = [FilterGroup(filters=[Filter(**f) for f in filters])] if filters else None
    return client.crm.contacts.search_api.do_search(
        public_object_search_request=PublicObjectSearchRequest(filter_groups=groups, **kw)
    )


def _error(exc: Exception) -> dict[str, Any]:
    body: dict[str, Any] = orjson.loads(getattr(exc, "body", b"{}"))
    return body


# -- reading ------------------------------------------------------------------------------------


def test_list_paging_returns_every_seeded_record_exactly_once(
    srv: SandboxServer, client: HubSpot
) -> None:
    ids: list[str] = []
    after = None
    while True:
        page = client.crm.contacts.basic_api.get_page(
            limit=100, after=after, properties=["email", "nope"]
        )
        ids += [r.id for r in page.results]
        assert all(
            "nope" not in r.properties for r in page.results
        )  # unknown properties are omitted
        assert all(
            set(r.properties) >= {"email", "createdate", "lastmodifieddate", "hs_object_id"}
            for r in page.results
        )
        if page.paging is None:
            break
        after = page.paging.next.after
    assert len(ids) == len(set(ids)) == 300
    assert _admin(srv, "health")["records"]["contacts"] == 300


def test_list_accepts_comma_separated_properties_and_follows_links(srv: SandboxServer) -> None:
    first = requests.get(
        f"{srv.url}/crm/v3/objects/0-1?limit=2&properties=email,jobtitle", headers=AUTH, timeout=10
    ).json()
    assert set(first["results"][0]["properties"]) >= {"email", "jobtitle"}
    follow = requests.get(first["paging"]["next"]["link"], headers=AUTH, timeout=10).json()
    assert follow["results"][0]["id"] == first["paging"]["next"]["after"]
    too_big = requests.get(f"{srv.url}/crm/v3/objects/contacts?limit=101", headers=AUTH, timeout=10)
    assert too_big.status_code == 400
    assert too_big.json()["category"] == "VALIDATION_ERROR"


def test_get_by_id_by_email_and_missing(client: HubSpot) -> None:
    first = client.crm.contacts.basic_api.get_page(limit=1, properties=["email"]).results[0]
    by_email = client.crm.contacts.basic_api.get_by_id(
        contact_id=first.properties["email"].upper(),
        id_property="email",
        associations=["companies"],
    )
    assert by_email.id == first.id
    with pytest.raises(ApiException) as exc:
        client.crm.contacts.basic_api.get_by_id(contact_id="42")
    assert exc.value.status == 404


def test_associations_inline_and_v4(client: HubSpot) -> None:
    page = client.crm.contacts.basic_api.get_page(limit=50, associations=["companies"])
    linked = [r for r in page.results if r.associations]
    assert linked, "most B2B contacts belong to a company"
    contact = linked[0]
    types = {a.type for a in contact.associations["companies"].results}
    assert types == {"contact_to_company", "contact_to_company_unlabeled"}
    company_id = contact.associations["companies"].results[0].id
    unlinked = next(r.id for r in page.results if not r.associations) if len(linked) < 50 else None
    inputs = [PublicFetchAssociationsBatchRequest(id=contact.id)]
    if unlinked:
        inputs.append(PublicFetchAssociationsBatchRequest(id=unlinked))
    res = client.crm.associations.v4.batch_api.get_page(
        from_object_type="contacts",
        to_object_type="companies",
        batch_input_public_fetch_associations_batch_request=BatchInputPublicFetchAssociationsBatchRequest(
            inputs=inputs
        ),
    )
    assert str(res.results[0].to[0].to_object_id) == company_id
    assert {t.type_id for t in res.results[0].to[0].association_types} == {1, 279}
    if unlinked:
        assert res.errors[0].category == "OBJECT_NOT_FOUND"


# -- search -------------------------------------------------------------------------------------


def test_search_filters_compare_typed_values(client: HubSpot) -> None:
    everyone = _search(client, [], limit=1)
    assert everyone.total == 300
    iso = _search(
        client,
        [{"property_name": "createdate", "operator": "GTE", "value": "2025-01-01T00:00:00Z"}],
    )
    epoch = _search(
        client, [{"property_name": "createdate", "operator": "GTE", "value": "1735689600000"}]
    )
    assert iso.total == epoch.total > 0
    some_id = int(everyone.results[0].id)
    by_id = _search(
        client, [{"property_name": "hs_object_id", "operator": "GT", "value": str(some_id)}]
    )
    assert by_id.total == 299  # numeric, not string, comparison of ids
    gmail = _search(
        client,
        [{"property_name": "email", "operator": "CONTAINS_TOKEN", "value": "*@gmail.com"}],
        properties=["email"],
        limit=200,
    )
    assert gmail.total > 0 and all(
        r.properties["email"].endswith("@gmail.com") for r in gmail.results
    )
    stages = _search(
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
    upper = _search(
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
    missing = _search(client, [{"property_name": "phone", "operator": "NOT_HAS_PROPERTY"}])
    present = _search(client, [{"property_name": "phone", "operator": "HAS_PROPERTY"}])
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
    server = _server(contacts=10_050, companies=5, deals=0)
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
    mutated = _admin(srv, "mutate", {"count": 120, "object_type": "contacts", "timestamp": stamp})
    assert len(set(mutated["ids"])) == 120
    seen: list[str] = []
    after: str | None = "0"
    while after is not None:
        res = _search(
            client,
            [{"property_name": "lastmodifieddate", "operator": "EQ", "value": str(stamp)}],
            sorts=[{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
            limit=50,
            after=after,
        )
        seen += [r.id for r in res.results]
        after = res.paging.next.after if res.paging else None
    assert seen == sorted(mutated["ids"], key=int)  # ties broken by id, every record once


# -- writes -------------------------------------------------------------------------------------


def test_batch_update_applies_changes_and_skips_no_ops(srv: SandboxServer, client: HubSpot) -> None:
    target = client.crm.contacts.basic_api.get_page(limit=1, after="2001").results[0]
    requested_ms = int(time.time() * 1000)
    requested_at = datetime.fromtimestamp(requested_ms / 1000, UTC).isoformat(
        timespec="milliseconds"
    )
    requested_at = requested_at.replace("+00:00", "Z")
    res = _update(client, (target.id, {"jobtitle": "Head of RevOps (sandbox)"}))
    assert (
        res.status == "COMPLETE"
        and res.results[0].properties["jobtitle"] == "Head of RevOps (sandbox)"
    )
    bumped = res.results[0].properties["lastmodifieddate"]
    assert bumped >= requested_at and res.results[0].updated_at.timestamp() * 1000 >= requested_ms
    time.sleep(0.01)
    again = _update(client, (target.id, {"jobtitle": "Head of RevOps (sandbox)"}))
    assert again.results[0].properties["lastmodifieddate"] == bumped  # same value: no modification
    record = _admin(srv, f"records/contacts/{target.id}")
    assert record["changes"] == {"jobtitle": 1}
    assert record["properties"]["jobtitle"] == "Head of RevOps (sandbox)"


def test_batch_update_with_unknown_ids_is_207_and_applies_known(
    srv: SandboxServer, client: HubSpot
) -> None:
    known = client.crm.contacts.basic_api.get_page(limit=1, after="3001").results[0].id
    res = _update(client, (known, {"city": "Lyon"}), ("99", {"city": "Lyon"}))
    assert res.num_errors == 1
    assert res.errors[0].category == "OBJECT_NOT_FOUND"
    assert res.errors[0].context == {"ids": ["99"]}
    assert "Could not get some CONTACT objects" in res.errors[0].message
    assert [r.id for r in res.results] == [known]
    assert _admin(srv, f"records/contacts/{known}")["properties"]["city"] == "Lyon"


@pytest.mark.parametrize(
    ("props", "code"),
    [
        ({"lifecyclestage": "not_a_stage"}, "INVALID_OPTION"),
        ({"does_not_exist": "x"}, "PROPERTY_DOESNT_EXIST"),
        ({"hs_object_id": "1"}, "READ_ONLY_VALUE"),
        ({"lastmodifieddate": "1700000000000"}, "READ_ONLY_VALUE"),
        ({"income": "a lot"}, "INVALID_DECIMAL"),
        ({"date_of_birth": "1700000000001"}, "INVALID_DATE"),
    ],
)
def test_one_invalid_input_rejects_the_whole_batch(
    srv: SandboxServer, client: HubSpot, props: dict[str, str], code: str
) -> None:
    good, bad = (
        r.id for r in client.crm.contacts.basic_api.get_page(limit=2, after="5001").results
    )
    with pytest.raises(ApiException) as exc:
        _update(client, (good, {"jobtitle": f"never applied {code}"}), (bad, props))
    body = _error(exc.value)
    assert exc.value.status == 400 and body["category"] == "VALIDATION_ERROR"
    assert body["message"].startswith("Property values were not valid: [")
    assert f'\\"error\\":\\"{code}\\"' in exc.value.body or code in body["message"]
    assert bad not in body["message"] and good not in body["message"]  # the input is not named
    assert (
        _admin(srv, f"records/contacts/{good}")["properties"].get("jobtitle")
        != f"never applied {code}"
    )


def test_batch_shape_errors(client: HubSpot) -> None:
    with pytest.raises(ApiException) as dup:
        _update(client, ("1001", {"city": "A"}), ("1001", {"city": "B"}))
    body = _error(dup.value)
    assert body["message"] == "Duplicate IDs found in batch input: [1001]. IDs must be unique"
    assert body["context"] == {"ids": ["1001"]}
    with pytest.raises(ApiException) as big:
        _update(client, *((str(1001 + 50 * i), {"city": "A"}) for i in range(101)))
    assert big.value.status == 400


def test_lifecycle_stage_only_moves_forward(srv: SandboxServer, client: HubSpot) -> None:
    contact = client.crm.contacts.basic_api.get_page(limit=1, after="7001").results[0].id
    _update(client, (contact, {"lifecyclestage": ""}))
    _update(client, (contact, {"lifecyclestage": "customer"}))
    with pytest.raises(ApiException) as exc:
        _update(client, (contact, {"lifecyclestage": "lead"}))
    assert exc.value.status == 400
    _update(client, (contact, {"lifecyclestage": ""}))  # clear first, then set in a separate write
    _update(client, (contact, {"lifecyclestage": "lead"}))
    assert _admin(srv, f"records/contacts/{contact}")["properties"]["lifecyclestage"] == "lead"


def test_lifecycle_backward_write_can_be_ignored() -> None:
    server = _server(contacts=20, companies=2, deals=0, lifecycle_backward="ignore")
    try:
        client = HubSpot(access_token=TOKEN, host=server.url)
        _update(client, ("1001", {"lifecyclestage": ""}))
        _update(client, ("1001", {"lifecyclestage": "customer"}))
        res = _update(client, ("1001", {"lifecyclestage": "lead", "city": "Porto"}))
        assert res.status == "COMPLETE"
        props = _admin(server, "records/contacts/1001")["properties"]
        assert (props["lifecyclestage"], props["city"]) == ("customer", "Porto")
    finally:
        server.stop()


def test_create_upsert_and_email_conflict(srv: SandboxServer, client: HubSpot) -> None:
    res = client.crm.contacts.batch_api.upsert(
        batch_input_simple_public_object_batch_input_upsert=BatchInputSimplePublicObjectBatchInputUpsert(
            inputs=[
                SimplePublicObjectBatchInputUpsert(
                    id="New.Person@Example.org",
                    id_property="email",
                    properties={"firstname": "New"},
                )
            ]
        )
    )
    created = res.results[0]
    assert created.new is True and created.properties["firstname"] == "New"
    again = client.crm.contacts.batch_api.upsert(
        batch_input_simple_public_object_batch_input_upsert=BatchInputSimplePublicObjectBatchInputUpsert(
            inputs=[
                SimplePublicObjectBatchInputUpsert(
                    id="new.person@example.org",
                    id_property="email",
                    properties={"lastname": "Person"},
                )
            ]
        )
    )
    assert again.results[0].new is False and again.results[0].id == created.id
    taken = requests.post(
        f"{srv.url}/crm/v3/objects/contacts",
        headers=AUTH,
        timeout=10,
        json={"properties": {"email": "new.person@example.org"}},
    )
    assert taken.status_code == 409 and taken.json()["category"] == "CONFLICT"
    read = client.crm.contacts.batch_api.read(
        batch_read_input_simple_public_object_id=BatchReadInputSimplePublicObjectId(
            inputs=[SimplePublicObjectId(id=created.id)], properties=["lastname"]
        )
    )
    assert read.results[0].properties["lastname"] == "Person"


def test_deal_stage_updates_calculated_properties(srv: SandboxServer) -> None:
    url = f"{srv.url}/crm/v3/objects/deals"
    made = requests.post(
        url,
        headers=AUTH,
        timeout=10,
        json={"properties": {"dealname": "Sandbox deal", "dealstage": "contractsent"}},
    )
    assert made.status_code == 201
    deal_id = made.json()["id"]
    missing = requests.post(url, headers=AUTH, timeout=10, json={"properties": {"amount": "5"}})
    assert missing.status_code == 400  # dealname and dealstage are required
    won = requests.patch(
        f"{url}/{deal_id}",
        headers=AUTH,
        timeout=10,
        json={"properties": {"dealstage": "closedwon"}},
    )
    assert won.status_code == 200
    props = _admin(srv, f"records/deals/{deal_id}")["properties"]
    assert (props["hs_is_closed_won"], props["hs_is_closed"], props["pipeline"]) == (
        "true",
        "true",
        "default",
    )
    wrong = requests.patch(
        f"{url}/{deal_id}", headers=AUTH, timeout=10, json={"properties": {"dealstage": "shipped"}}
    )
    assert wrong.status_code == 400  # a stage of another pipeline


# -- properties ---------------------------------------------------------------------------------


def test_property_groups_and_properties(srv: SandboxServer, client: HubSpot) -> None:
    props = client.crm.properties
    props.groups_api.create(
        object_type="contacts",
        property_group_create=PropertyGroupCreate(
            name="segsync", label="Segsync", display_order=-1
        ),
    )
    with pytest.raises(PropertiesApiException) as dup_group:
        props.groups_api.create(
            object_type="contacts",
            property_group_create=PropertyGroupCreate(name="segsync", label="Segsync"),
        )
    assert dup_group.value.status == 409
    spec = PropertyCreate(
        name="segsync_tier",
        label="Tier",
        type="enumeration",
        field_type="select",
        group_name="segsync",
        options=[OptionInput(label="Gold", value="gold", hidden=False, display_order=0)],
    )
    created = props.core_api.create(object_type="contacts", property_create=spec)
    assert created.name == "segsync_tier" and created.hubspot_defined is False
    with pytest.raises(PropertiesApiException) as dup:
        props.core_api.create(object_type="contacts", property_create=spec)
    assert dup.value.status == 409
    contact = client.crm.contacts.basic_api.get_page(limit=1, after="9001").results[0].id
    with pytest.raises(ApiException) as bad:
        _update(client, (contact, {"segsync_tier": "silver"}))
    assert "INVALID_OPTION" in bad.value.body and "segsync_tier" in bad.value.body
    props.core_api.update(
        object_type="contacts",
        property_name="segsync_tier",
        property_update=PropertyUpdate(
            options=[
                OptionInput(label="Gold", value="gold", hidden=False, display_order=0),
                OptionInput(label="Silver", value="silver", hidden=False, display_order=1),
            ]
        ),
    )
    _update(client, (contact, {"segsync_tier": "silver"}))
    found = _search(
        client, [{"property_name": "segsync_tier", "operator": "EQ", "value": "silver"}]
    )
    assert [r.id for r in found.results] == [contact]
    names = {p.name for p in props.core_api.get_all(object_type="contacts").results}
    assert {"segsync_tier", "lifecyclestage", "email", "hs_object_id"} <= names


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (
            {
                "name": "Bad-Name",
                "label": "x",
                "type": "string",
                "fieldType": "text",
                "groupName": "contactinformation",
            },
            400,
        ),
        (
            {
                "name": "x" * 101,
                "label": "x",
                "type": "string",
                "fieldType": "text",
                "groupName": "contactinformation",
            },
            400,
        ),
        (
            {
                "name": "ok_name",
                "label": "x",
                "type": "number",
                "fieldType": "select",
                "groupName": "contactinformation",
            },
            400,
        ),
        (
            {
                "name": "ok_name",
                "label": "x",
                "type": "string",
                "fieldType": "text",
                "groupName": "no_such_group",
            },
            400,
        ),
        (
            {
                "name": "email",
                "label": "x",
                "type": "string",
                "fieldType": "text",
                "groupName": "contactinformation",
            },
            409,
        ),
    ],
)
def test_property_definitions_are_validated(
    srv: SandboxServer, body: dict[str, Any], status: int
) -> None:
    res = requests.post(
        f"{srv.url}/crm/v3/properties/contacts", json=body, headers=AUTH, timeout=10
    )
    assert res.status_code == status


# -- auth and quotas ----------------------------------------------------------------------------


def test_oauth_refresh_expiry_and_revocation() -> None:
    server = _server(contacts=5, companies=1, deals=0, access_token_ttl=1)
    try:
        client = HubSpot(host=server.url)
        token = client.oauth.tokens_api.create(
            grant_type="refresh_token",
            client_id="sandbox-client",
            client_secret="sandbox-secret",
            refresh_token="sandbox-refresh",
        )
        assert token.token_type == "bearer" and token.expires_in == 1
        api = HubSpot(access_token=token.access_token, host=server.url)
        assert len(api.crm.contacts.basic_api.get_page(limit=2).results) == 2
        time.sleep(1.1)
        with pytest.raises(ApiException) as expired:
            api.crm.contacts.basic_api.get_page(limit=2)
        assert (
            expired.value.status == 401
            and _error(expired.value)["category"] == "EXPIRED_AUTHENTICATION"
        )
        form = {
            "grant_type": "refresh_token",
            "client_id": "sandbox-client",
            "client_secret": "sandbox-secret",
            "refresh_token": "wrong",
        }
        bad = requests.post(f"{server.url}/oauth/v1/token", data=form, timeout=10)
        assert bad.status_code == 400
        assert bad.json()["status"] == "BAD_REFRESH_TOKEN"
        assert (
            requests.delete(
                f"{server.url}/oauth/v1/refresh-tokens/sandbox-refresh", timeout=10
            ).status_code
            == 204
        )
        revoked = requests.post(
            f"{server.url}/oauth/v1/token",
            data={**form, "refresh_token": "sandbox-refresh"},
            timeout=10,
        )
        assert revoked.json()["status"] == "BAD_REFRESH_TOKEN"
        anonymous = requests.get(f"{server.url}/crm/v3/objects/contacts", timeout=10)
        assert (
            anonymous.status_code == 401
            and anonymous.json()["category"] == "INVALID_AUTHENTICATION"
        )
    finally:
        server.stop()


def test_rate_limit_window_headers_and_429_body() -> None:
    server = _server(contacts=5, companies=1, deals=0, rate_limit=5, search_rate_per_second=2)
    try:
        session = requests.Session()
        session.headers.update(AUTH)
        remaining = []
        for _ in range(5):
            res = session.get(f"{server.url}/crm/v3/objects/contacts", timeout=10)
            assert res.status_code == 200
            assert res.headers["X-HubSpot-RateLimit-Max"] == "5"
            assert res.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
            remaining.append(int(res.headers["X-HubSpot-RateLimit-Remaining"]))
        assert remaining == [4, 3, 2, 1, 0]
        limited = session.get(f"{server.url}/crm/v3/objects/contacts", timeout=10)
        assert limited.status_code == 429
        body = limited.json()
        assert body["policyName"] == "TEN_SECONDLY_ROLLING" and body["errorType"] == "RATE_LIMIT"
        assert body["message"] == "You have reached your ten_secondly_rolling limit."
        stats = _admin(server, "stats")
        assert stats["rate_limited"] == 1
        assert stats["max_requests_in_window"] == {"token-1": 5}
    finally:
        server.stop()


def test_search_has_its_own_per_second_limit() -> None:
    server = _server(contacts=5, companies=1, deals=0, search_rate_per_second=2)
    try:
        url = f"{server.url}/crm/v3/objects/contacts/search"
        codes = [requests.post(url, json={}, headers=AUTH, timeout=10) for _ in range(3)]
        assert [c.status_code for c in codes[:2]] == [200, 200]
        assert codes[2].status_code == 429
        assert codes[2].json()["message"] == "You have reached your secondly limit."
        assert "X-HubSpot-RateLimit-Remaining" not in codes[2].headers
    finally:
        server.stop()


# -- faults, simulated activity, stats ----------------------------------------------------------


def test_fault_fractions_roughly_as_configured() -> None:
    server = _server(
        contacts=5, companies=1, deals=0, faults=FaultConfig.parse("429=0.1,5xx=0.1,drop=0.1")
    )
    try:
        outcomes = {"ok": 0, "429": 0, "5xx": 0, "drop": 0}
        for _ in range(600):
            try:
                res = requests.get(
                    f"{server.url}/crm/v3/objects/contacts?limit=1", headers=AUTH, timeout=10
                )
            except requests.ConnectionError:
                outcomes["drop"] += 1
                continue
            key = "ok" if res.status_code == 200 else "429" if res.status_code == 429 else "5xx"
            outcomes[key] += 1
        for kind in ("429", "5xx", "drop"):
            assert 30 <= outcomes[kind] <= 95, outcomes
        stats = _admin(server, "stats")
        assert stats["rate_limited"] == 0  # injected 429s are not real limit hits
        assert stats["faults_injected"] == outcomes["429"] + outcomes["5xx"] + outcomes["drop"]
        assert stats["requests"]["GET /crm/v3/objects/contacts"] == 600
    finally:
        server.stop()


def test_dropped_connections_sometimes_apply_the_write() -> None:
    server = _server(contacts=40, companies=2, deals=0, faults=FaultConfig.parse("drop=1"))
    try:
        for i in range(20):
            with pytest.raises(requests.ConnectionError):
                requests.post(
                    f"{server.url}/crm/v3/objects/contacts/batch/update",
                    headers=AUTH,
                    timeout=10,
                    json={
                        "inputs": [{"id": str(1001 + 50 * i), "properties": {"city": "Dropped"}}]
                    },
                )
        stats = _admin(server, "stats")
        applied = sum(
            _admin(server, f"records/contacts/{1001 + 50 * i}")["changes"].get("city", 0)
            for i in range(20)
        )
        assert applied == stats["faults"].get("drop_after", 0) == stats["records_written"]
        assert 0 < applied < 20
    finally:
        server.stop()


def test_rejected_records_fail_their_whole_batch() -> None:
    server = _server(contacts=60, companies=2, deals=0, faults=FaultConfig.parse("reject=0.3"))
    try:
        client = HubSpot(access_token=TOKEN, host=server.url)
        ids = [str(1001 + 50 * i) for i in range(60)]
        outcomes: dict[str, bool] = {}
        for record_id in ids:
            try:
                _update(client, (record_id, {"city": "Solo"}))
                outcomes[record_id] = True
            except ApiException as refused:
                assert refused.status == 400
                outcomes[record_id] = False
        rejected = [i for i, ok in outcomes.items() if not ok]
        accepted = [i for i, ok in outcomes.items() if ok]
        assert 5 <= len(rejected) <= 35
        with pytest.raises(ApiException) as exc:
            _update(client, (accepted[0], {"city": "Mixed"}), (rejected[0], {"city": "Mixed"}))
        assert rejected[0] not in exc.value.body
        assert _admin(server, f"records/contacts/{accepted[0]}")["properties"]["city"] == "Solo"
    finally:
        server.stop()


def test_faults_can_be_changed_at_run_time_and_slow_replies_wait(srv: SandboxServer) -> None:
    try:
        set_ = requests.post(
            f"{srv.url}/_sandbox/faults", data="slow=1,slow_seconds=0.3", timeout=10
        ).json()
        assert set_["faults"]["slow"] == 1.0
        started = time.monotonic()
        res = requests.get(f"{srv.url}/crm/v3/objects/contacts?limit=1", headers=AUTH, timeout=10)
        assert res.status_code == 200 and time.monotonic() - started >= 0.3
        assert (
            requests.get(f"{srv.url}/_sandbox/health", timeout=10).status_code == 200
        )  # admin: no faults
    finally:
        requests.post(f"{srv.url}/_sandbox/faults", data="0", timeout=10)


def test_mutate_changes_records_and_bumps_modified_time(
    srv: SandboxServer, client: HubSpot
) -> None:
    started = int(time.time() * 1000)
    res = _admin(srv, "mutate", {"count": 7, "object_type": "0-1"})
    assert res["object_type"] == "contacts" and len(set(res["ids"])) == 7
    for record_id in res["ids"]:
        record = _admin(srv, f"records/contacts/{record_id}")
        assert record["updated_ms"] >= started
        assert record["changes"] == {}  # simulated activity is not an API write
    deals = _admin(srv, "mutate", {"count": 3, "object_type": "deals"})
    assert len(deals["ids"]) == 3


def test_stats_use_path_templates_with_normalised_object_types(srv: SandboxServer) -> None:
    requests.post(f"{srv.url}/_sandbox/reset-stats", timeout=10)
    requests.get(f"{srv.url}/crm/v3/objects/0-1/1001", headers=AUTH, timeout=10)
    requests.get(f"{srv.url}/crm/v3/objects/contacts/1051", headers=AUTH, timeout=10)
    requests.get(f"{srv.url}/crm/v3/objects/0-3", headers=AUTH, timeout=10)
    stats = _admin(srv, "stats")
    assert stats["requests"] == {
        "GET /crm/v3/objects/contacts/{contactId}": 2,
        "GET /crm/v3/objects/deals": 1,
    }


def test_connections_are_kept_alive(srv: SandboxServer) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    sockets = []
    try:
        for _ in range(3):
            body = b'{"inputs": [{"id": "1051"}]}'
            conn.request("POST", "/crm/v3/objects/contacts/batch/read", body=body, headers=AUTH)
            res = conn.getresponse()
            assert res.status == 200 and res.getheader("Connection") != "close"
            res.read()
            sockets.append(conn.sock)
        assert sockets[0] is not None and sockets.count(sockets[0]) == 3  # one socket throughout
    finally:
        conn.close()


def test_search_index_delay_hides_fresh_changes() -> None:
    server = _server(contacts=30, companies=2, deals=0, search_index_delay=0.5)
    try:
        client = HubSpot(access_token=TOKEN, host=server.url)
        _update(client, ("1001", {"jobtitle": "Old Title"}))
        time.sleep(0.6)

        def hits(title: str) -> int:
            filters = [
                {"property_name": "hs_object_id", "operator": "EQ", "value": "1001"},
                {"property_name": "jobtitle", "operator": "EQ", "value": title},
            ]
            return int(_search(client, filters).total)

        assert (hits("Old Title"), hits("New Title")) == (1, 0)
        _update(client, ("1001", {"jobtitle": "New Title"}))
        assert (hits("Old Title"), hits("New Title")) == (1, 0)  # search still sees the old version
        assert (
            client.crm.contacts.basic_api.get_by_id("1001", properties=["jobtitle"]).properties[
                "jobtitle"
            ]
            == "New Title"
        )  # reads by id are never delayed
        time.sleep(0.6)
        assert (hits("Old Title"), hits("New Title")) == (0, 1)
    finally:
        server.stop()


def test_daily_limit_is_enforced_per_account() -> None:
    server = _server(contacts=5, companies=1, deals=0, daily_limit=3)
    try:
        codes = [
            requests.get(f"{server.url}/crm/v3/objects/contacts", headers=AUTH, timeout=10)
            for _ in range(4)
        ]
        assert [c.status_code for c in codes] == [200, 200, 200, 429]
        assert codes[2].headers["X-HubSpot-RateLimit-Daily-Remaining"] == "0"
        assert codes[3].json()["policyName"] == "DAILY"
    finally:
        server.stop()


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


def test_search_by_association_pseudo_property(client: HubSpot) -> None:
    page = client.crm.contacts.basic_api.get_page(limit=20, associations=["companies"])
    contact = next(r for r in page.results if r.associations)
    company = contact.associations["companies"].results[0].id
    found = _search(
        client,
        [{"property_name": "associations.company", "operator": "EQ", "value": company}],
        limit=200,
    )
    assert contact.id in {r.id for r in found.results}
    company_props = client.crm.companies.basic_api.get_by_id(
        company, properties=["num_associated_contacts"]
    )
    assert found.total >= 1 and company_props.properties["num_associated_contacts"] is not None


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
    _update(
        client,
        ("1101", {"segsync_hand_tier": "smb"}),
        ("1151", {"segsync_hand_tier": "enterprise"}),
    )
    before = {i: _admin(srv, f"records/contacts/{i}") for i in ("1101", "1151")}
    started = int(time.time() * 1000)
    res = _admin(
        srv,
        "edit",
        {
            "object_type": "contacts",
            "ids": ["1101", "1151"],
            "properties": {"segsync_hand_tier": "enterprise"},
        },
    )
    assert res["ids"] == ["1101"]  # 1151 held that value already: untouched
    edited = _admin(srv, "records/contacts/1101")
    assert edited["properties"]["segsync_hand_tier"] == "enterprise"
    assert edited["updated_ms"] >= started
    assert edited["changes"] == before["1101"]["changes"]  # a user's edit, not an API write
    assert _admin(srv, "records/contacts/1151")["updated_ms"] == before["1151"]["updated_ms"]
    # The edit is found by an incremental read like any other change.
    found = _search(
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
    before = _admin(srv, "records/contacts/1101")
    res = requests.post(
        f"{srv.url}/_sandbox/edit", json={"object_type": "contacts", **body}, timeout=10
    )
    assert res.status_code in (400, 404) and reason in res.json()["error"]
    assert _admin(srv, "records/contacts/1101")["updated_ms"] == before["updated_ms"]


def test_values_pages_through_every_live_record(srv: SandboxServer) -> None:
    seen: dict[str, str | None] = {}
    after = 0
    while after is not None:
        page = _admin(
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
