"""Unit tests of the HubSpot connector against `responses` mocks of HubSpot's API."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
import responses
from pydantic import SecretStr

from connectors.base import (
    AuthError,
    BudgetExhaustedError,
    Cursor,
    FieldSpec,
    FieldWrite,
    RejectedError,
    TransientError,
    WriteStatus,
)
from connectors.hubspot.connector import HubSpotConnector
from connectors.hubspot.options import HubSpotConfig
from connectors.ratelimit import UnlimitedLimiter
from connectors.retrying import RetryPolicy

BASE = "https://api.hubapi.com"
TOKEN = "pat-na1-unit-test-secret-0000"
FAST_RETRY = RetryPolicy(max_attempts=4, max_elapsed=10, initial_wait=0.001, max_wait=0.01)
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def make_connector(**overrides: Any) -> HubSpotConnector:
    config = HubSpotConfig(
        base_url=BASE,
        token=SecretStr(TOKEN),
        retry=FAST_RETRY,
        search_lag_seconds=0,
        **overrides,
    )
    return HubSpotConnector(config, limiter=UnlimitedLimiter(), search_limiter=UnlimitedLimiter())


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def hs_object(record_id: int, modified: datetime, **props: str) -> dict[str, Any]:
    return {
        "id": str(record_id),
        "properties": {
            "hs_object_id": str(record_id),
            "lastmodifieddate": iso(modified),
            "createdate": iso(T0),
            **props,
        },
        "createdAt": iso(T0),
        "updatedAt": iso(modified),
        "archived": False,
    }


# -- full read --------------------------------------------------------------------------


@responses.activate
def test_read_all_follows_after_cursor_and_keeps_associations() -> None:
    pages = {
        None: ([1, 2], "3"),
        "3": ([3, 4], "5"),
        "5": ([5], None),
    }

    def page(request: Any) -> tuple[int, dict[str, str], str]:
        after = request.params.get("after")
        ids, nxt = pages[after]
        results = []
        for i in ids:
            item = hs_object(i, T0, email=f"u{i}@example.com")
            item["associations"] = {"companies": {"results": [{"id": str(100 + i), "type": "x"}]}}
            results.append(item)
        body: dict[str, Any] = {"results": results}
        if nxt:
            body["paging"] = {"next": {"after": nxt, "link": f"?after={nxt}"}}
        return 200, {}, json.dumps(body)

    responses.add_callback(responses.GET, f"{BASE}/crm/v3/objects/contacts", callback=page)
    batches = list(make_connector().read_all("contact", ["email"]))

    assert [r.id for b in batches for r in b.records] == ["1", "2", "3", "4", "5"]
    first = batches[0].records[0]
    assert first.properties["email"] == "u1@example.com"
    assert first.associations == {"company": ("101",)}
    sent = responses.calls[0].request
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"
    assert "limit=100" in sent.url and "properties=email" in sent.url
    assert "associations=companies" in sent.url


# -- incremental read through search ----------------------------------------------------


class FakeSearch:
    """HubSpot search semantics needed by the connector: AND filters, one sort, 10k cap."""

    def __init__(self, records: list[dict[str, Any]], *, honour_sort: bool = True) -> None:
        self.records = records
        self.honour_sort = honour_sort
        self.bodies: list[dict[str, Any]] = []

    @staticmethod
    def _value(record: dict[str, Any], prop: str) -> int:
        raw = record["properties"][prop]
        if prop == "hs_object_id":
            return int(raw)
        return int(datetime.fromisoformat(raw).timestamp() * 1000)

    def __call__(self, request: Any) -> tuple[int, dict[str, str], str]:
        body = json.loads(request.body)
        self.bodies.append(body)
        limit, offset = body.get("limit", 10), int(body.get("after") or 0)
        if limit > 200:
            return 400, {}, json.dumps({"status": "error", "category": "VALIDATION_ERROR"})
        if offset >= 10_000:
            return 400, {}, json.dumps({"status": "error", "message": "past the 10k cap"})
        ops = {
            "EQ": lambda a, b: a == b,
            "GT": lambda a, b: a > b,
            "GTE": lambda a, b: a >= b,
            "LT": lambda a, b: a < b,
            "LTE": lambda a, b: a <= b,
        }
        hits = [
            r
            for r in self.records
            if all(
                ops[f["operator"]](self._value(r, f["propertyName"]), int(f["value"]))
                for group in body.get("filterGroups", [])
                for f in group["filters"]
            )
        ]
        sort = body["sorts"][0]["propertyName"] if self.honour_sort else "hs_object_id"
        if not self.honour_sort:
            hits.sort(key=lambda r: -int(r["id"]))  # e.g. newest first: not what was asked
        else:
            # Ties in the sort are returned in an order the client must not rely on.
            hits.sort(key=lambda r: (self._value(r, sort), -int(r["id"])))
        page = hits[offset : offset + limit]
        answer: dict[str, Any] = {"total": len(hits), "results": page}
        if offset + limit < len(hits):
            answer["paging"] = {"next": {"after": str(offset + limit)}}
        return 200, {}, json.dumps(answer)


def run_incremental(
    fake: FakeSearch, cursor: Cursor, stop_after: int | None = None
) -> tuple[list[str], Cursor]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_callback(responses.POST, f"{BASE}/crm/v3/objects/contacts/search", callback=fake)
        mock.add_callback(
            responses.POST,
            f"{BASE}/crm/v4/associations/contacts/companies/batch/read",
            callback=lambda req: (200, {}, json.dumps({"status": "COMPLETE", "results": []})),
        )
        seen: list[str] = []
        batches: Iterator[Any] = make_connector().read_changed(cursor, ["email"])
        for batch in batches:
            seen.extend(r.id for r in batch.records)
            cursor = batch.cursor
            if stop_after is not None and len(seen) >= stop_after:
                break
    return seen, cursor


def test_incremental_read_is_exact_past_the_10k_cap_with_shared_timestamps() -> None:
    shared = T0 + timedelta(hours=1)
    records = [hs_object(i, shared) for i in range(1, 12_001)]  # 12,000 share one timestamp
    records += [hs_object(12_000 + i, T0 + timedelta(seconds=i)) for i in range(1, 3_001)]
    fake = FakeSearch(records)

    seen, cursor = run_incremental(fake, Cursor("contact"))

    assert len(seen) == len(set(seen)) == 15_000
    assert all(int(b.get("after", "0")) < 10_000 for b in fake.bodies)
    # The shared timestamp is the newest, so the cursor ends inside it at the last id.
    assert (cursor.modified_at, cursor.last_id) == (shared, "12000")


def test_incremental_read_resumes_from_a_mid_tie_cursor_without_gaps_or_repeats() -> None:
    shared = T0 + timedelta(minutes=5)
    records = [hs_object(i, shared) for i in range(1, 1_001)]
    records += [hs_object(2_000 + i, shared + timedelta(seconds=i)) for i in range(1, 501)]
    fake = FakeSearch(records)

    first, cursor = run_incremental(fake, Cursor("contact"), stop_after=400)
    assert cursor.modified_at == shared and cursor.last_id is not None
    rest, final = run_incremental(fake, cursor)

    assert sorted(first + rest, key=int) == [r["id"] for r in records]
    assert len(first) + len(rest) == 1_500
    assert final.modified_at == shared + timedelta(seconds=500)


def test_incremental_read_refuses_to_guess_when_the_sort_is_ignored() -> None:
    records = [hs_object(i, T0 + timedelta(seconds=i)) for i in range(1, 501)]
    with pytest.raises(RejectedError, match="ignored the search sort"):
        run_incremental(FakeSearch(records, honour_sort=False), Cursor("contact"))


def test_incremental_read_from_a_cursor_returns_only_newer_records() -> None:
    records = [hs_object(i, T0 + timedelta(seconds=i)) for i in range(1, 101)]
    fake = FakeSearch(records)
    cursor = Cursor("contact", modified_at=T0 + timedelta(seconds=60), last_id="60")

    seen, _ = run_incremental(fake, cursor)

    assert seen == [str(i) for i in range(61, 101)]


# -- writes -------------------------------------------------------------------------------


def writes(ids: range) -> list[FieldWrite]:
    return [FieldWrite("contact", str(i), {"segsync_tier": "smb"}) for i in ids]


@responses.activate
def test_batch_update_maps_207_to_per_record_results() -> None:
    def update(request: Any) -> tuple[int, dict[str, str], str]:
        inputs = json.loads(request.body)["inputs"]
        ok = [hs_object(int(i["id"]), T0) for i in inputs if i["id"] != "7"]
        body = {
            "status": "COMPLETE",
            "results": ok,
            "numErrors": 1,
            "errors": [
                {
                    "status": "error",
                    "category": "OBJECT_NOT_FOUND",
                    "message": "Could not get some CONTACT objects, they may be deleted.",
                    "context": {"ids": ["7"]},
                }
            ],
            "startedAt": iso(T0),
            "completedAt": iso(T0),
        }
        return 207, {}, json.dumps(body)

    responses.add_callback(
        responses.POST, f"{BASE}/crm/v3/objects/contacts/batch/update", callback=update
    )
    results = make_connector().write(writes(range(1, 11)))

    by_id = {r.record_id: r for r in results}
    assert by_id["7"].status is WriteStatus.REJECTED and by_id["7"].code == "OBJECT_NOT_FOUND"
    assert sum(r.ok for r in results) == 9


def refusing_update(bad: set[str], error: str, named: str) -> tuple[list[int], Any]:
    """A batch/update that refuses any batch holding a ``bad`` id, naming no input."""
    sizes: list[int] = []

    def update(request: Any) -> tuple[int, dict[str, str], str]:
        inputs = json.loads(request.body)["inputs"]
        sizes.append(len(inputs))
        if any(i["id"] in bad for i in inputs):
            detail = [{"isValid": False, "message": named, "error": error, "name": "segsync_tier"}]
            body = {
                "status": "error",
                "message": f"Property values were not valid: {json.dumps(detail)}",
                "category": "VALIDATION_ERROR",
            }
            return 400, {}, json.dumps(body)
        results = [hs_object(int(i["id"]), T0) for i in inputs]
        return 200, {}, json.dumps({"status": "COMPLETE", "results": results})

    responses.add_callback(
        responses.POST, f"{BASE}/crm/v3/objects/contacts/batch/update", callback=update
    )
    return sizes, update


@responses.activate
def test_an_invalid_option_is_isolated_by_the_value_it_names() -> None:
    bad = "137"
    sizes, _ = refusing_update({bad}, "INVALID_OPTION", "smb2 was not one of the allowed options")
    batch = writes(range(101, 301))
    batch[36] = FieldWrite("contact", bad, {"segsync_tier": "smb2"})
    results = make_connector().write(batch)

    assert max(sizes) == 100
    rejected = [r for r in results if not r.ok]
    assert [r.record_id for r in rejected] == [bad]
    assert rejected[0].status is WriteStatus.REJECTED
    assert rejected[0].code == "INVALID_OPTION"
    assert "segsync_tier" in (rejected[0].reason or "")
    assert len(results) == 200
    # The rows without the named value go in one call; the one left is the culprit.
    assert len(sizes) == 3


@responses.activate
def test_blind_isolation_keeps_to_its_allowance_and_defers_the_rest() -> None:
    bad = {"137", "250"}
    message = "The value failed a validation rule set up in this account"
    sizes, _ = refusing_update(bad, "INVALID_PROPERTY_VALUE", message)
    results = make_connector().write(writes(range(101, 301)))

    by_status: dict[WriteStatus, set[str]] = {}
    for r in results:
        by_status.setdefault(r.status, set()).add(r.record_id)
    assert len(results) == 200
    assert len(sizes) <= 2 * 2  # at most the clean calls again (the default allowance)
    assert by_status[WriteStatus.OK].isdisjoint(bad)
    unresolved = by_status.get(WriteStatus.REJECTED, set()) | by_status[WriteStatus.DEFERRED]
    assert bad <= unresolved  # never lost: rejected or kept for the next retry
    # (which half lands, if any, depends on the random cut)
    assert set(by_status) <= {WriteStatus.OK, WriteStatus.REJECTED, WriteStatus.DEFERRED}


@responses.activate
def test_a_larger_allowance_isolates_every_bad_row() -> None:
    bad = {"137", "250"}
    message = "The value failed a validation rule set up in this account"
    sizes, _ = refusing_update(bad, "INVALID_PROPERTY_VALUE", message)
    results = make_connector(isolate_calls_ratio=20.0).write(writes(range(101, 301)))

    rejected = {r.record_id for r in results if not r.ok}
    assert rejected == bad, [r for r in results if not r.ok]
    assert {r.status for r in results if not r.ok} == {WriteStatus.REJECTED}
    # 2 batches + about 1.5 calls per halving, log2(100) halvings per bad row (the cuts
    # are random: 25 extra calls at worst in 2,000 simulated runs)
    assert len(sizes) < 2 + 2 * 2 * 7


@responses.activate
def test_a_small_refused_batch_is_settled_row_by_row_when_the_allowance_covers_it() -> None:
    # Halving four bad rows with four calls to spare ends with two of them deferred to
    # the next retry, then the next: a retry's tail must settle, not linger for hours.
    bad = {"101", "102", "103", "104"}
    message = "The value failed a validation rule set up in this account"
    sizes, _ = refusing_update(bad, "INVALID_PROPERTY_VALUE", message)
    results = make_connector(isolate_calls_ratio=4.0).write(writes(range(101, 105)))

    assert {r.record_id for r in results} == bad
    assert {r.status for r in results} == {WriteStatus.REJECTED}
    assert sizes == [4, 1, 1, 1, 1]


@responses.activate
def test_duplicate_writes_for_one_record_are_merged_into_one_input() -> None:
    seen: list[list[str]] = []

    def update(request: Any) -> tuple[int, dict[str, str], str]:
        inputs = json.loads(request.body)["inputs"]
        seen.append([i["id"] for i in inputs])
        assert inputs[0]["properties"] == {"segsync_a": "1", "segsync_b": "2"}
        return 200, {}, json.dumps({"status": "COMPLETE", "results": [hs_object(5, T0)]})

    responses.add_callback(
        responses.POST, f"{BASE}/crm/v3/objects/contacts/batch/update", callback=update
    )
    results = make_connector().write(
        [
            FieldWrite("contact", "5", {"segsync_a": "1"}),
            FieldWrite("contact", "5", {"segsync_b": "2"}),
        ]
    )
    assert seen == [["5"]] and [r.ok for r in results] == [True]


# -- retries ------------------------------------------------------------------------------

RATE_LIMITED = {
    "status": "error",
    "message": "You have reached your ten_secondly_rolling limit.",
    "errorType": "RATE_LIMIT",
    "policyName": "TEN_SECONDLY_ROLLING",
}


@responses.activate
def test_429_and_5xx_and_dropped_connections_are_retried() -> None:
    url = f"{BASE}/crm/v3/objects/contacts"
    responses.add(responses.GET, url, json=RATE_LIMITED, status=429, headers={"Retry-After": "0"})
    responses.add(responses.GET, url, body="<html>bad gateway</html>", status=502)
    responses.add(responses.GET, url, body=requests.ConnectionError("connection reset by peer"))
    responses.add(responses.GET, url, json={"results": [hs_object(1, T0)]})

    batches = list(make_connector().read_all("contact", []))

    assert [r.id for r in batches[0].records] == ["1"]
    assert len(responses.calls) == 4


@responses.activate
def test_a_2xx_answer_that_is_not_json_is_retried_then_named_in_one_line() -> None:
    """Reads parse HubSpot's JSON themselves: a proxy's HTML page under a 200 is a
    transient fault, retried, and never a parser traceback."""
    url = f"{BASE}/crm/v3/objects/contacts"
    responses.add(responses.GET, url, body="<html>maintenance</html>", status=200)
    responses.add(responses.GET, url, json={"results": [hs_object(1, T0)]})
    assert [r.id for b in make_connector().read_all("contact", []) for r in b.records] == ["1"]

    responses.replace(responses.GET, url, body="<html>maintenance</html>", status=200)
    with pytest.raises(TransientError) as failed:
        list(make_connector().read_all("contact", []))
    assert "GET /crm/v3/objects/contacts: HubSpot answered 200 with a body that is not JSON" in str(
        failed.value
    )


@responses.activate
def test_other_4xx_are_not_retried() -> None:
    url = f"{BASE}/crm/v3/objects/contacts"
    responses.add(
        responses.GET,
        url,
        json={"status": "error", "message": "bad limit", "category": "VALIDATION_ERROR"},
        status=400,
    )
    with pytest.raises(RejectedError, match="VALIDATION_ERROR"):
        list(make_connector().read_all("contact", []))
    assert len(responses.calls) == 1


@responses.activate
def test_401_is_an_auth_error_without_the_token_in_it() -> None:
    responses.add(
        responses.GET,
        f"{BASE}/crm/v3/objects/contacts",
        json={
            "status": "error",
            "message": "Authentication credentials not found.",
            "category": "INVALID_AUTHENTICATION",
        },
        status=401,
    )
    with pytest.raises(AuthError) as caught:
        make_connector().check()
    assert "401" in str(caught.value) and TOKEN not in str(caught.value)
    assert len(responses.calls) == 1


@responses.activate
def test_daily_limit_429_stops_without_retrying() -> None:
    body = dict(RATE_LIMITED, policyName="DAILY", message="You have reached your daily limit.")
    responses.add(responses.GET, f"{BASE}/crm/v3/objects/contacts", json=body, status=429)
    with pytest.raises(BudgetExhaustedError):
        list(make_connector().read_all("contact", []))
    assert len(responses.calls) == 1


@responses.activate
def test_run_stops_before_spending_more_than_its_daily_share() -> None:
    url = f"{BASE}/crm/v3/objects/contacts"
    headers = {
        "X-HubSpot-RateLimit-Daily": "1000",
        "X-HubSpot-RateLimit-Daily-Remaining": "500",
    }
    responses.add(
        responses.GET,
        url,
        json={"results": [hs_object(1, T0)], "paging": {"next": {"after": "2"}}},
        headers=headers,
    )
    connector = make_connector(daily_budget_share=0.5)
    with pytest.raises(BudgetExhaustedError, match="50%"):
        list(connector.read_all("contact", []))
    assert len(responses.calls) == 1  # the second page was never requested


@responses.activate
def test_transient_failure_keeps_remaining_writes_retryable() -> None:
    responses.add(
        responses.POST, f"{BASE}/crm/v3/objects/contacts/batch/update", status=503, body="down"
    )
    results = make_connector().write(writes(range(1, 251)))
    assert len(results) == 250
    assert {r.status for r in results} == {WriteStatus.RETRYABLE}
    assert len(responses.calls) == FAST_RETRY.max_attempts  # later batches were not sent


# -- OAuth --------------------------------------------------------------------------------


def oauth_connector() -> HubSpotConnector:
    config = HubSpotConfig(
        base_url=BASE,
        client_id="client-1",
        client_secret=SecretStr("client-secret-xyz"),
        refresh_token=SecretStr("refresh-secret-abc"),
        retry=FAST_RETRY,
    )
    return HubSpotConnector(config, limiter=UnlimitedLimiter(), search_limiter=UnlimitedLimiter())


@responses.activate
def test_oauth_refreshes_and_uses_the_access_token() -> None:
    responses.add(
        responses.POST,
        f"{BASE}/oauth/v1/token",
        json={
            "token_type": "bearer",
            "access_token": "access-1",
            "refresh_token": "refresh-secret-abc",
            "expires_in": 1800,
        },
    )
    responses.add(responses.GET, f"{BASE}/crm/v3/objects/contacts", json={"results": []})
    oauth_connector().check()
    form = responses.calls[0].request.body
    assert "grant_type=refresh_token" in form and "refresh_token=refresh-secret-abc" in form
    assert responses.calls[1].request.headers["Authorization"] == "Bearer access-1"


@responses.activate
def test_revoked_refresh_token_is_reported_once_not_retried() -> None:
    responses.add(
        responses.POST,
        f"{BASE}/oauth/v1/token",
        json={"status": "BAD_REFRESH_TOKEN", "message": "missing or unknown refresh token"},
        status=400,
    )
    with pytest.raises(AuthError, match="re-authorize") as caught:
        oauth_connector().check()
    assert "refresh-secret-abc" not in str(caught.value)
    assert "client-secret-xyz" not in str(caught.value)
    assert len(responses.calls) == 1


# -- schema -------------------------------------------------------------------------------


@responses.activate
def test_schema_apply_creates_once_and_only_adds_options() -> None:
    props_url = f"{BASE}/crm/v3/properties/contacts"
    responses.add(
        responses.GET,
        f"{props_url}/groups/segsync",
        json={"name": "segsync", "label": "segsync", "displayOrder": -1, "archived": False},
    )
    existing = {
        "name": "segsync_tier",
        "label": "Tier",
        "type": "enumeration",
        "fieldType": "select",
        "groupName": "segsync",
        "description": "",
        "options": [
            {"label": "Smb", "value": "smb", "hidden": False, "displayOrder": 0},
            {"label": "Legacy", "value": "legacy", "hidden": False, "displayOrder": 1},
        ],
    }
    responses.add(responses.GET, props_url, json={"results": [existing]})
    responses.add(
        responses.POST,
        props_url,
        json=dict(existing, name="segsync_reason", type="string", fieldType="text", options=[]),
        status=201,
    )
    responses.add(responses.PATCH, re.compile(f"{props_url}/segsync_tier"), json=existing)

    changes = make_connector().apply_schema(
        "contact",
        [
            FieldSpec("tier", "Tier", "enumeration", options=("smb", "enterprise")),
            FieldSpec("reason", "Reason", "string"),
        ],
    )

    actions = {c.name: c.action for c in changes}
    assert actions == {"segsync_tier": "options_added", "segsync_reason": "created"}
    [patch_call] = [c for c in responses.calls if c.request.method == "PATCH"]
    patch = json.loads(patch_call.request.body)
    assert [o["value"] for o in patch["options"]] == ["smb", "legacy", "enterprise"]
