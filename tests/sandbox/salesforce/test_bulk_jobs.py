"""Salesforce sandbox: Bulk API 2.0 ingest jobs, through simple-salesforce and raw HTTP."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceOperationError

from connectors.sandbox import FaultConfig, SandboxServer
from tests.sandbox.salesforce.support import admin, client, metadata, rest, server

pytestmark = pytest.mark.integration
TIER = "Segsync_Tier__c"


@pytest.fixture(scope="module")
def srv() -> Iterator[SandboxServer]:
    s = server(contacts=400, companies=40, deals=40, bulk_latency_seconds=0.25)
    yield s
    s.stop()


@pytest.fixture(scope="module")
def sf(srv: SandboxServer) -> Salesforce:
    """A client whose integration user can see and edit the restricted picklist ``TIER``."""
    cfg = srv.config
    sf = client(
        srv, username=cfg.username, password=cfg.password, security_token=cfg.security_token
    )
    md = metadata(sf)
    values = [md.CustomValue(fullName=v, label=v, default=False) for v in ("Gold", "Silver")]
    md.CustomField.create(
        [
            md.CustomField(
                fullName=f"Contact.{TIER}",
                label="Tier",
                type=md.FieldType("Picklist"),
                valueSet=md.ValueSet(
                    restricted=True,
                    valueSetDefinition=md.ValueSetValuesDefinition(sorted=False, value=values),
                ),
            )
        ]
    )
    grant = md.PermissionSetFieldPermissions(field=f"Contact.{TIER}", readable=True, editable=True)
    md.PermissionSet.create(
        [md.PermissionSet(fullName="Bulk_Test", label="Bulk test", fieldPermissions=[grant])]
    )
    set_id = sf.query("SELECT Id FROM PermissionSet WHERE Name = 'Bulk_Test'")["records"][0]["Id"]
    user = sf.query(f"SELECT Id FROM User WHERE Username = '{cfg.username}'")["records"][0]["Id"]
    sf.PermissionSetAssignment.create({"AssigneeId": user, "PermissionSetId": set_id})
    return sf


def _contacts(sf: Salesforce, n: int, offset: int) -> list[str]:
    rows = sf.query(f"SELECT Id FROM Contact ORDER BY Id LIMIT {n} OFFSET {offset}")["records"]
    return [r["Id"] for r in rows]


def _csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_simple_salesforce_bulk_update_with_partial_failures(sf: Salesforce) -> None:
    ids = _contacts(sf, 6, 0)
    tiers = ["Gold", "Silver", "Platinum", "Gold", "", "#N/A"]
    sf.Contact.update(ids[5], {TIER: "Gold"})
    records = [{"Id": i, TIER: t} for i, t in zip(ids, tiers, strict=True)]
    started = time.monotonic()
    result = sf.bulk2.Contact.update(records=records, wait=0.05)
    assert time.monotonic() - started >= 0.25  # processing is not instant
    assert result[0]["numberRecordsProcessed"] == 6 and result[0]["numberRecordsFailed"] == 1
    job_id = result[0]["job_id"]
    assert job_id.startswith("750")
    failed = _csv(sf.bulk2.Contact.get_failed_records(job_id))
    assert len(failed) == 1 and failed[0]["sf__Id"] == ids[2]
    assert failed[0]["sf__Error"] == (
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST:bad value for restricted picklist field: "
        f"Platinum:{TIER} --"
    )
    ok = _csv(sf.bulk2.Contact.get_successful_records(job_id))
    assert [r["sf__Id"] for r in ok] == [ids[0], ids[1], ids[3], ids[4], ids[5]]
    assert {r["sf__Created"] for r in ok} == {"false"}
    assert sf.bulk2.Contact.get_unprocessed_records(job_id).strip() in (f"Id,{TIER}", f"{TIER},Id")
    tier_of = {
        r["Id"]: r[TIER]
        for r in sf.query(f"SELECT Id, {TIER} FROM Contact WHERE Id IN ('{ids[4]}', '{ids[5]}')")[
            "records"
        ]
    }
    assert tier_of == {ids[4]: None, ids[5]: None}  # blank: unchanged (was null); #N/A: cleared
    assert (
        sf.query(f"SELECT {TIER} FROM Contact WHERE Id = '{ids[0]}'")["records"][0][TIER] == "Gold"
    )


def test_job_states_progress_over_time(srv: SandboxServer) -> None:
    s = server(contacts=300, bulk_latency_seconds=0.2, bulk_rows_per_second=400.0)
    try:
        sf = client(s)
        ids = [r["Id"] for r in sf.query("SELECT Id FROM Contact LIMIT 120")["records"]]
        job = rest(
            s, "POST", "/jobs/ingest", json={"object": "Contact", "operation": "update"}
        ).json()
        assert job["state"] == "Open" and job["contentUrl"].endswith("/batches")
        body = "Id,Title\n" + "".join(f"{i},Bulk Title\n" for i in ids)
        upload = rest(
            s,
            "PUT",
            f"/jobs/ingest/{job['id']}/batches",
            data=body,
            headers={"Content-Type": "text/csv"},
        )
        assert upload.status_code == 201 and upload.content == b""
        early = rest(s, "GET", f"/jobs/ingest/{job['id']}/successfulResults/")
        assert early.status_code == 412 and early.json()[0]["errorCode"] == "JOB_NOT_COMPLETE"
        closed = rest(s, "PATCH", f"/jobs/ingest/{job['id']}", json={"state": "UploadComplete"})
        assert closed.json()["state"] == "UploadComplete"
        states: list[str] = []
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            info = rest(s, "GET", f"/jobs/ingest/{job['id']}").json()
            if not states or states[-1] != info["state"]:
                states.append(info["state"])
            if info["state"] == "JobComplete":
                break
            time.sleep(0.03)
        assert states == ["UploadComplete", "InProgress", "JobComplete"]
        assert info["numberRecordsProcessed"] == 120 and info["numberRecordsFailed"] == 0
        listed = rest(s, "GET", "/jobs/ingest").json()
        assert [j["id"] for j in listed["records"]] == [job["id"]] and listed["done"] is True
        assert rest(s, "DELETE", f"/jobs/ingest/{job['id']}").status_code == 204
        assert rest(s, "GET", f"/jobs/ingest/{job['id']}").status_code == 404
        stats = admin(s, "stats")["requests"]
        assert stats["PUT /services/data/vXX.X/jobs/ingest/{jobId}/batches"] == 1
        assert (
            sf.query(f"SELECT Title FROM Contact WHERE Id = '{ids[0]}'")["records"][0]["Title"]
            == "Bulk Title"
        )
    finally:
        s.stop()


def _job(srv: SandboxServer, operation: str = "update", **extra: Any) -> str:
    body = {"object": "Contact", "operation": operation, "lineEnding": "LF", **extra}
    answer = rest(srv, "POST", "/jobs/ingest", json=body)
    assert answer.status_code == 200, answer.text
    job_id: str = answer.json()["id"]
    return job_id


def _upload(srv: SandboxServer, job_id: str, body: str) -> requests.Response:
    return rest(
        srv,
        "PUT",
        f"/jobs/ingest/{job_id}/batches",
        data=body.encode(),
        headers={"Content-Type": "text/csv; charset=UTF-8"},
    )


def _finish(srv: SandboxServer, job_id: str) -> dict[str, Any]:
    rest(srv, "PATCH", f"/jobs/ingest/{job_id}", json={"state": "UploadComplete"})
    for _ in range(200):
        info: dict[str, Any] = rest(srv, "GET", f"/jobs/ingest/{job_id}").json()
        if info["state"] in ("JobComplete", "Failed", "Aborted"):
            return info
        time.sleep(0.02)
    raise AssertionError("job did not finish")


def test_unreadable_csv_fails_the_job(srv: SandboxServer, sf: Salesforce) -> None:
    ids = _contacts(sf, 2, 20)
    job_id = _job(srv)
    _upload(srv, job_id, f"Id,Nope__c\n{ids[0]},x\n{ids[1]},y\n")
    info = _finish(srv, job_id)
    assert info["state"] == "Failed"
    assert info["errorMessage"] == "InvalidBatch : Field name not found : Nope__c"
    unprocessed = rest(srv, "GET", f"/jobs/ingest/{job_id}/unprocessedrecords/").text
    assert unprocessed.splitlines() == ["Id,Nope__c", f'"{ids[0]}","x"', f'"{ids[1]}","y"']
    crlf = _job(srv)
    _upload(srv, crlf, f"Id,Title\r\n{ids[0]},x\r\n")
    assert _finish(srv, crlf)["errorMessage"] == (
        "ClientInputError : LineEnding is invalid on user data. Current LineEnding setting is LF"
    )
    quote = _job(srv)
    _upload(srv, quote, f'Id,Title\n{ids[0]},"unterminated\n')
    assert _finish(srv, quote)["errorMessage"].startswith("InvalidBatch : Failed to parse CSV")
    with pytest.raises(SalesforceOperationError):
        sf.bulk2.Contact.update(records=[{"Id": ids[0], "Nope__c": "x"}], wait=0.05)


def test_state_rules_abort_and_single_upload(srv: SandboxServer, sf: Salesforce) -> None:
    ids = _contacts(sf, 1, 30)
    job_id = _job(srv)
    assert _upload(srv, job_id, f"Id,Title\n{ids[0]},x\n").status_code == 201
    again = _upload(srv, job_id, f"Id,Title\n{ids[0]},y\n")
    assert again.status_code == 409 and again.json()[0]["errorCode"] == "INVALIDJOBSTATE"
    aborted = rest(srv, "PATCH", f"/jobs/ingest/{job_id}", json={"state": "Aborted"})
    assert aborted.json()["state"] == "Aborted"
    late = _upload(srv, job_id, "Id,Title\n")
    assert late.status_code == 409
    reopened = rest(srv, "PATCH", f"/jobs/ingest/{job_id}", json={"state": "UploadComplete"})
    assert reopened.status_code == 409
    assert rest(srv, "GET", f"/jobs/ingest/{job_id}/unprocessedRecords").text.splitlines()[1] == (
        f'"{ids[0]}","x"'
    )
    wrong_type = rest(
        srv,
        "PUT",
        f"/jobs/ingest/{_job(srv)}/batches",
        data="Id\n",
        headers={"Content-Type": "application/json"},
    )
    assert wrong_type.status_code == 415
    unknown = rest(srv, "POST", "/jobs/ingest", json={"object": "Widget__c", "operation": "insert"})
    assert unknown.status_code == 400
    assert rest(srv, "GET", "/jobs/ingest/7505g000000ZZZZAAA").status_code == 404


def test_insert_upsert_and_delete_jobs(srv: SandboxServer, sf: Salesforce) -> None:
    inserted = sf.bulk2.Contact.insert(
        records=[{"LastName": "Bulk", "Email": f"bulk{i}@example.com"} for i in range(3)]
        + [{"LastName": "", "Email": "nobody@example.com"}],
        wait=0.05,
    )
    assert inserted[0]["numberRecordsFailed"] == 1
    created = _csv(sf.bulk2.Contact.get_successful_records(inserted[0]["job_id"]))
    assert {r["sf__Created"] for r in created} == {"true"}
    new_ids = [r["sf__Id"] for r in created]
    failed = _csv(sf.bulk2.Contact.get_failed_records(inserted[0]["job_id"]))
    assert failed[0]["sf__Error"].startswith("REQUIRED_FIELD_MISSING:")
    upserted = sf.bulk2.Contact.upsert(
        records=[{"Id": new_ids[0], "Title": "Upserted"}, {"Id": "", "LastName": "Fresh"}],
        external_id_field="Id",
        wait=0.05,
    )
    assert upserted[0]["numberRecordsFailed"] == 0
    assert sf.Contact.get(new_ids[0])["Title"] == "Upserted"
    deleted = sf.bulk2.Contact.delete(records=[{"Id": i} for i in new_ids], wait=0.05)
    assert deleted[0]["numberRecordsProcessed"] == 3
    assert sf.query(f"SELECT COUNT() FROM Contact WHERE Id = '{new_ids[1]}'")["totalSize"] == 0


def test_rejected_records_fail_row_by_row() -> None:
    s = server(contacts=80, faults=FaultConfig.parse("reject=0.3"))
    try:
        sf = client(s)
        ids = [r["Id"] for r in sf.query("SELECT Id FROM Contact LIMIT 40")["records"]]
        result = sf.bulk2.Contact.update(records=[{"Id": i, "Title": "T"} for i in ids], wait=0.05)
        failed = _csv(sf.bulk2.Contact.get_failed_records(result[0]["job_id"]))
        assert 0 < len(failed) == result[0]["numberRecordsFailed"] < 40
        assert all(r["sf__Error"].startswith("FIELD_CUSTOM_VALIDATION_EXCEPTION:") for r in failed)
        assert sf.limits()["DailyBulkApiBatches"]["Remaining"] == 14_999
    finally:
        s.stop()
