"""The HubSpot sandbox's property API: groups, properties, options and the checks on definitions."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from hubspot import HubSpot
from hubspot.crm.contacts import (
    ApiException,
)
from hubspot.crm.properties import ApiException as PropertiesApiException
from hubspot.crm.properties import OptionInput, PropertyCreate, PropertyGroupCreate, PropertyUpdate

from connectors.sandbox import SandboxServer
from tests.sandbox.hubspot.support import AUTH, batch_update, search_call

pytestmark = pytest.mark.integration


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
        batch_update(client, (contact, {"segsync_tier": "silver"}))
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
    batch_update(client, (contact, {"segsync_tier": "silver"}))
    found = search_call(
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
