"""Activations: which CRM list or campaign holds each segment, and who segsync made a member.

A list or campaign is recorded the moment the CRM created it, before anything else is
tried, so a run that stops half-way leaves nothing created and unrecorded: the next run
finds it here and carries on.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import polars as pl
from sqlalchemy import ColumnElement, delete, select
from sqlalchemy.orm import InstrumentedAttribute

from workers.state.base import StoreBase
from workers.state.columnar import read_frame
from workers.state.schema import ActivationRow, CampaignMemberRow

_IN_CHUNK = 500
MEMBER_SCHEMA = pl.Schema(
    {n: pl.String() for n in ("campaign_id", "object_type", "record_id", "member_id")}
)


@dataclass(frozen=True, slots=True)
class Activation:
    """One segment's list or campaign in the CRM."""

    kind: str
    model: str
    object_type: str
    segment: str
    remote_id: str
    name: str


@dataclass(frozen=True, slots=True)
class Member:
    """A person in one of segsync's campaigns, with the CRM's id of the member row."""

    campaign_id: str
    object_type: str
    record_id: str
    member_id: str


class ActivationsMixin(StoreBase):
    """The activations and campaign_members tables."""

    def activations(self, crm: str, kind: str) -> list[Activation]:
        """Every list (``kind="list"``) or campaign segsync keeps on this CRM."""
        row = ActivationRow
        stmt = select(
            row.kind, row.model, row.object_type, row.segment, row.remote_id, row.name
        ).where(row.crm == crm, row.kind == kind)
        with self._read() as session:
            return [Activation(*found) for found in session.execute(stmt)]

    def save_activation(self, crm: str, activation: Activation) -> None:
        """Record (or move) a segment's list or campaign."""
        row = ActivationRow
        values = {
            "crm": crm,
            "kind": activation.kind,
            "model": activation.model,
            "object_type": activation.object_type,
            "segment": activation.segment,
            "remote_id": activation.remote_id,
            "name": activation.name,
            "updated_at": self._now(),
        }
        stmt = self._insert(row).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=[row.crm, row.kind, row.model, row.object_type, row.segment],
            set_={k: stmt.excluded[k] for k in ("remote_id", "name", "updated_at")},
        )
        with self._write() as conn:
            conn.execute(stmt)

    def drop_activation(self, crm: str, activation: Activation) -> None:
        """Forget a segment's list or campaign (deleted in the CRM, or replaced)."""
        row = ActivationRow
        with self._write() as conn:
            conn.execute(
                delete(row).where(
                    row.crm == crm,
                    row.kind == activation.kind,
                    row.model == activation.model,
                    row.object_type == activation.object_type,
                    row.segment == activation.segment,
                )
            )

    def campaign_members(self, crm: str, campaign_ids: Iterable[str]) -> list[Member]:
        """The members segsync recorded in these campaigns."""
        row = CampaignMemberRow
        return self._members(row.campaign_id, campaign_ids, row.crm == crm)

    def campaign_member_frame(self, crm: str) -> pl.DataFrame:
        """Every member segsync recorded on this CRM, columnar (``campaign_id,
        object_type, record_id, member_id``): a whole run diffs a million at once."""
        pg = self.dialect == "postgresql"
        mark = "%s" if pg else "?"
        sql = (
            "SELECT campaign_id, object_type, record_id, member_id FROM campaign_members"
            f" WHERE crm = {mark}"
        )
        return read_frame(self, sql, (crm,), MEMBER_SCHEMA, arrow=pg).cast(MEMBER_SCHEMA)

    def members_of(self, crm: str, object_type: str, record_ids: Iterable[str]) -> list[Member]:
        """Every recorded membership of these people, whatever the campaign."""
        row = CampaignMemberRow
        return self._members(
            row.record_id, record_ids, row.crm == crm, row.object_type == object_type
        )

    def _members(
        self, key: InstrumentedAttribute[str], values: Iterable[str], *where: ColumnElement[bool]
    ) -> list[Member]:
        """Recorded memberships whose ``key`` is one of ``values``, read in chunked IN lists."""
        row = CampaignMemberRow
        ids = sorted(set(values))
        out: list[Member] = []
        with self._read() as session:
            for start in range(0, len(ids), _IN_CHUNK):
                stmt = select(row.campaign_id, row.object_type, row.record_id, row.member_id)
                stmt = stmt.where(*where, key.in_(ids[start : start + _IN_CHUNK]))
                out += [Member(*found) for found in session.execute(stmt)]
        return out

    def add_campaign_members(self, crm: str, members: Iterable[Member]) -> None:
        """Record members the CRM confirmed."""
        rows = [
            {
                "crm": crm,
                "campaign_id": m.campaign_id,
                "object_type": m.object_type,
                "record_id": m.record_id,
                "member_id": m.member_id,
            }
            for m in members
        ]
        if not rows:
            return
        row = CampaignMemberRow
        stmt = self._insert(row)
        stmt = stmt.on_conflict_do_update(
            index_elements=[row.crm, row.campaign_id, row.object_type, row.record_id],
            set_={"member_id": stmt.excluded.member_id},
        )
        with self._write() as conn:
            for start in range(0, len(rows), _IN_CHUNK):
                conn.execute(stmt, rows[start : start + _IN_CHUNK])

    def remove_campaign_members(self, crm: str, member_ids: Iterable[str]) -> None:
        """Forget members the CRM no longer holds."""
        ids = sorted(set(member_ids))
        row = CampaignMemberRow
        with self._write() as conn:
            for start in range(0, len(ids), _IN_CHUNK):
                conn.execute(
                    delete(row).where(
                        row.crm == crm, row.member_id.in_(ids[start : start + _IN_CHUNK])
                    )
                )
