"""Unit tests of the Salesforce connector against `responses` mocks of Salesforce's API."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from pydantic import SecretStr

from connectors.base import BudgetExhaustedError, Cursor, FieldWrite, WriteStatus
from connectors.retrying import RetryPolicy
from connectors.salesforce.connector import SalesforceConfig, SalesforceConnector
from connectors.salesforce.session import SalesforceAuth

HOST = "https://acme.my.salesforce.com"
API = f"{HOST}/services/data/v59.0"
FAST = RetryPolicy(max_attempts=3, max_elapsed=10, initial_wait=0.001, max_wait=0.01)
LIMIT = {"Sforce-Limit-Info": "api-usage=100/15000"}


def connector(**overrides: Any) -> SalesforceConnector:
    auth = overrides.pop(
        "auth", SalesforceAuth(instance_url=HOST, session_id=SecretStr("00D!session-secret"))
    )
    config = SalesforceConfig(auth=auth, retry=FAST, lag_seconds=0, bulk_poll_interval=0.001)
    return SalesforceConnector(replace(config, **overrides))


def contact(i: int, stamp: str = "2026-01-01T00:00:00.000+0000") -> dict[str, Any]:
    record_id = f"003{i:015d}"
    return {
        "attributes": {
            "type": "Contact",
            "url": f"/services/data/v59.0/sobjects/Contact/{record_id}",
        },
        "Id": record_id,
        "SystemModstamp": stamp,
        "AccountId": "001000000000000001",
        "Email": f"c{i}@example.com",
        "IsDeleted": False,
    }


@responses.activate
def test_full_read_follows_next_records_url_and_keeps_lookups() -> None:
    first = {
        "totalSize": 3,
        "done": False,
        "nextRecordsUrl": "/services/data/v59.0/query/01gXX-2",
        "records": [contact(1), contact(2)],
    }
    last = {"totalSize": 3, "done": True, "records": [contact(3)]}
    responses.add(responses.GET, re.compile(rf"{API}/query/\?q=.*"), json=first, headers=LIMIT)
    responses.add(responses.GET, f"{API}/query/01gXX-2", json=last, headers=LIMIT)

    records = [r for b in connector().read_all("contact", ["Email"]) for r in b.records]

    assert [r.id for r in records] == [f"003{i:015d}" for i in (1, 2, 3)]
    assert records[0].associations == {"company": ("001000000000000001",)}
    assert records[0].properties["Email"] == "c1@example.com"
    soql = parse_qs(urlsplit(responses.calls[0].request.url).query)["q"][0]
    assert soql == "SELECT Id, SystemModstamp, AccountId, Email FROM Contact ORDER BY Id"


@responses.activate
def test_incremental_read_uses_query_all_and_reports_deletions() -> None:
    gone = contact(2, "2026-01-02T00:00:00.000+0000") | {"IsDeleted": True}
    body = {
        "totalSize": 2,
        "done": True,
        "records": [contact(1, "2026-01-02T00:00:00.000+0000"), gone],
    }
    responses.add(responses.GET, re.compile(rf"{API}/queryAll/\?q=.*"), json=body, headers=LIMIT)
    start = Cursor("contact", datetime(2026, 1, 1, tzinfo=UTC), "003000000000000009")
    batches = list(connector().read_changed(start, ["Email"]))

    soql = parse_qs(urlsplit(responses.calls[0].request.url).query)["q"][0]
    assert (
        "(SystemModstamp > 2026-01-01T00:00:00Z OR (SystemModstamp = 2026-01-01T00:00:00Z "
        "AND Id > '003000000000000009'))" in soql
    )
    assert soql.endswith("ORDER BY SystemModstamp, Id")
    records = batches[0].records
    assert [r.deleted for r in records] == [False, True]
    assert batches[-1].cursor == Cursor(
        "contact", datetime(2026, 1, 2, tzinfo=UTC), "003000000000000002"
    )


@responses.activate
def test_a_query_broken_mid_stream_resumes_after_the_last_handed_on_record() -> None:
    first = {
        "totalSize": 4,
        "done": False,
        "nextRecordsUrl": "/services/data/v59.0/query/01gXX-2",
        "records": [contact(1), contact(2)],
    }
    queries: list[str] = []

    def query(request: Any) -> tuple[int, dict[str, str], str]:
        soql = parse_qs(urlsplit(request.url).query)["q"][0]
        queries.append(soql)
        if len(queries) == 1:
            return 200, LIMIT, json.dumps(first)
        return (
            200,
            LIMIT,
            json.dumps({"totalSize": 2, "done": True, "records": [contact(3), contact(4)]}),
        )

    responses.add_callback(responses.GET, re.compile(rf"{API}/query/\?q=.*"), callback=query)
    responses.add(
        responses.GET,
        f"{API}/query/01gXX-2",
        status=503,
        json=[{"errorCode": "SERVER_UNAVAILABLE", "message": "down"}],
    )

    sf = connector(page_size=2)
    ids = [r.id for b in sf.read_all("contact", []) for r in b.records]

    assert ids == [f"003{i:015d}" for i in (1, 2, 3, 4)]
    assert "Id > '003000000000000002'" in queries[1]


@responses.activate
def test_collections_map_per_record_failures_in_input_order() -> None:
    def patch(request: Any) -> tuple[int, dict[str, str], str]:
        records = json.loads(request.body)["records"]
        assert json.loads(request.body)["allOrNone"] is False
        answer = []
        for item in records:
            if item["id"].endswith("2"):
                answer.append(
                    {
                        "success": False,
                        "errors": [
                            {
                                "statusCode": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                                "message": "bad value for restricted picklist field: X",
                                "fields": ["Segsync_Tier__c"],
                            }
                        ],
                    }
                )
            elif item["id"].endswith("3"):
                answer.append(
                    {
                        "success": False,
                        "errors": [
                            {
                                "statusCode": "UNABLE_TO_LOCK_ROW",
                                "message": "unable to obtain exclusive access",
                            }
                        ],
                    }
                )
            else:
                answer.append({"id": item["id"], "success": True, "errors": []})
        return 200, LIMIT, json.dumps(answer)

    responses.add_callback(responses.PATCH, f"{API}/composite/sobjects", callback=patch)
    writes = [FieldWrite("contact", f"003{i:015d}", {"Segsync_Tier__c": "X"}) for i in range(1, 5)]

    results = connector().write(writes)

    assert [r.status for r in results] == [
        WriteStatus.OK,
        WriteStatus.REJECTED,
        WriteStatus.RETRYABLE,
        WriteStatus.OK,
    ]
    assert results[1].code == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert "Segsync_Tier__c" in (results[1].reason or "")


def bulk_mocks(final_state: str, failed_csv: str = "", unprocessed_csv: str = "") -> list[str]:
    states = iter(["UploadComplete", "InProgress", final_state])
    seen: list[str] = []
    responses.add(
        responses.POST, f"{API}/jobs/ingest/", json={"id": "750A", "state": "Open"}, headers=LIMIT
    )

    def upload(request: Any) -> tuple[int, dict[str, str], str]:
        seen.append(request.body.decode() if isinstance(request.body, bytes) else request.body)
        return 201, LIMIT, ""

    responses.add_callback(responses.PUT, f"{API}/jobs/ingest/750A/batches", callback=upload)
    responses.add(
        responses.PATCH,
        f"{API}/jobs/ingest/750A",
        json={"id": "750A", "state": "UploadComplete"},
        headers=LIMIT,
    )
    responses.add_callback(
        responses.GET,
        f"{API}/jobs/ingest/750A",
        callback=lambda r: (
            200,
            LIMIT,
            json.dumps(
                {
                    "id": "750A",
                    "state": next(states, final_state),
                    "numberRecordsProcessed": 3,
                    "numberRecordsFailed": 1,
                    "errorMessage": "InvalidBatch : Field name not found : Bogus__c",
                }
            ),
        ),
    )
    ok = (
        '"sf__Id","sf__Created",Id,Segsync_Tier__c\n'
        '"0031","false",003000000000000001,smb\n'
        '"0033","false",003000000000000003,smb\n'
    )
    responses.add(
        responses.GET,
        f"{API}/jobs/ingest/750A/successfulResults/",
        body=ok if final_state == "JobComplete" else "",
        headers=LIMIT,
    )
    responses.add(
        responses.GET, f"{API}/jobs/ingest/750A/failedResults/", body=failed_csv, headers=LIMIT
    )
    responses.add(
        responses.GET,
        f"{API}/jobs/ingest/750A/unprocessedrecords/",
        body=unprocessed_csv,
        headers=LIMIT,
    )
    return seen


@responses.activate
def test_bulk_job_results_are_mapped_back_to_every_record() -> None:
    failed = (
        '"sf__Id","sf__Error",Id,Segsync_Tier__c\n'
        '"","INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST:bad value:Segsync_Tier__c --",'
        "003000000000000002,smb\n"
    )
    unprocessed = "Id,Segsync_Tier__c\n003000000000000004,\n"
    uploads = bulk_mocks("JobComplete", failed, unprocessed)
    writes = [
        FieldWrite("contact", f"003{i:015d}", {"Segsync_Tier__c": "smb"}) for i in range(1, 5)
    ]
    writes[3] = FieldWrite("contact", writes[3].record_id, {"Segsync_Tier__c": ""})

    results = connector(bulk_threshold=2).write(writes)

    assert [r.status for r in results] == [
        WriteStatus.OK,
        WriteStatus.REJECTED,
        WriteStatus.OK,
        WriteStatus.RETRYABLE,
    ]
    assert results[1].code == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert uploads[0].splitlines()[0] == "Id,Segsync_Tier__c"
    assert uploads[0].splitlines()[4] == "003000000000000004,#N/A"  # "" clears the field


@responses.activate
def test_a_failed_bulk_job_rejects_its_rows_with_the_jobs_reason() -> None:
    bulk_mocks("Failed")
    writes = [FieldWrite("contact", f"003{i:015d}", {"Bogus__c": "x"}) for i in range(1, 4)]
    results = connector(bulk_threshold=2).write(writes)
    assert {r.status for r in results} == {WriteStatus.REJECTED}
    assert "Field name not found" in (results[0].reason or "")


@responses.activate
def test_an_aborted_bulk_job_leaves_its_rows_retryable() -> None:
    unprocessed = "Id,Segsync_Tier__c\n" + "".join(f"003{i:015d},smb\n" for i in range(1, 4))
    bulk_mocks("Aborted", unprocessed_csv=unprocessed)
    writes = [
        FieldWrite("contact", f"003{i:015d}", {"Segsync_Tier__c": "smb"}) for i in range(1, 4)
    ]
    results = connector(bulk_threshold=2).write(writes)
    assert {r.status for r in results} == {WriteStatus.RETRYABLE}


@responses.activate
def test_expired_session_is_re_established_and_the_call_repeated() -> None:
    token = {
        "access_token": "token-2",
        "instance_url": HOST,
        "id": f"{HOST}/id/00D/005",
        "token_type": "Bearer",
    }
    responses.add(
        responses.POST, f"{HOST}/services/oauth2/token", json=dict(token, access_token="token-1")
    )
    responses.add(responses.POST, f"{HOST}/services/oauth2/token", json=token)
    responses.add(
        responses.GET,
        f"{API}/limits/",
        status=401,
        json=[{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}],
    )
    responses.add(
        responses.GET,
        f"{API}/limits/",
        json={"DailyApiRequests": {"Max": 15000, "Remaining": 14000}},
        headers=LIMIT,
    )
    auth = SalesforceAuth(
        domain="acme.my", consumer_key="key", consumer_secret=SecretStr("cc-secret")
    )

    usage = connector(auth=auth).check()

    assert usage.daily_max == 15000
    assert responses.calls[-1].request.headers["Authorization"] == "Bearer token-2"


@responses.activate
def test_run_stops_before_spending_more_than_its_share_of_the_daily_limit() -> None:
    page = {
        "totalSize": 4,
        "done": False,
        "nextRecordsUrl": "/services/data/v59.0/query/01gXX-2",
        "records": [contact(1), contact(2)],
    }
    responses.add(
        responses.GET,
        re.compile(rf"{API}/query/\?q=.*"),
        json=page,
        headers={"Sforce-Limit-Info": "api-usage=7500/15000"},
    )
    with pytest.raises(BudgetExhaustedError, match="50%"):
        list(connector(page_size=2).read_all("contact", []))
    assert len(responses.calls) == 1


@responses.activate
def test_request_limit_exceeded_is_not_retried() -> None:
    responses.add(
        responses.GET,
        f"{API}/limits/",
        status=403,
        json=[{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}],
    )
    with pytest.raises(BudgetExhaustedError, match="REQUEST_LIMIT_EXCEEDED"):
        connector().check()
    assert len(responses.calls) == 1


@responses.activate
def test_concurrency_throttle_is_retried_unlike_the_daily_limit() -> None:
    throttled = [
        {
            "message": "ConcurrentPerOrgLongTxn Limit exceeded.",
            "errorCode": "REQUEST_LIMIT_EXCEEDED",
        }
    ]
    responses.add(responses.GET, f"{API}/limits/", status=403, json=throttled)
    responses.add(
        responses.GET, f"{API}/limits/", json={"DailyApiRequests": {"Max": 5, "Remaining": 4}}
    )
    assert connector().check().daily_max == 5
    assert len(responses.calls) == 2


@responses.activate
def test_converted_leads_are_written_on_their_contact() -> None:
    converted = {
        "totalSize": 1,
        "done": True,
        "records": [
            {
                "attributes": {"type": "Lead"},
                "Id": "00Q000000000000001",
                "ConvertedContactId": "003000000000000077",
            }
        ],
    }
    responses.add(responses.GET, re.compile(rf"{API}/query/\?q=.*"), json=converted, headers=LIMIT)
    bodies: list[dict[str, Any]] = []

    def patch(request: Any) -> tuple[int, dict[str, str], str]:
        body = json.loads(request.body)
        bodies.append(body)
        return (
            200,
            LIMIT,
            json.dumps([{"id": r["id"], "success": True, "errors": []} for r in body["records"]]),
        )

    responses.add_callback(responses.PATCH, f"{API}/composite/sobjects", callback=patch)
    writes = [
        FieldWrite("lead", "00Q000000000000001", {"Segsync_Tier__c": "smb"}),
        FieldWrite("lead", "00Q000000000000002", {"Segsync_Tier__c": "smb"}),
    ]
    results = connector().write(writes)

    assert {r.record_id: r.status for r in results} == {
        "00Q000000000000001": WriteStatus.OK,
        "00Q000000000000002": WriteStatus.OK,
    }
    written = {(r["attributes"]["type"], r["id"]) for b in bodies for r in b["records"]}
    assert written == {("Lead", "00Q000000000000002"), ("Contact", "003000000000000077")}
