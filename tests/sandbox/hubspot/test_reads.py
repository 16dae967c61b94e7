"""The HubSpot sandbox's reads through the official hubspot-api-client: list paging, reads by id
and email, associations."""

from __future__ import annotations

import pytest
import requests
from hubspot import HubSpot
from hubspot.crm.associations.v4 import (
    BatchInputPublicFetchAssociationsBatchRequest,
    PublicFetchAssociationsBatchRequest,
)
from hubspot.crm.contacts import (
    ApiException,
)

from connectors.sandbox import SandboxServer
from tests.sandbox.hubspot.support import AUTH, admin_call

pytestmark = pytest.mark.integration


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
    assert admin_call(srv, "health")["records"]["contacts"] == 300


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
