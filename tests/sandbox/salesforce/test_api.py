"""The sandbox's Salesforce dialect, read and written through unmodified simple-salesforce."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest, SalesforceResourceNotFound

from connectors.sandbox import FaultConfig, SandboxConfig, SandboxServer
from connectors.sandbox.salesforce.ids import make_id, parse_id, suffix, to15
from tests.sandbox.salesforce.support import admin, client, rest, server

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def srv() -> Iterator[SandboxServer]:
    s = server(contacts=4500, companies=300, deals=400)
    yield s
    s.stop()


@pytest.fixture(scope="module")
def sf(srv: SandboxServer) -> Salesforce:
    return client(srv)


def _contact_ids(sf: Salesforce, n: int, where: str = "") -> list[str]:
    soql = f"SELECT Id FROM Contact {where} ORDER BY Id LIMIT {n}"
    return [r["Id"] for r in sf.query(soql)["records"]]


# -- ids -------------------------------------------------------------------------------------


def test_ids_have_key_prefixes_case_safety_suffix_and_creation_order() -> None:
    assert suffix("001A0000006Vm9r") == "IAC"  # Salesforce's documented example
    ids = [make_id("003", n) for n in range(10_000_000, 10_000_000 + 5000, 7)]
    assert ids == sorted(ids) and all(len(i) == 18 and i.startswith("0035g") for i in ids)
    some = ids[3]
    assert parse_id(some) == parse_id(some.lower()) == parse_id(some[:15])
    assert to15(some.lower()) == some[:15]
    assert parse_id(some, "001") is None and parse_id("not-an-id") is None


# -- reading ----------------------------------------------------------------------------------


def test_query_all_iter_pages_every_contact_exactly_once(
    srv: SandboxServer, sf: Salesforce
) -> None:
    seen = [r["Id"] for r in sf.query_all_iter("SELECT Id, Email FROM Contact")]
    live = admin(srv, "health")["records"]["Contact"]
    assert live > 2000  # at least two pages
    assert len(seen) == len(set(seen)) == live
    first = sf.query("SELECT Id FROM Contact")
    assert first["done"] is False and len(first["records"]) == 2000
    assert first["totalSize"] == live
    assert first["nextRecordsUrl"].startswith("/services/data/v59.0/query/0r8")
    small = sf.query("SELECT Id FROM Contact", headers={"Sforce-Query-Options": "batchSize=500"})
    assert len(small["records"]) == 500
    last = sf.query("SELECT Id FROM Contact LIMIT 5")
    assert last["done"] is True and "nextRecordsUrl" not in last


def test_locator_pins_the_snapshot_and_unknown_locators_fail(
    srv: SandboxServer, sf: Salesforce
) -> None:
    first = sf.query("SELECT Id, Title FROM Contact ORDER BY Id")
    later_id = sf.query_more(first["nextRecordsUrl"], identifier_is_url=True)["records"][0]["Id"]
    sf.Contact.update(later_id, {"Title": "Changed Mid-Paging"})
    again = sf.query_more(first["nextRecordsUrl"], identifier_is_url=True)["records"][0]
    assert again["Id"] == later_id and again["Title"] != "Changed Mid-Paging"
    bad = rest(srv, "GET", "/query/0r85g00000000zzAAA-2000")
    assert bad.status_code == 400
    assert bad.json() == [
        {"message": "invalid query locator", "errorCode": "INVALID_QUERY_LOCATOR"}
    ]


def test_parent_fields_nest_and_order_by_systemmodstamp_id(sf: Salesforce) -> None:
    soql = (
        "SELECT Id, Name, SystemModstamp, Account.Name, Account.Industry, Account.Owner.Name "
        "FROM Contact WHERE CreatedDate < TODAY ORDER BY SystemModstamp, Id LIMIT 300"
    )
    records = sf.query(soql)["records"]
    keys = [(r["SystemModstamp"], r["Id"]) for r in records]
    assert keys == sorted(keys)
    assert all(r["SystemModstamp"].endswith(".000+0000") for r in records)
    with_account = next(r for r in records if r["Account"] is not None)
    assert with_account["Account"]["attributes"]["type"] == "Account"
    assert with_account["Account"]["Owner"]["attributes"]["type"] == "User"
    assert isinstance(with_account["Account"]["Owner"]["Name"], str)
    assert (
        records[0]["attributes"]["url"]
        == f"/services/data/v59.0/sobjects/Contact/{records[0]['Id']}"
    )


def test_query_errors_use_salesforce_codes(srv: SandboxServer, sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.query("SELECT Nope__c FROM Contact")
    assert exc.value.content[0]["errorCode"] == "INVALID_FIELD"
    assert "No such column 'Nope__c'" in exc.value.content[0]["message"]
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.query("SELECT Id FROM Nothing__c")
    assert exc.value.content[0]["errorCode"] == "INVALID_TYPE"
    ids = ", ".join(f"'{make_id('003', 10**9 + i)}'" for i in range(900))
    too_long = rest(
        srv, "GET", "/query/", params={"q": f"SELECT Id FROM Contact WHERE Id IN ({ids})"}
    )
    assert too_long.status_code == 414


def test_query_all_sees_soft_deleted_records(srv: SandboxServer, sf: Salesforce) -> None:
    deleted = admin(srv, "delete", {"object_type": "contacts", "count": 3})
    assert deleted["count"] == 3 and all(i.startswith("003") for i in deleted["ids"])
    id_list = ", ".join(f"'{i}'" for i in deleted["ids"])
    soql = f"SELECT Id, IsDeleted, SystemModstamp FROM Contact WHERE Id IN ({id_list})"
    assert sf.query(soql)["totalSize"] == 0
    everything = sf.query_all(soql, include_deleted=True)["records"]
    assert {r["Id"] for r in everything} == set(deleted["ids"])
    assert all(r["IsDeleted"] is True for r in everything)
    with pytest.raises(SalesforceResourceNotFound):
        sf.Contact.get(deleted["ids"][0])
    with pytest.raises(SalesforceResourceNotFound) as exc:
        sf.Contact.update(deleted["ids"][0], {"Title": "x"})
    assert exc.value.content[0]["errorCode"] == "ENTITY_IS_DELETED"


def test_deleting_an_account_takes_its_contacts_and_opportunities(
    srv: SandboxServer, sf: Salesforce
) -> None:
    account = sf.query(
        "SELECT AccountId FROM Contact WHERE AccountId != null ORDER BY Id DESC LIMIT 1"
    )["records"][0]["AccountId"]
    before = sf.query(f"SELECT COUNT() FROM Contact WHERE AccountId = '{account}'")["totalSize"]
    assert before > 0
    sf.Account.delete(account)
    assert sf.query(f"SELECT COUNT() FROM Contact WHERE AccountId = '{account}'")["totalSize"] == 0
    gone = sf.query_all(
        f"SELECT Id FROM Contact WHERE AccountId = '{account}' AND IsDeleted = true",
        include_deleted=True,
    )
    assert gone["totalSize"] == before


def test_mutate_changes_fields_and_bumps_whole_second_timestamps(
    srv: SandboxServer, sf: Salesforce
) -> None:
    stamp = "2030-01-02T03:04:05.678Z"
    changed = admin(srv, "mutate", {"object_type": "accounts", "count": 4, "timestamp": stamp})
    assert changed["object_type"] == "Account" and changed["timestamp"] % 1000 == 0
    ids = ", ".join(f"'{i}'" for i in changed["ids"])
    rows = sf.query(
        f"SELECT Id, SystemModstamp, LastModifiedDate FROM Account WHERE Id IN ({ids})"
    )["records"]
    assert {r["SystemModstamp"] for r in rows} == {"2030-01-02T03:04:05.000+0000"}
    assert {r["LastModifiedDate"] for r in rows} == {"2030-01-02T03:04:05.000+0000"}
    since = sf.query("SELECT COUNT() FROM Account WHERE SystemModstamp >= 2030-01-02T03:04:05Z")[
        "totalSize"
    ]
    assert since == 4
    view = admin(srv, f"records/accounts/{changed['ids'][0]}")
    assert view["properties"]["SystemModstamp"] == "2030-01-02T03:04:05.000+0000"


# -- writing ----------------------------------------------------------------------------------


def test_single_record_writes_validate_like_salesforce(srv: SandboxServer, sf: Salesforce) -> None:
    created = sf.Contact.create({"LastName": "Okafor", "Email": "o@example.com"})
    assert created["success"] is True and created["id"].startswith("003")
    assert sf.Contact.update(created["id"], {"Title": "VP Sales"}) == 204
    record = sf.Contact.get(created["id"])
    assert record["Title"] == "VP Sales" and record["OwnerId"].startswith("005")

    def error(data: dict[str, Any]) -> dict[str, Any]:
        with pytest.raises(SalesforceMalformedRequest) as exc:
            sf.Contact.update(created["id"], data)
        result: dict[str, Any] = exc.value.content[0]
        return result

    assert error({"Nope__c": 1}) == {
        "message": "No such column 'Nope__c' on sobject of type Contact",
        "errorCode": "INVALID_FIELD",
    }
    assert error({"Title": "x" * 129})["errorCode"] == "STRING_TOO_LONG"
    assert error({"Title": "x" * 129})["fields"] == ["Title"]
    assert error({"Birthdate": "31/01/2024"})["errorCode"] == "JSON_PARSER_ERROR"
    assert error({"Email_Opens__c": "many"})["errorCode"] == "JSON_PARSER_ERROR"
    locked = error({"SystemModstamp": "2024-01-01T00:00:00Z", "Name": "x"})
    assert locked["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    assert set(locked["fields"]) == {"SystemModstamp", "Name"}
    assert error({"LastName": None})["errorCode"] == "REQUIRED_FIELD_MISSING"
    assert error({"AccountId": "001xyz"})["errorCode"] == "MALFORMED_ID"
    assert error({"Email": "not an email"})["errorCode"] == "INVALID_EMAIL_ADDRESS"
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Opportunity.create({"Name": "No stage"})
    assert exc.value.content[0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    assert set(exc.value.content[0]["fields"]) == {"CloseDate", "StageName"}


def test_saving_unchanged_values_still_bumps_systemmodstamp(
    srv: SandboxServer, sf: Salesforce
) -> None:
    record_id = _contact_ids(sf, 1, "WHERE Title != null")[0]
    admin(srv, "mutate", {"object_type": "contacts", "ids": [record_id], "timestamp": "2020-01-01"})
    before = sf.Contact.get(record_id)
    assert before["SystemModstamp"] == "2020-01-01T00:00:00.000+0000"
    changes = admin(srv, f"records/contacts/{record_id}")["changes"]
    sf.Contact.update(record_id, {"Title": before["Title"]})
    after = sf.Contact.get(record_id)
    assert after["SystemModstamp"] > before["SystemModstamp"]
    assert after["LastModifiedDate"] == after["SystemModstamp"]
    me = sf.query(f"SELECT Id FROM User WHERE Username = '{srv.config.username}'")["records"]
    assert after["LastModifiedById"] == me[0]["Id"]
    assert admin(srv, f"records/contacts/{record_id}")["changes"] == changes  # nothing changed


def test_opportunity_stage_drives_read_only_flags(sf: Salesforce) -> None:
    opp = sf.query("SELECT Id FROM Opportunity WHERE IsClosed = false LIMIT 1")["records"][0]
    sf.Opportunity.update(opp["Id"], {"StageName": "Closed Won"})
    won = sf.Opportunity.get(opp["Id"])
    assert (won["IsClosed"], won["IsWon"], won["Probability"]) == (True, True, 100.0)
    assert won["ForecastCategoryName"] == "Closed"
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Opportunity.update(opp["Id"], {"IsWon": False})
    assert exc.value.content[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"


def test_converted_leads_are_read_only(sf: Salesforce) -> None:
    lead = sf.query(
        "SELECT Id, ConvertedContactId, ConvertedContact.Email FROM Lead "
        "WHERE IsConverted = true LIMIT 1"
    )["records"][0]
    assert lead["ConvertedContactId"].startswith("003")
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Lead.update(lead["Id"], {"Title": "Anything"})
    assert exc.value.content[0] == {
        "message": "cannot reference converted lead",
        "errorCode": "CANNOT_UPDATE_CONVERTED_LEAD",
    }
    open_lead = sf.query("SELECT Id FROM Lead WHERE IsConverted = false LIMIT 1")["records"][0]
    assert sf.Lead.update(open_lead["Id"], {"Title": "Analyst"}) == 204


def test_collections_report_per_record_results_in_input_order(
    srv: SandboxServer, sf: Salesforce
) -> None:
    a, b = _contact_ids(sf, 2, "WHERE Title != null")
    lead = sf.query("SELECT Id FROM Lead WHERE IsConverted = true LIMIT 1")["records"][0]["Id"]
    records = [
        {"attributes": {"type": "Contact"}, "id": a, "Title": "Head of Data"},
        {"attributes": {"type": "Contact"}, "id": b, "Title": "y" * 200},
        {"attributes": {"type": "Lead"}, "id": lead, "Title": "z"},
        {"attributes": {"type": "Contact"}, "id": make_id("003", 5), "Title": "z"},
        {"attributes": {"type": "Contact"}, "Title": "no id"},
    ]
    results = sf.restful(
        "composite/sobjects", method="PATCH", json={"allOrNone": False, "records": records}
    )
    assert [r["success"] for r in results] == [True, False, False, False, False]
    assert results[0] == {"id": a, "success": True, "errors": []}
    codes = [r["errors"][0]["statusCode"] for r in results[1:]]
    assert codes == [
        "STRING_TOO_LONG",
        "CANNOT_UPDATE_CONVERTED_LEAD",
        "INVALID_CROSS_REFERENCE_KEY",
        "MISSING_ARGUMENT",
    ]
    assert sf.Contact.get(a)["Title"] == "Head of Data"

    rolled = sf.restful(
        "composite/sobjects",
        method="PATCH",
        json={"allOrNone": True, "records": [{**records[0], "Title": "Never Saved"}, records[1]]},
    )
    assert rolled[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert rolled[1]["errors"][0]["statusCode"] == "STRING_TOO_LONG"
    assert sf.Contact.get(a)["Title"] == "Head of Data"

    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.restful(
            "composite/sobjects",
            method="PATCH",
            json={"records": [{**records[0]}] * 201},
        )
    assert exc.value.content[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.restful(
            "composite/sobjects",
            method="PATCH",
            json={"records": [{**records[0], "Nope__c": 1}]},
        )
    assert exc.value.content[0]["errorCode"] == "INVALID_FIELD"

    created = sf.restful(
        "composite/sobjects",
        method="POST",
        json={
            "records": [
                {"attributes": {"type": "Account"}, "Name": "Collections Inc"},
                {"attributes": {"type": "Account"}},
            ]
        },
    )
    assert created[0]["success"] and created[0]["id"].startswith("001")
    assert created[1]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    fetched = sf.restful(
        "composite/sobjects/Contact", params={"ids": f"{a},{make_id('003', 5)}", "fields": "Title"}
    )
    assert fetched[0]["Title"] == "Head of Data" and fetched[1] is None


def test_reject_fault_fails_the_same_records_every_time() -> None:
    s = server(faults=FaultConfig.parse("reject=0.5"))
    try:
        sf = client(s)
        ids = [r["Id"] for r in sf.query("SELECT Id FROM Contact LIMIT 30")["records"]]
        body = {
            "records": [{"attributes": {"type": "Contact"}, "id": i, "Title": "T"} for i in ids]
        }
        first = sf.restful("composite/sobjects", method="PATCH", json=body)
        second = sf.restful("composite/sobjects", method="PATCH", json=body)
        failed = [r["success"] for r in first]
        assert failed == [r["success"] for r in second] and 0 < failed.count(False) < 30
        codes = {r["errors"][0]["statusCode"] for r in first if not r["success"]}
        assert codes == {"FIELD_CUSTOM_VALIDATION_EXCEPTION"}
    finally:
        s.stop()


# -- discovery, limits, stats ---------------------------------------------------------------------


def test_versions_resources_describe_and_limits(srv: SandboxServer, sf: Salesforce) -> None:
    versions = requests.get(f"{srv.url}/services/data/", timeout=10).json()  # no session needed
    assert {"label": "Winter '24", "url": "/services/data/v59.0", "version": "59.0"} in versions
    assert rest(srv, "GET", "/").json()["query"] == "/services/data/v59.0/query"
    names = {o["name"] for o in sf.describe()["sobjects"]}
    assert {"Account", "Contact", "Lead", "Opportunity", "OpportunityContactRole"} <= names
    fields = {f["name"]: f for f in sf.Account.describe()["fields"]}
    assert "Technology" in [p["value"] for p in fields["Industry"]["picklistValues"]]
    assert fields["Industry"]["type"] == "picklist" and fields["Name"]["nillable"] is False
    assert fields["NumberOfEmployees"]["type"] == "int"
    assert fields["Id"]["updateable"] is False and fields["BillingCountry"]["length"] == 80
    limits = sf.limits()
    assert limits["DailyApiRequests"]["Max"] == srv.config.daily_limit
    assert limits["DailyBulkApiBatches"]["Max"] == 15_000
    assert sf.api_usage["api-usage"].total == srv.config.daily_limit
    assert rest(srv, "GET", "/sobjects/Nothing/describe").status_code == 404
    assert requests.get(f"{srv.url}/services/data/v12.0/limits", timeout=10).status_code == 401


def test_stats_use_templates_with_normalised_versions(srv: SandboxServer, sf: Salesforce) -> None:
    requests.post(f"{srv.url}/_sandbox/reset-stats", timeout=10)
    record_id = _contact_ids(sf, 1)[0]
    sf.query("SELECT Id FROM Contact LIMIT 1")
    sf.Contact.get(record_id)
    rest(srv, "GET", "/query", params={"q": "SELECT Id FROM Lead LIMIT 1"})
    requests.get(
        f"{srv.url}/services/data/v62.0/sobjects/contact/{record_id}",
        headers={"Authorization": "OAuth sandbox-token"},
        timeout=10,
    )
    stats = admin(srv, "stats")["requests"]
    assert stats["GET /services/data/vXX.X/query"] == 3
    assert stats["GET /services/data/vXX.X/sobjects/Contact/{id}"] == 2


def test_admin_read_back_and_unknown_ids(srv: SandboxServer, sf: Salesforce) -> None:
    record_id = _contact_ids(sf, 1)[0]
    view = admin(srv, f"records/Contact/{record_id.lower()}")  # any case of an 18-character id
    assert view["id"] == record_id and view["object_type"] == "Contact"
    assert view["properties"]["Id"] == record_id
    missing = requests.get(f"{srv.url}/_sandbox/records/contacts/003xyz", timeout=10)
    assert missing.status_code == 404
    bad = requests.post(
        f"{srv.url}/_sandbox/delete", json={"object_type": "widgets", "count": 1}, timeout=10
    )
    assert bad.status_code == 400


def test_unknown_routes_and_methods_answer_in_rest_shape(srv: SandboxServer) -> None:
    missing = rest(srv, "GET", "/nothing/here")
    assert missing.status_code == 404 and missing.json()[0]["errorCode"] == "NOT_FOUND"
    wrong = rest(srv, "PUT", "/query")
    assert wrong.status_code == 405 and wrong.json()[0]["errorCode"] == "METHOD_NOT_ALLOWED"


def test_get_updated_and_get_deleted_replicate_by_systemmodstamp(
    srv: SandboxServer, sf: Salesforce
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    hour_ago = (now - timedelta(hours=1)).isoformat()
    changed = admin(srv, "mutate", {"object_type": "leads", "count": 3, "timestamp": hour_ago})
    gone = admin(srv, "delete", {"object_type": "leads", "count": 2, "timestamp": hour_ago})
    start, end = now - timedelta(hours=2), now
    updated = sf.Lead.updated(start, end)
    assert set(changed["ids"]) - set(gone["ids"]) <= set(updated["ids"])
    assert not set(gone["ids"]) & set(updated["ids"])
    assert updated["latestDateCovered"].endswith(":00.000+0000")
    deleted = sf.Lead.deleted(start, end)
    assert {r["id"] for r in deleted["deletedRecords"]} >= set(gone["ids"])
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Lead.updated(now - timedelta(days=31), now)
    assert exc.value.content[0]["errorCode"] == "INVALID_REPLICATION_DATE"


def test_delete_endpoint_archives_hubspot_records_too() -> None:
    hub = SandboxServer(SandboxConfig(contacts=20, companies=5, deals=5)).start()
    try:
        deleted = admin(hub, "delete", {"object_type": "contacts", "count": 2})
        assert deleted["object_type"] == "contacts" and len(deleted["ids"]) == 2
        view = admin(hub, f"records/contacts/{deleted['ids'][0]}")
        assert view["archived"] is True
        assert admin(hub, "health")["records"]["contacts"] == 18
    finally:
        hub.stop()


def test_edit_and_values_speak_salesforce(srv: SandboxServer, sf: Salesforce) -> None:
    ids = _contact_ids(sf, 2, "WHERE Title != 'Hand Edited'")
    edited = admin(
        srv, "edit", {"object_type": "contacts", "ids": ids, "properties": {"Title": "Hand Edited"}}
    )
    assert sorted(edited["ids"]) == sorted(ids)
    rows = sf.query(f"SELECT Id, Title FROM Contact WHERE Id IN ('{ids[0]}', '{ids[1]}')")
    assert {r["Title"] for r in rows["records"]} == {"Hand Edited"}
    refused = requests.post(
        f"{srv.url}/_sandbox/edit",
        json={"object_type": "contacts", "ids": ids[:1], "properties": {"NoSuchField__c": "x"}},
        timeout=10,
    )
    assert refused.status_code == 400 and "NoSuchField__c" in refused.json()["error"]
    page = admin(srv, "values", {"object_type": "contacts", "properties": ["Title"], "limit": 5})
    assert len(page["ids"]) == 5 and all(len(i) == 18 for i in page["ids"])
    assert page["next"] is not None
