"""Salesforce campaigns and their members, through the connector's REST path.

Members are added and removed in sObject Collections of 200 (one call each, per-row
answers in input order), or as one Bulk API 2.0 job above the bulk threshold; a person
already in the campaign answers ``DUPLICATE_VALUE`` and is looked up instead of counted
as a failure. Membership is changed row by row, never by emptying a campaign: that
would lose the members' statuses and responses.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from simple_salesforce.format import format_soql

from connectors.salesforce.bulk import BulkIngest, rows_of

COLLECTION_SIZE = 200
PERSON_FIELD = {"contact": "ContactId", "lead": "LeadId"}

Rest = Callable[..., Any]
Query = Callable[[str], list[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class NewMember:
    """A person to add to a campaign."""

    campaign_id: str
    object_type: str  # contact or lead
    record_id: str


@dataclass(frozen=True, slots=True)
class MemberResult:
    """What Salesforce made of one new member: its row id, or why not."""

    member: NewMember
    member_id: str | None
    code: str = ""
    reason: str = ""


class SalesforceCampaigns:
    """Find, create and rename campaigns; add and remove their members."""

    def __init__(
        self, rest: Rest, query: Query, bulk: BulkIngest | None = None, threshold: int = 2000
    ) -> None:
        self._rest = rest
        self._query = query
        self._bulk = bulk
        self._threshold = threshold

    def live(self, campaign_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Id -> Id, Name and IsActive of the campaigns among these that still exist."""
        out: dict[str, dict[str, Any]] = {}
        ids = list(campaign_ids)
        for start in range(0, len(ids), COLLECTION_SIZE):
            chunk = ids[start : start + COLLECTION_SIZE]
            soql = format_soql("SELECT Id, Name, IsActive FROM Campaign WHERE Id IN {}", chunk)
            out.update({str(row["Id"]): row for row in self._query(soql)})
        return out

    def find(self, name: str) -> dict[str, Any] | None:
        """The campaign with this exact name, or None."""
        rows = self._query(
            format_soql("SELECT Id, Name, IsActive FROM Campaign WHERE Name = {} LIMIT 2", name)
        )
        return rows[0] if rows else None

    def create(self, name: str, description: str) -> str:
        """A new active campaign; its Id."""
        body = {"Name": name, "IsActive": True, "Type": "Other", "Description": description}
        return str(self._rest("POST", "sobjects/Campaign/", json=body)["id"])

    def rename(self, campaign_id: str, name: str) -> None:
        """Give a campaign a new name."""
        self._rest("PATCH", f"sobjects/Campaign/{campaign_id}", json={"Name": name})

    def delete(self, campaign_id: str) -> None:
        """Delete a campaign (Salesforce deletes its members with it)."""
        self._rest("DELETE", f"sobjects/Campaign/{campaign_id}")

    def statuses(self, campaign_id: str) -> list[str]:
        """The member statuses the campaign has."""
        rows = self._query(
            format_soql("SELECT Label FROM CampaignMemberStatus WHERE CampaignId = {}", campaign_id)
        )
        return [str(r["Label"]) for r in rows]

    def add(self, members: Sequence[NewMember], status: str | None) -> list[MemberResult]:
        """Add people to campaigns; one result per member, in order (Bulk API 2.0 above
        the bulk threshold, collections below)."""
        if self._bulk is not None and len(members) > self._threshold:
            return self._bulk_add(members, status)
        results: list[MemberResult] = []
        for start in range(0, len(members), COLLECTION_SIZE):
            chunk = members[start : start + COLLECTION_SIZE]
            records = [
                {
                    "attributes": {"type": "CampaignMember"},
                    "CampaignId": m.campaign_id,
                    PERSON_FIELD[m.object_type]: m.record_id,
                    **({"Status": status} if status else {}),
                }
                for m in chunk
            ]
            answer = self._rest(
                "POST", "composite/sobjects", json={"allOrNone": False, "records": records}
            )
            for member, item in zip(chunk, answer, strict=True):
                if item.get("success"):
                    results.append(MemberResult(member, str(item["id"])))
                    continue
                error = (item.get("errors") or [{}])[0]
                code = str(error.get("statusCode") or "REJECTED")
                results.append(MemberResult(member, None, code, str(error.get("message", ""))))
        return results

    def remove(self, member_ids: Sequence[str]) -> dict[str, str]:
        """Delete member rows; the ones Salesforce refused, with its reason (gone is fine)."""
        if self._bulk is not None and len(member_ids) > self._threshold:
            return self._bulk_remove(member_ids)
        refused: dict[str, str] = {}
        for start in range(0, len(member_ids), COLLECTION_SIZE):
            chunk = list(member_ids[start : start + COLLECTION_SIZE])
            answer = self._rest(
                "DELETE",
                "composite/sobjects",
                params={"ids": ",".join(chunk), "allOrNone": "false"},
            )
            for member_id, item in zip(chunk, answer, strict=True):
                error = (item.get("errors") or [{}])[0]
                if not item.get("success") and error.get("statusCode") != "ENTITY_IS_DELETED":
                    refused[member_id] = f"{error.get('statusCode')}: {error.get('message')}"
        return refused

    def member_ids(
        self, campaign_id: str, object_type: str, record_ids: Sequence[str]
    ) -> dict[str, str]:
        """person id -> member row id, of these people in this campaign."""
        out: dict[str, str] = {}
        column = PERSON_FIELD[object_type]
        for start in range(0, len(record_ids), COLLECTION_SIZE):
            chunk = list(record_ids[start : start + COLLECTION_SIZE])
            soql = format_soql(
                f"SELECT Id, {column} FROM CampaignMember WHERE CampaignId = {{}} "
                f"AND {column} IN {{}}",
                campaign_id,
                chunk,
            )
            out.update({str(r[column]): str(r["Id"]) for r in self._query(soql)})
        return out

    def _bulk_add(self, members: Sequence[NewMember], status: str | None) -> list[MemberResult]:
        assert self._bulk is not None
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["CampaignId", "ContactId", "LeadId", *(["Status"] if status else [])])
        for m in members:
            person = [m.record_id, ""] if m.object_type == "contact" else ["", m.record_id]
            writer.writerow([m.campaign_id, *person, *([status] if status else [])])
        _, files = self._bulk.job("CampaignMember", "insert", out.getvalue())
        found: dict[tuple[str, str], MemberResult] = {}

        def key(row: dict[str, str]) -> tuple[str, str]:
            return (row.get("CampaignId", ""), row.get("ContactId") or row.get("LeadId") or "")

        for m in members:
            found[(m.campaign_id, m.record_id)] = MemberResult(
                m, None, "NO_RESULT", "missing from the job's result files"
            )
        by_key = {(m.campaign_id, m.record_id): m for m in members}
        for row in rows_of(files["successfulResults"]):
            if key(row) in by_key:
                found[key(row)] = MemberResult(by_key[key(row)], row.get("sf__Id") or None)
        for row in rows_of(files["failedResults"]):
            if key(row) in by_key:
                error = row.get("sf__Error", "")
                code = error.split(":", 1)[0] if ":" in error else "BULK_ROW_FAILED"
                found[key(row)] = MemberResult(by_key[key(row)], None, code, error)
        return [found[(m.campaign_id, m.record_id)] for m in members]

    def _bulk_remove(self, member_ids: Sequence[str]) -> dict[str, str]:
        assert self._bulk is not None
        text = "Id\n" + "".join(f"{i}\n" for i in member_ids)
        _, files = self._bulk.job("CampaignMember", "delete", text)
        refused: dict[str, str] = {}
        for row in rows_of(files["failedResults"]) + rows_of(files["unprocessedrecords"]):
            error = row.get("sf__Error", "not processed by the job")
            if not error.startswith("ENTITY_IS_DELETED"):
                refused[row.get("Id") or row.get("sf__Id") or ""] = error
        return refused
