"""The HubSpot sandbox's writes: batch updates, 207s, whole-batch rejections, upserts, forward-only
lifecycle, calculated deal properties."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
import requests
from hubspot import HubSpot
from hubspot.crm.contacts import (
    ApiException,
    BatchInputSimplePublicObjectBatchInputUpsert,
    BatchReadInputSimplePublicObjectId,
    SimplePublicObjectBatchInputUpsert,
    SimplePublicObjectId,
)

from connectors.sandbox import SandboxServer
from tests.sandbox.hubspot.support import (
    AUTH,
    TOKEN,
    admin_call,
    batch_update,
    error_body,
    new_server,
)

pytestmark = pytest.mark.integration


# -- writes -------------------------------------------------------------------------------------


def test_batch_update_applies_changes_and_skips_no_ops(srv: SandboxServer, client: HubSpot) -> None:
    target = client.crm.contacts.basic_api.get_page(limit=1, after="2001").results[0]
    requested_ms = int(time.time() * 1000)
    requested_at = datetime.fromtimestamp(requested_ms / 1000, UTC).isoformat(
        timespec="milliseconds"
    )
    requested_at = requested_at.replace("+00:00", "Z")
    res = batch_update(client, (target.id, {"jobtitle": "Head of RevOps (sandbox)"}))
    assert (
        res.status == "COMPLETE"
        and res.results[0].properties["jobtitle"] == "Head of RevOps (sandbox)"
    )
    bumped = res.results[0].properties["lastmodifieddate"]
    assert bumped >= requested_at and res.results[0].updated_at.timestamp() * 1000 >= requested_ms
    time.sleep(0.01)
    again = batch_update(client, (target.id, {"jobtitle": "Head of RevOps (sandbox)"}))
    assert again.results[0].properties["lastmodifieddate"] == bumped  # same value: no modification
    record = admin_call(srv, f"records/contacts/{target.id}")
    assert record["changes"] == {"jobtitle": 1}
    assert record["properties"]["jobtitle"] == "Head of RevOps (sandbox)"


def test_batch_update_with_unknown_ids_is_207_and_applies_known(
    srv: SandboxServer, client: HubSpot
) -> None:
    known = client.crm.contacts.basic_api.get_page(limit=1, after="3001").results[0].id
    res = batch_update(client, (known, {"city": "Lyon"}), ("99", {"city": "Lyon"}))
    assert res.num_errors == 1
    assert res.errors[0].category == "OBJECT_NOT_FOUND"
    assert res.errors[0].context == {"ids": ["99"]}
    assert "Could not get some CONTACT objects" in res.errors[0].message
    assert [r.id for r in res.results] == [known]
    assert admin_call(srv, f"records/contacts/{known}")["properties"]["city"] == "Lyon"


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
        batch_update(client, (good, {"jobtitle": f"never applied {code}"}), (bad, props))
    body = error_body(exc.value)
    assert exc.value.status == 400 and body["category"] == "VALIDATION_ERROR"
    assert body["message"].startswith("Property values were not valid: [")
    assert f'\\"error\\":\\"{code}\\"' in exc.value.body or code in body["message"]
    assert bad not in body["message"] and good not in body["message"]  # the input is not named
    assert (
        admin_call(srv, f"records/contacts/{good}")["properties"].get("jobtitle")
        != f"never applied {code}"
    )


def test_batch_shape_errors(client: HubSpot) -> None:
    with pytest.raises(ApiException) as dup:
        batch_update(client, ("1001", {"city": "A"}), ("1001", {"city": "B"}))
    body = error_body(dup.value)
    assert body["message"] == "Duplicate IDs found in batch input: [1001]. IDs must be unique"
    assert body["context"] == {"ids": ["1001"]}
    with pytest.raises(ApiException) as big:
        batch_update(client, *((str(1001 + 50 * i), {"city": "A"}) for i in range(101)))
    assert big.value.status == 400


def test_lifecycle_stage_only_moves_forward(srv: SandboxServer, client: HubSpot) -> None:
    contact = client.crm.contacts.basic_api.get_page(limit=1, after="7001").results[0].id
    batch_update(client, (contact, {"lifecyclestage": ""}))
    batch_update(client, (contact, {"lifecyclestage": "customer"}))
    with pytest.raises(ApiException) as exc:
        batch_update(client, (contact, {"lifecyclestage": "lead"}))
    assert exc.value.status == 400
    batch_update(
        client, (contact, {"lifecyclestage": ""})
    )  # clear first, then set in a separate write
    batch_update(client, (contact, {"lifecyclestage": "lead"}))
    assert admin_call(srv, f"records/contacts/{contact}")["properties"]["lifecyclestage"] == "lead"


def test_lifecycle_backward_write_can_be_ignored() -> None:
    server = new_server(contacts=20, companies=2, deals=0, lifecycle_backward="ignore")
    try:
        client = HubSpot(access_token=TOKEN, host=server.url)
        batch_update(client, ("1001", {"lifecyclestage": ""}))
        batch_update(client, ("1001", {"lifecyclestage": "customer"}))
        res = batch_update(client, ("1001", {"lifecyclestage": "lead", "city": "Porto"}))
        assert res.status == "COMPLETE"
        props = admin_call(server, "records/contacts/1001")["properties"]
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
    props = admin_call(srv, f"records/deals/{deal_id}")["properties"]
    assert (props["hs_is_closed_won"], props["hs_is_closed"], props["pipeline"]) == (
        "true",
        "true",
        "default",
    )
    wrong = requests.patch(
        f"{url}/{deal_id}", headers=AUTH, timeout=10, json={"properties": {"dealstage": "shipped"}}
    )
    assert wrong.status_code == 400  # a stage of another pipeline
