"""Salesforce sandbox: Metadata API custom fields and permission sets, field-level security."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest
from zeep.exceptions import Fault

from connectors.sandbox import SandboxServer
from tests.sandbox.salesforce.support import client, metadata, server

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def srv() -> Iterator[SandboxServer]:
    s = server()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def sf(srv: SandboxServer) -> Salesforce:
    cfg = srv.config
    return client(
        srv, username=cfg.username, password=cfg.password, security_token=cfg.security_token
    )


@pytest.fixture(scope="module")
def md(sf: Salesforce) -> Any:
    return metadata(sf)


def _user(sf: Salesforce, srv: SandboxServer) -> str:
    user: str = sf.query(f"SELECT Id FROM User WHERE Username = '{srv.config.username}'")[
        "records"
    ][0]["Id"]
    return user


def _picklist(md: Any, full_name: str, values: list[str]) -> Any:
    return md.CustomField(
        fullName=full_name,
        label="Value tier",
        type=md.FieldType("Picklist"),
        valueSet=md.ValueSet(
            restricted=True,
            valueSetDefinition=md.ValueSetValuesDefinition(
                sorted=False,
                value=[md.CustomValue(fullName=v, label=v, default=False) for v in values],
            ),
        ),
    )


def test_custom_fields_create_read_upsert_and_validate(md: Any) -> None:
    md.CustomField.create(
        [
            md.CustomField(
                fullName="Lead.Segsync_Reason__c",
                label="Reason",
                type=md.FieldType("Text"),
                length=255,
            ),
            md.CustomField(
                fullName="Lead.Segsync_Score__c",
                label="Score",
                type=md.FieldType("Number"),
                precision=18,
                scale=2,
            ),
            md.CustomField(
                fullName="Lead.Segsync_Flag__c",
                label="Flag",
                type=md.FieldType("Checkbox"),
                defaultValue="false",
            ),
            md.CustomField(
                fullName="Lead.Segsync_Since__c", label="Since", type=md.FieldType("Date")
            ),
            _picklist(md, "Lead.Segsync_Tier__c", ["smb", "enterprise"]),
        ]
    )
    text, number = md.CustomField.read(["Lead.Segsync_Reason__c", "Lead.Segsync_Score__c"])
    assert (text.type, text.length, text.label) == ("Text", 255, "Reason")
    assert (number.type, number.precision, number.scale) == ("Number", 18, 2)
    tier = md.CustomField.read(["Lead.Segsync_Tier__c"])
    assert tier.valueSet.restricted is True
    assert [v.fullName for v in tier.valueSet.valueSetDefinition.value] == ["smb", "enterprise"]
    assert md.CustomField.read(["Lead.Nope__c"]).fullName is None
    md.CustomField.upsert([_picklist(md, "Lead.Segsync_Tier__c", ["smb", "mid", "enterprise"])])
    tier = md.CustomField.read(["Lead.Segsync_Tier__c"])
    assert [v.fullName for v in tier.valueSet.valueSetDefinition.value] == [
        "smb",
        "mid",
        "enterprise",
    ]
    md.CustomField.update(
        [
            md.CustomField(
                fullName="Lead.Segsync_Reason__c",
                label="Reason (why)",
                type=md.FieldType("Text"),
                length=200,
            )
        ]
    )
    updated = md.CustomField.read(["Lead.Segsync_Reason__c"])
    assert (updated.label, updated.length) == ("Reason (why)", 200)
    with pytest.raises(Exception, match="INVALID_CROSS_REFERENCE_KEY"):
        md.CustomField.update(
            [md.CustomField(fullName="Lead.Absent__c", label="x", type=md.FieldType("Date"))]
        )
    with pytest.raises(Exception, match="DUPLICATE_DEVELOPER_NAME"):
        md.CustomField.create([_picklist(md, "Lead.Segsync_Tier__c", ["x"])])
    with pytest.raises(Exception, match="Must specify 'length'"):
        md.CustomField.create(
            [md.CustomField(fullName="Lead.No_Length__c", label="x", type=md.FieldType("Text"))]
        )
    with pytest.raises(Exception, match="FIELD_INTEGRITY_EXCEPTION"):
        md.CustomField.create(
            [md.CustomField(fullName="Lead.Bad__Name__c", label="x", type=md.FieldType("Date"))]
        )
    with pytest.raises(Fault, match="EXCEEDED_ID_LIMIT"):
        md.CustomField.create(
            [
                md.CustomField(fullName=f"Lead.Many_{i}__c", label="x", type=md.FieldType("Date"))
                for i in range(11)
            ]
        )
    listed = {f.fullName for f in md.list_metadata([md.ListMetadataQuery(type="CustomField")])}
    assert {"Lead.Segsync_Tier__c", "Account.Tech_Stack__c"} <= listed


def test_new_fields_stay_hidden_until_a_permission_set_grants_them(
    srv: SandboxServer, sf: Salesforce, md: Any
) -> None:
    field = "Segsync_Value_Tier__c"
    md.CustomField.create([_picklist(md, f"Contact.{field}", ["Gold", "Silver"])])
    contact = sf.query("SELECT Id FROM Contact LIMIT 1")["records"][0]["Id"]
    assert field not in {f["name"] for f in sf.Contact.describe()["fields"]}
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.query(f"SELECT {field} FROM Contact")
    assert exc.value.content[0]["errorCode"] == "INVALID_FIELD"
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Contact.update(contact, {field: "Gold"})
    assert exc.value.content[0]["errorCode"] == "INVALID_FIELD"

    read_only = md.PermissionSetFieldPermissions(
        field=f"Contact.{field}", readable=True, editable=False
    )
    md.PermissionSet.upsert(
        [
            md.PermissionSet(
                fullName="Segsync_Integration", label="segsync", fieldPermissions=[read_only]
            )
        ]
    )
    set_id = sf.query("SELECT Id FROM PermissionSet WHERE Name = 'Segsync_Integration'")["records"][
        0
    ]["Id"]
    assert set_id.startswith("0PS")
    with pytest.raises(SalesforceMalformedRequest):
        sf.query(f"SELECT {field} FROM Contact")  # granted, but not assigned yet
    assignment = sf.PermissionSetAssignment.create(
        {"AssigneeId": _user(sf, srv), "PermissionSetId": set_id}
    )
    assert assignment["id"].startswith("0Pa")
    described = {f["name"]: f for f in sf.Contact.describe()["fields"]}[field]
    assert described["updateable"] is False and described["restrictedPicklist"] is True
    assert sf.query(f"SELECT {field} FROM Contact LIMIT 1")["records"][0][field] is None
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Contact.update(contact, {field: "Gold"})
    assert exc.value.content[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"

    editable = md.PermissionSetFieldPermissions(
        field=f"Contact.{field}", readable=True, editable=True
    )
    md.PermissionSet.upsert(
        [
            md.PermissionSet(
                fullName="Segsync_Integration", label="segsync", fieldPermissions=[editable]
            )
        ]
    )
    assert sf.Contact.update(contact, {field: "Gold"}) == 204
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Contact.update(contact, {field: "Platinum"})
    assert exc.value.content[0] == {
        "message": "bad value for restricted picklist field: Platinum",
        "errorCode": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        "fields": [field],
    }
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.PermissionSetAssignment.create({"AssigneeId": _user(sf, srv), "PermissionSetId": set_id})
    assert exc.value.content[0]["errorCode"] == "DUPLICATE_VALUE"
    read = md.PermissionSet.read(["Segsync_Integration"])
    assert [(p.field, p.readable, p.editable) for p in read.fieldPermissions] == [
        (f"Contact.{field}", True, True)
    ]
    sf.PermissionSetAssignment.delete(assignment["id"])
    with pytest.raises(SalesforceMalformedRequest):
        sf.query(f"SELECT {field} FROM Contact")


def test_upserting_a_permission_set_keeps_unlisted_field_permissions(
    sf: Salesforce, md: Any
) -> None:
    md.CustomField.create(
        [
            md.CustomField(
                fullName=f"Account.Segsync_{n}__c", label=n, type=md.FieldType("DateTime")
            )
            for n in ("A", "B")
        ]
    )

    def grant(name: str) -> Any:
        perm = md.PermissionSetFieldPermissions(
            field=f"Account.Segsync_{name}__c", readable=True, editable=True
        )
        return md.PermissionSet(fullName="Merge_Test", label="Merge", fieldPermissions=[perm])

    md.PermissionSet.upsert([grant("A")])
    md.PermissionSet.upsert([grant("B")])
    fields = [p.field for p in md.PermissionSet.read(["Merge_Test"]).fieldPermissions]
    assert fields == ["Account.Segsync_A__c", "Account.Segsync_B__c"]
    rows = sf.query(
        "SELECT Field, PermissionsEdit, Parent.Name FROM FieldPermissions "
        "WHERE Parent.Name = 'Merge_Test' ORDER BY Field"
    )["records"]
    assert [r["Field"] for r in rows] == fields and rows[0]["Parent"]["Name"] == "Merge_Test"
    with pytest.raises(Exception, match="INVALID_CROSS_REFERENCE_KEY"):
        md.PermissionSet.upsert(
            [
                md.PermissionSet(
                    fullName="Merge_Test",
                    label="Merge",
                    fieldPermissions=[
                        md.PermissionSetFieldPermissions(
                            field="Account.Nope__c", readable=True, editable=False
                        )
                    ],
                )
            ]
        )
    listed = {p.fullName for p in md.list_metadata([md.ListMetadataQuery(type="PermissionSet")])}
    assert {"Merge_Test", "Sales_User"} <= listed


def test_metadata_calls_need_a_valid_session(srv: SandboxServer) -> None:
    stale = client(srv)
    stale.session_id = "not-a-session"
    md = metadata(stale)
    with pytest.raises(Fault, match="INVALID_SESSION_ID"):
        md.CustomField.read(["Contact.Email"])


def test_users_without_customize_application_are_refused() -> None:
    s = server(customize_application=False)
    try:
        cfg = s.config
        sf = client(
            s, username=cfg.username, password=cfg.password, security_token=cfg.security_token
        )
        md = metadata(sf)
        with pytest.raises(Fault) as fault:
            md.CustomField.create(
                [md.CustomField(fullName="Contact.X__c", label="X", type=md.FieldType("Date"))]
            )
        assert "INSUFFICIENT_ACCESS" in str(fault.value)
        assert "ModifyAllData or ModifyMetadata" in str(fault.value)
        with pytest.raises(SalesforceMalformedRequest) as exc:
            sf.PermissionSet.create({"Name": "Nope", "Label": "Nope"})
        assert exc.value.content[0]["errorCode"] == "INSUFFICIENT_ACCESS_OR_READONLY"
        set_id = sf.query("SELECT Id FROM PermissionSet LIMIT 1")["records"][0]["Id"]
        with pytest.raises(SalesforceMalformedRequest) as exc:
            sf.PermissionSetAssignment.create(
                {"AssigneeId": _user(sf, s), "PermissionSetId": set_id}
            )
        assert exc.value.content[0]["errorCode"] == "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY"
    finally:
        s.stop()


def test_field_permissions_records_grant_access_too(
    srv: SandboxServer, sf: Salesforce, md: Any
) -> None:
    md.CustomField.create(
        [
            md.CustomField(
                fullName="Opportunity.Segsync_Value__c",
                label="Value",
                type=md.FieldType("Currency"),
                precision=16,
                scale=2,
            )
        ]
    )
    created = sf.PermissionSet.create({"Name": "Rest_Grants", "Label": "REST grants"})
    perm = sf.FieldPermissions.create(
        {
            "ParentId": created["id"],
            "SobjectType": "Opportunity",
            "Field": "Opportunity.Segsync_Value__c",
            "PermissionsRead": True,
            "PermissionsEdit": True,
        }
    )
    assert perm["id"].startswith("01k")
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.FieldPermissions.create(
            {
                "ParentId": created["id"],
                "SobjectType": "Opportunity",
                "Field": "Opportunity.Segsync_Value__c",
                "PermissionsRead": False,
                "PermissionsEdit": True,
            }
        )
    assert exc.value.content[0]["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"
    sf.PermissionSetAssignment.create(
        {"AssigneeId": _user(sf, srv), "PermissionSetId": created["id"]}
    )
    opp = sf.query("SELECT Id FROM Opportunity LIMIT 1")["records"][0]["Id"]
    assert sf.Opportunity.update(opp, {"Segsync_Value__c": 1234.5}) == 204
    assert sf.Opportunity.get(opp)["Segsync_Value__c"] == 1234.5
    sf.FieldPermissions.update(perm["id"], {"PermissionsEdit": False})
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Opportunity.update(opp, {"Segsync_Value__c": 1})
    assert exc.value.content[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
